// tokenizer.c — tokenizer.json byte-level BPE: added tokens, normalizers, pre-tokenizers, merges.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <jansson.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "strmap.h"

// GPT-2's ByteLevel pre-tokenizer regex, used when ByteLevel has use_regex = true.
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef enum { NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD } norm_kind;
typedef enum { PRE_SPLIT, PRE_BYTE_LEVEL, PRE_DIGITS } pre_kind;
typedef enum { SPLIT_ISOLATED, SPLIT_REMOVED, SPLIT_MERGED_WITH_PREVIOUS, SPLIT_MERGED_WITH_NEXT, SPLIT_CONTIGUOUS } split_behavior;

typedef struct {
    pre_kind       kind;
    pcre2_code    *re;               // SPLIT (and BYTE_LEVEL with use_regex)
    bool           invert;
    split_behavior behavior;
    bool           add_prefix_space; // BYTE_LEVEL
    bool           individual_digits; // DIGITS
} pre_step;

typedef struct {
    int32_t id;
    char   *content;
    size_t  len;
    bool    lstrip, rstrip, single_word, special;
} added_token;

struct dlm_tokenizer {
    char        *path;
    int          n_vocab;
    char       **token_bytes; // (n_vocab) raw bytes of each id, NULL where no token has that id
    uint32_t    *token_len;   // (n_vocab)
    bool        *is_special;  // (n_vocab)
    dlm_strmap   vocab;       // byte-level token text -> id (model.vocab)
    dlm_u64map   merges;      // left << 32 | right -> rank << 32 | merged id
    int32_t      byte_id[256]; // id of the one-byte token of each byte, -1 if absent
    uint16_t     byte_char[256]; // GPT-2 bytes_to_unicode
    int16_t      char_byte[512]; // inverse for code points < 512, -1 if none
    added_token *added;
    int          n_added;
    norm_kind   *norms;
    int          n_norms;
    pre_step    *pre;
    int          n_pre;
    bool         ignore_merges;
};

// ---- UTF-8 --------------------------------------------------------------------------------------

// Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid; *cp gets the code point.
static int utf8_decode(const unsigned char *s, size_t n, int32_t *cp) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    int len;
    unsigned lo = 0x80, hi = 0xbf;
    int32_t v;
    if (c >= 0xc2 && c <= 0xdf) len = 2, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (n < (size_t)len) return 0;
    for (int i = 1; i < len; i++) {
        unsigned b = s[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf)) return 0;
        v = (v << 6) | (int32_t)(b & 0x3f);
    }
    *cp = v;
    return len;
}

size_t dlm_utf8_check(const char *s, size_t len) {
    size_t i = 0;
    int32_t cp;
    while (i < len) {
        int k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (!k) return i;
        i += (size_t)k;
    }
    return len;
}

// Length of the maximal prefix of a valid sequence starting at s (>= 1), for U+FFFD substitution.
static int utf8_invalid_span(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 1;
    int i = 1;
    while (i < len && (size_t)i < n && s[i] >= (i == 1 ? lo : 0x80) && s[i] <= (i == 1 ? hi : 0xbf)) i++;
    return i;
}

int dlm_utf8_append_lossy(dlm_buf *out, const char *s, size_t len) {
    int n_bad = 0;
    size_t i = 0;
    int32_t cp;
    while (i < len) {
        int k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (k) {
            dlm_buf_append(out, s + i, (size_t)k);
            i += (size_t)k;
        } else {
            dlm_buf_append(out, "\xef\xbf\xbd", 3);
            i += (size_t)utf8_invalid_span((const unsigned char *)s + i, len - i);
            n_bad++;
        }
    }
    return n_bad;
}

static int utf8_encode(int32_t cp, char *out) {
    return (int)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out);
}

// Rust's char::is_whitespace (Unicode White_Space), used by lstrip/rstrip of added tokens.
static bool is_white_space(int32_t c) {
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
           c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// Python's str.isspace, used by the chat template's strip().
static bool is_python_space(int32_t c) { return is_white_space(c) || (c >= 0x1c && c <= 0x1f); }

static bool is_word_char(int32_t c) {
    utf8proc_category_t cat = utf8proc_category(c);
    return c == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
           (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

static bool is_numeric_char(int32_t c) {
    utf8proc_category_t cat = utf8proc_category(c);
    return cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO;
}

// ---- loading ----------------------------------------------------------------------------------

static void init_byte_map(dlm_tokenizer *t) {
    // GPT-2 bytes_to_unicode: printable bytes map to themselves, the rest to 256, 257, ...
    int n = 0;
    for (int i = 0; i < 512; i++) t->char_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        t->byte_char[b] = (uint16_t)(printable ? b : 256 + n++);
        t->char_byte[t->byte_char[b]] = (int16_t)b;
    }
}

// Byte-level token text -> raw bytes (characters outside the map are kept as UTF-8).
static void byte_level_to_bytes(const dlm_tokenizer *t, const char *s, size_t len, dlm_buf *out) {
    size_t i = 0;
    int32_t cp;
    while (i < len) {
        int k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (!k) {
            dlm_buf_append(out, s + i, 1);
            i++;
            continue;
        }
        if (cp < 512 && t->char_byte[cp] >= 0) dlm_buf_putc(out, (char)t->char_byte[cp]);
        else dlm_buf_append(out, s + i, (size_t)k);
        i += (size_t)k;
    }
}

static void bytes_to_byte_level(const dlm_tokenizer *t, const unsigned char *s, size_t len, dlm_buf *out) {
    char tmp[4];
    for (size_t i = 0; i < len; i++) dlm_buf_append(out, tmp, (size_t)utf8_encode(t->byte_char[s[i]], tmp));
}

static dlm_status compile_regex(const char *path, const char *what, const char *pattern, size_t len, bool literal,
                                pcre2_code **out) {
    int err;
    PCRE2_SIZE off;
    uint32_t flags = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, flags, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: %s: regex does not compile at offset %zu: %s", path, what, (size_t)off,
                         (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); // optional speed-up; falls back to the interpreter
    *out = re;
    return DLM_STATUS_OK;
}

static dlm_status parse_normalizer(dlm_tokenizer *t, json_t *n, const char *path) {
    if (!n || json_is_null(n)) return DLM_STATUS_OK;
    const char *type = json_string_value(json_object_get(n, "type"));
    if (!type) return dlm_error(DLM_STATUS_FORMAT, "%s: normalizer has no 'type'", path);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list)) return dlm_error(DLM_STATUS_FORMAT, "%s: normalizer.normalizers is not a list", path);
        for (size_t i = 0; i < json_array_size(list); i++) {
            dlm_status st = parse_normalizer(t, json_array_get(list, i), path);
            if (st != DLM_STATUS_OK) return st;
        }
        return DLM_STATUS_OK;
    }
    static const struct {
        const char *name;
        norm_kind   kind;
    } kinds[] = {{"NFC", NORM_NFC}, {"NFD", NORM_NFD}, {"NFKC", NORM_NFKC}, {"NFKD", NORM_NFKD}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(type, kinds[i].name) == 0) {
            t->norms = dlm_xrealloc(t->norms, (size_t)(t->n_norms + 1) * sizeof *t->norms);
            t->norms[t->n_norms++] = kinds[i].kind;
            return DLM_STATUS_OK;
        }
    return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: normalizer type '%s' is not supported (NFC, NFD, NFKC, NFKD, Sequence)",
                     path, type);
}

