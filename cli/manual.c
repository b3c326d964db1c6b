// manual.c — the man page dlmscope(1) and the bash and zsh completion scripts, generated from the
// tables that print --help (every command's cli_opt table, the command table, the rule and
// parameter tables, the key table, the built-in themes), so none of them can drift from --help.
//
// The option tables live inside each command's function; cli_set_table_visitor makes each command
// hand its table over instead of parsing (args.h), so no command needs to know about this file.
#include <stdlib.h>
#include <string.h>
#include <termkey.h>

#include "commands.h"
#include "common.h"
#include "engine/rules.h"
#include "engine/synth.h"
#include "engine/version.h"
#include "gen/buildinfo.h"
#include "manual.h"
#include "tui/actions.h"
#include "tui/keys.h"
#include "tui/theme.h"

// ---- the tables ----------------------------------------------------------------------------------

typedef struct {
    const char *cmd;   // "" for the live visualizer
    const char *usage;
    const char *help;  // the command table's line (NULL for the visualizer)
    cli_opt    *opts;  // copies of name, arg, help (literals); {0}-terminated
} cmd_table;

static void visit(const char *cmd, const char *usage, const cli_opt *opts, void *ctx) {
    cmd_table *t = ctx;
    int n = 0;
    while (opts[n].name) n++;
    t->cmd = cmd;
    t->usage = usage;
    t->opts = dlm_xcalloc((size_t)n + 1, sizeof *t->opts);
    for (int i = 0; i < n; i++) t->opts[i] = (cli_opt){opts[i].name, opts[i].arg, opts[i].help};
}

// tables[0] is the visualizer, then the commands in table order. Caller frees with tables_free.
static cmd_table *tables_collect(int *n) {
    *n = 1 + (int)cli_command_count;
    cmd_table *t = dlm_xcalloc((size_t)*n, sizeof *t);
    char name[32] = "dlmscope";
    char *argv[] = {name, NULL};
    cli_set_table_visitor(visit, &t[0]);
    cmd_live(1, argv);
    for (size_t i = 0; i < cli_command_count; i++) {
        snprintf(name, sizeof name, "%s", cli_commands[i].name);
        cli_set_table_visitor(visit, &t[i + 1]);
        cli_commands[i].run(1, argv);
        t[i + 1].help = cli_commands[i].help;
    }
    cli_set_table_visitor(NULL, NULL);
    for (int i = 0; i < *n; i++)
        if (!t[i].opts) dlm_die("manual: command '%s' printed no option table", i ? cli_commands[i - 1].name : "(visualizer)");
    return t;
}

static void tables_free(cmd_table *t, int n) {
    for (int i = 0; i < n; i++) free(t[i].opts);
    free(t);
}

// What an option's value is, for completion: from the option's name, then its metavariable.
static const char *value_kind(const cli_opt *o) {
    if (!o->arg) return "flag";
    static const char *const by_name[][2] = {{"rule", "rule"},   {"theme", "theme"},  {"device", "device"},
                                             {"shape", "shape"}, {"model", "model"},  {"adapter", "model"},
                                             {"completion", "shell"}};
    for (size_t i = 0; i < sizeof by_name / sizeof by_name[0]; i++)
        if (strcmp(o->name, by_name[i][0]) == 0) return by_name[i][1];
    if (strcmp(o->arg, "DIR") == 0) return "dir";
    if (strncmp(o->arg, "FILE", 4) == 0 || strncmp(o->arg, "TRACE", 5) == 0) return "file";
    return "value";
}

// Subcommands named by a usage of alternatives ("info FILE | dump FILE | diff A B" -> info dump
// diff) into buf; false when the usage has none.
static bool usage_subcommands(const char *usage, char *buf, size_t n) {
    if (!strstr(usage, " | ")) return false;
    buf[0] = 0;
    for (const char *p = usage; p;) {
        while (*p == ' ' || *p == '|') p++;
        size_t len = strcspn(p, " |");
        for (size_t i = 0; i < len; i++)
            if (p[i] < 'a' || p[i] > 'z') return false;
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%.*s", buf[0] ? " " : "", (int)len, p);
        p = strchr(p, '|');
    }
    return buf[0] != 0;
}

