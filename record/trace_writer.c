// trace_writer.c — msgpack encoding of the header, step records and footer.
#include "trace_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/hub.h"
#include "engine/rules/rule.h"
#include "engine/safetensors.h"
#include "engine/util.h"
#include "engine/version.h"

struct dlm_trace_writer {
    FILE                *f;
    char                *path;
    const dlm_tokenizer *tok;
    dlm_trace_header     h;       // copy of the scalars (no owned pointers)
    uint8_t             *seen;    // (n_vocab) token text already written
    uint64_t            *offsets; // byte offset of each step record
    int                  n_steps, cap_steps;
    uint64_t             pos;     // bytes written so far
    long                 commits, edits, remasks;
    double               forward_ms;
    int32_t             *last_tokens; // generation region after the last step
    msgpack_sbuffer      sb;
    msgpack_packer       pk;
    dlm_buf              col;     // column scratch
};

void dlm_trace_header_free(dlm_trace_header *h) {
    free(h->prompt_text);
    free(h->prompt_ids);
    h->prompt_text = NULL;
    h->prompt_ids = NULL;
}

void dlm_trace_header_from_session(dlm_trace_header *h, const dlm_model *m, const dlm_session *s,
                                   const char *prompt_text, const char *tokenizer_path, const char *device) {
    memset(h, 0, sizeof *h);
    h->version_major = DLM_TRACE_VERSION_MAJOR;
    h->version_minor = DLM_TRACE_VERSION_MINOR;
    snprintf(h->dlmscope_version, sizeof h->dlmscope_version, "%s", DLM_VERSION);
    h->created = (int64_t)time(NULL);
    const char *base = strrchr(m->dir, '/');
    char name[1024];
    snprintf(name, sizeof name, "%s", m->dir);
    size_t len = strlen(name);
    while (len > 1 && name[len - 1] == '/') name[--len] = 0; // "dir/" -> "dir"
    base = strrchr(name, '/');
    if (!dlm_hub_name_of(m->dir, h->model_name, sizeof h->model_name)) // a hub snapshot: ORG/NAME, not its hash
        snprintf(h->model_name, sizeof h->model_name, "%s", base ? base + 1 : name);
    snprintf(h->model_dir, sizeof h->model_dir, "%s", m->dir);
    h->model_identity = m->identity;
    snprintf(h->adapter, sizeof h->adapter, "%s", m->adapter_dir ? m->adapter_dir : "");
    h->n_vocab = m->cfg.n_vocab;
    h->mask_id = m->cfg.mask_id;
    h->eos_id = m->cfg.eos_id;
    h->id_width = m->cfg.n_vocab <= 65536 ? 2 : 4;
    snprintf(h->tokenizer, sizeof h->tokenizer, "%s", tokenizer_path ? tokenizer_path : "");
    snprintf(h->device, sizeof h->device, "%s", device ? device : "");
    h->prompt_text = prompt_text ? dlm_xstrdup(prompt_text) : NULL;
    h->prompt_len = dlm_session_prompt_len(s);
    h->prompt_ids = dlm_xmalloc((size_t)h->prompt_len * sizeof *h->prompt_ids);
    memcpy(h->prompt_ids, dlm_session_tokens(s), (size_t)h->prompt_len * sizeof *h->prompt_ids);
    const dlm_rule_config *r = dlm_session_rule(s);
    h->rule = *r;
    dlm_rule_format(r, h->rule_spec, sizeof h->rule_spec);
    h->gen_len = r->gen;
    h->n_tokens = dlm_session_n_tokens(s);
    dlm_session_state st;
    dlm_session_export(s, &st);
    h->block_causal = st.block_causal;
    dlm_session_state_free(&st);
    h->parent_step = -1;
}

// ---- packing helpers ----------------------------------------------------------------------------

// A map whose entries are counted as they are written, so no count is ever maintained by hand:
// mb_init, then mb_key + a value per entry (nested maps through another builder), then mb_end
// packs the map header and the entries into the parent.
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer  pk;
    size_t          n;
} map_builder;

static void mb_init(map_builder *m) {
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
    m->n = 0;
}

static void mb_end(map_builder *m, msgpack_packer *parent) {
    msgpack_pack_map(parent, m->n);
    parent->callback(parent->data, m->sb.data ? m->sb.data : "", m->sb.size);
    msgpack_sbuffer_destroy(&m->sb);
}

