// test_cuda.c — the CUDA backend against the CPU reference (`make test-cuda`, `make test-cuda-emu`).
//
// Random-weight models (engine/synth, through tests/unit/testmodel.h) of several shapes (MHA, GQA,
// head_dim 8 to 256, tied embeddings) and the fixture checkpoints run through both backends: hard
// and soft inputs, bidirectional and block-causal attention, prefix and dual KV caches, Gumbel
// sampling and the summary options. Argument errors, cache misses and cancellation must behave
// exactly as on the CPU, a GPU pass must repeat bit for bit, and a session resumed on the GPU
// must continue exactly as the uninterrupted one.
//
// Criteria. The GPU keeps bf16 weights and GEMM inputs where the CPU has fp32, so per pass:
//   |p - p_cpu| < TOL_P for every probability compared (top-K lists, p_token, p_given, and the
//   full distribution where asked), |H - H_cpu| < TOL_H, |logit - logit_cpu| < TOL_LOGIT;
//   top-K ids equal wherever the CPU's log-probability gap to both neighbours exceeds 2 x TOL_LOGIT
//   (divided by T for tempered probabilities): two logits each within TOL_LOGIT of the CPU's
//   cannot swap across a wider gap, and narrower gaps are bf16 noise, not errors;
//   the T = 0 token (the argmax) equal under the same gap rule, and Gumbel-sampled tokens equal
//   where the CPU's best score leads the second by 2 x TOL_LOGIT / T.
// The bounds below are for bf16 (a GPU, or `make test-cuda-emu`'s bf16 pass): 2e-2, 5e-2, 0.15 on
// the synth models, 2.5x on the fixture models (see MODELS). In the emulator's fp32 mode (bf16
// values kept as fp32, read from the device name) the backend computes what the CPU does up to
// summation order, so the bounds shrink 1000x (2e-5, 5e-5, 1.5e-4) and whole sessions at
// temperature 0 must agree token for token. In bf16, sessions are compared and the agreement is
// printed, not required: one near-tie decided the other way changes the rest of a trajectory.
//
// Without a GPU it prints why and exits 77: a skipped test is not a passed one.
#include <math.h>

#include "engine/arch.h"
#include "engine/rng.h"
#include "engine/session.h"
#include "tests/unit/testmodel.h"

int dlm_cuda_device_count(void); // engine/backend_cuda.cu; backend.h stays free of CUDA-only entry points

// Tolerance multiplier: the model's (MODELS) times the mode's (1, or 1e-3 in fp32 emulation).
static double tol = 1.0;
#define TOL_P (2e-2 * tol)
#define TOL_H (5e-2 * tol)
#define TOL_LOGIT (0.15 * tol) // an absolute bound for the synth models' logit spread (std about 1.7)
#define FP32_EMU_DEVICE "bf16 kept as fp32" // tests/cuda/emu/emu.cpp's device name in EMU_FP32 mode

#define EMU_DEVICE "CPU emulation" // any mode of the emulator

// Whether the backend is the fp32 emulation, where results must match the CPU to rounding.
static bool exact_mode(const dlm_backend *gpu) { return strstr(gpu->device, FP32_EMU_DEVICE) != NULL; }

typedef struct {
    const char   *name;
    const char   *fixture;  // a checkpoint under tests/fixtures/models, or NULL: synthesise spec
    int           long_len; // the longest sequence tested
    double        tol;      // multiplier of the tolerances
    tu_model_spec spec;
} model_case;

