// tui.h — the interactive visualizer (ncurses + libtermkey) over live sessions and traces.
//
//   dlmscope                           live on the bundled model and a sample prompt
//   dlmscope --model DIR [--prompt ..] live on any model
//   dlmscope view TRACE [--compare B]  replay, no model needed
// The CLI loads the model (so errors print before the screen is taken) and calls tui_main.
#ifndef DLM_TUI_H
#define DLM_TUI_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/backend.h"
#include "engine/model.h"
#include "engine/rules.h"
#include "engine/tokenizer.h"

typedef struct {
    // replay
    const char          *trace_path;   // view this trace (NULL: live)
    const char          *compare_path; // a second trace to compare with (optional)
    // live
    const dlm_model     *model;
    dlm_backend         *backend;
    const dlm_tokenizer *tok;          // may be NULL (then only --prompt-ids)
    const char          *tok_path;
    const int32_t       *prompt_ids;   // the prompt, chat template applied
    int                  n_prompt;
    const char          *prompt_text;  // for the header and the status line
    const char          *prompts_file; // sample prompts for `p` (one per line), optional
    dlm_rule_config      rule;
    int                  block_causal;
    const char          *record;       // keep the live trace here (NULL: a temporary file)
    // presentation
    const char          *theme;        // NULL: config file or "dark"
    bool                 no_color, no_mouse, demo, autoplay;
    int                  start_step;
    const char          *script;       // script mode: keys from this file, no terminal (tui/script.c)
    const char          *dump_dir;     // script mode: write screens here
    const char          *export_format; // "cast", "svg" or "html": write export_path instead of opening a screen
    const char          *export_path;
    bool                 loop;         // replay: after the last step, start again (kiosks); implies demo
} tui_opts;

// Run until the user quits. Returns the process exit status; prints a one-line reason on error.
int tui_main(const tui_opts *o);

// Benchmark: open `trace`, draw `frames` full frames at `cols` x `rows` into an off-screen
// terminal (output to /dev/null), each after seeking to a pseudo-random step, alternately with
// and without the candidates grid (so the two means share the machine's load). Reports the mean
// milliseconds per frame with it, per frame without it, and per seek (decode of one step).
// Returns false with a message on error.
bool tui_bench_render(const char *trace, int cols, int rows, int frames, double *ms_frame, double *ms_frame_nocand,
                      double *ms_seek);

#endif
