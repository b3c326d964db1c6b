// recorder.h — record a live session to a trace: open, one call per step, close. The one place
// where a run becomes a trace (the live TUI, `run --record`, `eval --record-dir`, `bench`).
//
//   dlm_record_opts o = {.prompt_text = text, .tok = tok, .tok_path = path, .device = be->device};
//   dlm_recorder *rec;
//   if (dlm_recorder_open("run.dlmtrace", model, session, &o, &rec) != DLM_STATUS_OK) ...
//   while (!dlm_session_done(session)) {
//       dlm_session_step(session, st);
//       if (dlm_recorder_step(rec, session, st) != DLM_STATUS_OK) ...
//   }
//   dlm_recorder_close(rec);
//
// A fork (a session restored from a parent trace at step N) passes the parent: the new trace
// starts with the parent's steps 0..N copied byte for byte and its header names the parent, so it
// plays from the beginning (replay/trace_reader.h: dlm_trace_as_parent fills one).
#ifndef DLM_RECORDER_H
#define DLM_RECORDER_H

#include <stddef.h>

#include "engine/error.h"
#include "engine/model.h"
#include "engine/session.h"
#include "engine/tokenizer.h"

// A parent trace as the recorder needs it; the strings and ctx must outlive dlm_recorder_open.
typedef struct {
    const char            *path;
    int                    step;        // its steps 0..step are copied
    const dlm_rule_config *rule;        // the rule it started with (the fork's header keeps it)
    const char            *rule_spec;
    const char            *prompt_text; // may be NULL
    void                  *ctx;
    dlm_status (*raw_step)(void *ctx, int i, const void **bytes, size_t *n); // encoded step record i
} dlm_record_parent;

typedef struct {
    const char              *prompt_text; // chat-formatted prompt for the header (NULL: the parent's, or none)
    const char              *tok_path;    // may be NULL
    const char              *device;      // may be NULL
    const dlm_tokenizer     *tok;         // text of the ids as they appear (NULL: ids only); must outlive the recorder
    const dlm_record_parent *parent;      // NULL unless the session is a fork
} dlm_record_opts;

typedef struct dlm_recorder dlm_recorder;

// Create the trace at path (written to a new file that replaces path, see trace_writer.h) with the
// header of the session as it is now, and the parent's steps when forking. o may be NULL.
dlm_status dlm_recorder_open(const char *path, const dlm_model *m, const dlm_session *s, const dlm_record_opts *o,
                             dlm_recorder **out);
// Append the step just run: its snapshot and the session's complete state after it.
dlm_status dlm_recorder_step(dlm_recorder *r, const dlm_session *s, const dlm_step *st);
int dlm_recorder_n_steps(const dlm_recorder *r);
// Footer, fsync, free (freed even on error). NULL is fine.
dlm_status dlm_recorder_close(dlm_recorder *r);
// Free without a footer: the file stays readable up to its last step. NULL is fine.
void dlm_recorder_abort(dlm_recorder *r);

#endif