static void pack_str(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static msgpack_packer *mb_key(map_builder *m, const char *k) {
    m->n++;
    pack_str(&m->pk, k);
    return &m->pk;
}

static void kv_int(map_builder *m, const char *k, int64_t v) { msgpack_pack_int64(mb_key(m, k), v); }
static void kv_str(map_builder *m, const char *k, const char *v) { pack_str(mb_key(m, k), v); }
static void kv_double(map_builder *m, const char *k, double v) { msgpack_pack_double(mb_key(m, k), v); }
static void kv_bool(map_builder *m, const char *k, bool v) {
    msgpack_packer *pk = mb_key(m, k);
    if (v) msgpack_pack_true(pk);
    else msgpack_pack_false(pk);
}
static void kv_bin(map_builder *m, const char *k, const void *data, size_t n) {
    msgpack_packer *pk = mb_key(m, k);
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, n ? data : "", n);
}

static void col_u8(dlm_buf *b, uint8_t v) { dlm_buf_append(b, &v, 1); }
static void col_u16(dlm_buf *b, uint16_t v) {
    uint8_t le[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    dlm_buf_append(b, le, 2);
}
static void col_u32(dlm_buf *b, uint32_t v) {
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    dlm_buf_append(b, le, 4);
}
static void col_f32(dlm_buf *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    col_u32(b, u);
}
static void col_id(dlm_buf *b, int width, int32_t id) {
    if (width == 2) col_u16(b, (uint16_t)id);
    else col_u32(b, (uint32_t)id);
}

// Token text for ids not yet written: two parallel arrays, ids and their bytes.
static void pack_new_tokens(dlm_trace_writer *w, map_builder *m, const int32_t *ids, int n) {
    int32_t *fresh = dlm_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *fresh);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= w->h.n_vocab || w->seen[id]) continue;
        w->seen[id] = 1;
        if (w->tok && dlm_tokenizer_token_bytes(w->tok, id, NULL)) fresh[k++] = id;
    }
    msgpack_packer *pk = mb_key(m, DLM_TK(TOKENS, new_token_ids));
    msgpack_pack_array(pk, (size_t)k);
    for (int i = 0; i < k; i++) msgpack_pack_int64(pk, fresh[i]);
    pk = mb_key(m, DLM_TK(TOKENS, new_token_bytes));
    msgpack_pack_array(pk, (size_t)k);
    for (int i = 0; i < k; i++) {
        size_t len;
        const char *b = dlm_tokenizer_token_bytes(w->tok, fresh[i], &len);
        msgpack_pack_bin(pk, len);
        msgpack_pack_bin_body(pk, len ? b : "", len);
    }
    free(fresh);
}

static dlm_status flush_record(dlm_trace_writer *w) {
    if (fwrite(w->sb.data, 1, w->sb.size, w->f) != w->sb.size || fflush(w->f) != 0)
        return dlm_error(DLM_STATUS_IO, "%s: write failed: %s", w->path, strerror(errno));
    w->pos += w->sb.size;
    msgpack_sbuffer_clear(&w->sb);
    return DLM_STATUS_OK;
}

// ---- header ---------------------------------------------------------------------------------------

// A new file next to `target`, for writing the header before it replaces the target: a file
// that may be open elsewhere (a reader, or the parent of this very run) is never truncated.
static FILE *create_beside(const char *target, char **tmp_path) {
    static atomic_uint counter;
    const char *slash = strrchr(target, '/');
    int dir_len = slash ? (int)(slash - target + 1) : 0;
    size_t n = strlen(target) + 64;
    char *p = dlm_xmalloc(n);
    snprintf(p, n, "%.*s.%s.%ld-%u.tmp", dir_len, target, slash ? slash + 1 : target, (long)getpid(),
             atomic_fetch_add(&counter, 1));
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        int err = errno;
        if (fd >= 0) close(fd), unlink(p);
        free(p);
        errno = err;
        return NULL;
    }
    *tmp_path = p;
    return f;
}