// Positional arguments: "sub" (subcommands, then files), "file" (a TRACE/FILE first), or "none".
static const char *positional_kind(const cmd_table *t, char *subs, size_t n) {
    if (usage_subcommands(t->usage, subs, n)) return "sub";
    if (strncmp(t->usage, "TRACE", 5) == 0 || strncmp(t->usage, "FILE", 4) == 0) return "file";
    return "none";
}

static void theme_names(char *buf, size_t n) { // "dark, light" -> "dark light"
    snprintf(buf, n, "%s", tui_theme_builtin_names());
    char *w = buf;
    for (const char *r = buf; *r; r++)
        if (*r != ',') *w++ = *r;
    *w = 0;
}

static void shape_names(char *buf, size_t n) { // dlm_synth_preset_names(): "tiny, small, ..."
    snprintf(buf, n, "%s", dlm_synth_preset_names());
    char *w = buf;
    for (const char *r = buf; *r; r++)
        if (*r != ',') *w++ = *r;
    *w = 0;
}

// ---- the man page --------------------------------------------------------------------------------

// Text for roff: backslashes escaped, a leading '.' or '\'' neutralised; opt: '-' as \- (options).
static void roff(FILE *f, const char *s, bool opt) {
    bool line_start = true;
    for (; *s; s++) {
        if (line_start && (*s == '.' || *s == '\'')) fputs("\\&", f);
        line_start = *s == '\n';
        if (*s == '\\') fputs("\\e", f);
        else if (*s == '-' && opt) fputs("\\-", f);
        else fputc(*s, f);
    }
}

static void man_option(FILE *f, const cli_opt *o) {
    fputs(".TP\n\\fB\\-\\-", f);
    roff(f, o->name, true);
    fputs("\\fR", f);
    if (o->arg) {
        fputs(" \\fI", f);
        roff(f, o->arg, true);
        fputs("\\fR", f);
    }
    fputc('\n', f);
    roff(f, o->help, false);
    fputc('\n', f);
}

static void man_command(FILE *f, const cmd_table *t) {
    fprintf(f, ".SS \"dlmscope%s%s\"\n", t->cmd[0] ? " " : "", t->cmd);
    if (t->help) {
        roff(f, t->help, false);
        fputs(".\n.PP\n", f);
    }
    fputs(".B dlmscope", f);
    if (t->cmd[0]) fprintf(f, " %s", t->cmd);
    fputs("\n", f);
    roff(f, t->usage, true);
    fputs("\n", f);
    for (const cli_opt *o = t->opts; o->name; o++) man_option(f, o);
    fputs(".TP\n.BR \\-h \", \" \\-\\-help\nshow the options of this command\n", f);
}

static const char *const man_environment[][2] = {
    {"DLMSCOPE_DATA", "the data folder (samples/ and themes/); by default the binary's folder when it sits in a "
                      "checkout, else BINDIR/../share/dlmscope, else the folder it was built for (FILES)"},
    {"DLMSCOPE_MODEL", "the model the visualizer opens without --model (default: the bundled dlm-tiny)"},
    {"DLMSCOPE_PROMPTS", "the sample prompts file the visualizer offers (default: samples/prompts.txt in the data folder)"},
    {"HF_HUB_CACHE", "the Hugging Face hub cache that ORG/NAME model names are looked up in "
                     "(HUGGINGFACE_HUB_CACHE is the older name)"},
    {"HF_HOME", "without HF_HUB_CACHE, the hub cache is $HF_HOME/hub"},
    {"XDG_CACHE_HOME", "without HF_HOME, the hub cache is $XDG_CACHE_HOME/huggingface/hub (default ~/.cache/huggingface/hub)"},
    {"XDG_CONFIG_HOME", "where the visualizer's config file and user themes are (default ~/.config)"},
    {"NO_COLOR", "when set and not empty, the visualizer uses no colours (the mono theme)"},
    {"TERM", "the terminal type the visualizer draws for"},
    {"TMPDIR", "where the live visualizer keeps its trace without --record"},
};

