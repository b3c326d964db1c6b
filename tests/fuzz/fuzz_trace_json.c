// fuzz_trace_json.c — libFuzzer target: the JSON path of `trace dump --json` (cli/trace_json.c)
// on arbitrary bytes. Whatever the reader accepts must encode: every header and step object
// builds and dumps to text (issue 18: a non-UTF-8 string or a NaN made it NULL, then a crash).
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/trace_json.h"
#include "replay/trace_reader.h"

static void dump_or_die(json_t *o, const char *what, int i) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (!s) {
        fprintf(stderr, "fuzz_trace_json: the %s %d did not encode as JSON\n", what, i);
        abort();
    }
    free(s);
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dlm_trace *t;
    if (dlm_trace_open_buffer(data, size, "fuzz.dlmtrace", &t) != DLM_STATUS_OK) return 0;
    dump_or_die(trace_header_json(t), "header", 0);
    dlm_step *st = dlm_step_new(dlm_trace_header_of(t)->n_tokens);
    for (int i = 0; i < dlm_trace_n_steps(t); i++)
        if (dlm_trace_read_step(t, i, st, NULL) == DLM_STATUS_OK) dump_or_die(trace_step_json(t, st), "step", i);
    dlm_step_free(st);
    dlm_trace_close(t);
    return 0;
}
