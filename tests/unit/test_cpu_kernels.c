// test_cpu_kernels.c — the CPU backend's kernels against plain double-precision loops: the matrix
// products from F32/BF16/F16 weights (odd sizes, several weights side by side, beta, strides,
// misaligned half data), and the fused attention against the readable reference (full,
// block-causal and cached query ranges, GQA, head sizes on and off the SIMD path).
#include <math.h>
#include <omp.h>

#include "testutil.h"
#include "engine/cpu_attention.h"
#include "engine/cpu_gemm.h"
#include "engine/cpu_threads.h"

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

// One weight of `rows` x `cols` in `dtype`, stored at byte offset `skew` of its buffer (a mapped
// tensor is only 2-byte aligned); `ref` gets the fp32 values the product must use.
static cpu_weight make_weight(dlm_dtype dtype, int rows, int cols, int skew, uint64_t *seed, void **buf, double *ref) {
    size_t n = (size_t)rows * cols, es = dtype == DLM_DTYPE_F32 ? 4 : 2;
    unsigned char *b = dlm_xmalloc(n * es + 8);
    for (size_t i = 0; i < n; i++) {
        float v = frand(seed);
        if (dtype == DLM_DTYPE_F32) {
            memcpy(b + skew + 4 * i, &v, 4);
            ref[i] = v;
        } else {
            uint16_t h = dtype == DLM_DTYPE_BF16 ? dlm_f32_to_bf16(v) : dlm_f32_to_f16(v);
            memcpy(b + skew + 2 * i, &h, 2);
            ref[i] = dtype == DLM_DTYPE_BF16 ? dlm_bf16_to_f32(h) : dlm_f16_to_f32(h);
        }
    }
    *buf = b;
    return (cpu_weight){dtype, b + skew, rows, cols};
}

static void check_gemm(dlm_dtype dtype, int m, int k, const int *rows, int n_w, float beta, int skew, int threads) {
    uint64_t seed = 42 + (uint64_t)m * 131 + (uint64_t)k;
    int n = 0;
    for (int i = 0; i < n_w; i++) n += rows[i];
    const int ldx = k + 3, ldo = n + 5;
    float *x = dlm_xmalloc((size_t)m * ldx * sizeof *x), *out = dlm_xmalloc((size_t)m * ldo * sizeof *out);
    for (size_t i = 0; i < (size_t)m * ldx; i++) x[i] = frand(&seed);
    for (size_t i = 0; i < (size_t)m * ldo; i++) out[i] = frand(&seed);
    double *expect = dlm_xmalloc((size_t)m * ldo * sizeof *expect);
    for (size_t i = 0; i < (size_t)m * ldo; i++) expect[i] = out[i];
    cpu_weight w[4];
    void *bufs[4];
    int col = 0;
    for (int i = 0; i < n_w; i++) {
        double *ref = dlm_xmalloc((size_t)rows[i] * k * sizeof *ref);
        w[i] = make_weight(dtype, rows[i], k, skew, &seed, &bufs[i], ref);
        for (int r = 0; r < m; r++)
            for (int j = 0; j < rows[i]; j++) {
                double s = 0;
                for (int t = 0; t < k; t++) s += (double)x[(size_t)r * ldx + t] * ref[(size_t)j * k + t];
                double *e = &expect[(size_t)r * ldo + col + j];
                *e = s + beta * *e;
            }
        col += rows[i];
        free(ref);
    }
    omp_set_num_threads(threads);
    cpu_gemm(out, ldo, x, ldx, w, n_w, m, beta);
    for (int r = 0; r < m; r++)
        for (int j = 0; j < ldo; j++) {
            double e = expect[(size_t)r * ldo + j], got = out[(size_t)r * ldo + j];
            if (fabs(got - e) > 1e-4 * (1 + sqrt((double)k))) {
                fail_msg("dtype %d m=%d k=%d: out[%d][%d] = %.7g, expected %.7g", (int)dtype, m, k, r, j, got, e);
            }
        }
    for (int i = 0; i < n_w; i++) free(bufs[i]);
    free(x);
    free(out);
    free(expect);
}