// The fixture models (tests/reference/make_fixtures.py) have sharper logits than synth's (embedding
// std 1 and LM head std 4/sqrt(d): logit std about 4, against 1.7), which magnifies bf16 rounding,
// so they run at the lengths of their reference cases with 2.5x the tolerances. The emulator's
// bf16 mode measures what bf16 costs (docs/cuda.md has the figures); its fp32 mode, the same
// kernels without that rounding, shows the kernels themselves agree with the CPU to about 1e-6.
static const model_case MODELS[] = {
    {"mha f32 hd16", NULL, 200, 1.0, {.d = 64, .n_heads = 4, .n_kv_heads = 4, .n_layers = 2, .d_ff = 96, .n_vocab = 300, .seed = 3}},
    {"gqa bf16 hd16", NULL, 200, 1.0,
     {.d = 128, .n_heads = 8, .n_kv_heads = 2, .n_layers = 3, .d_ff = 160, .n_vocab = 1000, .dtype = "BF16", .seed = 4}},
    {"gqa bf16 hd128 (LLaDA's head)", NULL, 200, 1.0,
     {.d = 256, .n_heads = 2, .n_kv_heads = 1, .n_layers = 2, .d_ff = 384, .n_vocab = 2048, .dtype = "BF16", .seed = 5}},
    {"mha f16 hd256", NULL, 200, 1.0,
     {.d = 256, .n_heads = 1, .n_kv_heads = 1, .n_layers = 1, .d_ff = 256, .n_vocab = 512, .dtype = "F16", .seed = 6}},
    {"tied hd32", NULL, 200, 1.0,
     {.d = 64, .n_heads = 2, .n_kv_heads = 2, .n_layers = 2, .d_ff = 128, .n_vocab = 400, .tied = true, .seed = 7}},
    // The other families' layer switches, in their own tensor layout (engine/arch.c).
    {"dream gqa bf16 (q/k/v bias, shifted logits)", NULL, 96, 1.0,
     {.d = 64, .n_heads = 4, .n_kv_heads = 2, .n_layers = 2, .d_ff = 96, .n_vocab = 300, .dtype = "BF16", .seed = 8, .family = "dream"}},
    {"a2d-qwen3 tied (QK-norm)", NULL, 96, 1.0,
     {.d = 64, .n_heads = 4, .n_kv_heads = 2, .n_layers = 2, .d_ff = 96, .n_vocab = 300, .tied = true, .seed = 9, .family = "a2d-qwen3"}},
    {"sdar f32 (QK-norm, block-causal)", NULL, 96, 1.0,
     {.d = 64, .n_heads = 2, .n_kv_heads = 1, .n_layers = 2, .d_ff = 96, .n_vocab = 300, .seed = 10, .family = "sdar"}},
    {"fast-dllm-v2 tied bf16 (q/k/v bias, shifted, block-causal)", NULL, 96, 1.0,
     {.d = 64, .n_heads = 4, .n_kv_heads = 2, .n_layers = 2, .d_ff = 96, .n_vocab = 300, .tied = true, .dtype = "BF16",
      .seed = 11, .family = "fast-dllm-v2"}},
    {"fixture dream-f32", "tests/fixtures/models/dream-f32", 48, 2.5, {0}},
    {"fixture fast-dllm-v2-bf16", "tests/fixtures/models/fast-dllm-v2-bf16", 48, 2.5, {0}},
    {"fixture sdar-bf16", "tests/fixtures/models/sdar-bf16", 48, 2.5, {0}},
    {"fixture mha-bf16", "tests/fixtures/models/mha-bf16", 48, 2.5, {0}},
    {"fixture gqa-f16", "tests/fixtures/models/gqa-f16", 48, 2.5, {0}},
    {"fixture gqa-f32 hd8", "tests/fixtures/models/gqa-f32", 48, 2.5, {0}},
    // Mixture of experts (tests/reference/moe_reference.py): fused QKV, partial rotary, routing
    // with group limits, expert bias, exact ties and shared experts; routing computed on the host
    // from the GPU's router logits with the CPU's code (engine/moe.c).
    {"fixture llada2-f32 (MoE, partial rotary)", "tests/fixtures/models/llada2-f32", 48, 2.5, {0}},
    {"fixture llada-moe-f32 (MoE, shared expert)", "tests/fixtures/models/llada-moe-f32", 48, 2.5, {0}},
};
#define N_MODELS (int)(sizeof MODELS / sizeof MODELS[0])

typedef struct {
    const model_case *mc;
    char             *dir; // temporary directory of a synthesised model (NULL for fixtures)
    dlm_model        *model;
    dlm_backend      *cpu, *gpu;
} engines;

static void engines_open(engines *e, const model_case *mc) {
    memset(e, 0, sizeof *e);
    e->mc = mc;
    const char *dir = mc->fixture;
    if (!dir) {
        e->dir = tu_tmpdir();
        tu_write_model(e->dir, &mc->spec);
        dir = e->dir;
    }
    e->model = dlm_model_load(dir, NULL);
    if (!e->model) fail_msg("%s: %s", mc->name, dlm_error_message());
    e->cpu = dlm_backend_new(e->model, "cpu", 2);
    if (!e->cpu) fail_msg("%s: cpu: %s", mc->name, dlm_error_message());
    e->gpu = dlm_backend_new(e->model, "cuda", 0);
    if (!e->gpu) fail_msg("%s: cuda: %s", mc->name, dlm_error_message());
}

static void engines_close(engines *e) {
    dlm_backend_free(e->gpu);
    dlm_backend_free(e->cpu);
    dlm_model_free(e->model);
    if (e->dir) {
        tu_rmtree(e->dir);
        free(e->dir);
    }
    memset(e, 0, sizeof *e);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}
static float rnd_unit(void) { return (float)(rnd() >> 8) / (float)(1 << 24); }

// ---- one pass on both backends ----------------------------------------------------------------

// Inputs of a pass: canvas, soft inputs, all rows requested, p_given of a mix of tokens and none.
typedef struct {
    int      L, soft_k;
    int32_t *ids, *soft_ids, *rows, *given;
    float   *soft_w;
} inputs;

static void inputs_make(inputs *in, const dlm_config *c, int L, int soft_k) {
    memset(in, 0, sizeof *in);
    in->L = L, in->soft_k = soft_k;
    in->ids = dlm_xcalloc((size_t)L, sizeof *in->ids);
    in->rows = dlm_xcalloc((size_t)L, sizeof *in->rows);
    in->given = dlm_xcalloc((size_t)L, sizeof *in->given);
    for (int i = 0; i < L; i++) {
        in->ids[i] = (int32_t)(rnd() % (uint32_t)c->n_vocab);
        in->rows[i] = i;
        in->given[i] = i % 3 == 0 ? -1 : i % 3 == 1 ? in->ids[i] : (int32_t)(rnd() % (uint32_t)c->n_vocab);
    }
    if (soft_k > 0) {
        in->soft_ids = dlm_xcalloc((size_t)L * soft_k, sizeof *in->soft_ids);
        in->soft_w = dlm_xcalloc((size_t)L * soft_k, sizeof *in->soft_w);
        for (int i = 0; i < L; i++)
            for (int k = 0; k < soft_k; k++) {
                in->soft_ids[i * soft_k + k] = (int32_t)(rnd() % (uint32_t)c->n_vocab);
                // every other position soft, with some negative weights (clamped to 0); one in five
                // of the rest all-negative, i.e. the hard token
                float w = i % 2 ? rnd_unit() * 1.2f - 0.2f : -rnd_unit();
                in->soft_w[i * soft_k + k] = i % 2 == 0 && i % 5 != 0 ? 0.0f : w;
            }
    }
}

