// testmodel.h — write small random LLaDA-layout checkpoints for unit tests, with knobs to break them.
#ifndef DLM_TESTMODEL_H
#define DLM_TESTMODEL_H

#include "testutil.h"

typedef struct {
    int         d, n_heads, n_kv_heads, n_layers, d_ff, n_vocab;
    const char *dtype;        // "F32" (default), "F16", "BF16"
    bool        tied;         // no LM head tensor; weight_tying true
    const char *omit;         // tensor name to leave out
    const char *bad_shape;    // tensor name written with one extra row
    const char *bad_dtype;    // tensor name written as I64
    uint64_t    seed;
    const char *extra_config; // extra JSON members appended to config.json (",\"k\": v")
} tu_model_spec;

static inline void tu_model_tensor(tu_st *st, const tu_model_spec *m, const char *name, int64_t rows, int64_t cols,
                                   float scale, float offset, uint64_t seed) {
    if (m->omit && strcmp(m->omit, name) == 0) return;
    if (m->bad_shape && strcmp(m->bad_shape, name) == 0) rows++;
    int64_t shape[2] = {rows, cols};
    int n_dims = cols ? 2 : 1;
    size_t n = (size_t)(rows * (cols ? cols : 1));
    if (m->bad_dtype && strcmp(m->bad_dtype, name) == 0) {
        int64_t *v = calloc(n, 8);
        tu_st_add(st, name, "I64", n_dims, shape, v, n * 8);
        free(v);
        return;
    }
    float *v = malloc(n * sizeof *v);
    tu_fill(v, n, seed, scale);
    for (size_t i = 0; i < n; i++) v[i] += offset;
    tu_st_add_f32(st, name, m->dtype ? m->dtype : "F32", n_dims, shape, v);
    free(v);
}

static inline void tu_write_model(const char *dir, const tu_model_spec *m) {
    int hd = m->d / m->n_heads;
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"d_model\": %d, \"n_heads\": %d, \"n_kv_heads\": %d, \"n_layers\": %d, \"mlp_hidden_size\": %d,"
             " \"vocab_size\": %d, \"rope_theta\": 10000.0, \"rms_norm_eps\": 1e-5, \"mask_token_id\": %d,"
             " \"eos_token_id\": 0, \"weight_tying\": %s, \"max_sequence_length\": 512%s}",
             m->d, m->n_heads, m->n_kv_heads, m->n_layers, m->d_ff, m->n_vocab, m->n_vocab - 1,
             m->tied ? "true" : "false", m->extra_config ? m->extra_config : "");
    tu_write_str(dir, "config.json", cfg);
    tu_st st = {0};
    uint64_t s = m->seed * 1000 + 1;
    char name[128];
    float proj = 1.0f / sqrtf((float)m->d);
    tu_model_tensor(&st, m, "model.transformer.wte.weight", m->n_vocab, m->d, 1.0f, 0, s++);
    for (int l = 0; l < m->n_layers; l++) {
#define T(leaf, rows, cols, scale, off)                                   \
    snprintf(name, sizeof name, "model.transformer.blocks.%d." leaf, l); \
    tu_model_tensor(&st, m, name, rows, cols, scale, off, s++)
        T("attn_norm.weight", m->d, 0, 0.1f, 1.0f);
        T("q_proj.weight", m->n_heads * hd, m->d, proj, 0);
        T("k_proj.weight", m->n_kv_heads * hd, m->d, proj, 0);
        T("v_proj.weight", m->n_kv_heads * hd, m->d, proj, 0);
        T("attn_out.weight", m->d, m->n_heads * hd, proj, 0);
        T("ff_norm.weight", m->d, 0, 0.1f, 1.0f);
        T("ff_proj.weight", m->d_ff, m->d, proj, 0);
        T("up_proj.weight", m->d_ff, m->d, proj, 0);
        T("ff_out.weight", m->d, m->d_ff, 1.0f / sqrtf((float)m->d_ff), 0);
#undef T
    }
    tu_model_tensor(&st, m, "model.transformer.ln_f.weight", m->d, 0, 0.1f, 1.0f, s++);
    if (!m->tied) tu_model_tensor(&st, m, "model.transformer.ff_out.weight", m->n_vocab, m->d, 3.0f * proj, 0, s++);
    tu_st_write(&st, dir, "model.safetensors");
}

static inline tu_model_spec tu_small_spec(void) {
    tu_model_spec m = {0};
    m.d = 32, m.n_heads = 4, m.n_kv_heads = 2, m.n_layers = 2, m.d_ff = 48, m.n_vocab = 64, m.seed = 1;
    return m;
}

#endif
