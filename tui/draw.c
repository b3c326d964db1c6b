// draw.c — every pane of the visualizer. Reads the app state, never changes what the user sees
// next except scroll offsets that keep the cursor visible. Colours come only from theme roles.
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "engine/util.h"

// ---- primitives ----------------------------------------------------------------------------------

// Print UTF-8 text at (y, x), clipped to `w` columns. Returns the columns used.
static int put(int y, int x, int w, int attr, const char *text) {
    if (w <= 0) return 0;
    char buf[1024];
    tui_text_clip(text, w, buf, sizeof buf);
    attrset(attr);
    mvaddstr(y, x, buf);
    attrset(A_NORMAL);
    return tui_text_width(buf);
}

// Prose (messages, descriptions): clipped at a word boundary with an ellipsis, never mid-word.
static int put_words(const tui_app *app, int y, int x, int w, int attr, const char *text) {
    if (w <= 0) return 0;
    char buf[1024];
    tui_text_clip_words(text, w, app->utf8, buf, sizeof buf);
    return put(y, x, w, attr, buf);
}

static void fill(int y, int x, int w, int attr) {
    attrset(attr);
    for (int i = 0; i < w; i++) mvaddch(y, x + i, ' ');
    attrset(A_NORMAL);
}

static int role(tui_role r) { return tui_theme_attr(r); }

static const char *glyph(const tui_app *app, const char *utf8, const char *ascii) { return app->utf8 ? utf8 : ascii; }

// ---- per-step summaries ----------------------------------------------------------------------------

const uint8_t *tui_timeline_row(tui_timeline *t, int step) {
    int n = dlm_trace_n_steps(t->trace);
    if (step < 0 || step >= n) return NULL;
    if (n > t->cap_rows) {
        int cap = t->cap_rows ? t->cap_rows : 256;
        while (cap < n) cap *= 2;
        t->rows = dlm_xrealloc(t->rows, (size_t)cap * sizeof *t->rows);
        memset(t->rows + t->cap_rows, 0, (size_t)(cap - t->cap_rows) * sizeof *t->rows);
        t->cap_rows = cap;
    }
    if (t->rows[step]) return t->rows[step];
    const dlm_trace_header *h = dlm_trace_header_of(t->trace);
    if (!t->scratch) t->scratch = dlm_step_new(h->n_tokens);
    if (dlm_trace_read_step(t->trace, step, t->scratch, NULL) != DLM_STATUS_OK) return NULL;
    int P = h->prompt_len, G = h->n_tokens - P;
    uint8_t *row = dlm_xcalloc((size_t)G, CELL_BYTES);
    double log_v = log((double)h->n_vocab);
    for (int i = 0; i < G; i++) {
        const dlm_pos_info *p = &t->scratch->pos[P + i];
        uint8_t *c = row + (size_t)i * CELL_BYTES;
        float conf = (p->events & (DLM_EVENT_COMMIT | DLM_EVENT_EDIT)) || p->state == DLM_POS_MASK ||
                             p->state == DLM_POS_SOFT_MASK
                         ? p->p_sampled
                         : p->p_current;
        float margin = p->n_top >= 2 ? p->top_p[0] - p->top_p[1] : p->n_top ? p->top_p[0] : 0;
        c[CELL_CONF] = (uint8_t)lrintf(255 * fminf(fmaxf(conf, 0), 1));
        // p of the token held after this step: one this step committed or edited has p_sampled
        // (p_current is about the token the forward saw, the mask or the old token).
        float pcur = (p->events & (DLM_EVENT_COMMIT | DLM_EVENT_EDIT)) && p->sampled == p->token ? p->p_sampled : p->p_current;
        c[CELL_PCUR] = (uint8_t)lrintf(255 * fminf(fmaxf(pcur, 0), 1));
        c[CELL_MARGIN] = (uint8_t)lrintf(255 * fminf(fmaxf(margin, 0), 1));
        c[CELL_ENTROPY] = (uint8_t)lrint(255 * fmin(fmax(p->entropy / log_v, 0), 1));
        c[CELL_STATE] = p->state;
        c[CELL_EVENTS] = p->events;
        c[CELL_FLAGS] = (uint8_t)((p->has_dist ? 1 : 0) | (p->stuck ? 2 : 0));
    }
    t->rows[step] = row;
    return row;
}

void tui_token_display(const tui_app *app, const dlm_trace *t, int32_t id, tui_token_text *out) {
    size_t len;
    const char *b = dlm_trace_token(t, id, &len);
    if (!b) {
        char tmp[24];
        snprintf(tmp, sizeof tmp, "#%d", id);
        tui_render_token(tmp, strlen(tmp), app->utf8, out);
        return;
    }
    tui_render_token(b, len, app->utf8, out);
}

// Under a KV cache, a block's later forwards do not recompute every position: those left out
// still show the block's first forward's prediction.
static bool prediction_cached(const tui_app *app, const dlm_step *st, int i) {
    const dlm_rule_config *r = &app->view.rule;
    if (st->step_in_block == 0 || !app->view.rule_ok || r->cache == DLM_CACHE_NONE) return false;
    return i < st->block_start || (r->cache == DLM_CACHE_DUAL && i >= st->block_end);
}

// ---- status line -------------------------------------------------------------------------------------

