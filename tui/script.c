// script.c — script mode: the visualizer reads keys from a file instead of a terminal and writes
// its screens as text, so end-to-end tests compare golden screens instead of sleeping in tmux.
//
// A script has one command per line (`#` starts a comment line):
//   KEY ...            libtermkey key names, space separated: `. . t`, `C-u`, `Space`, `Enter`
//   type TEXT          each character of TEXT as a key (spaces too)
//   click COL ROW      a left mouse press at 0-based screen column COL, row ROW
//   size COLS ROWS     resize the screen
//   wait               until no live step is running or queued and autoplay has stopped
//   screen NAME        write the screen to DIR/NAME.txt (text, then the style of every cell)
//   export svg|html F  write the screen as it is now to the file F, with its colours
// Errors name the script line and end the run with status 2. The screen starts at 80x24 (or
// $COLUMNS x $LINES); colours follow $TERM and NO_COLOR like a real terminal. The bytes the
// terminal would have received go to DIR/terminal.out (to check escape sequences).
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "app.h"
#include "engine/util.h"

// ---- screen dump -------------------------------------------------------------------------------------

typedef struct {
    int fg, bg, attrs; // colours as curses has them (-1 default), attrs: A_BOLD... bits we show
} dump_style;

static const char style_letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

static void attrs_text(int a, char *buf, size_t n) {
    buf[0] = 0;
    static const struct {
        int bit;
        const char *name;
    } names[] = {{A_BOLD, "bold"}, {A_DIM, "dim"}, {A_UNDERLINE, "underline"}, {A_REVERSE, "reverse"}, {A_ITALIC, "italic"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (a & names[i].bit) snprintf(buf + strlen(buf), n - strlen(buf), " %s", names[i].name);
}

bool tui_screen_cell_at(int y, int x, tui_screen_cell *out) {
    cchar_t cc;
    wchar_t wch[CCHARW_MAX + 1] = {0};
    attr_t a = 0;
    short pair_short = 0;
    int pair = 0;
    memset(out, 0, sizeof *out);
    out->fg = out->bg = -1;
    out->width = 1;
    if (mvin_wch(y, x, &cc) == ERR || getcchar(&cc, wch, &a, &pair_short, &pair) == ERR) return false;
    if (!pair) pair = pair_short;
    out->attrs = (int)(a & (A_BOLD | A_DIM | A_UNDERLINE | A_REVERSE | A_ITALIC));
    if (pair > 0) extended_pair_content(pair, &out->fg, &out->bg);
    // A wide character fills two cells: curses repeats it in the second, which callers skip.
    out->width = wch[0] && wcwidth(wch[0]) == 2 ? 2 : 1;
    size_t nb = wch[0] ? wcrtomb(out->text, wch[0], &(mbstate_t){0}) : (size_t)-1;
    if (nb == (size_t)-1 || nb >= sizeof out->text) nb = 1, out->text[0] = ' ';
    out->text[nb] = 0;
    return true;
}

bool tui_screen_dump(const char *path, const char *mode) {
    FILE *f = fopen(path, "w");
    if (!f) {
        dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
        return false;
    }
    int rows = LINES, cols = COLS;
    dump_style styles[62];
    int n_styles = 0;
    char *map = dlm_xmalloc((size_t)rows * (size_t)(cols + 1));
    fprintf(f, "# dlmscope screen %dx%d %s\n", cols, rows, mode);
    for (int y = 0; y < rows; y++) {
        char line[8192];
        size_t len = 0;
        for (int x = 0; x < cols; x++) {
            tui_screen_cell c;
            char *m = &map[(size_t)y * (size_t)(cols + 1) + (size_t)x];
            if (!tui_screen_cell_at(y, x, &c)) {
                line[len++] = '?';
                *m = '?';
                continue;
            }
            dump_style s = {c.fg, c.bg, c.attrs};
            int k = 0;
            while (k < n_styles && memcmp(&styles[k], &s, sizeof s) != 0) k++;
            if (k == n_styles && n_styles < (int)sizeof styles / (int)sizeof styles[0]) styles[n_styles++] = s;
            *m = k < n_styles ? style_letters[k] : '+';
            size_t nb = strlen(c.text);
            if (len + nb < sizeof line) memcpy(line + len, c.text, nb), len += nb;
            if (c.width == 2 && x + 1 < cols) { // a wide character fills two cells
                x++;
                map[(size_t)y * (size_t)(cols + 1) + (size_t)x] = *m;
            }
        }
        while (len > 0 && line[len - 1] == ' ') len--; // trailing blanks carry no information
        fprintf(f, "%.*s\n", (int)len, line);
        map[(size_t)y * (size_t)(cols + 1) + (size_t)cols] = 0;
    }
    fprintf(f, "-- styles (fg bg attributes; -1 is the terminal's default)\n");
    for (int k = 0; k < n_styles; k++) {
        char at[64];
        attrs_text(styles[k].attrs, at, sizeof at);
        fprintf(f, "%c %d %d%s\n", style_letters[k], styles[k].fg, styles[k].bg, at);
    }
    fprintf(f, "-- style of each cell\n");
    for (int y = 0; y < rows; y++) fprintf(f, "%s\n", &map[(size_t)y * (size_t)(cols + 1)]);
    free(map);
    bool ok = fclose(f) == 0;
    if (!ok) dlm_error(DLM_STATUS_IO, "%s: write failed", path);
    return ok;
}

// ---- running a script -----------------------------------------------------------------------------

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

// Let background work finish: live steps, queued steps, autoplay (which runs without its pauses).
static bool settle(tui_app *app) {
    double give_up = dlm_now() + 120;
    for (;;) {
        app->next_tick = 0; // autoplay without the delay between steps
        tui_app_tick(app);
        if (tui_app_idle(app)) return true;
        if (dlm_now() > give_up) return false;
        sleep_ms(2);
    }
}

// One key, then (unless autoplay runs) the live step it asked for, so the next key sees its result
// as a person waiting for the screen would.
static void press(tui_app *app, const TermKeyKey *k) {
    tui_app_key(app, k);
    tui_app_tick(app);
    double give_up = dlm_now() + 120;
    while (!app->playing && !tui_app_idle(app) && dlm_now() < give_up) {
        sleep_ms(1);
        tui_app_tick(app);
    }
}

// Keys from bytes pushed into libtermkey, as a terminal would send them.
static void press_bytes(tui_app *app, const char *bytes, size_t n) {
    termkey_push_bytes(app->tk, bytes, n);
    TermKeyKey k;
    TermKeyResult r;
    while ((r = termkey_getkey(app->tk, &k)) == TERMKEY_RES_KEY) press(app, &k);
    if (r == TERMKEY_RES_AGAIN && termkey_getkey_force(app->tk, &k) == TERMKEY_RES_KEY) press(app, &k);
}

int tui_script_run(tui_app *app, const char *script, const char *dump_dir, const char *mode) {
    char *text;
    if (dlm_read_file(script, 1 << 20, &text, NULL) != DLM_STATUS_OK) {
        tui_app_fail(app, "--script: %s", dlm_error_message());
        return 2;
    }
    int status = 0, lineno = 0;
    char *save = NULL;
    tui_app_frame(app);
    for (char *l = strtok_r(text, "\n", &save); l && !app->quit; l = strtok_r(NULL, "\n", &save)) {
        lineno++;
        while (*l == ' ' || *l == '\t') l++;
        if (!*l || *l == '#') continue;
        char cmd[32] = "";
        int used = 0;
        sscanf(l, "%31s %n", cmd, &used);
        const char *arg = l + used;
        int a1, a2;
        if (strcmp(cmd, "screen") == 0) {
            if (!dump_dir) continue; // a script without --dump-screens just runs
            char name[512];
            if (sscanf(arg, "%255s", name) != 1 || strchr(name, '/')) {
                tui_app_fail(app, "%s:%d: screen NAME (a file name, no '/')", script, lineno);
                status = 2;
                break;
            }
            settle(app);
            tui_app_frame(app);
            char *path = dlm_path_join(dump_dir, name);
            char *file = dlm_xmalloc(strlen(path) + 5);
            sprintf(file, "%s.txt", path);
            bool ok = tui_screen_dump(file, mode);
            free(path);
            free(file);
            if (!ok) {
                tui_app_fail(app, "%s", dlm_error_message());
                status = 2;
                break;
            }
        } else if (strcmp(cmd, "export") == 0) { // export svg|html FILE: a still of the screen
            char fmt[16], file[512];
            if (sscanf(arg, "%15s %511s", fmt, file) != 2 || (strcmp(fmt, "svg") != 0 && strcmp(fmt, "html") != 0)) {
                tui_app_fail(app, "%s:%d: export svg|html FILE", script, lineno);
                status = 2;
                break;
            }
            settle(app);
            tui_app_frame(app);
            if (!tui_export_still(app, fmt, file)) {
                tui_app_fail(app, "%s:%d: %s", script, lineno, dlm_error_message());
                status = 2;
                break;
            }
        } else if (strcmp(cmd, "size") == 0) {
            if (sscanf(arg, "%d %d", &a1, &a2) != 2 || a1 < 1 || a2 < 1 || a1 > 1000 || a2 > 1000) {
                tui_app_fail(app, "%s:%d: size COLS ROWS (1..1000)", script, lineno);
                status = 2;
                break;
            }
            resizeterm(a2, a1);
            tui_app_frame(app);
        } else if (strcmp(cmd, "wait") == 0) {
            if (!settle(app)) {
                tui_app_fail(app, "%s:%d: wait: still busy after 120 s", script, lineno);
                status = 2;
                break;
            }
        } else if (strcmp(cmd, "click") == 0) {
            if (sscanf(arg, "%d %d", &a1, &a2) != 2 || a1 < 0 || a2 < 0) {
                tui_app_fail(app, "%s:%d: click COL ROW (0-based)", script, lineno);
                status = 2;
                break;
            }
            if (a1 > 222 || a2 > 222) {
                tui_app_fail(app, "%s:%d: click: the X10 mouse encoding reaches column and row 222", script, lineno);
                status = 2;
                break;
            }
            char seq[8] = {'\033', '[', 'M', 32, (char)(33 + a1), (char)(33 + a2), 0}; // as terminals send it (app.c)
            press_bytes(app, seq, 6);
            tui_app_frame(app);
        } else if (strcmp(cmd, "type") == 0) {
            for (const char *c = arg; *c && !app->quit;) {
                size_t n = 1;
                while (((unsigned char)c[n] & 0xc0) == 0x80) n++;
                press_bytes(app, c, n);
                c += n;
            }
            tui_app_frame(app);
        } else { // key names
            char *keys = dlm_xstrdup(l), *ks = NULL;
            for (char *name = strtok_r(keys, " \t", &ks); name && !app->quit; name = strtok_r(NULL, " \t", &ks)) {
                TermKeyKey k;
                const char *end = termkey_strpkey(app->tk, name, &k, 0);
                if (!end || *end) {
                    tui_app_fail(app, "%s:%d: unknown key '%s' (libtermkey names: x, C-u, Space, Enter, Escape, F1...)",
                                 script, lineno, name);
                    status = 2;
                    break;
                }
                press(app, &k);
                tui_app_frame(app); // every key draws, as in the terminal (draw-time scrolling included)
            }
            free(keys);
            if (status) break;
        }
    }
    free(text);
    return status;
}