static pre_step *add_pre(dlm_tokenizer *t, pre_kind kind) {
    t->pre = dlm_xrealloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *t->pre);
    pre_step *p = &t->pre[t->n_pre++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    return p;
}

static dlm_status parse_pre_tokenizer(dlm_tokenizer *t, json_t *n, const char *path) {
    if (!n || json_is_null(n)) return DLM_STATUS_OK;
    const char *type = json_string_value(json_object_get(n, "type"));
    if (!type) return dlm_error(DLM_STATUS_FORMAT, "%s: pre_tokenizer has no 'type'", path);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(n, "pretokenizers");
        if (!json_is_array(list)) return dlm_error(DLM_STATUS_FORMAT, "%s: pre_tokenizer.pretokenizers is not a list", path);
        for (size_t i = 0; i < json_array_size(list); i++) {
            dlm_status st = parse_pre_tokenizer(t, json_array_get(list, i), path);
            if (st != DLM_STATUS_OK) return st;
        }
        return DLM_STATUS_OK;
    }
    // Pieces are kept as raw bytes; ByteLevel's character mapping happens at BPE time, which is
    // only equivalent if nothing splits after ByteLevel.
    for (int i = 0; i < t->n_pre; i++)
        if (t->pre[i].kind == PRE_BYTE_LEVEL)
            return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: pre_tokenizer '%s' after ByteLevel is not supported", path, type);
    if (strcmp(type, "Split") == 0) {
        json_t *pat = json_object_get(n, "pattern");
        json_t *rx = json_object_get(pat, "Regex"), *lit = json_object_get(pat, "String");
        if (!json_is_string(rx) && !json_is_string(lit))
            return dlm_error(DLM_STATUS_FORMAT, "%s: Split pre_tokenizer needs pattern.Regex or pattern.String", path);
        const char *behavior = json_string_value(json_object_get(n, "behavior"));
        static const struct {
            const char    *name;
            split_behavior b;
        } bs[] = {{"Isolated", SPLIT_ISOLATED},
                  {"Removed", SPLIT_REMOVED},
                  {"MergedWithPrevious", SPLIT_MERGED_WITH_PREVIOUS},
                  {"MergedWithNext", SPLIT_MERGED_WITH_NEXT},
                  {"Contiguous", SPLIT_CONTIGUOUS}};
        int found = -1;
        for (int i = 0; behavior && i < (int)(sizeof bs / sizeof bs[0]); i++)
            if (strcmp(behavior, bs[i].name) == 0) found = i;
        if (found < 0)
            return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: Split behavior '%s' is not supported", path,
                             behavior ? behavior : "(missing)");
        pre_step *p = add_pre(t, PRE_SPLIT);
        p->behavior = bs[found].b;
        p->invert = json_is_true(json_object_get(n, "invert"));
        json_t *s = json_is_string(rx) ? rx : lit;
        return compile_regex(path, "pre_tokenizer Split pattern", json_string_value(s), json_string_length(s),
                             !json_is_string(rx), &p->re);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        pre_step *p = add_pre(t, PRE_BYTE_LEVEL);
        p->add_prefix_space = json_is_true(json_object_get(n, "add_prefix_space"));
        json_t *ur = json_object_get(n, "use_regex");
        if (!ur || json_is_true(ur)) // the library's default is true
            return compile_regex(path, "ByteLevel regex", GPT2_PATTERN, sizeof GPT2_PATTERN - 1, false, &p->re);
        return DLM_STATUS_OK;
    }
    if (strcmp(type, "Digits") == 0) {
        pre_step *p = add_pre(t, PRE_DIGITS);
        p->individual_digits = json_is_true(json_object_get(n, "individual_digits"));
        return DLM_STATUS_OK;
    }
    return dlm_error(DLM_STATUS_UNSUPPORTED,
                     "%s: pre_tokenizer type '%s' is not supported (Split, ByteLevel, Digits, Sequence)", path, type);
}

