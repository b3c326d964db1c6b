// cpu_gemm.c — matrix products from mapped F32/BF16/F16 weights (see cpu_gemm.h).
//
// The product is cut into tasks: a panel of weight rows (output columns) times a chunk of
// activation rows. A task converts its panel to fp32 one K-chunk at a time into a per-thread
// buffer (L2-sized) and hands it to single-threaded OpenBLAS sgemm (OpenBLAS runs single-threaded
// inside an OpenMP region); fp32 panels go to sgemm straight from the mapping. Tasks are handed out
// dynamically, so under load the threads share the work by the CPU time they actually get.
#include "cpu_gemm.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define CPU_GEMM_X86 1
// F16C by CPUID: clang 14 (Debian's, what `make fuzz` uses) rejects __builtin_cpu_supports("f16c").
// Its instructions are VEX-encoded, so the OS must save AVX state: "avx" checks that.
// Asked once (CPUID can trap to a hypervisor); the relaxed atomics make the lazy cache race-free.
static int cpu_has_f16c(void) {
    static int known = -1;
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (v < 0) {
        unsigned a, b, c, d;
        v = __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
    }
    return v;
}
#endif

// ---- conversion -------------------------------------------------------------------------------

static void convert_scalar(dlm_dtype dtype, const void *src, int64_t n, float *dst) {
    const unsigned char *p = src;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        dst[i] = dtype == DLM_DTYPE_BF16 ? dlm_bf16_to_f32(h) : dlm_f16_to_f32(h);
    }
}

#ifdef CPU_GEMM_X86
// bf16 is the top half of an fp32: widen to 32 bits and shift left by 16.
__attribute__((target("avx2"))) static void bf16_to_f32_avx2(const uint16_t *src, int64_t n, float *dst) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
    }
    convert_scalar(DLM_DTYPE_BF16, src + i, n - i, dst + i);
}

// F16C converts IEEE half (subnormals, inf and NaN included) exactly.
__attribute__((target("avx,f16c"))) static void f16_to_f32_f16c(const uint16_t *src, int64_t n, float *dst) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    convert_scalar(DLM_DTYPE_F16, src + i, n - i, dst + i);
}
#endif

void cpu_convert_f32(dlm_dtype dtype, const void *src, int64_t n, float *dst) {
    switch (dtype) {
    case DLM_DTYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    case DLM_DTYPE_BF16:
#ifdef CPU_GEMM_X86
        // The mapping only guarantees 2-byte alignment here; loadu and the memcpy tail need no more.
        if (__builtin_cpu_supports("avx2")) return bf16_to_f32_avx2(src, n, dst);
#endif
        return convert_scalar(dtype, src, n, dst);
    case DLM_DTYPE_F16:
#ifdef CPU_GEMM_X86
        if (cpu_has_f16c()) return f16_to_f32_f16c(src, n, dst);
#endif
        return convert_scalar(dtype, src, n, dst);
    default:
        dlm_die("cpu_convert_f32: unsupported dtype %d", (int)dtype);
    }
}

static size_t dtype_size(dlm_dtype t) { return t == DLM_DTYPE_F32 ? 4 : 2; }

void cpu_weight_row(const cpu_weight *w, int64_t r, float *dst) {
    cpu_convert_f32(w->dtype, (const char *)w->data + (size_t)(r * w->cols) * dtype_size(w->dtype), w->cols, dst);
}

// ---- product ----------------------------------------------------------------------------------

// Weight rows per panel (wide enough that re-packing the activations per panel costs little) times
// input columns per converted chunk: a tile of at most 512 KB of fp32, about a Zen 4 / Skylake L2.
#define PANEL_ROWS 256
#define K_CHUNK 512
#define TILE_FLOATS (PANEL_ROWS * K_CHUNK)
// Tasks a product is cut into at least (where its shape allows): enough for four threads to share
// dynamically, whatever the number of threads that actually run.
#define TASKS_FOR 16

typedef struct {
    int w;      // weight index
    int n0, nb; // panel: weight rows [n0, n0 + nb)
    int m0, mb; // activation rows [m0, m0 + mb)
    int col;    // output column of the panel's first row
} gemm_task;

