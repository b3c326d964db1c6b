// backend_cpu.c — the readable fp32 reference forward pass of every model family (arch.h).
//
// Reads top to bottom like the model: embed (hard or soft) -> n_layers x [RMSNorm -> QKV (+ bias)
// -> per-head QK-norm -> RoPE (on the leading rotary dims) -> attention -> out-proj + residual ->
// RMSNorm -> SwiGLU MLP, or in MoE layers the router and the chosen experts (+ a shared expert) ->
// + residual] -> final RMSNorm -> LM head for the requested rows only (row i-1 for position i when
// the family shifts its logits) -> per-row softmax summary. The weights are the layer plan's
// slots (plan.h). Matrices stay in the checkpoint's
// dtype, mapped from disk; the matrix products (cpu_gemm.c) convert them per panel and run OpenBLAS
// sgemm; the loops around them are OpenMP-parallel. Every CUDA kernel is checked against this file.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "cpu_attention.h"
#include "cpu_gemm.h"
#include "cpu_threads.h"
#include "moe.h"
#include "plan.h"
#include "util.h"

// OpenBLAS extension (declared in its cblas.h, repeated so other CBLAS headers also build).
void openblas_set_num_threads(int n);

// One layer's weights, by layer-plan slot (plan.h). A matrix slot is its parts as views of the
// checkpoint in its own dtype (cpu_gemm.h), outputs side by side (WQKV: q | k | v); a vector slot
// is an fp32 copy of its parts stacked (NULL where the family has none, e.g. BQKV, Q_NORM).
typedef struct {
    cpu_weight mat[DLM_LAYER_SLOT_COUNT][3];
    float     *vec[DLM_LAYER_SLOT_COUNT];
    bool       moe;     // the MLP is the router + experts (mat[ROUTER], experts) instead of W_GATEUP/W_DOWN
    cpu_weight *experts; // MoE layers: (n_experts, 3) gate, up, down views of the mapping
} cpu_layer;

typedef struct {
    float     *vectors; // the one owning allocation of the vector slots (norms, biases)
    int        n_parts[DLM_LAYER_SLOT_COUNT]; // the layer plan's parts per matrix slot
    float    **copies;  // private fp32 matrices (LoRA merged, or a misaligned tensor), freed with the backend
    int        n_copies;
    cpu_weight wte;     // (n_vocab, d)
    cpu_weight lm_head; // (n_vocab, d); the same view as wte when tied
    float     *ln_f;    // (d)
    cpu_layer *layers;  // (n_layers)
    cpu_governor threads; // how many threads each pass runs on (cpu_threads.h)
    // scratch, grown on demand
    int    cap_tokens, cap_rows;
    float *x;          // (L, d) residual stream
    float *xb;         // (L, d) normalised input of a sublayer
    float *qkv;        // (L, qkv_dim)
    float *att;        // (L, n_heads*head_dim)
    float *hb;         // (L, 2*d_ff) gate | up
    float *hm;         // (L, d_ff) silu(gate) * up
    float *kt;         // attention scratch: keys transposed per KV head (cpu_attention.h)
    float *rope_cos;   // (L, head_dim/2)
    float *rope_sin;   // (L, head_dim/2)
    float *xr;         // (n_rows, d) final hidden states of the requested rows
    float *logits;     // (n_rows, n_vocab)
    float *kv;         // (2, L, kv_dim) one layer's K and V (uncached passes)
    // MoE scratch (grown with the tokens): routing per position, rows grouped by expert.
    cpu_weight *expert_views; // (n_layers, n_experts, 3), the one allocation behind cpu_layer.experts
    float   *router_f32; // (n_experts, d) the layer's router in fp32
    double  *router_logits; // (L, n_experts)
    int16_t *route_id;   // (L, n_experts_used) chosen experts, best first
    float   *route_w;    // (L, n_experts_used) their mixing weights
    int     *by_expert;  // (L * n_experts_used) positions grouped by expert (counting sort)
    int     *by_slot;    //   ... and which of the position's choices it is
    int     *expert_start; // (n_experts + 1)
    float   *xe;         // (L, d) the rows routed to one expert
    float   *ye;         // (L, d) its output
    float   *moe_out;    // (L, d) the weighted sum of the experts
    // KV cache (forward.h; what it holds is be->cache): every layer's post-RoPE K and V and the
    // final hidden states of the refreshing (or storing) passes; valid while be->cache_key is nonzero.
    float *kv_cache;   // (n_layers, 2, cache.cap, kv_dim)
    float *h_cache;    // (cache.cap, d)
} cpu_impl;