dlm_status dlm_trace_writer_open(const char *path, const dlm_trace_header *h, const dlm_tokenizer *tok,
                                 dlm_trace_writer **out) {
    *out = NULL;
    // A regular file (or none yet) is replaced by rename once the header is written; a device or
    // FIFO (/dev/null, a pipe) is written in place. A symlink's target is what gets replaced.
    struct stat sb;
    char *real = NULL, *tmp = NULL;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) real = realpath(path, NULL);
    const char *target = real ? real : path;
    bool in_place = stat(target, &sb) == 0 && !S_ISREG(sb.st_mode);
    FILE *f = in_place ? fopen(target, "wb") : create_beside(target, &tmp);
    if (!f) {
        dlm_status e = dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
        free(real);
        return e;
    }
    dlm_trace_writer *w = dlm_xcalloc(1, sizeof *w);
    w->f = f;
    w->path = dlm_xstrdup(path);
    w->tok = tok;
    w->h = *h;
    w->h.prompt_text = NULL;
    w->h.prompt_ids = NULL;
    w->seen = dlm_xcalloc((size_t)h->n_vocab, 1);
    w->last_tokens = dlm_xcalloc((size_t)(h->gen_len > 0 ? h->gen_len : 1), sizeof *w->last_tokens);
    for (int i = 0; i < h->gen_len; i++) w->last_tokens[i] = h->mask_id;
    msgpack_sbuffer_init(&w->sb);
    msgpack_packer_init(&w->pk, &w->sb, msgpack_sbuffer_write);
    map_builder m, model, params;
    mb_init(&m);
    kv_str(&m, DLM_TK(HEADER, type), "header");
    kv_str(&m, DLM_TK(HEADER, format), DLM_TRACE_FORMAT);
    msgpack_packer *pk = mb_key(&m, DLM_TK(HEADER, version));
    msgpack_pack_array(pk, 2);
    msgpack_pack_int64(pk, DLM_TRACE_VERSION_MAJOR);
    msgpack_pack_int64(pk, DLM_TRACE_VERSION_MINOR);
    kv_str(&m, DLM_TK(HEADER, dlmscope), h->dlmscope_version);
    kv_int(&m, DLM_TK(HEADER, created), h->created);
    mb_init(&model);
    kv_str(&model, DLM_TK(MODEL, name), h->model_name);
    kv_str(&model, DLM_TK(MODEL, dir), h->model_dir);
    char ident[24];
    snprintf(ident, sizeof ident, "%016llx", (unsigned long long)h->model_identity);
    kv_str(&model, DLM_TK(MODEL, identity), ident);
    kv_str(&model, DLM_TK(MODEL, adapter), h->adapter);
    kv_int(&model, DLM_TK(MODEL, n_vocab), h->n_vocab);
    kv_int(&model, DLM_TK(MODEL, mask_id), h->mask_id);
    kv_int(&model, DLM_TK(MODEL, eos_id), h->eos_id);
    mb_end(&model, mb_key(&m, DLM_TK(HEADER, model)));
    kv_str(&m, DLM_TK(HEADER, tokenizer), h->tokenizer);
    kv_str(&m, DLM_TK(HEADER, device), h->device);
    kv_int(&m, DLM_TK(HEADER, id_width), h->id_width);
    pk = mb_key(&m, DLM_TK(HEADER, prompt_text));
    if (h->prompt_text) pack_str(pk, h->prompt_text);
    else msgpack_pack_nil(pk);
    w->col.len = 0;
    for (int i = 0; i < h->prompt_len; i++) col_id(&w->col, h->id_width, h->prompt_ids[i]);
    kv_bin(&m, DLM_TK(HEADER, prompt_ids), w->col.data, w->col.len);
    kv_int(&m, DLM_TK(HEADER, prompt_len), h->prompt_len);
    kv_int(&m, DLM_TK(HEADER, gen_len), h->gen_len);
    kv_int(&m, DLM_TK(HEADER, n_tokens), h->n_tokens);
    kv_int(&m, DLM_TK(HEADER, block_len), h->rule.block);
    kv_int(&m, DLM_TK(HEADER, block_causal), h->block_causal);
    kv_str(&m, DLM_TK(HEADER, rule), h->rule_spec);
    mb_init(&params); // the same rule as a map, for readers that want fields
    kv_str(&params, DLM_TK(RULE_PARAMS, name), dlm_rule_name(h->rule.kind));
    char v[64];
    for (int p = 0; p < DLM_PARAM_COUNT; p++)
        if (dlm_param_applies(p, h->rule.kind)) {
            dlm_param_format(&h->rule, p, v, sizeof v);
            kv_str(&params, dlm_param_name(p), v);
        }
    mb_end(&params, mb_key(&m, DLM_TK(HEADER, rule_params)));
    kv_int(&m, DLM_TK(HEADER, seed), (int64_t)h->rule.seed);
    kv_int(&m, DLM_TK(HEADER, top_k), h->rule.top_k);
    kv_str(&m, DLM_TK(HEADER, parent), h->parent);
    kv_int(&m, DLM_TK(HEADER, parent_step), h->parent_step);
    // Text of the prompt's tokens and of the ids a viewer always needs.
    int32_t *ids = dlm_xmalloc((size_t)(h->prompt_len + 2) * sizeof *ids);
    memcpy(ids, h->prompt_ids, (size_t)h->prompt_len * sizeof *ids);
    ids[h->prompt_len] = h->mask_id;
    ids[h->prompt_len + 1] = h->eos_id;
    pack_new_tokens(w, &m, ids, h->prompt_len + 2);
    free(ids);
    mb_end(&m, &w->pk);
    dlm_status st = flush_record(w);
    if (st == DLM_STATUS_OK && tmp && rename(tmp, target) != 0)
        st = dlm_error(DLM_STATUS_IO, "%s: cannot replace it: %s", path, strerror(errno));
    if (st != DLM_STATUS_OK) {
        if (tmp) unlink(tmp);
        free(tmp);
        free(real);
        dlm_trace_writer_abort(w);
        return st;
    }
    free(tmp);
    free(real);
    *out = w;
    return DLM_STATUS_OK;
}

