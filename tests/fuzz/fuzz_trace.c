// fuzz_trace.c — libFuzzer target: the trace reader on arbitrary bytes (open, index, read every
// step with its session state, walk the player). Build and run with `make fuzz`.
#include <stddef.h>
#include <stdint.h>

#include "replay/player.h"
#include "replay/trace_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dlm_trace *t;
    if (dlm_trace_open_buffer(data, size, "fuzz.dlmtrace", &t) != DLM_STATUS_OK) return 0;
    const dlm_trace_header *h = dlm_trace_header_of(t);
    dlm_step *st = dlm_step_new(h->n_tokens);
    for (int i = 0; i < dlm_trace_n_steps(t); i++) {
        dlm_session_state state;
        if (dlm_trace_read_step(t, i, st, &state) == DLM_STATUS_OK) dlm_session_state_free(&state);
    }
    dlm_player *p = dlm_player_new(t);
    dlm_player_seek(p, 0);
    dlm_player_next_event(p, h->prompt_len, +1);
    dlm_player_next_stuck(p, +1);
    dlm_player_free(p);
    dlm_step_free(st);
    dlm_trace_close(t);
    return 0;
}
