// app.h — the visualizer's state, shared by app.c (events, actions) and draw.c (rendering).
// Internal to tui/.
#ifndef DLM_TUI_APP_H
#define DLM_TUI_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <termkey.h>

#include "keys.h"
#include "layout.h"
#include "live.h"
#include "replay/player.h"
#include "replay/trace_reader.h"
#include "text.h"
#include "theme.h"
#include "tui.h"

// Per-position summary of a step, cached for the heat grid, the sparkline and searches.
enum { CELL_CONF, CELL_PCUR, CELL_MARGIN, CELL_ENTROPY, CELL_STATE, CELL_EVENTS, CELL_FLAGS, CELL_BYTES };
typedef enum { METRIC_CONF, METRIC_PCUR, METRIC_MARGIN, METRIC_ENTROPY, METRIC_COUNT } tui_metric;

// One trajectory on screen: a trace (file-backed; growing in live mode), a cursor and a cache.
typedef struct {
    dlm_trace  *trace;
    dlm_player *player;
    tui_live   *live;     // NULL in replay
    uint8_t   **rows;     // [step] -> G * CELL_BYTES, NULL until computed
    int         cap_rows;
    dlm_step   *scratch;  // decoding buffer for rows
    char        label[96];
} tui_timeline;

typedef enum { FOCUS_CANVAS, FOCUS_HEAT } tui_focus;
typedef enum { INPUT_NONE, INPUT_SEARCH, INPUT_GOTO, INPUT_PROMPT } tui_input;

typedef struct {
    tui_opts      opts;
    TermKey      *tk;
    tui_keymap    keys;
    tui_theme     theme;
    bool          utf8;
    int           rows, cols;
    tui_layout    L;
    tui_layout_opts lopts;
    tui_timeline  a, b;       // b: compare mode (parent of a fork, a counterpart run, or --compare)
    bool          compare;
    int           sel;        // selected canvas position (absolute)
    tui_focus     focus;
    tui_metric    metric;
    int           heat_top, heat_left; // heat grid viewport (step, position offset)
    int           canvas_top; // first canvas line shown
    bool          playing;
    int           interval_ms; // autoplay period
    double        next_tick;
    bool          demo;
    bool          show_help, show_params;
    int           help_scroll;
    int           param_sel;  // params panel: row
    dlm_rule_config param_rule;
    tui_input     input;
    char          input_buf[256];
    size_t        input_pos;  // cursor: a byte offset into input_buf, on a character boundary
    char          search[256];
    char          message[512];
    bool          message_error;
    double        message_until;
    char          caption[256]; // demo mode
    bool          quit;
    bool          follow;     // live: stay on the newest step as steps arrive
    int           steps_wanted; // live: steps still to run (play, run-to)
    // sample prompts for live restarts
    char        **prompts;
    int           n_prompts, prompt_idx;
    int32_t      *prompt_ids;
    int           n_prompt;
    char         *prompt_text;
} tui_app;

// app.c: the pieces of the event loop, for the terminal loop and for script mode.
void tui_app_key(tui_app *app, const TermKeyKey *k);
bool tui_app_tick(tui_app *app);       // live steps, autoplay, message expiry; true if the screen changed
bool tui_app_idle(const tui_app *app); // no live step running or queued, not playing
void tui_app_frame(tui_app *app);      // lay out and draw one frame
void tui_app_fail(tui_app *app, const char *fmt, ...) __attribute__((format(printf, 2, 3))); // a script error on stderr

// script.c
int tui_script_run(tui_app *app, const char *script, const char *dump_dir, const char *mode);
// Write the curses screen to path as text plus a map of styles. mode: a label for the first line.
bool tui_screen_dump(const char *path, const char *mode);

// draw.c
void tui_draw(tui_app *app);
// The summary row of a step (computes and caches it). NULL if the step cannot be read.
const uint8_t *tui_timeline_row(tui_timeline *t, int step);
// Search app->search in the text of a step (across tokens): marks per generated position (G bytes
// each; covered may be NULL). Returns the number of matches.
int tui_step_search(const tui_app *app, const tui_timeline *t, const dlm_step *st, unsigned char *starts, unsigned char *covered);
// Rows the candidates grid wants for the current step (for the layout).
int tui_cand_rows(const tui_app *app);
// Text lines the canvas needs at width w for the current step of A (for the layout).
int tui_canvas_lines(const tui_app *app, int w);
// Canvas A's line of a position, and the position under a line and column of its text (-1: none).
int tui_canvas_line_of(const tui_app *app, int pos);
int tui_canvas_pos_at(const tui_app *app, int line, int col);
// Display text of a token id as recorded in a trace.
void tui_token_display(const tui_app *app, const dlm_trace *t, int32_t id, tui_token_text *out);

#endif
