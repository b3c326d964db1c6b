// test_session.c — resume and fork on a real (random-weight) model through the CPU backend:
// restoring the exported state at any step and continuing reproduces the uninterrupted run bit for
// bit, for every rule; forking continues under another rule.
#include <math.h>

#include "engine/session.h"
#include "testmodel.h"

static char *dir;
static dlm_model *model;
static dlm_backend *be;
static const int32_t PROMPT[5] = {3, 17, 5, 60, 2};

static int setup(void **state) {
    return tu_small_engine_open(&dir, &model, &be);
}

static int teardown(void **state) {
    tu_small_engine_close(&dir, &model, &be);
    return 0;
}

static dlm_rule_config rule(const char *spec) {
    dlm_rule_config rc;
    if (dlm_rule_parse(spec, &rc) != DLM_STATUS_OK) fail_msg("%s: %s", spec, dlm_error_message());
    dlm_rule_set(&rc, "gen", "16");
    dlm_rule_set(&rc, "block", "8");
    if (dlm_param_applies(DLM_PARAM_steps, rc.kind) && !strstr(spec, "steps=")) dlm_rule_set(&rc, "steps", rc.kind == DLM_RULE_EVOTOKEN ? "8" : "16");
    return rc;
}

#define MAX_STEPS 200
typedef struct {
    int          n;
    dlm_step    *steps[MAX_STEPS];
} recording;

static void record_run(dlm_session *s, recording *rec) {
    while (!dlm_session_done(s)) {
        assert_true(rec->n < MAX_STEPS);
        dlm_step *st = dlm_step_new(dlm_session_n_tokens(s));
        if (dlm_session_step(s, st) != DLM_STATUS_OK) fail_msg("step: %s", dlm_error_message());
        rec->steps[rec->n++] = st;
    }
}

static void recording_free(recording *rec) {
    for (int i = 0; i < rec->n; i++) dlm_step_free(rec->steps[i]);
    rec->n = 0;
}

static void assert_same_step(const dlm_step *a, const dlm_step *b, const char *spec) {
    if (a->step != b->step || a->block != b->block || a->n_commits != b->n_commits || a->n_edits != b->n_edits ||
        a->n_remasks != b->n_remasks || a->done != b->done)
        fail_msg("%s: step %d differs in its header", spec, a->step);
    if (a->n_block_info != b->n_block_info || memcmp(a->block_info, b->block_info, (size_t)a->n_block_info) != 0)
        fail_msg("%s: step %d differs in its block states", spec, a->step);
    for (int i = 0; i < a->n_tokens; i++) {
        const dlm_pos_info *p = &a->pos[i], *q = &b->pos[i];
        if (p->token != q->token || p->state != q->state || p->events != q->events || p->p_sampled != q->p_sampled ||
            p->p_current != q->p_current || p->sampled != q->sampled || p->hist_conf != q->hist_conf ||
            p->remask_count != q->remask_count || p->n_soft != q->n_soft || p->pinned != q->pinned ||
            p->intervened != q->intervened ||
            memcmp(p->soft_w, q->soft_w, sizeof p->soft_w) != 0 || memcmp(p->top_id, q->top_id, sizeof p->top_id) != 0)
            fail_msg("%s: step %d position %d differs after resume", spec, a->step, i);
    }
}

static void check_resume(const char *spec, int block_causal) {
    dlm_rule_config rc = rule(spec);
    dlm_session_opts opts = {.block_causal = block_causal};
    dlm_session *s = dlm_session_new(model, be, PROMPT, 5, &rc, &opts);
    if (!s) fail_msg("%s: %s", spec, dlm_error_message());
    recording full = {0};
    record_run(s, &full);
    dlm_session_free(s);
    assert_true(full.n >= 2);
    int cuts[3] = {1, full.n / 2, full.n - 1};
    for (int c = 0; c < 3; c++) {
        s = dlm_session_new(model, be, PROMPT, 5, &rc, &opts);
        dlm_step *st = dlm_step_new(dlm_session_n_tokens(s));
        for (int i = 0; i < cuts[c]; i++) assert_int_equal(dlm_session_step(s, st), DLM_STATUS_OK);
        dlm_session_state saved;
        dlm_session_export(s, &saved);
        dlm_session_free(s);
        s = dlm_session_restore(model, be, &saved, NULL, NULL);
        if (!s) fail_msg("%s: restore: %s", spec, dlm_error_message());
        dlm_session_state_free(&saved);
        for (int i = cuts[c]; i < full.n; i++) {
            assert_false(dlm_session_done(s));
            assert_int_equal(dlm_session_step(s, st), DLM_STATUS_OK);
            assert_same_step(st, full.steps[i], spec);
        }
        assert_true(dlm_session_done(s));
        dlm_step_free(st);
        dlm_session_free(s);
    }
    recording_free(&full);
}

