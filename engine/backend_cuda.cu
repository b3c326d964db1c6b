// backend_cuda.cu — the forward pass on an NVIDIA GPU: bf16 weights, fp32 residual stream, cuBLAS.
//
// The same pass as backend_cpu.c, which is the reference every kernel here is checked against
// (tests/cuda/test_cuda.c): embed (hard or soft) -> n_layers x [RMSNorm -> QKV GEMM -> RoPE + K/V
// store -> attention -> out-proj GEMM accumulating into the residual -> RMSNorm -> gate/up GEMM ->
// SwiGLU -> down GEMM accumulating into the residual] -> gather of the requested rows + final
// RMSNorm -> LM head GEMM for those rows only -> per-row softmax summary, on the GPU; only the
// summaries (and full probabilities or logits when asked) come back to the host.
//
// Precision: weights are bf16; GEMMs take bf16 activations and accumulate in fp32 (cuBLAS,
// CUBLAS_COMPUTE_32F) into fp32 outputs; the residual stream, norms, RoPE, attention, K/V and the
// KV cache stay fp32; the summary uses fp64 like summary.c. Everything runs on one stream with
// fixed reduction orders, so a pass is bit-for-bit repeatable on the same GPU (sessions resume
// exactly).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The engine headers are C. error.h uses C11's _Noreturn, which C++ spells [[noreturn]].
#define _Noreturn [[noreturn]]
extern "C" {
#include "arch.h"
#include "backend.h"
#include "moe.h"
#include "plan.h"
#include "rng.h"
#include "topk.h"
}
#undef _Noreturn

typedef __nv_bfloat16 bf16;

// ---- errors -----------------------------------------------------------------------------------

// Every CUDA and cuBLAS call is checked; a failure becomes DLM_STATUS_BACKEND with a one-line
// message naming the call (kernel launches are checked with cudaGetLastError right after).
#define CUDA_TRY(call)                                                                                  \
    do {                                                                                                \
        cudaError_t err_ = (call);                                                                      \
        if (err_ != cudaSuccess)                                                                        \
            return dlm_error(DLM_STATUS_BACKEND, "CUDA: %s: %s (backend_cuda.cu:%d)", #call,            \
                             cudaGetErrorString(err_), __LINE__);                                       \
    } while (0)

#define BLAS_TRY(call)                                                                                  \
    do {                                                                                                \
        cublasStatus_t err_ = (call);                                                                   \
        if (err_ != CUBLAS_STATUS_SUCCESS)                                                              \
            return dlm_error(DLM_STATUS_BACKEND, "cuBLAS: %s: %s (backend_cuda.cu:%d)", #call,          \
                             cublasGetStatusString(err_), __LINE__);                                    \
    } while (0)

#define LAUNCH_TRY(name)                                                                                \
    do {                                                                                                \
        cudaError_t err_ = cudaGetLastError();                                                          \
        if (err_ != cudaSuccess)                                                                        \
            return dlm_error(DLM_STATUS_BACKEND, "CUDA: kernel %s: %s (backend_cuda.cu:%d)", name,      \
                             cudaGetErrorString(err_), __LINE__);                                       \
    } while (0)

#define TRY(expr)                                                                                       \
    do {                                                                                                \
        dlm_status st_ = (expr);                                                                        \
        if (st_ != DLM_STATUS_OK) return st_;                                                           \
    } while (0)

// Replace *p with a fresh device buffer of n elements (old contents dropped). Out of memory is
// DLM_STATUS_NOMEM naming the size; *p is NULL after any failure.
template <typename T> static dlm_status dev_alloc(T **p, size_t n, const char *what) {
    if (*p) cudaFree(*p); // synchronises the device: nothing still in flight uses the old buffer
    *p = NULL;
    void *q = NULL;
    cudaError_t e = cudaMalloc(&q, n ? n * sizeof(T) : 1);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError(); // not sticky: clear it so later calls do not report it again
        return dlm_error(DLM_STATUS_NOMEM, "cannot allocate %.1f MB of GPU memory for %s", n * sizeof(T) / 1e6, what);
    }
    if (e != cudaSuccess)
        return dlm_error(DLM_STATUS_BACKEND, "CUDA: cudaMalloc(%.1f MB for %s): %s", n * sizeof(T) / 1e6, what,
                         cudaGetErrorString(e));
    *p = (T *)q;
    return DLM_STATUS_OK;
}

// ---- state ------------------------------------------------------------------------------------

// One layer's weights: the layer plan's slots (plan.h), matrices in bf16 and vectors in fp32
// (NULL where the family has none), e.g. mat[DLM_SLOT_WQKV] (qkv_dim, d), vec[DLM_SLOT_BQKV].
typedef struct {
    bf16  *mat[DLM_LAYER_SLOT_COUNT];
    float *vec[DLM_LAYER_SLOT_COUNT];
    bf16  *experts; // MoE layers: per expert its gate|up (2*d_expert, d) then down (d, d_expert)
} cuda_layer;

typedef struct {
    const dlm_model *model; // not owned
    cudaStream_t   stream;  // every kernel, copy and GEMM of the backend runs on it, in order
    cublasHandle_t blas;
    char          *weights; // the one device allocation of all weights
    bf16          *wte;     // (n_vocab, d)
    bf16          *lm_head; // (n_vocab, d); aliases wte when tied
    float         *ln_f;    // (d)
    cuda_layer    *layers;  // (n_layers) host array of device pointers
    size_t         attn_smem; // dynamic shared memory of one attention block
    // scratch (device), grown on demand
    int      cap_tokens, cap_soft, cap_rows, cap_probs;
    float   *x;        // (L, d) residual stream
    bf16    *xb;       // (L, d) normalised input of a sublayer (GEMM input)
    float   *qkv;      // (L, qkv_dim)
    bf16    *att;      // (L, n_heads*head_dim) attention output (GEMM input)
    float   *hb;       // (L, 2*d_ff) gate | up
    bf16    *hm;       // (L, d_ff) silu(gate) * up (GEMM input)
    float   *kv;       // (2, L, kv_dim) one layer's K and V (uncached passes)
    float   *rope_cos; // (L, head_dim/2)
    float   *rope_sin; // (L, head_dim/2)
    int32_t *ids;      // (L)
    int32_t *soft_ids; // (L, soft_k)
    float   *soft_w;   // (L, soft_k)
    int32_t *rows;     // (n_rows)
    int32_t *given;    // (n_rows)
    bf16    *xr;       // (n_rows, d) final-normed hidden states of the requested rows
    float   *logits;   // (n_rows, n_vocab)
    float   *probs;    // (n_rows, n_vocab) only when the caller asks for probabilities
    dlm_row_summary *sums; // (n_rows)
    // KV cache (forward.h; what it holds is be->cache), as in backend_cpu.c: every layer's
    // post-RoPE K and V and the final hidden states of the refreshing (or storing) passes.
    float *kv_cache;   // (n_layers, 2, cache.cap, kv_dim)
    float *h_cache;    // (cache.cap, d)
    // MoE layers (backend_cpu.c's moe_mlp): router logits come to the host, which routes with the
    // CPU's own code (moe.h); the (position, choice) pairs go back grouped by expert, each expert
    // runs one GEMM pair over its gathered rows, and a combine kernel adds the weighted outputs.
    int      cap_moe;     // positions the buffers below hold
    float   *router;      // (L, n_experts) device
    float   *h_router;    // (L, n_experts) host
    int16_t *h_ids;       // (L, k) host: chosen experts
    float   *h_w;         // (L, k) host: their weights
    int     *h_start;     // (n_experts + 1) host
    int     *h_pairs;     // (L * k) host: pairs grouped by expert
    int32_t *h_slot;      // (L * k) host: pair -> its row in the grouped order
    int32_t *pairs;       // (L * k) device copy of h_pairs
    int32_t *slot;        // (L * k) device copy of h_slot
    float   *w;           // (L * k) device copy of h_w
    bf16    *xg;          // (L * k, d) the rows gathered by expert
    float   *hg;          // (L * k, 2 * d_expert)
    bf16    *hmg;         // (L * k, d_expert)
    float   *yg;          // (L * k, d) each pair's expert output
} cuda_impl;

