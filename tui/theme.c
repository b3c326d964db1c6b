// theme.c — theme files, built-in themes, colour-depth detection and mapping, curses pairs.
#include "theme.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/util.h"

extern const struct {
    const char *name, *text;
} tui_builtin_themes[];

static const char *const role_names[] = {
#define X(e, name) name,
    TUI_ROLES(X)
#undef X
};

const char *tui_role_name(tui_role r) { return (unsigned)r < TUI_ROLE_COUNT ? role_names[r] : "?"; }

#define RGB(r, g, b) (0x1000000 | (r) << 16 | (g) << 8 | (b))

// Parse one colour word. -1 = default.
static bool parse_color(const char *w, int *out) {
    static const char *const names[8] = {"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"};
    if (strcmp(w, "default") == 0) {
        *out = -1;
        return true;
    }
    bool bright = strncmp(w, "bright-", 7) == 0;
    for (int i = 0; i < 8; i++)
        if (strcmp(bright ? w + 7 : w, names[i]) == 0) {
            *out = i + (bright ? 8 : 0);
            return true;
        }
    if (w[0] == '#' && strlen(w) == 7) {
        char *end;
        long v = strtol(w + 1, &end, 16);
        if (*end) return false;
        *out = 0x1000000 | (int)v;
        return true;
    }
    long long n;
    if (dlm_parse_int(w, 0, 255, &n)) {
        *out = (int)n;
        return true;
    }
    return false;
}

dlm_status tui_theme_parse(const char *text, const char *name, const tui_theme *base, tui_theme *out) {
    tui_theme t;
    if (base) t = *base;
    else {
        memset(&t, 0, sizeof t);
        for (int i = 0; i < TUI_ROLE_COUNT; i++) t.style[i].fg = t.style[i].bg = -1;
    }
    snprintf(t.name, sizeof t.name, "%s", name);
    char *copy = dlm_xstrdup(text), *next = copy;
    int lineno = 0;
    dlm_status st = DLM_STATUS_OK;
    while (next && st == DLM_STATUS_OK) { // line by line, blank lines counted
        char *line = next, *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl) *nl = 0;
        lineno++;
        // Words up to a comment: '#' followed by anything but a #rrggbb colour.
        char *words[12];
        int n = 0;
        char *s2 = NULL;
        bool bad_colour = false;
        for (char *w = strtok_r(line, " \t\r", &s2); w && n < 12; w = strtok_r(NULL, " \t\r", &s2)) {
            int ignored;
            if (w[0] == '#' && !(strlen(w) == 7 && parse_color(w, &ignored))) {
                if (n > 0 && w[1] && strlen(w) == 7) bad_colour = true; // "#12345g": a typo, not a comment
                else break;
            }
            words[n++] = w;
        }
        if (bad_colour) {
            st = dlm_error(DLM_STATUS_FORMAT, "theme %s line %d: bad colour (expected #rrggbb)", name, lineno);
            break;
        }
        if (n == 0) continue;
        int role = -1;
        for (int i = 0; i < TUI_ROLE_COUNT; i++)
            if (strcmp(words[0], role_names[i]) == 0) role = i;
        if (role < 0) {
            st = dlm_error(DLM_STATUS_FORMAT, "theme %s line %d: unknown role '%s'", name, lineno, words[0]);
            break;
        }
        tui_style sty = {-1, -1, 0};
        int k = 1;
        if (k < n && parse_color(words[k], &sty.fg)) k++;
        if (k < n && parse_color(words[k], &sty.bg)) k++;
        for (; k < n; k++) {
            static const struct {
                const char *name;
                int         bit;
            } attrs[] = {{"bold", TUI_ATTR_BOLD}, {"dim", TUI_ATTR_DIM}, {"underline", TUI_ATTR_UNDERLINE},
                         {"reverse", TUI_ATTR_REVERSE}, {"italic", TUI_ATTR_ITALIC}};
            int bit = 0;
            for (size_t a = 0; a < sizeof attrs / sizeof attrs[0]; a++)
                if (strcmp(words[k], attrs[a].name) == 0) bit = attrs[a].bit;
            if (!bit) {
                st = dlm_error(DLM_STATUS_FORMAT, "theme %s line %d: '%s' is neither a colour nor an attribute", name,
                               lineno, words[k]);
                break;
            }
            sty.attrs |= bit;
        }
        t.style[role] = sty;
    }
    free(copy);
    if (st == DLM_STATUS_OK) *out = t;
    return st;
}

