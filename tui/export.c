// export.c — `dlmscope view TRACE --export cast|svg|html --out FILE`: the visualizer for
// teaching and papers, without a terminal.
//
//   cast  an asciinema v2 recording of the replay, from the start step to the last, one frame per
//         step (0.5 s apart): the bytes the terminal would have received, so colours are kept
//         (`asciinema play FILE`, or the asciinema web player)
//   svg   a still of the screen at the start step: a cell grid of coloured rectangles and text
//   html  the same still as a <pre> with coloured spans (paste into a page or a notebook)
// The screen is an off-screen terminal of $TERM's kind (default xterm-256color), $COLUMNS x
// $LINES (default 120x40), drawn by the same code as the interactive view.
#define _XOPEN_SOURCE_EXTENDED 1
#include <curses.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "engine/util.h"

// ---- stills -------------------------------------------------------------------------------------

typedef struct {
    int fg_rgb, bg_rgb; // 0xrrggbb
    bool bold, underline, italic, dim;
} cell_look;

static int rgb_of(int c, int dflt) {
    if (c < 0) return dflt;
    int r, g, b;
    tui_color_rgb(c, &r, &g, &b);
    return r << 16 | g << 8 | b;
}

// The colours a cell shows, with reverse video applied; dflt_*: the terminal's defaults.
static cell_look look_of(const tui_screen_cell *c, int dflt_fg, int dflt_bg) {
    cell_look l = {rgb_of(c->fg, dflt_fg), rgb_of(c->bg, dflt_bg), (c->attrs & A_BOLD) != 0, (c->attrs & A_UNDERLINE) != 0,
                   (c->attrs & A_ITALIC) != 0, (c->attrs & A_DIM) != 0};
    if (c->attrs & A_REVERSE) {
        int t = l.fg_rgb;
        l.fg_rgb = l.bg_rgb, l.bg_rgb = t;
    }
    return l;
}

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

static void style_css(FILE *f, const cell_look *l) {
    fprintf(f, "color:#%06x;background:#%06x", l->fg_rgb, l->bg_rgb);
    if (l->bold) fputs(";font-weight:bold", f);
    if (l->underline) fputs(";text-decoration:underline", f);
    if (l->italic) fputs(";font-style:italic", f);
    if (l->dim) fputs(";opacity:0.7", f);
}

static bool same_look(const cell_look *a, const cell_look *b) { return memcmp(a, b, sizeof *a) == 0; }

static void write_html(FILE *f, int dflt_fg, int dflt_bg) {
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>dlmscope</title></head>\n"
               "<body style=\"background:#%06x\">\n<pre style=\"font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;"
               "font-size:13px;line-height:1.2;color:#%06x;background:#%06x\">",
            dflt_bg, dflt_fg, dflt_bg);
    for (int y = 0; y < LINES; y++) {
        cell_look run = {0};
        bool open = false;
        for (int x = 0; x < COLS; x++) {
            tui_screen_cell c;
            tui_screen_cell_at(y, x, &c);
            cell_look l = look_of(&c, dflt_fg, dflt_bg);
            if (!open || !same_look(&l, &run)) {
                if (open) fputs("</span>", f);
                fputs("<span style=\"", f);
                style_css(f, &l);
                fputs("\">", f);
                run = l, open = true;
            }
            xml_text(f, c.text);
            if (c.width == 2) x++;
        }
        if (open) fputs("</span>", f);
        fputc('\n', f);
    }
    fputs("</pre>\n</body></html>\n", f);
}

