// layout.c — pane rectangles from the terminal size.
//
//   +-------------------- status --------------------+
//   | canvas (| canvas B)           | inspector      |
//   | candidates grid               |                |
//   |---------------- heat grid (| heat grid B) -----|
//   | timeline                                       |
//   +-------------------- keybar --------------------+
// The canvas takes the lines its text needs, the grids the rest. Narrow terminals put the
// inspector under the canvas; short ones drop the candidates grid, then the heat grid; a panel
// without room is flagged in `hidden` so the screen can say so. Below TUI_MIN_COLS x TUI_MIN_ROWS
// only a message is shown.
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

    // Heights, giving the screen to data: the canvas gets the lines its text needs (at least 4,
    // title included), the candidates grid its rows, the heat grid the rest (at least 4).
    int cand_h = o->cand ? o->cand_rows : 0;
    int heat_min = o->heat ? 4 : 0;
    int canvas_need = o->canvas_lines > 0 ? o->canvas_lines + 1 : body;
    if (canvas_need < 4) canvas_need = 4;
    // Narrow: the inspector goes under the canvas and needs 10 rows with it; it wins over the
    // candidates grid (which shows the selected position's candidates too).
    int canvas_min = o->inspector && cols < 72 ? 10 : 4;
    if (cand_h && body - heat_min - cand_h < canvas_min) cand_h = 0, L->hidden |= TUI_PANE_CAND;
    if (body - heat_min - cand_h < canvas_min) canvas_min = 4; // no room for the inspector anyway
    if (o->canvas_lines <= 0 && o->heat) { // text size unknown: the old split, a third to the heat grid
        int h = body / 3 < 4 ? 4 : body / 3;
        canvas_need = body - cand_h - h;
    }
    if (canvas_need < canvas_min) canvas_need = canvas_min;
    int canvas_h = canvas_need < body - heat_min - cand_h ? canvas_need : body - heat_min - cand_h;
    if (canvas_h < 4) canvas_h = 4;
    int heat_h = o->heat ? body - canvas_h - cand_h : 0;
    if (heat_h < 3) {
        if (o->heat) L->hidden |= TUI_PANE_HEAT;
        heat_h = 0;
    }
    canvas_h = body - cand_h - heat_h; // whatever no grid takes
    int main_h = canvas_h + cand_h;
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
        else if (canvas_h >= 10) insp_h = canvas_h / 2 > 5 ? canvas_h / 2 : 5;
        else L->hidden |= TUI_PANE_INSPECTOR;
    }
    int canvas_w = cols - insp_w;
    canvas_h -= insp_h;
    if (insp_w) L->inspector = rect(top, canvas_w, main_h, insp_w);
    if (insp_h) L->inspector = rect(top + canvas_h, 0, insp_h, cols);
    if (cand_h) L->cand = rect(top + canvas_h + insp_h, 0, cand_h, canvas_w);
    if (o->compare && canvas_w >= 2 * 20 + 1) {
        int half = (canvas_w - 1) / 2; // both panes the same width, so they wrap the same way
        L->canvas = rect(top, 0, canvas_h, half);
        L->canvas_b = rect(top, half + 1, canvas_h, half);
    } else {
        if (o->compare) L->hidden |= TUI_PANE_COMPARE;
        L->canvas = rect(top, 0, canvas_h, canvas_w);
    }
}
