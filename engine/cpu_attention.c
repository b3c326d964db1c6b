// cpu_attention.c — fused tiled attention and its readable reference (see cpu_attention.h).
//
// The fused kernel walks the visible keys of a group of four query rows in tiles of sixteen (two AVX2
// registers): scores for the tile from the keys transposed per KV head (a broadcast of q[d] times
// eight keys' d-th components), then the online softmax of FlashAttention (running maximum m and
// denominator l per row; the accumulated output is rescaled by exp(m_old - m_new) when the maximum
// grows), then the tile's probabilities times its value rows, SIMD over the head dimension. Memory
// per task is the four rows' accumulators; nothing grows with L x L. Without AVX2/FMA, or for a
// head size that is not a multiple of 8, the same algorithm runs in plain C.
#include "cpu_attention.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_ATTENTION_X86 1
#endif

#define KEY_TILE 16   // keys per tile (two AVX2 vectors)
#define ROW_GROUP 4   // query rows sharing each loaded key tile
#define QUERY_TILE 16 // query rows per parallel task
#define MAX_HEAD_DIM 512

// Keys visible from query position i: all of them, or, block-causally, those of blocks up to i's own
// (blocks of block_size from `origin`; [0, origin) is one block of its own, D2F's prompt).
static int key_limit(int i, int n_tokens, int block_size, int origin) {
    if (block_size <= 0) return n_tokens;
    long lim = i < origin ? origin : origin + ((long)(i - origin) / block_size + 1) * block_size;
    return lim < n_tokens ? (int)lim : n_tokens;
}

static int padded_keys(int L) { return (L + KEY_TILE - 1) / KEY_TILE * KEY_TILE; }

size_t cpu_attention_scratch_floats(const cpu_attention_shape *s) {
    return (size_t)s->n_kv_heads * s->head_dim * padded_keys(s->L);
}

// ---- plain C ----------------------------------------------------------------------------------

// One query row of head h (KV head g), the fused algorithm with scalar arithmetic.
static void attend_row_scalar(const cpu_attention_shape *s, int g, const float *q, int lim, const float *k,
                              const float *v, int ldkv, float scale, float *out) {
    const int hd = s->head_dim;
    float acc[MAX_HEAD_DIM] = {0}, sc[KEY_TILE];
    float m = -INFINITY, l = 0;
    for (int j0 = 0; j0 < lim; j0 += KEY_TILE) {
        const int jn = lim - j0 < KEY_TILE ? lim - j0 : KEY_TILE;
        float mt = -INFINITY;
        for (int jj = 0; jj < jn; jj++) {
            const float *kr = k + (size_t)(j0 + jj) * ldkv + (size_t)g * hd;
            float dot = 0;
            for (int d = 0; d < hd; d++) dot += q[d] * kr[d];
            sc[jj] = dot * scale;
            mt = sc[jj] > mt ? sc[jj] : mt;
        }
        const float mn = mt > m ? mt : m, corr = expf(m - mn);
        l *= corr;
        for (int d = 0; d < hd; d++) acc[d] *= corr;
        for (int jj = 0; jj < jn; jj++) {
            const float p = expf(sc[jj] - mn);
            const float *vr = v + (size_t)(j0 + jj) * ldkv + (size_t)g * hd;
            l += p;
            for (int d = 0; d < hd; d++) acc[d] += p * vr[d];
        }
        m = mn;
    }
    for (int d = 0; d < hd; d++) out[d] = acc[d] / l;
}

// ---- AVX2 + FMA -------------------------------------------------------------------------------

#ifdef CPU_ATTENTION_X86
#define AVX2 __attribute__((target("avx2,fma")))
// The row loops must be unrolled for their vector accumulators to live in registers: at -O2 GCC
// keeps them as stack arrays, and every FMA then waits on a store and a reload (4x slower).
#define UNROLL_ROWS _Pragma("GCC unroll 4")

// exp(x) for x <= 0, Cephes' expf: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two for
// precision), a degree-6 polynomial for e^r, and 2^n built in the exponent bits; within 2 ulp.
AVX2 static inline __m256 exp_avx2(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f)); // 2^n stays a normal float
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

AVX2 static inline float hmax_avx2(__m256 x) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