static void draw_status(tui_app *app) {
    tui_rect r = app->L.status;
    fill(r.y, r.x, r.w, role(TUI_ROLE_STATUS));
    tui_timeline *t = &app->a;
    const dlm_trace_header *h = dlm_trace_header_of(t->trace);
    const dlm_step *st = dlm_player_step(t->player);
    int n = dlm_trace_n_steps(t->trace), cur = dlm_player_index(t->player);
    char rule[128], buf[512];
    const dlm_trace_step_info *in = cur >= 0 ? dlm_trace_info(t->trace, cur) : NULL;
    snprintf(rule, sizeof rule, "%s", app->view.rule_text); // the view's: A's current step
    if (t->live && in && cur == n - 1) { // after a fork the next step runs under the new rule: say so
        char next[512], nshort[128];
        dlm_rule_format(tui_live_rule(t->live), next, sizeof next);
        if (strcmp(next, dlm_trace_rule_spec(t->trace, in->rule)) != 0) {
            tui_rule_short(app, next, nshort, sizeof nshort);
            snprintf(rule + strlen(rule), sizeof rule - strlen(rule), " %s %s", glyph(app, "→", "->"), nshort);
        }
    }
    const char *mode = t->live ? (tui_live_busy(t->live) ? "LIVE running" : tui_live_done(t->live) ? "LIVE done" : "LIVE")
                               : "REPLAY";
    const char *sep = glyph(app, " │ ", " | ");
    int x = r.x;
    x += put(r.y, x, r.w, role(TUI_ROLE_STATUS_KEY), " dlmscope");
    snprintf(buf, sizeof buf, "%s%s%s%s", sep, h->model_name, h->adapter[0] ? "+lora" : "", sep);
    x += put(r.y, x, r.x + r.w - x, role(TUI_ROLE_STATUS), buf);
    x += put(r.y, x, r.x + r.w - x, role(TUI_ROLE_STATUS_KEY), rule);
    // Steps and blocks are numbered from 0, as in trace dump/diff, --step and --resume T@N: the
    // number after the slash is the last one so far.
    if (st)
        snprintf(buf, sizeof buf, "%sblock %d/%d%sstep %d/%d%s+%d ~%d -%d%s%s%.1f ms%s%s", sep, st->block, st->n_blocks - 1,
                 sep, cur, n - 1, sep, st->n_commits, st->n_edits, st->n_remasks, st->n_stuck ? " stuck" : "", sep,
                 st->forward_ms, sep, mode);
    else snprintf(buf, sizeof buf, "%sno step yet%s%s", sep, sep, mode);
    if (st && st->n_block_info > 0) { // d2f: every block's state, in-cache to idle (docs/tui.md)
        char blocks[160] = "";
        for (int b = 0; b < st->n_block_info && b < 24; b++) {
            const uint8_t v = st->block_info[b];
            const int s = v & DLM_BSTATE_MASK;
            snprintf(blocks + strlen(blocks), sizeof blocks - strlen(blocks), "%s",
                     s == DLM_BSTATE_IN_CACHE   ? glyph(app, "█", "c")
                     : s == DLM_BSTATE_TO_CACHE ? glyph(app, "▆", "t")
                     : s == DLM_BSTATE_ACTIVE   ? (v & DLM_BSTATE_COMPLETE ? glyph(app, "▓", "A") : glyph(app, "▒", "a"))
                                                : glyph(app, "·", "."));
        }
        if (st->n_block_info > 24) snprintf(blocks + strlen(blocks), sizeof blocks - strlen(blocks), "%s", glyph(app, "…", "+"));
        char *tail = strstr(buf, sep); // after "block b/n"
        tail = tail ? strstr(tail + strlen(sep), sep) : NULL;
        if (tail) {
            char rest[512];
            snprintf(rest, sizeof rest, "%s", tail);
            snprintf(tail, sizeof buf - (size_t)(tail - buf), " %s%s", blocks, rest);
        }
    }
    x += put(r.y, x, r.x + r.w - x, role(TUI_ROLE_STATUS), buf);
    if (app->playing) {
        snprintf(buf, sizeof buf, "%s%s %.1f/s", sep, glyph(app, "▶", ">"), 1000.0 / app->interval_ms);
        x += put(r.y, x, r.x + r.w - x, role(TUI_ROLE_STATUS_KEY), buf);
    }
    if (app->compare) {
        snprintf(buf, sizeof buf, "%scompare", sep);
        x += put(r.y, x, r.x + r.w - x, role(TUI_ROLE_STATUS_KEY), buf);
    }
    if (t->note[0]) { // a fork made by hand: which step it left, and what was done
        snprintf(buf, sizeof buf, "%s%s", sep, t->note);
        x += put(r.y, x, r.x + r.w - x, role(TUI_ROLE_STATUS_KEY), buf);
    }
    int dw = tui_text_width(h->device) + 1;
    if (x + dw + 2 < r.x + r.w) put(r.y, r.x + r.w - dw, dw, role(TUI_ROLE_STATUS), h->device);
}

// ---- canvas ----------------------------------------------------------------------------------------------

// Style of a position on the canvas.
static int canvas_attr(const tui_app *app, const tui_timeline *t, const dlm_step *st, int i, bool diff) {
    const dlm_pos_info *p = &st->pos[i];
    bool active = i >= st->block_start && i < st->block_end;
    int a;
    if (p->intervened) a = role(TUI_ROLE_INTERVENED); // done by hand before this step
    else if (p->events & DLM_EVENT_REMASK) a = role(TUI_ROLE_REMASK);
    else if (p->events & DLM_EVENT_EDIT) a = role(TUI_ROLE_EDIT);
    else if (p->events & DLM_EVENT_COMMIT) a = role(TUI_ROLE_COMMIT);
    else if (p->stuck) a = role(TUI_ROLE_STUCK);
    else if (p->pinned) a = role(TUI_ROLE_PINNED);
    else if (p->state == DLM_POS_MASK) a = role(active ? TUI_ROLE_MASK : TUI_ROLE_DIM);
    else if (p->state == DLM_POS_SOFT_MASK) a = role(TUI_ROLE_SOFT_MASK);
    else if (p->state == DLM_POS_SOFT) a = role(TUI_ROLE_SOFT);
    else {
        float conf = p->has_dist ? p->p_current : 1.0f;
        int level = conf < 0.1f ? 0 : conf < 0.3f ? 1 : conf < 0.6f ? 2 : conf < 0.9f ? 3 : 4;
        a = role((tui_role)(TUI_ROLE_CONF0 + level));
    }
    if (diff) a = role(TUI_ROLE_DIFF);
    (void)t;
    return a;
}

int tui_step_search(const tui_app *app, const tui_timeline *t, const dlm_step *st, unsigned char *starts, unsigned char *covered) {
    int P = st->prompt_len, G = st->n_tokens - P;
    if (G <= 0 || !app->search[0]) return 0;
    const char **texts = dlm_xcalloc((size_t)G, sizeof *texts);
    size_t *lens = dlm_xcalloc((size_t)G, sizeof *lens);
    for (int i = 0; i < G; i++) {
        const dlm_pos_info *p = &st->pos[P + i];
        if (p->state == DLM_POS_MASK || p->state == DLM_POS_SOFT_MASK || tui_is_mask_id(t, p->token)) continue;
        texts[i] = dlm_trace_token(t->trace, p->token, &lens[i]);
    }
    int found = tui_text_search(texts, lens, G, app->search, starts, covered);
    free(texts);
    free(lens);
    return found;
}

