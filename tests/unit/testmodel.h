// testmodel.h — small random LLaDA-layout checkpoints for unit tests (via engine/synth), with
// knobs to break them.
#ifndef DLM_TESTMODEL_H
#define DLM_TESTMODEL_H

#include "engine/arch.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "engine/synth.h"
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
    const char *extra_tensor; // a tensor the family does not have (a bias vector under this name)
    const char *family;       // NULL: LLaDA; else a family of engine/arch.c, with its real tensor names and keys
} tu_model_spec;

static inline void tu_write_model(const char *dir, const tu_model_spec *m) {
    dlm_synth_spec s = dlm_synth_spec_make(m->d, m->n_heads, m->n_kv_heads, m->n_layers, m->d_ff, m->n_vocab);
    s.cfg.max_seq_len = 512;
    s.cfg.rope_theta = 10000.0f;
    s.cfg.tied_embeddings = m->tied;
    if (m->family) {
        s.cfg.arch = dlm_arch_find(m->family);
        if (!s.cfg.arch) fail_msg("no family '%s'", m->family);
        s.cfg.qkv_bias = s.cfg.arch->qkv_bias, s.cfg.qk_norm = s.cfg.arch->qk_norm;
        s.cfg.block_causal = s.cfg.arch->default_block;
    }
    s.dtype = m->dtype ? m->dtype : "F32";
    s.seed = m->seed;
    s.omit = m->omit, s.bad_shape = m->bad_shape, s.bad_dtype = m->bad_dtype, s.extra_config = m->extra_config;
    s.extra_tensor = m->extra_tensor;
    if (dlm_synth_write(dir, &s) != DLM_STATUS_OK) fail_msg("synth: %s", dlm_error_message());
}

static inline tu_model_spec tu_small_spec(void) {
    tu_model_spec m = {0};
    m.d = 32, m.n_heads = 4, m.n_kv_heads = 2, m.n_layers = 2, m.d_ff = 48, m.n_vocab = 64, m.seed = 1;
    return m;
}

// Group fixture: the small model written to a fresh directory, loaded, on a 1-thread CPU backend.
static inline int tu_small_engine_open(char **dir, dlm_model **model, dlm_backend **be) {
    *dir = tu_tmpdir();
    tu_model_spec spec = tu_small_spec();
    tu_write_model(*dir, &spec);
    *model = dlm_model_load(*dir, NULL);
    *be = *model ? dlm_backend_new(*model, "cpu", 1) : NULL;
    return *be ? 0 : -1;
}

static inline void tu_small_engine_close(char **dir, dlm_model **model, dlm_backend **be) {
    dlm_backend_free(*be);
    dlm_model_free(*model);
    tu_rmtree(*dir);
    free(*dir);
    *be = NULL, *model = NULL, *dir = NULL;
}

#endif