// Elementwise loops over fewer values than this run on one thread: on a busy machine every parallel
// region is a wake-up and a barrier that waits for the slowest thread to be scheduled.
#define PARALLEL_MIN_VALUES (1 << 16)

static int qkv_dim(const dlm_config *c) { return (c->n_heads + 2 * c->n_kv_heads) * c->head_dim; }
static int kv_dim(const dlm_config *c) { return c->n_kv_heads * c->head_dim; }

// ---- kernels ----------------------------------------------------------------------------------

// out (M, N) = x (M, K) @ W^T + beta * out, W stored (N, K) as in PyTorch Linear; several
// weights put their outputs side by side (cpu_gemm.h).
static void matmul(float *out, const float *x, const cpu_weight *w, int n_weights, int m, float beta) {
    int n = 0;
    for (int i = 0; i < n_weights; i++) n += (int)w[i].rows;
    cpu_gemm(out, n, x, (int)w[0].cols, w, n_weights, m, beta);
}

// RMSNorm in fp32 (LLaDA computes it in fp32 whatever the model dtype), then scale by weight.
static void rmsnorm(float *out, const float *x, const float *w, int d, float eps) {
    double ss = 0;
    for (int i = 0; i < d; i++) ss += (double)x[i] * x[i];
    float scale = 1.0f / sqrtf((float)(ss / d) + eps);
    for (int i = 0; i < d; i++) out[i] = x[i] * scale * w[i];
}

// NeoX "rotate-half" RoPE over the leading rotary_dim dims of each head (all of it, or half in
// LLaDA2): pairs (i, i + rotary_dim/2); inv_freq over rotary_dim as transformers' default init.
static void rope_tables(cpu_impl *cpu, const dlm_config *c, int n_tokens) {
    int half = c->rotary_dim / 2;
    for (int i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)c->rotary_dim);
        for (int p = 0; p < n_tokens; p++) {
            float angle = (float)p * inv_freq;
            cpu->rope_cos[(size_t)p * half + i] = cosf(angle);
            cpu->rope_sin[(size_t)p * half + i] = sinf(angle);
        }
    }
}

static void rope_apply(float *v, const float *cos_, const float *sin_, int half) {
    for (int i = 0; i < half; i++) {
        float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * cos_[i] - x2 * sin_[i];
        v[i + half] = x2 * cos_[i] + x1 * sin_[i];
    }
}

// For the Lq query rows (positions q0 ..), every head: fused tiled attention (cpu_attention.c)
// over K and V (L rows, kv_dim wide) for every position of the sequence.
static void attention(cpu_impl *cpu, const dlm_config *c, int q0, int Lq, int L, int block_size, int block_origin,
                      const float *k_all, const float *v_all) {
    const cpu_attention_shape shape = {c->n_heads, c->n_kv_heads, c->head_dim, q0, Lq, L, block_size, block_origin};
    cpu_attention(&shape, cpu->att, c->n_heads * c->head_dim, cpu->qkv, qkv_dim(c), k_all, v_all, kv_dim(c), cpu->kt);
}

// ---- forward ----------------------------------------------------------------------------------

// The widest SwiGLU of the model: the dense MLP, an expert or the shared expert.
static int ff_width(const dlm_config *c) {
    int w = c->d_ff;
    if (c->d_expert > w) w = c->d_expert;
    if (c->d_shared > w) w = c->d_shared;
    return w;
}

static void free_moe_scratch(cpu_impl *cpu) {
    free(cpu->router_logits); free(cpu->route_id); free(cpu->route_w); free(cpu->by_expert); free(cpu->by_slot);
    free(cpu->xe); free(cpu->ye); free(cpu->moe_out);
}