static void draw_canvas(tui_app *app, tui_rect r, tui_timeline *t, const tui_timeline *other, bool primary) {
    if (!r.h || !r.w) return;
    const dlm_step *st = dlm_player_step(t->player);
    const dlm_trace_header *h = dlm_trace_header_of(t->trace);
    // Title: the label (compare) or the prompt, dim.
    char title[512];
    if (app->compare) { // which trajectory, its rule and its step: each pane says what it shows
        int cur = dlm_player_index(t->player), n = dlm_trace_n_steps(t->trace);
        const dlm_trace_step_info *in = cur >= 0 ? dlm_trace_info(t->trace, cur) : NULL;
        char rs[128];
        tui_rule_short(app, in ? dlm_trace_rule_spec(t->trace, in->rule) : h->rule_spec, rs, sizeof rs);
        if (cur >= 0) snprintf(title, sizeof title, "%s %s %s %s step %d/%d", t->label, glyph(app, "·", "|"), rs, glyph(app, "·", "|"), cur, n - 1);
        else snprintf(title, sizeof title, "%s %s %s %s no step yet", t->label, glyph(app, "·", "|"), rs, glyph(app, "·", "|"));
    } else {
        const char *pt = app->prompt_text ? app->prompt_text : h->prompt_text;
        // show the user's message: the part after the first header end, if the template is there
        const char *u = pt ? strstr(pt, "<|end_header_id|>") : NULL;
        snprintf(title, sizeof title, "prompt: %s", u ? u + 17 : pt ? pt : "(ids only)");
        for (char *c = title; *c; c++)
            if (*c == '\n' || *c == '\t') *c = ' ';
        char *eot = strstr(title, "<|eot_id|>");
        if (eot) *eot = 0;
    }
    put(r.y, r.x, r.w, role(app->compare ? TUI_ROLE_TITLE : TUI_ROLE_PROMPT), title);
    if (!st) {
        put(r.y + 2, r.x + 1, r.w - 1, role(TUI_ROLE_DIM), t->live ? "press . to run the first step, space to play" : "no steps");
        return;
    }
    const dlm_step *ost = other ? dlm_player_step(other->player) : NULL;
    int P = h->prompt_len, N = h->n_tokens, G = N - P;
    // A's layout comes from the view (built for this frame at this width); B lays out its own.
    tui_token_text tt;
    tui_cell_pos *own = NULL;
    const tui_cell_pos *cells = t == &app->a ? tui_view_cells(app, r.w) : NULL;
    if (!cells) {
        own = dlm_xcalloc((size_t)G, sizeof *own);
        tui_canvas_layout(app, t, st, r.w, own);
        cells = own;
    }
    int body_h = r.h - 1;
    if (primary) { // keep the selection visible
        int sl = app->sel >= P && app->sel < N ? cells[app->sel - P].line : 0;
        if (sl < app->canvas_top) app->canvas_top = sl;
        if (sl >= app->canvas_top + body_h) app->canvas_top = sl - body_h + 1;
        if (app->canvas_top < 0) app->canvas_top = 0;
    }
    int top = app->canvas_top;
    unsigned char *starts = dlm_xmalloc((size_t)G + 1), *covered = dlm_xmalloc((size_t)G + 1);
    if (!tui_step_search(app, t, st, starts, covered)) memset(covered, 0, (size_t)G + 1);
    for (int i = P; i < N; i++) {
        tui_cell_pos c = cells[i - P];
        if (c.line < top || c.line >= top + body_h) continue;
        const dlm_pos_info *p = &st->pos[i];
        tui_cell_text(app, t, p, &tt);
        bool diff = ost && ost->n_tokens == st->n_tokens && ost->pos[i].token != p->token;
        int a = canvas_attr(app, t, st, i, diff);
        if (covered[i - P]) a = role(TUI_ROLE_MATCH);
        if (i == app->sel) a |= A_REVERSE;
        put(r.y + 1 + c.line - top, r.x + c.col, c.width, a, tt.text);
    }
    free(starts);
    free(covered);
    free(own);
}

// ---- heat grid -----------------------------------------------------------------------------------------

static const char *metric_name(tui_metric m) {
    static const char *const names[] = {"confidence", "p(current token)", "margin top1-top2", "entropy"};
    return names[m];
}

// The steps x positions grid of one trajectory. The primary one (A) moves the shared viewport
// to keep the cursor in view; B, in compare mode, shows the same steps and positions.
int tui_heat_zoom(const tui_app *app, int rows) {
    int n = dlm_trace_n_steps(app->a.trace);
    if (app->heat_zoom > 0) return app->heat_zoom;
    int z = rows > 0 ? (n + rows - 1) / rows : 1; // fit: every step on screen
    return z > 0 ? z : 1;
}

bool tui_heat_group(const tui_app *app, tui_timeline *t, int rows, int g, int *s0, int *s1) {
    int n = dlm_trace_n_steps(t->trace);
    if (g < 0) return false;
    if (app->heat_zoom < 0) { // one row per block (read from the index: the player must not move)
        int i = 0;
        while (i < n && dlm_trace_info(t->trace, i)->block != g) i++;
        if (i >= n) return false;
        *s0 = i;
        while (i < n && dlm_trace_info(t->trace, i)->block == g) i++;
        *s1 = i;
        return true;
    }
    int z = tui_heat_zoom(app, rows);
    *s0 = g * z, *s1 = *s0 + z < n ? *s0 + z : n;
    return *s0 < n;
}

// The row group of a step.
static int heat_group_of(const tui_app *app, tui_timeline *t, int rows, int step) {
    if (step < 0) return 0;
    if (app->heat_zoom < 0) {
        int g = 0, s0, s1;
        while (tui_heat_group(app, t, rows, g, &s0, &s1) && s1 <= step) g++;
        return g;
    }
    return step / tui_heat_zoom(app, rows);
}

static int heat_n_groups(const tui_app *app, tui_timeline *t, int rows) {
    int n = dlm_trace_n_steps(t->trace);
    if (app->heat_zoom < 0) return n ? heat_group_of(app, t, rows, n - 1) + 1 : 0;
    int z = tui_heat_zoom(app, rows);
    return (n + z - 1) / z;
}

