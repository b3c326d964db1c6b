// live.h — a live session driven from the UI: the engine steps in a worker thread and every step
// is appended to a trace file, which the UI reads back like any recorded trace. So live and replay
// share every view, and stepping back in a live session is just reading the file.
#ifndef DLM_TUI_LIVE_H
#define DLM_TUI_LIVE_H

#include <stdbool.h>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/session.h"
#include "engine/tokenizer.h"
#include "replay/trace_reader.h"

typedef struct tui_live tui_live;

typedef struct {
    const dlm_model     *model;
    dlm_backend         *backend;
    const dlm_tokenizer *tok;       // may be NULL
    const char          *tok_path;  // recorded in the trace header
    const char          *prompt_text;
    int                  block_causal;
    const char          *record;    // trace path; NULL: a temporary file removed by tui_live_free
} tui_live_config;

// Start a session from prompt ids. NULL with a message on error.
tui_live *tui_live_new(const tui_live_config *cfg, const int32_t *prompt, int n_prompt, const dlm_rule_config *rule);
// Fork: a new live session whose trace starts with `parent`'s steps 0..step (copied) and that
// continues from the state after `step` under `rule`, with the n_iv interventions (may be 0)
// applied before its first step. record: NULL for a temporary file.
tui_live *tui_live_fork(const tui_live_config *cfg, dlm_trace *parent, int step, const dlm_rule_config *rule,
                        const dlm_intervention *iv, int n_iv);
void tui_live_free(tui_live *l); // waits for a running step

const char *tui_live_path(const tui_live *l);
bool tui_live_done(const tui_live *l);     // the session has finished (valid when not busy)
bool tui_live_busy(const tui_live *l);
const dlm_rule_config *tui_live_rule(const tui_live *l);
// Start the next step in the background; false if busy or done.
bool tui_live_request(tui_live *l);
// Collect a finished step: 1 = a step was appended, 0 = nothing new, -1 = the step failed or was
// cancelled (message in buf).
int tui_live_poll(tui_live *l, char *buf, size_t n);
// Ask a running step to stop (it is then discarded; the session stays where it was).
void tui_live_cancel(tui_live *l);
// Wait for a running step (for tests and headless use).
void tui_live_wait(tui_live *l);

#endif