static void test_resume_every_rule(void **state) {
    const char *specs[] = {"llada", "llada:remasking=random,temperature=0.8,seed=7", "threshold:tau=0.3",
                           "threshold:factor=1", "t2t", "t2t:mode=s", "t2m", "t2m:detector=logitdiff,tau_remask=0.05",
                           "t2m:detector=t2t-remask,tau_remask=0.3,cmax=2", "evotoken", "evotoken:temperature=0,alpha=0.5,k_soft=2"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) check_resume(specs[i], 0);
    // LLaDA2-style block-causal attention, blocks aligned to position 0 (the prompt fills part of one)
    check_resume("t2t", 8);
    check_resume("t2m", 8);
    check_resume("llada:steps=24", 8); // 3 blocks of 8 cover the 5 + 16 positions
    check_resume("margin", 0);
    check_resume("d2f:tau=0.5,block_add=0.25", 0); // several blocks in flight, their states in the state
    check_resume("d2f:cache=none,block_add=0", 0);
}

// KV caches: a restored session rebuilds its cache from the saved refresh inputs (mid-block cuts).
static void test_resume_with_cache(void **state) {
    const char *specs[] = {"llada:cache=dual", "llada:cache=prefix,steps=8", "threshold:tau=0.3,cache=dual",
                           "t2m:cache=prefix", "t2t:cache=dual", "evotoken:cache=dual", "evotoken:cache=prefix"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) check_resume(specs[i], 0);
    check_resume("t2t:cache=prefix", 8);
    // the T2M repository's block cache: the stale tokens of finished blocks travel in the state
    check_resume("t2t:mode=s,max_post=1,cache=official-block", 8);
    check_resume("t2m:max_post=1,tau_remask=0.5,cache=official-block", 8);
    check_resume("threshold:tau=0.2,cache=dual,fastdllm_nfe=1", 0); // the extra forward of Fast-dLLM's old loop
}

// Block-causal models (SDAR): the block cache (prefix stored once, the block recomputed each step)
// is exact, so a cached session follows the uncached one token for token, with the same
// probabilities to fp32 rounding, on a model in SDAR's own layout (QK-norm, block size 4).
// Every rule's cached run on a block-causal model against its uncached run: the same tokens at
// every step, probabilities within 1e-5, and (MoE models) the same experts wherever both passes
// routed the position.
// (Not evotoken: at a block's first step it still feeds the finished block's soft mixtures, which
// the storing pass keeps, while its later steps feed that block's hard tokens; docs/model-families.md.)
static const char *const BLOCK_CAUSAL_SPECS[] = {"threshold:tau=0.3", "llada:steps=20", "t2m", "t2t:mode=s", "t2t:mode=q", NULL};
// d2f brings the block-causal mask (the prompt as block 0) to a bidirectional model itself.
static const char *const D2F_SPECS[] = {"d2f:tau=0.5,block_add=0.25", "d2f:block_add=0", NULL};

