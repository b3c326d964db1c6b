// trace_reader.h — open a trace, index its steps in one scan, read any step at random.
//
// The file is treated as hostile: every object's structure is checked against the bytes left
// before msgpack-c sees it, every field's type and every column's length are checked on read, and
// everything is copied out of msgpack objects (they die with their zone). A file cut short reads
// up to its last complete record and says so (dlm_trace_problem).
//
//   dlm_trace *t;
//   if (dlm_trace_open("run.dlmtrace", &t) != DLM_STATUS_OK) ... dlm_error_message()
//   dlm_step *st = dlm_step_new(dlm_trace_header_of(t)->n_tokens);
//   dlm_trace_read_step(t, 12, st, NULL);
//   dlm_step_free(st); dlm_trace_close(t);
#ifndef DLM_TRACE_READER_H
#define DLM_TRACE_READER_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/error.h"
#include "engine/session.h"
#include "record/recorder.h"
#include "record/trace_format.h"

typedef struct dlm_trace dlm_trace;

// Scalars of each step, gathered during the scan (for timelines and searches without decoding).
typedef struct {
    int    step, block, step_in_block;
    int    rule;  // index for dlm_trace_rule_spec: the rule in force after this step
    int    n_commits, n_edits, n_remasks, n_transitions, n_finalized, n_stuck;
    int    n_interventions; // entries of the step's interventions (checked when the step is read)
    bool   done;
    double forward_ms;
} dlm_trace_step_info;

// Open and index. Errors (not a trace, newer major version, bad header, empty, not a regular
// file, a header claiming more positions than any record holds) name the file, the byte offset
// and the field. Records must come in order (record k is step k): one out of order ends the
// readable prefix like damage does. A truncated or damaged tail is not an error: the steps
// before it are available and dlm_trace_problem() describes it.
dlm_status dlm_trace_open(const char *path, dlm_trace **out);
// The same over bytes in memory (copied; `name` is used in messages). For fuzzers and tests.
dlm_status dlm_trace_open_buffer(const void *data, size_t n, const char *name, dlm_trace **out);
void dlm_trace_close(dlm_trace *t);

const dlm_trace_header *dlm_trace_header_of(const dlm_trace *t);
const char *dlm_trace_path(const dlm_trace *t);
int dlm_trace_n_steps(const dlm_trace *t);
const dlm_trace_step_info *dlm_trace_info(const dlm_trace *t, int step);
// NULL when the file ended cleanly (with or without a footer); else one line about its tail.
const char *dlm_trace_problem(const dlm_trace *t);
bool dlm_trace_has_footer(const dlm_trace *t);
// Pick up records appended since the last scan (a live run writing the file). The file is read
// into memory, never mapped: if it is cut or rewritten in place, or the path replaced by another
// file, what was read stays readable and dlm_trace_problem() says what happened.
dlm_status dlm_trace_refresh(dlm_trace *t);

// Decode step i (0-based) into out (sized for n_tokens), and the session state after it when
// state is not NULL (free it with dlm_session_state_free). Errors name the field and offset.
dlm_status dlm_trace_read_step(dlm_trace *t, int i, dlm_step *out, dlm_session_state *state);
// The encoded bytes of step i (valid until the next refresh or close), to copy into a fork.
dlm_status dlm_trace_raw_step(const dlm_trace *t, int i, const void **bytes, size_t *n);
// The trace as the parent of a fork at `step`, for dlm_recorder_open (valid while t is open).
void dlm_trace_as_parent(const dlm_trace *t, int step, dlm_record_parent *out);

// Canonical spec of a rule index from dlm_trace_step_info.rule ("" if out of range).
const char *dlm_trace_rule_spec(const dlm_trace *t, int index);

// Text of a token id as recorded in the trace, or NULL if the trace never gave it.
const char *dlm_trace_token(const dlm_trace *t, int32_t id, size_t *len);

#endif