static void draw_heat(tui_app *app, tui_rect r, tui_timeline *t, bool primary) {
    if (!r.h || !r.w) return;
    const dlm_trace_header *h = dlm_trace_header_of(t->trace);
    int P = h->prompt_len, G = h->n_tokens - P, cur = dlm_player_index(t->player);
    const int margin = 6, cols = r.w - margin, rows = r.h - 2; // title and ruler lines
    if (cols < 1 || rows < 1) return;
    // Rows are groups of z steps (z = 1: every step); a group shows its last step, with the
    // remasks, edits and stuck flags of all its steps.
    int z = tui_heat_zoom(app, rows), gcur = heat_group_of(app, t, rows, cur), n_groups = heat_n_groups(app, t, rows);
    int sp = app->sel - P;
    if (primary) {
        if (sp < app->heat_left) app->heat_left = sp;
        if (sp >= app->heat_left + cols) app->heat_left = sp - cols + 1;
        if (app->heat_left > G - cols) app->heat_left = G - cols;
        if (app->heat_left < 0) app->heat_left = 0;
        if (gcur < app->heat_top) app->heat_top = gcur;
        if (gcur >= app->heat_top + rows) app->heat_top = gcur - rows + 1;
        if (app->heat_top > n_groups - rows) app->heat_top = n_groups - rows;
        if (app->heat_top < 0) app->heat_top = 0;
    }
    char buf[256], zs[32];
    if (app->heat_zoom < 0) snprintf(zs, sizeof zs, "blocks");
    else if (z == 1) snprintf(zs, sizeof zs, "steps");
    else snprintf(zs, sizeof zs, "%d steps/row", z);
    snprintf(buf, sizeof buf, " %sheat: %s  %s %s  [m]etric [z]oom%s", app->compare ? (primary ? "A " : "B ") : "",
             metric_name(app->metric), zs, glyph(app, "↓", "down"), app->focus == FOCUS_HEAT ? " [focused]" : "");
    int x = put(r.y, r.x, r.w, role(TUI_ROLE_TITLE), buf);
    // Without colour the levels are glyphs; the legend after the title uses the cells' ramp.
    static const char *const ramp_ascii[8] = {" ", ".", ":", "-", "=", "+", "*", "#"};
    static const char *const ramp_utf8[8] = {" ", "·", "░", "░", "▒", "▒", "▓", "█"};
    if (x + 2 + TUI_HEAT_LEVELS + 6 < r.w) {
        x += put(r.y, r.x + x, r.w - x, role(TUI_ROLE_DIM), "  low");
        for (int l = 0; l < TUI_HEAT_LEVELS; l++) {
            if (tui_theme_depth() == TUI_COLOR_NONE)
                put(r.y, r.x + x + l, 1, A_NORMAL, app->utf8 ? ramp_utf8[l] : ramp_ascii[l]);
            else
                fill(r.y, r.x + x + l, 1, role((tui_role)(TUI_ROLE_HEAT0 + l)));
        }
        put(r.y, r.x + x + TUI_HEAT_LEVELS, r.w - x - TUI_HEAT_LEVELS, role(TUI_ROLE_DIM), "high");
    }
    // Position ruler: the generated-position index every 10 columns, the cursor's column marked.
    fill(r.y + 1, r.x, r.w, role(TUI_ROLE_DIM));
    put(r.y + 1, r.x, margin, role(TUI_ROLE_DIM), "  pos");
    for (int cc = 0; cc < cols && app->heat_left + cc < G; cc++) {
        int i = app->heat_left + cc;
        if (i == sp) put(r.y + 1, r.x + margin + cc, 1, role(TUI_ROLE_CURSOR), glyph(app, "▼", "v"));
        else if (i % 10 == 0) {
            snprintf(buf, sizeof buf, "%d", i);
            if (cc + (int)strlen(buf) <= cols && !(sp > i && sp < i + (int)strlen(buf))) put(r.y + 1, r.x + margin + cc, (int)strlen(buf), role(TUI_ROLE_DIM), buf);
        } else if (i % 5 == 0) put(r.y + 1, r.x + margin + cc, 1, role(TUI_ROLE_DIM), glyph(app, "·", "."));
    }
    int cell = app->metric == METRIC_CONF ? CELL_CONF : app->metric == METRIC_PCUR ? CELL_PCUR
               : app->metric == METRIC_MARGIN ? CELL_MARGIN : CELL_ENTROPY;
    bool mono = tui_theme_depth() == TUI_COLOR_NONE;
    uint8_t *ev = dlm_xmalloc((size_t)(G > 0 ? G : 1) * 2);
    for (int rr = 0; rr < rows; rr++) {
        int g = app->heat_top + rr, s0, s1;
        int y = r.y + 2 + rr;
        if (!tui_heat_group(app, t, rows, g, &s0, &s1)) break;
        int s = s1 - 1;
        bool here = cur >= s0 && cur < s1;
        if (here) s = cur; // the cursor's group shows the current step
        snprintf(buf, sizeof buf, "%s%4d", here ? glyph(app, "▶", ">") : " ", s0);
        put(y, r.x, margin, role(here ? TUI_ROLE_TITLE : TUI_ROLE_DIM), buf);
        const uint8_t *row = tui_timeline_row(t, s);
        if (!row) continue;
        // events and stuck flags of every step in the group
        memset(ev, 0, (size_t)(G > 0 ? G : 1) * 2);
        for (int ss = s0; ss < s1; ss++) {
            const uint8_t *rw = tui_timeline_row(t, ss);
            for (int i = 0; rw && i < G; i++) ev[2 * i] |= rw[(size_t)i * CELL_BYTES + CELL_EVENTS], ev[2 * i + 1] |= rw[(size_t)i * CELL_BYTES + CELL_FLAGS];
        }
        for (int cc = 0; cc < cols && app->heat_left + cc < G; cc++) {
            int i = app->heat_left + cc;
            const uint8_t *c = row + (size_t)i * CELL_BYTES;
            int level = c[cell] * TUI_HEAT_LEVELS / 256;
            const char *gl = mono ? (app->utf8 ? ramp_utf8[level] : ramp_ascii[level]) : " ";
            int a = mono ? (int)A_NORMAL : role((tui_role)(TUI_ROLE_HEAT0 + level));
            if (!(c[CELL_FLAGS] & 1)) gl = " ", a = mono ? (int)A_NORMAL : role(TUI_ROLE_NORMAL); // no distribution
            if (ev[2 * i] & DLM_EVENT_REMASK) gl = "x";
            else if (ev[2 * i] & DLM_EVENT_EDIT) gl = "e";
            else if (ev[2 * i + 1] & 2) gl = "!";
            if (here && i == sp) a |= A_REVERSE, gl = mono ? "@" : gl[0] == ' ' ? "+" : gl;
            put(y, r.x + margin + cc, 1, a, gl);
        }
    }
    free(ev);
}

// ---- candidates grid -----------------------------------------------------------------------------------

// Rows the candidates grid wants for a step: a ruler, the top-K, the EOS row, the soft-input row
// (EvoToken traces).
static bool cand_soft(const tui_app *app, const dlm_step *st) {
    if (dlm_rule_has_soft_states(dlm_trace_header_of(app->a.trace)->rule.kind)) return true;
    for (int i = st ? st->prompt_len : 0; st && i < st->n_tokens; i++)
        if (st->pos[i].n_soft) return true;
    return false;
}

int tui_cand_rows(const tui_app *app) {
    const dlm_step *st = dlm_player_step(app->a.player);
    int k = 0;
    for (int i = st ? st->prompt_len : 0; st && i < st->n_tokens; i++)
        if (st->pos[i].n_top > k) k = st->pos[i].n_top;
    if (!k) k = dlm_trace_header_of(app->a.trace)->rule.top_k > 0 ? dlm_trace_header_of(app->a.trace)->rule.top_k : 5;
    return 1 + k + 1 + cand_soft(app, st);
}

static int heat_level(float p) {
    int l = (int)(p * TUI_HEAT_LEVELS);
    return l < 0 ? 0 : l >= TUI_HEAT_LEVELS ? TUI_HEAT_LEVELS - 1 : l;
}

