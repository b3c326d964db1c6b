// error.h — the two error tiers of dlmscope.
//
// Recoverable errors (bad file, bad flag, bad key) are returned as a dlm_status with a one-line
// message kept in a thread-local buffer: the caller prints it (CLI) or shows it on the status line
// (TUI). Fatal errors (broken invariants, out of memory, CUDA failures) go through dlm_die(), which
// first runs the registered die callback (the TUI restores the terminal there), then prints and
// exits.
//
//   if (!model) { fprintf(stderr, "dlmscope: %s\n", dlm_error_message()); return 1; }
#ifndef DLM_ERROR_H
#define DLM_ERROR_H

#include <stddef.h>

#define DLM_STATUS_LIST(X)                                   \
    X(OK,          "ok")                                     \
    X(IO,          "cannot read or write a file")            \
    X(FORMAT,      "malformed input")                        \
    X(UNSUPPORTED, "unsupported feature")                    \
    X(ARG,         "bad argument")                           \
    X(NOMEM,       "out of memory")                          \
    X(CANCELLED,   "cancelled")                              \
    X(BACKEND,     "compute backend failure")

typedef enum {
#define X(name, text) DLM_STATUS_##name,
    DLM_STATUS_LIST(X)
#undef X
    DLM_STATUS_COUNT
} dlm_status;

// Short fixed description of a status ("malformed input").
const char *dlm_status_text(dlm_status st);

// Record a one-line message for the current thread and return st, so callers can write
// `return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': ...", path, name);`.
dlm_status dlm_error(dlm_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Prefix the current message with "prefix: " (adds context as an error travels up).
void dlm_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// The last message recorded on this thread ("" if none). Valid until the next dlm_error().
const char *dlm_error_message(void);
void dlm_error_clear(void);

// Fatal tier. The callback runs once, before the message is printed (restore the terminal there).
void dlm_set_die_callback(void (*callback)(void));
_Noreturn void dlm_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define DLM_ASSERT(cond) \
    do { if (!(cond)) dlm_die("%s:%d: %s: assertion '%s' failed", __FILE__, __LINE__, __func__, #cond); } while (0)

// Allocation that dies on failure (sizes here are never attacker-controlled without a prior bound).
void *dlm_xmalloc(size_t n);
void *dlm_xcalloc(size_t n, size_t size);
void *dlm_xrealloc(void *p, size_t n);
char *dlm_xstrdup(const char *s);

#endif