static void grow_scratch(cpu_impl *cpu, const dlm_config *c, int n_tokens, int n_rows) {
    if (n_tokens > cpu->cap_tokens) {
        size_t L = (size_t)n_tokens;
        const int dff = ff_width(c);
        free(cpu->x); free(cpu->xb); free(cpu->qkv); free(cpu->att); free(cpu->hb); free(cpu->hm);
        free(cpu->kt); free(cpu->rope_cos); free(cpu->rope_sin); free(cpu->kv);
        free_moe_scratch(cpu);
        if (c->n_experts > 0) {
            const size_t k = (size_t)c->n_experts_used;
            cpu->router_logits = dlm_xmalloc(L * c->n_experts * sizeof(double));
            cpu->route_id = dlm_xmalloc(L * k * sizeof(int16_t));
            cpu->route_w = dlm_xmalloc(L * k * sizeof(float));
            cpu->by_expert = dlm_xmalloc(L * k * sizeof(int));
            cpu->by_slot = dlm_xmalloc(L * k * sizeof(int));
            cpu->xe = dlm_xmalloc(L * c->d_model * sizeof(float));
            cpu->ye = dlm_xmalloc(L * c->d_model * sizeof(float));
            cpu->moe_out = dlm_xmalloc(L * c->d_model * sizeof(float));
        }
        cpu->x = dlm_xmalloc(L * c->d_model * sizeof(float));
        cpu->xb = dlm_xmalloc(L * c->d_model * sizeof(float));
        cpu->qkv = dlm_xmalloc(L * qkv_dim(c) * sizeof(float));
        cpu->att = dlm_xmalloc(L * c->n_heads * c->head_dim * sizeof(float));
        cpu->hb = dlm_xmalloc(L * 2 * dff * sizeof(float));
        cpu->hm = dlm_xmalloc(L * dff * sizeof(float));
        const cpu_attention_shape shape = {c->n_heads, c->n_kv_heads, c->head_dim, 0, n_tokens, n_tokens, 0};
        cpu->kt = dlm_xmalloc(cpu_attention_scratch_floats(&shape) * sizeof(float));
        cpu->rope_cos = dlm_xmalloc(L * (c->rotary_dim / 2) * sizeof(float));
        cpu->rope_sin = dlm_xmalloc(L * (c->rotary_dim / 2) * sizeof(float));
        cpu->kv = dlm_xmalloc(2 * L * kv_dim(c) * sizeof(float));
        cpu->cap_tokens = n_tokens;
    }
    if (n_rows > cpu->cap_rows) {
        free(cpu->xr);
        free(cpu->logits);
        cpu->xr = dlm_xmalloc((size_t)n_rows * c->d_model * sizeof(float));
        cpu->logits = dlm_xmalloc((size_t)n_rows * c->n_vocab * sizeof(float));
        cpu->cap_rows = n_rows;
    }
}

// Input embeddings of positions q0 .. q0+Lq-1: the token's row, or the renormalised mixture of the
// soft input's rows.
static void embed(cpu_impl *cpu, const dlm_config *c, const dlm_forward_args *a, int q0, int Lq) {
    const int d = c->d_model;
#pragma omp parallel for schedule(static) if ((size_t)Lq * d >= PARALLEL_MIN_VALUES)
    for (int r = 0; r < Lq; r++) {
        const int i = q0 + r;
        float *x = cpu->x + (size_t)r * d;
        double total = 0;
        for (int k = 0; k < a->soft_k; k++) total += fmaxf(a->soft_w[(size_t)i * a->soft_k + k], 0.0f);
        if (total <= 0) {
            cpu_weight_row(&cpu->wte, a->ids[i], x);
            continue;
        }
        memset(x, 0, (size_t)d * sizeof(float));
        float *e = cpu->xb + (size_t)r * d; // free until the first layer
        for (int k = 0; k < a->soft_k; k++) {
            float w = (float)(fmaxf(a->soft_w[(size_t)i * a->soft_k + k], 0.0f) / fmax(total, 1e-12));
            if (w == 0.0f) continue;
            cpu_weight_row(&cpu->wte, a->soft_ids[(size_t)i * a->soft_k + k], e);
            for (int j = 0; j < d; j++) x[j] += w * e[j];
        }
    }
}

// ---- mixture of experts -----------------------------------------------------------------------