static void inputs_free(inputs *in) {
    free(in->ids), free(in->rows), free(in->given), free(in->soft_ids), free(in->soft_w);
}

static dlm_forward_args args_of(const inputs *in) {
    dlm_forward_args a = {.n_tokens = in->L, .ids = in->ids, .n_rows = in->L, .rows = in->rows, .given = in->given};
    if (in->soft_k) a.soft_k = in->soft_k, a.soft_ids = in->soft_ids, a.soft_w = in->soft_w;
    return a;
}

typedef struct {
    double dp, dh, dgiven, dlogit; // largest deviations seen
    int    rows, top1_checked;
} stats;

// Whether the CPU's probabilities a > b are further apart than bf16 noise: their log ratio (the
// logit gap, times 1/T when tempered) exceeds 2 x TOL_LOGIT x inv_t.
static bool clear_gap(double a, double b, double inv_t) { return b <= 0 ? a > 0 : log(a / b) > 2 * TOL_LOGIT * inv_t; }

// Compare GPU summaries with the CPU's, within the stated tolerances. inv_t: 1/T when the
// probabilities are tempered, else 1.
static void compare_rows(const char *what, const dlm_row_summary *cpu, const dlm_row_summary *gpu, int n, double inv_t,
                         stats *st) {
    for (int r = 0; r < n; r++) {
        const dlm_row_summary *a = &cpu[r], *b = &gpu[r];
        if (a->n_top != b->n_top) fail_msg("%s: row %d: %d top candidates on the GPU, %d on the CPU", what, r, b->n_top, a->n_top);
        for (int k = 0; k < a->n_top; k++) {
            // sorted probabilities: the k-th largest moves by no more than any single probability
            double dp = fabs((double)a->top_p[k] - b->top_p[k]);
            if (dp > st->dp) st->dp = dp;
            if (dp >= TOL_P)
                fail_msg("%s: row %d: top %d p %.5f on the GPU, %.5f on the CPU", what, r, k, b->top_p[k], a->top_p[k]);
            // ids where the CPU separates the k-th from both neighbours by more than the noise (the
            // last one's lower neighbour is not in the list: its id is never compared)
            bool apart = k + 1 < a->n_top && (k == 0 || clear_gap(a->top_p[k - 1], a->top_p[k], inv_t)) &&
                         clear_gap(a->top_p[k], a->top_p[k + 1], inv_t);
            if (apart && a->top_id[k] != b->top_id[k])
                fail_msg("%s: row %d: top %d id %d on the GPU, %d on the CPU (p %.4f)", what, r, k, b->top_id[k],
                         a->top_id[k], a->top_p[k]);
            if (k == 0 && apart) st->top1_checked++;
        }
        double dh = fabs((double)a->entropy - b->entropy), dg = fabs((double)a->p_given - b->p_given);
        if (dh > st->dh) st->dh = dh;
        if (dg > st->dgiven) st->dgiven = dg;
        if (!(dh < TOL_H)) fail_msg("%s: row %d: entropy %.5f on the GPU, %.5f on the CPU", what, r, b->entropy, a->entropy);
        if (!(dg < TOL_P)) fail_msg("%s: row %d: p_given %.5f on the GPU, %.5f on the CPU", what, r, b->p_given, a->p_given);
        if (a->token == b->token && !(fabs((double)a->p_token - b->p_token) < TOL_P))
            fail_msg("%s: row %d: p_token %.5f on the GPU, %.5f on the CPU", what, r, b->p_token, a->p_token);
        st->rows++;
    }
}

// At T = 0 the sampled token is the argmax: equal wherever the CPU's gap is clear (untempered).
static void compare_argmax(const char *what, const dlm_row_summary *cpu, const dlm_row_summary *gpu, int n) {
    for (int r = 0; r < n; r++)
        if (cpu[r].n_top >= 2 && clear_gap(cpu[r].top_p[0], cpu[r].top_p[1], 1.0) && cpu[r].token != gpu[r].token)
            fail_msg("%s: row %d: argmax %d on the GPU, %d on the CPU (p %.4f vs %.4f)", what, r, gpu[r].token, cpu[r].token,
                     cpu[r].top_p[0], cpu[r].top_p[1]);
}

static void run_both(engines *e, const dlm_forward_args *a, const dlm_sample_opts *o, dlm_row_summary *cpu,
                     dlm_row_summary *gpu, const char *what) {
    if (dlm_backend_forward(e->cpu, a, o, cpu) != DLM_STATUS_OK) fail_msg("%s: cpu: %s", what, dlm_error_message());
    dlm_status st = dlm_backend_forward(e->gpu, a, o, gpu);
    if (st != DLM_STATUS_OK) fail_msg("%s: cuda: %s", what, dlm_error_message());
}

static void report(const char *model, const char *what, const stats *st) {
    printf("  %-30s %-34s rows %5d  top-1 checked %5d  max |dp| %.2e  |dH| %.2e  |dp_given| %.2e", model, what, st->rows,
           st->top1_checked, st->dp, st->dh, st->dgiven);
    if (st->dlogit > 0) printf("  |dlogit| %.2e", st->dlogit);
    printf("\n");
}

// ---- scenarios --------------------------------------------------------------------------------

