// keys.c — the binding table and the config file.
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"

static const struct {
    const char *name, *help;
} actions[] = {
#define X(e, name, help) {name, help},
    TUI_ACTIONS(X)
#undef X
};

const char *tui_action_name(tui_action a) { return (unsigned)a < TUI_ACTION_COUNT ? actions[a].name : "?"; }
const char *tui_action_help(tui_action a) { return (unsigned)a < TUI_ACTION_COUNT ? actions[a].help : "?"; }
int tui_action_find(const char *name) {
    for (int i = 0; i < TUI_ACTION_COUNT; i++)
        if (strcmp(actions[i].name, name) == 0) return i;
    return -1;
}

// Default bindings, following htop / tig / less / asciinema (research: anchors-features §4):
// every F-key has a letter alias.
static const struct {
    const char *key;
    tui_action  action;
} defaults[] = {
    {"q", TUI_ACTION_QUIT},           {"Q", TUI_ACTION_QUIT},          {"F10", TUI_ACTION_QUIT},
    {"C-c", TUI_ACTION_QUIT},         {"?", TUI_ACTION_HELP},          {"F1", TUI_ACTION_HELP},
    {"Space", TUI_ACTION_PLAY},       {".", TUI_ACTION_STEP_FWD},      {",", TUI_ACTION_STEP_BACK},
    {"PageDown", TUI_ACTION_STEP_FWD10}, {"PageUp", TUI_ACTION_STEP_BACK10}, {">", TUI_ACTION_STEP_FWD10},
    {"<", TUI_ACTION_STEP_BACK10},    {"g", TUI_ACTION_FIRST},         {"Home", TUI_ACTION_FIRST},
    {"G", TUI_ACTION_LAST},           {"End", TUI_ACTION_LAST},        {"[", TUI_ACTION_PREV_BLOCK},
    {"]", TUI_ACTION_NEXT_BLOCK},     {"e", TUI_ACTION_NEXT_EVENT},    {"E", TUI_ACTION_PREV_EVENT},
    {"}", TUI_ACTION_NEXT_CHANGE},    {"{", TUI_ACTION_PREV_CHANGE},   {"x", TUI_ACTION_NEXT_STUCK},
    {"X", TUI_ACTION_PREV_STUCK},     {":", TUI_ACTION_GOTO},          {"+", TUI_ACTION_FASTER},
    {"=", TUI_ACTION_FASTER},         {"-", TUI_ACTION_SLOWER},        {"Left", TUI_ACTION_LEFT},
    {"h", TUI_ACTION_LEFT},           {"Right", TUI_ACTION_RIGHT},     {"l", TUI_ACTION_RIGHT},
    {"Up", TUI_ACTION_UP},            {"k", TUI_ACTION_UP},            {"Down", TUI_ACTION_DOWN},
    {"j", TUI_ACTION_DOWN},           {"Tab", TUI_ACTION_FOCUS},       {"m", TUI_ACTION_METRIC},
    {"/", TUI_ACTION_SEARCH},         {"n", TUI_ACTION_SEARCH_NEXT},   {"N", TUI_ACTION_SEARCH_PREV},
    {"t", TUI_ACTION_TOGGLE_T2X},     {"v", TUI_ACTION_TOGGLE_EVO},    {"r", TUI_ACTION_NEXT_RULE},
    {"o", TUI_ACTION_PARAMS},         {"F2", TUI_ACTION_PARAMS},       {"c", TUI_ACTION_COMPARE},
    {"f", TUI_ACTION_FORCE},          {"M", TUI_ACTION_REMASK},        {"P", TUI_ACTION_PIN},
    {"d", TUI_ACTION_DEMO},           {"i", TUI_ACTION_INSPECTOR},     {"H", TUI_ACTION_HEAT},          {"K", TUI_ACTION_CAND},          {"z", TUI_ACTION_ZOOM},
    {"p", TUI_ACTION_PROMPT},         {"C-l", TUI_ACTION_REDRAW},      {"Escape", TUI_ACTION_CANCEL},
};

static bool parse_key(TermKey *tk, const char *name, TermKeyKey *key) {
    const char *end = termkey_strpkey(tk, name, key, 0);
    return end && *end == 0;
}

static void bind(TermKey *tk, tui_keymap *km, const char *name, tui_action a, int arg) {
    TermKeyKey key;
    if (!parse_key(tk, name, &key)) return;
    for (int i = 0; i < km->n; i++) // rebinding replaces
        if (termkey_keycmp(tk, &km->b[i].key, &key) == 0) {
            km->b[i].action = a;
            km->b[i].arg = arg;
            return;
        }
    if (km->n == TUI_MAX_BINDINGS) return;
    tui_binding *b = &km->b[km->n++];
    snprintf(b->name, sizeof b->name, "%s", name);
    b->key = key;
    b->action = a;
    b->arg = arg;
}

