// safetensors.c — hostile-input safetensors reader over mmap.
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strmap.h"
#include "util.h"

#define MAX_HEADER_BYTES (100u << 20) // the reference implementation caps headers at 100 MB

typedef struct {
    char  *path;
    void  *map;
    size_t map_size;
} mapped_file;

struct dlm_tensor_set {
    mapped_file *files;
    int          n_files;
    dlm_tensor  *tensors;
    int          n_tensors;
    int          cap_tensors;
    dlm_strmap   by_name;
};

static const struct {
    const char *name;
    int         size;
    dlm_dtype   dtype;
} dtype_table[] = {
    {"F32", 4, DLM_DTYPE_F32},   {"F16", 2, DLM_DTYPE_F16},   {"BF16", 2, DLM_DTYPE_BF16},
    {"F64", 8, DLM_DTYPE_OTHER}, {"I64", 8, DLM_DTYPE_OTHER}, {"U64", 8, DLM_DTYPE_OTHER},
    {"I32", 4, DLM_DTYPE_OTHER}, {"U32", 4, DLM_DTYPE_OTHER}, {"I16", 2, DLM_DTYPE_OTHER},
    {"U16", 2, DLM_DTYPE_OTHER}, {"I8", 1, DLM_DTYPE_OTHER},  {"U8", 1, DLM_DTYPE_OTHER},
    {"BOOL", 1, DLM_DTYPE_OTHER}, {"F8_E4M3", 1, DLM_DTYPE_OTHER}, {"F8_E5M2", 1, DLM_DTYPE_OTHER},
};

static dlm_tensor_set *set_new(void) {
    dlm_tensor_set *s = dlm_xcalloc(1, sizeof *s);
    dlm_strmap_init(&s->by_name, 64);
    return s;
}

void dlm_tensor_set_free(dlm_tensor_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) {
        if (s->files[i].map && s->files[i].map != MAP_FAILED) munmap(s->files[i].map, s->files[i].map_size);
        free(s->files[i].path);
    }
    for (int i = 0; i < s->n_tensors; i++) free((char *)s->tensors[i].name);
    free(s->files);
    free(s->tensors);
    dlm_strmap_free(&s->by_name);
    free(s);
}

static uint64_t read_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

