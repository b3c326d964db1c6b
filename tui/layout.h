// layout.h — where each pane goes, as a pure function of the terminal size and the view options.
// No curses here: tests sweep it over many sizes (tests/unit/test_layout.c).
#ifndef DLM_TUI_LAYOUT_H
#define DLM_TUI_LAYOUT_H

#include <stdbool.h>

typedef struct {
    int y, x, h, w; // h == 0 or w == 0: hidden
} tui_rect;

typedef struct {
    bool inspector; // show the position inspector
    bool heat;      // show the heat grid
    bool compare;   // two canvases side by side
    bool cand;      // show the candidates grid (top-K per position)
    int  cand_rows; // rows the candidates grid wants (ruler, K candidates, mass row)
    int  canvas_lines; // text lines the canvas needs at the width this layout gives it (0: unknown, all it can get)
} tui_layout_opts;

typedef struct {
    bool     too_small;  // below the minimum: only `message` is drawn
    tui_rect status;     // top line: model, rule, block, step
    tui_rect canvas;     // the response as text
    tui_rect canvas_b;   // compare mode: the other trajectory
    tui_rect cand;       // candidates grid: top-K of the positions around the cursor
    tui_rect inspector;  // selected position
    tui_rect heat;       // steps x positions
    tui_rect heat_b;     // compare mode: the other trajectory's steps x positions
    tui_rect timeline;   // one line of step markers
    tui_rect keybar;     // bottom line: keys or a message
    tui_rect message;    // whole screen when too small
    unsigned hidden;     // TUI_PANE_* asked for in the options but without room: the screen says so
} tui_layout;

enum { TUI_PANE_INSPECTOR = 1, TUI_PANE_HEAT = 2, TUI_PANE_COMPARE = 4, TUI_PANE_CAND = 8 };

#define TUI_MIN_COLS 40
#define TUI_MIN_ROWS 12

void tui_layout_compute(int rows, int cols, const tui_layout_opts *opts, tui_layout *out);

#endif