// ---- step records ---------------------------------------------------------------------------------

dlm_status dlm_trace_writer_append(dlm_trace_writer *w, const dlm_step *st, const dlm_session_state *state) {
    const int P = w->h.prompt_len, N = w->h.n_tokens, G = N - P, W = w->h.id_width;
    if (st->n_tokens != N || state->n_tokens != N)
        return dlm_error(DLM_STATUS_ARG, "%s: step with %d positions in a trace of %d", w->path, st->n_tokens, N);
    const dlm_rule_config *r = &state->rule;
    const int K = r->top_k;
    int fed_k = 0;
    for (int i = P; i < N; i++)
        if (st->pos[i].n_soft > fed_k) fed_k = st->pos[i].n_soft;

    map_builder m, sm;
    mb_init(&m);
    kv_str(&m, DLM_TK(STEP, type), "step");
    kv_int(&m, DLM_TK(STEP, step), st->step);
    kv_int(&m, DLM_TK(STEP, block), st->block);
    kv_int(&m, DLM_TK(STEP, n_blocks), st->n_blocks);
    kv_int(&m, DLM_TK(STEP, block_start), st->block_start);
    kv_int(&m, DLM_TK(STEP, block_end), st->block_end);
    kv_int(&m, DLM_TK(STEP, step_in_block), st->step_in_block);
    kv_int(&m, DLM_TK(STEP, commits), st->n_commits);
    kv_int(&m, DLM_TK(STEP, edits), st->n_edits);
    kv_int(&m, DLM_TK(STEP, remasks), st->n_remasks);
    kv_int(&m, DLM_TK(STEP, transitions), st->n_transitions);
    kv_int(&m, DLM_TK(STEP, finalized), st->n_finalized);
    kv_int(&m, DLM_TK(STEP, stuck), st->n_stuck);
    kv_double(&m, DLM_TK(STEP, forward_ms), st->forward_ms);
    kv_double(&m, DLM_TK(STEP, step_ms), st->step_ms);
    kv_bool(&m, DLM_TK(STEP, done), st->done);

    // Text of ids appearing for the first time in this record.
    int n_ids = 0, cap = G * (3 + K + fed_k) + 1;
    int32_t *ids = dlm_xmalloc((size_t)cap * sizeof *ids);
    for (int i = P; i < N; i++) {
        const dlm_pos_info *p = &st->pos[i];
        ids[n_ids++] = p->token;
        ids[n_ids++] = p->prev_token;
        if (p->has_dist) ids[n_ids++] = p->sampled;
        for (int j = 0; j < p->n_top && j < K; j++) ids[n_ids++] = p->top_id[j];
        for (int j = 0; j < p->n_soft && j < fed_k; j++) ids[n_ids++] = p->soft_id[j];
    }
    pack_new_tokens(w, &m, ids, n_ids);
    free(ids);

    // Columns over the generation region.
    dlm_buf *c = &w->col;
#define COLUMN(name, expr)                              \
    do {                                                \
        c->len = 0;                                     \
        for (int i = P; i < N; i++) {                   \
            const dlm_pos_info *p = &st->pos[i];        \
            (void)p;                                    \
            expr;                                       \
        }                                               \
        kv_bin(&m, name, c->data, c->len);              \
    } while (0)
    COLUMN(DLM_TK(STEP, token), col_id(c, W, p->token));
    COLUMN(DLM_TK(STEP, state), col_u8(c, p->state));
    COLUMN(DLM_TK(STEP, events), col_u8(c, p->events));
    COLUMN(DLM_TK(STEP, flags), col_u8(c, (uint8_t)((p->has_dist ? DLM_TRACE_FLAG_HAS_DIST : 0) | (p->stuck ? DLM_TRACE_FLAG_STUCK : 0))));
    COLUMN(DLM_TK(STEP, sampled), col_id(c, W, p->has_dist ? p->sampled : 0));
    COLUMN(DLM_TK(STEP, p_sampled), col_u16(c, dlm_trace_quant_p(p->p_sampled)));
    COLUMN(DLM_TK(STEP, p_current), col_u16(c, dlm_trace_quant_p(p->p_current)));
    COLUMN(DLM_TK(STEP, entropy), col_u16(c, dlm_trace_quant_entropy(p->entropy)));
    COLUMN(DLM_TK(STEP, n_top), col_u8(c, (uint8_t)(p->n_top < K ? p->n_top : K)));
    kv_int(&m, DLM_TK(STEP, top_k), K);
    COLUMN(DLM_TK(STEP, top_id), for (int j = 0; j < K; j++) col_id(c, W, j < p->n_top ? p->top_id[j] : 0));
    COLUMN(DLM_TK(STEP, top_p), for (int j = 0; j < K; j++) col_u16(c, j < p->n_top ? dlm_trace_quant_p(p->top_p[j]) : 0));
    // (position, previous token) wherever the token changed in this step
    COLUMN(DLM_TK(STEP, changes), if (p->prev_token != p->token) { col_u32(c, (uint32_t)i); col_u32(c, (uint32_t)p->prev_token); });
    if (fed_k > 0) { // the soft inputs this step's forward was fed (EvoToken)
        kv_int(&m, DLM_TK(STEP, soft_k), fed_k);
        COLUMN(DLM_TK(STEP, n_soft), col_u8(c, p->n_soft));
        COLUMN(DLM_TK(STEP, soft_id), for (int j = 0; j < fed_k; j++) col_id(c, W, j < p->n_soft ? p->soft_id[j] : 0));
        COLUMN(DLM_TK(STEP, soft_w), for (int j = 0; j < fed_k; j++) col_u16(c, j < p->n_soft ? dlm_f32_to_bf16(p->soft_w[j]) : 0));
    }
    if (st->n_moe_layers > 0) { // the experts each position was routed to (MoE models)
        const size_t E = (size_t)st->n_moe_layers * st->experts_per_layer;
        kv_int(&m, DLM_TK(STEP, moe_layers), st->n_moe_layers);
        kv_int(&m, DLM_TK(STEP, experts_per_layer), st->experts_per_layer);
        kv_int(&m, DLM_TK(STEP, first_moe_layer), st->first_moe_layer);
        COLUMN(DLM_TK(STEP, experts), for (size_t j = 0; j < E; j++) col_u16(c, (uint16_t)st->experts[(size_t)i * E + j]));
    }
#undef COLUMN
    if (st->n_interventions > 0) { // what a person did before this step (absent: nothing)
        msgpack_packer *pk = mb_key(&m, DLM_TK(STEP, interventions));
        msgpack_pack_array(pk, (size_t)st->n_interventions);
        for (int k = 0; k < st->n_interventions; k++) {
            const dlm_intervention *iv = &st->interventions[k];
            map_builder e;
            mb_init(&e);
            kv_str(&e, DLM_TK(INTERVENTION, who), iv->who[0] ? iv->who : "user");
            kv_str(&e, DLM_TK(INTERVENTION, what), dlm_intervention_name(iv->kind));
            kv_int(&e, DLM_TK(INTERVENTION, pos), iv->pos);
            kv_int(&e, DLM_TK(INTERVENTION, end), iv->end);
            if (iv->kind == DLM_IV_FORCE) kv_int(&e, DLM_TK(INTERVENTION, token), iv->token);
            mb_end(&e, pk);
        }
    }

    // The session state after this step, beyond what the columns already hold: enough to resume.
    mb_init(&sm);
    char spec[512];
    dlm_rule_format(r, spec, sizeof spec);
    kv_str(&sm, DLM_TK(SESSION, rule), spec);
    kv_int(&sm, DLM_TK(SESSION, block), state->block);
    kv_int(&sm, DLM_TK(SESSION, step_in_block), state->step_in_block);
    kv_int(&sm, DLM_TK(SESSION, post_steps), state->post_steps);
    kv_int(&sm, DLM_TK(SESSION, step), state->step);
    kv_int(&sm, DLM_TK(SESSION, block_masks), state->block_masks);
    kv_bool(&sm, DLM_TK(SESSION, done), state->done);
    kv_bool(&sm, DLM_TK(SESSION, stopped), state->stopped);
    kv_bool(&sm, DLM_TK(SESSION, prev_valid), state->prev_valid);
#define STATE_COLUMN(name, expr)                        \
    do {                                                \
        c->len = 0;                                     \
        for (int i = P; i < N; i++) expr;               \
        kv_bin(&sm, name, c->data, c->len);             \
    } while (0)
    const dlm_rule_ops *ops = dlm_rule_ops_of(r->kind); // the rule's own per-position state
    for (int k = 0; k < ops->n_state_cols; k++) {
        const dlm_rule_state_col *sc = &ops->state_cols[k];
        const void *arr = *(void *const *)((const char *)state + sc->offset);
        if (sc->type == DLM_STATE_F32) STATE_COLUMN(sc->name, col_f32(c, ((const float *)arr)[i]));
        else STATE_COLUMN(sc->name, col_u16(c, ((const uint16_t *)arr)[i]));
    }
    bool any_pinned = false;
    for (int i = P; i < N && state->pinned; i++) any_pinned |= state->pinned[i] != 0;
    if (any_pinned) STATE_COLUMN(DLM_TK(SESSION, pinned), col_u8(c, state->pinned[i] ? 1 : 0));
    if (st->n_block_info > 0) // pipelined rules (d2f): every generation block's state, one byte each
        kv_bin(&sm, DLM_TK(SESSION, blocks), state->block_info, (size_t)st->n_block_info);
    if (r->cache == DLM_RULE_CACHE_OFFICIAL_BLOCK) // the tokens the official block cache was built from
        STATE_COLUMN(DLM_TK(SESSION, last_fwd_ids), col_id(c, W, state->last_fwd_ids[i]));
    if (state->soft_k > 0) {
        const int S = state->soft_k;
        kv_int(&sm, DLM_TK(SESSION, soft_k), S);
        STATE_COLUMN(DLM_TK(SESSION, soft_ids), for (int j = 0; j < S; j++) col_id(c, W, state->soft_ids[(size_t)i * S + j]));
        STATE_COLUMN(DLM_TK(SESSION, soft_w), for (int j = 0; j < S; j++) col_u16(c, dlm_f32_to_bf16(state->soft_w[(size_t)i * S + j])));
    }
    if (state->cache_len > 0) { // KV cache: the inputs of the forward that refreshed it
        kv_int(&sm, DLM_TK(SESSION, cache_len), state->cache_len);
        STATE_COLUMN(DLM_TK(SESSION, cache_ids), col_id(c, W, state->cache_ids[i]));
        const int S = state->cache_soft_k;
        if (S > 0) {
            kv_int(&sm, DLM_TK(SESSION, cache_soft_k), S);
            STATE_COLUMN(DLM_TK(SESSION, cache_soft_ids), for (int j = 0; j < S; j++) col_id(c, W, state->cache_soft_ids[(size_t)i * S + j]));
            STATE_COLUMN(DLM_TK(SESSION, cache_soft_w),
                         for (int j = 0; j < S; j++) col_u16(c, dlm_f32_to_bf16(state->cache_soft_w[(size_t)i * S + j])));
        }
    }
#undef STATE_COLUMN
    mb_end(&sm, mb_key(&m, DLM_TK(STEP, session)));
    mb_end(&m, &w->pk);

    if (w->n_steps == w->cap_steps) {
        w->cap_steps = w->cap_steps ? 2 * w->cap_steps : 256;
        w->offsets = dlm_xrealloc(w->offsets, (size_t)w->cap_steps * sizeof *w->offsets);
    }
    w->offsets[w->n_steps] = w->pos;
    dlm_status s = flush_record(w);
    if (s != DLM_STATUS_OK) return s;
    w->n_steps++;
    w->commits += st->n_commits, w->edits += st->n_edits, w->remasks += st->n_remasks;
    w->forward_ms += st->forward_ms;
    for (int i = 0; i < w->h.gen_len; i++) w->last_tokens[i] = st->pos[P + i].token;
    return DLM_STATUS_OK;
}