// out (Lq, d) = the SwiGLU of x through gate|up (two weights side by side) and down, scratch hb, hm.
static void swiglu(cpu_impl *cpu, float *out, float beta, const float *x, const cpu_weight *gateup, const cpu_weight *down,
                   int rows) {
    const int dff = (int)gateup[0].rows;
    matmul(cpu->hb, x, gateup, 2, rows, 0.0f);
#pragma omp parallel for schedule(static) if ((size_t)rows * dff >= PARALLEL_MIN_VALUES)
    for (int i = 0; i < rows; i++) {
        const float *gate = cpu->hb + (size_t)i * 2 * dff, *up = gate + dff;
        float *hm = cpu->hm + (size_t)i * dff;
        for (int j = 0; j < dff; j++) hm[j] = gate[j] / (1.0f + expf(-gate[j])) * up[j];
    }
    matmul(out, cpu->hm, down, 1, rows, beta);
}

// Paging advice for a matrix of the mapping, widened to whole pages (the neighbours it touches are
// other weights of the same mapping). Advice only: a refusal (a private copy, an odd platform)
// changes nothing that is computed.
static void advise_weight(const cpu_weight *w, int advice) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const size_t bytes = (size_t)(w->rows * w->cols) * (w->dtype == DLM_DTYPE_F32 ? 4 : 2);
    uintptr_t lo = (uintptr_t)w->data & ~(page - 1), hi = ((uintptr_t)w->data + bytes + page - 1) & ~(page - 1);
    (void)madvise((void *)lo, hi - lo, advice);
}

// x += MoE(xb) for the Lq rows: route every position, then run each expert once over all the rows
// routed to it (gathered, one matrix product per expert; experts no row chose are never touched,
// so their mapped weights are never read), and add the weighted outputs plus the shared expert.
static void moe_mlp(cpu_impl *cpu, const dlm_config *c, const cpu_layer *w, int Lq) {
    const int d = c->d_model, n_e = c->n_experts, k = c->n_experts_used;
    cpu_convert_f32(w->mat[DLM_SLOT_ROUTER][0].dtype, w->mat[DLM_SLOT_ROUTER][0].data, (int64_t)n_e * d, cpu->router_f32);
    const float *bias = w->vec[DLM_SLOT_EXPERT_BIAS];
#pragma omp parallel for schedule(static)
    for (int i = 0; i < Lq; i++) {
        const float *x = cpu->xb + (size_t)i * d;
        double *lg = cpu->router_logits + (size_t)i * n_e;
        for (int e = 0; e < n_e; e++) { // fp32 weights and activations, accumulated in double
            const float *r = cpu->router_f32 + (size_t)e * d;
            double acc = 0;
            for (int j = 0; j < d; j++) acc += (double)x[j] * r[j];
            lg[e] = acc;
        }
        dlm_moe_route(c, lg, bias, cpu->route_id + (size_t)i * k, cpu->route_w + (size_t)i * k);
    }
    // Group the (position, choice) pairs by expert, positions ascending within each expert.
    int *start = cpu->expert_start;
    dlm_moe_group(c, cpu->route_id, Lq, start, cpu->by_expert);
    for (int j = 0; j < Lq * k; j++) cpu->by_slot[j] = cpu->by_expert[j] % k, cpu->by_expert[j] /= k;
    // Ask for every routed expert's weights at once: on a cold mapping the reads then overlap the
    // computation and cover those bytes only (the experts are advised MADV_RANDOM at setup, so a
    // fault does not pull the disk's read-ahead window of other experts; docs/BENCHMARKS.md).
    for (int e = 0; e < n_e; e++)
        if (start[e + 1] > start[e])
            for (int m = 0; m < 3; m++) advise_weight(&w->experts[(size_t)e * 3 + m], MADV_WILLNEED);
    memset(cpu->moe_out, 0, (size_t)Lq * d * sizeof(float));
    for (int e = 0; e < n_e; e++) {
        const int n_rows = start[e + 1] - start[e];
        if (n_rows == 0) continue;
        const int *rows = cpu->by_expert + start[e];
        for (int r = 0; r < n_rows; r++) memcpy(cpu->xe + (size_t)r * d, cpu->xb + (size_t)rows[r] * d, (size_t)d * sizeof(float));
        const cpu_weight *ew = w->experts + (size_t)e * 3;
        swiglu(cpu, cpu->ye, 0.0f, cpu->xe, ew, ew + 2, n_rows);
        for (int r = 0; r < n_rows; r++) {
            const float wt = cpu->route_w[(size_t)rows[r] * k + cpu->by_slot[start[e] + r]];
            float *o = cpu->moe_out + (size_t)rows[r] * d;
            const float *y = cpu->ye + (size_t)r * d;
            for (int j = 0; j < d; j++) o[j] += wt * y[j];
        }
    }
    if (w->mat[DLM_SLOT_SHARED_GATEUP][0].data) // y += shared_expert(xb), as LLaDA2 and LLaDA-MoE add it
        swiglu(cpu, cpu->moe_out, 1.0f, cpu->xb, w->mat[DLM_SLOT_SHARED_GATEUP], w->mat[DLM_SLOT_SHARED_DOWN], Lq);
    for (size_t i = 0; i < (size_t)Lq * d; i++) cpu->x[i] += cpu->moe_out[i];
}