void tui_keymap_defaults(TermKey *tk, tui_keymap *km) {
    memset(km, 0, sizeof *km);
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) bind(tk, km, defaults[i].key, defaults[i].action, 0);
    for (int d = 0; d <= 9; d++) {
        char k[2] = {(char)('0' + d), 0};
        bind(tk, km, k, TUI_ACTION_JUMP, d);
    }
}

dlm_status tui_keymap_config(TermKey *tk, tui_keymap *km, const char *text, const char *name) {
    char *copy = dlm_xstrdup(text), *next = copy;
    int lineno = 0;
    dlm_status st = DLM_STATUS_OK;
    while (next) { // line by line, blank lines counted
        char *line = next, *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl) *nl = 0;
        lineno++;
        char *w[4] = {0};
        int n = 0;
        char *s2 = NULL;
        for (char *t = strtok_r(line, " \t\r", &s2); t && n < 4; t = strtok_r(NULL, " \t\r", &s2)) {
            if (t[0] == '#') break;
            w[n++] = t;
        }
        if (n == 0) continue;
        TermKeyKey key;
        if (strcmp(w[0], "bind") == 0 && n == 3) {
            int a = tui_action_find(w[2]);
            if (!parse_key(tk, w[1], &key)) st = dlm_error(DLM_STATUS_FORMAT, "%s line %d: unknown key '%s'", name, lineno, w[1]);
            else if (a < 0) st = dlm_error(DLM_STATUS_FORMAT, "%s line %d: unknown action '%s'", name, lineno, w[2]);
            else bind(tk, km, w[1], a, w[1][0] >= '0' && w[1][0] <= '9' && !w[1][1] ? w[1][0] - '0' : 0);
        } else if (strcmp(w[0], "unbind") == 0 && n == 2) {
            if (!parse_key(tk, w[1], &key)) st = dlm_error(DLM_STATUS_FORMAT, "%s line %d: unknown key '%s'", name, lineno, w[1]);
            for (int i = 0; i < km->n; i++)
                if (termkey_keycmp(tk, &km->b[i].key, &key) == 0) km->b[i--] = km->b[--km->n];
        } else if (strcmp(w[0], "theme") == 0 && n == 2) {
            snprintf(km->theme, sizeof km->theme, "%s", w[1]);
        } else {
            st = dlm_error(DLM_STATUS_FORMAT, "%s line %d: expected 'bind KEY ACTION', 'unbind KEY' or 'theme NAME'", name,
                           lineno);
        }
        if (st != DLM_STATUS_OK) break;
    }
    free(copy);
    return st;
}

dlm_status tui_keymap_load_user(TermKey *tk, tui_keymap *km) {
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char path[1024];
    if (xdg && *xdg) snprintf(path, sizeof path, "%s/dlmscope/config", xdg);
    else snprintf(path, sizeof path, "%s/.config/dlmscope/config", home ? home : ".");
    if (!dlm_file_exists(path)) return DLM_STATUS_OK;
    char *text;
    dlm_status st = dlm_read_file(path, 1 << 20, &text, NULL);
    if (st != DLM_STATUS_OK) return st;
    st = tui_keymap_config(tk, km, text, path);
    free(text);
    return st;
}

const tui_binding *tui_keymap_find(TermKey *tk, const tui_keymap *km, const TermKeyKey *key) {
    TermKeyKey k = *key;
    // Shifted printable keys arrive as the shifted character; drop the modifier to match "G", "?".
    if (k.type == TERMKEY_TYPE_UNICODE && (k.modifiers & TERMKEY_KEYMOD_SHIFT)) k.modifiers &= ~TERMKEY_KEYMOD_SHIFT;
    for (int i = 0; i < km->n; i++)
        if (termkey_keycmp(tk, &km->b[i].key, &k) == 0) return &km->b[i];
    return NULL;
}

void tui_keymap_keys_for(const tui_keymap *km, tui_action a, char *buf, size_t n) {
    buf[0] = 0;
    for (int i = 0; i < km->n; i++)
        if (km->b[i].action == a && !(a == TUI_ACTION_JUMP && km->b[i].arg != 0 && km->b[i].arg != 9))
            snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? (a == TUI_ACTION_JUMP ? ".." : ", ") : "", km->b[i].name);
}
