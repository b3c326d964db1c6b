// util.h — small helpers shared by every module: files, paths, time, growable buffers.
#ifndef DLM_UTIL_H
#define DLM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

// Read a whole regular file into a NUL-terminated buffer. Caller frees *out.
// Errors (missing, a directory, unreadable, larger than max_bytes) name the path.
dlm_status dlm_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len);

// "dir/name" in a new string; caller frees.
char *dlm_path_join(const char *dir, const char *name);
bool dlm_file_exists(const char *path);
bool dlm_is_dir(const char *path);

// Monotonic clock in seconds.
double dlm_now(void);

// Growable byte buffer (for building strings and binary blobs).
typedef struct {
    char  *data;
    size_t len;
    size_t cap;
} dlm_buf;

void dlm_buf_reserve(dlm_buf *b, size_t extra);
void dlm_buf_append(dlm_buf *b, const void *data, size_t n);
void dlm_buf_putc(dlm_buf *b, char c);
void dlm_buf_printf(dlm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Keeps the buffer NUL-terminated (not counted in len). Returns b->data.
const char *dlm_buf_cstr(dlm_buf *b);
void dlm_buf_free(dlm_buf *b);

// Strict integer / float parsing of a whole string (no trailing garbage). Return false on error.
bool dlm_parse_int(const char *s, long long lo, long long hi, long long *out);
bool dlm_parse_double(const char *s, double *out);

// FNV-1a 64-bit, used for identities and hash tables.
uint64_t dlm_hash64(const void *data, size_t n, uint64_t seed);

#endif