static int qkv_dim(const dlm_config *c) { return (c->n_heads + 2 * c->n_kv_heads) * c->head_dim; }
static int kv_dim(const dlm_config *c) { return c->n_kv_heads * c->head_dim; }

// Blocks for a grid-stride loop over n elements.
static int grid_for(size_t n, int threads) {
    size_t b = (n + threads - 1) / threads;
    return (int)(b < 4096 ? (b ? b : 1) : 4096);
}

// ---- reductions (device) ----------------------------------------------------------------------

#define FULL_MASK 0xffffffffu

__device__ static float warp_max_f(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

__device__ static float warp_sum_f(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

// Sum over the block (blockDim.x a multiple of 32); every thread gets the result. The warps'
// partial sums are added in a fixed order, so the result is repeatable. red holds 32 doubles.
__device__ static double block_sum(double v, double *red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    double s = 0;
    for (int w = 0; w < (int)blockDim.x / 32; w++) s += red[w];
    __syncthreads(); // red is reused by the next reduction
    return s;
}

// Maximum over the block; NaN never wins (as with `>` in summary.c).
__device__ static double block_max(double v, double *red) {
    for (int o = 16; o > 0; o >>= 1) {
        double w = __shfl_xor_sync(FULL_MASK, v, o);
        if (w > v) v = w;
    }
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
    __syncthreads();
    double m = red[0];
    for (int w = 1; w < (int)blockDim.x / 32; w++)
        if (red[w] > m) m = red[w];
    __syncthreads();
    return m;
}

// A candidate token: higher key first, ties to the lower id (summary.c's order for the sampled
// token and for the top-K list). The empty candidate {-inf or -1, INT_MAX} loses to any real one.
typedef struct {
    double key;
    int    id;
} cand;

__device__ static cand cand_better(cand a, cand b) {
    return (b.key > a.key || (b.key == a.key && b.id < a.id)) ? b : a;
}

__device__ static cand block_best(cand c, cand *red) {
    for (int o = 16; o > 0; o >>= 1) {
        cand other = {__shfl_xor_sync(FULL_MASK, c.key, o), __shfl_xor_sync(FULL_MASK, c.id, o)};
        c = cand_better(c, other);
    }
    if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = c;
    __syncthreads();
    cand b = red[0];
    for (int w = 1; w < (int)blockDim.x / 32; w++) b = cand_better(b, red[w]);
    __syncthreads();
    return b;
}

// ---- kernels ----------------------------------------------------------------------------------

__global__ static void k_probe(int *flag) {
    if (flag) *flag = 1;
}

__global__ static void k_f32_to_bf16(bf16 *dst, const float *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]); // round to nearest even, as dlm_f32_to_bf16
}

// Input embeddings of positions q0 .. q0+Lq-1 (one block per position): the token's row, or the
// mixture of the soft input's rows with weights clamped at 0 and renormalised (embed() on the CPU).
__global__ static void k_embed(float *x, const bf16 *wte, const int32_t *ids, const int32_t *soft_ids,
                               const float *soft_w, int soft_k, int q0, int d) {
    const int r = blockIdx.x, i = q0 + r;
    float *xr = x + (size_t)r * d;
    double total = 0;
    for (int k = 0; k < soft_k; k++) total += fmaxf(soft_w[(size_t)i * soft_k + k], 0.0f);
    if (total <= 0) {
        const bf16 *e = wte + (size_t)ids[i] * d;
        for (int j = threadIdx.x; j < d; j += blockDim.x) xr[j] = __bfloat162float(e[j]);
        return;
    }
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        float acc = 0.0f; // summed in k order, as on the CPU
        for (int k = 0; k < soft_k; k++) {
            float w = (float)(fmaxf(soft_w[(size_t)i * soft_k + k], 0.0f) / fmax(total, 1e-12));
            if (w == 0.0f) continue;
            acc += w * __bfloat162float(wte[(size_t)soft_ids[(size_t)i * soft_k + k] * d + j]);
        }
        xr[j] = acc;
    }
}

// RMSNorm in fp32 (sum of squares in double, as on the CPU), scaled by w, written as bf16 for the
// next GEMM; one block per output row. rows NULL: row r of x. Otherwise the canvas position
// rows[r]: x holds positions [q0, q1) and h_cache (the refreshing pass's final hidden states)
// every other one.
__global__ static void k_rmsnorm(bf16 *out, const float *x, const float *w, int d, float eps, const int32_t *rows,
                                 int q0, int q1, const float *h_cache, bool shift) {
    __shared__ double red[32];
    const int r = blockIdx.x;
    const float *src = x + (size_t)r * d;
    if (rows) {
        const int p = shift && rows[r] > 0 ? rows[r] - 1 : rows[r]; // dlm_logit_row
        src = p >= q0 && p < q1 ? x + (size_t)(p - q0) * d : h_cache + (size_t)p * d;
    }
    double ss = 0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) ss += (double)src[j] * src[j];
    ss = block_sum(ss, red);
    const float scale = 1.0f / sqrtf((float)(ss / d) + eps);
    for (int j = threadIdx.x; j < d; j += blockDim.x) out[(size_t)r * d + j] = __float2bfloat16_rn(src[j] * scale * w[j]);
}

// The q/k/v bias (Qwen2) and the per-head RMSNorm of q and k (Qwen3) of computed row r (one block
// per row), in place, before RoPE: backend_cpu.c's order. Sum of squares in double, as rmsnorm().
__global__ static void k_qkv_bias_norm(float *qkv, const float *bqkv, const float *q_norm, const float *k_norm,
                                       int n_heads, int n_kv_heads, int hd, float eps) {
    __shared__ double red[32];
    const int qd = (n_heads + 2 * n_kv_heads) * hd;
    float *row = qkv + (size_t)blockIdx.x * qd;
    if (bqkv)
        for (int j = threadIdx.x; j < qd; j += blockDim.x) row[j] += bqkv[j];
    if (!q_norm) return;
    __syncthreads(); // the biased row is complete
    for (int h = 0; h < n_heads + n_kv_heads; h++) {
        float *v = row + (size_t)h * hd;
        const float *w = h < n_heads ? q_norm : k_norm;
        double ss = 0;
        for (int j = threadIdx.x; j < hd; j += blockDim.x) ss += (double)v[j] * v[j];
        ss = block_sum(ss, red);
        const float scale = 1.0f / sqrtf((float)(ss / hd) + eps);
        for (int j = threadIdx.x; j < hd; j += blockDim.x) v[j] = v[j] * scale * w[j];
    }
}

// NeoX rotate-half RoPE at absolute position q0 + r on every q and k head of computed row r (one
// block per row), in place; the row's rotated K and its V are also stored at row q0 + r of k_all
// and v_all (the KV cache or this layer's scratch).
__global__ static void k_rope_kv(float *qkv, float *k_all, float *v_all, const float *rope_cos, const float *rope_sin,
                                 int q0, int n_heads, int n_kv_heads, int hd, int rotary_dim) {
    // pairs (i, i + rotary_dim/2) of each head's leading rotary_dim dims; the rest pass through
    const int r = blockIdx.x, p = q0 + r, half = rotary_dim / 2;
    const int qd = (n_heads + 2 * n_kv_heads) * hd, od = n_heads * hd, kvd = n_kv_heads * hd;
    float *row = qkv + (size_t)r * qd;
    const float *cs = rope_cos + (size_t)p * half, *sn = rope_sin + (size_t)p * half;
    for (int e = threadIdx.x; e < (n_heads + n_kv_heads) * half; e += blockDim.x) {
        const int h = e / half, i = e % half;
        float *v = row + (size_t)h * hd;
        const float x1 = v[i], x2 = v[i + half];
        const float y1 = x1 * cs[i] - x2 * sn[i], y2 = x2 * cs[i] + x1 * sn[i];
        v[i] = y1;
        v[i + half] = y2;
    }
    __syncthreads(); // the rotated K heads are complete: store all of K (pass-through dims too) and V
    for (int e = threadIdx.x; e < kvd; e += blockDim.x) {
        k_all[(size_t)p * kvd + e] = row[od + e];
        v_all[(size_t)p * kvd + e] = row[od + kvd + e];
    }
}