// An uncached pass over L positions, every row requested.
static void check_plain_o(engines *e, int L, int soft_k, int block_size, int block_origin, const char *label) {
    const dlm_config *c = &e->model->cfg;
    inputs in;
    inputs_make(&in, c, L, soft_k);
    dlm_forward_args a = args_of(&in);
    a.block_size = block_size;
    a.block_origin = block_origin;
    dlm_sample_opts o = dlm_sample_opts_default();
    o.top_k = 8;
    dlm_row_summary *cpu = dlm_xcalloc((size_t)L, sizeof *cpu), *gpu = dlm_xcalloc((size_t)L, sizeof *gpu);
    char what[160];
    snprintf(what, sizeof what, "%s: %s", e->mc->name, label);
    run_both(e, &a, &o, cpu, gpu, what);
    stats st = {0};
    compare_rows(what, cpu, gpu, L, 1.0, &st);
    compare_argmax(what, cpu, gpu, L);
    report(e->mc->name, label, &st);
    free(cpu), free(gpu);
    inputs_free(&in);
}

// Full probabilities and logits out, top-K 32, prob_exclude / sample_exclude, and Gumbel-max
// sampling (tempered and not): the GPU's noise comes from the same counter RNG, so the sampled
// token must match wherever the CPU's best Gumbel score leads the second by a clear margin.
static void check_sampling(engines *e, int L, double temperature, bool tempered) {
    const dlm_config *c = &e->model->cfg;
    const int V = c->n_vocab;
    inputs in;
    inputs_make(&in, c, L, 2);
    dlm_forward_args a = args_of(&in);
    dlm_sample_opts o = dlm_sample_opts_default();
    o.top_k = DLM_TOP_K_MAX < V ? DLM_TOP_K_MAX : V;
    o.temperature = temperature, o.tempered = tempered;
    o.seed = 12345, o.counter = 7;
    o.prob_exclude = V - 1, o.sample_exclude = (int32_t)(rnd() % (uint32_t)V);
    float *p_cpu = dlm_xmalloc((size_t)L * V * sizeof(float)), *p_gpu = dlm_xmalloc((size_t)L * V * sizeof(float));
    float *l_cpu = dlm_xmalloc((size_t)L * V * sizeof(float)), *l_gpu = dlm_xmalloc((size_t)L * V * sizeof(float));
    dlm_row_summary *cpu = dlm_xcalloc((size_t)L, sizeof *cpu), *gpu = dlm_xcalloc((size_t)L, sizeof *gpu);
    char label[96], what[192];
    snprintf(label, sizeof label, "soft, T=%g%s, excludes, top-%d, probs", temperature, tempered ? " tempered" : "", o.top_k);
    snprintf(what, sizeof what, "%s: %s", e->mc->name, label);
    o.probs = p_cpu, o.logits = l_cpu;
    if (dlm_backend_forward(e->cpu, &a, &o, cpu) != DLM_STATUS_OK) fail_msg("%s: cpu: %s", what, dlm_error_message());
    o.probs = p_gpu, o.logits = l_gpu;
    if (dlm_backend_forward(e->gpu, &a, &o, gpu) != DLM_STATUS_OK) fail_msg("%s: cuda: %s", what, dlm_error_message());
    stats st = {0};
    compare_rows(what, cpu, gpu, L, tempered && temperature > 0 ? 1.0 / temperature : 1.0, &st);
    for (size_t i = 0; i < (size_t)L * V; i++) {
        double dp = fabs((double)p_cpu[i] - p_gpu[i]), dl = fabs((double)l_cpu[i] - l_gpu[i]);
        if (dp > st.dp) st.dp = dp;
        if (dl > st.dlogit) st.dlogit = dl;
        if (!(dp < TOL_P)) fail_msg("%s: row %zu id %zu: p %.5f on the GPU, %.5f on the CPU", what, i / V, i % V, p_gpu[i], p_cpu[i]);
        if (!(dl < TOL_LOGIT)) fail_msg("%s: row %zu id %zu: logit %.4f on the GPU, %.4f on the CPU", what, i / V, i % V, l_gpu[i], l_cpu[i]);
    }
    for (int r = 0; r < L; r++) {
        if (p_gpu[(size_t)r * V + o.prob_exclude] != 0.0f) fail_msg("%s: row %d: the excluded id has p > 0", what, r);
        if (gpu[r].token == o.sample_exclude) fail_msg("%s: row %d: sampled the excluded id", what, r);
        // The CPU's two best scores, recomputed from its logits with the shared noise.
        double best = -INFINITY, second = -INFINITY;
        int32_t arg = -1;
        for (int v = 0; v < V; v++) {
            if (v == o.sample_exclude) continue;
            double s = l_cpu[(size_t)r * V + v];
            if (temperature > 0) s = s / temperature - log(-log(dlm_rng_uniform(o.seed, o.counter, (uint64_t)r, (uint64_t)v)));
            if (s > best) second = best, best = s, arg = v;
            else if (s > second) second = s;
        }
        if (arg != cpu[r].token) fail_msg("%s: row %d: the CPU sampled %d, its own scores say %d", what, r, cpu[r].token, arg);
        if (best - second > 2 * TOL_LOGIT / (temperature > 0 ? temperature : 1.0) && gpu[r].token != cpu[r].token)
            fail_msg("%s: row %d: sampled %d on the GPU, %d on the CPU (score margin %.3f)", what, r, gpu[r].token,
                     cpu[r].token, best - second);
    }
    report(e->mc->name, label, &st);
    free(p_cpu), free(p_gpu), free(l_cpu), free(l_gpu), free(cpu), free(gpu);
    inputs_free(&in);
}