static void man_keys(FILE *f) {
    TermKey *tk = termkey_new_abstract("xterm", TERMKEY_FLAG_SPACESYMBOL);
    if (!tk) dlm_die("manual: termkey_new_abstract failed");
    tui_keymap *km = dlm_xmalloc(sizeof *km);
    tui_keymap_defaults(tk, km);
    for (int a = 0; a < TUI_ACTION_COUNT; a++) {
        char keys[256];
        tui_keymap_keys_for(km, (tui_action)a, keys, sizeof keys);
        fputs(".TP\n\\fB", f);
        roff(f, keys[0] ? keys : "(unbound)", false);
        fprintf(f, "\\fR\n%s: ", tui_action_name((tui_action)a));
        roff(f, tui_action_help((tui_action)a), false);
        fputc('\n', f);
    }
    free(km);
    termkey_destroy(tk);
}

static void man_rules(FILE *f) {
    for (int k = 0; k < DLM_RULE_COUNT; k++) {
        dlm_rule_config rc;
        dlm_rule_defaults((dlm_rule_kind)k, &rc);
        dlm_rule_finalize(&rc);
        char spec[512];
        dlm_rule_format(&rc, spec, sizeof spec);
        fprintf(f, ".TP\n.B %s\n", dlm_rule_name((dlm_rule_kind)k));
        roff(f, dlm_rule_help((dlm_rule_kind)k), false);
        fputs(".\nDefault: \\fB", f);
        for (char *part = strtok(spec, ","); part; part = strtok(NULL, ",")) { // may break after a comma
            if (part != spec) fputs(",\\:", f);
            roff(f, part, true);
        }
        fputs("\\fR\n", f);
    }
    fputs(".PP\nParameters (KEY=VALUE after the rule's name and a colon, separated by commas):\n", f);
    for (int p = 0; p < DLM_PARAM_COUNT; p++) {
        fprintf(f, ".TP\n.B %s\n", dlm_param_name((dlm_param_id)p));
        roff(f, dlm_param_help((dlm_param_id)p), false);
        fputs(" (", f);
        int n_vals = 0, shown = 0;
        const char *const *vals = dlm_param_values((dlm_param_id)p, &n_vals);
        if (vals) {
            fputs("one of ", f);
            for (int v = 0; v < n_vals; v++) fprintf(f, "%s%s", v ? ", " : "", vals[v]);
            fputs("; ", f);
        }
        for (int k = 0; k < DLM_RULE_COUNT; k++)
            if (dlm_param_applies((dlm_param_id)p, (dlm_rule_kind)k))
                fprintf(f, "%s%s", shown++ ? ", " : "rules: ", dlm_rule_name((dlm_rule_kind)k));
        fputs(")\n", f);
    }
}