// Keys visible from query position i: all of them, or, block-causally, those of blocks up to i's own
// (blocks of block_size from `origin`; [0, origin) is one block: D2F's prompt). Non-decreasing in i.
__device__ static int key_limit(int i, int n_tokens, int block_size, int origin) {
    if (block_size <= 0) return n_tokens;
    long long lim = i < origin ? origin : origin + ((long long)(i - origin) / block_size + 1) * block_size;
    return lim < n_tokens ? (int)lim : n_tokens;
}

// Attention for the Lq computed query rows (positions q0 ..) against the K and V of all L positions.
// One block per (tile of ATT_QT query rows, head): 4 warps, each owning ATT_ROWS query rows; the
// keys stream through shared memory in tiles of 32 (one key per lane), with an online softmax
// (running max m and normaliser l per row) so the scores never leave the SM. Lane c of a warp
// accumulates output columns c, c+32, ... of its rows. CT = ceil(head_dim / 32).
#define ATT_WARPS 4
#define ATT_ROWS 4
#define ATT_QT (ATT_WARPS * ATT_ROWS)
#define ATT_KT 32
#define ATT_THREADS (ATT_WARPS * 32)
#define ATT_MAX_HD 256

static size_t attn_smem_bytes(int hd) {
    // q tile (pre-scaled) + K and V tiles, rows padded to hd + 1 floats so that the 32 lanes reading
    // 32 different keys hit 32 different banks
    return ((size_t)ATT_QT * hd + 2 * (size_t)ATT_KT * (hd + 1)) * sizeof(float);
}

template <int CT>
__global__ static void __launch_bounds__(ATT_THREADS)
k_attention(bf16 *out, const float *qkv, const float *k_all, const float *v_all, int Lq, int q0, int L, int block_size,
            int block_origin, int n_heads, int n_kv_heads, int hd, float scale) {
    extern __shared__ float smem[];
    const int hp = hd + 1;
    float *sq = smem, *sk = sq + ATT_QT * hd, *sv = sk + ATT_KT * hp;
    const int h = blockIdx.y, g = h / (n_heads / n_kv_heads);
    const int qd = (n_heads + 2 * n_kv_heads) * hd, od = n_heads * hd, kvd = n_kv_heads * hd;
    const int r0 = blockIdx.x * ATT_QT; // first query row of the tile (row = position - q0)
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

    for (int e = threadIdx.x; e < ATT_QT * hd; e += ATT_THREADS) {
        const int i = e / hd, c = e % hd;
        sq[e] = r0 + i < Lq ? qkv[(size_t)(r0 + i) * qd + (size_t)h * hd + c] * scale : 0.0f;
    }
    // Rows past Lq (in the last tile) compute on zeros with the last row's mask and are not stored.
    int lim[ATT_ROWS];
    float m[ATT_ROWS], l[ATT_ROWS], acc[ATT_ROWS][CT];
#pragma unroll
    for (int rr = 0; rr < ATT_ROWS; rr++) {
        lim[rr] = key_limit(q0 + min(r0 + warp * ATT_ROWS + rr, Lq - 1), L, block_size, block_origin);
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
#pragma unroll
        for (int ct = 0; ct < CT; ct++) acc[rr][ct] = 0.0f;
    }
    const int key_end = key_limit(q0 + min(r0 + ATT_QT, Lq) - 1, L, block_size, block_origin); // the tile's widest mask

    for (int j0 = 0; j0 < key_end; j0 += ATT_KT) {
        __syncthreads(); // the previous tile is consumed (and sq is written, on the first pass)
        for (int e = threadIdx.x; e < ATT_KT * hd; e += ATT_THREADS) {
            const int j = e / hd, c = e % hd;
            const bool in = j0 + j < key_end;
            const size_t src = (size_t)(j0 + j) * kvd + (size_t)g * hd + c;
            sk[j * hp + c] = in ? k_all[src] : 0.0f;
            sv[j * hp + c] = in ? v_all[src] : 0.0f;
        }
        __syncthreads();

        // Scores of this lane's key against the warp's rows.
        float s[ATT_ROWS];
#pragma unroll
        for (int rr = 0; rr < ATT_ROWS; rr++) s[rr] = 0.0f;
        const float *kr = sk + lane * hp;
        for (int c = 0; c < hd; c++) {
            const float kc = kr[c];
#pragma unroll
            for (int rr = 0; rr < ATT_ROWS; rr++) s[rr] += sq[(warp * ATT_ROWS + rr) * hd + c] * kc;
        }
        // Online softmax. Key 0 is visible from every row, so m is finite after the first tile and
        // masked scores (-inf) contribute exp(-inf) = 0.
        float p[ATT_ROWS];
#pragma unroll
        for (int rr = 0; rr < ATT_ROWS; rr++) {
            if (j0 + lane >= lim[rr]) s[rr] = -INFINITY;
            const float m_new = fmaxf(m[rr], warp_max_f(s[rr]));
            const float corr = expf(m[rr] - m_new); // 0 on the first tile (m = -inf)
            p[rr] = expf(s[rr] - m_new);
            l[rr] = l[rr] * corr + warp_sum_f(p[rr]);
            m[rr] = m_new;
#pragma unroll
            for (int ct = 0; ct < CT; ct++) acc[rr][ct] *= corr;
        }
        // acc += P V: key jj's probability comes from lane jj.
        for (int jj = 0; jj < ATT_KT; jj++) {
            float pj[ATT_ROWS];
#pragma unroll
            for (int rr = 0; rr < ATT_ROWS; rr++) pj[rr] = __shfl_sync(FULL_MASK, p[rr], jj);
            const float *vr = sv + jj * hp;
#pragma unroll
            for (int ct = 0; ct < CT; ct++) {
                const int c = lane + 32 * ct;
                const float v = c < hd ? vr[c] : 0.0f;
#pragma unroll
                for (int rr = 0; rr < ATT_ROWS; rr++) acc[rr][ct] += pj[rr] * v;
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < ATT_ROWS; rr++) {
        const int r = r0 + warp * ATT_ROWS + rr;
        if (r >= Lq) continue;
        const float inv = 1.0f / l[rr];
#pragma unroll
        for (int ct = 0; ct < CT; ct++) {
            const int c = lane + 32 * ct;
            if (c < hd) out[(size_t)r * od + (size_t)h * hd + c] = __float2bfloat16_rn(acc[rr][ct] * inv);
        }
    }
}

// hm = silu(gate) * up, elementwise over the Lq rows, written as bf16 for the down projection.
__global__ static void k_swiglu(bf16 *hm, const float *hb, int Lq, int dff) {
    const size_t n = (size_t)Lq * dff;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const size_t i = e / dff, j = e % dff;
        const float gate = hb[i * 2 * dff + j], up = hb[i * 2 * dff + dff + j];
        hm[e] = __float2bfloat16_rn(gate / (1.0f + expf(-gate)) * up);
    }
}

// Mixture of experts: row j of xg is row pairs[j] / k of xb (the position of the j-th pair in the
// grouped order), so that each expert's rows are contiguous.
__global__ static void k_moe_gather(bf16 *xg, const bf16 *xb, const int32_t *pairs, int n_pairs, int k, int d) {
    const size_t n = (size_t)n_pairs * d;
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n; e += (size_t)gridDim.x * blockDim.x) {
        const size_t j = e / d, i = e % d;
        xg[e] = xb[(size_t)(pairs[j] / k) * d + i];
    }
}

// x[p] += sum over the position's k choices of w * (its expert's output row), one block per
// position, the choices added in order (deterministic: no atomics).
__global__ static void k_moe_combine(float *x, const float *yg, const int32_t *slot, const float *w, int k, int d) {
    const int p = blockIdx.x;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float acc = 0.0f;
        for (int c = 0; c < k; c++) acc += w[(size_t)p * k + c] * yg[(size_t)slot[(size_t)p * k + c] * d + i];
        x[(size_t)p * d + i] += acc;
    }
}