static void check_block_cache(const char *label, dlm_model *m, int B, int gen, const char *const *specs, int block_causal) {
    dlm_backend *b = dlm_backend_new(m, "cpu", 1);
    for (size_t k = 0; specs[k]; k++) {
        recording run[2] = {{0}, {0}};
        for (int cached = 0; cached < 2; cached++) {
            dlm_rule_config rc;
            char full_spec[128], num[16];
            snprintf(full_spec, sizeof full_spec, "%s%scache=%s", specs[k], strchr(specs[k], ':') ? "," : ":",
                     cached ? "prefix" : "none");
            if (dlm_rule_parse(full_spec, &rc) != DLM_STATUS_OK) fail_msg("%s: %s", full_spec, dlm_error_message());
            snprintf(num, sizeof num, "%d", gen);
            dlm_rule_set(&rc, "gen", num);
            snprintf(num, sizeof num, "%d", B);
            dlm_rule_set(&rc, "block", num);
            dlm_session_opts opts = {.block_causal = block_causal};
            dlm_session *s = dlm_session_new(m, b, PROMPT, 5, &rc, &opts);
            if (!s) fail_msg("%s %s: %s", label, full_spec, dlm_error_message());
            record_run(s, &run[cached]);
            dlm_session_free(s);
        }
        if (run[0].n != run[1].n) fail_msg("%s %s: %d steps uncached, %d cached", label, specs[k], run[0].n, run[1].n);
        double worst = 0;
        long routed_both = 0;
        for (int i = 0; i < run[0].n; i++) {
            const dlm_step *us = run[0].steps[i], *cs = run[1].steps[i];
            if (us->n_block_info != cs->n_block_info || memcmp(us->block_info, cs->block_info, (size_t)us->n_block_info))
                fail_msg("%s %s: step %d: other block states cached than uncached", label, specs[k], i);
            for (int p = 0; p < us->n_tokens; p++) {
                const dlm_pos_info *u = &us->pos[p], *c = &cs->pos[p];
                if (u->token != c->token || u->has_dist != c->has_dist || u->sampled != c->sampled)
                    fail_msg("%s %s: step %d position %d: token %d/%d, sampled %d/%d (uncached/cached)", label, specs[k],
                             i, p, u->token, c->token, u->sampled, c->sampled);
                double d = fabs((double)u->p_sampled - c->p_sampled);
                if (d > worst) worst = d;
                const int E = us->n_moe_layers * us->experts_per_layer;
                if (E == 0 || us->experts[(size_t)p * E] < 0 || cs->experts[(size_t)p * E] < 0) continue;
                if (memcmp(us->experts + (size_t)p * E, cs->experts + (size_t)p * E, (size_t)E * sizeof *us->experts))
                    fail_msg("%s %s: step %d position %d: other experts cached than uncached", label, specs[k], i, p);
                routed_both++;
            }
        }
        if (worst > 1e-5) fail_msg("%s %s: cached probabilities differ by %g", label, specs[k], worst);
        if (dlm_config_moe_layers(&m->cfg) > 0 && routed_both == 0) fail_msg("%s %s: no routing compared", label, specs[k]);
        recording_free(&run[0]);
        recording_free(&run[1]);
    }
    dlm_backend_free(b);
}

static void test_block_cache_exact(void **state) {
    char *sdir = tu_tmpdir();
    tu_model_spec spec = tu_small_spec();
    spec.family = "sdar";
    tu_write_model(sdir, &spec);
    dlm_model *m = dlm_model_load(sdir, NULL);
    if (!m) fail_msg("sdar: %s", dlm_error_message());
    assert_int_equal(m->cfg.block_causal, 4);
    check_block_cache("sdar", m, 4, 16, BLOCK_CAUSAL_SPECS, 4);
    dlm_model_free(m);
    tu_rmtree(sdir);
    free(sdir);
    // LLaDA2.x (fused QKV, partial rotary, MoE) in its real layout, blocks of 8 over absolute positions
    m = dlm_model_load("tests/fixtures/models/llada2-f32", NULL);
    if (!m) fail_msg("llada2: %s", dlm_error_message());
    assert_int_equal(m->cfg.block_causal, 32);
    check_block_cache("llada2", m, 8, 32, BLOCK_CAUSAL_SPECS, 8);
    dlm_model_free(m);
    // Fast-dLLM v2 (Qwen2 layer, shifted logits): a block's first position reads the last row of
    // the previous block, which the cached steps take from the stored hidden states
    m = dlm_model_load("tests/fixtures/models/fast-dllm-v2-f32", NULL);
    if (!m) fail_msg("fast-dllm-v2: %s", dlm_error_message());
    assert_int_equal(m->cfg.block_causal, 8);
    assert_true(m->cfg.shift_logits);
    check_block_cache("fast-dllm-v2", m, 8, 32, BLOCK_CAUSAL_SPECS, 8);
    dlm_model_free(m);
    // D2F's mask on bidirectional models: the small LLaDA model, and LLaDA-MoE (routing compared)
    check_block_cache("d2f llada", model, 4, 16, D2F_SPECS, 0);
    m = dlm_model_load("tests/fixtures/models/llada-moe-f32", NULL);
    if (!m) fail_msg("llada-moe: %s", dlm_error_message());
    check_block_cache("d2f llada-moe", m, 8, 32, D2F_SPECS, 0);
    dlm_model_free(m);
}

