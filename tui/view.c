// view.c — the frame model (view.h): built once per frame from A's current step, read by the
// drawing, the layout, the keys and the mouse, so the canvas is laid out by one description.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "engine/util.h"

static const char *glyph(const tui_app *app, const char *utf8, const char *ascii) { return app->utf8 ? utf8 : ascii; }

bool tui_is_mask_id(const tui_timeline *t, int32_t id) { return id == dlm_trace_header_of(t->trace)->mask_id; }
bool tui_is_eos_id(const tui_timeline *t, int32_t id) { return id == dlm_trace_header_of(t->trace)->eos_id; }

void tui_rule_short(const tui_app *app, const char *spec, char *buf, size_t n) {
    dlm_rule_config r;
    if (!spec[0] || dlm_rule_parse(spec, &r) != DLM_STATUS_OK || dlm_rule_finalize(&r) != DLM_STATUS_OK) {
        snprintf(buf, n, "%s", spec[0] ? spec : "?");
        return;
    }
    dlm_rule_describe(&r, app->utf8, buf, n); // the rule's own short description (engine/rules)
}

// A mark before the cell of a position touched by hand (this step) or pinned: the role's colour
// says it too, but glyphs carry meaning without colour.
static void mark_cell(const tui_app *app, const dlm_pos_info *p, tui_token_text *tt) {
    const char *m = p->intervened ? glyph(app, "✎", "!") : p->pinned ? glyph(app, "⌖", "^") : NULL;
    size_t ml = m ? strlen(m) : 0, tl = strlen(tt->text);
    if (!m || ml + tl >= sizeof tt->text) return;
    memmove(tt->text + ml, tt->text, tl + 1);
    memcpy(tt->text, m, ml);
    tt->width += tui_text_width(m);
}

void tui_cell_text(const tui_app *app, const tui_timeline *t, const dlm_pos_info *p, tui_token_text *tt) {
    if (p->events & DLM_EVENT_REMASK) {
        tui_render_token(glyph(app, "×", "x"), strlen(glyph(app, "×", "x")), app->utf8, tt);
    } else if (p->state == DLM_POS_SOFT_MASK) { // before the mask id test: a soft mask holds the mask id too
        tui_render_token(glyph(app, "░", "~"), strlen(glyph(app, "░", "~")), app->utf8, tt);
    } else if (p->state == DLM_POS_MASK || tui_is_mask_id(t, p->token)) {
        tui_render_token(glyph(app, "·", "_"), strlen(glyph(app, "·", "_")), app->utf8, tt);
    } else if (tui_is_eos_id(t, p->token)) { // end-of-text padding: one narrow cell, not 13 columns each
        tui_render_token(glyph(app, "∎", "$"), strlen(glyph(app, "∎", "$")), app->utf8, tt);
    } else {
        tui_token_display(app, t->trace, p->token, tt);
        if (tt->width == 0) tui_render_token(glyph(app, "∅", "0"), strlen(glyph(app, "∅", "0")), app->utf8, tt);
    }
    mark_cell(app, p, tt);
}

int tui_canvas_layout(const tui_app *app, const tui_timeline *t, const dlm_step *st, int W, tui_cell_pos *cells) {
    tui_token_text tt;
    int line = 0, col = 0, P = st->prompt_len;
    if (W < 1) W = 1;
    for (int i = P; i < st->n_tokens; i++) {
        tui_cell_text(app, t, &st->pos[i], &tt);
        int w = tt.width < W ? tt.width : W;
        if (col > 0 && col + w > W) line++, col = 0;
        if (cells) cells[i - P] = (tui_cell_pos){line, col, w};
        col += w;
        if (tt.newline && st->pos[i].state != DLM_POS_MASK) line++, col = 0;
    }
    return st->n_tokens > P ? line + 1 : 0;
}

void tui_view_build(tui_app *app) {
    tui_view *v = &app->view;
    free(v->cells);
    memset(v, 0, sizeof *v);
    v->trace = app->a.trace;
    v->step = dlm_player_index(app->a.player);
    const dlm_trace_header *h = dlm_trace_header_of(app->a.trace);
    const char *spec = v->step >= 0 ? dlm_trace_rule_spec(app->a.trace, dlm_trace_info(app->a.trace, v->step)->rule) : h->rule_spec;
    if (!spec[0]) spec = h->rule_spec;
    v->rule_ok = dlm_rule_parse(spec, &v->rule) == DLM_STATUS_OK && dlm_rule_finalize(&v->rule) == DLM_STATUS_OK;
    tui_rule_short(app, spec, v->rule_text, sizeof v->rule_text);
}

void tui_view_free(tui_view *v) {
    free(v->cells);
    memset(v, 0, sizeof *v);
}

const tui_cell_pos *tui_view_cells(tui_app *app, int w) {
    tui_view *v = &app->view;
    const dlm_step *st = dlm_player_step(app->a.player);
    if (!st) return NULL;
    // Valid for one trajectory, step and width: a fork or a new prompt replaces the trace.
    if (v->cells && v->canvas_w == w && v->trace == (const void *)app->a.trace && v->step == dlm_player_index(app->a.player) &&
        v->n_cells == st->n_tokens - st->prompt_len)
        return v->cells;
    free(v->cells);
    v->trace = app->a.trace;
    v->n_cells = st->n_tokens - st->prompt_len;
    v->cells = dlm_xcalloc((size_t)(v->n_cells > 0 ? v->n_cells : 1), sizeof *v->cells);
    v->n_lines = tui_canvas_layout(app, &app->a, st, w, v->cells);
    v->canvas_w = w;
    v->step = dlm_player_index(app->a.player);
    return v->cells;
}

int tui_canvas_lines(tui_app *app, int w) {
    return tui_view_cells(app, w) ? app->view.n_lines : 1;
}

int tui_canvas_vertical(tui_app *app, int pos, int dir) {
    const dlm_step *st = dlm_player_step(app->a.player);
    const tui_cell_pos *cells = tui_view_cells(app, app->L.canvas.w);
    if (!st || !cells || pos < st->prompt_len || pos >= st->n_tokens) return pos;
    int P = st->prompt_len, G = st->n_tokens - P, best = pos, best_d = 0;
    tui_cell_pos from = cells[pos - P];
    for (int g = 0; g < G; g++) { // the cell of the line above / below nearest in column
        if (cells[g].line != from.line + dir) continue;
        int d = abs(cells[g].col - from.col);
        if (best == pos || d < best_d) best = P + g, best_d = d;
    }
    return best;
}

int tui_canvas_pos_at(tui_app *app, int line, int col) {
    const dlm_step *st = dlm_player_step(app->a.player);
    const tui_cell_pos *cells = tui_view_cells(app, app->L.canvas.w);
    if (!st || !cells) return -1;
    int P = st->prompt_len, G = st->n_tokens - P, found = -1;
    for (int g = 0; g < G; g++)
        if (cells[g].line == line && (found < 0 || col >= cells[g].col)) {
            if (col < cells[g].col && found >= 0) break;
            found = P + g; // the last cell starting at or before col on that line
        }
    return found;
}