// Every position's top-K candidates, stacked in rows, on a background given by their probability;
// the token the position holds is underlined (and marked * without colour); under them the
// probability of end-of-text and, for EvoToken, the weight of [MASK] in the soft input fed this
// step. One column per position, a window that follows the shared cursor.
static void draw_candidates(tui_app *app, tui_rect r) {
    if (!r.h || !r.w) return;
    tui_timeline *t = &app->a;
    const dlm_step *st = dlm_player_step(t->player);
    const dlm_trace_header *h = dlm_trace_header_of(t->trace);
    const int margin = 6, cw = 9;
    int ncols = (r.w - margin) / cw;
    if (ncols < 1 || !st) return;
    int P = h->prompt_len, G = h->n_tokens - P, sp = app->sel - P;
    int left = sp - ncols / 2;
    if (left > G - ncols) left = G - ncols;
    if (left < 0) left = 0;
    bool mono = tui_theme_depth() == TUI_COLOR_NONE;
    bool soft_row = cand_soft(app, st);
    int K = r.h - 2 - (soft_row ? 1 : 0); // rows left for candidates
    if (K < 1) K = 1;
    char buf[64];
    // ruler: generated-position index of each column
    put(r.y, r.x, margin, role(TUI_ROLE_TITLE), " cand");
    for (int c = 0; c < ncols && left + c < G; c++) {
        int i = P + left + c;
        snprintf(buf, sizeof buf, "%-*d", cw, left + c);
        put(r.y, r.x + margin + c * cw, cw, role(i == app->sel ? TUI_ROLE_CURSOR : TUI_ROLE_DIM), buf);
    }
    for (int k = 0; k < K && 1 + k < r.h; k++) {
        snprintf(buf, sizeof buf, "  #%d", k + 1);
        put(r.y + 1 + k, r.x, margin, role(TUI_ROLE_DIM), buf);
    }
    int y_eos = r.y + 1 + K, y_soft = y_eos + 1;
    if (y_eos < r.y + r.h) put(y_eos, r.x, margin, role(TUI_ROLE_DIM), "  eos");
    if (soft_row && y_soft < r.y + r.h) put(y_soft, r.x, margin, role(TUI_ROLE_DIM), "  msk");
    for (int c = 0; c < ncols && left + c < G; c++) {
        int i = P + left + c, x = r.x + margin + c * cw;
        const dlm_pos_info *p = &st->pos[i];
        for (int k = 0; k < K && k < p->n_top && p->has_dist; k++) {
            tui_token_text tt;
            if (tui_is_mask_id(t, p->top_id[k])) snprintf(tt.text, sizeof tt.text, "[MASK]");
            else if (tui_is_eos_id(t, p->top_id[k])) snprintf(tt.text, sizeof tt.text, "%s", glyph(app, "∎eos", "$eos"));
            else tui_token_display(app, t->trace, p->top_id[k], &tt);
            bool held = p->top_id[k] == p->token && p->state != DLM_POS_MASK && p->state != DLM_POS_SOFT_MASK;
            char cell[64], text[48];
            tui_text_clip(tt.text, cw - 2, text, sizeof text);
            snprintf(cell, sizeof cell, "%s%s", text, held && mono ? "*" : "");
            int pad = cw - 1 - tui_text_width(cell);
            snprintf(cell + strlen(cell), sizeof cell - strlen(cell), "%*s", pad > 0 ? pad : 0, "");
            int a = mono ? (int)(p->top_p[k] >= 0.5f ? A_BOLD : p->top_p[k] < 0.1f ? A_DIM : A_NORMAL)
                         : role((tui_role)(TUI_ROLE_HEAT0 + heat_level(p->top_p[k])));
            if (held) a |= A_UNDERLINE;
            if (i == app->sel) a |= A_REVERSE;
            put(r.y + 1 + k, x, cw - 1, a, cell);
        }
        if (!p->has_dist && 1 < r.h) put(r.y + 1, x, cw - 1, role(TUI_ROLE_DIM), "(none)");
        if (y_eos < r.y + r.h && p->has_dist) {
            // p(EOS): exact when it is among the top-K, else below the K-th probability
            float pe = -1;
            for (int k = 0; k < p->n_top; k++)
                if (tui_is_eos_id(t, p->top_id[k])) pe = p->top_p[k];
            if (pe >= 0) snprintf(buf, sizeof buf, "%.3f", pe);
            else snprintf(buf, sizeof buf, "<%.3f", p->n_top ? p->top_p[p->n_top - 1] : 1.0);
            put(y_eos, x, cw - 1, pe >= 0 && !mono ? role((tui_role)(TUI_ROLE_HEAT0 + heat_level(pe))) : role(TUI_ROLE_DIM), buf);
        }
        if (soft_row && y_soft < r.y + r.h && p->n_soft) {
            float wm = 0;
            for (int k = 0; k < p->n_soft; k++)
                if (tui_is_mask_id(t, p->soft_id[k])) wm += p->soft_w[k];
            snprintf(buf, sizeof buf, "%.3f", wm);
            put(y_soft, x, cw - 1, role(TUI_ROLE_SOFT), buf);
        }
    }
}

// ---- inspector ----------------------------------------------------------------------------------------

static void bar_text(const tui_app *app, float p, int width, char *buf, size_t n) {
    static const char *const eighths[9] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"};
    int units = (int)lrintf(p * width * 8);
    buf[0] = 0;
    for (int i = 0; i < units / 8 && strlen(buf) + 4 < n; i++) strcat(buf, app->utf8 ? "█" : "#");
    if (units % 8 && app->utf8) strcat(buf, eighths[units % 8]);
}