// Two cached sessions taking turns on one backend (the TUI's compare mode) evict each other's
// cache at every step; each must still follow its solo trajectory exactly.
static void test_cache_shared_backend(void **state) {
    const char *spec[2] = {"llada:cache=dual", "threshold:tau=0.3,cache=prefix"};
    recording solo[2] = {{0}};
    for (int k = 0; k < 2; k++) {
        dlm_rule_config rc = rule(spec[k]);
        dlm_session *s = dlm_session_new(model, be, PROMPT, 5, &rc, NULL);
        record_run(s, &solo[k]);
        dlm_session_free(s);
    }
    dlm_session *s[2];
    for (int k = 0; k < 2; k++) {
        dlm_rule_config rc = rule(spec[k]);
        s[k] = dlm_session_new(model, be, PROMPT, 5, &rc, NULL);
    }
    dlm_step *st = dlm_step_new(dlm_session_n_tokens(s[0]));
    int n[2] = {0, 0};
    while (!dlm_session_done(s[0]) || !dlm_session_done(s[1]))
        for (int k = 0; k < 2; k++) {
            if (dlm_session_done(s[k])) continue;
            assert_int_equal(dlm_session_step(s[k], st), DLM_STATUS_OK);
            assert_true(n[k] < solo[k].n);
            assert_same_step(st, solo[k].steps[n[k]++], spec[k]);
        }
    for (int k = 0; k < 2; k++) {
        assert_int_equal(n[k], solo[k].n);
        dlm_session_free(s[k]);
        recording_free(&solo[k]);
    }
    dlm_step_free(st);
}

// The backend refuses a cached pass it holds no cache for, and a cached pass whose inputs did not
// change since the refresh reproduces the full pass.
static void test_cache_backend_contract(void **state) {
    int32_t ids[21];
    for (int i = 0; i < 21; i++) ids[i] = (3 + 7 * i) % 60;
    int32_t rows[21];
    for (int i = 0; i < 21; i++) rows[i] = i;
    dlm_row_summary full[21], cached[21];
    dlm_sample_opts so = dlm_sample_opts_default();
    dlm_forward_args fa = {.n_tokens = 21, .ids = ids, .n_rows = 21, .rows = rows};
    assert_int_equal(dlm_backend_forward(be, &fa, &so, full), DLM_STATUS_OK);
    for (int mode = DLM_CACHE_PREFIX; mode <= DLM_CACHE_DUAL; mode++) {
        dlm_forward_args ca = fa;
        ca.cache = mode, ca.active_start = 5, ca.active_end = 13, ca.cache_key = 4242;
        assert_int_equal(dlm_backend_forward(be, &ca, &so, cached), DLM_STATUS_ARG); // nothing cached under 4242
        assert_non_null(strstr(dlm_error_message(), "KV cache miss"));
        ca.cache_refresh = true;
        assert_int_equal(dlm_backend_forward(be, &ca, &so, cached), DLM_STATUS_OK);
        assert_int_equal(be->cache_key, 4242);
        ca.cache_refresh = false;
        assert_int_equal(dlm_backend_forward(be, &ca, &so, cached), DLM_STATUS_OK);
        for (int i = 0; i < 21; i++) {
            assert_int_equal(cached[i].token, full[i].token);
            assert_float_equal(cached[i].p_token, full[i].p_token, 1e-5);
        }
        ca.active_end = 14; // another block: the cache does not match it
        assert_int_equal(dlm_backend_forward(be, &ca, &so, cached), DLM_STATUS_ARG);
    }
}