int cli_print_man(FILE *f) {
    int n;
    cmd_table *t = tables_collect(&n);
    fputs("'\\\" -*- coding: UTF-8 -*-\n", f);
    fputs(".\\\" Generated by `dlmscope --man` from the tables that print --help; do not edit.\n", f);
    fprintf(f, ".TH DLMSCOPE 1 \"\" \"dlmscope %s\" \"User Commands\"\n.nh\n.ad l\n", DLM_VERSION);
    fputs(".SH NAME\ndlmscope \\- step through masked diffusion language models in the terminal\n", f);
    fputs(".SH SYNOPSIS\n.B dlmscope\n[\\fIoptions\\fR]\n.br\n.B dlmscope\n\\fICOMMAND\\fR [\\fIoptions\\fR]\n", f);
    fputs(".br\n.B dlmscope\n", f);
    for (const cli_opt *o = cli_top_opts; o->name; o++) {
        fprintf(f, "%s\\-\\-", o == cli_top_opts ? "" : "| ");
        roff(f, o->name, true);
        if (o->arg) fprintf(f, " \\fI%s\\fR", o->arg);
        fputc(' ', f);
    }
    fputs("\n.SH DESCRIPTION\n", f);
    fputs("dlmscope runs a masked diffusion language model (LLaDA, Dream, LLaDA2.x and their relatives) one "
          "refinement step at a time and shows every position's state, its top-K candidates and every commit, "
          "edit, remask and soft-token transition the decoding rule makes. It records trajectories to trace "
          "files that replay forward and backward without the model, and runs headless for generation, "
          "evaluation and benchmarks.\n.PP\n"
          "Without a command it opens the visualizer live, on the bundled model and a sample prompt unless "
          "told otherwise. Every command takes \\-\\-help, exits 0 on success and non-zero with a one-line "
          "reason otherwise.\n",
          f);
    fputs(".SH OPTIONS\n", f);
    for (const cli_opt *o = cli_top_opts; o->name; o++) man_option(f, o);
    fputs(".SH THE VISUALIZER\n", f);
    man_command(f, &t[0]);
    fputs(".SH COMMANDS\n", f);
    for (int i = 1; i < n; i++) man_command(f, &t[i]);
    fputs(".SH MODELS\n"
          "A \\fIMODEL\\fR (\\-\\-model, and \\fIADAPTER\\fR for \\-\\-adapter) is one of:\n"
          ".TP\n.I folder\n"
          "config.json, model.safetensors (or shards with model.safetensors.index.json) and tokenizer.json, "
          "as Hugging Face lays them out; an adapter folder holds adapter_config.json and "
          "adapter_model.safetensors (PEFT LoRA).\n"
          ".TP\n.I NAME\n"
          "a bundled model: samples/models/NAME in the data folder (dlm\\-tiny).\n"
          ".TP\n.IR ORG / NAME [@ REV ]\n"
          "a model in the local Hugging Face hub cache (ENVIRONMENT), as `hf download ORG/NAME' "
          "(`huggingface\\-cli download') leaves it: refs/main or the branch, tag or commit REV, and its "
          "snapshot folder. Nothing is downloaded; a name that is not in the cache is an error naming "
          "the folder looked in and the command that downloads it.\n",
          f);
    fputs(".SH DECODING RULES\nA rule is \\fINAME\\fR[:\\fIKEY\\fR=\\fIVALUE\\fR,...] (\\-\\-rule; "
          "\\-\\-help\\-rules lists them too).\n",
          f);
    man_rules(f);
    fputs(".SH KEYS\nThe visualizer's default bindings (? shows them; the config file changes them, "
          "FILES):\n",
          f);
    man_keys(f);
    fputs(".SH ENVIRONMENT\n", f);
    for (size_t i = 0; i < sizeof man_environment / sizeof man_environment[0]; i++) {
        fprintf(f, ".TP\n.B %s\n", man_environment[i][0]);
        roff(f, man_environment[i][1], false);
        fputc('\n', f);
    }
    fputs(".SH FILES\n"
          ".TP\n.I $XDG_CONFIG_HOME/dlmscope/config\n"
          "the visualizer's settings, one per line: bind \\fIKEY ACTION\\fR, unbind \\fIKEY\\fR, theme \\fINAME\\fR "
          "(KEYS lists the actions).\n"
          ".TP\n.I $XDG_CONFIG_HOME/dlmscope/themes/NAME.theme\n"
          "user themes, found by \\-\\-theme NAME before the built-in ones (",
          f);
    roff(f, tui_theme_builtin_names(), false);
    fputs(").\n.TP\n.I ", f);
    roff(f, DLM_DATADIR, true);
    fputs("\nthe data folder this build was made for: samples/models (the bundled model), samples/prompts.txt, "
          "samples/tasks (held-out task sets for eval), samples/traces (recorded traces for view), themes/ "
          "(the built-in themes, to copy and edit). dlmscope \\-\\-version shows the one in use.\n"
          ".TP\n.I *.dlmtrace\n"
          "trace files (msgpack; docs/trace\\-format.md): written by run \\-\\-record, eval \\-\\-record\\-dir and "
          "the visualizer, read by view and trace.\n",
          f);
    fputs(".SH EXIT STATUS\n"
          ".TP\n.B 0\nsuccess.\n"
          ".TP\n.B 1\ntrace diff found a difference; a trace is truncated or damaged; tokenize met a bad input line; "
          "the output could not be written (a full disk, a closed pipe).\n"
          ".TP\n.B 2\nanything else that failed: bad options or arguments, a file that cannot be read, a model "
          "that cannot be loaded. One line on stderr says why.\n",
          f);
    fputs(".SH EXAMPLES\n.nf\n"
          "dlmscope run \\-\\-model dlm\\-tiny \\-\\-prompt \"Compute 224 * 63.\" \\-\\-rule t2m:detector=logitdiff \\-\\-trace\\-text\n"
          "dlmscope \\-\\-model GSAI\\-ML/LLaDA\\-8B\\-Instruct \\-\\-device cuda\n"
          "dlmscope view run.dlmtrace \\-\\-compare fork.dlmtrace\n"
          "dlmscope eval \\-\\-model dlm\\-tiny \\-\\-tasks tasks.jsonl \\-\\-rule t2t \\-\\-rule t2m\n"
          ".fi\n",
          f);
    fputs(".SH SEE ALSO\nREADME.md and docs/ (rules.md, tui.md, trace\\-format.md, eval.md) in the source, "
          "installed under share/doc/dlmscope.\n",
          f);
    tables_free(t, n);
    return ferror(f) ? 2 : 0;
}