static void draw_inspector(tui_app *app, tui_rect r) {
    if (!r.h || !r.w) return;
    tui_timeline *t = &app->a;
    const dlm_step *st = dlm_player_step(t->player);
    const dlm_trace_header *h = dlm_trace_header_of(t->trace);
    int x = r.x + 1, w = r.w - 1, y = r.y;
    for (int yy = r.y; yy < r.y + r.h; yy++) put(yy, r.x, 1, role(TUI_ROLE_BORDER), glyph(app, "│", "|"));
    if (!st) return;
    int i = app->sel;
    const dlm_pos_info *p = &st->pos[i];
    char buf[512];
    tui_token_text tt, t2;
    snprintf(buf, sizeof buf, "position %d (gen %d)%s%s", i, i - h->prompt_len,
             i >= st->block_start && i < st->block_end ? "  active block" : "",
             prediction_cached(app, st, i) ? "  cached: as at block start" : "");
    put(y++, x, w, role(TUI_ROLE_TITLE), buf);
    if (tui_is_mask_id(t, p->token)) snprintf(tt.text, sizeof tt.text, "[MASK]");
    else tui_token_display(app, t->trace, p->token, &tt);
    snprintf(buf, sizeof buf, "%s  '%s'  #%d", dlm_pos_state_name(p->state), tt.text, p->token);
    put(y++, x, w, role(TUI_ROLE_NORMAL), buf);
    if (p->events) {
        buf[0] = 0;
        for (int b = 0; b < 5; b++)
            if (p->events & (1 << b)) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? ", " : "", dlm_event_name(b));
        if (p->prev_token != p->token) {
            if (tui_is_mask_id(t, p->prev_token)) snprintf(t2.text, sizeof t2.text, "[MASK]");
            else tui_token_display(app, t->trace, p->prev_token, &t2);
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ": was '%s'", t2.text);
        }
        put(y++, x, w, role(p->events & DLM_EVENT_REMASK ? TUI_ROLE_REMASK : p->events & DLM_EVENT_EDIT ? TUI_ROLE_EDIT : TUI_ROLE_COMMIT), buf);
    }
    // Every number below comes from one forward pass: this step's, or under a KV cache possibly
    // the block's first one. It saw the token the position held before this step's decision
    // (prev_token), so p(held) is about that token, not about one committed by this step.
    bool held_mask = tui_is_mask_id(t, p->prev_token);
    const char *fwd = prediction_cached(app, st, i) ? "block start's forward (cached)" : "this step's forward";
    if (p->has_dist && y < r.y + r.h) {
        tui_token_display(app, t->trace, p->sampled, &t2);
        if (held_mask) snprintf(buf, sizeof buf, "%s saw [MASK]", fwd);
        else {
            tui_token_text th;
            tui_token_display(app, t->trace, p->prev_token, &th);
            snprintf(buf, sizeof buf, "%s saw '%s': p %.3f", fwd, th.text, p->p_current);
        }
        put(y++, x, w, role(TUI_ROLE_DIM), buf);
        if (y < r.y + r.h) {
            bool committed = p->events & (DLM_EVENT_COMMIT | DLM_EVENT_EDIT);
            snprintf(buf, sizeof buf, "%s '%s' p %.3f  H %.2f", committed && p->sampled == p->token ? "chose" : "candidate",
                     t2.text, p->p_sampled, p->entropy);
            put(y++, x, w, role(TUI_ROLE_NORMAL), buf);
        }
        // Mixture-of-experts models: the experts this forward fired for the position, per MoE
        // layer, best first, on one line (clipped; `trace dump --step N` lists every layer).
        const int per = st->experts_per_layer;
        const int16_t *ex = st->n_moe_layers > 0 ? st->experts + (size_t)i * st->n_moe_layers * per : NULL;
        if (ex && ex[0] >= 0 && y < r.y + r.h) {
            int len = snprintf(buf, sizeof buf, "experts");
            for (int j = 0; j < st->n_moe_layers && len < (int)sizeof buf - 16; j++) {
                len += snprintf(buf + len, sizeof buf - len, " L%d:", st->first_moe_layer + j);
                for (int e = 0; e < per && len < (int)sizeof buf - 8; e++)
                    len += snprintf(buf + len, sizeof buf - len, "%s%d", e ? "," : "", ex[j * per + e]);
            }
            put(y++, x, w, role(TUI_ROLE_DIM), buf);
        }
        put(y++, x, w, role(TUI_ROLE_DIM), "top candidates:");
        for (int k = 0; k < p->n_top && y < r.y + r.h; k++) {
            if (tui_is_mask_id(t, p->top_id[k])) snprintf(t2.text, sizeof t2.text, "[MASK]");
            else tui_token_display(app, t->trace, p->top_id[k], &t2);
            char name[40], bar[256];
            tui_text_clip(t2.text, 12, name, sizeof name);
            int pad = 12 - tui_text_width(name);
            int bw = w - 22 > 4 ? w - 22 : 4;
            bar_text(app, p->top_p[k], bw, bar, sizeof bar);
            snprintf(buf, sizeof buf, " %s%*s %5.3f ", name, pad, "", p->top_p[k]);
            int used = put(y, x, w, role(p->top_id[k] == p->token ? TUI_ROLE_TITLE : TUI_ROLE_NORMAL), buf);
            put(y++, x + used, w - used, role(TUI_ROLE_BAR), bar);
        }
    }
    if (p->n_soft && y < r.y + r.h) {
        put(y++, x, w, role(TUI_ROLE_SOFT), "soft input fed this step:");
        for (int k = 0; k < p->n_soft && y < r.y + r.h; k++) {
            if (p->soft_w[k] == 0) continue;
            if (tui_is_mask_id(t, p->soft_id[k])) snprintf(t2.text, sizeof t2.text, "[MASK]");
            else tui_token_display(app, t->trace, p->soft_id[k], &t2);
            snprintf(buf, sizeof buf, "  %-12s %5.3f", t2.text, p->soft_w[k]);
            put(y++, x, w, role(TUI_ROLE_SOFT), buf);
        }
        if (y < r.y + r.h) {
            snprintf(buf, sizeof buf, "historical best %.3f", p->hist_conf);
            put(y++, x, w, role(TUI_ROLE_NORMAL), buf);
        }
    }
    if (p->remask_count && y < r.y + r.h) {
        snprintf(buf, sizeof buf, "remasked %d time%s in this block", p->remask_count, p->remask_count == 1 ? "" : "s");
        put(y++, x, w, role(TUI_ROLE_REMASK), buf);
    }
    if (p->intervened && y < r.y + r.h) { // what a person did here
        buf[0] = 0;
        for (int k = 0; k < st->n_interventions; k++) {
            const dlm_intervention *iv = &st->interventions[k];
            if (i < iv->pos || i >= iv->end) continue;
            char one[64];
            dlm_intervention_format(iv, one, sizeof one);
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? ", " : "by hand: ", one);
        }
        put(y++, x, w, role(TUI_ROLE_INTERVENED), buf);
    }
    if (p->pinned && y < r.y + r.h) put(y++, x, w, role(TUI_ROLE_PINNED), "pinned: no rule may change it");
    // Sparkline: p(current) of this position over every step so far.
    int cur = dlm_player_index(t->player);
    if (y + 1 < r.y + r.h && i >= h->prompt_len) {
        put(y++, x, w, role(TUI_ROLE_DIM), "p(token) over steps:");
        static const char *const levels_u[8] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
        static const char *const levels_a[8] = {"_", ".", "-", "-", "=", "+", "*", "#"};
        int sw = w - 1, n = cur + 1;
        for (int c = 0; c < sw && c < n; c++) {
            // One sample per column, the last step it covers: reading every step of a long
            // trace per frame would cost O(steps) timeline rows.
            int s = n <= sw ? c : (int)((long)(c + 1) * n / sw) - 1;
            const uint8_t *row = tui_timeline_row(t, s);
            int v = 0;
            bool masked = true;
            if (row) {
                const uint8_t *cc = row + (size_t)(i - h->prompt_len) * CELL_BYTES;
                masked = cc[CELL_STATE] == DLM_POS_MASK || cc[CELL_STATE] == DLM_POS_SOFT_MASK;
                v = cc[CELL_PCUR];
            }
            const char *g = masked ? " " : (app->utf8 ? levels_u : levels_a)[v * 8 / 256];
            put(y, x + c, 1, role(TUI_ROLE_SPARK), g);
        }
        y++;
    }
    // Stuck verdict with the numbers behind it: a test of the token the forward saw, so it does not
    // apply to a position that held [MASK] (one this step just committed, say).
    if (y < r.y + r.h && p->has_dist && i >= h->prompt_len) {
        double eps = 0.05, tau = 0.5;
        if (app->view.rule_ok) eps = app->view.rule.stuck_eps, tau = dlm_rule_stuck_tau(&app->view.rule);
        float maxp = p->n_top ? p->top_p[0] : 0;
        int a = role(p->stuck ? TUI_ROLE_STUCK : TUI_ROLE_DIM);
        // The engine's test (session.c): committed before this step, in the active block, p(held)
        // < eps and no token >= tau. Say which part decides, so the verdict never contradicts it.
        if (held_mask) {
            put_words(app, y++, x, w, a, "stuck test: n/a (the forward saw [MASK])");
        } else if (i < st->block_start || i >= st->block_end) {
            put_words(app, y++, x, w, a, "stuck test: n/a (outside the active block)");
        } else {
            // One fact per line, so a narrow inspector does not cut the numbers off.
            snprintf(buf, sizeof buf, "%s p(held)=%.3f %s %.2f", p->stuck ? "STUCK:" : "not stuck:", p->p_current,
                     p->p_current < eps ? "<" : ">=", eps);
            put(y++, x, w, a, buf);
            if (y < r.y + r.h) {
                snprintf(buf, sizeof buf, "  max p=%.3f %s %.2f", maxp, maxp < tau ? "<" : ">=", tau);
                put(y++, x, w, a, buf);
            }
            if (p->stuck && y < r.y + r.h) put(y++, x, w, a, "  T2T cannot edit, LowProb remasks");
        }
    }
}

