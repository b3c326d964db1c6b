// scripted.h — a fake model backend whose distributions the test chooses, per forward and position.
//
// The test supplies fn(ctx, call, pos, ids, n, probs): fill probs (n_vocab) for position `pos` of
// forward number `call` (0-based), given the input ids. The backend turns them into logits
// (log p, so softmax gives them back) and summarises rows exactly like the real backends.
#ifndef DLM_SCRIPTED_H
#define DLM_SCRIPTED_H

#include <math.h>

#include "engine/backend.h"
#include "testutil.h"

typedef void (*scripted_fn)(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs);

typedef struct {
    scripted_fn fn;
    void       *ctx;
    int         calls;
    // what the last forward received
    int         last_n_tokens, last_soft_k;
    int32_t     last_soft_ids[64 * 9];
    float       last_soft_w[64 * 9];
} scripted_impl;

static inline dlm_status scripted_forward(dlm_backend *be, const dlm_forward_args *a, const dlm_sample_opts *o,
                                          dlm_row_summary *out) {
    scripted_impl *sc = be->impl;
    int V = be->model->cfg.n_vocab;
    double *p = calloc((size_t)V, sizeof *p);
    float *logits = calloc((size_t)V, sizeof *logits);
    sc->last_n_tokens = a->n_tokens;
    sc->last_soft_k = a->soft_k;
    if (a->soft_k && a->n_tokens * a->soft_k <= 64 * 9) {
        memcpy(sc->last_soft_ids, a->soft_ids, (size_t)a->n_tokens * a->soft_k * sizeof(int32_t));
        memcpy(sc->last_soft_w, a->soft_w, (size_t)a->n_tokens * a->soft_k * sizeof(float));
    }
    for (int r = 0; r < a->n_rows; r++) {
        memset(p, 0, (size_t)V * sizeof *p);
        sc->fn(sc->ctx, sc->calls, a->rows[r], a->ids, a->n_tokens, p);
        for (int v = 0; v < V; v++) logits[v] = p[v] > 0 ? (float)log(p[v]) : -1e30f;
        dlm_summarize_logits(logits, V, a->rows[r], a->given ? a->given[r] : -1, o, &out[r], NULL);
    }
    sc->calls++;
    free(p);
    free(logits);
    return DLM_STATUS_OK;
}

static inline void scripted_free(dlm_backend *be) {
    free(be->impl);
    free(be);
}

static const dlm_backend_ops scripted_ops = {"scripted", scripted_forward, scripted_free};

// A model with only a config: V tokens, mask = V-1, eos = V-2.
static inline dlm_model *scripted_model(int n_vocab) {
    dlm_model *m = calloc(1, sizeof *m);
    m->cfg.n_vocab = m->cfg.vocab_size = n_vocab;
    m->cfg.mask_id = n_vocab - 1;
    m->cfg.eos_id = n_vocab - 2;
    m->cfg.max_seq_len = 4096;
    m->dir = dlm_xstrdup("scripted");
    return m;
}

static inline dlm_backend *scripted_backend(const dlm_model *m, scripted_fn fn, void *ctx) {
    dlm_backend *be = calloc(1, sizeof *be);
    scripted_impl *sc = calloc(1, sizeof *sc);
    sc->fn = fn;
    sc->ctx = ctx;
    be->ops = &scripted_ops;
    be->model = m;
    be->impl = sc;
    snprintf(be->device, sizeof be->device, "scripted");
    return be;
}

// probs: token `tok` gets p, the rest of the mass spread evenly over the other non-mask tokens.
static inline void peak(double *probs, int V, int tok, double p) {
    for (int v = 0; v < V - 1; v++) probs[v] = (1.0 - p) / (V - 2);
    probs[V - 1] = 0; // the scripted model never predicts [MASK]
    probs[tok] = p;
}

// Two candidates: a with pa, b with pb, the rest spread.
static inline void peak2(double *probs, int V, int a, double pa, int b, double pb) {
    for (int v = 0; v < V - 1; v++) probs[v] = (1.0 - pa - pb) / (V - 3);
    probs[V - 1] = 0;
    probs[a] = pa;
    probs[b] = pb;
}

#endif
