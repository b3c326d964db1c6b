// main.c — the dlmscope binary: dispatches to a subcommand.
#include <errno.h>
#include <stdio_ext.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

#ifndef DLM_VERSION
#define DLM_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
#define X(name, help) {#name, cmd_##name, help},
    DLM_COMMANDS(X)
#undef X
};

static void usage(FILE *f) {
    fprintf(f, "dlmscope %s — step through masked diffusion language models\n\n", DLM_VERSION);
    fprintf(f, "usage: dlmscope [--model DIR] [--prompt TEXT] [--rule SPEC] ...   the live visualizer\n"
               "       dlmscope COMMAND [options]     (dlmscope COMMAND --help for each)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

// Everything a command printed must have reached stdout: a full disk, a closed descriptor or a
// broken file turns a successful exit into a failing one, with the reason on stderr. (A stdout
// closed before start with nothing to write is no error: EBADF with nothing pending.)
static int finish_stdout(int status) {
    bool failed = ferror(stdout);
    int err = 0;
    errno = 0;
    if (fflush(stdout) != 0) failed = true, err = errno; // retries what is pending: names the cause
    bool pending = __fpending(stdout) > 0;
    errno = 0;
    if (fclose(stdout) != 0 && (pending || failed || errno != EBADF)) {
        failed = true;
        if (!err) err = errno;
    }
    if (!failed) return status;
    if (err) fprintf(stderr, "dlmscope: cannot write the output: %s\n", strerror(err));
    else fprintf(stderr, "dlmscope: cannot write the output (a write to stdout failed)\n");
    return status ? status : 1;
}

static int dispatch(int argc, char **argv);
int main(int argc, char **argv) { return finish_stdout(dispatch(argc, argv)); }

static int dispatch(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0)) {
        usage(stdout);
        printf("\nlive visualizer options: dlmscope --live-help\n");
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--live-help") == 0) {
        char *args[] = {argv[0], "--help", NULL};
        return cmd_live(2, args);
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("dlmscope %s\n", DLM_VERSION);
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-') return cmd_live(argc, argv);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "dlmscope: unknown command '%s' (see dlmscope --help)\n", argv[1]);
    return 2;
}
