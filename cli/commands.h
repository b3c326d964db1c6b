// commands.h — the subcommand table: one X-macro gives the dispatch, the names and the help.
#ifndef DLM_CLI_COMMANDS_H
#define DLM_CLI_COMMANDS_H

#define DLM_COMMANDS(X)                                                                      \
    X(view,     "replay a trace in the visualizer (no model needed)")                     \
    X(tokenize, "encode text to token ids or decode ids to text with a tokenizer.json")     \
    X(run,      "generate with a decoding rule, headless (answer, summary, per-step trace)") \
    X(eval,     "accuracy, steps and speed of rules on task sets, with paired tests")     \
    X(trace,    "inspect trace files: info, dump (text or JSON), diff")                    \
    X(logits,   "top-K probabilities per position for a sequence of ids")                 \
    X(bench,    "forward-pass speed against OpenBLAS sgemm measured in the same run")       \
    X(synth,    "write a random-weight checkpoint of a given shape (LLaDA layout)")

#define X(name, help) int cmd_##name(int argc, char **argv);
DLM_COMMANDS(X)
#undef X
// `dlmscope` with no command, or with options only: the live visualizer.
int cmd_live(int argc, char **argv);

#include <stddef.h>

#include "args.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} cli_command;

extern const cli_command cli_commands[];   // main.c, from DLM_COMMANDS
extern const size_t      cli_command_count;
extern const cli_opt     cli_top_opts[];   // options of `dlmscope` itself (--version, --man, ...)

#endif