// Parse one header entry and append the tensor. `data` is the start of the data block.
static dlm_status add_tensor(dlm_tensor_set *s, const char *path, const char *name, json_t *entry,
                             const unsigned char *data, uint64_t data_size) {
    if (!json_is_object(entry))
        return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': header entry is not an object", path, name);
    json_t *jd = json_object_get(entry, "dtype"), *js = json_object_get(entry, "shape"),
           *jo = json_object_get(entry, "data_offsets");
    if (!json_is_string(jd)) return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': missing string field 'dtype'", path, name);
    if (!json_is_array(js)) return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': missing array field 'shape'", path, name);
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': 'data_offsets' must be [begin, end]", path, name);

    dlm_tensor t = {0};
    const char *dname = json_string_value(jd);
    int elsize = 0;
    for (size_t i = 0; i < sizeof dtype_table / sizeof dtype_table[0]; i++)
        if (strcmp(dname, dtype_table[i].name) == 0) {
            elsize = dtype_table[i].size;
            t.dtype = dtype_table[i].dtype;
        }
    if (!elsize) return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': unknown dtype '%.16s'", path, name, dname);
    snprintf(t.dtype_name, sizeof t.dtype_name, "%s", dname);

    size_t nd = json_array_size(js);
    if (nd > DLM_TENSOR_MAX_DIMS)
        return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': %zu dimensions (at most %d supported)", path, name, nd,
                         DLM_TENSOR_MAX_DIMS);
    t.n_dims = (int)nd;
    uint64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer", path, name, i);
        uint64_t v = (uint64_t)json_integer_value(d);
        if (v && numel > UINT64_MAX / v / 8)
            return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': shape overflows", path, name);
        numel *= v;
        t.shape[i] = (int64_t)v;
    }
    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_integer(jb) || !json_is_integer(je) || json_integer_value(jb) < 0 ||
        json_integer_value(je) < json_integer_value(jb))
        return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': data_offsets are not 0 <= begin <= end", path, name);
    uint64_t begin = (uint64_t)json_integer_value(jb), end = (uint64_t)json_integer_value(je);
    if (end > data_size)
        return dlm_error(DLM_STATUS_FORMAT,
                         "%s: tensor '%s': data_offsets [%llu, %llu] point past the end of the data (%llu bytes)", path,
                         name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    if (end - begin != numel * (uint64_t)elsize)
        return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': %llu bytes for %llu elements of %s", path, name,
                         (unsigned long long)(end - begin), (unsigned long long)numel, dname);
    if (t.dtype != DLM_DTYPE_OTHER && begin % (uint64_t)elsize != 0)
        return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': data offset %llu is not aligned to its %d-byte elements", path,
                         name, (unsigned long long)begin, elsize);

    int32_t existing;
    if (dlm_strmap_get(&s->by_name, name, strlen(name), &existing))
        return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s' appears twice (also in %s)", path, name,
                         s->tensors[existing].file);
    if (s->n_tensors == s->cap_tensors) {
        s->cap_tensors = s->cap_tensors ? 2 * s->cap_tensors : 64;
        s->tensors = dlm_xrealloc(s->tensors, (size_t)s->cap_tensors * sizeof *s->tensors);
    }
    t.name = dlm_xstrdup(name);
    t.file = s->files[s->n_files - 1].path;
    t.data = data + begin;
    t.n_bytes = (size_t)(end - begin);
    dlm_strmap_put(&s->by_name, name, strlen(name), s->n_tensors);
    s->tensors[s->n_tensors++] = t;
    return DLM_STATUS_OK;
}

static int by_offset(const void *a, const void *b) {
    const dlm_tensor *x = a, *y = b;
    if (x->data != y->data) return x->data < y->data ? -1 : 1;
    return x->n_bytes < y->n_bytes ? -1 : x->n_bytes > y->n_bytes;
}

// The format requires the tensors of a file to cover its data block exactly, in some order, with
// no gap and no overlap: a header one byte off would otherwise shift every weight and still load.
static dlm_status check_tiling(const dlm_tensor_set *s, const char *path, int first, const unsigned char *data,
                               uint64_t data_size) {
    int n = s->n_tensors - first;
    dlm_tensor *sorted = dlm_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    memcpy(sorted, s->tensors + first, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, by_offset);
    uint64_t at = 0;
    dlm_status st = DLM_STATUS_OK;
    for (int i = 0; i < n && st == DLM_STATUS_OK; i++) {
        uint64_t begin = (uint64_t)((const unsigned char *)sorted[i].data - data);
        if (begin > at)
            st = dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': data_offsets begin at %llu, leaving bytes %llu..%llu of the data unused",
                           path, sorted[i].name, (unsigned long long)begin, (unsigned long long)at, (unsigned long long)begin - 1);
        else if (begin < at)
            st = dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s': data_offsets begin at %llu, inside tensor '%s' (which ends at %llu)",
                           path, sorted[i].name, (unsigned long long)begin, sorted[i - 1].name, (unsigned long long)at);
        at = begin + sorted[i].n_bytes;
    }
    if (st == DLM_STATUS_OK && at != data_size)
        st = dlm_error(DLM_STATUS_FORMAT, "%s: the tensors cover %llu bytes of the %llu-byte data block (the header length or an offset is wrong)",
                       path, (unsigned long long)at, (unsigned long long)data_size);
    free(sorted);
    return st;
}