static void check_plain(engines *e, int L, int soft_k, int block_size, const char *label) {
    check_plain_o(e, L, soft_k, block_size, 0, label);
}

// Fast-dLLM caches: a refreshing pass, then cached passes after tokens change in the recomputed
// range (prefix: the block and everything after it; dual: the block only). Every row is requested,
// so rows outside the recomputed range (served from the kept hidden states) are compared too.
static void check_cache(engines *e, int L, int start, int end, int cache, int block_size, int soft_k) {
    const dlm_config *c = &e->model->cfg;
    inputs in;
    inputs_make(&in, c, L, soft_k);
    dlm_forward_args a = args_of(&in);
    a.block_size = block_size;
    a.cache = cache, a.cache_key = 0x5eed, a.active_start = start, a.active_end = end, a.cache_refresh = true;
    dlm_sample_opts o = dlm_sample_opts_default();
    o.top_k = 5;
    dlm_row_summary *cpu = dlm_xcalloc((size_t)L, sizeof *cpu), *gpu = dlm_xcalloc((size_t)L, sizeof *gpu);
    char label[96], what[192];
    snprintf(label, sizeof label, "%s cache [%d,%d) of %d%s%s", cache == DLM_CACHE_PREFIX ? "prefix" : "dual", start, end, L,
             block_size ? ", block-causal" : "", soft_k ? ", soft" : "");
    snprintf(what, sizeof what, "%s: %s", e->mc->name, label);
    stats st = {0};
    run_both(e, &a, &o, cpu, gpu, what);
    compare_rows(what, cpu, gpu, L, 1.0, &st);
    compare_argmax(what, cpu, gpu, L);
    assert_int_equal(e->gpu->cache_key, 0x5eed);
    a.cache_refresh = false;
    const int change_end = cache == DLM_CACHE_PREFIX ? L : end;
    for (int round = 0; round < 3; round++) {
        for (int i = start; i < change_end; i++)
            if (rnd() % 3 == 0) in.ids[i] = (int32_t)(rnd() % (uint32_t)c->n_vocab);
        run_both(e, &a, &o, cpu, gpu, what);
        compare_rows(what, cpu, gpu, L, 1.0, &st);
        compare_argmax(what, cpu, gpu, L);
    }
    // A pass the cache does not match fails the same way on both.
    dlm_forward_args miss = a;
    miss.cache_key = 0x5eee;
    assert_int_equal(dlm_backend_forward(e->cpu, &miss, &o, cpu), DLM_STATUS_ARG);
    char cpu_msg[256];
    snprintf(cpu_msg, sizeof cpu_msg, "%s", dlm_error_message());
    assert_int_equal(dlm_backend_forward(e->gpu, &miss, &o, gpu), DLM_STATUS_ARG);
    assert_string_equal(dlm_error_message(), cpu_msg);
    report(e->mc->name, label, &st);
    free(cpu), free(gpu);
    inputs_free(&in);
}

// SDAR's block cache (DLM_CACHE_BLOCK): store the prompt's whole blocks, then per block a few
// cached passes over it with changing tokens and a storing pass once it is final; the cache grows
// (keeping what it holds) as the canvas does. Every row of each pass is compared, so rows served
// from the kept hidden states are too.
// origin > 0: D2F's mask, the first `origin` positions (the prompt) one block of their own.
static void check_block_cache(engines *e, int L, int B, int origin) {
    const dlm_config *c = &e->model->cfg;
    inputs in;
    inputs_make(&in, c, L, 0);
    dlm_sample_opts o = dlm_sample_opts_default();
    o.top_k = 5;
    dlm_row_summary *cpu = dlm_xcalloc((size_t)L, sizeof *cpu), *gpu = dlm_xcalloc((size_t)L, sizeof *gpu);
    char label[96], what[192];
    snprintf(label, sizeof label, "block cache, B=%d, L=%d%s", B, L, origin ? ", prompt block" : "");
    snprintf(what, sizeof what, "%s: %s", e->mc->name, label);
    stats st = {0};
    int kept = origin > 0 ? origin : B; // the prompt's whole block (D2F: the prompt)
    dlm_forward_args a = args_of(&in);
    a.block_size = B, a.block_origin = origin, a.cache = DLM_CACHE_BLOCK, a.cache_key = 0xb10c;
    a.n_tokens = kept, a.n_rows = kept, a.active_start = 0, a.active_end = kept, a.cache_refresh = true, a.cache_store = true;
    run_both(e, &a, &o, cpu, gpu, what);
    compare_rows(what, cpu, gpu, kept, 1.0, &st);
    for (; kept + B <= L; kept += B) {
        a.cache_refresh = false, a.cache_store = false;
        a.n_tokens = a.n_rows = kept + B, a.active_start = kept, a.active_end = kept + B;
        for (int round = 0; round < 3; round++) {
            for (int i = kept; i < kept + B; i++)
                if (rnd() % 3 == 0) in.ids[i] = (int32_t)(rnd() % (uint32_t)c->n_vocab);
            run_both(e, &a, &o, cpu, gpu, what);
            compare_rows(what, cpu, gpu, kept + B, 1.0, &st);
            compare_argmax(what, cpu, gpu, kept + B);
        }
        a.cache_store = true; // the block is final: keep it
        run_both(e, &a, &o, cpu, gpu, what);
        compare_rows(what, cpu, gpu, kept + B, 1.0, &st);
    }
    assert_int_equal(e->gpu->cache.len, e->cpu->cache.len);
    report(e->mc->name, label, &st);
    free(cpu), free(gpu);
    inputs_free(&in);
}

