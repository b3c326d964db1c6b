// trace_reader.c — hostile-input trace reader: structural walk, index, typed field access.
#include "trace_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/rules/rule.h"
#include "engine/safetensors.h"
#include "engine/util.h"

#define MAX_DEPTH 32
#define MAX_TOKEN_BYTES 4096
// Generation positions a header may claim before any step record holds them (what a viewer
// allocates for a trace that has only its header, e.g. a live run before its first step).
#define MAX_UNBACKED_POSITIONS 65536
// The least a step record spends per generation position: its token, state, events, flags,
// sampled, p_sampled, p_current, entropy, n_top, top_id and top_p columns with 2-byte ids and one
// candidate. A record shorter than G times this cannot hold the G positions its header claims.
#define MIN_STEP_BYTES_PER_POS 18

struct dlm_trace {
    char                *path;
    bool                 owned;   // bytes given by open_buffer: nothing to refresh from
    // The bytes read so far, copied into memory: a file cut short or rewritten under a reader
    // cannot fault it (a mapping would SIGBUS), and what was read stays valid until close.
    uint8_t             *map;
    size_t               size;
    int                  fd;      // the file opened (-1 for a buffer); refresh reads what it appends
    dev_t                dev;     // identity of that file, to notice the path being replaced
    ino_t                ino;
    dlm_trace_header     h;
    uint64_t            *offs;    // (n_steps) byte offset of each step record
    uint32_t            *lens;    // (n_steps) its length
    dlm_trace_step_info *info;    // (n_steps)
    int                  n_steps, cap;
    size_t               scan_pos; // first byte not yet scanned
    bool                 has_footer;
    bool                 tail_cut; // the problem is a record cut short (a writer may still finish it)
    char                 problem[512];
    // Token texts given by the trace: an open-addressing table keyed by id (sized by the texts
    // the file holds, never by the n_vocab its header claims).
    struct tok_slot     *toks;
    uint32_t             n_toks, cap_toks;
    char               **rules;    // distinct rule specs seen in step records
    int                  n_rules;
};

// ---- structural walk ---------------------------------------------------------------------------

enum { WALK_OK = 0, WALK_SHORT = 1, WALK_BAD = -1 };

static uint64_t be_uint(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

// Length of the msgpack object at p, checking every header and count against the bytes left:
// WALK_SHORT if the bytes end inside it, WALK_BAD if it is not msgpack (or nests too deep).
static int walk(const uint8_t *p, size_t n, size_t *len, int depth) {
    if (depth > MAX_DEPTH) return WALK_BAD;
    if (n < 1) return WALK_SHORT;
    uint8_t b = p[0];
    size_t hdr = 1;
    uint64_t body = 0, count = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        *len = 1;
        return WALK_OK;
    }
    if (b >= 0x80 && b <= 0x8f) count = 2u * (b & 0x0f);
    else if (b >= 0x90 && b <= 0x9f) count = b & 0x0f;
    else if (b >= 0xa0 && b <= 0xbf) body = b & 0x1f;
    else {
        static const struct {
            uint8_t byte, len_bytes, fixed, kind; // kind 0 raw (body = len), 1 ext (+1 type), 2 array, 3 map
        } t[] = {
            {0xc4, 1, 0, 0}, {0xc5, 2, 0, 0}, {0xc6, 4, 0, 0}, {0xc7, 1, 0, 1}, {0xc8, 2, 0, 1}, {0xc9, 4, 0, 1},
            {0xca, 0, 4, 0}, {0xcb, 0, 8, 0}, {0xcc, 0, 1, 0}, {0xcd, 0, 2, 0}, {0xce, 0, 4, 0}, {0xcf, 0, 8, 0},
            {0xd0, 0, 1, 0}, {0xd1, 0, 2, 0}, {0xd2, 0, 4, 0}, {0xd3, 0, 8, 0}, {0xd4, 0, 2, 0}, {0xd5, 0, 3, 0},
            {0xd6, 0, 5, 0}, {0xd7, 0, 9, 0}, {0xd8, 0, 17, 0}, {0xd9, 1, 0, 0}, {0xda, 2, 0, 0}, {0xdb, 4, 0, 0},
            {0xdc, 2, 0, 2}, {0xdd, 4, 0, 2}, {0xde, 2, 0, 3}, {0xdf, 4, 0, 3},
        };
        int k = -1;
        for (int i = 0; i < (int)(sizeof t / sizeof t[0]); i++)
            if (t[i].byte == b) k = i;
        if (k < 0) return WALK_BAD; // 0xc1 is never used
        hdr = 1 + t[k].len_bytes;
        if (n < hdr) return WALK_SHORT;
        uint64_t v = be_uint(p + 1, t[k].len_bytes);
        switch (t[k].kind) {
        case 0: body = t[k].len_bytes ? v : t[k].fixed; break;
        case 1: body = v + 1; break;
        case 2: count = v; break;
        case 3: count = 2 * v; break;
        }
    }
    if (body) {
        if (body > n - hdr) return WALK_SHORT;
        *len = hdr + (size_t)body;
        return WALK_OK;
    }
    size_t off = hdr;
    if (count > n - hdr) return WALK_SHORT; // every element needs at least one byte
    for (uint64_t i = 0; i < count; i++) {
        size_t l;
        int r = walk(p + off, n - off, &l, depth + 1);
        if (r != WALK_OK) return r;
        off += l;
    }
    *len = off;
    return WALK_OK;
}

// ---- field access with messages that name the file, offset, record and field ---------------------

typedef struct {
    const dlm_trace *t;
    size_t           off;
    char             what[48]; // "header", "step record 12", "footer"
} where;

