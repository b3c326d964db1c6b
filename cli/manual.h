// manual.h — what dlmscope says about itself: --version, the man page and shell completions,
// the last two generated from the same option tables that print --help.
#ifndef DLM_CLI_MANUAL_H
#define DLM_CLI_MANUAL_H

#include <stdio.h>

// Version and the build facts a bug report needs (version.c).
void cli_print_version(FILE *f);
// dlmscope(1) as roff. Returns the exit status.
int cli_print_man(FILE *f);
// The completion script for "bash" or "zsh"; 2 after a one-line error for another shell.
int cli_print_completion(FILE *f, const char *shell);

#endif