static void expect_same_error(engines *e, const dlm_forward_args *a, const dlm_sample_opts *o, const char *what) {
    dlm_row_summary sum[64];
    dlm_status s1 = dlm_backend_forward(e->cpu, a, o, sum);
    char cpu_msg[256];
    snprintf(cpu_msg, sizeof cpu_msg, "%s", dlm_error_message());
    dlm_status s2 = dlm_backend_forward(e->gpu, a, o, sum);
    if (s1 != s2 || strcmp(cpu_msg, dlm_error_message()) != 0)
        fail_msg("%s: cpu says %d '%s', cuda says %d '%s'", what, s1, cpu_msg, s2, dlm_error_message());
    assert_int_not_equal(s1, DLM_STATUS_OK);
}

// Argument errors with the CPU's exact messages, cancellation, a pass with no rows, and bit-for-bit
// repeatability.
static void check_errors_and_repeat(engines *e) {
    const dlm_config *c = &e->model->cfg;
    inputs in;
    inputs_make(&in, c, 20, 0);
    dlm_forward_args a = args_of(&in);
    dlm_sample_opts o = dlm_sample_opts_default();
    in.ids[3] = c->n_vocab;
    expect_same_error(e, &a, &o, "token id out of range");
    in.ids[3] = 1;
    o.top_k = DLM_TOP_K_MAX + 1;
    expect_same_error(e, &a, &o, "top-k out of range");
    o.top_k = 5;
    dlm_forward_args b = a;
    b.cache = DLM_CACHE_DUAL, b.active_start = 10, b.active_end = 30;
    expect_same_error(e, &b, &o, "active block outside the sequence");
    b.active_end = 15, b.cache_key = 0;
    expect_same_error(e, &b, &o, "zero cache key");

    volatile int cancel = 1;
    b = a, b.cancel = &cancel;
    dlm_row_summary s1[20], s2[20];
    assert_int_equal(dlm_backend_forward(e->gpu, &b, &o, s1), DLM_STATUS_CANCELLED);
    b.n_rows = 0, cancel = 0;
    assert_int_equal(dlm_backend_forward(e->gpu, &b, &o, s1), DLM_STATUS_OK);

    // Same pass twice: identical bytes (one stream, fixed reduction orders, deterministic cuBLAS).
    o.temperature = 1.0, o.seed = 99;
    memset(s1, 0x55, sizeof s1), memset(s2, 0xaa, sizeof s2);
    assert_int_equal(dlm_backend_forward(e->gpu, &a, &o, s1), DLM_STATUS_OK);
    assert_int_equal(dlm_backend_forward(e->gpu, &a, &o, s2), DLM_STATUS_OK);
    if (memcmp(s1, s2, sizeof s1) != 0) fail_msg("%s: two identical GPU passes differ", e->mc->name);
    inputs_free(&in);
}

// MoE models: the experts the GPU pass routes every position to, against the CPU's. The routing
// code is shared (engine/moe.c); the router logits come from bf16 GEMM inputs on the GPU, so in
// bf16 mode a selection decided by less than that rounding may differ (reported, and the
// probability checks above bound its effect); in the fp32 emulation they must agree exactly.
static void check_routing(engines *e, int L) {
    const dlm_config *c = &e->model->cfg;
    const int n_moe = dlm_config_moe_layers(c), per = n_moe * c->n_experts_used;
    if (n_moe == 0) return;
    inputs in;
    inputs_make(&in, c, L, 0);
    dlm_forward_args a = args_of(&in);
    dlm_sample_opts o = dlm_sample_opts_default();
    int16_t *rc = calloc((size_t)L * per, sizeof *rc), *rg = calloc((size_t)L * per, sizeof *rg);
    dlm_row_summary sum[64];
    a.routing = rc;
    assert_int_equal(dlm_backend_forward(e->cpu, &a, &o, sum), DLM_STATUS_OK);
    a.routing = rg;
    assert_int_equal(dlm_backend_forward(e->gpu, &a, &o, sum), DLM_STATUS_OK);
    int differ = 0;
    for (int p = 0; p < L; p++) differ += memcmp(rc + (size_t)p * per, rg + (size_t)p * per, (size_t)per * sizeof *rc) != 0;
    printf("  %-44s routing of %d positions x %d MoE layers: %d positions differ\n", e->mc->name, L, n_moe, differ);
    if (exact_mode(e->gpu) && differ) fail_msg("%s: the fp32 emulation routes %d positions differently", e->mc->name, differ);
    if (2 * differ > L) fail_msg("%s: %d of %d positions routed differently: more than bf16 rounding explains", e->mc->name, differ, L);
    free(rc);
    free(rg);
    inputs_free(&in);
}