static dlm_status bad(const where *w, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static dlm_status bad(const where *w, const char *field, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (field) return dlm_error(DLM_STATUS_FORMAT, "%s: byte %zu: %s: field '%s': %s", w->t->path, w->off, w->what, field, msg);
    return dlm_error(DLM_STATUS_FORMAT, "%s: byte %zu: %s: %s", w->t->path, w->off, w->what, msg);
}

static const msgpack_object *get(const msgpack_object *map, const char *key) {
    if (map->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl && memcmp(k->via.str.ptr, key, kl) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static dlm_status get_int(const where *w, const msgpack_object *map, const char *key, int64_t lo, int64_t hi,
                          int64_t *out) {
    const msgpack_object *o = get(map, key);
    if (!o) return bad(w, key, "missing");
    int64_t v;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX) return bad(w, key, "integer out of range");
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else {
        return bad(w, key, "expected an integer");
    }
    if (v < lo || v > hi) return bad(w, key, "%lld is out of range [%lld, %lld]", (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return DLM_STATUS_OK;
}

static dlm_status get_i(const where *w, const msgpack_object *map, const char *key, int64_t lo, int64_t hi, int *out) {
    int64_t v;
    dlm_status st = get_int(w, map, key, lo, hi, &v);
    if (st == DLM_STATUS_OK) *out = (int)v;
    return st;
}

static dlm_status get_bool(const where *w, const msgpack_object *map, const char *key, bool *out) {
    const msgpack_object *o = get(map, key);
    if (!o) return bad(w, key, "missing");
    if (o->type != MSGPACK_OBJECT_BOOLEAN) return bad(w, key, "expected a boolean");
    *out = o->via.boolean;
    return DLM_STATUS_OK;
}

static dlm_status get_double(const where *w, const msgpack_object *map, const char *key, double *out) {
    const msgpack_object *o = get(map, key);
    if (!o) return bad(w, key, "missing");
    if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) *out = o->via.f64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) *out = (double)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) *out = (double)o->via.i64;
    else return bad(w, key, "expected a number");
    return DLM_STATUS_OK;
}

// Copy a string field (NUL-free) into buf. nil is accepted as "" when allow_nil.
static dlm_status get_str(const where *w, const msgpack_object *map, const char *key, char *buf, size_t n) {
    const msgpack_object *o = get(map, key);
    if (!o) return bad(w, key, "missing");
    if (o->type != MSGPACK_OBJECT_STR) return bad(w, key, "expected a string");
    if (o->via.str.size >= n) return bad(w, key, "string of %u bytes is longer than %zu", o->via.str.size, n - 1);
    if (memchr(o->via.str.ptr, 0, o->via.str.size)) return bad(w, key, "string holds a NUL byte");
    memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = 0;
    return DLM_STATUS_OK;
}

// A binary column of exactly `expect` bytes.
static dlm_status get_bin(const where *w, const msgpack_object *map, const char *key, size_t expect, const uint8_t **out) {
    const msgpack_object *o = get(map, key);
    if (!o) return bad(w, key, "missing");
    if (o->type != MSGPACK_OBJECT_BIN) return bad(w, key, "expected binary data");
    if (o->via.bin.size != expect) return bad(w, key, "expected %zu bytes, got %u", expect, o->via.bin.size);
    *out = (const uint8_t *)o->via.bin.ptr;
    return DLM_STATUS_OK;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static int32_t read_id(const uint8_t *p, int width) { return width == 2 ? (int32_t)le16(p) : (int32_t)le32(p); }

// Column of ids, each < n_vocab.
static dlm_status get_ids(const where *w, const msgpack_object *map, const char *key, size_t count, int32_t *out) {
    const dlm_trace_header *h = &w->t->h;
    const uint8_t *b;
    dlm_status st = get_bin(w, map, key, count * (size_t)h->id_width, &b);
    if (st != DLM_STATUS_OK) return st;
    for (size_t i = 0; i < count; i++) {
        int32_t id = read_id(b + i * (size_t)h->id_width, h->id_width);
        if (id < 0 || id >= h->n_vocab) return bad(w, key, "token id %d (entry %zu) is outside the vocabulary [0, %d)", id, i, h->n_vocab);
        out[i] = id;
    }
    return DLM_STATUS_OK;
}

// ---- token text table ------------------------------------------------------------------------------

struct tok_slot {
    int32_t  id;   // -1: empty
    uint32_t len;
    char    *text; // malloc'd, NUL-terminated
};

static struct tok_slot *tok_find(const dlm_trace *t, int32_t id) {
    if (!t->cap_toks) return NULL;
    uint32_t mask = t->cap_toks - 1;
    for (uint32_t i = ((uint32_t)id * 2654435761u) & mask;; i = (i + 1) & mask) {
        if (t->toks[i].id == id) return &t->toks[i];
        if (t->toks[i].id < 0) return NULL;
    }
}

// The slot where id is or would go (the table has a free slot).
static struct tok_slot *tok_find_free(dlm_trace *t, int32_t id) {
    uint32_t mask = t->cap_toks - 1;
    for (uint32_t i = ((uint32_t)id * 2654435761u) & mask;; i = (i + 1) & mask)
        if (t->toks[i].id == id || t->toks[i].id < 0) return &t->toks[i];
}

static void tok_put(dlm_trace *t, int32_t id, const void *bytes, uint32_t len) {
    struct tok_slot *s = tok_find(t, id);
    if (!s) {
        if (2 * (t->n_toks + 1) > t->cap_toks) { // keep the table at most half full
            uint32_t cap = t->cap_toks ? 2 * t->cap_toks : 256;
            struct tok_slot *old = t->toks;
            uint32_t old_cap = t->cap_toks;
            t->toks = dlm_xmalloc((size_t)cap * sizeof *t->toks);
            for (uint32_t i = 0; i < cap; i++) t->toks[i].id = -1;
            t->cap_toks = cap;
            for (uint32_t i = 0; i < old_cap; i++)
                if (old[i].id >= 0) *tok_find_free(t, old[i].id) = old[i];
            free(old);
        }
        s = tok_find_free(t, id);
        s->id = id;
        s->text = NULL;
        t->n_toks++;
    }
    free(s->text);
    s->text = dlm_xmalloc(len + 1);
    if (len) memcpy(s->text, bytes, len);
    s->text[len] = 0;
    s->len = len;
}

// Token texts: new_token_ids [int], new_token_bytes [bin], same length.
static dlm_status read_tokens(dlm_trace *t, const where *w, const msgpack_object *map) {
    const msgpack_object *ids = get(map, DLM_TK(TOKENS, new_token_ids)), *bytes = get(map, DLM_TK(TOKENS, new_token_bytes));
    if (!ids && !bytes) return DLM_STATUS_OK;
    if (!ids || !bytes || ids->type != MSGPACK_OBJECT_ARRAY || bytes->type != MSGPACK_OBJECT_ARRAY ||
        ids->via.array.size != bytes->via.array.size)
        return bad(w, DLM_TK(TOKENS, new_token_ids), "must be an array of ids matching new_token_bytes");
    for (uint32_t i = 0; i < ids->via.array.size; i++) {
        const msgpack_object *id = &ids->via.array.ptr[i], *b = &bytes->via.array.ptr[i];
        if (id->type != MSGPACK_OBJECT_POSITIVE_INTEGER || id->via.u64 >= (uint64_t)t->h.n_vocab)
            return bad(w, DLM_TK(TOKENS, new_token_ids), "entry %u is not an id in [0, %d)", i, t->h.n_vocab);
        if ((b->type != MSGPACK_OBJECT_BIN && b->type != MSGPACK_OBJECT_STR) || b->via.bin.size > MAX_TOKEN_BYTES)
            return bad(w, DLM_TK(TOKENS, new_token_bytes), "entry %u is not the bytes of a token", i);
        uint64_t k = id->via.u64;
        tok_put(t, (int32_t)k, b->via.bin.ptr, b->via.bin.size);
    }
    return DLM_STATUS_OK;
}

static bool str_is(const msgpack_object *o, const char *s) {
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) && memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

// ---- header --------------------------------------------------------------------------------------

static dlm_status read_header(dlm_trace *t, const msgpack_object *o) {
    where w = {t, 0, "header"};
    dlm_trace_header *h = &t->h;
    char s[64];
    if (o->type != MSGPACK_OBJECT_MAP) return bad(&w, NULL, "not a dlmscope trace (the first object is not a map)");
    const msgpack_object *fmt = get(o, DLM_TK(HEADER, format));
    if (!fmt || fmt->type != MSGPACK_OBJECT_STR || fmt->via.str.size != strlen(DLM_TRACE_FORMAT) ||
        memcmp(fmt->via.str.ptr, DLM_TRACE_FORMAT, fmt->via.str.size) != 0)
        return bad(&w, DLM_TK(HEADER, format), "not a dlmscope trace (expected \"%s\")", DLM_TRACE_FORMAT);
    const msgpack_object *ver = get(o, DLM_TK(HEADER, version));
    if (!ver || ver->type != MSGPACK_OBJECT_ARRAY || ver->via.array.size < 2 ||
        ver->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        ver->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return bad(&w, DLM_TK(HEADER, version), "expected [major, minor]");
    if (ver->via.array.ptr[0].via.u64 > DLM_TRACE_VERSION_MAJOR)
        return bad(&w, DLM_TK(HEADER, version), "the file is format version %llu.%llu; this dlmscope reads version %d",
                   (unsigned long long)ver->via.array.ptr[0].via.u64, (unsigned long long)ver->via.array.ptr[1].via.u64,
                   DLM_TRACE_VERSION_MAJOR);
    if (!str_is(get(o, DLM_TK(HEADER, type)), "header")) return bad(&w, DLM_TK(HEADER, type), "expected \"header\"");
    h->version_major = (int)ver->via.array.ptr[0].via.u64;
    h->version_minor = ver->via.array.ptr[1].via.u64 > 1000000 ? 1000000 : (int)ver->via.array.ptr[1].via.u64;
    dlm_status st;
#define TRY(x)                                   \
    do {                                         \
        if ((st = (x)) != DLM_STATUS_OK) return st; \
    } while (0)
    TRY(get_str(&w, o, DLM_TK(HEADER, dlmscope), h->dlmscope_version, sizeof h->dlmscope_version));
    TRY(get_int(&w, o, DLM_TK(HEADER, created), INT64_MIN, INT64_MAX, &h->created));
    const msgpack_object *m = get(o, DLM_TK(HEADER, model));
    if (!m || m->type != MSGPACK_OBJECT_MAP) return bad(&w, DLM_TK(HEADER, model), "expected a map");
    snprintf(w.what, sizeof w.what, "header.model");
    TRY(get_str(&w, m, DLM_TK(MODEL, name), h->model_name, sizeof h->model_name));
    TRY(get_str(&w, m, DLM_TK(MODEL, dir), h->model_dir, sizeof h->model_dir));
    TRY(get_str(&w, m, DLM_TK(MODEL, identity), s, sizeof s));
    char *end;
    h->model_identity = strtoull(s, &end, 16);
    if (*end || !*s) return bad(&w, DLM_TK(MODEL, identity), "expected a hexadecimal hash");
    TRY(get_str(&w, m, DLM_TK(MODEL, adapter), h->adapter, sizeof h->adapter));
    TRY(get_i(&w, m, DLM_TK(MODEL, n_vocab), 2, 1 << 24, &h->n_vocab));
    TRY(get_i(&w, m, DLM_TK(MODEL, mask_id), 0, h->n_vocab - 1, &h->mask_id));
    TRY(get_i(&w, m, DLM_TK(MODEL, eos_id), -1, h->n_vocab - 1, &h->eos_id));
    snprintf(w.what, sizeof w.what, "header");
    TRY(get_str(&w, o, DLM_TK(HEADER, tokenizer), h->tokenizer, sizeof h->tokenizer));
    TRY(get_str(&w, o, DLM_TK(HEADER, device), h->device, sizeof h->device));
    TRY(get_i(&w, o, DLM_TK(HEADER, id_width), 2, 4, &h->id_width));
    if (h->id_width != 2 && h->id_width != 4) return bad(&w, DLM_TK(HEADER, id_width), "must be 2 or 4");
    if (h->id_width == 2 && h->n_vocab > 65536) return bad(&w, DLM_TK(HEADER, id_width), "2 bytes cannot hold %d ids", h->n_vocab);
    TRY(get_i(&w, o, DLM_TK(HEADER, prompt_len), 1, 1 << 24, &h->prompt_len));
    TRY(get_i(&w, o, DLM_TK(HEADER, gen_len), 1, 1 << 24, &h->gen_len));
    TRY(get_i(&w, o, DLM_TK(HEADER, n_tokens), h->prompt_len + h->gen_len, 1 << 24, &h->n_tokens));
    if (h->n_tokens > h->prompt_len + h->gen_len + (1 << 20)) return bad(&w, DLM_TK(HEADER, n_tokens), "too large for its prompt and generation");
    TRY(get_i(&w, o, DLM_TK(HEADER, block_causal), 0, 1 << 20, &h->block_causal));
    const msgpack_object *pt = get(o, DLM_TK(HEADER, prompt_text));
    if (pt && pt->type == MSGPACK_OBJECT_STR) {
        h->prompt_text = dlm_xmalloc(pt->via.str.size + 1);
        memcpy(h->prompt_text, pt->via.str.ptr, pt->via.str.size);
        h->prompt_text[pt->via.str.size] = 0;
    } else if (pt && pt->type != MSGPACK_OBJECT_NIL) {
        return bad(&w, DLM_TK(HEADER, prompt_text), "expected a string or nil");
    }
    h->prompt_ids = dlm_xmalloc((size_t)h->prompt_len * sizeof *h->prompt_ids);
    TRY(get_ids(&w, o, DLM_TK(HEADER, prompt_ids), (size_t)h->prompt_len, h->prompt_ids));
    TRY(get_str(&w, o, DLM_TK(HEADER, rule), h->rule_spec, sizeof h->rule_spec));
    if (dlm_rule_parse(h->rule_spec, &h->rule) != DLM_STATUS_OK || dlm_rule_finalize(&h->rule) != DLM_STATUS_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", dlm_error_message());
        return bad(&w, DLM_TK(HEADER, rule), "%s", msg);
    }
    if (h->rule.gen != h->gen_len) return bad(&w, DLM_TK(HEADER, rule), "gen %d differs from gen_len %d", h->rule.gen, h->gen_len);
    // The canvas is the prompt and the generation, rounded up to whole blocks when block-causal.
    if (h->block_causal ? h->n_tokens >= h->prompt_len + h->gen_len + h->rule.block
                        : h->n_tokens != h->prompt_len + h->gen_len)
        return bad(&w, DLM_TK(HEADER, n_tokens), "%d does not fit prompt %d + generation %d (blocks of %d%s)", h->n_tokens, h->prompt_len,
                   h->gen_len, h->rule.block, h->block_causal ? ", block-causal" : "");
    TRY(get_str(&w, o, DLM_TK(HEADER, parent), h->parent, sizeof h->parent));
    TRY(get_i(&w, o, DLM_TK(HEADER, parent_step), -1, INT32_MAX, &h->parent_step));
#undef TRY
    return read_tokens(t, &w, o);
}

// ---- scan ------------------------------------------------------------------------------------------

// Read what the file holds beyond the bytes already read. A file that shrank was rewritten in
// place under us: what was read stays, and the problem says so.
static dlm_status read_more(dlm_trace *t) {
    struct stat st;
    if (fstat(t->fd, &st) != 0) return dlm_error(DLM_STATUS_IO, "%s: %s", t->path, strerror(errno));
    if ((uint64_t)st.st_size < t->size) {
        snprintf(t->problem, sizeof t->problem,
                 "%s: the file shrank from %zu to %lld bytes while open (rewritten by another program?); %d steps read before",
                 t->path, t->size, (long long)st.st_size, t->n_steps);
        return DLM_STATUS_OK;
    }
    size_t want = (size_t)st.st_size - t->size;
    if (want == 0) return DLM_STATUS_OK;
    t->map = dlm_xrealloc(t->map, t->size + want);
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(t->fd, t->map + t->size + got, want - got, (off_t)(t->size + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return dlm_error(DLM_STATUS_IO, "%s: read: %s", t->path, strerror(errno));
        if (r == 0) break; // cut short since fstat: keep what came
        got += (size_t)r;
    }
    t->size += got;
    return DLM_STATUS_OK;
}

static dlm_status open_file(dlm_trace *t) {
    // O_NONBLOCK: a FIFO must not block the open; it is refused just below.
    int fd = open(t->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return dlm_error(DLM_STATUS_IO, "%s: %s", t->path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return dlm_error(DLM_STATUS_IO, "%s: %s", t->path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (S_ISDIR(st.st_mode)) return dlm_error(DLM_STATUS_IO, "%s: is a directory, not a trace", t->path);
        return dlm_error(DLM_STATUS_IO, "%s: not a regular file", t->path);
    }
    if (st.st_size == 0) {
        close(fd);
        return dlm_error(DLM_STATUS_FORMAT, "%s: empty file, not a trace", t->path);
    }
    t->fd = fd;
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    dlm_status e = read_more(t);
    if (e == DLM_STATUS_OK && t->size == 0) e = dlm_error(DLM_STATUS_FORMAT, "%s: empty file, not a trace", t->path);
    return e;
}

// Parse the object at [off, off+len) (already walked) into `up`.
static bool unpack_at(const dlm_trace *t, size_t off, size_t len, msgpack_unpacked *up) {
    size_t used = 0;
    msgpack_unpack_return r = msgpack_unpack_next(up, (const char *)t->map + off, len, &used);
    return (r == MSGPACK_UNPACK_SUCCESS || r == MSGPACK_UNPACK_EXTRA_BYTES) && used == len;
}


static dlm_status read_info(dlm_trace *t, const where *w, const msgpack_object *o, dlm_trace_step_info *info) {
    dlm_status st;
    if ((st = get_i(w, o, DLM_TK(STEP, step), 0, INT32_MAX, &info->step)) != DLM_STATUS_OK) return st;
    if ((st = get_i(w, o, DLM_TK(STEP, block), 0, 1 << 24, &info->block)) != DLM_STATUS_OK) return st;
    if ((st = get_i(w, o, DLM_TK(STEP, step_in_block), 0, INT32_MAX, &info->step_in_block)) != DLM_STATUS_OK) return st;
    int n = t->h.n_tokens;
    if ((st = get_i(w, o, DLM_TK(STEP, commits), 0, n, &info->n_commits)) != DLM_STATUS_OK) return st;
    if ((st = get_i(w, o, DLM_TK(STEP, edits), 0, n, &info->n_edits)) != DLM_STATUS_OK) return st;
    if ((st = get_i(w, o, DLM_TK(STEP, remasks), 0, n, &info->n_remasks)) != DLM_STATUS_OK) return st;
    if ((st = get_i(w, o, DLM_TK(STEP, transitions), 0, n, &info->n_transitions)) != DLM_STATUS_OK) return st;
    if ((st = get_i(w, o, DLM_TK(STEP, finalized), 0, n, &info->n_finalized)) != DLM_STATUS_OK) return st;
    if ((st = get_i(w, o, DLM_TK(STEP, stuck), 0, n, &info->n_stuck)) != DLM_STATUS_OK) return st;
    if ((st = get_bool(w, o, DLM_TK(STEP, done), &info->done)) != DLM_STATUS_OK) return st;
    if ((st = get_double(w, o, DLM_TK(STEP, forward_ms), &info->forward_ms)) != DLM_STATUS_OK) return st;
    const msgpack_object *iv = get(o, DLM_TK(STEP, interventions));
    info->n_interventions = iv && iv->type == MSGPACK_OBJECT_ARRAY ? (int)(iv->via.array.size < 255 ? iv->via.array.size : 255) : 0;
    info->rule = -1;
    const msgpack_object *sess = get(o, DLM_TK(STEP, session)), *rule = sess ? get(sess, DLM_TK(SESSION, rule)) : NULL;
    if (rule && rule->type == MSGPACK_OBJECT_STR && rule->via.str.size < 512) {
        for (int i = 0; i < t->n_rules && info->rule < 0; i++)
            if (strlen(t->rules[i]) == rule->via.str.size && memcmp(t->rules[i], rule->via.str.ptr, rule->via.str.size) == 0)
                info->rule = i;
        if (info->rule < 0 && t->n_rules < 4096) {
            t->rules = dlm_xrealloc(t->rules, (size_t)(t->n_rules + 1) * sizeof *t->rules);
            char *spec = dlm_xmalloc(rule->via.str.size + 1);
            memcpy(spec, rule->via.str.ptr, rule->via.str.size);
            spec[rule->via.str.size] = 0;
            t->rules[t->n_rules] = spec;
            info->rule = t->n_rules++;
        }
    }
    return DLM_STATUS_OK;
}

const char *dlm_trace_rule_spec(const dlm_trace *t, int i) { return i >= 0 && i < t->n_rules ? t->rules[i] : ""; }

// Index records from scan_pos on. Damage stops the scan and is described in t->problem.
static dlm_status scan(dlm_trace *t) {
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    dlm_status result = DLM_STATUS_OK;
    while (t->scan_pos < t->size && !t->problem[0]) {
        size_t off = t->scan_pos, len;
        int r = walk(t->map + off, t->size - off, &len, 0);
        if (r == WALK_SHORT) {
            t->tail_cut = true;
            snprintf(t->problem, sizeof t->problem,
                     "%s: byte %zu: truncated: the record after step %d is incomplete (%zu bytes left); %d complete steps read",
                     t->path, off, t->n_steps - 1, t->size - off, t->n_steps);
            break;
        }
        if (r == WALK_BAD || !unpack_at(t, off, len, &up)) {
            snprintf(t->problem, sizeof t->problem, "%s: byte %zu: damaged: not a msgpack object after step %d; %d steps read",
                     t->path, off, t->n_steps - 1, t->n_steps);
            break;
        }
        where w = {t, off, ""};
        const msgpack_object *o = &up.data, *type = get(o, DLM_TK(STEP, type));
        if (str_is(type, "step")) {
            snprintf(w.what, sizeof w.what, "step record %d", t->n_steps);
            dlm_trace_step_info info = {0};
            const size_t G = (size_t)(t->h.n_tokens - t->h.prompt_len);
            dlm_status st = DLM_STATUS_OK;
            if (len < G * MIN_STEP_BYTES_PER_POS)
                st = bad(&w, NULL, "%zu bytes cannot hold the %zu generation positions of the header", len, G);
            if (st == DLM_STATUS_OK) st = read_info(t, &w, o, &info);
            // Records come in order, one per step: record k is step k (a resume relies on it).
            if (st == DLM_STATUS_OK && info.step != t->n_steps)
                st = bad(&w, DLM_TK(STEP, step), "%d where step %d was due (records out of order or repeated)", info.step, t->n_steps);
            if (st == DLM_STATUS_OK) st = read_tokens(t, &w, o);
            if (st != DLM_STATUS_OK) { // a damaged record: keep what came before it
                snprintf(t->problem, sizeof t->problem, "%s", dlm_error_message());
                break;
            }
            if (t->n_steps == t->cap) {
                t->cap = t->cap ? 2 * t->cap : 256;
                t->offs = dlm_xrealloc(t->offs, (size_t)t->cap * sizeof *t->offs);
                t->lens = dlm_xrealloc(t->lens, (size_t)t->cap * sizeof *t->lens);
                t->info = dlm_xrealloc(t->info, (size_t)t->cap * sizeof *t->info);
            }
            t->offs[t->n_steps] = off;
            t->lens[t->n_steps] = (uint32_t)len;
            t->info[t->n_steps] = info;
            t->n_steps++;
        } else if (str_is(type, "footer")) {
            t->has_footer = true;
        } // other record types (later versions) are skipped
        t->scan_pos = off + len;
    }
    msgpack_unpacked_destroy(&up);
    return result;
}

static dlm_status open_common(dlm_trace *t, dlm_status st, dlm_trace **out) {
    if (st == DLM_STATUS_OK) {
        size_t len;
        int r = walk(t->map, t->size, &len, 0);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        where w = {t, 0, "header"};
        if (r == WALK_SHORT) st = bad(&w, NULL, "the header record is incomplete (the file is %zu bytes)", t->size);
        else if (r == WALK_BAD || !unpack_at(t, 0, len, &up)) st = bad(&w, NULL, "not a msgpack file, not a dlmscope trace");
        else st = read_header(t, &up.data);
        msgpack_unpacked_destroy(&up);
        if (st == DLM_STATUS_OK) {
            t->scan_pos = len;
            st = scan(t);
        }
        // A claim no step record backs is still bounded (what viewers allocate for it).
        const int G = t->h.n_tokens - t->h.prompt_len;
        if (st == DLM_STATUS_OK && t->n_steps == 0 && G > MAX_UNBACKED_POSITIONS)
            st = bad(&w, DLM_TK(HEADER, n_tokens), "%d generation positions and no step record that holds them (at most %d without one)", G,
                     MAX_UNBACKED_POSITIONS);
    }
    if (st != DLM_STATUS_OK) {
        dlm_trace_close(t);
        return st;
    }
    *out = t;
    return DLM_STATUS_OK;
}

dlm_status dlm_trace_open(const char *path, dlm_trace **out) {
    *out = NULL;
    dlm_trace *t = dlm_xcalloc(1, sizeof *t);
    t->path = dlm_xstrdup(path);
    t->fd = -1;
    return open_common(t, open_file(t), out);
}

dlm_status dlm_trace_open_buffer(const void *data, size_t n, const char *name, dlm_trace **out) {
    *out = NULL;
    dlm_trace *t = dlm_xcalloc(1, sizeof *t);
    t->path = dlm_xstrdup(name);
    t->owned = true;
    t->fd = -1;
    dlm_status st = DLM_STATUS_OK;
    if (n == 0) {
        st = dlm_error(DLM_STATUS_FORMAT, "%s: empty file, not a trace", name);
    } else {
        t->map = dlm_xmalloc(n);
        memcpy(t->map, data, n);
        t->size = n;
    }
    return open_common(t, st, out);
}

dlm_status dlm_trace_refresh(dlm_trace *t) {
    if (t->owned || t->fd < 0) return DLM_STATUS_OK; // a buffer never grows
    if (t->problem[0] && !t->tail_cut) return DLM_STATUS_OK; // damage stays damage
    // The path now naming another file (a writer replaced it): keep following the one we read.
    struct stat st;
    if (stat(t->path, &st) == 0 && (st.st_dev != t->dev || st.st_ino != t->ino)) {
        snprintf(t->problem, sizeof t->problem, "%s: replaced by a new file since it was opened; reopen it to see that one",
                 t->path);
        return DLM_STATUS_OK;
    }
    char was[sizeof t->problem];
    snprintf(was, sizeof was, "%s", t->problem);
    t->problem[0] = 0; // a truncated tail may have been completed by the writer
    t->tail_cut = false;
    size_t before = t->size;
    dlm_status e = read_more(t);
    if (e != DLM_STATUS_OK || t->problem[0]) return e;
    if (t->size == before && was[0]) { // nothing new: the tail is still cut
        snprintf(t->problem, sizeof t->problem, "%s", was);
        t->tail_cut = true;
        return DLM_STATUS_OK;
    }
    return scan(t);
}

void dlm_trace_close(dlm_trace *t) {
    if (!t) return;
    free(t->map);
    if (t->fd >= 0) close(t->fd);
    for (uint32_t i = 0; i < t->cap_toks; i++)
        if (t->toks[i].id >= 0) free(t->toks[i].text);
    free(t->toks);
    for (int i = 0; i < t->n_rules; i++) free(t->rules[i]);
    free(t->rules);
    free(t->offs);
    free(t->lens);
    free(t->info);
    dlm_trace_header_free(&t->h);
    free(t->path);
    free(t);
}

const dlm_trace_header *dlm_trace_header_of(const dlm_trace *t) { return &t->h; }
const char *dlm_trace_path(const dlm_trace *t) { return t->path; }
int dlm_trace_n_steps(const dlm_trace *t) { return t->n_steps; }
const dlm_trace_step_info *dlm_trace_info(const dlm_trace *t, int i) { return i >= 0 && i < t->n_steps ? &t->info[i] : NULL; }
const char *dlm_trace_problem(const dlm_trace *t) { return t->problem[0] ? t->problem : NULL; }
bool dlm_trace_has_footer(const dlm_trace *t) { return t->has_footer; }

const char *dlm_trace_token(const dlm_trace *t, int32_t id, size_t *len) {
    const struct tok_slot *s = id >= 0 && id < t->h.n_vocab ? tok_find(t, id) : NULL;
    if (!s) return NULL;
    if (len) *len = s->len;
    return s->text;
}

dlm_status dlm_trace_raw_step(const dlm_trace *t, int i, const void **bytes, size_t *n) {
    if (i < 0 || i >= t->n_steps) return dlm_error(DLM_STATUS_ARG, "%s: no step %d (the trace has %d)", t->path, i, t->n_steps);
    *bytes = t->map + t->offs[i];
    *n = t->lens[i];
    return DLM_STATUS_OK;
}

static dlm_status raw_step_of(void *ctx, int i, const void **bytes, size_t *n) { return dlm_trace_raw_step(ctx, i, bytes, n); }

void dlm_trace_as_parent(const dlm_trace *t, int step, dlm_record_parent *out) {
    const dlm_trace_header *h = dlm_trace_header_of(t);
    *out = (dlm_record_parent){.path = dlm_trace_path(t), .step = step, .rule = &h->rule, .rule_spec = h->rule_spec,
                               .prompt_text = h->prompt_text, .ctx = (void *)t, .raw_step = raw_step_of};
}

// ---- step records -----------------------------------------------------------------------------------

// Soft inputs (S slots per position) over the generation region from columns `ids_key` and
// `w_key`; prompt positions are fed their own token (one-hot in the last slot), as the session does.
static dlm_status read_soft_inputs(const where *w, const msgpack_object *s, const char *ids_key, const char *w_key, int S,
                                   const int32_t *tokens, int P, int G, int32_t *ids, float *wt) {
    for (int i = 0; i < P; i++) {
        for (int j = 0; j < S; j++) ids[(size_t)i * S + j] = tokens[i];
        wt[(size_t)i * S + S - 1] = 1.0f;
    }
    dlm_status e;
    const uint8_t *b;
    if ((e = get_ids(w, s, ids_key, (size_t)G * S, ids + (size_t)P * S)) != DLM_STATUS_OK) return e;
    if ((e = get_bin(w, s, w_key, (size_t)G * S * 2, &b)) != DLM_STATUS_OK) return e;
    for (size_t k = 0; k < (size_t)G * S; k++) {
        float f = dlm_bf16_to_f32(le16(b + 2 * k));
        if (!isfinite(f)) return bad(w, w_key, "entry %zu is not finite", k);
        wt[(size_t)P * S + k] = f;
    }
    return DLM_STATUS_OK;
}

// The interventions applied before a step (absent: none), checked against the canvas.
static dlm_status read_interventions(dlm_trace *t, const where *w, const msgpack_object *o, dlm_step *out) {
    const dlm_trace_header *h = &t->h;
    out->n_interventions = 0;
    const msgpack_object *a = get(o, DLM_TK(STEP, interventions));
    if (!a) return DLM_STATUS_OK;
    const char *key = DLM_TK(STEP, interventions);
    if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size > DLM_STEP_MAX_INTERVENTIONS)
        return bad(w, key, "expected an array of at most %d maps", DLM_STEP_MAX_INTERVENTIONS);
    for (uint32_t k = 0; k < a->via.array.size; k++) {
        const msgpack_object *e = &a->via.array.ptr[k];
        if (e->type != MSGPACK_OBJECT_MAP) return bad(w, key, "entry %u is not a map", k);
        dlm_intervention *iv = &out->interventions[k];
        memset(iv, 0, sizeof *iv);
        char what[16];
        dlm_status st;
        if ((st = get_str(w, e, DLM_TK(INTERVENTION, who), iv->who, sizeof iv->who)) != DLM_STATUS_OK) return st;
        if ((st = get_str(w, e, DLM_TK(INTERVENTION, what), what, sizeof what)) != DLM_STATUS_OK) return st;
        int kind = dlm_intervention_find(what);
        if (kind < 0) return bad(w, DLM_TK(INTERVENTION, what), "entry %u: unknown intervention '%s'", k, what);
        iv->kind = (uint8_t)kind;
        if ((st = get_i(w, e, DLM_TK(INTERVENTION, pos), h->prompt_len, h->n_tokens - 1, &iv->pos)) != DLM_STATUS_OK) return st;
        if ((st = get_i(w, e, DLM_TK(INTERVENTION, end), iv->pos + 1, h->n_tokens, &iv->end)) != DLM_STATUS_OK) return st;
        iv->token = -1;
        if (kind == DLM_IV_FORCE) {
            if (iv->end != iv->pos + 1) return bad(w, DLM_TK(INTERVENTION, end), "entry %u: a force covers one position", k);
            if ((st = get_i(w, e, DLM_TK(INTERVENTION, token), 0, h->n_vocab - 1, &iv->token)) != DLM_STATUS_OK) return st;
        }
        out->n_interventions = (int)k + 1;
        for (int i = iv->pos; i < iv->end; i++) out->pos[i].intervened |= (uint8_t)(1u << kind);
    }
    return DLM_STATUS_OK;
}

static dlm_status read_state(dlm_trace *t, const where *w0, const msgpack_object *o, const dlm_step *snap,
                             dlm_session_state *out) {
    const dlm_trace_header *h = &t->h;
    const int P = h->prompt_len, N = h->n_tokens, G = N - P;
    memset(out, 0, sizeof *out);
    where w = *w0;
    snprintf(w.what + strlen(w.what), sizeof w.what - strlen(w.what), ".session");
    const msgpack_object *s = get(o, DLM_TK(STEP, session));
    if (!s || s->type != MSGPACK_OBJECT_MAP) return bad(w0, DLM_TK(STEP, session), "expected a map (the session state)");
    dlm_session_state *st = out;
    memset(st, 0, sizeof *st);
    char spec[512];
    dlm_status e;
    if ((e = get_str(&w, s, DLM_TK(SESSION, rule), spec, sizeof spec)) != DLM_STATUS_OK) return e;
    if (dlm_rule_parse(spec, &st->rule) != DLM_STATUS_OK || dlm_rule_finalize(&st->rule) != DLM_STATUS_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", dlm_error_message());
        return bad(&w, DLM_TK(SESSION, rule), "%s", msg);
    }
    if (st->rule.gen != h->gen_len) return bad(&w, DLM_TK(SESSION, rule), "gen %d differs from the header's %d", st->rule.gen, h->gen_len);
    st->n_tokens = N, st->prompt_len = P, st->gen_len = h->gen_len, st->block_causal = h->block_causal;
    if ((e = get_i(&w, s, DLM_TK(SESSION, block), 0, N, &st->block)) != DLM_STATUS_OK) return e;
    // Counters are bounded by the record's place in the file: after step k, k + 1 steps were run,
    // the block's share of them, and at most one pending mask-free iteration more.
    if ((e = get_i(&w, s, DLM_TK(SESSION, step), snap->step + 1, snap->step + 1, &st->step)) != DLM_STATUS_OK) return e;
    if ((e = get_i(&w, s, DLM_TK(SESSION, step_in_block), 0, st->step, &st->step_in_block)) != DLM_STATUS_OK) return e;
    if ((e = get_i(&w, s, DLM_TK(SESSION, post_steps), 0, st->step_in_block + 1, &st->post_steps)) != DLM_STATUS_OK) return e;
    if ((e = get_i(&w, s, DLM_TK(SESSION, block_masks), 0, N, &st->block_masks)) != DLM_STATUS_OK) return e;
    if ((e = get_bool(&w, s, DLM_TK(SESSION, done), &st->done)) != DLM_STATUS_OK) return e;
    if ((e = get_bool(&w, s, DLM_TK(SESSION, stopped), &st->stopped)) != DLM_STATUS_OK) return e;
    if ((e = get_bool(&w, s, DLM_TK(SESSION, prev_valid), &st->prev_valid)) != DLM_STATUS_OK) return e;
    int S = 0;
    if (get(s, DLM_TK(SESSION, soft_k)) && (e = get_i(&w, s, DLM_TK(SESSION, soft_k), 1, DLM_SOFT_MAX, &S)) != DLM_STATUS_OK) return e;
    st->soft_k = S;
    st->tokens = dlm_xcalloc((size_t)N, sizeof *st->tokens);
    st->state = dlm_xcalloc((size_t)N, sizeof *st->state);
    st->hist_conf = dlm_xcalloc((size_t)N, sizeof *st->hist_conf);
    st->remask_count = dlm_xcalloc((size_t)N, sizeof *st->remask_count);
    st->prev_p = dlm_xcalloc((size_t)N, sizeof *st->prev_p);
    st->pinned = dlm_xcalloc((size_t)N, sizeof *st->pinned);
    st->soft_ids = dlm_xcalloc((size_t)N * (S ? S : 1), sizeof *st->soft_ids);
    st->soft_w = dlm_xcalloc((size_t)N * (S ? S : 1), sizeof *st->soft_w);
    for (int i = 0; i < N; i++) {
        st->tokens[i] = snap->pos[i].token;
        st->state[i] = snap->pos[i].state;
    }
    const uint8_t *b;
    const dlm_rule_ops *ops = dlm_rule_ops_of(st->rule.kind); // the rule's own per-position state
    for (int k = 0; k < ops->n_state_cols; k++) {
        const dlm_rule_state_col *sc = &ops->state_cols[k];
        if (!get(s, sc->name)) continue; // absent: zeros
        void *arr = *(void **)((char *)st + sc->offset);
        size_t width = sc->type == DLM_STATE_F32 ? 4 : 2;
        if ((e = get_bin(&w, s, sc->name, (size_t)G * width, &b)) != DLM_STATUS_OK) return e;
        for (int i = 0; i < G; i++) {
            if (sc->type == DLM_STATE_F32) {
                uint32_t u = le32(b + 4 * i);
                memcpy(&((float *)arr)[P + i], &u, 4);
            } else {
                ((uint16_t *)arr)[P + i] = le16(b + 2 * i);
            }
        }
    }
    // Pinned positions (absent, as in traces before 1.3: none); a pin holds a generated token.
    if (get(s, DLM_TK(SESSION, pinned))) {
        if ((e = get_bin(&w, s, DLM_TK(SESSION, pinned), (size_t)G, &b)) != DLM_STATUS_OK) return e;
        for (int i = 0; i < G; i++) {
            if (b[i] > 1 || (b[i] && st->tokens[P + i] == h->mask_id))
                return bad(&w, DLM_TK(SESSION, pinned), "value %u at position %d (a pin is 1, on a token)", b[i], P + i);
            st->pinned[P + i] = b[i];
        }
    }
    // Pipelined rules (d2f): each generation block's state (absent, as before 1.4: none kept).
    st->block_info = dlm_xcalloc((size_t)N, 1);
    if (get(s, DLM_TK(SESSION, blocks))) {
        if ((e = get_bin(&w, s, DLM_TK(SESSION, blocks), (size_t)snap->n_blocks, &b)) != DLM_STATUS_OK) return e;
        for (int i = 0; i < snap->n_blocks; i++) {
            if (b[i] > (DLM_BSTATE_MASK | DLM_BSTATE_COMPLETE | DLM_BSTATE_FRESH))
                return bad(&w, DLM_TK(SESSION, blocks), "value %u of block %d is not a block state", b[i], i);
            st->block_info[i] = b[i];
        }
    }
    // official-block cache: the tokens of the last forwards (absent: finished blocks taken as exact)
    st->last_fwd_ids = dlm_xcalloc((size_t)N, sizeof *st->last_fwd_ids);
    memcpy(st->last_fwd_ids, st->tokens, (size_t)N * sizeof *st->last_fwd_ids);
    if (get(s, DLM_TK(SESSION, last_fwd_ids)) && (e = get_ids(&w, s, DLM_TK(SESSION, last_fwd_ids), (size_t)G, st->last_fwd_ids + P)) != DLM_STATUS_OK)
        return e;
    if (S > 0 && (e = read_soft_inputs(&w, s, DLM_TK(SESSION, soft_ids), DLM_TK(SESSION, soft_w), S, st->tokens, P, G, st->soft_ids, st->soft_w)) != DLM_STATUS_OK)
        return e;
    // KV cache: the inputs of the forward that last refreshed it (prompt positions: the prompt).
    st->cache_ids = dlm_xcalloc((size_t)N, sizeof *st->cache_ids);
    if (get(s, DLM_TK(SESSION, cache_len))) {
        if ((e = get_i(&w, s, DLM_TK(SESSION, cache_len), 1, N, &st->cache_len)) != DLM_STATUS_OK) return e;
        memcpy(st->cache_ids, st->tokens, (size_t)P * sizeof *st->cache_ids);
        if ((e = get_ids(&w, s, DLM_TK(SESSION, cache_ids), (size_t)G, st->cache_ids + P)) != DLM_STATUS_OK) return e;
        int CS = 0;
        if (get(s, DLM_TK(SESSION, cache_soft_k)) && (e = get_i(&w, s, DLM_TK(SESSION, cache_soft_k), 1, DLM_SOFT_MAX, &CS)) != DLM_STATUS_OK) return e;
        if (CS > 0) {
            st->cache_soft_k = CS;
            st->cache_soft_ids = dlm_xcalloc((size_t)N * CS, sizeof *st->cache_soft_ids);
            st->cache_soft_w = dlm_xcalloc((size_t)N * CS, sizeof *st->cache_soft_w);
            if ((e = read_soft_inputs(&w, s, DLM_TK(SESSION, cache_soft_ids), DLM_TK(SESSION, cache_soft_w), CS, st->tokens, P, G, st->cache_soft_ids,
                                      st->cache_soft_w)) != DLM_STATUS_OK)
                return e;
        }
    }
    return DLM_STATUS_OK;
}

dlm_status dlm_trace_read_step(dlm_trace *t, int idx, dlm_step *out, dlm_session_state *state) {
    if (idx < 0 || idx >= t->n_steps) return dlm_error(DLM_STATUS_ARG, "%s: no step %d (the trace has %d)", t->path, idx, t->n_steps);
    const dlm_trace_header *h = &t->h;
    const int P = h->prompt_len, N = h->n_tokens, G = N - P;
    if (state) memset(state, 0, sizeof *state);
    if (out->n_tokens < N) return dlm_error(DLM_STATUS_ARG, "step buffer of %d positions for a trace of %d", out->n_tokens, N);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    where w = {t, (size_t)t->offs[idx], ""};
    snprintf(w.what, sizeof w.what, "step record %d", idx);
    dlm_status e = DLM_STATUS_OK;
    int32_t *ids = NULL, *prev = NULL;
    if (!unpack_at(t, (size_t)t->offs[idx], t->lens[idx], &up)) {
        e = bad(&w, NULL, "cannot be decoded");
        goto done;
    }
    const msgpack_object *o = &up.data;
    dlm_pos_info *pos = out->pos;
    memset(pos, 0, (size_t)N * sizeof *pos);
    const dlm_trace_step_info *info = &t->info[idx];
    out->step = info->step, out->block = info->block, out->step_in_block = info->step_in_block;
    out->n_commits = info->n_commits, out->n_edits = info->n_edits, out->n_remasks = info->n_remasks;
    out->n_transitions = info->n_transitions, out->n_finalized = info->n_finalized, out->n_stuck = info->n_stuck;
    out->done = info->done, out->forward_ms = info->forward_ms;
    out->prompt_len = P, out->gen_len = h->gen_len, out->n_tokens = N;
#define TRY(x)                                    \
    do {                                          \
        if ((e = (x)) != DLM_STATUS_OK) goto done; \
    } while (0)
    TRY(get_i(&w, o, DLM_TK(STEP, n_blocks), 1, N, &out->n_blocks));
    TRY(get_i(&w, o, DLM_TK(STEP, block_start), 0, N - 1, &out->block_start));
    TRY(get_i(&w, o, DLM_TK(STEP, block_end), out->block_start + 1, N, &out->block_end));
    TRY(get_double(&w, o, DLM_TK(STEP, step_ms), &out->step_ms));
    for (int i = 0; i < P; i++) {
        pos[i].token = pos[i].prev_token = h->prompt_ids[i];
        pos[i].state = DLM_POS_PROMPT;
    }
    int K;
    TRY(get_i(&w, o, DLM_TK(STEP, top_k), 1, DLM_SNAPSHOT_TOP_MAX, &K));
    ids = dlm_xmalloc((size_t)G * (K > DLM_SOFT_MAX ? K : DLM_SOFT_MAX) * sizeof *ids);
    const uint8_t *b;
    TRY(get_ids(&w, o, DLM_TK(STEP, token), (size_t)G, ids));
    for (int i = 0; i < G; i++) pos[P + i].token = pos[P + i].prev_token = ids[i];
    TRY(get_bin(&w, o, DLM_TK(STEP, state), (size_t)G, &b));
    for (int i = 0; i < G; i++) {
        if (b[i] >= DLM_POS_STATE_COUNT || b[i] == DLM_POS_PROMPT) {
            e = bad(&w, DLM_TK(STEP, state), "value %u at position %d is not a generation state", b[i], P + i);
            goto done;
        }
        pos[P + i].state = b[i];
    }
    TRY(get_bin(&w, o, DLM_TK(STEP, events), (size_t)G, &b));
    for (int i = 0; i < G; i++) {
        if (b[i] >= 32) {
            e = bad(&w, DLM_TK(STEP, events), "value %u at position %d has unknown bits", b[i], P + i);
            goto done;
        }
        pos[P + i].events = b[i];
    }
    TRY(get_bin(&w, o, DLM_TK(STEP, flags), (size_t)G, &b));
    for (int i = 0; i < G; i++) {
        if (b[i] > 3) {
            e = bad(&w, DLM_TK(STEP, flags), "value %u at position %d has unknown bits", b[i], P + i);
            goto done;
        }
        pos[P + i].has_dist = b[i] & DLM_TRACE_FLAG_HAS_DIST;
        pos[P + i].stuck = b[i] & DLM_TRACE_FLAG_STUCK;
    }
    TRY(get_ids(&w, o, DLM_TK(STEP, sampled), (size_t)G, ids));
    for (int i = 0; i < G; i++) pos[P + i].sampled = ids[i];
    TRY(get_bin(&w, o, DLM_TK(STEP, p_sampled), (size_t)G * 2, &b));
    for (int i = 0; i < G; i++) pos[P + i].p_sampled = dlm_trace_dequant_p(le16(b + 2 * i));
    TRY(get_bin(&w, o, DLM_TK(STEP, p_current), (size_t)G * 2, &b));
    for (int i = 0; i < G; i++) pos[P + i].p_current = dlm_trace_dequant_p(le16(b + 2 * i));
    TRY(get_bin(&w, o, DLM_TK(STEP, entropy), (size_t)G * 2, &b));
    for (int i = 0; i < G; i++) pos[P + i].entropy = dlm_trace_dequant_entropy(le16(b + 2 * i));
    TRY(get_bin(&w, o, DLM_TK(STEP, n_top), (size_t)G, &b));
    for (int i = 0; i < G; i++) {
        if (b[i] > K) {
            e = bad(&w, DLM_TK(STEP, n_top), "%u candidates at position %d, more than top_k %d", b[i], P + i, K);
            goto done;
        }
        pos[P + i].n_top = b[i];
    }
    TRY(get_ids(&w, o, DLM_TK(STEP, top_id), (size_t)G * K, ids));
    TRY(get_bin(&w, o, DLM_TK(STEP, top_p), (size_t)G * K * 2, &b));
    for (int i = 0; i < G; i++)
        for (int j = 0; j < pos[P + i].n_top; j++) {
            pos[P + i].top_id[j] = ids[(size_t)i * K + j];
            pos[P + i].top_p[j] = dlm_trace_dequant_p(le16(b + 2 * ((size_t)i * K + j)));
        }
    const msgpack_object *ch = get(o, DLM_TK(STEP, changes));
    if (!ch || ch->type != MSGPACK_OBJECT_BIN || ch->via.bin.size % 8 != 0 || ch->via.bin.size / 8 > (uint32_t)G) {
        e = bad(&w, DLM_TK(STEP, changes), "expected (position, previous token) pairs of 8 bytes, at most one per position");
        goto done;
    }
    for (uint32_t k = 0; k < ch->via.bin.size / 8; k++) {
        const uint8_t *pp = (const uint8_t *)ch->via.bin.ptr + 8 * k;
        uint32_t p = le32(pp), pv = le32(pp + 4);
        if (p < (uint32_t)P || p >= (uint32_t)N || pv >= (uint32_t)h->n_vocab) {
            e = bad(&w, DLM_TK(STEP, changes), "entry %u (position %u, token %u) is out of range", k, p, pv);
            goto done;
        }
        pos[p].prev_token = (int32_t)pv;
    }
    if (get(o, DLM_TK(STEP, soft_k))) {
        int S;
        TRY(get_i(&w, o, DLM_TK(STEP, soft_k), 1, DLM_SOFT_MAX, &S));
        TRY(get_bin(&w, o, DLM_TK(STEP, n_soft), (size_t)G, &b));
        for (int i = 0; i < G; i++) {
            if (b[i] > S) {
                e = bad(&w, DLM_TK(STEP, n_soft), "%u entries at position %d, more than soft_k %d", b[i], P + i, S);
                goto done;
            }
            pos[P + i].n_soft = b[i];
        }
        TRY(get_ids(&w, o, DLM_TK(STEP, soft_id), (size_t)G * S, ids));
        TRY(get_bin(&w, o, DLM_TK(STEP, soft_w), (size_t)G * S * 2, &b));
        for (int i = 0; i < G; i++)
            for (int j = 0; j < pos[P + i].n_soft; j++) {
                pos[P + i].soft_id[j] = ids[(size_t)i * S + j];
                pos[P + i].soft_w[j] = dlm_bf16_to_f32(le16(b + 2 * ((size_t)i * S + j)));
            }
    }
    TRY(read_interventions(t, &w, o, out));
    dlm_step_reserve_experts(out, 0, 0, 0);
    if (get(o, DLM_TK(STEP, experts))) { // MoE models: the experts of every position, -1 (0xffff) where not computed
        int n_layers, per_layer, first;
        TRY(get_i(&w, o, DLM_TK(STEP, moe_layers), 1, 1024, &n_layers));
        TRY(get_i(&w, o, DLM_TK(STEP, experts_per_layer), 1, 64, &per_layer));
        TRY(get_i(&w, o, DLM_TK(STEP, first_moe_layer), 0, 1023, &first));
        const size_t E = (size_t)n_layers * per_layer;
        TRY(get_bin(&w, o, DLM_TK(STEP, experts), (size_t)G * E * 2, &b));
        dlm_step_reserve_experts(out, n_layers, per_layer, first);
        for (size_t j = 0; j < (size_t)P * E; j++) out->experts[j] = -1;
        for (size_t j = 0; j < (size_t)G * E; j++) {
            uint16_t v = le16(b + 2 * j);
            if (v != 0xffff && v >= DLM_MAX_EXPERTS) {
                e = bad(&w, DLM_TK(STEP, experts), "expert %u at position %zu is out of range", v, P + j / E);
                goto done;
            }
            out->experts[(size_t)P * E + j] = v == 0xffff ? -1 : (int16_t)v;
        }
    }
    // State: always decoded for the exact values the snapshot shows (historical best, counters).
    dlm_session_state tmp = {0}, *st = state ? state : &tmp;
    e = read_state(t, &w, o, out, st);
    if (e == DLM_STATUS_OK) {
        for (int i = P; i < N; i++) {
            pos[i].hist_conf = st->hist_conf[i];
            pos[i].remask_count = st->remask_count[i];
            pos[i].pinned = st->pinned[i];
        }
        const msgpack_object *sess = get(o, DLM_TK(STEP, session));
        out->n_block_info = get(sess, DLM_TK(SESSION, blocks)) ? out->n_blocks : 0;
        memcpy(out->block_info, st->block_info, (size_t)out->n_block_info);
    }
    if (e != DLM_STATUS_OK || !state) dlm_session_state_free(st);
#undef TRY
done:
    free(ids);
    free(prev);
    msgpack_unpacked_destroy(&up);
    return e;
}
