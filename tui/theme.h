// theme.h — colours as data, keyed by semantic roles; drawing code never names a raw colour.
//
// A theme file (themes/*.theme) has one line per role: `role fg [bg] [bold|dim|underline|reverse|italic]...`
// with colours as `default`, a basic name (`red`, `bright-blue`), a 256-colour index or `#rrggbb`.
// Colours are mapped down to what the terminal has: direct colour, 256, 16/8, or none (NO_COLOR,
// --no-color), where attributes and glyph ramps carry the meaning alone.
#ifndef DLM_TUI_THEME_H
#define DLM_TUI_THEME_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/error.h"

// X(ENUM, "name")
#define TUI_ROLES(X)                                                                                  \
    X(NORMAL, "normal") X(DIM, "dim") X(TITLE, "title") X(BORDER, "border") X(STATUS, "status")     \
    X(STATUS_KEY, "status-key") X(KEYBAR, "keybar") X(KEYBAR_KEY, "keybar-key") X(INFO, "info")     \
    X(ERROR, "error") X(PROMPT, "prompt") X(MASK, "mask") X(SOFT_MASK, "soft-mask") X(SOFT, "soft") \
    X(DECODED, "decoded") X(COMMIT, "commit") X(EDIT, "edit") X(REMASK, "remask")                   \
    X(FINALIZE, "finalize") X(STUCK, "stuck") X(ACTIVE_BLOCK, "active-block") X(CURSOR, "cursor")   \
    X(MATCH, "match") X(BAR, "bar") X(SPARK, "spark") X(DIFF, "diff") X(INTERVENED, "intervened")    \
    X(PINNED, "pinned")                                                                              \
    X(CONF0, "conf0") X(CONF1, "conf1") X(CONF2, "conf2") X(CONF3, "conf3") X(CONF4, "conf4")       \
    X(HEAT0, "heat0") X(HEAT1, "heat1") X(HEAT2, "heat2") X(HEAT3, "heat3") X(HEAT4, "heat4")       \
    X(HEAT5, "heat5") X(HEAT6, "heat6") X(HEAT7, "heat7")

typedef enum {
#define X(e, name) TUI_ROLE_##e,
    TUI_ROLES(X)
#undef X
    TUI_ROLE_COUNT
} tui_role;

#define TUI_HEAT_LEVELS 8
#define TUI_CONF_LEVELS 5

typedef enum { TUI_COLOR_NONE, TUI_COLOR_8, TUI_COLOR_16, TUI_COLOR_256, TUI_COLOR_DIRECT } tui_color_depth;

typedef struct {
    int  fg, bg;  // -1 default; 0..255 indexed; >= 0x1000000: 0x1000000 | rgb
    int  attrs;   // TUI_ATTR_* bits
} tui_style;

enum { TUI_ATTR_BOLD = 1, TUI_ATTR_DIM = 2, TUI_ATTR_UNDERLINE = 4, TUI_ATTR_REVERSE = 8, TUI_ATTR_ITALIC = 16 };

typedef struct {
    char      name[64];
    tui_style style[TUI_ROLE_COUNT];
} tui_theme;

// Parse theme text (name used in messages). Lines for unknown roles or bad colours are errors
// naming the line; roles a theme leaves out keep their value from `base` (or defaults).
dlm_status tui_theme_parse(const char *text, const char *name, const tui_theme *base, tui_theme *out);
// Load by name: $XDG_CONFIG_HOME/dlmscope/themes/NAME.theme, then the built-in themes (themes/).
dlm_status tui_theme_load(const char *name, tui_theme *out);
// Names of the built-in themes, comma separated.
const char *tui_theme_builtin_names(void);

// Terminal side (after initscr): decide the colour depth and set up one colour pair per role.
tui_color_depth tui_theme_detect_depth(bool no_color);
void tui_theme_apply(const tui_theme *t, tui_color_depth depth);
// The curses attribute for a role (colour pair and attributes). Valid after tui_theme_apply.
int tui_theme_attr(tui_role role);
tui_color_depth tui_theme_depth(void);
const char *tui_color_depth_name(tui_color_depth d);
// A colour as curses has it (0..255 indexed in the xterm palette, or direct 0xrrggbb) as RGB.
void tui_color_rgb(int c, int *r, int *g, int *b); // "none", "8", "16", "256", "direct"
const char *tui_role_name(tui_role role);

#endif
