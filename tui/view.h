// view.h — the frame model between the data and the drawing (nvtop's split): what a frame shows
// that takes work to derive from a step — the rule it ran, parsed; the canvas's cells laid out at
// the canvas width — built once per frame by tui_view_build, read by draw.c, by the layout (the
// lines the text needs) and by the keys and the mouse (which cell is where). Internal to tui/.
#ifndef DLM_TUI_VIEW_H
#define DLM_TUI_VIEW_H

#include <stdbool.h>

#include "engine/rules.h"

typedef struct {
    int line, col, width;
} tui_cell_pos;

typedef struct {
    const void     *trace;      // A's trace and step this view was built for (step -1: none)
    int             step;
    dlm_rule_config rule;       // the rule that step ran (rule_ok: it parsed)
    bool            rule_ok;
    char            rule_text[128]; // its short form for the status line ("t2m lowprob τ0.3 C1 ρ0.25")
    int             canvas_w;   // the width `cells` were laid out for (0: not yet)
    tui_cell_pos   *cells;      // A's generated positions on the canvas; NULL without a step
    int             n_cells, n_lines;
} tui_view;

#endif