// ---- completions ---------------------------------------------------------------------------------

// Shell data shared by both scripts: NAME="words" lines (bash) or NAME=(words) (zsh).
static void completion_data(FILE *f, const cmd_table *t, int n, bool zsh) {
    const char *open = zsh ? "=(" : "=\"", *close = zsh ? ")" : "\"";
    fprintf(f, "_dlmscope_commands%s", open);
    for (size_t i = 0; i < cli_command_count; i++) fprintf(f, "%s%s", i ? " " : "", cli_commands[i].name);
    fprintf(f, "%s\n_dlmscope_rules%s", close, open);
    for (int k = 0; k < DLM_RULE_COUNT; k++) fprintf(f, "%s%s", k ? " " : "", dlm_rule_name((dlm_rule_kind)k));
    char buf[512];
    theme_names(buf, sizeof buf);
    fprintf(f, "%s\n_dlmscope_themes%s%s%s\n", close, open, buf, close);
    shape_names(buf, sizeof buf);
    fprintf(f, "_dlmscope_shapes%s%s%s\n_dlmscope_devices%scpu cuda auto%s\n_dlmscope_shells%sbash zsh%s\n", open, buf,
            close, open, close, open, close);
    if (zsh) fputs("typeset -gA _dlmscope_params _dlmscope_values\n", f);
    for (int k = 0; k < DLM_RULE_COUNT; k++) { // each rule's parameters
        fprintf(f, zsh ? "_dlmscope_params[%s]=\"" : "_dlmscope_params_%s=\"", dlm_rule_name((dlm_rule_kind)k));
        int shown = 0;
        for (int p = 0; p < DLM_PARAM_COUNT; p++)
            if (dlm_param_applies((dlm_param_id)p, (dlm_rule_kind)k))
                fprintf(f, "%s%s", shown++ ? " " : "", dlm_param_name((dlm_param_id)p));
        fputs("\"\n", f);
    }
    for (int p = 0; p < DLM_PARAM_COUNT; p++) { // the values of enumerated parameters
        int n_vals;
        const char *const *vals = dlm_param_values((dlm_param_id)p, &n_vals);
        if (!vals) continue;
        fprintf(f, zsh ? "_dlmscope_values[%s]=\"" : "_dlmscope_values_%s=\"", dlm_param_name((dlm_param_id)p));
        for (int v = 0; v < n_vals; v++) fprintf(f, "%s%s", v ? " " : "", vals[v]);
        fputs("\"\n", f);
    }
    if (zsh) return;
    // bash: every command's options as NAME:KIND, and its positional arguments
    for (int i = 0; i < n; i++) {
        fprintf(f, "_dlmscope_opts_%s=\"", t[i].cmd);
        for (const cli_opt *o = t[i].opts; o->name; o++) fprintf(f, "%s%s:%s", o == t[i].opts ? "" : " ", o->name, value_kind(o));
        fprintf(f, " help:flag%s\"\n", i == 0 ? " live-help:flag version:flag man:flag completion:shell" : "");
        char subs[256];
        const char *pk = positional_kind(&t[i], subs, sizeof subs);
        fprintf(f, "_dlmscope_pos_%s=\"%s\"\n", t[i].cmd, strcmp(pk, "sub") == 0 ? subs : pk);
    }
}