static dlm_status set_token(dlm_tokenizer *t, int32_t id, const char *bytes, size_t len, const char *path) {
    if (id < 0 || id >= t->n_vocab) return dlm_error(DLM_STATUS_FORMAT, "%s: token id %d out of range", path, id);
    free(t->token_bytes[id]);
    t->token_bytes[id] = dlm_xmalloc(len + 1);
    memcpy(t->token_bytes[id], bytes, len);
    t->token_bytes[id][len] = 0;
    t->token_len[id] = (uint32_t)len;
    return DLM_STATUS_OK;
}

static dlm_status parse_merges(dlm_tokenizer *t, json_t *merges, const char *path) {
    if (!json_is_array(merges)) return dlm_error(DLM_STATUS_FORMAT, "%s: model.merges is not a list", path);
    dlm_u64map_init(&t->merges, json_array_size(merges));
    dlm_buf joined = {0};
    for (size_t r = 0; r < json_array_size(merges); r++) {
        json_t *m = json_array_get(merges, r);
        const char *a, *b;
        size_t la, lb;
        if (json_is_string(m)) { // "left right"
            const char *s = json_string_value(m), *sp = strchr(s, ' ');
            if (!sp || sp == s) {
                dlm_buf_free(&joined);
                return dlm_error(DLM_STATUS_FORMAT, "%s: model.merges[%zu] = '%s' is not 'left right'", path, r, s);
            }
            a = s, la = (size_t)(sp - s), b = sp + 1, lb = strlen(sp + 1);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) { // ["left", "right"]
            a = json_string_value(json_array_get(m, 0)), la = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1)), lb = json_string_length(json_array_get(m, 1));
        } else {
            dlm_buf_free(&joined);
            return dlm_error(DLM_STATUS_FORMAT, "%s: model.merges[%zu] is neither 'a b' nor [a, b]", path, r);
        }
        int32_t ia, ib, im;
        joined.len = 0;
        dlm_buf_append(&joined, a, la);
        dlm_buf_append(&joined, b, lb);
        if (!dlm_strmap_get(&t->vocab, a, la, &ia) || !dlm_strmap_get(&t->vocab, b, lb, &ib) ||
            !dlm_strmap_get(&t->vocab, joined.data, joined.len, &im)) {
            char shown[96];
            snprintf(shown, sizeof shown, "%.*s %.*s", (int)(la < 40 ? la : 40), a, (int)(lb < 40 ? lb : 40), b);
            dlm_buf_free(&joined);
            return dlm_error(DLM_STATUS_FORMAT, "%s: model.merges[%zu] '%s' uses a token not in model.vocab", path, r,
                             shown);
        }
        uint64_t key = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
        int64_t existing;
        if (!dlm_u64map_get(&t->merges, key, &existing)) // the first (lowest) rank wins
            dlm_u64map_put(&t->merges, key, (int64_t)r << 32 | (uint32_t)im);
    }
    dlm_buf_free(&joined);
    return DLM_STATUS_OK;
}

static dlm_status parse_added(dlm_tokenizer *t, json_t *list, const char *path) {
    if (!list || json_is_null(list)) return DLM_STATUS_OK;
    if (!json_is_array(list)) return dlm_error(DLM_STATUS_FORMAT, "%s: added_tokens is not a list", path);
    t->added = dlm_xcalloc(json_array_size(list) + 1, sizeof *t->added);
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *a = json_array_get(list, i), *id = json_object_get(a, "id"), *c = json_object_get(a, "content");
        if (!json_is_integer(id) || !json_is_string(c) || json_string_length(c) == 0)
            return dlm_error(DLM_STATUS_FORMAT, "%s: added_tokens[%zu] needs an integer 'id' and a non-empty 'content'", path,
                             i);
        added_token *at = &t->added[t->n_added++];
        at->id = (int32_t)json_integer_value(id);
        at->len = json_string_length(c);
        at->content = dlm_xmalloc(at->len + 1);
        memcpy(at->content, json_string_value(c), at->len + 1);
        at->lstrip = json_is_true(json_object_get(a, "lstrip"));
        at->rstrip = json_is_true(json_object_get(a, "rstrip"));
        at->single_word = json_is_true(json_object_get(a, "single_word"));
        at->special = json_is_true(json_object_get(a, "special"));
    }
    return DLM_STATUS_OK;
}

static dlm_tokenizer *load_root(json_t *root, const char *path);