// Make the cache hold `cap` positions, keeping the K/V and hidden states of the first `keep`.
static dlm_status cache_grow(dlm_backend *be, int cap, int keep) {
    cpu_impl *cpu = be->impl;
    const dlm_config *c = &be->model->cfg;
    const size_t kvd = (size_t)kv_dim(c), d = (size_t)c->d_model, old = (size_t)be->cache.cap;
    float *kv = malloc((size_t)c->n_layers * 2 * cap * kvd * sizeof(float)), *h = malloc((size_t)cap * d * sizeof(float));
    if (!kv || !h) {
        free(kv);
        free(h);
        return dlm_error(DLM_STATUS_NOMEM, "cannot allocate the KV cache for %d positions (%.1f MB)", cap,
                         ((double)c->n_layers * 2 * kvd + d) * cap * 4 / 1e6);
    }
    for (int l = 0; l < c->n_layers && keep > 0; l++)
        for (int kv_i = 0; kv_i < 2; kv_i++)
            memcpy(kv + ((size_t)l * 2 + kv_i) * cap * kvd, cpu->kv_cache + ((size_t)l * 2 + kv_i) * old * kvd,
                   (size_t)keep * kvd * sizeof(float));
    if (keep > 0) memcpy(h, cpu->h_cache, (size_t)keep * d * sizeof(float));
    free(cpu->kv_cache);
    free(cpu->h_cache);
    cpu->kv_cache = kv, cpu->h_cache = h;
    be->cache.cap = cap;
    return DLM_STATUS_OK;
}

