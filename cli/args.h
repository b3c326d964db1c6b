// args.h — option parsing shared by every subcommand, with --help generated from the table.
//
//   cli_opt opts[] = {
//       {"model", "DIR", "model folder (config.json + *.safetensors)"},
//       {"top",   "K",   "candidates per position (default 5)"},
//       {"quiet", NULL,  "no progress output"},
//       {0}};
//   int rc = cli_parse("logits", "--model DIR --ids IDS [options]", opts, argc, argv, &pos);  (commands use cli_begin)
//   if (rc) return rc < 0 ? 2 : 0;          // error printed / help printed
//   const char *dir = cli_get(opts, "model");
#ifndef DLM_CLI_ARGS_H
#define DLM_CLI_ARGS_H

#include <stdbool.h>

typedef struct {
    const char  *name;   // long name without the dashes
    const char  *arg;    // metavariable; NULL for a flag
    const char  *help;
    // filled by cli_parse
    int          count;  // times given
    const char  *value;  // last value ("1" for flags)
    const char **values; // every value, in order (count entries; freed by cli_free)
} cli_opt;

typedef struct {
    int    n;
    char **items;
} cli_positional;

// Parse argv (argv[0] is the subcommand name). Returns 0 on success, 1 if --help was printed,
// -1 after printing a one-line error. Positional arguments land in *pos.
int cli_parse(const char *cmd, const char *usage, cli_opt *opts, int argc, char **argv, cli_positional *pos);
void cli_free(cli_opt *opts, cli_positional *pos);

// Table visitor (the man page and shell completions are generated from the option tables): while
// one is set, cli_parse hands it the command's table instead of parsing argv and returns 1, as
// after --help. The strings stay valid after the command returns (they are literals).
typedef void (*cli_table_visitor)(const char *cmd, const char *usage, const cli_opt *opts, void *ctx);
void cli_set_table_visitor(cli_table_visitor visitor, void *ctx);
void cli_print_help(const char *cmd, const char *usage, const cli_opt *opts);

const char *cli_get(const cli_opt *opts, const char *name);
bool cli_has(const cli_opt *opts, const char *name);
// Typed getters: print "dlmscope CMD: --name: ..." and return false on a bad value.
bool cli_get_int(const char *cmd, const cli_opt *opts, const char *name, long long lo, long long hi, long long dflt,
                 long long *out);
bool cli_get_double(const char *cmd, const cli_opt *opts, const char *name, double lo, double hi, double dflt,
                    double *out);

// One-line error on stderr: "dlmscope CMD: message".
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