dlm_tokenizer *dlm_tokenizer_load(const char *path) {
    char *text = NULL;
    size_t len = 0;
    if (dlm_read_file(path, 512u << 20, &text, &len) != DLM_STATUS_OK) return NULL;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root) {
        dlm_error(DLM_STATUS_FORMAT, "%s: not valid JSON (line %d, column %d: %s)", path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    return load_root(root, path);
}

// Qwen2's slow tokenizer (tokenization_qwen2.py): NFC, then this split, then byte-level BPE.
static const char qwen2_pretokenize[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

dlm_tokenizer *dlm_tokenizer_load_qwen2_slow(const char *dir) {
    char *vpath = dlm_path_join(dir, "vocab.json"), *mpath = dlm_path_join(dir, "merges.txt"),
         *cpath = dlm_path_join(dir, "tokenizer_config.json"), *mtext = NULL, *ctext = NULL;
    json_t *root = NULL, *vocab = NULL, *merges = json_array(), *added = json_array(), *config = NULL;
    json_error_t jerr;
    dlm_tokenizer *t = NULL;
    size_t mlen = 0;
    if (!(vocab = json_load_file(vpath, 0, &jerr))) {
        dlm_error(DLM_STATUS_FORMAT, "%s: not valid JSON (line %d: %s)", vpath, jerr.line, jerr.text);
        goto done;
    }
    if (dlm_read_file(mpath, 256u << 20, &mtext, &mlen) != DLM_STATUS_OK) goto done;
    for (char *line = mtext, *next; line && line < mtext + mlen; line = next) {
        next = memchr(line, '\n', (size_t)(mtext + mlen - line));
        size_t n = next ? (size_t)(next - line) : (size_t)(mtext + mlen - line);
        if (next) next++;
        if (n && line[n - 1] == '\r') n--;
        if (n == 0 || (n >= 8 && memcmp(line, "#version", 8) == 0)) continue;
        json_array_append_new(merges, json_stringn(line, n));
    }
    // Added and special tokens: tokenizer_config.json's added_tokens_decoder {"id": {"content": ...}}.
    if (dlm_file_exists(cpath) && dlm_read_file(cpath, 64u << 20, &ctext, NULL) == DLM_STATUS_OK &&
        (config = json_loads(ctext, 0, NULL))) {
        const char *id;
        json_t *tok;
        json_object_foreach(json_object_get(config, "added_tokens_decoder"), id, tok) {
            char *end;
            long v = strtol(id, &end, 10);
            if (*end || v < 0 || !json_is_object(tok)) continue;
            json_t *a = json_deep_copy(tok);
            json_object_set_new(a, "id", json_integer(v));
            json_array_append_new(added, a);
        }
    }
    root = json_pack("{s:{s:s, s:O, s:O}, s:O, s:{s:s}, s:{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b, s:b}]}, "
                     "s:{s:s}}",
                     "model", "type", "BPE", "vocab", vocab, "merges", merges, "added_tokens", added, "normalizer", "type",
                     "NFC", "pre_tokenizer", "type", "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex",
                     qwen2_pretokenize, "behavior", "Isolated", "invert", 0, "type", "ByteLevel", "add_prefix_space", 0,
                     "trim_offsets", 0, "use_regex", 0, "decoder", "type", "ByteLevel");
    if (!root) {
        dlm_error(DLM_STATUS_FORMAT, "%s: cannot assemble a tokenizer from vocab.json and merges.txt", dir);
        goto done;
    }
    t = load_root(root, vpath);
    root = NULL; // load_root owns it
done:
    json_decref(root);
    json_decref(vocab);
    json_decref(merges);
    json_decref(added);
    json_decref(config);
    free(mtext);
    free(ctext);
    free(vpath);
    free(mpath);
    free(cpath);
    return t;
}

static dlm_tokenizer *load_root(json_t *root, const char *path) {
    dlm_tokenizer *t = dlm_xcalloc(1, sizeof *t);
    t->path = dlm_xstrdup(path);
    init_byte_map(t);
    dlm_status st = DLM_STATUS_OK;
    json_t *model = json_object_get(root, "model");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(root) || !json_is_object(model)) {
        st = dlm_error(DLM_STATUS_FORMAT, "%s: missing object 'model'", path);
        goto done;
    }
    if (!mtype || strcmp(mtype, "BPE") != 0) {
        st = dlm_error(DLM_STATUS_UNSUPPORTED, "%s: model.type '%s' is not supported (only byte-level BPE)", path,
                       mtype ? mtype : "(missing)");
        goto done;
    }
    if (!json_is_object(vocab) || json_object_size(vocab) == 0) {
        st = dlm_error(DLM_STATUS_FORMAT, "%s: model.vocab is not a non-empty object", path);
        goto done;
    }
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && !(json_is_number(dropout) && json_number_value(dropout) == 0)) {
        st = dlm_error(DLM_STATUS_UNSUPPORTED, "%s: model.dropout is set; BPE dropout is not supported", path);
        goto done;
    }
    json_t *prefix = json_object_get(model, "continuing_subword_prefix"), *suffix = json_object_get(model, "end_of_word_suffix");
    if ((json_is_string(prefix) && json_string_length(prefix)) || (json_is_string(suffix) && json_string_length(suffix))) {
        st = dlm_error(DLM_STATUS_UNSUPPORTED, "%s: continuing_subword_prefix / end_of_word_suffix are not supported", path);
        goto done;
    }

    // Vocabulary size: one more than the largest id anywhere.
    int64_t max_id = -1;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= (1 << 24)) {
            st = dlm_error(DLM_STATUS_FORMAT, "%s: model.vocab['%.40s'] is not an id in [0, 2^24)", path, key);
            goto done;
        }
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
    }
    json_t *added = json_object_get(root, "added_tokens");
    if ((st = parse_added(t, added, path)) != DLM_STATUS_OK) goto done;
    for (int i = 0; i < t->n_added; i++) {
        if (t->added[i].id < 0 || t->added[i].id >= (1 << 24)) {
            st = dlm_error(DLM_STATUS_FORMAT, "%s: added_tokens id %d is out of range", path, t->added[i].id);
            goto done;
        }
        if (t->added[i].id > max_id) max_id = t->added[i].id;
    }
    t->n_vocab = (int)max_id + 1;
    t->token_bytes = dlm_xcalloc((size_t)t->n_vocab, sizeof *t->token_bytes);
    t->token_len = dlm_xcalloc((size_t)t->n_vocab, sizeof *t->token_len);
    t->is_special = dlm_xcalloc((size_t)t->n_vocab, sizeof *t->is_special);
    dlm_strmap_init(&t->vocab, json_object_size(vocab));
    dlm_buf raw = {0};
    json_object_foreach(vocab, key, val) {
        size_t klen = strlen(key); // jansson object keys cannot hold NUL
        dlm_strmap_put(&t->vocab, key, klen, (int32_t)json_integer_value(val));
        raw.len = 0;
        byte_level_to_bytes(t, key, klen, &raw);
        set_token(t, (int32_t)json_integer_value(val), raw.data ? raw.data : "", raw.len, path);
    }
    dlm_buf_free(&raw);
    for (int i = 0; i < t->n_added; i++) {
        set_token(t, t->added[i].id, t->added[i].content, t->added[i].len, path);
        t->is_special[t->added[i].id] = t->added[i].special;
    }
    for (int b = 0; b < 256; b++) {
        char ch[4];
        int n = utf8_encode(t->byte_char[b], ch);
        if (!dlm_strmap_get(&t->vocab, ch, (size_t)n, &t->byte_id[b])) t->byte_id[b] = -1;
    }
    if ((st = parse_merges(t, json_object_get(model, "merges"), path)) != DLM_STATUS_OK) goto done;
    if ((st = parse_normalizer(t, json_object_get(root, "normalizer"), path)) != DLM_STATUS_OK) goto done;
    if ((st = parse_pre_tokenizer(t, json_object_get(root, "pre_tokenizer"), path)) != DLM_STATUS_OK) goto done;
    bool byte_level = false;
    for (int i = 0; i < t->n_pre; i++) byte_level |= t->pre[i].kind == PRE_BYTE_LEVEL;
    json_t *dec = json_object_get(root, "decoder");
    const char *dtype = json_string_value(json_object_get(dec, "type"));
    if (!byte_level) {
        st = dlm_error(DLM_STATUS_UNSUPPORTED, "%s: pre_tokenizer has no ByteLevel step; only byte-level BPE is supported", path);
        goto done;
    }
    if (dec && !json_is_null(dec) && (!dtype || strcmp(dtype, "ByteLevel") != 0)) {
        st = dlm_error(DLM_STATUS_UNSUPPORTED, "%s: decoder type '%s' is not supported (only ByteLevel)", path,
                       dtype ? dtype : "(missing)");
        goto done;
    }