static void test_model(void **state) {
    const model_case *mc = *state;
    engines e;
    engines_open(&e, mc);
    tol = mc->tol * (exact_mode(e.gpu) ? 1e-3 : 1.0);
    const dlm_config *c = &e.model->cfg;
    const int L_long = c->max_seq_len < mc->long_len ? c->max_seq_len : mc->long_len;
    const int B = L_long >= 128 ? 32 : 8; // block of the long runs
    printf("%s: d=%d heads=%d/%d head_dim=%d layers=%d ff=%d vocab=%d on %s; tolerances x%g\n", mc->name, c->d_model,
           c->n_heads, c->n_kv_heads, c->head_dim, c->n_layers, c->d_ff, c->n_vocab, e.gpu->device, tol);
    if (dlm_config_moe_layers(c) > 0 && !exact_mode(e.gpu)) {
        // With bf16 activations a selection the fixtures decide by less than bf16's rounding (they
        // hold exact ties and margins down to 1e-3) may go to another expert, which changes that
        // position's output far beyond any rounding tolerance, as it would in the official bf16
        // model. The kernels are checked against the CPU in the fp32 emulation (all checks below,
        // routing exact); here the routing must mostly agree and passes must repeat bit for bit.
        printf("  %-44s bf16: routing and repeatability only (probabilities: fp32 emulation)\n", mc->name);
        check_routing(&e, 40);
        check_errors_and_repeat(&e);
        engines_close(&e);
        return;
    }
    check_plain(&e, 45, 0, 0, "hard, bidirectional, L=45");
    check_plain(&e, L_long, 0, 0, "hard, bidirectional, long");
    check_plain(&e, 1, 0, 0, "hard, one token");
    check_plain(&e, 45, 3, 0, "soft k=3, bidirectional");
    check_plain(&e, 45, 0, 8, "hard, block-causal B=8");
    check_plain_o(&e, 45, 0, 8, 13, "hard, prompt block of 13 then B=8 (D2F)");
    check_plain(&e, L_long, 4, B, "soft k=4, block-causal, long");
    check_sampling(&e, 24, 0.0, false);
    check_sampling(&e, 24, 0.8, false);
    check_sampling(&e, 24, 0.7, true);
    check_cache(&e, 45, 16, 24, DLM_CACHE_PREFIX, 0, 0);
    check_cache(&e, 45, 16, 24, DLM_CACHE_DUAL, 0, 3);
    check_cache(&e, L_long, L_long / 3 / B * B, L_long / 3 / B * B + B, DLM_CACHE_DUAL, B, 0);
    check_cache(&e, L_long, L_long / 2 / B * B, L_long / 2 / B * B + B, DLM_CACHE_PREFIX, B, 2);
    check_block_cache(&e, 40, 8, 0);
    check_block_cache(&e, 43, 8, 11); // D2F: an 11-token prompt block, then blocks of 8
    check_routing(&e, 40);
    check_errors_and_repeat(&e);
    engines_close(&e);
}

// ---- sessions ---------------------------------------------------------------------------------

// 8 prompt tokens: block-causal canvases stay whole blocks of 8.
static const int32_t PROMPT[8] = {3, 17, 5, 60, 2, 11, 42, 7};

static dlm_rule_config session_rule(const char *spec) {
    dlm_rule_config rc;
    if (dlm_rule_parse(spec, &rc) != DLM_STATUS_OK) fail_msg("%s: %s", spec, dlm_error_message());
    dlm_rule_set(&rc, "gen", "32");
    dlm_rule_set(&rc, "block", "8");
    dlm_rule_set(&rc, "temperature", "0");
    if (dlm_param_applies(DLM_PARAM_steps, rc.kind) && !strstr(spec, "steps="))
        dlm_rule_set(&rc, "steps", rc.kind == DLM_RULE_EVOTOKEN ? "16" : "32");
    return rc;
}

// Tokens after every step; NULL with a message if a step fails. Caller frees.
static int32_t *run_session(const dlm_model *m, dlm_backend *be, const dlm_rule_config *rc, int block_causal, int *n_steps,
                            int *n_tokens) {
    dlm_session_opts opts = {.block_causal = block_causal};
    dlm_session *s = dlm_session_new(m, be, PROMPT, 8, rc, &opts);
    if (!s) fail_msg("session: %s", dlm_error_message());
    const int n = dlm_session_n_tokens(s);
    int cap = 64, k = 0;
    int32_t *traj = dlm_xmalloc((size_t)cap * n * sizeof *traj);
    dlm_step *st = dlm_step_new(n);
    while (!dlm_session_done(s)) {
        if (dlm_session_step(s, st) != DLM_STATUS_OK) fail_msg("session step on %s: %s", be->device, dlm_error_message());
        if (k == cap) traj = dlm_xrealloc(traj, (size_t)(cap *= 2) * n * sizeof *traj);
        memcpy(traj + (size_t)k++ * n, dlm_session_tokens(s), (size_t)n * sizeof *traj);
    }
    dlm_step_free(st);
    dlm_session_free(s);
    *n_steps = k, *n_tokens = n;
    return traj;
}