static void test_gemm(void **state) {
    const dlm_dtype types[] = {DLM_DTYPE_F32, DLM_DTYPE_BF16, DLM_DTYPE_F16};
    const int one[] = {37}, three[] = {64, 16, 16}, wide[] = {700, 300};
    for (int t = 0; t < 3; t++) {
        int skew = types[t] == DLM_DTYPE_F32 ? 0 : 2;
        check_gemm(types[t], 1, 5, one, 1, 0.0f, skew, 2);
        check_gemm(types[t], 13, 33, three, 3, 1.0f, skew, 2);
        check_gemm(types[t], 130, 70, wide, 2, 0.0f, skew, 3);
        check_gemm(types[t], 200, 1100, one, 1, 1.0f, skew, 2); // K chunks of a half tile
        check_gemm(types[t], 9, 600, wide, 2, 1.0f, 0, 1);
    }
}

static void test_convert(void **state) {
    // Every 16-bit pattern through the SIMD path equals the scalar reference (NaNs as NaNs).
    uint16_t *h = dlm_xmalloc(65536 * 2);
    float *f = dlm_xmalloc(65536 * 4);
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    const dlm_dtype types[] = {DLM_DTYPE_BF16, DLM_DTYPE_F16};
    for (int t = 0; t < 2; t++) {
        cpu_convert_f32(types[t], h, 65536, f);
        for (int i = 0; i < 65536; i++) {
            float e = types[t] == DLM_DTYPE_BF16 ? dlm_bf16_to_f32((uint16_t)i) : dlm_f16_to_f32((uint16_t)i);
            if (isnan(e) ? !isnan(f[i]) : memcmp(&e, &f[i], 4) != 0)
                fail_msg("dtype %d pattern 0x%04x: %g, expected %g", (int)types[t], i, f[i], e);
        }
    }
    free(h);
    free(f);
}

static void check_attention_o(int heads, int kv_heads, int hd, int q0, int Lq, int L, int block, int origin, int threads) {
    uint64_t seed = 7 + (uint64_t)hd * 31 + (uint64_t)L;
    const cpu_attention_shape sh = {heads, kv_heads, hd, q0, Lq, L, block, origin};
    const int ldq = heads * hd + 2 * kv_heads * hd, ldkv = kv_heads * hd + 3, ldo = heads * hd + 1;
    float *q = dlm_xmalloc((size_t)Lq * ldq * sizeof *q), *k = dlm_xmalloc((size_t)L * ldkv * sizeof *k),
          *v = dlm_xmalloc((size_t)L * ldkv * sizeof *v);
    float *fast = dlm_xcalloc((size_t)Lq * ldo, sizeof *fast), *ref = dlm_xcalloc((size_t)Lq * ldo, sizeof *ref);
    float *scratch = dlm_xmalloc(cpu_attention_scratch_floats(&sh) * sizeof *scratch);
    // Scores of a few units, as in a trained model, so the softmax is far from uniform.
    for (size_t i = 0; i < (size_t)Lq * ldq; i++) q[i] = 3.0f * frand(&seed);
    for (size_t i = 0; i < (size_t)L * ldkv; i++) k[i] = 3.0f * frand(&seed), v[i] = frand(&seed);
    omp_set_num_threads(threads);
    cpu_attention(&sh, fast, ldo, q, ldq, k, v, ldkv, scratch);
    cpu_attention_reference(&sh, ref, ldo, q, ldq, k, v, ldkv);
    for (int i = 0; i < Lq; i++)
        for (int j = 0; j < heads * hd; j++) {
            float a = fast[(size_t)i * ldo + j], b = ref[(size_t)i * ldo + j];
            if (!(fabsf(a - b) <= 2e-6f + 2e-5f * fabsf(b)))
                fail_msg("attention hd=%d q0=%d Lq=%d L=%d block=%d origin=%d: out[%d][%d] = %.8g, reference %.8g", hd, q0,
                         Lq, L, block, origin, i, j, a, b);
        }
    // The mask itself, independently of key_limit: a query of D2F's prompt block (before the origin)
    // sees exactly the prompt, one of a generation block exactly the keys before its block's end.
    if (origin > 0 && block > 0)
        for (int i = 0; i < Lq; i++) {
            const int p = q0 + i, end = p < origin ? origin : origin + ((p - origin) / block + 1) * block;
            const cpu_attention_shape one = {heads, kv_heads, hd, p, 1, end < L ? end : L, 0, 0};
            float *o = dlm_xcalloc((size_t)ldo, sizeof *o);
            cpu_attention_reference(&one, o, ldo, q + (size_t)i * ldq, ldq, k, v, ldkv);
            for (int j = 0; j < heads * hd; j++)
                if (!(fabsf(o[j] - fast[(size_t)i * ldo + j]) <= 2e-6f + 2e-5f * fabsf(o[j])))
                    fail_msg("attention origin=%d block=%d: position %d col %d = %.8g, over its visible keys %.8g", origin,
                             block, p, j, fast[(size_t)i * ldo + j], o[j]);
            free(o);
        }
    free(q), free(k), free(v), free(fast), free(ref), free(scratch);
}