// ---- timeline and key bar ------------------------------------------------------------------------------

static void draw_timeline(tui_app *app) {
    tui_rect r = app->L.timeline;
    tui_timeline *t = &app->a;
    int n = dlm_trace_n_steps(t->trace), cur = dlm_player_index(t->player);
    if (!r.w) return;
    fill(r.y, r.x, r.w, role(TUI_ROLE_NORMAL));
    if (n == 0) return;
    int w = r.w;
    for (int c = 0; c < w; c++) {
        int s0 = n <= w ? c : (int)((long)c * n / w), s1 = n <= w ? c + 1 : (int)((long)(c + 1) * n / w);
        if (s0 >= n) break;
        const char *g = glyph(app, "·", ".");
        int a = role(TUI_ROLE_DIM);
        bool here = false;
        for (int s = s0; s < s1 && s < n; s++) {
            const dlm_trace_step_info *in = dlm_trace_info(t->trace, s);
            here |= s == cur;
            if (in->n_interventions) g = glyph(app, "✎", "u"), a = role(TUI_ROLE_INTERVENED); // done by hand first
            else if (a == role(TUI_ROLE_INTERVENED)) continue;
            else if (in->n_stuck) g = "!", a = role(TUI_ROLE_STUCK);
            else if (in->n_remasks && a != role(TUI_ROLE_STUCK)) g = "x", a = role(TUI_ROLE_REMASK);
            else if (in->n_edits && a == role(TUI_ROLE_DIM)) g = "e", a = role(TUI_ROLE_EDIT);
            else if (in->step_in_block == 0 && a == role(TUI_ROLE_DIM)) g = "|", a = role(TUI_ROLE_BORDER);
        }
        if (here) a = role(TUI_ROLE_CURSOR);
        put(r.y, r.x + c, 1, a, g);
    }
}

static void draw_keybar(tui_app *app) {
    tui_rect r = app->L.keybar;
    fill(r.y, r.x, r.w, role(TUI_ROLE_KEYBAR));
    if (app->input != INPUT_NONE) {
        char force[160];
        if (app->input == INPUT_FORCE) { // which candidate the line shows (the inspector lists them)
            const dlm_step *st = dlm_player_step(app->a.player);
            bool shown = st && app->force_cand >= 0 && strcmp(app->input_buf, app->force_line) == 0;
            if (shown)
                snprintf(force, sizeof force, "force %d, candidate %d p %.3f (%s Tab: others; type any token; Enter forks): ",
                         app->force_pos, app->force_cand + 1, st->pos[app->force_pos].top_p[app->force_cand], glyph(app, "↑↓", "Up/Down"));
            else snprintf(force, sizeof force, "force %d, token (text or #ID; Enter forks): ", app->force_pos);
        }
        const char *label = app->input == INPUT_SEARCH ? "search: " : app->input == INPUT_GOTO ? "go to step: "
                          : app->input == INPUT_FORCE ? force : "prompt: ";
        int x = put(r.y, r.x, r.w, role(TUI_ROLE_KEYBAR_KEY), label);
        // The text with the cursor shown as a reversed cell; a long text scrolls to keep it in view.
        char before[256], at[8] = " ";
        size_t pos = app->input_pos <= strlen(app->input_buf) ? app->input_pos : strlen(app->input_buf);
        snprintf(before, sizeof before, "%.*s", (int)pos, app->input_buf);
        const char *rest = app->input_buf + pos;
        if (*rest) {
            size_t k = 1;
            while (((unsigned char)rest[k] & 0xc0) == 0x80) k++;
            snprintf(at, sizeof at, "%.*s", (int)k, rest);
            rest += k;
        }
        int room = r.w - x - 1;
        const char *shown = before;
        while (*shown && tui_text_width(shown) > room - 1) shown++;
        while (((unsigned char)*shown & 0xc0) == 0x80) shown++;
        x += put(r.y, r.x + x, r.w - x, role(TUI_ROLE_KEYBAR), shown);
        x += put(r.y, r.x + x, r.w - x, role(TUI_ROLE_KEYBAR) | A_REVERSE, at);
        put(r.y, r.x + x, r.w - x, role(TUI_ROLE_KEYBAR), rest);
        return;
    }
    if (app->message[0] && dlm_now() < app->message_until) {
        put_words(app, r.y, r.x, r.w, role(app->message_error ? TUI_ROLE_ERROR : TUI_ROLE_INFO), app->message);
        return;
    }
    if (app->demo && app->caption[0]) {
        put_words(app, r.y, r.x, r.w, role(TUI_ROLE_KEYBAR_KEY), app->caption);
        return;
    }
    static const struct {
        tui_action a;
        const char *label;
    } hints[] = {{TUI_ACTION_QUIT, "quit"},       {TUI_ACTION_HELP, "help"},          {TUI_ACTION_PLAY, "play"},
                 {TUI_ACTION_STEP_FWD, "step"},   {TUI_ACTION_STEP_BACK, "back"},     {TUI_ACTION_NEXT_BLOCK, "block"},
                 {TUI_ACTION_NEXT_EVENT, "event"}, {TUI_ACTION_NEXT_STUCK, "stuck"},  {TUI_ACTION_TOGGLE_T2X, "T2T/T2M"},
                 {TUI_ACTION_TOGGLE_EVO, "evo"},  {TUI_ACTION_PARAMS, "params"},      {TUI_ACTION_COMPARE, "compare"},
                 {TUI_ACTION_SEARCH, "search"},   {TUI_ACTION_METRIC, "metric"}};
    int x = r.x;
    for (size_t k = 0; k < sizeof hints / sizeof hints[0] && x < r.x + r.w; k++) {
        char keys[64];
        tui_keymap_keys_for(&app->keys, hints[k].a, keys, sizeof keys);
        char *comma = strchr(keys, ',');
        if (comma) *comma = 0; // the first key is enough here
        if (!keys[0]) continue;
        x += put(r.y, x, r.x + r.w - x, role(TUI_ROLE_KEYBAR_KEY), keys);
        char lab[40];
        snprintf(lab, sizeof lab, " %s  ", hints[k].label);
        x += put(r.y, x, r.x + r.w - x, role(TUI_ROLE_KEYBAR), lab);
    }
}

// ---- overlays ------------------------------------------------------------------------------------------------