static dlm_status cpu_forward_pass(dlm_backend *be, const dlm_forward_args *a, const dlm_sample_opts *o,
                                   dlm_row_summary *out, cpu_governor *gov) {
    cpu_impl *cpu = be->impl;
    const dlm_config *c = &be->model->cfg;
    dlm_status st = dlm_forward_args_check(c, a, o);
    if (st != DLM_STATUS_OK) return st;
    const int L = a->n_tokens, d = c->d_model, qd = qkv_dim(c), kvd = kv_dim(c), hd = c->head_dim,
              half = c->rotary_dim / 2, od = c->n_heads * hd, n_moe = dlm_config_moe_layers(c);
    int q0, q1, grow_to;
    if ((st = dlm_cache_plan(be, a, &q0, &q1, &grow_to)) != DLM_STATUS_OK) return st;
    if (grow_to && (st = cache_grow(be, grow_to, a->cache == DLM_CACHE_BLOCK ? be->cache.len : 0)) != DLM_STATUS_OK)
        return st;
    const int Lq = q1 - q0; // rows of the residual stream this pass computes (positions q0 ..)
    const bool cached = a->cache != DLM_CACHE_NONE;
    {
        // The work estimate only needs to rank passes of one size: matrix products plus attention.
        // MoE layers: the experts a row is routed to and the shared one (the router is small).
        const double dff = c->n_experts ? (double)c->n_experts_used * c->d_expert + c->d_shared : (double)c->d_ff;
        const double per_row = 2.0 * c->n_layers * ((double)d * qd + (double)od * d + 3.0 * d * dff) + 4.0 * c->n_layers * (double)L * od;
        omp_set_num_threads(cpu_governor_begin(gov, Lq, per_row * Lq + 2.0 * a->n_rows * d * (double)c->n_vocab));
    }
    grow_scratch(cpu, c, L, a->n_rows);
    rope_tables(cpu, c, L);
    embed(cpu, c, a, q0, Lq);

    for (int l = 0, moe_j = 0; l < c->n_layers; l++) {
        if (a->cancel && *a->cancel) return dlm_error(DLM_STATUS_CANCELLED, "forward pass cancelled");
        const cpu_layer *w = &cpu->layers[l];
        // K and V of every position: this pass's rows written over the cached (or scratch) ones.
        const size_t kv_rows = cached ? (size_t)be->cache.cap : (size_t)L;
        float *k_all = cached ? cpu->kv_cache + (size_t)l * 2 * kv_rows * kvd : cpu->kv, *v_all = k_all + kv_rows * kvd;
        // attention sublayer
#pragma omp parallel for schedule(static) if ((size_t)Lq * d >= PARALLEL_MIN_VALUES)
        for (int i = 0; i < Lq; i++)
            rmsnorm(cpu->xb + (size_t)i * d, cpu->x + (size_t)i * d, w->vec[DLM_SLOT_ATTN_NORM], d, c->norm_eps);
        matmul(cpu->qkv, cpu->xb, w->mat[DLM_SLOT_WQKV], cpu->n_parts[DLM_SLOT_WQKV], Lq, 0.0f);
        const float *bqkv = w->vec[DLM_SLOT_BQKV], *q_norm = w->vec[DLM_SLOT_Q_NORM], *k_norm = w->vec[DLM_SLOT_K_NORM];
#pragma omp parallel for schedule(static) if ((size_t)Lq * qd >= PARALLEL_MIN_VALUES)
        for (int i = 0; i < Lq; i++) {
            float *row = cpu->qkv + (size_t)i * qd;
            if (bqkv)
                for (int j = 0; j < qd; j++) row[j] += bqkv[j];
            if (q_norm) // Qwen3: RMSNorm over each q and k head, before RoPE
                for (int h = 0; h < c->n_heads + c->n_kv_heads; h++)
                    rmsnorm(row + (size_t)h * hd, row + (size_t)h * hd, h < c->n_heads ? q_norm : k_norm, hd, c->norm_eps);
            const float *cs = cpu->rope_cos + (size_t)(q0 + i) * half, *sn = cpu->rope_sin + (size_t)(q0 + i) * half;
            // q and k heads; dims from rotary_dim on pass through (LLaDA2's partial rotary)
            for (int h = 0; h < c->n_heads + c->n_kv_heads; h++) rope_apply(row + (size_t)h * hd, cs, sn, half);
            memcpy(k_all + (size_t)(q0 + i) * kvd, row + od, (size_t)kvd * sizeof(float));
            memcpy(v_all + (size_t)(q0 + i) * kvd, row + od + kvd, (size_t)kvd * sizeof(float));
        }
        attention(cpu, c, q0, Lq, L, a->block_size, a->block_origin, k_all, v_all);
        matmul(cpu->x, cpu->att, w->mat[DLM_SLOT_WO], cpu->n_parts[DLM_SLOT_WO], Lq, 1.0f); // x += attn_out(att)
        // MLP sublayer: ff_out(silu(ff_proj(x)) * up_proj(x)), or the experts
#pragma omp parallel for schedule(static) if ((size_t)Lq * d >= PARALLEL_MIN_VALUES)
        for (int i = 0; i < Lq; i++)
            rmsnorm(cpu->xb + (size_t)i * d, cpu->x + (size_t)i * d, w->vec[DLM_SLOT_FF_NORM], d, c->norm_eps);
        if (!w->moe) {
            swiglu(cpu, cpu->x, 1.0f, cpu->xb, w->mat[DLM_SLOT_W_GATEUP], w->mat[DLM_SLOT_W_DOWN], Lq); // x += mlp(xb)
            continue;
        }
        moe_mlp(cpu, c, w, Lq);
        if (a->routing)
            for (int i = 0; i < Lq; i++)
                memcpy(a->routing + ((size_t)(q0 + i) * n_moe + moe_j) * c->n_experts_used,
                       cpu->route_id + (size_t)i * c->n_experts_used, (size_t)c->n_experts_used * sizeof(int16_t));
        moe_j++;
    }
    if (cached && (a->cache == DLM_CACHE_BLOCK ? a->cache_store : a->cache_refresh))
        memcpy(cpu->h_cache + (size_t)q0 * d, cpu->x, (size_t)Lq * d * sizeof(float));
    dlm_cache_commit(be, a);

    // Final norm and LM head, for the requested rows only; rows this pass did not recompute read
    // the refreshing pass's hidden states.
    for (int r = 0; r < a->n_rows; r++) {
        int p = dlm_logit_row(c, a->rows[r]);
        const float *h = p >= q0 && p < q1 ? cpu->x + (size_t)(p - q0) * d : cpu->h_cache + (size_t)p * d;
        rmsnorm(cpu->xr + (size_t)r * d, h, cpu->ln_f, d, c->norm_eps);
    }
    if (a->n_rows > 0) matmul(cpu->logits, cpu->xr, &cpu->lm_head, 1, a->n_rows, 0.0f);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < a->n_rows; r++) {
        const float *lg = cpu->logits + (size_t)r * c->n_vocab;
        dlm_summarize_logits(lg, c->n_vocab, a->rows[r], a->given ? a->given[r] : -1, o, &out[r],
                             o->probs ? o->probs + (size_t)r * c->n_vocab : NULL);
        if (o->logits) memcpy(o->logits + (size_t)r * c->n_vocab, lg, (size_t)c->n_vocab * sizeof(float));
    }
    return DLM_STATUS_OK;
}