static void run_task(const gemm_task *t, float *out, int ldo, const float *x, int ldx, const cpu_weight *wt, float beta,
                     float *tile) {
    const int K = (int)wt->cols;
    float *o = out + (size_t)t->m0 * ldo + t->col;
    const float *xa = x + (size_t)t->m0 * ldx;
    if (wt->dtype == DLM_DTYPE_F32) {
        const float *b = (const float *)wt->data + (size_t)t->n0 * K;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t->mb, t->nb, K, 1.0f, xa, ldx, b, K, beta, o, ldo);
        return;
    }
    // A fixed K chunk: the order of the fp32 sums must not depend on the panel width, which
    // depends on the thread count (results are the same with any --threads).
    const int kb = K < K_CHUNK ? K : K_CHUNK;
    const size_t es = dtype_size(wt->dtype);
    for (int k0 = 0; k0 < K; k0 += kb) {
        int kc = K - k0 < kb ? K - k0 : kb;
        for (int r = 0; r < t->nb; r++)
            cpu_convert_f32(wt->dtype, (const char *)wt->data + ((size_t)(t->n0 + r) * K + k0) * es, kc, tile + (size_t)r * kc);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t->mb, t->nb, kc, 1.0f, xa + k0, ldx, tile, kc,
                    k0 == 0 ? beta : 1.0f, o, ldo);
    }
}

void cpu_gemm(float *out, int ldo, const float *x, int ldx, const cpu_weight *w, int n_weights, int m, float beta) {
    if (m <= 0 || n_weights <= 0) return;
    int64_t n_total = 0;
    for (int i = 0; i < n_weights; i++) {
        DLM_ASSERT(w[i].cols == w[0].cols);
        n_total += w[i].rows;
    }
    // The cut into tasks depends on the shapes only, never on the thread count: OpenBLAS picks its
    // kernels (and so the rounding) by the size of each call, and the adaptive thread count
    // (cpu_threads.h) may change between a recording and its resume, which must agree bit for bit.
    // Panel rows: PANEL_ROWS, or fewer so that there are about TASKS_FOR panels; a multiple of 16.
    int nb = PANEL_ROWS;
    while (nb > 16 && n_total / nb < TASKS_FOR) nb /= 2;
    // Few panels (a thin output): split the activation rows too.
    int64_t n_panels = 0;
    for (int i = 0; i < n_weights; i++) n_panels += (w[i].rows + nb - 1) / nb;
    int m_chunks = 1;
    if (n_panels < TASKS_FOR && m >= 64) {
        m_chunks = (int)((TASKS_FOR + n_panels - 1) / n_panels);
        if (m_chunks > m / 32) m_chunks = m / 32;
    }
    int mb = ((m + m_chunks - 1) / m_chunks + 15) / 16 * 16;
    m_chunks = (m + mb - 1) / mb;

    gemm_task *tasks = dlm_xmalloc((size_t)(n_panels * m_chunks) * sizeof *tasks);
    int n_tasks = 0, col = 0;
    for (int i = 0; i < n_weights; i++) {
        for (int n0 = 0; n0 < w[i].rows; n0 += nb)
            for (int m0 = 0; m0 < m; m0 += mb)
                tasks[n_tasks++] = (gemm_task){i, n0, (int)(w[i].rows - n0 < nb ? w[i].rows - n0 : nb), m0,
                                               m - m0 < mb ? m - m0 : mb, col + n0};
        col += (int)w[i].rows;
    }
    bool half = false;
    for (int i = 0; i < n_weights; i++) half |= w[i].dtype != DLM_DTYPE_F32;
    // A product under a few MFLOP runs on one thread: waking the others would cost more than it saves.
    const bool parallel = 2.0 * m * (double)n_total * (double)w[0].cols >= 4e6;
#pragma omp parallel if (parallel)
    {
        float *tile = half ? dlm_xmalloc(TILE_FLOATS * sizeof(float)) : NULL;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < n_tasks; t++) run_task(&tasks[t], out, ldo, x, ldx, &w[tasks[t].w], beta, tile);
        free(tile);
    }
    free(tasks);
}