done:
    json_decref(root);
    if (st != DLM_STATUS_OK) {
        dlm_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void dlm_tokenizer_free(dlm_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_vocab; i++) free(t->token_bytes[i]);
    free(t->token_bytes);
    free(t->token_len);
    free(t->is_special);
    dlm_strmap_free(&t->vocab);
    dlm_u64map_free(&t->merges);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    for (int i = 0; i < t->n_pre; i++) pcre2_code_free(t->pre[i].re);
    free(t->pre);
    free(t->norms);
    free(t->path);
    free(t);
}

int dlm_tokenizer_n_vocab(const dlm_tokenizer *t) { return t->n_vocab; }

const char *dlm_tokenizer_token_bytes(const dlm_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_vocab || !t->token_bytes[id]) return NULL;
    if (len) *len = t->token_len[id];
    return t->token_bytes[id];
}

bool dlm_tokenizer_is_special(const dlm_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && t->is_special[id];
}

void dlm_tokenizer_token_display(const dlm_tokenizer *t, int32_t id, char *buf, size_t n) {
    size_t len;
    const char *b = dlm_tokenizer_token_bytes(t, id, &len);
    if (!b) {
        snprintf(buf, n, "<id %d>", id);
        return;
    }
    size_t o = 0, i = 0;
    while (i < len && o + 8 < n) {
        int32_t cp;
        int k = utf8_decode((const unsigned char *)b + i, len - i, &cp);
        if (!k) {
            o += (size_t)snprintf(buf + o, n - o, "\\x%02X", (unsigned char)b[i]);
            i++;
        } else if (cp == '\n') {
            o += (size_t)snprintf(buf + o, n - o, "\\n");
            i++;
        } else if (cp == '\t') {
            o += (size_t)snprintf(buf + o, n - o, "\\t");
            i++;
        } else if (cp < 0x20 || cp == 0x7f) {
            o += (size_t)snprintf(buf + o, n - o, "\\x%02X", (unsigned)cp);
            i++;
        } else {
            memcpy(buf + o, b + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        }
    }
    buf[o < n ? o : n - 1] = 0;
}

int32_t dlm_tokenizer_find(const dlm_tokenizer *t, const char *text) {
    size_t len = strlen(text);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->added[i].content, text, len) == 0) return t->added[i].id;
    int32_t id;
    return dlm_strmap_get(&t->vocab, text, len, &id) ? id : -1;
}

int32_t dlm_tokenizer_lookup(const dlm_tokenizer *t, const char *text) {
    size_t len = strlen(text);
    for (int id = 0; id < t->n_vocab; id++) // lowest id first: ties resolved the same way everywhere
        if (t->token_bytes[id] && t->token_len[id] == len && memcmp(t->token_bytes[id], text, len) == 0) return id;
    return dlm_tokenizer_find(t, text);
}

// ---- BPE ----------------------------------------------------------------------------------------

typedef struct {
    uint32_t rank;
    int32_t  pos;   // left symbol
    int32_t  left, right; // ids at push time, to detect stale entries
    int32_t  merged;
} merge_cand;

static bool cand_less(const merge_cand *a, const merge_cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(merge_cand *h, int *n, merge_cand c) {
    int i = (*n)++;
    while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static merge_cand heap_pop(merge_cand *h, int *n) {
    merge_cand top = h[0], last = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c])) c++;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