const char *tui_theme_builtin_names(void) {
    static char names[256];
    if (!names[0])
        for (int i = 0; tui_builtin_themes[i].name; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", tui_builtin_themes[i].name);
    return names;
}

static const char *builtin(const char *name) {
    for (int i = 0; tui_builtin_themes[i].name; i++)
        if (strcmp(tui_builtin_themes[i].name, name) == 0) return tui_builtin_themes[i].text;
    return NULL;
}

dlm_status tui_theme_load(const char *name, tui_theme *out) {
    // Every theme starts from the built-in dark one, so a user theme may set only a few roles.
    tui_theme base;
    dlm_status st = tui_theme_parse(builtin("dark"), "dark", NULL, &base);
    if (st != DLM_STATUS_OK) return st;
    if (strchr(name, '/')) { // a path
        char *text;
        if ((st = dlm_read_file(name, 1 << 20, &text, NULL)) != DLM_STATUS_OK) return st;
        st = tui_theme_parse(text, name, &base, out);
        free(text);
        return st;
    }
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char path[1024];
    if (xdg && *xdg) snprintf(path, sizeof path, "%s/dlmscope/themes/%s.theme", xdg, name);
    else snprintf(path, sizeof path, "%s/.config/dlmscope/themes/%s.theme", home ? home : ".", name);
    if (dlm_file_exists(path)) {
        char *text;
        if ((st = dlm_read_file(path, 1 << 20, &text, NULL)) != DLM_STATUS_OK) return st;
        st = tui_theme_parse(text, path, &base, out);
        free(text);
        return st;
    }
    const char *text = builtin(name);
    if (!text) return dlm_error(DLM_STATUS_ARG, "theme '%s' not found (built in: %s; or put %s.theme in %s)", name,
                                tui_theme_builtin_names(), name, xdg && *xdg ? "$XDG_CONFIG_HOME/dlmscope/themes" : "~/.config/dlmscope/themes");
    return tui_theme_parse(text, name, &base, out);
}

// ---- terminal side --------------------------------------------------------------------------------

static tui_color_depth depth;
static void xterm_rgb(int idx, int *r, int *g, int *b);
static int role_attr[TUI_ROLE_COUNT];

tui_color_depth tui_theme_depth(void) { return depth; }

const char *tui_color_depth_name(tui_color_depth d) {
    static const char *const names[] = {"none", "8", "16", "256", "direct"};
    return d >= 0 && d <= TUI_COLOR_DIRECT ? names[d] : "?";
}

tui_color_depth tui_theme_detect_depth(bool no_color) {
    const char *nc = getenv("NO_COLOR");
    if (no_color || (nc && *nc) || !has_colors()) return TUI_COLOR_NONE;
    // COLORS is 0 until start_color(): reading it first made every terminal an 8-colour one.
    if (start_color() != OK) return TUI_COLOR_NONE;
    if (COLORS >= 0x1000000) return TUI_COLOR_DIRECT;
    if (COLORS >= 256) return TUI_COLOR_256;
    if (COLORS >= 16) return TUI_COLOR_16;
    return TUI_COLOR_8;
}

void tui_color_rgb(int c, int *r, int *g, int *b) {
    if (depth == TUI_COLOR_DIRECT || c > 255) *r = (c >> 16) & 255, *g = (c >> 8) & 255, *b = c & 255; // direct colour
    else xterm_rgb(c < 0 ? 0 : c, r, g, b);
}

static void xterm_rgb(int idx, int *r, int *g, int *b) { // the standard xterm palette
    static const int base[16][3] = {{0, 0, 0},       {205, 0, 0},   {0, 205, 0},   {205, 205, 0},
                                    {0, 0, 238},     {205, 0, 205}, {0, 205, 205}, {229, 229, 229},
                                    {127, 127, 127}, {255, 0, 0},   {0, 255, 0},   {255, 255, 0},
                                    {92, 92, 255},   {255, 0, 255}, {0, 255, 255}, {255, 255, 255}};
    if (idx < 16) {
        *r = base[idx][0], *g = base[idx][1], *b = base[idx][2];
    } else if (idx < 232) {
        static const int lv[6] = {0, 95, 135, 175, 215, 255};
        idx -= 16;
        *r = lv[idx / 36], *g = lv[(idx / 6) % 6], *b = lv[idx % 6];
    } else {
        *r = *g = *b = 8 + 10 * (idx - 232);
    }
}

static int nearest(int r, int g, int b, int lo, int hi) {
    int best = lo;
    long bd = -1;
    for (int i = lo; i < hi; i++) {
        int cr, cg, cb;
        xterm_rgb(i, &cr, &cg, &cb);
        long d = (long)(cr - r) * (cr - r) * 3 + (long)(cg - g) * (cg - g) * 4 + (long)(cb - b) * (cb - b) * 2;
        if (bd < 0 || d < bd) bd = d, best = i;
    }
    return best;
}

// A theme colour as a colour number this terminal has.
static int map_color(int c) {
    if (c < 0) return -1;
    int r, g, b;
    if (c & 0x1000000) r = (c >> 16) & 255, g = (c >> 8) & 255, b = c & 255;
    else xterm_rgb(c, &r, &g, &b);
    switch (depth) {
    case TUI_COLOR_DIRECT: return r << 16 | g << 8 | b;
    case TUI_COLOR_256: return (c & 0x1000000) ? nearest(r, g, b, 16, 256) : c;
    case TUI_COLOR_16: return (c & 0x1000000) || c >= 16 ? nearest(r, g, b, 0, 16) : c;
    case TUI_COLOR_8: return (c & 0x1000000) || c >= 8 ? nearest(r, g, b, 0, 8) : c;
    default: return -1;
    }
}

void tui_theme_apply(const tui_theme *t, tui_color_depth d) {
    depth = d;
    if (depth != TUI_COLOR_NONE) {
        start_color();
        use_default_colors();
    }
    for (int i = 0; i < TUI_ROLE_COUNT; i++) {
        const tui_style *s = &t->style[i];
        int a = 0;
        if (s->attrs & TUI_ATTR_BOLD) a |= A_BOLD;
        if (s->attrs & TUI_ATTR_DIM) a |= A_DIM;
        if (s->attrs & TUI_ATTR_UNDERLINE) a |= A_UNDERLINE;
        if (s->attrs & TUI_ATTR_REVERSE) a |= A_REVERSE;
        if (s->attrs & TUI_ATTR_ITALIC) a |= A_ITALIC;
        if (depth != TUI_COLOR_NONE) {
            int fg = map_color(s->fg), bg = map_color(s->bg);
            if (init_extended_pair(i + 1, fg, bg) == OK) a |= (int)COLOR_PAIR(i + 1);
        } else if (i >= TUI_ROLE_HEAT0 && i <= TUI_ROLE_HEAT7) {
            a = 0; // monochrome heat is drawn with glyphs
        }
        role_attr[i] = a;
    }
}

int tui_theme_attr(tui_role role) { return role_attr[role]; }