static void test_sessions(void **state) {
    static const char *const specs[] = {"llada", "llada:cache=prefix", "llada:cache=dual", "threshold:tau=0.3",
                                        "threshold:tau=0.3,cache=dual", "t2t", "t2m", "t2m:detector=logitdiff,tau_remask=0.05",
                                        "evotoken", "evotoken:cache=dual", "fdllm2:sub_block=4,tau=0.5",
                                        "d2f:tau=0.5,block_add=0.25", "d2f:tau=0.5,block_add=0.25,cache=none"};
    static const int models[] = {1, 2, 5}; // gqa bf16, LLaDA's head size, fixture mha-bf16
    int agree = 0, total = 0, n_models = (int)(sizeof models / sizeof models[0]);
    bool exact = false;
    for (int mi = 0; mi < n_models; mi++) {
        engines e;
        engines_open(&e, &MODELS[models[mi]]);
        exact = exact_mode(e.gpu);
        if (strstr(e.gpu->device, EMU_DEVICE) && n_models > 1) {
            // every emulated CUDA thread is a fiber: sessions on one model keep the run in minutes
            printf("  emulator: sessions on %s only\n", e.mc->name);
            n_models = 1;
        }
        for (int bc = 0; bc <= 8; bc += 8)
            for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
                // d2f brings its own mask (prompt as block 0) and runs on LLaDA-layout models only
                if (strncmp(specs[i], "d2f", 3) == 0 &&
                    (bc > 0 || (e.model->cfg.arch && strcmp(e.model->cfg.arch->name, "llada") != 0)))
                    continue;
                dlm_rule_config rc = session_rule(specs[i]);
                int n1, n2, t1, t2;
                int32_t *a = run_session(e.model, e.cpu, &rc, bc, &n1, &t1);
                int32_t *b = run_session(e.model, e.gpu, &rc, bc, &n2, &t2);
                int first = -1;
                for (int k = 0; k < (n1 < n2 ? n1 : n2) && first < 0; k++)
                    if (memcmp(a + (size_t)k * t1, b + (size_t)k * t1, (size_t)t1 * sizeof *a) != 0) first = k;
                if (first < 0 && n1 != n2) first = n1 < n2 ? n1 : n2;
                total++;
                if (first < 0) agree++;
                else {
                    // how far apart the final canvases end up
                    const int32_t *fa = a + (size_t)(n1 - 1) * t1, *fb = b + (size_t)(n2 - 1) * t1;
                    int differ = 0;
                    for (int p = 0; p < t1; p++) differ += fa[p] != fb[p];
                    printf("  session %-40s block_causal=%d on %s: diverges at step %d (cpu %d steps, cuda %d); final "
                           "tokens differ at %d of %d positions\n",
                           specs[i], bc, e.mc->name, first, n1, n2, differ, t1);
                }
                free(a), free(b);
            }
        engines_close(&e);
    }
    printf("sessions at temperature 0: %d/%d trajectories agree token for token between cpu and cuda%s\n", agree, total,
           exact ? " (fp32 emulation: all must)" : " (bf16: reported, not required)");
    if (exact && agree != total) fail_msg("fp32 emulation: %d of %d trajectories diverge from the CPU's", total - agree, total);
}

// A session on the GPU restored mid-way continues exactly as the uninterrupted run (contract 3).
static void test_gpu_resume(void **state) {
    engines e;
    engines_open(&e, &MODELS[1]);
    static const char *const specs[] = {"llada:cache=dual", "t2m:cache=prefix", "evotoken"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        dlm_rule_config rc = session_rule(specs[i]);
        int n_full, n_tok;
        int32_t *full = run_session(e.model, e.gpu, &rc, 0, &n_full, &n_tok);
        dlm_session *s = dlm_session_new(e.model, e.gpu, PROMPT, 8, &rc, NULL);
        dlm_step *st = dlm_step_new(n_tok);
        const int cut = n_full / 2;
        for (int k = 0; k < cut; k++) assert_int_equal(dlm_session_step(s, st), DLM_STATUS_OK);
        dlm_session_state saved;
        dlm_session_export(s, &saved);
        dlm_session_free(s);
        // Another caller's refresh evicts the session's cache: the restored session must rebuild it.
        int32_t ids[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        dlm_forward_args other = {.n_tokens = 8, .ids = ids, .cache = DLM_CACHE_DUAL, .cache_refresh = true,
                                  .cache_key = 0xfeed, .active_start = 0, .active_end = 8};
        dlm_sample_opts so = dlm_sample_opts_default();
        assert_int_equal(dlm_backend_forward(e.gpu, &other, &so, NULL), DLM_STATUS_OK);
        s = dlm_session_restore(e.model, e.gpu, &saved, NULL, NULL);
        if (!s) fail_msg("%s: restore: %s", specs[i], dlm_error_message());
        dlm_session_state_free(&saved);
        for (int k = cut; k < n_full; k++) {
            assert_false(dlm_session_done(s));
            assert_int_equal(dlm_session_step(s, st), DLM_STATUS_OK);
            if (memcmp(dlm_session_tokens(s), full + (size_t)k * n_tok, (size_t)n_tok * sizeof *full) != 0)
                fail_msg("%s: step %d differs after a resume on the GPU", specs[i], k);
        }
        assert_true(dlm_session_done(s));
        dlm_step_free(st);
        dlm_session_free(s);
        free(full);
    }
    engines_close(&e);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); // progress lines as they come (an emulated run takes minutes)
    // DLM_CUDA_TEST=PATTERN runs only the tests whose names match (cmocka's * and ? wildcards).
    if (getenv("DLM_CUDA_TEST")) cmocka_set_test_filter(getenv("DLM_CUDA_TEST"));
    if (dlm_cuda_device_count() <= 0) {
        printf("*******************************************************************\n"
               "*  test_cuda: no CUDA device on this machine.                     *\n"
               "*  The CUDA backend was NOT tested: run `make test-cuda` on a GPU. *\n"
               "*******************************************************************\n");
        printf("SKIPPED: no usable CUDA device: the CUDA backend was NOT tested (make test-cuda on a GPU)\n");
        return 77;
    }
    struct CMUnitTest tests[N_MODELS + 2];
    for (int i = 0; i < N_MODELS; i++)
        tests[i] = (struct CMUnitTest){MODELS[i].name, test_model, NULL, NULL, (void *)&MODELS[i]};
    tests[N_MODELS] = (struct CMUnitTest){"sessions cpu vs cuda", test_sessions, NULL, NULL, NULL};
    tests[N_MODELS + 1] = (struct CMUnitTest){"resume on the gpu", test_gpu_resume, NULL, NULL, NULL};
    return _cmocka_run_group_tests("cuda", tests, N_MODELS + 2, NULL, NULL);
}
