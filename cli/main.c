// main.c — the dlmscope binary: dispatches to a subcommand.
#include <errno.h>
#include <stdio_ext.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "engine/version.h"
#include "manual.h"

const cli_command cli_commands[] = {
#define X(name, help) {#name, cmd_##name, help},
    DLM_COMMANDS(X)
#undef X
};
const size_t cli_command_count = sizeof cli_commands / sizeof cli_commands[0];

const cli_opt cli_top_opts[] = {
    {"help", NULL, "list the commands"},
    {"live-help", NULL, "the live visualizer's options"},
    {"version", NULL, "version and build facts (git revision, CUDA, BLAS, data folder) for bug reports"},
    {"man", NULL, "print the manual page as roff (man -l renders it; make install installs it)"},
    {"completion", "SHELL", "print the completion script for bash or zsh (make install installs both)"},
    {0}};

static void usage(FILE *f) {
    fprintf(f, "dlmscope %s — step through masked diffusion language models\n\n", DLM_VERSION);
    fprintf(f, "usage: dlmscope [--model MODEL] [--prompt TEXT] [--rule SPEC] ...   the live visualizer\n"
               "       dlmscope COMMAND [options]     (dlmscope COMMAND --help for each)\n\ncommands:\n");
    for (size_t i = 0; i < cli_command_count; i++) fprintf(f, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].help);
    fprintf(f, "\noptions:\n");
    for (const cli_opt *o = cli_top_opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-24s %s\n", left, o->help);
    }
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
    const char *a1 = argc >= 2 ? argv[1] : "";
    if (strcmp(a1, "--help") == 0 || strcmp(a1, "-h") == 0 || strcmp(a1, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(a1, "--live-help") == 0) {
        char *args[] = {argv[0], "--help", NULL};
        return cmd_live(2, args);
    }
    if (strcmp(a1, "--version") == 0) {
        cli_print_version(stdout);
        return 0;
    }
    if (strcmp(a1, "--man") == 0) return cli_print_man(stdout);
    if (strcmp(a1, "--completion") == 0 || strncmp(a1, "--completion=", 13) == 0) {
        const char *shell = a1[12] == '=' ? a1 + 13 : argc >= 3 ? argv[2] : "";
        return cli_print_completion(stdout, shell);
    }
    if (argc < 2 || argv[1][0] == '-') return cmd_live(argc, argv);
    for (size_t i = 0; i < cli_command_count; i++)
        if (strcmp(argv[1], cli_commands[i].name) == 0) return cli_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "dlmscope: unknown command '%s' (see dlmscope --help)\n", argv[1]);
    return 2;
}