static const char bash_body[] =
    "_dlmscope_hub_names() { # ORG/NAME of every model in the Hugging Face cache\n"
    "    local hub=${HF_HUB_CACHE:-${HUGGINGFACE_HUB_CACHE:-${HF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/huggingface}/hub}} d n\n"
    "    for d in \"$hub\"/models--*--*; do\n"
    "        [[ -d $d ]] || continue\n"
    "        n=${d##*/models--}\n"
    "        printf '%s\\n' \"${n%%--*}/${n#*--}\"\n"
    "    done\n"
    "}\n"
    "\n"
    "_dlmscope_kind() { # COMMAND OPTION -> flag, value, rule, theme, model, dir, file, ...\n"
    "    local v=_dlmscope_opts_$1 o\n"
    "    for o in ${!v}; do [[ ${o%%:*} == \"$2\" ]] && { echo \"${o#*:}\"; return; }; done\n"
    "}\n"
    "\n"
    "_dlmscope_rule() { # NAME, then :KEY= of its parameters, then a parameter's values after '='\n"
    "    local cur=$1 rule=${1%%:*} head last key v\n"
    "    compopt -o nospace 2>/dev/null\n"
    "    if [[ $cur != *:* ]]; then COMPREPLY=($(compgen -W \"$_dlmscope_rules\" -- \"$cur\")); return; fi\n"
    "    last=${cur##*[:,]}\n"
    "    head=${cur%\"$last\"}\n"
    "    if [[ $last == *=* ]]; then\n"
    "        key=${last%%=*}\n"
    "        [[ $key =~ ^[a-z_]+$ ]] || return\n"
    "        v=_dlmscope_values_$key\n"
    "        COMPREPLY=($(compgen -P \"$head$key=\" -W \"${!v}\" -- \"${last#*=}\"))\n"
    "    else\n"
    "        [[ $rule =~ ^[a-z0-9_]+$ ]] || return\n"
    "        v=_dlmscope_params_$rule\n"
    "        COMPREPLY=($(compgen -P \"$head\" -S = -W \"${!v}\" -- \"$last\"))\n"
    "    fi\n"
    "}\n"
    "\n"
    "_dlmscope_value() { # KIND CUR\n"
    "    local v\n"
    "    case $1 in\n"
    "    rule) _dlmscope_rule \"$2\" ;;\n"
    "    theme) COMPREPLY=($(compgen -W \"$_dlmscope_themes\" -- \"$2\") $(compgen -f -- \"$2\")) ;;\n"
    "    device | shape | shell) v=_dlmscope_$1s; COMPREPLY=($(compgen -W \"${!v}\" -- \"$2\")) ;;\n"
    "    model) compopt -o filenames 2>/dev/null\n"
    "        COMPREPLY=($(compgen -d -- \"$2\") $(compgen -W \"$(_dlmscope_hub_names)\" -- \"$2\")) ;;\n"
    "    dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- \"$2\")) ;;\n"
    "    file) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$2\")) ;;\n"
    "    *) COMPREPLY=() ;;\n"
    "    esac\n"
    "}\n"
    "\n"
    "_dlmscope() {\n"
    "    local line=${COMP_LINE:0:COMP_POINT} cur='' cmd='' prev='' kind w i n_pos=0 skip=0\n"
    "    local -a words\n"
    "    read -ra words <<<\"$line\"\n"
    "    if [[ $line != *[[:space:]] && ${#words[@]} -gt 0 ]]; then\n"
    "        cur=${words[${#words[@]}-1]}\n"
    "        unset 'words[${#words[@]}-1]'\n"
    "    fi\n"
    "    # the command (the first word, if it is one), the positional arguments so far, the last word\n"
    "    for ((i = 1; i < ${#words[@]}; i++)); do\n"
    "        w=${words[i]}\n"
    "        if ((skip)); then skip=0\n"
    "        elif [[ $i -eq 1 && \" $_dlmscope_commands \" == *\" $w \"* ]]; then cmd=$w\n"
    "        elif [[ $w == --*=* ]]; then :\n"
    "        elif [[ $w == --* ]]; then kind=$(_dlmscope_kind \"$cmd\" \"${w#--}\"); [[ -n $kind && $kind != flag ]] && skip=1\n"
    "        elif [[ $i -gt 1 ]]; then n_pos=$((n_pos + 1))\n"
    "        fi\n"
    "    done\n"
    "    COMPREPLY=()\n"
    "    if ((skip)); then\n"
    "        _dlmscope_value \"$(_dlmscope_kind \"$cmd\" \"${words[${#words[@]}-1]#--}\")\" \"$cur\"\n"
    "    elif [[ $cur == --*=* ]]; then\n"
    "        w=${cur%%=*}\n"
    "        _dlmscope_value \"$(_dlmscope_kind \"$cmd\" \"${w#--}\")\" \"${cur#*=}\"\n"
    "        COMPREPLY=(\"${COMPREPLY[@]/#/$w=}\")\n"
    "    elif [[ $cur == -* ]]; then\n"
    "        w=_dlmscope_opts_$cmd\n"
    "        COMPREPLY=($(compgen -W \"$(for w in ${!w}; do echo \"--${w%%:*}\"; done)\" -- \"$cur\"))\n"
    "    elif [[ -z $cmd && ${#words[@]} -le 1 ]]; then\n"
    "        COMPREPLY=($(compgen -W \"$_dlmscope_commands\" -- \"$cur\"))\n"
    "    elif [[ -n $cmd ]]; then\n"
    "        w=_dlmscope_pos_$cmd\n"
    "        case ${!w} in\n"
    "        none) ;;\n"
    "        file) _dlmscope_value file \"$cur\" ;;\n"
    "        *) if ((n_pos == 0)); then COMPREPLY=($(compgen -W \"${!w}\" -- \"$cur\")); else _dlmscope_value file \"$cur\"; fi ;;\n"
    "        esac\n"
    "    fi\n"
    "    # bash splits words at the characters of COMP_WORDBREAKS (':' and '=' among them): hand back\n"
    "    # only what follows the last one in the word being completed\n"
    "    for ((i = ${#cur} - 1; i >= 0; i--)); do\n"
    "        if [[ $COMP_WORDBREAKS == *\"${cur:i:1}\"* ]]; then\n"
    "            w=${cur:0:i+1}\n"
    "            COMPREPLY=(\"${COMPREPLY[@]#\"$w\"}\")\n"
    "            break\n"
    "        fi\n"
    "    done\n"
    "}\n"
    "complete -F _dlmscope dlmscope\n";

