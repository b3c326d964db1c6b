// test_tui_units.c — the pure parts of the visualizer: layout over many terminal sizes, theme
// files, key bindings and the config file, token text rendering.
#include <locale.h>
#include <termkey.h>

#include "testutil.h"
#include "tui/keys.h"
#include "tui/layout.h"
#include "tui/text.h"
#include "tui/theme.h"

static bool inside(tui_rect r, int rows, int cols) {
    return !r.w || (r.y >= 0 && r.x >= 0 && r.y + r.h <= rows && r.x + r.w <= cols);
}

static bool overlap(tui_rect a, tui_rect b) {
    if (!a.w || !b.w) return false;
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

static void test_layout_sweep(void **state) {
    int checked = 0;
    for (int opt = 0; opt < 32; opt++) {
        // canvas_lines: unknown, 3 lines of text (the grids get the rest), 200 (all it can get)
        tui_layout_opts o = {.inspector = opt & 1, .heat = opt & 2, .compare = opt & 4, .cand = opt & 8, .cand_rows = 8,
                             .canvas_lines = (opt & 16) ? 3 : (opt & 8) ? 200 : 0};
        for (int rows = 1; rows <= 90; rows++)
            for (int cols = 1; cols <= 260; cols += rows < 20 ? 1 : 3) {
                tui_layout L;
                tui_layout_compute(rows, cols, &o, &L);
                checked++;
                if (rows < TUI_MIN_ROWS || cols < TUI_MIN_COLS) {
                    if (!L.too_small) fail_msg("%dx%d should be too small", cols, rows);
                    continue;
                }
                assert_false(L.too_small);
                tui_rect all[] = {L.status, L.canvas, L.canvas_b, L.inspector, L.heat, L.heat_b, L.timeline, L.keybar, L.cand};
                for (size_t i = 0; i < 9; i++) {
                    if (!inside(all[i], rows, cols)) fail_msg("%dx%d opt %d: pane %zu is off-screen", cols, rows, opt, i);
                    for (size_t j = i + 1; j < 9; j++)
                        if (overlap(all[i], all[j])) fail_msg("%dx%d opt %d: panes %zu and %zu overlap", cols, rows, opt, i, j);
                }
                if (L.status.h != 1 || L.keybar.h != 1 || L.canvas.h < 3 || L.canvas.w < 20)
                    fail_msg("%dx%d opt %d: status, keybar and a usable canvas must be shown", cols, rows, opt);
                if (o.heat && rows >= 24 && !L.heat.h) fail_msg("%dx%d opt %d: heat grid hidden on a 24-row terminal", cols, rows, opt);
                if (o.inspector && cols >= 72 && !L.inspector.w) fail_msg("%dx%d: inspector hidden at 72 columns", cols, rows);
                if (o.compare && cols >= 100 && !L.canvas_b.w) fail_msg("%dx%d: compare canvas hidden", cols, rows);
                if (!o.compare && L.canvas_b.w) fail_msg("%dx%d: a second canvas without compare", cols, rows);
                // issue 13: compare panes wrap alike; B has its own heat grid; nothing vanishes silently
                if (L.canvas_b.w && L.canvas_b.w != L.canvas.w)
                    fail_msg("%dx%d: compare panes %d and %d columns wide", cols, rows, L.canvas.w, L.canvas_b.w);
                if (L.canvas_b.w && L.heat.w && L.heat_b.w != L.heat.w) fail_msg("%dx%d: B's heat grid missing", cols, rows);
                if (o.inspector && !L.inspector.w && !(L.hidden & TUI_PANE_INSPECTOR))
                    fail_msg("%dx%d: the inspector vanished without a word", cols, rows);
                if (o.heat && !L.heat.w && !(L.hidden & TUI_PANE_HEAT)) fail_msg("%dx%d: the heat grid vanished without a word", cols, rows);
                if (o.compare && !L.canvas_b.w && !(L.hidden & TUI_PANE_COMPARE)) fail_msg("%dx%d: B vanished without a word", cols, rows);
                if (o.inspector && cols >= 60 && rows >= 24 && !L.inspector.w) fail_msg("%dx%d: inspector hidden", cols, rows);
                if (o.cand && !L.cand.w && !(L.hidden & TUI_PANE_CAND)) fail_msg("%dx%d: the candidates grid vanished", cols, rows);
                if (o.cand && rows >= 24 && (cols >= 72 || !o.inspector) && !L.cand.w) fail_msg("%dx%d opt %d: no candidates grid at 24 rows", cols, rows, opt);
                // the screen goes to data: a short text leaves the rows to the grids
                if ((opt & 16) && o.heat && L.canvas.h > 4 && !L.inspector.h) fail_msg("%dx%d opt %d: canvas %d rows for 3 lines", cols, rows, opt, L.canvas.h);
                if ((opt & 16) && o.heat && rows >= 24 && L.heat.h < rows - 3 - 5 - (L.cand.h ? 8 : 0) - L.inspector.h)
                    fail_msg("%dx%d opt %d: heat grid %d rows, the rest is empty", cols, rows, opt, L.heat.h);
            }
    }
    assert_true(checked > 10000);
}

static void test_theme(void **state) {
    tui_theme t;
    assert_int_equal(tui_theme_parse("# c\nmask #5f5f87 default italic\nheat0 default 17\nerror bright-red default bold underline\n",
                                     "x", NULL, &t), DLM_STATUS_OK);
    assert_int_equal(t.style[TUI_ROLE_MASK].fg, 0x1000000 | 0x5f5f87);
    assert_int_equal(t.style[TUI_ROLE_MASK].attrs, TUI_ATTR_ITALIC);
    assert_int_equal(t.style[TUI_ROLE_HEAT0].bg, 17);
    assert_int_equal(t.style[TUI_ROLE_ERROR].fg, 9);
    assert_int_equal(t.style[TUI_ROLE_ERROR].attrs, TUI_ATTR_BOLD | TUI_ATTR_UNDERLINE);
    assert_int_equal(t.style[TUI_ROLE_NORMAL].fg, -1);
    assert_int_equal(tui_theme_parse("mask red\nbogus red\n", "bad.theme", NULL, &t), DLM_STATUS_FORMAT);
    assert_non_null(strstr(dlm_error_message(), "bad.theme line 2: unknown role 'bogus'"));
    assert_int_equal(tui_theme_parse("mask #12345g\n", "bad.theme", NULL, &t), DLM_STATUS_FORMAT);
    assert_non_null(strstr(dlm_error_message(), "line 1"));
    assert_int_equal(tui_theme_parse("mask red default sparkly\n", "bad.theme", NULL, &t), DLM_STATUS_FORMAT);
    assert_non_null(strstr(dlm_error_message(), "'sparkly' is neither a colour nor an attribute"));
    // Every built-in theme parses and sets every role.
    const char *names[] = {"dark", "light", "high-contrast", "mono"};
    for (int i = 0; i < 4; i++) assert_int_equal(tui_theme_load(names[i], &t), DLM_STATUS_OK);
    assert_int_equal(tui_theme_load("nope", &t), DLM_STATUS_ARG);
    assert_non_null(strstr(dlm_error_message(), "theme 'nope' not found"));
}

static void test_keys(void **state) {
    TermKey *tk = termkey_new_abstract("xterm", 0);
    assert_non_null(tk);
    tui_keymap km;
    tui_keymap_defaults(tk, &km);
    TermKeyKey k;
    termkey_strpkey(tk, "q", &k, 0);
    const tui_binding *b = tui_keymap_find(tk, &km, &k);
    assert_non_null(b);
    assert_int_equal(b->action, TUI_ACTION_QUIT);
    termkey_strpkey(tk, "7", &k, 0);
    b = tui_keymap_find(tk, &km, &k);
    assert_true(b && b->action == TUI_ACTION_JUMP && b->arg == 7);
    // Every action with a help line has a key, and every F-key has a letter alias.
    for (int a = 0; a < TUI_ACTION_COUNT; a++) {
        char keys[128];
        tui_keymap_keys_for(&km, a, keys, sizeof keys);
        if (!keys[0]) fail_msg("action %s has no key", tui_action_name(a));
        if (strstr(keys, "F") == keys && !strchr(keys, ',')) fail_msg("action %s has only an F-key", tui_action_name(a));
    }
    assert_int_equal(tui_keymap_config(tk, &km, "# mine\nbind z step-forward\nunbind q\ntheme light\n", "cfg"), DLM_STATUS_OK);
    termkey_strpkey(tk, "z", &k, 0);
    b = tui_keymap_find(tk, &km, &k);
    assert_true(b && b->action == TUI_ACTION_STEP_FWD);
    termkey_strpkey(tk, "q", &k, 0);
    assert_null(tui_keymap_find(tk, &km, &k));
    assert_string_equal(km.theme, "light");
    assert_int_equal(tui_keymap_config(tk, &km, "bind z fly\n", "cfg"), DLM_STATUS_FORMAT);
    assert_non_null(strstr(dlm_error_message(), "cfg line 1: unknown action 'fly'"));
    assert_int_equal(tui_keymap_config(tk, &km, "\nbind <<>> quit\n", "cfg"), DLM_STATUS_FORMAT);
    assert_non_null(strstr(dlm_error_message(), "cfg line 2: unknown key"));
    assert_int_equal(tui_keymap_config(tk, &km, "frobnicate\n", "cfg"), DLM_STATUS_FORMAT);
    termkey_destroy(tk);
}

static void test_token_text(void **state) {
    setlocale(LC_ALL, "C.UTF-8");
    tui_token_text t;
    tui_render_token("hello", 5, true, &t);
    assert_string_equal(t.text, "hello");
    assert_int_equal(t.width, 5);
    tui_render_token("\xe4\xb8\xad\xe6\x96\x87", 6, true, &t); // 中文: two wide characters
    assert_int_equal(t.width, 4);
    tui_render_token(".\n", 2, true, &t);
    assert_true(t.newline);
    assert_int_equal(t.width, 2);
    tui_render_token("\xe4\xb8", 2, true, &t); // half a character: visible escapes
    assert_string_equal(t.text, "\\xE4\\xB8");
    tui_render_token("\x01\t", 2, false, &t);
    assert_string_equal(t.text, "\\x01    ");
    tui_render_token("\xc3\xa9", 2, false, &t); // not a UTF-8 terminal
    assert_string_equal(t.text, "\\u00E9");
    tui_render_token("\xcc\x81", 2, true, &t); // a lone combining mark gets a base
    assert_int_equal(t.width, 1);
    char clip[64];
    tui_text_clip("ab\xe4\xb8\xad" "cd", 3, clip, sizeof clip); // the wide character does not fit in 1 column
    assert_string_equal(clip, "ab");
    assert_int_equal(tui_text_width("a\xe4\xb8\xad"), 3);
}

static void test_text_search(void **state) {
    // "smallest is 17" as the bundled model's tokenizer splits it: digits are separate tokens.
    const char *texts[] = {"The", " smallest", " is", " ", "1", "7", NULL, "1", "7"};
    size_t lens[9];
    for (int i = 0; i < 9; i++) lens[i] = texts[i] ? strlen(texts[i]) : 0;
    unsigned char starts[9], covered[9];
    assert_int_equal(tui_text_search(texts, lens, 9, "17", starts, covered), 2);
    assert_true(starts[4] && starts[7] && !starts[5]);
    assert_true(covered[4] && covered[5] && !covered[3] && !covered[6]);
    assert_int_equal(tui_text_search(texts, lens, 9, "smallest is 17", starts, covered), 1);
    assert_true(starts[1] && covered[5] && !covered[0]);
    assert_int_equal(tui_text_search(texts, lens, 9, "71", starts, NULL), 0); // a mask breaks a match
    assert_int_equal(tui_text_search(texts, lens, 9, "", starts, NULL), 0);
}

static void test_text_words(void **state) {
    setlocale(LC_ALL, "C.UTF-8");
    char out[256];
    tui_text_clip_words("forked after step 3: threshold:gen=32", 20, true, out, sizeof out);
    assert_string_equal(out, "forked after step…"); // at a word, not "forked after step 3: t"
    tui_text_clip_words("short", 20, true, out, sizeof out);
    assert_string_equal(out, "short");
    tui_text_clip_words("averyveryverylongword and", 10, false, out, sizeof out);
    assert_string_equal(out, "averyve..."); // one long word: cut it rather than show nothing
    char lines[3][256];
    int n = tui_text_wrap("Mouse: click a token. Shift-drag selects text.", 20, lines, 3);
    assert_int_equal(n, 3);
    assert_string_equal(lines[0], "Mouse: click a");
    assert_string_equal(lines[1], "token. Shift-drag");
    assert_string_equal(lines[2], "selects text.");
    n = tui_text_wrap("one two three four five six", 9, lines, 2);
    assert_int_equal(n, 2);
    assert_string_equal(lines[1], "three…");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_sweep),
        cmocka_unit_test(test_theme),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_token_text),
        cmocka_unit_test(test_text_search),
        cmocka_unit_test(test_text_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