static void write_svg(FILE *f, int dflt_fg, int dflt_bg) {
    const double cw = 8.4, ch = 17; // cell size in px for a 14 px monospace font
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"'DejaVu Sans Mono',Menlo,Consolas,monospace\" "
               "font-size=\"14\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#%06x\"/>\n",
            COLS * cw, LINES * ch, dflt_bg);
    for (int y = 0; y < LINES; y++) {
        for (int x = 0; x < COLS; x++) { // backgrounds, merged into runs
            tui_screen_cell c;
            tui_screen_cell_at(y, x, &c);
            cell_look l = look_of(&c, dflt_fg, dflt_bg);
            int x0 = x;
            while (x + 1 < COLS) {
                tui_screen_cell n;
                tui_screen_cell_at(y, x + 1, &n);
                cell_look nl = look_of(&n, dflt_fg, dflt_bg);
                if (nl.bg_rgb != l.bg_rgb) break;
                x++;
            }
            if (l.bg_rgb != dflt_bg)
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.0f\" fill=\"#%06x\"/>\n", x0 * cw, y * ch,
                        (x - x0 + 1) * cw, ch, l.bg_rgb);
        }
        for (int x = 0; x < COLS; x++) { // text, one element per character so that columns stay exact
            tui_screen_cell c;
            tui_screen_cell_at(y, x, &c);
            if (c.text[0] == ' ' && !c.text[1]) continue;
            cell_look l = look_of(&c, dflt_fg, dflt_bg);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#%06x\"%s%s>", x * cw, y * ch + ch * 0.78, l.fg_rgb,
                    l.bold ? " font-weight=\"bold\"" : "", l.underline ? " text-decoration=\"underline\"" : "");
            xml_text(f, c.text);
            fputs("</text>\n", f);
            if (c.width == 2) x++;
        }
    }
    fputs("</svg>\n", f);
}

// ---- asciinema v2 -------------------------------------------------------------------------------------

static void json_bytes(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f); // UTF-8 passes through (asciinema files are UTF-8 JSON)
    }
    fputc('"', f);
}

// Append what the terminal received since *pos as one output event at time t.
static void cast_event(FILE *f, FILE *term, long *pos, double t) {
    fflush(term);
    long end = ftell(term);
    if (end <= *pos) return;
    char *buf = dlm_xmalloc((size_t)(end - *pos));
    fseek(term, *pos, SEEK_SET);
    size_t n = fread(buf, 1, (size_t)(end - *pos), term);
    fseek(term, end, SEEK_SET);
    fprintf(f, "[%.3f, \"o\", ", t);
    json_bytes(f, buf, n);
    fputs("]\n", f);
    free(buf);
    *pos = end;
}

bool tui_export_still(tui_app *app, const char *format, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
        return false;
    }
    bool light = strstr(app->theme.name, "light") != NULL;
    int dflt_fg = light ? 0x1c1c1c : 0xd0d0d0, dflt_bg = light ? 0xffffff : 0x1c1c1c;
    if (strcmp(format, "html") == 0) write_html(f, dflt_fg, dflt_bg);
    else write_svg(f, dflt_fg, dflt_bg);
    bool ok = !ferror(f);
    ok &= fclose(f) == 0;
    if (!ok) dlm_error(DLM_STATUS_IO, "%s: write failed", path);
    return ok;
}

int tui_export_run(tui_app *app, const char *format, const char *out_path, FILE *term_out) {
    if (strcmp(format, "html") == 0 || strcmp(format, "svg") == 0) {
        tui_app_frame(app);
        if (tui_export_still(app, format, out_path)) return 0;
        tui_app_fail(app, "--out %s", dlm_error_message());
        return 1;
    }
    FILE *f = fopen(out_path, "w");
    if (!f) {
        tui_app_fail(app, "--out %s: %s", out_path, strerror(errno));
        return 2;
    }
    { // cast
        const char *term = getenv("TERM") && *getenv("TERM") ? getenv("TERM") : "xterm-256color";
        fprintf(f, "{\"version\": 2, \"width\": %d, \"height\": %d, \"env\": {\"TERM\": ", COLS, LINES);
        json_bytes(f, term, strlen(term));
        fputs("}, \"title\": ", f);
        json_bytes(f, app->a.label, strlen(app->a.label));
        fputs("}\n", f);
        long pos = 0; // what initscr wrote is part of the first frame
        int n = dlm_trace_n_steps(app->a.trace), first = dlm_player_index(app->a.player);
        double t = 0;
        for (int s = first < 0 ? 0 : first; s < n; s++) {
            dlm_player_seek(app->a.player, s);
            if (app->demo) tui_app_caption(app);
            tui_app_frame(app);
            cast_event(f, term_out, &pos, t);
            t += 0.5;
        }
    }
    bool ok = !ferror(f);
    ok &= fclose(f) == 0;
    if (!ok) {
        tui_app_fail(app, "--out %s: write failed", out_path);
        return 1;
    }
    return 0;
}