AVX2 static inline float hsum_avx2(__m256 x) {
    __m128 m = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    m = _mm_add_ps(m, _mm_movehl_ps(m, m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// Up to ROW_GROUP query rows of head h (KV head g); kt holds the KV head's keys transposed
// (head_dim rows of Lp keys). Unused row slots repeat row 0 and are not written.
// A tile is two AVX2 vectors of keys, so the score products of the four rows are eight independent
// FMA chains (one vector per row would leave four chains of head_dim FMAs, bound by FMA latency),
// and the softmax's horizontal max and sum are paid once per sixteen keys.
AVX2 static void attend_rows_avx2(const cpu_attention_shape *s, const float *const q[ROW_GROUP], const int lim[ROW_GROUP],
                                  int nr, const float *kt, int Lp, const float *v, int ldkv, float scale,
                                  float *const out[ROW_GROUP]) {
    const int hd = s->head_dim;
    float acc[ROW_GROUP][MAX_HEAD_DIM];
    float m[ROW_GROUP], l[ROW_GROUP];
    int lim_max = 0;
    for (int r = 0; r < ROW_GROUP; r++) {
        m[r] = -INFINITY, l[r] = 0;
        memset(acc[r], 0, (size_t)hd * sizeof(float));
        if (r < nr && lim[r] > lim_max) lim_max = lim[r];
    }
    const __m256 lane0 = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), lane1 = _mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15),
                 vscale = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-INFINITY);
    for (int j0 = 0; j0 < lim_max; j0 += KEY_TILE) {
        __m256 s0[ROW_GROUP], s1[ROW_GROUP];
        UNROLL_ROWS
        for (int r = 0; r < ROW_GROUP; r++) s0[r] = s1[r] = _mm256_setzero_ps();
        const float *kd = kt + j0;
        for (int d = 0; d < hd; d++, kd += Lp) {
            const __m256 k0 = _mm256_loadu_ps(kd), k1 = _mm256_loadu_ps(kd + 8);
            UNROLL_ROWS
            for (int r = 0; r < ROW_GROUP; r++) {
                const __m256 qb = _mm256_set1_ps(q[r][d]);
                s0[r] = _mm256_fmadd_ps(qb, k0, s0[r]);
                s1[r] = _mm256_fmadd_ps(qb, k1, s1[r]);
            }
        }
        // Online softmax per row: p = exp(s - m) for the tile (0 where masked or for rows that see
        // none of it); the running sums are rescaled only when the maximum grows.
        float p[ROW_GROUP][KEY_TILE];
        UNROLL_ROWS
        for (int r = 0; r < ROW_GROUP; r++) {
            if (r >= nr || j0 >= lim[r]) {
                _mm256_storeu_ps(p[r], _mm256_setzero_ps());
                _mm256_storeu_ps(p[r] + 8, _mm256_setzero_ps());
                continue;
            }
            const __m256 base = _mm256_set1_ps((float)j0), vlim = _mm256_set1_ps((float)lim[r]);
            const __m256 valid0 = _mm256_cmp_ps(_mm256_add_ps(lane0, base), vlim, _CMP_LT_OQ);
            const __m256 valid1 = _mm256_cmp_ps(_mm256_add_ps(lane1, base), vlim, _CMP_LT_OQ);
            const __m256 x0 = _mm256_blendv_ps(ninf, _mm256_mul_ps(s0[r], vscale), valid0);
            const __m256 x1 = _mm256_blendv_ps(ninf, _mm256_mul_ps(s1[r], vscale), valid1);
            const float mt = hmax_avx2(_mm256_max_ps(x0, x1));
            if (mt > m[r]) {
                const float corr = expf(m[r] - mt); // 0 on the first tile (m = -inf)
                l[r] *= corr;
                const __m256 vc = _mm256_set1_ps(corr);
                for (int d = 0; d < hd; d += 8) _mm256_storeu_ps(acc[r] + d, _mm256_mul_ps(_mm256_loadu_ps(acc[r] + d), vc));
                m[r] = mt;
            }
            const __m256 vm = _mm256_set1_ps(m[r]);
            const __m256 p0 = _mm256_and_ps(exp_avx2(_mm256_sub_ps(x0, vm)), valid0);
            const __m256 p1 = _mm256_and_ps(exp_avx2(_mm256_sub_ps(x1, vm)), valid1);
            l[r] += hsum_avx2(_mm256_add_ps(p0, p1));
            _mm256_storeu_ps(p[r], p0);
            _mm256_storeu_ps(p[r] + 8, p1);
        }
        // acc[r] += p[r] V_tile, 16 columns of the head at a time for all four rows, so each value
        // row is loaded once per group and the accumulators stay in registers across the tile.
        const int jn = lim_max - j0 < KEY_TILE ? lim_max - j0 : KEY_TILE;
        for (int d = 0; d < hd; d += 16) {
            const bool two = d + 16 <= hd;
            __m256 a0[ROW_GROUP], a1[ROW_GROUP];
            UNROLL_ROWS
            for (int r = 0; r < ROW_GROUP; r++) {
                a0[r] = _mm256_loadu_ps(acc[r] + d);
                a1[r] = two ? _mm256_loadu_ps(acc[r] + d + 8) : _mm256_setzero_ps();
            }
            for (int jj = 0; jj < jn; jj++) {
                const float *vr = v + (size_t)(j0 + jj) * ldkv + d;
                const __m256 v0 = _mm256_loadu_ps(vr), v1 = two ? _mm256_loadu_ps(vr + 8) : _mm256_setzero_ps();
                UNROLL_ROWS
                for (int r = 0; r < ROW_GROUP; r++) {
                    const __m256 pb = _mm256_set1_ps(p[r][jj]);
                    a0[r] = _mm256_fmadd_ps(pb, v0, a0[r]);
                    a1[r] = _mm256_fmadd_ps(pb, v1, a1[r]);
                }
            }
            UNROLL_ROWS
            for (int r = 0; r < ROW_GROUP; r++) {
                _mm256_storeu_ps(acc[r] + d, a0[r]);
                if (two) _mm256_storeu_ps(acc[r] + d + 8, a1[r]);
            }
        }
    }
    for (int r = 0; r < nr; r++) {
        const __m256 inv = _mm256_set1_ps(1.0f / l[r]);
        for (int d = 0; d < hd; d += 8) _mm256_storeu_ps(out[r] + d, _mm256_mul_ps(_mm256_loadu_ps(acc[r] + d), inv));
    }
}
#endif

