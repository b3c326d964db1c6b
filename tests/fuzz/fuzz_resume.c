// fuzz_resume.c — libFuzzer target: resume from arbitrary trace bytes. For the first and last
// step a trace holds, read the session state, restore a session on a small random-weight model
// (written once at start), and run a bounded number of steps. Whatever the reader and
// dlm_session_restore accept must run without a crash, overflow or unbounded loop (issue 18:
// counters near INT32_MAX made a block never end). The next step's recorded interventions are
// replayed first, as a replay would (whatever they say; the session refuses what it must).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/session.h"
#include "engine/synth.h"
#include "replay/trace_reader.h"

#define MAX_STEPS_PER_RESUME 3

static dlm_model *model;
static dlm_backend *be;

// The model of the seed corpus: `dlmscope synth --shape tiny` (two layers, weights seed 1), small
// enough for hundreds of forwards a second. Identity is not checked: any state the reader accepts
// and the model fits is fair game.
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char dir[] = "/tmp/dlmscope-fuzz-resume-XXXXXX";
    if (!mkdtemp(dir)) abort();
    dlm_synth_spec spec;
    if (!dlm_synth_preset("tiny", &spec)) abort();
    spec.n_shards = 1;
    spec.seed = 1;
    if (dlm_synth_write(dir, &spec) != DLM_STATUS_OK) abort();
    model = dlm_model_load(dir, NULL);
    be = model ? dlm_backend_new(model, "cpu", 1) : NULL;
    if (!be) {
        fprintf(stderr, "fuzz_resume: %s\n", dlm_error_message());
        abort();
    }
    char path[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path); // the mapping stays valid
    rmdir(dir);
    return 0;
}

static void resume_at(dlm_trace *t, int i) {
    const dlm_trace_header *h = dlm_trace_header_of(t);
    dlm_step *st = dlm_step_new(h->n_tokens);
    dlm_session_state state;
    if (dlm_trace_read_step(t, i, st, &state) == DLM_STATUS_OK) {
        dlm_session *s = dlm_session_restore(model, be, &state, NULL, NULL);
        if (s && i + 1 < dlm_trace_n_steps(t) && dlm_trace_read_step(t, i + 1, st, NULL) == DLM_STATUS_OK)
            for (int k = 0; k < st->n_interventions; k++) dlm_session_intervene(s, &st->interventions[k]);
        if (s) {
            dlm_step *out = dlm_step_new(dlm_session_n_tokens(s));
            for (int k = 0; k < MAX_STEPS_PER_RESUME && !dlm_session_done(s); k++)
                if (dlm_session_step(s, out) != DLM_STATUS_OK) break;
            dlm_step_free(out);
            dlm_session_free(s);
        }
        dlm_session_state_free(&state);
    }
    dlm_step_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dlm_trace *t;
    if (dlm_trace_open_buffer(data, size, "fuzz.dlmtrace", &t) != DLM_STATUS_OK) return 0;
    int n = dlm_trace_n_steps(t);
    if (n > 0) resume_at(t, 0);
    if (n > 1) resume_at(t, n - 1);
    dlm_trace_close(t);
    return 0;
}