static void draw_box(const tui_app *app, int y, int x, int h, int w, const char *title) {
    int a = role(TUI_ROLE_BORDER);
    for (int yy = y; yy < y + h; yy++) fill(yy, x, w, role(TUI_ROLE_NORMAL));
    const char *hz = glyph(app, "─", "-"), *vt = glyph(app, "│", "|");
    for (int xx = x + 1; xx < x + w - 1; xx++) put(y, xx, 1, a, hz), put(y + h - 1, xx, 1, a, hz);
    for (int yy = y + 1; yy < y + h - 1; yy++) put(yy, x, 1, a, vt), put(yy, x + w - 1, 1, a, vt);
    put(y, x, 1, a, glyph(app, "┌", "+"));
    put(y, x + w - 1, 1, a, glyph(app, "┐", "+"));
    put(y + h - 1, x, 1, a, glyph(app, "└", "+"));
    put(y + h - 1, x + w - 1, 1, a, glyph(app, "┘", "+"));
    put(y, x + 2, w - 4, role(TUI_ROLE_TITLE), title);
}

static void draw_help(tui_app *app) {
    int w = app->cols - 4 < 84 ? app->cols - 4 : 84, h = app->rows - 2;
    int x = (app->cols - w) / 2, y = 1;
    draw_box(app, y, x, h, w, " dlmscope keys (Esc or ? closes, arrows scroll) ");
    // The footer is the only place the mouse is explained: wrapped, never cut.
    char foot[3][256];
    int n_foot = tui_text_wrap("Mouse: click a token or a heat cell to select it, wheel steps. Shift-drag selects text. "
                               "Bindings: ~/.config/dlmscope/config (bind KEY ACTION, theme NAME).",
                               w - 4, foot, 3);
    int list_h = h - 3 - n_foot;
    int line = 0, first = app->help_scroll;
    for (int a = 0; a < TUI_ACTION_COUNT; a++) {
        char keys[96], buf[256];
        tui_keymap_keys_for(&app->keys, a, keys, sizeof keys);
        if (!keys[0]) continue;
        if (line >= first && line - first < list_h) {
            snprintf(buf, sizeof buf, "%-22s %s", keys, tui_action_help(a));
            put_words(app, y + 1 + line - first, x + 2, w - 4, role(TUI_ROLE_NORMAL), buf);
        }
        line++;
    }
    if (app->help_scroll > line - list_h) app->help_scroll = line - list_h > 0 ? line - list_h : 0;
    for (int k = 0; k < n_foot; k++) put(y + h - 1 - n_foot + k, x + 2, w - 4, role(TUI_ROLE_DIM), foot[k]);
}

static void draw_params(tui_app *app) {
    const dlm_rule_config *r = &app->param_rule;
    int n = 1;
    for (int p = 0; p < DLM_PARAM_COUNT; p++) n += dlm_param_applies(p, r->kind) && p != DLM_PARAM_gen && p != DLM_PARAM_block;
    const char *sel_help = NULL;
    int w = app->cols - 4 < 70 ? app->cols - 4 : 70, h = n + 6 < app->rows - 2 ? n + 6 : app->rows - 2;
    int x = (app->cols - w) / 2, y = (app->rows - h) / 2;
    draw_box(app, y, x, h, w, app->a.live ? " rule (left/right change, Enter forks here, Esc cancels) " : " rule (replay: read only) ");
    char buf[256], v[64];
    int row = 0;
    snprintf(buf, sizeof buf, "%-12s %s", "rule", dlm_rule_name(r->kind));
    put(y + 1, x + 2, w - 4, role(app->param_sel == 0 ? TUI_ROLE_CURSOR : TUI_ROLE_TITLE), buf);
    row = 1;
    for (int p = 0; p < DLM_PARAM_COUNT && row < h - 5; p++) {
        if (!dlm_param_applies(p, r->kind) || p == DLM_PARAM_gen || p == DLM_PARAM_block) continue;
        dlm_param_format(r, p, v, sizeof v);
        snprintf(buf, sizeof buf, "%-12s %-10s %s", dlm_param_name(p), v, dlm_param_help(p));
        put_words(app, y + 1 + row, x + 2, w - 4, role(app->param_sel == row ? TUI_ROLE_CURSOR : TUI_ROLE_NORMAL), buf);
        if (app->param_sel == row) sel_help = dlm_param_help(p);
        row++;
    }
    // The selected parameter's whole description, wrapped in the lines under the list.
    if (sel_help) {
        char lines[3][256];
        int nl = tui_text_wrap(sel_help, w - 4, lines, 3);
        for (int k = 0; k < nl && row + 1 + k < h - 1; k++) put(y + 1 + row + k, x + 2, w - 4, role(TUI_ROLE_INFO), lines[k]);
    }
}

// Panels asked for but without room say so (on the timeline line), instead of vanishing.
static void draw_hidden_note(tui_app *app) {
    unsigned hid = app->L.hidden;
    if (!hid || !app->L.timeline.w) return;
    char buf[160] = " no room for:";
    const char *names[] = {"inspector", "heat grid", "B canvas", "candidates"};
    for (int b = 0, n = 0; b < 4; b++)
        if (hid & (1u << b)) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s %s", n++ ? "," : "", names[b]);
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " ");
    tui_rect r = app->L.timeline;
    int w = tui_text_width(buf);
    if (w > r.w) w = r.w;
    put(r.y, r.x + r.w - w, w, role(TUI_ROLE_INFO), buf);
}

void tui_draw(tui_app *app) {
    erase();
    if (app->L.too_small) {
        char buf[128];
        snprintf(buf, sizeof buf, "terminal too small: %dx%d (dlmscope needs %dx%d)", app->cols, app->rows, TUI_MIN_COLS,
                 TUI_MIN_ROWS);
        if (tui_text_width(buf) > app->cols) snprintf(buf, sizeof buf, "too small"); // still say so
        if (tui_text_width(buf) > app->cols) snprintf(buf, sizeof buf, "%dx%d", app->cols, app->rows);
        put(app->rows / 2, 0, app->cols, role(TUI_ROLE_ERROR), buf);
        refresh();
        return;
    }
    draw_status(app);
    draw_canvas(app, app->L.canvas, &app->a, app->compare ? &app->b : NULL, true);
    if (app->compare && app->L.canvas_b.w) {
        for (int yy = app->L.canvas_b.y; yy < app->L.canvas_b.y + app->L.canvas_b.h; yy++)
            put(yy, app->L.canvas_b.x - 1, 1, role(TUI_ROLE_BORDER), glyph(app, "│", "|"));
        draw_canvas(app, app->L.canvas_b, &app->b, &app->a, false);
    }
    draw_inspector(app, app->L.inspector);
    draw_candidates(app, app->L.cand);
    draw_heat(app, app->L.heat, &app->a, true);
    if (app->compare && app->b.trace) draw_heat(app, app->L.heat_b, &app->b, false);
    draw_timeline(app);
    draw_hidden_note(app);
    draw_keybar(app);
    if (app->show_help) draw_help(app);
    if (app->show_params) draw_params(app);
    refresh();
}