// ---- fused ------------------------------------------------------------------------------------

void cpu_attention(const cpu_attention_shape *s, float *out, int ldo, const float *q, int ldq, const float *k,
                   const float *v, int ldkv, float *scratch) {
    const int hd = s->head_dim, group = s->n_heads / s->n_kv_heads, Lp = padded_keys(s->L);
    const float scale = 1.0f / sqrtf((float)hd);
    bool simd = false;
#ifdef CPU_ATTENTION_X86
    simd = hd % 8 == 0 && hd <= MAX_HEAD_DIM && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    DLM_ASSERT(hd <= MAX_HEAD_DIM);
    const int n_qt = (s->Lq + QUERY_TILE - 1) / QUERY_TILE;
    // One parallel region (one wake-up of the workers): transpose, barrier, attend.
#pragma omp parallel
    {
        if (simd) {
            // Keys transposed per KV head (padding zeroed), so a tile's scores are two vectors per row:
            // scratch row gd (KV head g = gd / hd, component d = gd % hd) is column gd of K. A task is
            // one tile of keys: it reads whole key rows and writes one cache line per scratch row.
            const int n_gd = s->n_kv_heads * hd;
#pragma omp for schedule(static)
            for (int j0 = 0; j0 < Lp; j0 += KEY_TILE) {
                for (int gd = 0; gd < n_gd; gd++) {
                    float *row = scratch + (size_t)gd * Lp + j0;
                    for (int jj = 0; jj < KEY_TILE; jj++)
                        row[jj] = j0 + jj < s->L ? k[(size_t)(j0 + jj) * ldkv + gd] : 0.0f;
                }
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < s->n_heads * n_qt; task++) {
            const int h = task / n_qt, g = h / group, r0 = (task % n_qt) * QUERY_TILE;
            const int r1 = r0 + QUERY_TILE < s->Lq ? r0 + QUERY_TILE : s->Lq;
            for (int r = r0; r < r1; r += simd ? ROW_GROUP : 1) {
                if (!simd) {
                    attend_row_scalar(s, g, q + (size_t)r * ldq + (size_t)h * hd,
                                      key_limit(s->q0 + r, s->L, s->block_size, s->block_origin), k, v, ldkv, scale,
                                      out + (size_t)r * ldo + (size_t)h * hd);
                    continue;
                }
#ifdef CPU_ATTENTION_X86
                const float *qr[ROW_GROUP];
                float *orow[ROW_GROUP];
                int lim[ROW_GROUP], nr = r1 - r < ROW_GROUP ? r1 - r : ROW_GROUP;
                for (int i = 0; i < ROW_GROUP; i++) {
                    int rr = i < nr ? r + i : r;
                    qr[i] = q + (size_t)rr * ldq + (size_t)h * hd;
                    orow[i] = out + (size_t)rr * ldo + (size_t)h * hd;
                    lim[i] = key_limit(s->q0 + rr, s->L, s->block_size, s->block_origin);
                }
                attend_rows_avx2(s, qr, lim, nr, scratch + (size_t)g * hd * Lp, Lp, v + (size_t)g * hd, ldkv, scale,
                                 orow);
#endif
            }
        }
    }
}

// ---- reference --------------------------------------------------------------------------------

void cpu_attention_reference(const cpu_attention_shape *s, float *out, int ldo, const float *q, int ldq,
                             const float *k, const float *v, int ldkv) {
    const int hd = s->head_dim, group = s->n_heads / s->n_kv_heads, Lq = s->Lq, L = s->L;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = dlm_xmalloc((size_t)Lq * L * sizeof *scores);
    for (int h = 0; h < s->n_heads; h++) {
        const float *qh = q + (size_t)h * hd, *kh = k + (size_t)(h / group) * hd, *vh = v + (size_t)(h / group) * hd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Lq, L, hd, scale, qh, ldq, kh, ldkv, 0.0f, scores, L);
        for (int i = 0; i < Lq; i++) {
            float *row = scores + (size_t)i * L;
            int lim = key_limit(s->q0 + i, L, s->block_size, s->block_origin);
            float mx = -INFINITY;
            for (int j = 0; j < lim; j++) mx = row[j] > mx ? row[j] : mx;
            float sum = 0;
            for (int j = 0; j < lim; j++) {
                row[j] = expf(row[j] - mx);
                sum += row[j];
            }
            float inv = 1.0f / sum;
            for (int j = 0; j < lim; j++) row[j] *= inv;
            for (int j = lim; j < L; j++) row[j] = 0.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Lq, hd, L, 1.0f, scores, L, vh, ldkv, 0.0f,
                    out + (size_t)h * hd, ldo);
    }
    free(scores);
}