dlm_status dlm_trace_writer_append_raw(dlm_trace_writer *w, const void *bytes, size_t n) {
    if (w->n_steps == w->cap_steps) {
        w->cap_steps = w->cap_steps ? 2 * w->cap_steps : 256;
        w->offsets = dlm_xrealloc(w->offsets, (size_t)w->cap_steps * sizeof *w->offsets);
    }
    w->offsets[w->n_steps] = w->pos;
    if (fwrite(bytes, 1, n, w->f) != n || fflush(w->f) != 0)
        return dlm_error(DLM_STATUS_IO, "%s: write failed: %s", w->path, strerror(errno));
    w->pos += n;
    w->n_steps++;
    return DLM_STATUS_OK;
}

int dlm_trace_writer_n_steps(const dlm_trace_writer *w) { return w->n_steps; }

// ---- footer -----------------------------------------------------------------------------------------

static void writer_free(dlm_trace_writer *w) {
    if (w->f) fclose(w->f);
    msgpack_sbuffer_destroy(&w->sb);
    dlm_buf_free(&w->col);
    free(w->seen);
    free(w->offsets);
    free(w->last_tokens);
    free(w->path);
    free(w);
}

dlm_status dlm_trace_writer_close(dlm_trace_writer *w) {
    if (!w) return DLM_STATUS_OK;
    map_builder m;
    mb_init(&m);
    kv_str(&m, DLM_TK(FOOTER, type), "footer");
    kv_int(&m, DLM_TK(FOOTER, steps), w->n_steps);
    w->col.len = 0;
    for (int i = 0; i < w->h.gen_len; i++) col_id(&w->col, w->h.id_width, w->last_tokens[i]);
    kv_bin(&m, DLM_TK(FOOTER, final), w->col.data, w->col.len);
    kv_int(&m, DLM_TK(FOOTER, commits), w->commits);
    kv_int(&m, DLM_TK(FOOTER, edits), w->edits);
    kv_int(&m, DLM_TK(FOOTER, remasks), w->remasks);
    kv_double(&m, DLM_TK(FOOTER, forward_ms), w->forward_ms);
    w->col.len = 0;
    for (int i = 0; i < w->n_steps; i++) {
        col_u32(&w->col, (uint32_t)w->offsets[i]);
        col_u32(&w->col, (uint32_t)(w->offsets[i] >> 32));
    }
    kv_bin(&m, DLM_TK(FOOTER, index), w->col.data, w->col.len);
    mb_end(&m, &w->pk);
    dlm_status st = flush_record(w);
    if (st == DLM_STATUS_OK && fsync(fileno(w->f)) != 0 && errno != EINVAL && errno != EROFS) // (EINVAL: a device)
        st = dlm_error(DLM_STATUS_IO, "%s: fsync: %s", w->path, strerror(errno));
    if (fclose(w->f) != 0 && st == DLM_STATUS_OK) st = dlm_error(DLM_STATUS_IO, "%s: close: %s", w->path, strerror(errno));
    w->f = NULL;
    writer_free(w);
    return st;
}

void dlm_trace_writer_abort(dlm_trace_writer *w) {
    if (w) writer_free(w);
}
