// app.h — the visualizer's state, shared by app.c (events, actions) and draw.c (rendering).
// Internal to tui/.
#ifndef DLM_TUI_APP_H
#define DLM_TUI_APP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <termkey.h>

#include "keys.h"
#include "layout.h"
#include "live.h"
#include "replay/player.h"
#include "replay/trace_reader.h"
#include "text.h"
#include "theme.h"
#include "tui.h"
#include "view.h"

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
    char        note[96];  // "fork@3: force 77 '8'" when forked by an intervention, else "": the status line says it
} tui_timeline;

typedef enum { FOCUS_CANVAS, FOCUS_HEAT } tui_focus;
typedef enum { INPUT_NONE, INPUT_SEARCH, INPUT_GOTO, INPUT_PROMPT, INPUT_FORCE } tui_input;

typedef struct {
    tui_opts      opts;
    TermKey      *tk;
    tui_keymap    keys;
    tui_theme     theme;
    bool          utf8;
    int           rows, cols;
    tui_layout    L;
    tui_view      view;       // what this frame shows, derived from A's step (view.c)
    tui_layout_opts lopts;
    tui_timeline  a, b;       // b: compare mode (parent of a fork, a counterpart run, or --compare)
    bool          compare;
    int           sel;        // selected canvas position (absolute)
    tui_focus     focus;
    tui_metric    metric;
    int           heat_top, heat_left; // heat grid viewport (row group, position offset)
    int           heat_zoom;  // steps per heat-grid row: 1, 2, 4, 8, 16; 0: fit every step; -1: one row per block
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
    // INPUT_FORCE: the position, the candidate shown (index into its top-K; -1: typed text) and
    // the line as that candidate put it (typing over it means text to look up instead)
    int           force_pos, force_cand;
    char          force_line[256];
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

static inline int tui_cur_step(const tui_app *app) { return dlm_player_index(app->a.player); }
static inline const dlm_trace_header *tui_hdr(const tui_app *app) { return dlm_trace_header_of(app->a.trace); }

// app.c: timelines, stepping, messages.
dlm_status tui_timeline_open(tui_timeline *t, const char *path, tui_live *live); // takes `live` (freed on error)
void tui_timeline_free(tui_timeline *t);
tui_live_config tui_app_live_config(const tui_app *app, const char *record);
void tui_app_seek(tui_app *app, int step); // B follows in compare mode
void tui_search_move(tui_app *app, int dir); // next (+1) or previous (-1) match of app->search
// A message on the key bar until the next key (errors in red).
void tui_message(tui_app *app, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// control.c: forks and live sessions.
void tui_fork_to(tui_app *app, const dlm_rule_config *rule); // fork at the current step under `rule`
// Fork at the current step with an intervention before the next step (same rule), and run it.
void tui_intervene(tui_app *app, const dlm_intervention *iv);
dlm_rule_config tui_current_rule(const tui_app *app);       // the rule the next step from here runs under
// A rule of another kind that keeps the canvas, seed, temperature and shared thresholds.
dlm_rule_config tui_switch_kind(const dlm_rule_config *from, dlm_rule_kind kind);
void tui_start_compare(tui_app *app);
void tui_restart_with_prompt(tui_app *app, const char *text);
void tui_param_adjust(tui_app *app, int dir); // the params panel: change the selected row

// input.c: the key bar's line editor.
void tui_input_set(tui_app *app, const char *text); // the line, cursor at its end
// INPUT_FORCE: show the next (+1) or previous (-1) candidate of the position on the line.
void tui_force_candidate(tui_app *app, int dir);
void tui_input_key(tui_app *app, const TermKeyKey *k);

// app.c: the pieces of the event loop, for the terminal loop and for script mode.
void tui_app_key(tui_app *app, const TermKeyKey *k);
bool tui_app_tick(tui_app *app);       // live steps, autoplay, message expiry; true if the screen changed
bool tui_app_idle(const tui_app *app); // no live step running or queued, not playing
void tui_app_frame(tui_app *app);      // lay out and draw one frame
void tui_app_caption(tui_app *app);    // demo mode: the caption of the current step
void tui_app_fail(tui_app *app, const char *fmt, ...) __attribute__((format(printf, 2, 3))); // a script error on stderr

// script.c
int tui_script_run(tui_app *app, const char *script, const char *dump_dir, const char *mode);
// Write the curses screen to path as text plus a map of styles. mode: a label for the first line.
bool tui_screen_dump(const char *path, const char *mode);
// One cell of the curses screen: its character (UTF-8), colours as curses has them (-1: the
// terminal's default), TUI-visible attributes (A_BOLD...), width (2: a wide character).
typedef struct {
    char text[16];
    int  fg, bg, attrs, width;
} tui_screen_cell;
bool tui_screen_cell_at(int y, int x, tui_screen_cell *out);

// export.c: `view TRACE --export cast|svg|html`. Returns the exit status.
int tui_export_run(tui_app *app, const char *format, const char *out_path, FILE *term_out);
// The screen as drawn now, as "svg" or "html". False with a message on error.
bool tui_export_still(tui_app *app, const char *format, const char *path);

// draw.c
void tui_draw(tui_app *app);
// The summary row of a step (computes and caches it). NULL if the step cannot be read.
const uint8_t *tui_timeline_row(tui_timeline *t, int step);
// Search app->search in the text of a step (across tokens): marks per generated position (G bytes
// each; covered may be NULL). Returns the number of matches.
int tui_step_search(const tui_app *app, const tui_timeline *t, const dlm_step *st, unsigned char *starts, unsigned char *covered);
// Steps per heat-grid row with `rows` rows on screen (zoom by a factor, or fit).
int tui_heat_zoom(const tui_app *app, int rows);
// The steps [s0, s1) of heat-grid row group g of a trajectory; false past the last.
bool tui_heat_group(const tui_app *app, tui_timeline *t, int rows, int g, int *s0, int *s1);
// Rows the candidates grid wants for the current step (for the layout).
int tui_cand_rows(const tui_app *app);

// view.c: the frame model. Build it once per frame, before the layout and the drawing.
void tui_view_build(tui_app *app);
void tui_view_free(tui_view *v);
// A's canvas laid out at width w (cached in app->view for the current step); NULL without a step.
const tui_cell_pos *tui_view_cells(tui_app *app, int w);
// Lay out any trajectory's step at width W (cells may be NULL); returns the number of lines.
int tui_canvas_layout(const tui_app *app, const tui_timeline *t, const dlm_step *st, int W, tui_cell_pos *cells);
int tui_canvas_lines(tui_app *app, int w); // text lines A's canvas needs at width w
// On canvas A: the position on the line above (dir -1) or below (+1) nearest in column to `pos`
// (pos itself if there is no such line), and the position under a line and column (-1: none).
int tui_canvas_vertical(tui_app *app, int pos, int dir);
int tui_canvas_pos_at(tui_app *app, int line, int col);
// A position as the canvas shows it: a glyph for masks, soft masks, remasks and EOS, else its text.
void tui_cell_text(const tui_app *app, const tui_timeline *t, const dlm_pos_info *p, tui_token_text *tt);
bool tui_is_mask_id(const tui_timeline *t, int32_t id);
bool tui_is_eos_id(const tui_timeline *t, int32_t id);
// Short description of a rule spec for the status line ("t2m lowprob τ0.3 C1 ρ0.25").
void tui_rule_short(const tui_app *app, const char *spec, char *buf, size_t n);
// Display text of a token id as recorded in a trace.
void tui_token_display(const tui_app *app, const dlm_trace *t, int32_t id, tui_token_text *out);

#endif