// ---- weights ----------------------------------------------------------------------------------

static void cpu_free(dlm_backend *be) {
    cpu_impl *cpu = be->impl;
    if (cpu) {
        free(cpu->vectors);
        for (int i = 0; i < cpu->n_copies; i++) free(cpu->copies[i]);
        free(cpu->copies);
        free(cpu->layers);
        free(cpu->x); free(cpu->xb); free(cpu->qkv); free(cpu->att); free(cpu->hb); free(cpu->hm);
        free(cpu->kt); free(cpu->rope_cos); free(cpu->rope_sin); free(cpu->xr); free(cpu->logits);
        free(cpu->kv); free(cpu->kv_cache); free(cpu->h_cache);
        free_moe_scratch(cpu);
        free(cpu->router_f32); free(cpu->expert_start); free(cpu->expert_views);
        free(cpu);
    }
    free(be);
}

static dlm_status cpu_forward(dlm_backend *be, const dlm_forward_args *a, const dlm_sample_opts *o,
                              dlm_row_summary *out) {
    cpu_governor *gov = &((cpu_impl *)be->impl)->threads;
    dlm_status st = cpu_forward_pass(be, a, o, out, gov);
    cpu_governor_end(gov, st == DLM_STATUS_OK);
    return st;
}

static const dlm_backend_ops cpu_ops = {"cpu", cpu_forward, cpu_free};

// Keep a private fp32 matrix until the backend is freed.
static float *keep_copy(cpu_impl *cpu, size_t n) {
    float *copy = dlm_xmalloc(n * sizeof(float));
    cpu->copies = realloc(cpu->copies, (size_t)(cpu->n_copies + 1) * sizeof *cpu->copies);
    if (!cpu->copies) dlm_die("out of memory");
    cpu->copies[cpu->n_copies++] = copy;
    return copy;
}

// A routed expert's matrix: a view of the mapping (a private fp32 copy if misaligned for its dtype).
static cpu_weight expert_view(cpu_impl *cpu, const dlm_tensor *t) {
    DLM_ASSERT(t && t->n_dims == 2);
    cpu_weight w = {t->dtype, t->data, t->shape[0], t->shape[1]};
    if ((uintptr_t)t->data % (t->dtype == DLM_DTYPE_F32 ? 4 : 2) != 0) {
        float *copy = keep_copy(cpu, (size_t)dlm_tensor_numel(t));
        dlm_tensor_to_f32(t, 0, dlm_tensor_numel(t), copy);
        w.dtype = DLM_DTYPE_F32, w.data = copy;
    }
    return w;
}

// A matrix as the forward reads it: a view of the mapped tensor, or, where a LoRA delta must be
// merged or the mapping is misaligned for its dtype, a private fp32 copy (dlm_model_load_tensor).
static cpu_weight weight_of(cpu_impl *cpu, const dlm_model *m, dlm_tensor_role role, int layer) {
    const int slot = (int)role * m->cfg.n_layers + layer;
    const dlm_tensor *t = m->tensor[slot];
    DLM_ASSERT(t && t->n_dims == 2);
    cpu_weight w = {t->dtype, t->data, t->shape[0], t->shape[1]};
    const size_t align = t->dtype == DLM_DTYPE_F32 ? 4 : 2;
    if ((m->lora && m->lora[slot].a) || (uintptr_t)t->data % align != 0) {
        float *copy = keep_copy(cpu, (size_t)dlm_tensor_numel(t));
        dlm_model_load_tensor(m, role, layer, copy);
        w.dtype = DLM_DTYPE_F32, w.data = copy;
    }
    return w;
}