// The summary options of one pass (dlm_sample_opts without its host pointers).
typedef struct {
    int      n_vocab, top_k;
    double   temperature, inv_t;
    uint64_t seed, counter;
    int32_t  sample_exclude, prob_exclude;
} summary_params;

// dlm_summarize_logits (summary.c) for one row per block, over the row's logits on the GPU:
// pass 1 finds the softmax max and the sampled token (argmax of logits, or of logits/T + Gumbel
// noise from the same counter RNG, first maximum wins); pass 2 the normaliser and entropy sums;
// pass 3 the probabilities (written out when asked) and each thread's top-K of its ids, which
// top_k rounds of a block-wide best then merge into the row's top-K.
#define SUM_THREADS 256

__global__ static void __launch_bounds__(SUM_THREADS)
k_summary(dlm_row_summary *out, float *probs, const float *logits, const int32_t *rows, const int32_t *given,
          summary_params sp) {
    __shared__ double red[32];
    __shared__ cand redc[32];
    const int r = blockIdx.x, V = sp.n_vocab;
    const float *lg = logits + (size_t)r * V;
    const uint64_t position = (uint64_t)rows[r];

    double mx = -INFINITY;
    cand best = {-INFINITY, INT_MAX};
    for (int v = threadIdx.x; v < V; v += SUM_THREADS) {
        if (v != sp.prob_exclude && lg[v] * sp.inv_t > mx) mx = lg[v] * sp.inv_t;
        if (v == sp.sample_exclude) continue;
        double score = lg[v];
        if (sp.temperature > 0) {
            double u = dlm_rng_uniform(sp.seed, sp.counter, position, (uint64_t)v);
            score = score / sp.temperature - log(-log(u));
        }
        if (score > best.key) best = {score, v}; // ascending v: the thread's first maximum
    }
    mx = block_max(mx, red);
    best = block_best(best, redc);

    double z = 0, zl = 0; // sum e^(l - mx), sum e^(l - mx) * (l - mx)
    for (int v = threadIdx.x; v < V; v += SUM_THREADS) {
        if (v == sp.prob_exclude) continue;
        double dd = (double)lg[v] * sp.inv_t - mx, e = exp(dd);
        z += e;
        zl += e * dd;
    }
    z = block_sum(z, red);
    zl = block_sum(zl, red);
    const double log_z = log(z);

    int32_t top_ids[DLM_TOP_K_MAX];
    double top_ps[DLM_TOP_K_MAX];
    int n_top = 0;
    if (sp.top_k > 0 || probs) {
        for (int v = threadIdx.x; v < V; v += SUM_THREADS) {
            double p = v == sp.prob_exclude ? 0.0 : exp((double)lg[v] * sp.inv_t - mx - log_z);
            if (probs) probs[(size_t)r * V + v] = (float)p;
            if (sp.top_k) dlm_top_insert(top_ids, top_ps, &n_top, sp.top_k, v, p);
        }
    }
    dlm_row_summary *o = &out[r];
    // Merge: each round takes the best head of the threads' sorted lists (ids are unique, so exactly
    // one thread owns the winner and advances past it).
    int head = 0, n_out = 0;
    for (int k = 0; k < sp.top_k; k++) {
        cand c = head < n_top ? cand{top_ps[head], top_ids[head]} : cand{-1.0, INT_MAX};
        cand w = block_best(c, redc);
        if (w.id == INT_MAX) break; // fewer ids than top_k
        if (head < n_top && top_ids[head] == w.id) head++;
        if (threadIdx.x == 0) {
            o->top_id[k] = w.id;
            o->top_p[k] = (float)w.key;
        }
        n_out = k + 1;
    }
    if (threadIdx.x != 0) return;
    for (int k = n_out; k < DLM_TOP_K_MAX; k++) o->top_id[k] = 0, o->top_p[k] = 0.0f; // defined bytes
    const int32_t tok = best.id == INT_MAX ? 0 : best.id; // only when every id is excluded
    const int32_t gv = given ? given[r] : -1;
    o->token = tok;
    o->p_token = tok == sp.prob_exclude ? 0.0f : (float)exp((double)lg[tok] * sp.inv_t - mx - log_z);
    o->p_given = (gv >= 0 && gv < V && gv != sp.prob_exclude) ? (float)exp((double)lg[gv] * sp.inv_t - mx - log_z) : 0.0f;
    // H = -sum p log p = log z - (sum e d) / z   with d = l - mx
    o->entropy = (float)(log_z - zl / z);
    o->n_top = n_out;
}

// ---- host helpers -----------------------------------------------------------------------------

// out (M, N) = x (M, K) @ W^T + beta * out, with W stored (N, K) row-major as in PyTorch Linear.
// cuBLAS is column-major: there the row-major out is out^T (N, M) = W (N, K) @ x^T (K, M), with W
// read as the transpose of its column-major (K, N) view. bf16 in, fp32 accumulate and out.
static dlm_status gemm(cuda_impl *cu, float *out, const bf16 *x, const bf16 *w, int m, int n, int k, float beta) {
    const float alpha = 1.0f;
    cublasStatus_t st = cublasGemmEx(cu->blas, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &alpha, w, CUDA_R_16BF, k, x, CUDA_R_16BF,
                                     k, &beta, out, CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != CUBLAS_STATUS_SUCCESS)
        return dlm_error(DLM_STATUS_BACKEND, "cuBLAS: bf16 GEMM (%d x %d) @ (%d x %d)^T: %s", m, k, n, k,
                         cublasGetStatusString(st));
    return DLM_STATUS_OK;
}

// Upload n host values to a device buffer on the backend's stream. (From pageable memory the call
// returns once the source has been staged, so the caller may reuse it.)
template <typename T> static dlm_status upload(cuda_impl *cu, T *dst, const T *src, size_t n) {
    if (n) CUDA_TRY(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyHostToDevice, cu->stream));
    return DLM_STATUS_OK;
}

static dlm_status grow_scratch(cuda_impl *cu, const dlm_config *c, int n_tokens, int soft_k, int n_rows, bool probs) {
    if (n_tokens > cu->cap_tokens) {
        const size_t L = (size_t)n_tokens, d = (size_t)c->d_model, half = (size_t)c->rotary_dim / 2;
        cu->cap_tokens = 0; // until every buffer below exists
        TRY(dev_alloc(&cu->x, L * d, "the residual stream"));
        TRY(dev_alloc(&cu->xb, L * d, "normalised activations"));
        TRY(dev_alloc(&cu->qkv, L * qkv_dim(c), "Q, K and V"));
        TRY(dev_alloc(&cu->att, L * c->n_heads * c->head_dim, "the attention output"));
        const size_t dff = (size_t)(c->d_ff > c->d_shared ? c->d_ff : c->d_shared); // dense or shared expert
        TRY(dev_alloc(&cu->hb, L * 2 * dff, "the MLP gate and up projections"));
        TRY(dev_alloc(&cu->hm, L * dff, "the MLP activations"));
        TRY(dev_alloc(&cu->kv, 2 * L * kv_dim(c), "one layer's K and V"));
        TRY(dev_alloc(&cu->ids, L, "token ids"));
        TRY(dev_alloc(&cu->rope_cos, L * half, "RoPE tables"));
        TRY(dev_alloc(&cu->rope_sin, L * half, "RoPE tables"));
        // RoPE tables computed on the host with the CPU backend's very expressions (same libm), so
        // both backends rotate by bit-identical angles.
        float *cs = (float *)malloc(L * half * sizeof(float)), *sn = (float *)malloc(L * half * sizeof(float));
        if (!cs || !sn) {
            free(cs);
            free(sn);
            return dlm_error(DLM_STATUS_NOMEM, "cannot allocate %.1f MB for RoPE tables", 2.0 * L * half * 4 / 1e6);
        }
        for (size_t i = 0; i < half; i++) {
            float inv_freq = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)c->rotary_dim);
            for (size_t p = 0; p < L; p++) {
                float angle = (float)p * inv_freq;
                cs[p * half + i] = cosf(angle);
                sn[p * half + i] = sinf(angle);
            }
        }
        dlm_status st = upload(cu, cu->rope_cos, cs, L * half);
        if (st == DLM_STATUS_OK) st = upload(cu, cu->rope_sin, sn, L * half);
        cudaError_t e = cudaStreamSynchronize(cu->stream);
        free(cs);
        free(sn);
        TRY(st);
        CUDA_TRY(e);
        cu->cap_tokens = n_tokens;
    }
    if ((size_t)n_tokens * soft_k > (size_t)cu->cap_soft) {
        const size_t n = (size_t)n_tokens * soft_k;
        cu->cap_soft = 0;
        TRY(dev_alloc(&cu->soft_ids, n, "soft input ids"));
        TRY(dev_alloc(&cu->soft_w, n, "soft input weights"));
        cu->cap_soft = (int)n;
    }
    if (n_rows > cu->cap_rows) {
        const size_t R = (size_t)n_rows;
        cu->cap_rows = 0;
        TRY(dev_alloc(&cu->rows, R, "output rows"));
        TRY(dev_alloc(&cu->given, R, "given tokens"));
        TRY(dev_alloc(&cu->xr, R * c->d_model, "the output rows' hidden states"));
        TRY(dev_alloc(&cu->logits, R * c->n_vocab, "logits"));
        TRY(dev_alloc(&cu->sums, R, "row summaries"));
        cu->cap_rows = n_rows;
    }
    if (probs && n_rows > cu->cap_probs) {
        cu->cap_probs = 0;
        TRY(dev_alloc(&cu->probs, (size_t)n_rows * c->n_vocab, "probabilities"));
        cu->cap_probs = n_rows;
    }
    return DLM_STATUS_OK;
}

