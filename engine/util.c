// util.c — files, paths, time, buffers, strict number parsing.
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

dlm_status dlm_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len) {
    *out = NULL;
    if (out_len) *out_len = 0;
    // Open without blocking, then look at what was opened: a FIFO or a device named like a
    // config file would otherwise block the open or the reads forever.
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (S_ISDIR(st.st_mode)) return dlm_error(DLM_STATUS_IO, "%s: is a directory, expected a file", path);
        return dlm_error(DLM_STATUS_IO, "%s: not a regular file (a FIFO, socket or device), expected a file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return dlm_error(DLM_STATUS_FORMAT, "%s: file is %lld bytes, larger than the %zu allowed", path,
                         (long long)st.st_size, max_bytes);
    }
    // Read to the end, bounded: the file may change size while we read.
    dlm_buf b = {0};
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            dlm_buf_free(&b);
            return dlm_error(DLM_STATUS_IO, "%s: read error: %s", path, strerror(err));
        }
        if (n == 0) break;
        if (b.len + (size_t)n > max_bytes) {
            close(fd);
            dlm_buf_free(&b);
            return dlm_error(DLM_STATUS_FORMAT, "%s: larger than the %zu bytes allowed", path, max_bytes);
        }
        dlm_buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
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
