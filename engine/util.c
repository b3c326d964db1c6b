// util.c — files, paths, time, buffers, strict number parsing.
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

dlm_status dlm_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len) {
    *out = NULL;
    if (out_len) *out_len = 0;
    struct stat st;
    if (stat(path, &st) != 0) return dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return dlm_error(DLM_STATUS_IO, "%s: is a directory, expected a file", path);
    if ((uint64_t)st.st_size > max_bytes)
        return dlm_error(DLM_STATUS_FORMAT, "%s: file is %lld bytes, larger than the %zu allowed", path,
                         (long long)st.st_size, max_bytes);
    FILE *f = fopen(path, "rb");
    if (!f) return dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
    // Read in chunks: st_size may be 0 for pipes and special files.
    dlm_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > max_bytes) {
            fclose(f);
            dlm_buf_free(&b);
            return dlm_error(DLM_STATUS_FORMAT, "%s: larger than the %zu bytes allowed", path, max_bytes);
        }
        dlm_buf_append(&b, chunk, n);
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        dlm_buf_free(&b);
        return dlm_error(DLM_STATUS_IO, "%s: read error", path);
    }
    dlm_buf_cstr(&b);
    *out = b.data;
    if (out_len) *out_len = b.len;
    return DLM_STATUS_OK;
}

char *dlm_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), c = strlen(name);
    bool slash = a > 0 && dir[a - 1] != '/';
    char *p = dlm_xmalloc(a + slash + c + 1);
    memcpy(p, dir, a);
    if (slash) p[a] = '/';
    memcpy(p + a + slash, name, c + 1);
    return p;
}

bool dlm_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool dlm_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

double dlm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dlm_buf_reserve(dlm_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = dlm_xrealloc(b->data, cap);
    b->cap = cap;
}

void dlm_buf_append(dlm_buf *b, const void *data, size_t n) {
    dlm_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
}

void dlm_buf_putc(dlm_buf *b, char c) { dlm_buf_append(b, &c, 1); }

void dlm_buf_printf(dlm_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    dlm_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *dlm_buf_cstr(dlm_buf *b) {
    dlm_buf_reserve(b, 0);
    b->data[b->len] = 0;
    return b->data;
}

void dlm_buf_free(dlm_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

bool dlm_parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool dlm_parse_double(const char *s, double *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

uint64_t dlm_hash64(const void *data, size_t n, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}