typedef struct {
    int32_t *ids;
    int      n, cap;
} id_list;

static void ids_push(id_list *l, int32_t id) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->ids = dlm_xrealloc(l->ids, (size_t)l->cap * sizeof *l->ids);
    }
    l->ids[l->n++] = id;
}

static bool lookup_merge(const dlm_tokenizer *t, int32_t a, int32_t b, uint32_t *rank, int32_t *merged) {
    int64_t v;
    if (!dlm_u64map_get(&t->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, &v)) return false;
    *rank = (uint32_t)(v >> 32);
    *merged = (int32_t)(v & 0xffffffff);
    return true;
}

// Merge the lowest-ranked adjacent pair (leftmost among equals) until none applies.
static void bpe_piece(const dlm_tokenizer *t, const unsigned char *s, size_t len, id_list *out, dlm_buf *scratch) {
    if (len == 0) return;
    if (t->ignore_merges) {
        scratch->len = 0;
        bytes_to_byte_level(t, s, len, scratch);
        int32_t id;
        if (dlm_strmap_get(&t->vocab, scratch->data, scratch->len, &id)) {
            ids_push(out, id);
            return;
        }
    }
    int n = 0;
    int32_t *sym = dlm_xmalloc(len * sizeof *sym), *next = dlm_xmalloc(len * sizeof *next),
            *prev = dlm_xmalloc(len * sizeof *prev);
    for (size_t i = 0; i < len; i++)
        if (t->byte_id[s[i]] >= 0) sym[n++] = t->byte_id[s[i]]; // bytes without a token are dropped, as HF does without unk
    for (int i = 0; i < n; i++) {
        next[i] = i + 1 < n ? i + 1 : -1;
        prev[i] = i - 1;
    }
    // At most n-1 initial candidates plus 2 per merge (n-1 merges): 3n bounds the heap.
    merge_cand *heap = dlm_xmalloc((size_t)(3 * n + 1) * sizeof *heap);
    int hn = 0;
    uint32_t rank;
    int32_t merged;
    for (int i = 0; i + 1 < n; i++)
        if (lookup_merge(t, sym[i], sym[i + 1], &rank, &merged)) heap_push(heap, &hn, (merge_cand){rank, i, sym[i], sym[i + 1], merged});
    while (hn > 0) {
        merge_cand c = heap_pop(heap, &hn);
        int r = next[c.pos];
        if (sym[c.pos] != c.left || r < 0 || sym[r] != c.right) continue; // stale: a neighbour merged first
        sym[c.pos] = c.merged;
        sym[r] = -1;
        next[c.pos] = next[r];
        if (next[r] >= 0) prev[next[r]] = c.pos;
        int p = prev[c.pos], q = next[c.pos];
        if (p >= 0 && lookup_merge(t, sym[p], sym[c.pos], &rank, &merged))
            heap_push(heap, &hn, (merge_cand){rank, p, sym[p], sym[c.pos], merged});
        if (q >= 0 && lookup_merge(t, sym[c.pos], sym[q], &rank, &merged))
            heap_push(heap, &hn, (merge_cand){rank, c.pos, sym[c.pos], sym[q], merged});
    }
    for (int i = 0; i >= 0 && i < n; i = next[i]) ids_push(out, sym[i]);
    free(heap);
    free(sym);
    free(next);
    free(prev);
}

// ---- pre-tokenization ----------------------------------------------------------------------------

typedef struct {
    char  *s;
    size_t len;
} piece;

typedef struct {
    piece *items;
    int    n, cap;
} piece_list;

static void pieces_push(piece_list *l, const char *s, size_t len) {
    if (len == 0) return;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = dlm_xrealloc(l->items, (size_t)l->cap * sizeof *l->items);
    }
    l->items[l->n].s = dlm_xmalloc(len + 1);
    memcpy(l->items[l->n].s, s, len);
    l->items[l->n].s[len] = 0;
    l->items[l->n].len = len;
    l->n++;
}

static void pieces_free(piece_list *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i].s);
    free(l->items);
    memset(l, 0, sizeof *l);
}

typedef struct {
    size_t start, end;
    bool   match;
} span;

// Cut one piece into alternating matched / unmatched spans of the regex.
static int regex_spans(pcre2_code *re, pcre2_match_data *md, const char *s, size_t len, span **out, int *cap) {
    int n = 0;
    size_t pos = 0, last = 0;
    while (pos <= len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (n + 2 > *cap) {
            *cap = *cap ? 2 * *cap : 32;
            *out = dlm_xrealloc(*out, (size_t)*cap * sizeof **out);
        }
        if (ms > last) (*out)[n++] = (span){last, ms, false};
        if (me > ms) (*out)[n++] = (span){ms, me, true};
        last = me;
        if (me == ms) { // empty match: step over one character
            if (me >= len) break;
            pos = me + 1;
            while (pos < len && ((unsigned char)s[pos] & 0xc0) == 0x80) pos++;
        } else
            pos = me;
    }
    if (last < len) {
        if (n + 1 > *cap) {
            *cap = *cap ? 2 * *cap : 32;
            *out = dlm_xrealloc(*out, (size_t)*cap * sizeof **out);
        }
        (*out)[n++] = (span){last, len, false};
    }
    return n;
}