static void check_attention(int heads, int kv_heads, int hd, int q0, int Lq, int L, int block, int threads) {
    check_attention_o(heads, kv_heads, hd, q0, Lq, L, block, 0, threads);
}

static void test_attention(void **state) {
    const int hds[] = {32, 8, 6, 128, 64};
    for (int t = 0; t < 5; t++) {
        int hd = hds[t];
        check_attention(4, 4, hd, 0, 37, 37, 0, 2);   // full pass, L not a multiple of the tiles
        check_attention(4, 2, hd, 0, 50, 50, 16, 2);  // block-causal, GQA
        check_attention(4, 2, hd, 0, 21, 21, 5, 3);   // blocks that cut tiles
        check_attention(4, 4, hd, 32, 16, 80, 0, 2);  // dual cache: one block's queries, every key
        check_attention(4, 4, hd, 24, 56, 80, 8, 2);  // prefix cache, block-causal
        check_attention(2, 1, hd, 0, 1, 1, 0, 1);     // a single position
        check_attention(8, 8, hd, 100, 32, 300, 0, 2);
        check_attention_o(4, 2, hd, 0, 45, 45, 8, 13, 2);   // D2F: a 13-token prompt block, then blocks of 8
        check_attention_o(4, 4, hd, 21, 16, 37, 8, 13, 2);  // ... a cached pass from the second block
        check_attention_o(4, 4, hd, 0, 7, 7, 4, 7, 1);      // ... the prompt alone (its storing pass)
    }
}

// The thread governor on made-up pass times: cost[t] is the time of one pass at t threads.
static void governed_passes(cpu_governor *g, const double cost[3], int n, int rows) {
    for (int i = 0; i < n; i++) {
        const int t = cpu_governor_begin(g, rows, 1e6);
        assert_true(t >= 1 && t <= g->max_threads);
        cpu_governor_record(g, true, (int64_t)(cost[t] * 1e6));
    }
}

static void test_governor(void **state) {
    (void)state;
    cpu_governor g;
    cpu_governor_init(&g, 0);
    g.max_threads = 2; // as on a 2-core machine, whatever this one has
    g.last_threads = 2;
    const double busy[3] = {0, 12, 500}, idle[3] = {0, 12, 7};
    // A core taken by another process: two threads are 40x slower; the governor settles on one
    // within a few passes and stays there (probes aside, which come ever more rarely).
    int slow = 0, t = 0;
    for (int i = 0; i < 200; i++) {
        t = cpu_governor_begin(&g, 128, 1e6);
        slow += t == 2;
        cpu_governor_record(&g, true, (int64_t)(busy[t] * 1e6));
    }
    assert_true(slow <= 10);
    assert_int_equal(g.bucket[7].threads, 1);
    // The core is free again: a probe finds two threads faster and the governor goes back.
    governed_passes(&g, idle, 300, 128);
    assert_int_equal(g.bucket[7].threads, 2);
    // Another size starts from what was learned, and errors are not measured.
    cpu_governor_begin(&g, 32, 1e6);
    cpu_governor_record(&g, false, 1);
    assert_int_equal(g.bucket[5].threads, 2);
    // An explicit count never changes.
    cpu_governor_init(&g, 2);
    assert_false(g.adaptive);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(cpu_governor_begin(&g, 128, 1e6), 2);
        cpu_governor_record(&g, true, (int64_t)(busy[2] * 1e6));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_governor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