// Map one file and add its tensors to s.
static dlm_status set_add_file(dlm_tensor_set *s, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return dlm_error(DLM_STATUS_IO, "%s: not a regular file", path);
    if (st.st_size < 8)
        return dlm_error(DLM_STATUS_FORMAT, "%s: %lld bytes is too short for a safetensors file (8-byte header length)",
                         path, (long long)st.st_size);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); // never blocks (a FIFO swapped in after the stat)
    if (fd < 0) return dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return dlm_error(DLM_STATUS_IO, "%s: mmap: %s", path, strerror(errno));

    s->files = dlm_xrealloc(s->files, (size_t)(s->n_files + 1) * sizeof *s->files);
    s->files[s->n_files++] = (mapped_file){dlm_xstrdup(path), map, (size_t)st.st_size};

    const unsigned char *bytes = map;
    uint64_t size = (uint64_t)st.st_size;
    uint64_t header_len = read_le64(bytes);
    if (header_len > size - 8)
        return dlm_error(DLM_STATUS_FORMAT, "%s: header length %llu points past the end of the file (%llu bytes)", path,
                         (unsigned long long)header_len, (unsigned long long)size);
    if (header_len > MAX_HEADER_BYTES)
        return dlm_error(DLM_STATUS_FORMAT, "%s: header length %llu is over the 100 MB limit", path,
                         (unsigned long long)header_len);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)bytes + 8, (size_t)header_len, 0, &jerr);
    if (!root)
        return dlm_error(DLM_STATUS_FORMAT, "%s: header is not valid JSON (byte %d: %s)", path, jerr.position + 8,
                         jerr.text);
    dlm_status st_ = DLM_STATUS_OK;
    int first = s->n_tensors;
    if (!json_is_object(root)) {
        st_ = dlm_error(DLM_STATUS_FORMAT, "%s: header is not a JSON object", path);
    } else {
        const char *key;
        json_t *value;
        json_object_foreach(root, key, value) {
            if (strcmp(key, "__metadata__") == 0) continue;
            st_ = add_tensor(s, path, key, value, bytes + 8 + header_len, size - 8 - header_len);
            if (st_ != DLM_STATUS_OK) break;
        }
    }
    json_decref(root);
    if (st_ == DLM_STATUS_OK) st_ = check_tiling(s, path, first, bytes + 8 + header_len, size - 8 - header_len);
    return st_;
}

dlm_status dlm_tensor_set_open_file(const char *path, dlm_tensor_set **out) {
    *out = NULL;
    dlm_tensor_set *s = set_new();
    dlm_status st = set_add_file(s, path);
    if (st != DLM_STATUS_OK) {
        dlm_tensor_set_free(s);
        return st;
    }
    *out = s;
    return DLM_STATUS_OK;
}

// Sharded checkpoint: STEM.safetensors.index.json maps tensor name -> shard file name.
static dlm_status open_index(const char *dir, const char *index_path, dlm_tensor_set **out) {
    char *text;
    dlm_status st = dlm_read_file(index_path, 256u << 20, &text, NULL);
    if (st != DLM_STATUS_OK) return st;
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    free(text);
    if (!root)
        return dlm_error(DLM_STATUS_FORMAT, "%s: not valid JSON (line %d: %s)", index_path, jerr.line, jerr.text);
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        json_decref(root);
        return dlm_error(DLM_STATUS_FORMAT, "%s: missing object 'weight_map'", index_path);
    }
    dlm_tensor_set *s = set_new();
    dlm_strmap opened;
    dlm_strmap_init(&opened, 16);
    const char *name;
    json_t *file;
    json_object_foreach(wm, name, file) {
        if (!json_is_string(file) || strstr(json_string_value(file), "..") || json_string_value(file)[0] == '/') {
            st = dlm_error(DLM_STATUS_FORMAT, "%s: weight_map['%s'] is not a shard file name in this folder", index_path,
                           name);
            break;
        }
        const char *fname = json_string_value(file);
        int32_t dummy;
        if (dlm_strmap_get(&opened, fname, strlen(fname), &dummy)) continue;
        dlm_strmap_put(&opened, fname, strlen(fname), 1);
        char *shard = dlm_path_join(dir, fname);
        st = set_add_file(s, shard);
        free(shard);
        if (st != DLM_STATUS_OK) break;
    }
    // Every tensor the index names must be in the shard it names.
    if (st == DLM_STATUS_OK) {
        json_object_foreach(wm, name, file) {
            const dlm_tensor *t = dlm_tensor_set_find(s, name);
            const char *fname = json_string_value(file);
            size_t fl = strlen(fname), tl = t ? strlen(t->file) : 0;
            if (!t || tl < fl || strcmp(t->file + tl - fl, fname) != 0) {
                st = dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s' is listed in shard '%s' but is not there", index_path,
                               name, fname);
                break;
            }
        }
    }
    dlm_strmap_free(&opened);
    json_decref(root);
    if (st != DLM_STATUS_OK) {
        dlm_tensor_set_free(s);
        return st;
    }
    *out = s;
    return DLM_STATUS_OK;
}

