// testutil.h — helpers for the cmocka unit tests: temp dirs, files, safetensors builders.
// Header-only (static functions) so each test program stays a single file.
#ifndef DLM_TESTUTIL_H
#define DLM_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/safetensors.h"
#include "engine/util.h"

static inline char *tu_tmpdir(void) {
    char tmpl[] = "/tmp/dlmtest.XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return dlm_xstrdup(d);
}

static inline void tu_rmtree(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static inline void tu_write(const char *dir, const char *name, const void *data, size_t len) {
    char *p = dlm_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    free(p);
}

static inline void tu_write_str(const char *dir, const char *name, const char *text) {
    tu_write(dir, name, text, strlen(text));
}

// Builder for safetensors files: add tensors, then write (header padded to 8 bytes).
typedef struct {
    dlm_buf header; // JSON entries without the braces
    dlm_buf data;
} tu_st;

static inline void tu_st_add(tu_st *s, const char *name, const char *dtype, int n_dims, const int64_t *shape,
                             const void *bytes, size_t n_bytes) {
    size_t begin = s->data.len;
    dlm_buf_append(&s->data, bytes, n_bytes);
    dlm_buf_printf(&s->header, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", s->header.len ? "," : "", name, dtype);
    for (int i = 0; i < n_dims; i++) dlm_buf_printf(&s->header, "%s%lld", i ? "," : "", (long long)shape[i]);
    dlm_buf_printf(&s->header, "],\"data_offsets\":[%zu,%zu]}", begin, s->data.len);
}

// fp32 values stored as F32, F16 or BF16.
static inline void tu_st_add_f32(tu_st *s, const char *name, const char *dtype, int n_dims, const int64_t *shape,
                                 const float *v) {
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++) n *= shape[i];
    if (strcmp(dtype, "F32") == 0) {
        tu_st_add(s, name, dtype, n_dims, shape, v, (size_t)n * 4);
        return;
    }
    uint16_t *h = malloc((size_t)(n ? n : 1) * 2);
    for (int64_t i = 0; i < n; i++) {
        if (strcmp(dtype, "BF16") == 0) h[i] = dlm_f32_to_bf16(v[i]);
        else h[i] = dlm_f32_to_f16(v[i]);
    }
    tu_st_add(s, name, dtype, n_dims, shape, h, (size_t)n * 2);
    free(h);
}

static inline void tu_st_write(tu_st *s, const char *dir, const char *name) {
    dlm_buf file = {0};
    dlm_buf head = {0};
    dlm_buf_printf(&head, "{\"__metadata__\":{\"format\":\"pt\"}%s%s}", s->header.len ? "," : "",
                   s->header.len ? s->header.data : "");
    while ((8 + head.len) % 8) dlm_buf_putc(&head, ' ');
    uint64_t n = head.len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(n >> (8 * i));
    dlm_buf_append(&file, le, 8);
    dlm_buf_append(&file, head.data, head.len);
    dlm_buf_append(&file, s->data.data ? s->data.data : "", s->data.len);
    tu_write(dir, name, file.data, file.len);
    dlm_buf_free(&file);
    dlm_buf_free(&head);
    dlm_buf_free(&s->header);
    dlm_buf_free(&s->data);
}

// Deterministic pseudo-random floats in [-scale, scale).
static inline void tu_fill(float *v, size_t n, uint64_t seed, float scale) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v[i] = scale * ((float)(x >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
    }
}

#endif