// Spans of numeric vs other characters (the Digits pre-tokenizer).
static int digit_spans(const char *s, size_t len, bool individual, span **out, int *cap) {
    int n = 0;
    size_t i = 0;
    while (i < len) {
        int32_t cp;
        int k = utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (!k) k = 1, cp = 0xfffd;
        bool num = is_numeric_char(cp);
        if (n + 1 > *cap) {
            *cap = *cap ? 2 * *cap : 32;
            *out = dlm_xrealloc(*out, (size_t)*cap * sizeof **out);
        }
        if (n > 0 && (*out)[n - 1].match == num && (*out)[n - 1].end == i && !(num && individual))
            (*out)[n - 1].end = i + (size_t)k;
        else
            (*out)[n++] = (span){i, i + (size_t)k, num};
        i += (size_t)k;
    }
    return n;
}

// Apply a split behavior to one piece's spans, appending the resulting pieces to out.
static void split_piece(const piece *p, span *sp, int n, bool invert, split_behavior b, piece_list *out) {
    for (int i = 0; i < n; i++) sp[i].match ^= invert;
    switch (b) {
    case SPLIT_ISOLATED:
        for (int i = 0; i < n; i++) pieces_push(out, p->s + sp[i].start, sp[i].end - sp[i].start);
        break;
    case SPLIT_REMOVED:
        for (int i = 0; i < n; i++)
            if (!sp[i].match) pieces_push(out, p->s + sp[i].start, sp[i].end - sp[i].start);
        break;
    case SPLIT_CONTIGUOUS:
        for (int i = 0; i < n;) {
            int j = i + 1;
            while (j < n && sp[j].match && sp[i].match) j++;
            pieces_push(out, p->s + sp[i].start, sp[j - 1].end - sp[i].start);
            i = j;
        }
        break;
    case SPLIT_MERGED_WITH_PREVIOUS: // a match closes the piece before it
        for (int i = 0; i < n;) {
            int j = i;
            if (!sp[j].match && j + 1 < n && sp[j + 1].match) j++;
            pieces_push(out, p->s + sp[i].start, sp[j].end - sp[i].start);
            i = j + 1;
        }
        break;
    case SPLIT_MERGED_WITH_NEXT: // a match opens the piece after it
        for (int i = 0; i < n;) {
            int j = i;
            if (sp[j].match && j + 1 < n && !sp[j + 1].match) j++;
            pieces_push(out, p->s + sp[i].start, sp[j].end - sp[i].start);
            i = j + 1;
        }
        break;
    }
}

static void pre_tokenize(const dlm_tokenizer *t, piece_list *pieces, pcre2_match_data *md) {
    span *sp = NULL;
    int cap = 0;
    for (int s = 0; s < t->n_pre; s++) {
        const pre_step *step = &t->pre[s];
        piece_list next = {0};
        for (int i = 0; i < pieces->n; i++) {
            piece *p = &pieces->items[i];
            int n;
            switch (step->kind) {
            case PRE_SPLIT:
                n = regex_spans(step->re, md, p->s, p->len, &sp, &cap);
                split_piece(p, sp, n, step->invert, step->behavior, &next);
                break;
            case PRE_DIGITS:
                n = digit_spans(p->s, p->len, step->individual_digits, &sp, &cap);
                split_piece(p, sp, n, false, SPLIT_ISOLATED, &next);
                break;
            case PRE_BYTE_LEVEL: {
                piece q = *p;
                char *prefixed = NULL;
                if (step->add_prefix_space && p->s[0] != ' ') {
                    prefixed = dlm_xmalloc(p->len + 2);
                    prefixed[0] = ' ';
                    memcpy(prefixed + 1, p->s, p->len + 1);
                    q.s = prefixed;
                    q.len = p->len + 1;
                }
                if (step->re) {
                    n = regex_spans(step->re, md, q.s, q.len, &sp, &cap);
                    split_piece(&q, sp, n, false, SPLIT_ISOLATED, &next);
                } else
                    pieces_push(&next, q.s, q.len);
                free(prefixed);
                break;
            }
            }
        }
        pieces_free(pieces);
        *pieces = next;
    }
    free(sp);
}

static char *normalize(const dlm_tokenizer *t, const char *s, size_t len, size_t *out_len) {
    char *cur = dlm_xmalloc(len + 1);
    memcpy(cur, s, len);
    cur[len] = 0;
    for (int i = 0; i < t->n_norms; i++) {
        int opts = UTF8PROC_STABLE;
        switch (t->norms[i]) {
        case NORM_NFC: opts |= UTF8PROC_COMPOSE; break;
        case NORM_NFD: opts |= UTF8PROC_DECOMPOSE; break;
        case NORM_NFKC: opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
        case NORM_NFKD: opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
        }
        utf8proc_uint8_t *res = NULL;
        utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)cur, (utf8proc_ssize_t)len, &res, (utf8proc_option_t)opts);
        if (n < 0) continue; // cannot happen on validated UTF-8; keep the text as is
        free(cur);
        cur = (char *)res;
        len = (size_t)n;
    }
    *out_len = len;
    return cur;
}

static void encode_segment(const dlm_tokenizer *t, const char *s, size_t len, id_list *out, pcre2_match_data *md,
                           dlm_buf *scratch) {
    if (len == 0) return;
    size_t nlen;
    char *norm = normalize(t, s, len, &nlen);
    piece_list pieces = {0};
    pieces_push(&pieces, norm, nlen);
    free(norm);
    pre_tokenize(t, &pieces, md);
    for (int i = 0; i < pieces.n; i++)
        bpe_piece(t, (const unsigned char *)pieces.items[i].s, pieces.items[i].len, out, scratch);
    pieces_free(&pieces);
}

// ---- added tokens -------------------------------------------------------------------------------

static int32_t cp_before(const char *s, size_t pos) {
    if (pos == 0) return -1;
    size_t i = pos - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80) i--;
    int32_t cp;
    return utf8_decode((const unsigned char *)s + i, pos - i, &cp) ? cp : -1;
}