dlm_backend *dlm_backend_cpu_new(const dlm_model *m, int n_threads) {
    const dlm_config *c = &m->cfg;
    dlm_layer_plan plan;
    dlm_layer_plan_make(m, &plan);
    dlm_backend *be = dlm_xcalloc(1, sizeof *be);
    cpu_impl *cpu = dlm_xcalloc(1, sizeof *cpu);
    be->ops = &cpu_ops;
    be->model = m;
    be->impl = cpu;
    cpu_governor_init(&cpu->threads, n_threads);
    const int max_threads = cpu->threads.max_threads;
    openblas_set_num_threads(max_threads);
    snprintf(be->device, sizeof be->device, "cpu (%s%d thread%s)", cpu->threads.adaptive && max_threads > 1 ? "up to " : "",
             max_threads, max_threads == 1 ? "" : "s");

    // Vector slots: fp32 copies in one allocation. Matrix slots: views of the mapping (weight_of).
    size_t n_vec = (size_t)dlm_plan_slot_numel(&plan.global[DLM_GSLOT_LN_F]);
    for (int l = 0; l < c->n_layers; l++)
        for (int s = 0; s < DLM_LAYER_SLOT_COUNT; s++)
            if (dlm_plan_slot_in_layer(m, &plan.layer[s], l) && !plan.layer[s].matrix)
                n_vec += (size_t)dlm_plan_slot_numel(&plan.layer[s]);
    float *p = cpu->vectors = dlm_xmalloc(n_vec * sizeof(float));
    cpu->ln_f = p, p += dlm_plan_slot_numel(&plan.global[DLM_GSLOT_LN_F]);
    dlm_plan_load_slot(m, &plan.global[DLM_GSLOT_LN_F], 0, cpu->ln_f);
    cpu->wte = weight_of(cpu, m, DLM_TENSOR_WTE, 0);
    cpu->lm_head = plan.tied_head ? cpu->wte : weight_of(cpu, m, DLM_TENSOR_LM_HEAD, 0);
    cpu->layers = dlm_xcalloc((size_t)c->n_layers, sizeof *cpu->layers);
    for (int s = 0; s < DLM_LAYER_SLOT_COUNT; s++) cpu->n_parts[s] = plan.layer[s].n_parts;
    if (c->n_experts > 0) {
        cpu->router_f32 = dlm_xmalloc((size_t)c->n_experts * c->d_model * sizeof(float));
        cpu->expert_start = dlm_xmalloc((size_t)(c->n_experts + 1) * sizeof(int));
        cpu->expert_views = dlm_xcalloc((size_t)c->n_layers * c->n_experts * 3, sizeof *cpu->expert_views);
    }
    for (int l = 0; l < c->n_layers; l++) {
        if (dlm_config_layer_is_moe(c, l)) {
            cpu_layer *cl = &cpu->layers[l];
            cl->moe = true;
            cl->experts = cpu->expert_views + (size_t)l * c->n_experts * 3;
            for (int e = 0; e < c->n_experts; e++)
                for (int k = 0; k < 3; k++) {
                    cl->experts[e * 3 + k] = expert_view(cpu, dlm_model_expert_tensor(m, l, e, k));
                    advise_weight(&cl->experts[e * 3 + k], MADV_RANDOM); // read when routed to, not around
                }
        }
        for (int s = 0; s < DLM_LAYER_SLOT_COUNT; s++) {
            const dlm_plan_slot *sl = &plan.layer[s];
            if (!dlm_plan_slot_in_layer(m, sl, l)) continue;
            if (sl->matrix) {
                for (int i = 0; i < sl->n_parts; i++) cpu->layers[l].mat[s][i] = weight_of(cpu, m, sl->parts[i], l);
            } else {
                cpu->layers[l].vec[s] = p;
                dlm_plan_load_slot(m, sl, l, p);
                p += dlm_plan_slot_numel(sl);
            }
        }
    }
    DLM_ASSERT((size_t)(p - cpu->vectors) == n_vec);
    return be;
}