// Make the cache hold `cap` positions, keeping the K/V and hidden states of the first `keep`
// (backend_cpu.c's cache_grow, in device memory).
static dlm_status cache_grow(dlm_backend *be, int cap, int keep) {
    cuda_impl *cu = (cuda_impl *)be->impl;
    const dlm_config *c = &be->model->cfg;
    const size_t kvd = (size_t)kv_dim(c), d = (size_t)c->d_model, old = (size_t)be->cache.cap;
    const size_t kv_n = (size_t)c->n_layers * 2 * cap * kvd, h_n = (size_t)cap * d;
    float *kv = NULL, *h = NULL;
    dlm_status st = dev_alloc(&kv, kv_n, "the KV cache");
    if (st == DLM_STATUS_OK) st = dev_alloc(&h, h_n, "the KV cache's hidden states");
    if (st != DLM_STATUS_OK) {
        cudaFree(kv);
        cudaFree(h);
        if (st == DLM_STATUS_NOMEM)
            return dlm_error(DLM_STATUS_NOMEM, "cannot allocate the KV cache for %d positions (%.1f MB of GPU memory)", cap,
                             (double)(kv_n + h_n) * 4 / 1e6);
        return st;
    }
    for (int l = 0; l < c->n_layers && keep > 0; l++)
        for (int kv_i = 0; kv_i < 2; kv_i++)
            CUDA_TRY(cudaMemcpyAsync(kv + ((size_t)l * 2 + kv_i) * cap * kvd, cu->kv_cache + ((size_t)l * 2 + kv_i) * old * kvd,
                                     (size_t)keep * kvd * sizeof(float), cudaMemcpyDeviceToDevice, cu->stream));
    if (keep > 0)
        CUDA_TRY(cudaMemcpyAsync(h, cu->h_cache, (size_t)keep * d * sizeof(float), cudaMemcpyDeviceToDevice, cu->stream));
    CUDA_TRY(cudaStreamSynchronize(cu->stream));
    cudaFree(cu->kv_cache);
    cudaFree(cu->h_cache);
    cu->kv_cache = kv, cu->h_cache = h;
    be->cache.cap = cap;
    return DLM_STATUS_OK;
}

static dlm_status grow_moe(cuda_impl *cu, const dlm_config *c, int n_tokens) {
    if (n_tokens <= cu->cap_moe) return DLM_STATUS_OK;
    const size_t L = (size_t)n_tokens, E = (size_t)c->n_experts, k = (size_t)c->n_experts_used, d = (size_t)c->d_model,
                 de = (size_t)c->d_expert;
    cu->cap_moe = 0;
    TRY(dev_alloc(&cu->router, L * E, "router logits"));
    TRY(dev_alloc(&cu->pairs, L * k, "expert routing"));
    TRY(dev_alloc(&cu->slot, L * k, "expert routing"));
    TRY(dev_alloc(&cu->w, L * k, "expert weights"));
    TRY(dev_alloc(&cu->xg, L * k * d, "rows gathered by expert"));
    TRY(dev_alloc(&cu->hg, L * k * 2 * de, "expert gate and up projections"));
    TRY(dev_alloc(&cu->hmg, L * k * de, "expert activations"));
    TRY(dev_alloc(&cu->yg, L * k * d, "expert outputs"));
    free(cu->h_router), free(cu->h_ids), free(cu->h_w), free(cu->h_start), free(cu->h_pairs), free(cu->h_slot);
    cu->h_router = (float *)dlm_xmalloc(L * E * sizeof(float));
    cu->h_ids = (int16_t *)dlm_xmalloc(L * k * sizeof(int16_t));
    cu->h_w = (float *)dlm_xmalloc(L * k * sizeof(float));
    cu->h_start = (int *)dlm_xmalloc((E + 1) * sizeof(int));
    cu->h_pairs = (int *)dlm_xmalloc(L * k * sizeof(int));
    cu->h_slot = (int32_t *)dlm_xmalloc(L * k * sizeof(int32_t));
    cu->cap_moe = n_tokens;
    return DLM_STATUS_OK;
}

// x += MoE(xb) over the Lq rows (backend_cpu.c's moe_mlp): router GEMM, routing on the host with
// the CPU's code (the pass waits for the logits), the rows gathered by expert, one gate|up and one
// down GEMM per expert that any row chose (the others are never touched), the weighted combine,
// and the shared expert. The chosen experts of position q0 + i land in routing_out (may be NULL).
static dlm_status moe_forward(cuda_impl *cu, const dlm_config *c, const cuda_layer *w, int Lq, int16_t *routing_out,
                              size_t routing_stride) {
    const int d = c->d_model, E = c->n_experts, k = c->n_experts_used, de = c->d_expert, n_pairs = Lq * k;
    TRY(gemm(cu, cu->router, cu->xb, w->mat[DLM_SLOT_ROUTER], Lq, E, d, 0.0f));
    CUDA_TRY(cudaMemcpyAsync(cu->h_router, cu->router, (size_t)Lq * E * sizeof(float), cudaMemcpyDeviceToHost, cu->stream));
    CUDA_TRY(cudaStreamSynchronize(cu->stream));
    float bias[DLM_MAX_EXPERTS];
    if (w->vec[DLM_SLOT_EXPERT_BIAS])
        CUDA_TRY(cudaMemcpy(bias, w->vec[DLM_SLOT_EXPERT_BIAS], (size_t)E * sizeof(float), cudaMemcpyDeviceToHost));
    double lg[DLM_MAX_EXPERTS];
    for (int i = 0; i < Lq; i++) {
        for (int e = 0; e < E; e++) lg[e] = cu->h_router[(size_t)i * E + e];
        dlm_moe_route(c, lg, w->vec[DLM_SLOT_EXPERT_BIAS] ? bias : NULL, cu->h_ids + (size_t)i * k, cu->h_w + (size_t)i * k);
        if (routing_out) memcpy(routing_out + (size_t)i * routing_stride, cu->h_ids + (size_t)i * k, (size_t)k * sizeof(int16_t));
    }
    dlm_moe_group(c, cu->h_ids, Lq, cu->h_start, cu->h_pairs);
    for (int j = 0; j < n_pairs; j++) cu->h_slot[cu->h_pairs[j]] = j;
    TRY(upload(cu, cu->pairs, (const int32_t *)cu->h_pairs, (size_t)n_pairs));
    TRY(upload(cu, cu->slot, cu->h_slot, (size_t)n_pairs));
    TRY(upload(cu, cu->w, cu->h_w, (size_t)n_pairs));
    k_moe_gather<<<grid_for((size_t)n_pairs * d, 256), 256, 0, cu->stream>>>(cu->xg, cu->xb, cu->pairs, n_pairs, k, d);
    LAUNCH_TRY("moe gather");
    for (int e = 0; e < E; e++) {
        const int n = cu->h_start[e + 1] - cu->h_start[e], r0 = cu->h_start[e];
        if (n == 0) continue;
        const bf16 *gateup = w->experts + (size_t)e * 3 * de * d, *down = gateup + (size_t)2 * de * d;
        TRY(gemm(cu, cu->hg + (size_t)r0 * 2 * de, cu->xg + (size_t)r0 * d, gateup, n, 2 * de, d, 0.0f));
        k_swiglu<<<grid_for((size_t)n * de, 256), 256, 0, cu->stream>>>(cu->hmg + (size_t)r0 * de, cu->hg + (size_t)r0 * 2 * de, n, de);
        LAUNCH_TRY("expert swiglu");
        TRY(gemm(cu, cu->yg + (size_t)r0 * d, cu->hmg + (size_t)r0 * de, down, n, d, de, 0.0f));
    }
    k_moe_combine<<<Lq, 256, 0, cu->stream>>>(cu->x, cu->yg, cu->slot, cu->w, k, d);
    LAUNCH_TRY("moe combine");
    if (w->mat[DLM_SLOT_SHARED_GATEUP]) { // x += shared_expert(xb)
        const int ds = c->d_shared;
        TRY(gemm(cu, cu->hb, cu->xb, w->mat[DLM_SLOT_SHARED_GATEUP], Lq, 2 * ds, d, 0.0f));
        k_swiglu<<<grid_for((size_t)Lq * ds, 256), 256, 0, cu->stream>>>(cu->hm, cu->hb, Lq, ds);
        LAUNCH_TRY("shared expert swiglu");
        TRY(gemm(cu, cu->x, cu->hm, w->mat[DLM_SLOT_SHARED_DOWN], Lq, d, ds, 1.0f));
    }
    return DLM_STATUS_OK;
}

