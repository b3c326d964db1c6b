// trace_json.h — the JSON of `dlmscope trace dump --json`: one object for the header, one per step.
//
// Built from whatever a trace holds, so it never fails on what a file can contain: strings become
// valid UTF-8 (invalid bytes as U+FFFD), numbers JSON cannot write (NaN, infinities) become null.
// The fuzz target tests/fuzz/fuzz_trace_json.c holds it to that.
#ifndef DLM_CLI_TRACE_JSON_H
#define DLM_CLI_TRACE_JSON_H

#include <jansson.h>

#include "replay/trace_reader.h"

// New references (caller json_decref's them).
json_t *trace_header_json(const dlm_trace *t);
json_t *trace_step_json(const dlm_trace *t, const dlm_step *st);

#endif