static void test_fork(void **state) {
    dlm_rule_config a = rule("t2t"), b = rule("t2m:tau_remask=0.2");
    dlm_session *s = dlm_session_new(model, be, PROMPT, 5, &a, NULL);
    dlm_step *st = dlm_step_new(dlm_session_n_tokens(s));
    for (int i = 0; i < 3; i++) dlm_session_step(s, st);
    dlm_session_state saved;
    dlm_session_export(s, &saved);
    dlm_session *f = dlm_session_restore(model, be, &saved, &b, NULL);
    if (!f) fail_msg("fork: %s", dlm_error_message());
    assert_int_equal(dlm_session_rule(f)->kind, DLM_RULE_T2M);
    assert_int_equal(dlm_session_steps_done(f), 3);
    assert_memory_equal(dlm_session_tokens(f), dlm_session_tokens(s), sizeof(int32_t) * (size_t)dlm_session_n_tokens(s));
    while (!dlm_session_done(f)) assert_int_equal(dlm_session_step(f, st), DLM_STATUS_OK);
    // EvoToken <-> hard rules: soft states become masks and decoded tokens.
    dlm_rule_config e = rule("evotoken");
    dlm_session *g = dlm_session_new(model, be, PROMPT, 5, &e, NULL);
    dlm_session_step(g, st);
    dlm_session_state es;
    dlm_session_export(g, &es);
    dlm_session *h = dlm_session_restore(model, be, &es, &a, NULL);
    assert_non_null(h);
    assert_int_equal(dlm_session_step(h, st), DLM_STATUS_OK);
    for (int i = 0; i < st->n_tokens; i++) assert_true(st->pos[i].state != DLM_POS_SOFT && st->pos[i].state != DLM_POS_SOFT_MASK);
    // A fork cannot change the canvas.
    dlm_rule_config wrong = rule("llada");
    wrong.gen = 32;
    assert_null(dlm_session_restore(model, be, &saved, &wrong, NULL));
    assert_non_null(strstr(dlm_error_message(), "a fork keeps gen 16"));
    // A damaged state is refused.
    saved.tokens[7] = 9999;
    assert_null(dlm_session_restore(model, be, &saved, NULL, NULL));
    assert_non_null(strstr(dlm_error_message(), "token 9999 at position 7"));
    dlm_session_state_free(&saved);
    dlm_session_state_free(&es);
    dlm_session_free(h);
    dlm_session_free(g);
    dlm_session_free(f);
    dlm_session_free(s);
    dlm_step_free(st);
}

// Interventions after step 3 (force and pin one position, remask a committed one of the current
// block): restoring the state after the intervened step continues bit for bit (resume), and
// restoring the state before it, applying the step's recorded interventions and stepping gives
// the same step and the same rest of the run (replay).
static void check_intervention(const char *spec, int block_causal) {
    dlm_rule_config rc = rule(spec);
    dlm_session_opts opts = {.block_causal = block_causal};
    dlm_session *s = dlm_session_new(model, be, PROMPT, 5, &rc, &opts);
    if (!s) fail_msg("%s: %s", spec, dlm_error_message());
    dlm_step *st = dlm_step_new(dlm_session_n_tokens(s));
    for (int i = 0; i < 3; i++) assert_int_equal(dlm_session_step(s, st), DLM_STATUS_OK);
    assert_false(dlm_session_done(s));
    dlm_session_state before, after;
    dlm_session_export(s, &before);
    int mask = model->cfg.mask_id, n = dlm_session_n_tokens(s);
    dlm_intervention f = {.kind = DLM_IV_FORCE, .pos = 7, .end = 8, .token = 11}, p = {.kind = DLM_IV_PIN, .pos = 7, .end = 8};
    assert_int_equal(dlm_session_intervene(s, &f), DLM_STATUS_OK);
    assert_int_equal(dlm_session_intervene(s, &p), DLM_STATUS_OK);
    bool remasked = false;
    for (int i = 5; i < n && !remasked; i++) { // the first committed position the session lets us remask
        dlm_intervention r = {.kind = DLM_IV_REMASK, .pos = i, .end = i + 1};
        remasked = dlm_session_tokens(s)[i] != mask && i != 7 && dlm_session_intervene(s, &r) == DLM_STATUS_OK;
    }
    recording full = {0};
    record_run(s, &full);
    dlm_session_free(s);
    const dlm_step *first = full.steps[0];
    assert_int_equal(first->n_interventions, 2 + remasked);
    assert_true(first->pos[7].pinned && (first->pos[7].intervened & 1 << DLM_IV_FORCE));
    for (int k = 0; k < full.n; k++)
        if (full.steps[k]->pos[7].token != 11) fail_msg("%s: step %d changed the pinned position", spec, full.steps[k]->step);
    // replay: the state before, the recorded interventions, the step
    s = dlm_session_restore(model, be, &before, NULL, &opts);
    assert_non_null(s);
    for (int k = 0; k < first->n_interventions; k++) assert_int_equal(dlm_session_intervene(s, &first->interventions[k]), DLM_STATUS_OK);
    assert_int_equal(dlm_session_step(s, st), DLM_STATUS_OK);
    assert_same_step(st, first, spec); // replayed exactly
    dlm_session_export(s, &after);
    dlm_session_free(s);
    s = dlm_session_restore(model, be, &after, NULL, &opts); // resume after the intervened step
    assert_non_null(s);
    for (int k = 1; k < full.n; k++) {
        assert_int_equal(dlm_session_step(s, st), DLM_STATUS_OK);
        assert_same_step(st, full.steps[k], spec);
    }
    assert_true(dlm_session_done(s));
    // and a fork under another rule keeps the pin
    dlm_rule_config other = rule(rc.kind == DLM_RULE_T2T ? "t2m" : "t2t");
    dlm_session *g = dlm_session_restore(model, be, &after, &other, &opts);
    assert_non_null(g);
    while (!dlm_session_done(g)) {
        assert_int_equal(dlm_session_step(g, st), DLM_STATUS_OK);
        assert_true(st->pos[7].pinned && st->pos[7].token == 11);
    }
    dlm_session_free(g);
    dlm_session_free(s);
    dlm_session_state_free(&before);
    dlm_session_state_free(&after);
    dlm_step_free(st);
    recording_free(&full);
}

