// trace_writer.h — stream a session's steps to a trace file (msgpack; docs/trace-format.md).
// To record a live session use record/recorder.h, which drives this writer; use the writer
// directly only for traces that do not come from a session (bench's synthetic trace).
//
// Each step record is appended and flushed as it happens, so a process killed at any moment
// leaves a file whose complete records all read back. close() adds the footer and fsyncs.
//
//   dlm_trace_header h;
//   dlm_trace_header_from_session(&h, model, session, prompt_text, tokenizer_path, device);
//   dlm_trace_writer *w;
//   if (dlm_trace_writer_open("run.dlmtrace", &h, tok, &w) != DLM_STATUS_OK) ...
//   ... after each dlm_session_step(s, st):
//   dlm_session_export(s, &state); dlm_trace_writer_append(w, st, &state);
//   dlm_trace_writer_close(w);
#ifndef DLM_TRACE_WRITER_H
#define DLM_TRACE_WRITER_H

#include "engine/error.h"
#include "engine/model.h"
#include "engine/session.h"
#include "engine/tokenizer.h"
#include "trace_format.h"

typedef struct dlm_trace_writer dlm_trace_writer;

// Fill a header from a live session (before or after its first step). prompt_text, tokenizer_path
// and device may be NULL. The header owns copies; free with dlm_trace_header_free.
void dlm_trace_header_from_session(dlm_trace_header *h, const dlm_model *m, const dlm_session *s,
                                   const char *prompt_text, const char *tokenizer_path, const char *device);

// Create path and write the header: into a new file that then replaces path by rename, so an
// existing file there (perhaps open in a viewer, or the trace this run resumes) is never cut under
// its readers; a device or FIFO is written in place. tok supplies the text of each token id as it first
// appears (NULL: ids only). The tokenizer must outlive the writer.
dlm_status dlm_trace_writer_open(const char *path, const dlm_trace_header *h, const dlm_tokenizer *tok,
                                 dlm_trace_writer **out);
// Append one step: its snapshot and the complete session state after it.
dlm_status dlm_trace_writer_append(dlm_trace_writer *w, const dlm_step *st, const dlm_session_state *state);
// Append an already encoded step record (copied from another trace when forking).
dlm_status dlm_trace_writer_append_raw(dlm_trace_writer *w, const void *bytes, size_t n);
int dlm_trace_writer_n_steps(const dlm_trace_writer *w);
// Write the footer, fsync and free. The writer is freed even on error.
dlm_status dlm_trace_writer_close(dlm_trace_writer *w);
// Free without a footer (the file stays readable up to its last record).
void dlm_trace_writer_abort(dlm_trace_writer *w);

#endif