static dlm_status launch_attention(cuda_impl *cu, const dlm_config *c, const float *k_all, const float *v_all, int Lq,
                                   int q0, int L, int block_size, int block_origin) {
    const int hd = c->head_dim;
    const dim3 grid((unsigned)((Lq + ATT_QT - 1) / ATT_QT), (unsigned)c->n_heads);
    const float scale = 1.0f / sqrtf((float)hd);
#define ATT_ARGS cu->att, cu->qkv, k_all, v_all, Lq, q0, L, block_size, block_origin, c->n_heads, c->n_kv_heads, hd, scale
    if (hd <= 32) k_attention<1><<<grid, ATT_THREADS, cu->attn_smem, cu->stream>>>(ATT_ARGS);
    else if (hd <= 64) k_attention<2><<<grid, ATT_THREADS, cu->attn_smem, cu->stream>>>(ATT_ARGS);
    else if (hd <= 128) k_attention<4><<<grid, ATT_THREADS, cu->attn_smem, cu->stream>>>(ATT_ARGS);
    else k_attention<8><<<grid, ATT_THREADS, cu->attn_smem, cu->stream>>>(ATT_ARGS);
#undef ATT_ARGS
    LAUNCH_TRY("attention");
    return DLM_STATUS_OK;
}

// One transformer block over the Lq computed rows (positions q0 ..): x += attn(norm(x)), then
// x += mlp(norm(x)). k_all/v_all hold K and V of every position; this pass's rows are written
// over them first.
static dlm_status layer_forward(cuda_impl *cu, const dlm_config *c, const cuda_layer *w, float *k_all, float *v_all,
                                int q0, int Lq, int L, int block_size, int block_origin, int16_t *routing_out, size_t routing_stride) {
    const int d = c->d_model, qd = qkv_dim(c), dff = c->d_ff, od = c->n_heads * c->head_dim;
    // attention sublayer
    k_rmsnorm<<<Lq, 256, 0, cu->stream>>>(cu->xb, cu->x, w->vec[DLM_SLOT_ATTN_NORM], d, c->norm_eps, NULL, 0, 0, NULL,
                                          false);
    LAUNCH_TRY("rmsnorm");
    TRY(gemm(cu, cu->qkv, cu->xb, w->mat[DLM_SLOT_WQKV], Lq, qd, d, 0.0f));
    if (w->vec[DLM_SLOT_BQKV] || w->vec[DLM_SLOT_Q_NORM]) {
        k_qkv_bias_norm<<<Lq, 128, 0, cu->stream>>>(cu->qkv, w->vec[DLM_SLOT_BQKV], w->vec[DLM_SLOT_Q_NORM],
                                                   w->vec[DLM_SLOT_K_NORM], c->n_heads, c->n_kv_heads, c->head_dim,
                                                   c->norm_eps);
        LAUNCH_TRY("qkv bias and norm");
    }
    k_rope_kv<<<Lq, 256, 0, cu->stream>>>(cu->qkv, k_all, v_all, cu->rope_cos, cu->rope_sin, q0, c->n_heads,
                                          c->n_kv_heads, c->head_dim, c->rotary_dim);
    LAUNCH_TRY("rope");
    TRY(launch_attention(cu, c, k_all, v_all, Lq, q0, L, block_size, block_origin));
    TRY(gemm(cu, cu->x, cu->att, w->mat[DLM_SLOT_WO], Lq, d, od, 1.0f)); // x += attn_out(att)
    // MLP sublayer: ff_out(silu(ff_proj(x)) * up_proj(x))
    k_rmsnorm<<<Lq, 256, 0, cu->stream>>>(cu->xb, cu->x, w->vec[DLM_SLOT_FF_NORM], d, c->norm_eps, NULL, 0, 0, NULL,
                                          false);
    LAUNCH_TRY("rmsnorm");
    if (w->experts) return moe_forward(cu, c, w, Lq, routing_out, routing_stride);
    TRY(gemm(cu, cu->hb, cu->xb, w->mat[DLM_SLOT_W_GATEUP], Lq, 2 * dff, d, 0.0f));
    k_swiglu<<<grid_for((size_t)Lq * dff, 256), 256, 0, cu->stream>>>(cu->hm, cu->hb, Lq, dff);
    LAUNCH_TRY("swiglu");
    TRY(gemm(cu, cu->x, cu->hm, w->mat[DLM_SLOT_W_DOWN], Lq, d, dff, 1.0f)); // x += ff_out(...)
    return DLM_STATUS_OK;
}

// ---- forward ----------------------------------------------------------------------------------

