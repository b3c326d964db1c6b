// input.c — the one-line editor of the key bar (search, go to step, a new prompt): readline's
// keys, and what Enter does with the line.
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "engine/util.h"

// ---- input -----------------------------------------------------------------------------------------------

void tui_force_candidate(tui_app *app, int dir) {
    const dlm_step *st = dlm_player_step(app->a.player);
    if (!st || app->force_pos < 0 || app->force_pos >= st->n_tokens) return;
    const dlm_pos_info *p = &st->pos[app->force_pos];
    int n = p->n_top;
    if (n == 0) return;
    int c = app->force_cand;
    for (int k = 0; k < n; k++) { // skip the token it holds and the mask: forcing those changes nothing
        c = c < 0 ? (dir > 0 ? 0 : n - 1) : ((c + dir) % n + n) % n;
        if (p->top_id[c] != p->token && !tui_is_mask_id(&app->a, p->top_id[c])) break;
    }
    app->force_cand = c;
    tui_token_text tt;
    tui_token_display(app, app->a.trace, p->top_id[c], &tt);
    tui_input_set(app, tt.text);
    snprintf(app->force_line, sizeof app->force_line, "%s", app->input_buf);
}

// The token the force line names: the candidate shown (the line as it put it), #ID, or the text
// of one vocabulary token. -1 with a message otherwise.
static int32_t force_token(tui_app *app) {
    const dlm_step *st = dlm_player_step(app->a.player);
    const char *line = app->input_buf;
    long long id;
    if (st && app->force_cand >= 0 && strcmp(line, app->force_line) == 0) return st->pos[app->force_pos].top_id[app->force_cand];
    if (line[0] == '#' && dlm_parse_int(line + 1, 0, INT32_MAX, &id)) return (int32_t)id;
    int32_t t = app->opts.tok && line[0] ? dlm_tokenizer_lookup(app->opts.tok, line) : -1;
    if (t < 0) tui_message(app, true, "'%s' is not one token of the vocabulary (type #ID for any id)", line);
    return t;
}

static void commit_input(tui_app *app) {
    tui_input in = app->input;
    app->input = INPUT_NONE;
    if (in == INPUT_SEARCH) {
        snprintf(app->search, sizeof app->search, "%s", app->input_buf);
        if (app->search[0]) tui_search_move(app, 1);
    } else if (in == INPUT_GOTO) {
        long long s;
        if (dlm_parse_int(app->input_buf, 0, INT32_MAX, &s)) tui_app_seek(app, (int)s);
        else if (app->input_buf[0]) tui_message(app, true, "'%s' is not a step number", app->input_buf);
    } else if (in == INPUT_PROMPT && app->input_buf[0]) {
        tui_restart_with_prompt(app, app->input_buf);
    } else if (in == INPUT_FORCE) {
        int32_t tok = force_token(app);
        dlm_intervention iv = {.kind = DLM_IV_FORCE, .pos = app->force_pos, .end = app->force_pos + 1, .token = tok};
        if (tok >= 0) tui_intervene(app, &iv);
    }
}

void tui_input_set(tui_app *app, const char *text) {
    snprintf(app->input_buf, sizeof app->input_buf, "%s", text);
    app->input_pos = strlen(app->input_buf);
}

static bool utf8_cont(char c) { return ((unsigned char)c & 0xc0) == 0x80; }

// Delete input_buf[from, to) and leave the cursor at `from`.
static void input_delete(tui_app *app, size_t from, size_t to) {
    memmove(app->input_buf + from, app->input_buf + to, strlen(app->input_buf + to) + 1);
    app->input_pos = from;
}

static void input_insert(tui_app *app, const char *text) {
    size_t len = strlen(app->input_buf), n = strlen(text);
    if (len + n + 1 > sizeof app->input_buf) return;
    memmove(app->input_buf + app->input_pos + n, app->input_buf + app->input_pos, len - app->input_pos + 1);
    memcpy(app->input_buf + app->input_pos, text, n);
    app->input_pos += n;
}

// A line editor with the readline keys people expect: arrows, Home/End, C-a/C-e, C-u (to the
// start), C-k (to the end), C-w (the word before the cursor), Backspace, Delete.
void tui_input_key(tui_app *app, const TermKeyKey *k) {
    char *b = app->input_buf;
    size_t len = strlen(b), pos = app->input_pos > len ? len : app->input_pos;
    app->input_pos = pos;
    bool ctrl = k->modifiers & TERMKEY_KEYMOD_CTRL;
    int sym = k->type == TERMKEY_TYPE_KEYSYM ? k->code.sym : -1;
    int ch = k->type == TERMKEY_TYPE_UNICODE && ctrl ? (int)k->code.codepoint : 0;
    if (app->input == INPUT_FORCE && (sym == TERMKEY_SYM_UP || sym == TERMKEY_SYM_DOWN || sym == TERMKEY_SYM_TAB))
        tui_force_candidate(app, sym == TERMKEY_SYM_UP ? -1 : +1);
    else if (sym == TERMKEY_SYM_ENTER) commit_input(app);
    else if (sym == TERMKEY_SYM_ESCAPE || ch == 'g') app->input = INPUT_NONE;
    else if (sym == TERMKEY_SYM_LEFT || ch == 'b') {
        while (pos > 0 && utf8_cont(b[--pos])) {}
        app->input_pos = pos;
    } else if (sym == TERMKEY_SYM_RIGHT || ch == 'f') {
        if (pos < len) pos++;
        while (pos < len && utf8_cont(b[pos])) pos++;
        app->input_pos = pos;
    } else if (sym == TERMKEY_SYM_HOME || ch == 'a') app->input_pos = 0;
    else if (sym == TERMKEY_SYM_END || ch == 'e') app->input_pos = len;
    else if (ch == 'u') input_delete(app, 0, pos);
    else if (ch == 'k') b[pos] = 0;
    else if (ch == 'w') {
        size_t from = pos;
        while (from > 0 && b[from - 1] == ' ') from--;
        while (from > 0 && b[from - 1] != ' ') from--;
        input_delete(app, from, pos);
    } else if (sym == TERMKEY_SYM_BACKSPACE || ch == 'h') {
        size_t from = pos;
        while (from > 0 && utf8_cont(b[--from])) {} // a whole UTF-8 character
        input_delete(app, from, pos);
    } else if (sym == TERMKEY_SYM_DELETE || sym == TERMKEY_SYM_DEL || ch == 'd') {
        size_t to = pos < len ? pos + 1 : pos;
        while (to < len && utf8_cont(b[to])) to++;
        input_delete(app, pos, to);
    } else if (sym == TERMKEY_SYM_SPACE) {
        input_insert(app, " ");
    } else if (k->type == TERMKEY_TYPE_UNICODE && !(k->modifiers & (TERMKEY_KEYMOD_CTRL | TERMKEY_KEYMOD_ALT))) {
        input_insert(app, k->utf8);
    }
}

