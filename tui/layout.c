// layout.c — pane rectangles from the terminal size.
//
//   +-------------------- status --------------------+
//   | canvas (| canvas B)           | inspector      |
//   |---------------- heat grid ---------------------|
//   | timeline                                       |
//   +-------------------- keybar --------------------+
// Narrow terminals drop the inspector beside the canvas and put it under; short ones shrink the
// heat grid, then hide it; below TUI_MIN_COLS x TUI_MIN_ROWS only a message is shown.
#include "layout.h"

#include <string.h>

static tui_rect rect(int y, int x, int h, int w) {
    tui_rect r = {y, x, h > 0 ? h : 0, w > 0 ? w : 0};
    if (!r.h || !r.w) r.h = r.w = 0;
    return r;
}

void tui_layout_compute(int rows, int cols, const tui_layout_opts *o, tui_layout *L) {
    memset(L, 0, sizeof *L);
    if (rows < TUI_MIN_ROWS || cols < TUI_MIN_COLS) {
        L->too_small = true;
        L->message = rect(0, 0, rows, cols);
        return;
    }
    L->status = rect(0, 0, 1, cols);
    L->keybar = rect(rows - 1, 0, 1, cols);
    L->timeline = rect(rows - 2, 0, 1, cols);
    int top = 1, bottom = rows - 2; // [top, bottom) is the body
    int body = bottom - top;

    // Heat grid: about a third of the body, at least 4 rows, only if the canvas keeps 6.
    int heat_h = 0;
    if (o->heat) {
        heat_h = body / 3;
        if (heat_h < 4) heat_h = 4;
        if (body - heat_h < 6) heat_h = body - 6 >= 3 ? body - 6 : 0;
    }
    int main_h = body - heat_h;
    if (o->heat && !heat_h) L->hidden |= TUI_PANE_HEAT;
    bool two = o->compare && cols >= 2 * 20 + 1;
    if (heat_h && two) { // each trajectory its own grid, under its canvas
        int half = (cols - 1) / 2;
        L->heat = rect(top + main_h, 0, heat_h, half);
        L->heat_b = rect(top + main_h, half + 1, heat_h, half);
    } else if (heat_h) {
        L->heat = rect(top + main_h, 0, heat_h, cols);
    }

    // Inspector beside the canvas when wide enough, else under it (if tall enough), else hidden.
    int insp_w = 0, insp_h = 0;
    if (o->inspector) {
        if (cols >= 100) insp_w = cols / 3 < 48 ? cols / 3 : 48;
        else if (cols >= 72) insp_w = 34;
        else if (main_h >= 10) insp_h = main_h / 2 > 5 ? main_h / 2 : 5;
        else L->hidden |= TUI_PANE_INSPECTOR;
    }
    int canvas_w = cols - insp_w, canvas_h = main_h - insp_h;
    if (insp_w) L->inspector = rect(top, canvas_w, main_h, insp_w);
    if (insp_h) L->inspector = rect(top + canvas_h, 0, insp_h, cols);
    if (o->compare && canvas_w >= 2 * 20 + 1) {
        int half = (canvas_w - 1) / 2; // both panes the same width, so they wrap the same way
        L->canvas = rect(top, 0, canvas_h, half);
        L->canvas_b = rect(top, half + 1, canvas_h, half);
    } else {
        if (o->compare) L->hidden |= TUI_PANE_COMPARE;
        L->canvas = rect(top, 0, canvas_h, canvas_w);
    }
}