static void test_intervention_resume_replay(void **state) {
    const char *specs[] = {"llada", "t2t", "t2m", "t2m:detector=logitdiff,tau_remask=0.05", "evotoken", "threshold:tau=0.3,cache=dual",
                           "llada:cache=prefix,steps=8", "t2m:cache=prefix", "evotoken:cache=dual", "margin"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) check_intervention(specs[i], 0);
    check_intervention("t2t:cache=prefix", 8); // block-causal: the stored prefix is rebuilt
    check_intervention("t2m:max_post=1,tau_remask=0.5,cache=official-block", 8);
}

// Counters a run cannot reach are refused on restore (issue 18: near INT32_MAX they overflowed and
// a block never ended); the largest reachable ones are accepted.
static void test_restore_counter_bounds(void **state) {
    dlm_rule_config r = rule("t2m");
    dlm_session *s = dlm_session_new(model, be, PROMPT, 5, &r, NULL);
    dlm_step *st = dlm_step_new(dlm_session_n_tokens(s));
    for (int i = 0; i < 3; i++) assert_int_equal(dlm_session_step(s, st), DLM_STATUS_OK);
    dlm_session_state good;
    dlm_session_export(s, &good);
    struct {
        int *field, value;
    } bad[] = {{&good.step, INT32_MAX},          {&good.step, DLM_SESSION_MAX_STEPS + 1},
               {&good.step_in_block, INT32_MAX}, {&good.step_in_block, good.step + 1},
               {&good.post_steps, INT32_MAX},    {&good.post_steps, good.step_in_block + 2},
               {&good.block, INT32_MAX},         {&good.block_masks, INT32_MAX}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int keep = *bad[k].field;
        *bad[k].field = bad[k].value;
        dlm_session *x = dlm_session_restore(model, be, &good, NULL, NULL);
        if (x) fail_msg("case %zu: a counter of %d was accepted", k, bad[k].value);
        assert_non_null(strstr(dlm_error_message(), "counters out of range"));
        *bad[k].field = keep;
    }
    good.post_steps = good.rule.max_post + 2; // within step_in_block + 1 only if the block ran long
    good.step_in_block = good.step = good.rule.max_post + 2;
    assert_null(dlm_session_restore(model, be, &good, NULL, NULL));
    dlm_session_state_free(&good);
    dlm_step_free(st);
    dlm_session_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_every_rule),
        cmocka_unit_test(test_resume_with_cache),
        cmocka_unit_test(test_cache_shared_backend),
        cmocka_unit_test(test_block_cache_exact),
        cmocka_unit_test(test_cache_backend_contract),
        cmocka_unit_test(test_fork),
        cmocka_unit_test(test_intervention_resume_replay),
        cmocka_unit_test(test_restore_counter_bounds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