// zsh _arguments text: single-quoted, with [ ] : escaped inside the explanation.
static void zsh_explain(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else if (*s == '[' || *s == ']' || *s == ':' || *s == '\\') fprintf(f, "\\%c", *s);
        else fputc(*s, f);
    }
}

static void zsh_specs(FILE *f, const cli_opt *opts) {
    for (const cli_opt *o = opts; o->name; o++) {
        const char *kind = value_kind(o), *action = " ";
        static const char *const actions[][2] = {{"rule", "_dlmscope_rule"},   {"theme", "_dlmscope_theme"},
                                                 {"device", "(cpu cuda auto)"}, {"shape", "_dlmscope_shape"},
                                                 {"shell", "(bash zsh)"},       {"model", "_dlmscope_models"},
                                                 {"dir", "_files -/"},          {"file", "_files"}};
        for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
            if (strcmp(kind, actions[i][0]) == 0) action = actions[i][1];
        fprintf(f, "    '*--%s%s[", o->name, o->arg ? "=" : "");
        zsh_explain(f, o->help);
        fputc(']', f);
        if (o->arg) {
            fputc(':', f);
            zsh_explain(f, o->arg);
            fprintf(f, ":%s", action);
        }
        fputs("' \\\n", f);
    }
}

static const char zsh_functions[] =
    "# Candidates for a --rule spec being typed (in reply): rule names; after ':' or ',' the rule's\n"
    "# parameters as KEY=; after '=' an enumerated parameter's values.\n"
    "_dlmscope_rule_candidates() {\n"
    "  local cur=$1 last\n"
    "  reply=()\n"
    "  if [[ $cur != *:* ]]; then reply=($_dlmscope_rules); return; fi\n"
    "  last=${cur##*[:,]}\n"
    "  if [[ $last == *=* ]]; then reply=(${=_dlmscope_values[${last%%=*}]})\n"
    "  else reply=(${^=_dlmscope_params[${cur%%:*}]}=); fi\n"
    "}\n"
    "_dlmscope_rule() {\n"
    "  local -a reply\n"
    "  _dlmscope_rule_candidates \"$PREFIX\"\n"
    "  if [[ $PREFIX == *:* && ${PREFIX##*[:,]} == *=* ]]; then compset -P '*='\n"
    "  elif [[ $PREFIX == *:* ]]; then compset -P '*[:,]'; fi\n"
    "  compadd -S '' -a reply\n"
    "}\n"
    "_dlmscope_theme() { compadd -a _dlmscope_themes; _files }\n"
    "_dlmscope_shape() { compadd -a _dlmscope_shapes }\n"
    "_dlmscope_hub_names() { # ORG/NAME of every model in the Hugging Face cache, in reply\n"
    "  local hub=${HF_HUB_CACHE:-${HUGGINGFACE_HUB_CACHE:-${HF_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/huggingface}/hub}}\n"
    "  local -a dirs\n"
    "  dirs=($hub/models--*--*(N/:t))\n"
    "  dirs=(${dirs#models--})\n"
    "  reply=(${dirs/--/\\/})\n"
    "}\n"
    "_dlmscope_models() {\n"
    "  local -a reply\n"
    "  _dlmscope_hub_names\n"
    "  compadd -a reply\n"
    "  _files -/\n"
    "}\n";

