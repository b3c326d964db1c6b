// strmap.c — linear-probing hash maps with load factor <= 1/2.
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

static size_t capacity_for(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    return cap;
}

void dlm_strmap_init(dlm_strmap *m, size_t expected) {
    m->cap = capacity_for(expected);
    m->count = 0;
    m->keys = dlm_xcalloc(m->cap, sizeof *m->keys);
    m->lens = dlm_xcalloc(m->cap, sizeof *m->lens);
    m->values = dlm_xcalloc(m->cap, sizeof *m->values);
}

void dlm_strmap_free(dlm_strmap *m) {
    if (!m->keys) return;
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->lens);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static size_t strmap_slot(const dlm_strmap *m, const char *key, size_t len) {
    size_t i = dlm_hash64(key, len, 0) & (m->cap - 1);
    while (m->keys[i] && !(m->lens[i] == len && memcmp(m->keys[i], key, len) == 0)) i = (i + 1) & (m->cap - 1);
    return i;
}

static void strmap_grow(dlm_strmap *m) {
    dlm_strmap bigger;
    bigger.cap = m->cap * 2;
    bigger.count = m->count;
    bigger.keys = dlm_xcalloc(bigger.cap, sizeof *bigger.keys);
    bigger.lens = dlm_xcalloc(bigger.cap, sizeof *bigger.lens);
    bigger.values = dlm_xcalloc(bigger.cap, sizeof *bigger.values);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = strmap_slot(&bigger, m->keys[i], m->lens[i]);
        bigger.keys[j] = m->keys[i];
        bigger.lens[j] = m->lens[i];
        bigger.values[j] = m->values[i];
    }
    free(m->keys);
    free(m->lens);
    free(m->values);
    *m = bigger;
}

bool dlm_strmap_put(dlm_strmap *m, const char *key, size_t len, int32_t value) {
    if ((m->count + 1) * 2 > m->cap) strmap_grow(m);
    size_t i = strmap_slot(m, key, len);
    if (m->keys[i]) {
        m->values[i] = value;
        return false;
    }
    m->keys[i] = dlm_xmalloc(len + 1);
    memcpy(m->keys[i], key, len);
    m->keys[i][len] = 0;
    m->lens[i] = (uint32_t)len;
    m->values[i] = value;
    m->count++;
    return true;
}

bool dlm_strmap_get(const dlm_strmap *m, const char *key, size_t len, int32_t *value) {
    if (!m->keys) return false;
    size_t i = strmap_slot(m, key, len);
    if (!m->keys[i]) return false;
    *value = m->values[i];
    return true;
}

// ---- uint64 -> int64 ----------------------------------------------------------------------

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

void dlm_u64map_init(dlm_u64map *m, size_t expected) {
    m->cap = capacity_for(expected);
    m->count = 0;
    m->keys = dlm_xmalloc(m->cap * sizeof *m->keys);
    memset(m->keys, 0xff, m->cap * sizeof *m->keys);
    m->values = dlm_xcalloc(m->cap, sizeof *m->values);
}

void dlm_u64map_free(dlm_u64map *m) {
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static size_t u64map_slot(const dlm_u64map *m, uint64_t key) {
    size_t i = mix64(key) & (m->cap - 1);
    while (m->keys[i] != UINT64_MAX && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    return i;
}

static void u64map_grow(dlm_u64map *m) {
    dlm_u64map bigger;
    bigger.cap = m->cap * 2;
    bigger.count = m->count;
    bigger.keys = dlm_xmalloc(bigger.cap * sizeof *bigger.keys);
    memset(bigger.keys, 0xff, bigger.cap * sizeof *bigger.keys);
    bigger.values = dlm_xcalloc(bigger.cap, sizeof *bigger.values);
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == UINT64_MAX) continue;
        size_t j = u64map_slot(&bigger, m->keys[i]);
        bigger.keys[j] = m->keys[i];
        bigger.values[j] = m->values[i];
    }
    dlm_u64map_free(m);
    *m = bigger;
}

bool dlm_u64map_put(dlm_u64map *m, uint64_t key, int64_t value) {
    DLM_ASSERT(key != UINT64_MAX);
    if ((m->count + 1) * 2 > m->cap) u64map_grow(m);
    size_t i = u64map_slot(m, key);
    bool fresh = m->keys[i] == UINT64_MAX;
    m->keys[i] = key;
    m->values[i] = value;
    if (fresh) m->count++;
    return fresh;
}

bool dlm_u64map_get(const dlm_u64map *m, uint64_t key, int64_t *value) {
    if (!m->keys || key == UINT64_MAX) return false;
    size_t i = u64map_slot(m, key);
    if (m->keys[i] == UINT64_MAX) return false;
    *value = m->values[i];
    return true;
}
