// strmap.h — open-addressing hash maps: byte string -> int32 and uint64 -> int64.
//
// The tokenizer uses them for vocabulary lookup (token text -> id) and for BPE merges
// ((left id, right id) -> rank and merged id). Keys are copied; maps own their memory.
#ifndef DLM_STRMAP_H
#define DLM_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char    **keys;   // (cap) NULL = empty slot
    uint32_t *lens;   // (cap)
    int32_t  *values; // (cap)
    size_t    cap;    // power of two
    size_t    count;
} dlm_strmap;

void dlm_strmap_init(dlm_strmap *m, size_t expected);
void dlm_strmap_free(dlm_strmap *m);
// Insert or overwrite. Returns true if the key was new.
bool dlm_strmap_put(dlm_strmap *m, const char *key, size_t len, int32_t value);
// Returns true and sets *value if found.
bool dlm_strmap_get(const dlm_strmap *m, const char *key, size_t len, int32_t *value);

typedef struct {
    uint64_t *keys;   // (cap) UINT64_MAX = empty slot
    int64_t  *values; // (cap)
    size_t    cap;
    size_t    count;
} dlm_u64map;

void dlm_u64map_init(dlm_u64map *m, size_t expected);
void dlm_u64map_free(dlm_u64map *m);
// The key UINT64_MAX is reserved. Returns true if the key was new.
bool dlm_u64map_put(dlm_u64map *m, uint64_t key, int64_t value);
bool dlm_u64map_get(const dlm_u64map *m, uint64_t key, int64_t *value);

#endif