static int32_t cp_at(const char *s, size_t len, size_t pos, int *k) {
    int32_t cp;
    *k = pos < len ? utf8_decode((const unsigned char *)s + pos, len - pos, &cp) : 0;
    return *k ? cp : -1;
}

// Longest added token starting at pos, or NULL.
static const added_token *match_added(const dlm_tokenizer *t, const char *s, size_t len, size_t pos) {
    const added_token *best = NULL;
    for (int i = 0; i < t->n_added; i++) {
        const added_token *a = &t->added[i];
        if (a->len > len - pos || (best && a->len <= best->len) || memcmp(s + pos, a->content, a->len) != 0) continue;
        if (a->single_word) {
            int k;
            int32_t before = cp_before(s, pos), after = cp_at(s, len, pos + a->len, &k);
            if ((before >= 0 && is_word_char(before)) || (after >= 0 && is_word_char(after))) continue;
        }
        best = a;
    }
    return best;
}

dlm_status dlm_tokenizer_encode(const dlm_tokenizer *t, const char *s, size_t len, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    size_t bad = dlm_utf8_check(s, len);
    if (bad < len) return dlm_error(DLM_STATUS_FORMAT, "input is not valid UTF-8 (byte %zu)", bad);
    id_list out = {0};
    dlm_buf scratch = {0};
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    bool first_byte[256] = {false};
    for (int i = 0; i < t->n_added; i++) first_byte[(unsigned char)t->added[i].content[0]] = true;

    size_t seg = 0, pos = 0;
    while (pos < len) {
        const added_token *a = first_byte[(unsigned char)s[pos]] ? match_added(t, s, len, pos) : NULL;
        if (!a) {
            pos++;
            continue;
        }
        size_t start = pos, end = pos + a->len;
        if (a->lstrip) // swallow white space on the left (within the pending text)
            while (start > seg) {
                size_t i = start - 1;
                while (i > seg && ((unsigned char)s[i] & 0xc0) == 0x80) i--;
                int32_t cp;
                if (!utf8_decode((const unsigned char *)s + i, start - i, &cp) || !is_white_space(cp)) break;
                start = i;
            }
        if (a->rstrip)
            for (;;) {
                int k;
                int32_t cp = cp_at(s, len, end, &k);
                if (cp < 0 || !is_white_space(cp)) break;
                end += (size_t)k;
            }
        encode_segment(t, s + seg, start - seg, &out, md, &scratch);
        ids_push(&out, a->id);
        seg = pos = end;
    }
    encode_segment(t, s + seg, len - seg, &out, md, &scratch);
    pcre2_match_data_free(md);
    dlm_buf_free(&scratch);
    *ids = out.ids;
    *n = out.n;
    if (!out.ids) *ids = dlm_xmalloc(sizeof(int32_t)); // a valid pointer even for no tokens
    return DLM_STATUS_OK;
}

dlm_status dlm_tokenizer_decode(const dlm_tokenizer *t, const int32_t *ids, int n, bool skip_special, dlm_buf *out) {
    dlm_buf raw = {0};
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *b = dlm_tokenizer_token_bytes(t, ids[i], &len);
        if (!b) {
            dlm_buf_free(&raw);
            return dlm_error(DLM_STATUS_ARG, "token id %d is not in the vocabulary (0..%d)", ids[i], t->n_vocab - 1);
        }
        if (skip_special && t->is_special[ids[i]]) continue;
        dlm_buf_append(&raw, b, len);
    }
    dlm_utf8_append_lossy(out, raw.data ? raw.data : "", raw.len);
    dlm_buf_cstr(out);
    dlm_buf_free(&raw);
    return DLM_STATUS_OK;
}

int dlm_tokenizer_decode_known(const dlm_tokenizer *t, const int32_t *ids, int n, bool skip_special, dlm_buf *out,
                               int32_t *first_unknown) {
    int32_t *known = dlm_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *known);
    int k = 0, left_out = 0;
    for (int i = 0; i < n; i++) {
        if (dlm_tokenizer_token_bytes(t, ids[i], NULL)) known[k++] = ids[i];
        else if (left_out++ == 0 && first_unknown) *first_unknown = ids[i];
    }
    dlm_tokenizer_decode(t, known, k, skip_special, out); // cannot fail: every id is known
    free(known);
    return left_out;
}

// ---- chat template ------------------------------------------------------------------------------

dlm_status dlm_tokenizer_chat_prompt(const dlm_tokenizer *t, const char *user, dlm_buf *out) {
    static const char *const needed[] = {"<|startoftext|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (dlm_tokenizer_find(t, needed[i]) < 0)
            return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: no special token '%s' for the LLaDA chat template", t->path,
                             needed[i]);
    size_t len = strlen(user), a = 0, b = len;
    size_t bad = dlm_utf8_check(user, len);
    if (bad < len) return dlm_error(DLM_STATUS_FORMAT, "prompt is not valid UTF-8 (byte %zu)", bad);
    // Python's str.strip(): Unicode white space on both ends.
    for (;;) {
        int k;
        int32_t cp = cp_at(user, len, a, &k);
        if (cp < 0 || !is_python_space(cp)) break;
        a += (size_t)k;
    }
    while (b > a) {
        int32_t cp = cp_before(user, b);
        if (cp < 0 || !is_python_space(cp)) break;
        char tmp[4];
        b -= (size_t)utf8_encode(cp, tmp);
    }
    dlm_buf_printf(out, "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n");
    dlm_buf_append(out, user + a, b - a);
    dlm_buf_printf(out, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    return DLM_STATUS_OK;
}