int cli_print_completion(FILE *f, const char *shell) {
    bool zsh = strcmp(shell, "zsh") == 0;
    if (!zsh && strcmp(shell, "bash") != 0) {
        cli_error("", "--completion: '%s' is not a shell with completions here (bash or zsh)", shell[0] ? shell : "(none)");
        return 2;
    }
    int n;
    cmd_table *t = tables_collect(&n);
    if (zsh) fputs("#compdef dlmscope\n", f);
    fprintf(f, "# %s completion for dlmscope %s, generated by `dlmscope --completion %s` from the tables that\n"
               "# print --help; do not edit.\n",
            shell, DLM_VERSION, shell);
    completion_data(f, t, n, zsh);
    if (!zsh) {
        fputs(bash_body, f);
    } else {
        fputs(zsh_functions, f);
        fputs("_dlmscope() {\n  local -a commands\n  commands=(\n", f);
        for (size_t i = 0; i < cli_command_count; i++) {
            fprintf(f, "    '%s:", cli_commands[i].name);
            zsh_explain(f, cli_commands[i].help);
            fputs("'\n", f);
        }
        fputs("  )\n"
              "  if (( CURRENT == 2 )) && [[ $PREFIX != -* ]]; then _describe command commands; return; fi\n"
              "  if [[ $words[2] == -* ]]; then\n    _arguments -S : \\\n",
              f);
        zsh_specs(f, t[0].opts);
        zsh_specs(f, cli_top_opts);
        fputs("    '(- *)'{-h,--help}'[show the options]'\n    return\n  fi\n"
              "  local cmd=$words[2]\n  shift words\n  (( CURRENT-- ))\n  case $cmd in\n",
              f);
        for (int i = 1; i < n; i++) {
            fprintf(f, "  %s)\n    _arguments -S : \\\n", t[i].cmd);
            zsh_specs(f, t[i].opts);
            char subs[256];
            const char *pk = positional_kind(&t[i], subs, sizeof subs);
            if (strcmp(pk, "sub") == 0) fprintf(f, "    '1:subcommand:(%s)' '*:file:_files' \\\n", subs);
            else if (strcmp(pk, "file") == 0) fputs("    '1:file:_files' \\\n", f);
            fputs("    '(- *)'{-h,--help}'[show the options]' ;;\n", f);
        }
        fputs("  esac\n}\n\n_dlmscope \"$@\"\n", f);
    }
    tables_free(t, n);
    return ferror(f) ? 2 : 0;
}
