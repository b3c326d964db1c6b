// keys.h — key bindings: a table of libtermkey key strings -> actions, overridable from
// $XDG_CONFIG_HOME/dlmscope/config (`bind KEY ACTION`, `unbind KEY`, `theme NAME`).
#ifndef DLM_TUI_KEYS_H
#define DLM_TUI_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <termkey.h>

#include "actions.h"
#include "engine/error.h"

#define TUI_MAX_BINDINGS 160

typedef struct {
    char       name[24]; // the key as written ("Space", "C-c", "F1", "x")
    TermKeyKey key;
    tui_action action;
    int        arg;      // JUMP: the digit
} tui_binding;

typedef struct {
    tui_binding b[TUI_MAX_BINDINGS];
    int         n;
    char        theme[256]; // from the config file ("" if not set)
} tui_keymap;

// The default bindings. tk parses key names.
void tui_keymap_defaults(TermKey *tk, tui_keymap *km);
// Apply a config text (name used in messages): errors name the line; earlier lines stay applied.
dlm_status tui_keymap_config(TermKey *tk, tui_keymap *km, const char *text, const char *name);
// Load $XDG_CONFIG_HOME/dlmscope/config (or ~/.config/...) if it exists.
dlm_status tui_keymap_load_user(TermKey *tk, tui_keymap *km);
// The binding for a key, or NULL.
const tui_binding *tui_keymap_find(TermKey *tk, const tui_keymap *km, const TermKeyKey *key);
// "q, F10" for an action (for help and the key bar).
void tui_keymap_keys_for(const tui_keymap *km, tui_action a, char *buf, size_t n);

#endif