static dlm_status cuda_forward(dlm_backend *be, const dlm_forward_args *a, const dlm_sample_opts *o,
                               dlm_row_summary *out) {
    cuda_impl *cu = (cuda_impl *)be->impl;
    const dlm_config *c = &be->model->cfg;
    TRY(dlm_forward_args_check(c, a, o));
    const int L = a->n_tokens, d = c->d_model, kvd = kv_dim(c), V = c->n_vocab;
    int q0, q1, grow_to;
    TRY(dlm_cache_plan(be, a, &q0, &q1, &grow_to));
    if (grow_to) TRY(cache_grow(be, grow_to, a->cache == DLM_CACHE_BLOCK ? be->cache.len : 0));
    const int Lq = q1 - q0; // rows of the residual stream this pass computes (positions q0 ..)
    const bool cached = a->cache != DLM_CACHE_NONE;
    TRY(grow_scratch(cu, c, L, a->soft_k, a->n_rows, o->probs != NULL));
    if (c->n_experts > 0) TRY(grow_moe(cu, c, Lq));
    const int n_moe = dlm_config_moe_layers(c);

    // Every input goes up before any work is queued: an upload from pageable memory may wait for
    // the stream.
    TRY(upload(cu, cu->ids, a->ids, (size_t)L));
    if (a->soft_k > 0) {
        TRY(upload(cu, cu->soft_ids, a->soft_ids, (size_t)L * a->soft_k));
        TRY(upload(cu, cu->soft_w, a->soft_w, (size_t)L * a->soft_k));
    }
    TRY(upload(cu, cu->rows, a->rows, (size_t)a->n_rows));
    if (a->given) TRY(upload(cu, cu->given, a->given, (size_t)a->n_rows));
    k_embed<<<Lq, 256, 0, cu->stream>>>(cu->x, cu->wte, cu->ids, cu->soft_ids, cu->soft_w, a->soft_k, q0, d);
    LAUNCH_TRY("embed");

    for (int l = 0; l < c->n_layers; l++) {
        // Checked while queueing work: the host runs ahead of the GPU, so a cancelled pass stops
        // queueing layers and the ones already queued finish harmlessly on the stream.
        if (a->cancel && *a->cancel) return dlm_error(DLM_STATUS_CANCELLED, "forward pass cancelled");
        const size_t kv_rows = cached ? (size_t)be->cache.cap : (size_t)L;
        float *k_all = cached ? cu->kv_cache + (size_t)l * 2 * kv_rows * kvd : cu->kv, *v_all = k_all + kv_rows * kvd;
        const int moe_j = l - c->n_dense_layers; // this layer's index among the MoE layers
        int16_t *routing = a->routing && dlm_config_layer_is_moe(c, l)
                               ? a->routing + ((size_t)q0 * n_moe + moe_j) * c->n_experts_used : NULL;
        TRY(layer_forward(cu, c, &cu->layers[l], k_all, v_all, q0, Lq, L, a->block_size, a->block_origin, routing,
                          (size_t)n_moe * c->n_experts_used));
    }
    if (cached && (a->cache == DLM_CACHE_BLOCK ? a->cache_store : a->cache_refresh))
        CUDA_TRY(cudaMemcpyAsync(cu->h_cache + (size_t)q0 * d, cu->x, (size_t)Lq * d * sizeof(float),
                                 cudaMemcpyDeviceToDevice, cu->stream));

    // Final norm and LM head, for the requested rows only; rows this pass did not recompute read
    // the refreshing pass's hidden states.
    if (a->n_rows > 0) {
        const int R = a->n_rows;
        k_rmsnorm<<<R, 256, 0, cu->stream>>>(cu->xr, cu->x, cu->ln_f, d, c->norm_eps, cu->rows, q0, q1, cu->h_cache,
                                             c->shift_logits);
        LAUNCH_TRY("final rmsnorm");
        TRY(gemm(cu, cu->logits, cu->xr, cu->lm_head, R, V, d, 0.0f));
        summary_params sp;
        sp.n_vocab = V, sp.top_k = o->top_k;
        sp.temperature = o->temperature;
        sp.inv_t = o->tempered && o->temperature > 0 ? 1.0 / o->temperature : 1.0;
        sp.seed = o->seed, sp.counter = o->counter;
        sp.sample_exclude = o->sample_exclude, sp.prob_exclude = o->prob_exclude;
        k_summary<<<R, SUM_THREADS, 0, cu->stream>>>(cu->sums, o->probs ? cu->probs : NULL, cu->logits, cu->rows,
                                                     a->given ? cu->given : NULL, sp);
        LAUNCH_TRY("summary");
        // Device-to-pageable copies return when complete.
        CUDA_TRY(cudaMemcpyAsync(out, cu->sums, (size_t)R * sizeof *out, cudaMemcpyDeviceToHost, cu->stream));
        if (o->probs)
            CUDA_TRY(cudaMemcpyAsync(o->probs, cu->probs, (size_t)R * V * sizeof(float), cudaMemcpyDeviceToHost, cu->stream));
        if (o->logits)
            CUDA_TRY(cudaMemcpyAsync(o->logits, cu->logits, (size_t)R * V * sizeof(float), cudaMemcpyDeviceToHost, cu->stream));
    }
    CUDA_TRY(cudaStreamSynchronize(cu->stream)); // reports any fault of the pass's kernels
    dlm_cache_commit(be, a);
    return DLM_STATUS_OK;
}

// ---- weights ----------------------------------------------------------------------------------

static void cuda_free(dlm_backend *be) {
    cuda_impl *cu = (cuda_impl *)be->impl;
    if (cu) {
        if (cu->stream) cudaStreamSynchronize(cu->stream);
        cudaFree(cu->weights);
        cudaFree(cu->x), cudaFree(cu->xb), cudaFree(cu->qkv), cudaFree(cu->att), cudaFree(cu->hb), cudaFree(cu->hm);
        cudaFree(cu->kv), cudaFree(cu->rope_cos), cudaFree(cu->rope_sin), cudaFree(cu->ids);
        cudaFree(cu->soft_ids), cudaFree(cu->soft_w), cudaFree(cu->rows), cudaFree(cu->given), cudaFree(cu->xr);
        cudaFree(cu->logits), cudaFree(cu->probs), cudaFree(cu->sums), cudaFree(cu->kv_cache), cudaFree(cu->h_cache);
        cudaFree(cu->router), cudaFree(cu->pairs), cudaFree(cu->slot), cudaFree(cu->w), cudaFree(cu->xg), cudaFree(cu->hg);
        cudaFree(cu->hmg), cudaFree(cu->yg);
        free(cu->h_router), free(cu->h_ids), free(cu->h_w), free(cu->h_start), free(cu->h_pairs), free(cu->h_slot);
        if (cu->blas) cublasDestroy(cu->blas);
        if (cu->stream) cudaStreamDestroy(cu->stream);
        free(cu->layers);
        free(cu);
    }
    free(be);
}

static const dlm_backend_ops cuda_ops = {"cuda", cuda_forward, cuda_free};

static size_t align256(size_t n) { return (n + 255) / 256 * 256; }

// Lay every weight of the layer plan out in one device allocation, each slot 256-byte aligned:
// matrices in bf16, vectors in fp32. With base NULL it only counts the bytes.
static size_t weights_layout(cuda_impl *cu, const dlm_config *c, const dlm_layer_plan *plan, char *base) {
    size_t off = 0;
    auto place = [&](const dlm_plan_slot *s) -> char * {
        char *p = base ? base + off : NULL;
        off += align256((size_t)dlm_plan_slot_numel(s) * (s->matrix ? sizeof(bf16) : sizeof(float)));
        return p;
    };
    cu->wte = (bf16 *)place(&plan->global[DLM_GSLOT_WTE]);
    cu->lm_head = plan->tied_head ? cu->wte : (bf16 *)place(&plan->global[DLM_GSLOT_LM_HEAD]);
    cu->ln_f = (float *)place(&plan->global[DLM_GSLOT_LN_F]);
    for (int l = 0; l < c->n_layers; l++) {
        for (int s = 0; s < DLM_LAYER_SLOT_COUNT; s++) {
            const dlm_plan_slot *sl = &plan->layer[s];
            if (!dlm_plan_slot_in_layer(cu->model, sl, l)) continue;
            char *p = place(sl);
            if (sl->matrix) cu->layers[l].mat[s] = (bf16 *)p;
            else cu->layers[l].vec[s] = (float *)p;
        }
        if (dlm_config_layer_is_moe(c, l)) { // every expert's gate|up and down, one after the other
            cu->layers[l].experts = base ? (bf16 *)(base + off) : NULL;
            off += align256((size_t)c->n_experts * 3 * c->d_expert * c->d_model * sizeof(bf16));
        }
    }
    return off;
}

// Weight loading: each slot comes from dlm_plan_load_slot as fp32 (parts stacked, dtype converted,
// LoRA merged) into one reusable host staging buffer, goes to the GPU in chunks through a device
// staging buffer and is rounded to bf16 there (or copied as fp32, for vectors).
typedef struct {
    float *host;    // the largest slot, fp32
    float *dev;     // one chunk, fp32
    size_t chunk;   // floats per chunk
} staging;

// The n fp32 values staged in sg->host to bf16 at dst on the device.
static dlm_status stage_to_bf16(cuda_impl *cu, staging *sg, size_t n, void *dst) {
    for (size_t off = 0; off < n; off += sg->chunk) {
        const size_t cnt = n - off < sg->chunk ? n - off : sg->chunk;
        CUDA_TRY(cudaMemcpyAsync(sg->dev, sg->host + off, cnt * sizeof(float), cudaMemcpyHostToDevice, cu->stream));
        k_f32_to_bf16<<<grid_for(cnt, 256), 256, 0, cu->stream>>>((bf16 *)dst + off, sg->dev, cnt);
        LAUNCH_TRY("f32_to_bf16");
        CUDA_TRY(cudaStreamSynchronize(cu->stream)); // both staging buffers are reused next
    }
    return DLM_STATUS_OK;
}

