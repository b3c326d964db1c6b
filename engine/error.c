// error.c — recoverable status messages (thread-local) and the single fatal exit path.
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char error_message[1024];
static void (*die_callback)(void);

const char *dlm_status_text(dlm_status st) {
    static const char *text[] = {
#define X(name, t) t,
        DLM_STATUS_LIST(X)
#undef X
    };
    return (unsigned)st < DLM_STATUS_COUNT ? text[st] : "unknown status";
}

dlm_status dlm_error(dlm_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return st;
}

void dlm_error_prefix(const char *fmt, ...) {
    char prefix[512], old[sizeof error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    snprintf(error_message, sizeof error_message, "%s: %s", prefix, old);
}

const char *dlm_error_message(void) { return error_message; }
void dlm_error_clear(void) { error_message[0] = 0; }

void dlm_set_die_callback(void (*callback)(void)) { die_callback = callback; }

void dlm_die(const char *fmt, ...) {
    void (*cb)(void) = die_callback;
    die_callback = NULL; // a failure inside the callback must not recurse
    if (cb) cb();
    va_list ap;
    va_start(ap, fmt);
    fputs("dlmscope: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(70); // EX_SOFTWARE
}

void *dlm_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) dlm_die("out of memory allocating %zu bytes", n);
    return p;
}

void *dlm_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) dlm_die("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *dlm_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) dlm_die("out of memory reallocating %zu bytes", n);
    return q;
}

char *dlm_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(dlm_xmalloc(n), s, n);
}
