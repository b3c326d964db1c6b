// args.c — long-option parser: --name VALUE, --name=VALUE, flags, "--" ends options.
#include "args.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"

void cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, cmd[0] ? "dlmscope %s: " : "dlmscope%s: ", cmd); // "" is the live visualizer
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_print_help(const char *cmd, const char *usage, const cli_opt *opts) {
    printf("usage: dlmscope %s %s\n\noptions:\n", cmd, usage);
    for (const cli_opt *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-24s %s\n", left, o->help);
    }
    printf("  %-24s %s\n", "-h, --help", "show this help");
}

static void add_value(cli_opt *o, const char *v) {
    o->values = dlm_xrealloc(o->values, (size_t)(o->count + 1) * sizeof *o->values);
    o->values[o->count++] = v;
    o->value = v;
}

static cli_table_visitor table_visitor;
static void *table_visitor_ctx;

void cli_set_table_visitor(cli_table_visitor visitor, void *ctx) {
    table_visitor = visitor;
    table_visitor_ctx = ctx;
}

int cli_parse(const char *cmd, const char *usage, cli_opt *opts, int argc, char **argv, cli_positional *pos) {
    pos->n = 0;
    pos->items = dlm_xcalloc((size_t)argc + 1, sizeof *pos->items);
    if (table_visitor) {
        table_visitor(cmd, usage, opts, table_visitor_ctx);
        return 1;
    }
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == 0) {
            pos->items[pos->n++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli_print_help(cmd, usage, opts);
            return 1;
        }
        if (a[1] != '-') {
            cli_error(cmd, "unknown option '%s' (options are long: see --help)", a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_opt *o = opts;
        while (o->name && !(strlen(o->name) == len && strncmp(o->name, name, len) == 0)) o++;
        if (!o->name) {
            cli_error(cmd, "unknown option '--%.*s' (see dlmscope %s%s--help)", (int)len, name, cmd, cmd[0] ? " " : "");
            return -1;
        }
        if (!o->arg) {
            if (eq) {
                cli_error(cmd, "option '--%s' takes no value", o->name);
                return -1;
            }
            add_value(o, "1");
        } else if (eq) {
            add_value(o, eq + 1);
        } else if (i + 1 < argc) {
            add_value(o, argv[++i]);
        } else {
            cli_error(cmd, "option '--%s' needs a value (%s)", o->name, o->arg);
            return -1;
        }
    }
    return 0;
}

void cli_free(cli_opt *opts, cli_positional *pos) {
    for (cli_opt *o = opts; o->name; o++) {
        free(o->values);
        o->values = NULL;
        o->count = 0;
        o->value = NULL;
    }
    if (pos) {
        free(pos->items);
        pos->items = NULL;
        pos->n = 0;
    }
}

static const cli_opt *find(const cli_opt *opts, const char *name) {
    for (const cli_opt *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0) return o;
    return NULL;
}

const char *cli_get(const cli_opt *opts, const char *name) {
    const cli_opt *o = find(opts, name);
    return o ? o->value : NULL;
}

bool cli_has(const cli_opt *opts, const char *name) {
    const cli_opt *o = find(opts, name);
    return o && o->count > 0;
}

bool cli_get_int(const char *cmd, const cli_opt *opts, const char *name, long long lo, long long hi, long long dflt,
                 long long *out) {
    const char *v = cli_get(opts, name);
    if (!v) {
        *out = dflt;
        return true;
    }
    if (!dlm_parse_int(v, lo, hi, out)) {
        cli_error(cmd, "--%s: '%s' is not an integer in [%lld, %lld]", name, v, lo, hi);
        return false;
    }
    return true;
}

bool cli_get_double(const char *cmd, const cli_opt *opts, const char *name, double lo, double hi, double dflt,
                    double *out) {
    const char *v = cli_get(opts, name);
    if (!v) {
        *out = dflt;
        return true;
    }
    if (!dlm_parse_double(v, out) || *out < lo || *out > hi) {
        cli_error(cmd, "--%s: '%s' is not a number in [%g, %g]", name, v, lo, hi);
        return false;
    }
    return true;
}