static dlm_status load_slot(cuda_impl *cu, staging *sg, const dlm_model *m, const dlm_plan_slot *s, int layer, void *dst) {
    const size_t n = (size_t)dlm_plan_slot_numel(s);
    dlm_plan_load_slot(m, s, layer, sg->host);
    if (!s->matrix) {
        TRY(upload(cu, (float *)dst, sg->host, n));
        CUDA_TRY(cudaStreamSynchronize(cu->stream)); // the staging buffer is reused next
        return DLM_STATUS_OK;
    }
    return stage_to_bf16(cu, sg, n, dst);
}

// A MoE layer's experts: gate and up stacked, then down, per expert (the layout moe_forward reads).
static dlm_status load_experts(cuda_impl *cu, staging *sg, const dlm_model *m, int layer, bf16 *dst) {
    const dlm_config *c = &m->cfg;
    const size_t mat = (size_t)c->d_expert * c->d_model;
    for (int e = 0; e < c->n_experts; e++) {
        for (int k = 0; k < 3; k++) {
            const dlm_tensor *t = dlm_model_expert_tensor(m, layer, e, k);
            dlm_tensor_to_f32(t, 0, dlm_tensor_numel(t), sg->host + (size_t)k * mat);
        }
        TRY(stage_to_bf16(cu, sg, 3 * mat, dst + (size_t)e * 3 * mat));
    }
    return DLM_STATUS_OK;
}

static dlm_status load_weights(cuda_impl *cu, const dlm_model *m, const dlm_layer_plan *plan) {
    const dlm_config *c = &m->cfg;
    size_t total = weights_layout(cu, c, plan, NULL);
    TRY(dev_alloc(&cu->weights, total, "bf16 weights"));
    weights_layout(cu, c, plan, cu->weights);

    size_t largest = 0;
    for (int s = 0; s < DLM_LAYER_SLOT_COUNT; s++)
        if (plan->layer[s].present && (size_t)dlm_plan_slot_numel(&plan->layer[s]) > largest)
            largest = (size_t)dlm_plan_slot_numel(&plan->layer[s]);
    for (int s = 0; s < DLM_GLOBAL_SLOT_COUNT; s++)
        if ((size_t)dlm_plan_slot_numel(&plan->global[s]) > largest) largest = (size_t)dlm_plan_slot_numel(&plan->global[s]);
    if ((size_t)3 * c->d_expert * c->d_model > largest) largest = (size_t)3 * c->d_expert * c->d_model; // one expert
    staging sg = {NULL, NULL, largest < ((size_t)16 << 20) ? largest : ((size_t)16 << 20)};
    sg.host = (float *)malloc(largest * sizeof(float));
    if (!sg.host)
        return dlm_error(DLM_STATUS_NOMEM, "%s: cannot allocate %.1f MB of host memory to stage weights", m->dir,
                         largest * 4.0 / 1e6);
    dlm_status st = dev_alloc(&sg.dev, sg.chunk, "weight staging");
    if (st == DLM_STATUS_OK) st = load_slot(cu, &sg, m, &plan->global[DLM_GSLOT_WTE], 0, cu->wte);
    if (st == DLM_STATUS_OK && !plan->tied_head) st = load_slot(cu, &sg, m, &plan->global[DLM_GSLOT_LM_HEAD], 0, cu->lm_head);
    if (st == DLM_STATUS_OK) st = load_slot(cu, &sg, m, &plan->global[DLM_GSLOT_LN_F], 0, cu->ln_f);
    for (int l = 0; l < c->n_layers && st == DLM_STATUS_OK; l++) {
        for (int s = 0; s < DLM_LAYER_SLOT_COUNT && st == DLM_STATUS_OK; s++) {
            const dlm_plan_slot *sl = &plan->layer[s];
            if (!dlm_plan_slot_in_layer(m, sl, l)) continue;
            void *dst = sl->matrix ? (void *)cu->layers[l].mat[s] : (void *)cu->layers[l].vec[s];
            st = load_slot(cu, &sg, m, sl, l, dst);
        }
        if (st == DLM_STATUS_OK && cu->layers[l].experts) st = load_experts(cu, &sg, m, l, cu->layers[l].experts);
    }
    free(sg.host);
    cudaFree(sg.dev);
    return st;
}

// ---- construction -----------------------------------------------------------------------------

extern "C" int dlm_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

// Device, stream, cuBLAS, a probe launch (fails here if the binary has no code for this GPU) and
// the attention kernel's shared memory.
static dlm_status cuda_init(dlm_backend *be, cuda_impl *cu, const dlm_config *c) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        return dlm_error(DLM_STATUS_BACKEND, "--device cuda: no usable CUDA device (%s)",
                         e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    }
    CUDA_TRY(cudaSetDevice(0));
    cudaDeviceProp prop;
    CUDA_TRY(cudaGetDeviceProperties(&prop, 0));
    snprintf(be->device, sizeof be->device, "cuda:0 (%.48s)", prop.name);
    CUDA_TRY(cudaStreamCreateWithFlags(&cu->stream, cudaStreamNonBlocking));
    BLAS_TRY(cublasCreate(&cu->blas));
    BLAS_TRY(cublasSetStream(cu->blas, cu->stream));
    k_probe<<<1, 1, 0, cu->stream>>>(NULL);
    e = cudaGetLastError();
    if (e == cudaSuccess) e = cudaStreamSynchronize(cu->stream);
    if (e != cudaSuccess)
        return dlm_error(DLM_STATUS_BACKEND, "--device cuda: cannot run kernels on %s (compute capability %d.%d): %s "
                         "(rebuild with CUDA_ARCH=sm_%d%d)", prop.name, prop.major, prop.minor, cudaGetErrorString(e),
                         prop.major, prop.minor);
    if (c->head_dim % 2 != 0 || c->head_dim > ATT_MAX_HD)
        return dlm_error(DLM_STATUS_UNSUPPORTED, "--device cuda: head_dim %d; the CUDA backend takes even head dims up to %d",
                         c->head_dim, ATT_MAX_HD);
    cu->attn_smem = attn_smem_bytes(c->head_dim);
    if (cu->attn_smem > (size_t)prop.sharedMemPerBlockOptin)
        return dlm_error(DLM_STATUS_UNSUPPORTED, "--device cuda: head_dim %d needs %zu bytes of shared memory per block; "
                         "this GPU has %zu", c->head_dim, cu->attn_smem, (size_t)prop.sharedMemPerBlockOptin);
    // Above 48 KB a kernel must opt in to dynamic shared memory.
    const int smem = (int)cu->attn_smem;
    CUDA_TRY(cudaFuncSetAttribute(k_attention<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    CUDA_TRY(cudaFuncSetAttribute(k_attention<2>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    CUDA_TRY(cudaFuncSetAttribute(k_attention<4>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    CUDA_TRY(cudaFuncSetAttribute(k_attention<8>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    return DLM_STATUS_OK;
}

extern "C" dlm_backend *dlm_backend_cuda_new(const dlm_model *m) {
    const dlm_config *c = &m->cfg;
    dlm_layer_plan plan;
    dlm_layer_plan_make(m, &plan);
    dlm_backend *be = (dlm_backend *)dlm_xcalloc(1, sizeof *be);
    cuda_impl *cu = (cuda_impl *)dlm_xcalloc(1, sizeof *cu);
    cu->model = m;
    be->ops = &cuda_ops;
    be->model = m;
    be->impl = cu;
    cu->layers = (cuda_layer *)dlm_xcalloc((size_t)c->n_layers, sizeof *cu->layers);
    dlm_status st = cuda_init(be, cu, c);
    if (st == DLM_STATUS_OK) st = load_weights(cu, m, &plan);
    if (st != DLM_STATUS_OK) {
        cuda_free(be);
        return NULL;
    }
    return be;
}