dlm_status dlm_tensor_set_open_dir(const char *dir, const char *stem, dlm_tensor_set **out) {
    *out = NULL;
    char name[256];
    snprintf(name, sizeof name, "%s.safetensors", stem);
    char *single = dlm_path_join(dir, name);
    snprintf(name, sizeof name, "%s.safetensors.index.json", stem);
    char *index = dlm_path_join(dir, name);
    dlm_status st;
    if (dlm_file_exists(single))
        st = dlm_tensor_set_open_file(single, out);
    else if (dlm_file_exists(index))
        st = open_index(dir, index, out);
    else
        st = dlm_error(DLM_STATUS_IO, "%s: no %s.safetensors or %s.safetensors.index.json", dir, stem, stem);
    free(single);
    free(index);
    return st;
}

const dlm_tensor *dlm_tensor_set_find(const dlm_tensor_set *s, const char *name) {
    int32_t i;
    return dlm_strmap_get(&s->by_name, name, strlen(name), &i) ? &s->tensors[i] : NULL;
}

int dlm_tensor_set_count(const dlm_tensor_set *s) { return s->n_tensors; }
const dlm_tensor *dlm_tensor_set_at(const dlm_tensor_set *s, int i) { return &s->tensors[i]; }

int64_t dlm_tensor_numel(const dlm_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

float dlm_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t dlm_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

uint16_t dlm_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u, abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);           // NaN
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);          // rounds to >= 65520: inf
    if (abs < 0x38800000u) {                                            // below 2^-14: subnormal or 0
        if (abs < 0x33000000u) return (uint16_t)sign;                   // below half the smallest subnormal
        uint32_t man = (abs & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(abs >> 23);                             // 14..24
        uint32_t half = 1u << (shift - 1), rest = man & ((1u << shift) - 1), q = man >> shift;
        if (rest > half || (rest == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t q = ((abs >> 13) - (112u << 10)), rest = abs & 0x1fffu;    // rebias 127 -> 15
    if (rest > 0x1000u || (rest == 0x1000u && (q & 1))) q++;
    return (uint16_t)(sign | q);
}

float dlm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { // subnormal: normalise
            int e = -1;
            do {
                man <<= 1;
                e++;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void dlm_tensor_to_f32(const dlm_tensor *t, int64_t first, int64_t n, float *dst) {
    DLM_ASSERT(first >= 0 && n >= 0 && first + n <= dlm_tensor_numel(t));
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case DLM_DTYPE_F32:
        memcpy(dst, p + 4 * first, (size_t)n * 4);
        break;
    case DLM_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * (first + i), 2);
            dst[i] = dlm_bf16_to_f32(h);
        }
        break;
    case DLM_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * (first + i), 2);
            dst[i] = dlm_f16_to_f32(h);
        }
        break;
    default:
        dlm_die("dlm_tensor_to_f32: tensor '%s' has unconvertible dtype %s", t->name, t->dtype_name);
    }
}
