// test_rules.c — the decoding rules on a scripted model: each test chooses the distributions per
// forward and position and asserts exact tokens, states and events per step.
#include "engine/rules/rule.h"
#include "engine/session.h"
#include "scripted.h"
#include "testmodel.h"

enum { V = 16, MASK = 15, EOS = 14 };
static const int32_t PROMPT[2] = {1, 2}; // P = 2: generation starts at position 2

typedef struct {
    dlm_model   *m;
    dlm_backend *be;
    dlm_session *s;
    dlm_step    *st;
} rig;

static rig rig_new(scripted_fn fn, const char *spec, int gen, int block, int steps) {
    rig r;
    r.m = scripted_model(V);
    r.be = scripted_backend(r.m, fn, NULL);
    dlm_rule_config rc;
    if (dlm_rule_parse(spec, &rc) != DLM_STATUS_OK) fail_msg("%s", dlm_error_message());
    char v[16];
    snprintf(v, sizeof v, "%d", gen);
    dlm_rule_set(&rc, "gen", v);
    snprintf(v, sizeof v, "%d", block);
    dlm_rule_set(&rc, "block", v);
    if (steps) {
        snprintf(v, sizeof v, "%d", steps);
        dlm_rule_set(&rc, "steps", v);
    }
    r.s = dlm_session_new(r.m, r.be, PROMPT, 2, &rc, NULL);
    if (!r.s) fail_msg("session: %s", dlm_error_message());
    r.st = dlm_step_new(dlm_session_n_tokens(r.s));
    return r;
}

static void rig_free(rig *r) {
    dlm_step_free(r->st);
    dlm_session_free(r->s);
    dlm_backend_free(r->be);
    dlm_model_free(r->m);
}

static void step(rig *r) {
    if (dlm_session_step(r->s, r->st) != DLM_STATUS_OK) fail_msg("step: %s", dlm_error_message());
}

// Generation-region tokens as a string of ids ("3 4 15 15"), for compact asserts.
static const char *gen_tokens(rig *r) {
    static char buf[256];
    const int32_t *t = dlm_session_tokens(r->s);
    buf[0] = 0;
    for (int i = 2; i < dlm_session_n_tokens(r->s); i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%d", i > 2 ? " " : "", t[i]);
    return buf;
}
#define ASSERT_GEN(r, want) assert_string_equal(gen_tokens(r), want)

// ---- llada -----------------------------------------------------------------------------------

// Position p predicts token p-2 with confidence falling along the sequence.
static void falling(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    peak(probs, V, (pos - 2) % 14, 0.9 - 0.05 * (pos - 2));
}

static void test_llada_schedule_remainder(void **state) {
    // 8 masks in 3 steps: 8 // 3 = 2 per step, the remainder 2 to the first two steps: 3, 3, 2.
    rig r = rig_new(falling, "llada", 8, 8, 3);
    step(&r);
    assert_int_equal(r.st->n_commits, 3);
    ASSERT_GEN(&r, "0 1 2 15 15 15 15 15");
    assert_int_equal(r.st->pos[2].state, DLM_POS_DECODED);
    assert_int_equal(r.st->pos[5].state, DLM_POS_MASK);
    assert_true(r.st->pos[2].events & DLM_EVENT_COMMIT);
    assert_false(r.st->done);
    step(&r);
    assert_int_equal(r.st->n_commits, 3);
    step(&r);
    assert_int_equal(r.st->n_commits, 2);
    ASSERT_GEN(&r, "0 1 2 3 4 5 6 7");
    assert_true(r.st->done && dlm_session_done(r.s));
    assert_int_equal(dlm_session_step(r.s, r.st), DLM_STATUS_ARG); // nothing left to do
    rig_free(&r);
}

static void flat(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    peak(probs, V, 3, 0.5);
}

static void block1_confident(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    peak(probs, V, pos < 6 ? 4 : 9, pos < 6 ? 0.3 : 0.99);
}

static void test_llada_ties_and_blocks(void **state) {
    rig r = rig_new(flat, "llada", 4, 4, 4); // equal confidence everywhere: lowest position first
    step(&r);
    ASSERT_GEN(&r, "3 15 15 15");
    rig_free(&r);
    // Two blocks: the more confident second block waits for the first.
    r = rig_new(block1_confident, "llada", 8, 4, 4);
    step(&r);
    step(&r);
    ASSERT_GEN(&r, "4 4 4 4 15 15 15 15");
    assert_int_equal(r.st->block, 0);
    assert_int_equal(r.st->n_finalized, 4); // block 0 closed with this step
    step(&r);
    assert_int_equal(r.st->block, 1);
    ASSERT_GEN(&r, "4 4 4 4 9 9 15 15");
    rig_free(&r);
}

// ---- threshold (Fast-dLLM) ------------------------------------------------------------------

static void threshold_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    static const double conf[3][4] = {{0.5, 0.5, 0.5, 0.5}, {0, 0.95, 0.92, 0.3}, {0, 0, 0, 0.1}};
    peak(probs, V, 5 + pos, conf[call][pos - 2] > 0 ? conf[call][pos - 2] : 0.5);
}

static void test_threshold_always_top1(void **state) {
    rig r = rig_new(threshold_script, "threshold", 4, 4, 0);
    step(&r); // nothing reaches 0.9: only the top-1 (lowest position among equals)
    assert_int_equal(r.st->n_commits, 1);
    ASSERT_GEN(&r, "7 15 15 15");
    step(&r); // two reach 0.9
    assert_int_equal(r.st->n_commits, 2);
    ASSERT_GEN(&r, "7 8 9 15");
    step(&r); // the last one at 0.1: committed anyway as the top-1
    assert_int_equal(r.st->n_commits, 1);
    assert_true(r.st->done);
    rig_free(&r);
}

static double factor_conf[4];
static void factor_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    peak(probs, V, pos, factor_conf[pos - 2]);
}

static void test_threshold_factor(void **state) {
    // factor 1: thresholds -1, 1 - 1/3, 1 - 1/4, 1 - 1/5 over the sorted confidences.
    double a[4] = {0.9, 0.7, 0.5, 0.4}; // breaks at i = 2: commits 2
    memcpy(factor_conf, a, sizeof a);
    rig r = rig_new(factor_script, "threshold:factor=1", 4, 4, 0);
    step(&r);
    assert_int_equal(r.st->n_commits, 2);
    rig_free(&r);
    double b[4] = {0.9, 0.8, 0.8, 0.1}; // breaks at the last index: the quirk commits all 4
    memcpy(factor_conf, b, sizeof b);
    r = rig_new(factor_script, "threshold:factor=1", 4, 4, 0);
    step(&r);
    assert_int_equal(r.st->n_commits, 4);
    rig_free(&r);
}

// ---- t2t (LLaDA2.1) ---------------------------------------------------------------------------

static void t2t_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    switch (call) {
    case 0: peak(probs, V, pos == 2 ? 3 : 9, pos == 2 ? 0.9 : 0.3); break; // fill position 2 only
    case 1:
        if (pos == 2) peak(probs, V, 5, 0.6);      // 3 -> 5: c 0.6 > tau_edit 0.5, fires
        else if (pos == 3) peak(probs, V, 7, 0.95); // fill
        else peak(probs, V, 9, 0.3);
        break;
    case 2:
        if (pos == 3) peak(probs, V, 8, 0.45);      // 7 -> 8 at 0.45: below tau_edit, silent
        else peak(probs, V, pos == 2 ? 5 : 10, pos == 2 ? 0.9 : 0.99);
        break;
    default: peak(probs, V, ids[pos], 0.9); break;  // agree with everything
    }
}

static void test_t2t_edit(void **state) {
    rig r = rig_new(t2t_script, "t2t", 4, 4, 0);
    step(&r);
    ASSERT_GEN(&r, "3 15 15 15");
    step(&r); // the edit and the fill happen in the same step
    ASSERT_GEN(&r, "5 7 15 15");
    assert_true(r.st->pos[2].events & DLM_EVENT_EDIT);
    assert_int_equal(r.st->pos[2].prev_token, 3);
    assert_true(r.st->pos[3].events & DLM_EVENT_COMMIT);
    assert_int_equal(r.st->n_edits, 1);
    step(&r);
    ASSERT_GEN(&r, "5 7 10 10");
    assert_int_equal(r.st->n_edits, 0);
    assert_false(r.st->done);
    step(&r); // mask-free and nothing edited: converged
    assert_int_equal(r.st->n_edits, 0);
    assert_true(r.st->done);
    rig_free(&r);
}

// A committed token that the model stops believing in, with no confident alternative.
static void stuck_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    if (call == 0) peak(probs, V, 4, 0.9);                   // fill all four with 4
    else if (pos == 3) peak2(probs, V, 6, 0.3, 4, 0.01);     // p(4) = 0.01, max p 0.3
    else peak(probs, V, ids[pos] == MASK ? 4 : ids[pos], 0.9);
}

static void test_stuck_set_t2t_silent_t2m_remasks(void **state) {
    rig r = rig_new(stuck_script, "t2t", 4, 4, 0);
    step(&r);
    ASSERT_GEN(&r, "4 4 4 4");
    step(&r);
    ASSERT_GEN(&r, "4 4 4 4"); // T2T cannot act: 0.3 < tau_edit 0.5
    assert_true(r.st->pos[3].stuck);
    assert_int_equal(r.st->n_stuck, 1);
    assert_true(r.st->pos[3].p_current < 0.02f && r.st->pos[3].top_p[0] > 0.29f);
    rig_free(&r);

    r = rig_new(stuck_script, "t2m", 4, 4, 0);
    step(&r);
    step(&r);
    ASSERT_GEN(&r, "4 15 4 4"); // LowProb: p(4) = 0.01 < 0.3
    assert_true(r.st->pos[3].events & DLM_EVENT_REMASK);
    assert_int_equal(r.st->pos[3].state, DLM_POS_MASK);
    assert_int_equal(r.st->pos[3].remask_count, 1);
    rig_free(&r);
}

// Position 3 stays unconvincing whatever it holds; everything else is confident.
static void cmax_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    if (pos == 3 && ids[pos] != MASK) peak2(probs, V, 6, 0.3, ids[pos], 0.01);
    else if (pos == 3) peak(probs, V, 4, 0.9);
    else peak(probs, V, 4, 0.9);
}

static void test_t2m_cmax(void **state) {
    rig r = rig_new(cmax_script, "t2m:cmax=1", 4, 4, 0);
    step(&r); // fill all
    step(&r); // remask position 3
    assert_int_equal(r.st->n_remasks, 1);
    step(&r); // refill position 3
    ASSERT_GEN(&r, "4 4 4 4");
    step(&r); // low again, but C_max = 1 is used up in this block
    assert_int_equal(r.st->n_remasks, 0);
    assert_true(r.st->pos[3].stuck);
    rig_free(&r);
    r = rig_new(cmax_script, "t2m:cmax=2", 4, 4, 0);
    for (int i = 0; i < 4; i++) step(&r);
    assert_int_equal(r.st->n_remasks, 1); // a second remask is allowed
    assert_int_equal(r.st->pos[3].remask_count, 2);
    rig_free(&r);
}

// Three committed tokens all doubtful: scores 0.02, 0.01, 0.03.
static void cap_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    static const double low[4] = {0.02, 0.01, 0.03, 0.9};
    if (call == 0) peak(probs, V, 4, 0.9);
    else if (pos < 5) peak2(probs, V, 6, 0.3, 4, low[pos - 2]);
    else peak(probs, V, 4, 0.9);
}

static void test_t2m_rho_cap(void **state) {
    // |E| = 4: code cap max(1, int(4 * 0.25)) = 1 -> only the lowest score (position 3) goes.
    rig r = rig_new(cap_script, "t2m", 4, 4, 0);
    step(&r);
    step(&r);
    assert_int_equal(r.st->n_remasks, 1);
    assert_true(r.st->pos[3].events & DLM_EVENT_REMASK);
    rig_free(&r);
    // rho 0.2: int(0.8) = 0, floored up to 1 by the code, 0 by the paper's formula.
    r = rig_new(cap_script, "t2m:rho_max=0.2", 4, 4, 0);
    step(&r);
    step(&r);
    assert_int_equal(r.st->n_remasks, 1);
    rig_free(&r);
    r = rig_new(cap_script, "t2m:rho_max=0.2,cap=paper", 4, 4, 0);
    step(&r);
    step(&r);
    assert_int_equal(r.st->n_remasks, 0);
    rig_free(&r);
    // rho 1 disables the cap: all three doubtful positions go at once.
    r = rig_new(cap_script, "t2m:rho_max=1", 4, 4, 0);
    step(&r);
    step(&r);
    assert_int_equal(r.st->n_remasks, 3);
    rig_free(&r);
}

static int logitdiff_variant;
static void logitdiff_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    if (call == 0) {
        peak(probs, V, pos == 2 ? 3 : 9, pos == 2 ? 0.9 : 0.2); // fill only position 2 (fallback top-1)
        return;
    }
    if (pos != 2) {
        peak(probs, V, 9, 0.2);
        return;
    }
    double p = logitdiff_variant == 0 ? 0.1 : (call == 1 ? 0.8 : 0.2);
    peak2(probs, V, 3, p, 6, 0.05);
}

static void test_t2m_logitdiff_abstains_first(void **state) {
    // Step 1 is the first with a non-empty editable set: nothing to compare with, so no remask
    // even though p(3) fell from 0.9 to 0.1.
    logitdiff_variant = 0;
    rig r = rig_new(logitdiff_script, "t2m:detector=logitdiff", 4, 4, 0);
    step(&r);
    step(&r);
    assert_int_equal(r.st->n_remasks, 0);
    rig_free(&r);
    // 0.8 then 0.2: a drop of 0.6 > 0.3 between two steps with memory: remasked.
    logitdiff_variant = 1;
    r = rig_new(logitdiff_script, "t2m:detector=logitdiff", 4, 4, 0);
    step(&r);
    step(&r);
    assert_int_equal(r.st->n_remasks, 0);
    step(&r);
    assert_int_equal(r.st->n_remasks, 1);
    assert_true(r.st->pos[2].events & DLM_EVENT_REMASK);
    rig_free(&r);
}

static void test_t2m_t2t_remask_detector(void **state) {
    // t2t-remask: remask where T2T would have edited (c > 0.9 and a different argmax).
    rig r = rig_new(t2t_script, "t2m:detector=t2t-remask,tau_remask=0.55", 4, 4, 0);
    step(&r);
    step(&r); // position 2: argmax 5 at 0.6 > 0.55, differs from 3: remasked, not replaced
    assert_true(r.st->pos[2].events & DLM_EVENT_REMASK);
    ASSERT_GEN(&r, "15 7 15 15");
    rig_free(&r);
}

// ---- EOS ---------------------------------------------------------------------------------------

static void eos_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    peak(probs, V, pos == 4 ? EOS : 7, 0.95);
}

static void test_eos_stop(void **state) {
    rig r = rig_new(eos_script, "t2t", 8, 4, 0);
    step(&r); // block 0 filled with EOS at position 4: the next iteration would be mask-free and
              // EOS is present, so (T2M fork semantics) generation stops without post-refinement
    assert_true(r.st->done);
    assert_int_equal(dlm_session_steps_done(r.s), 1);
    ASSERT_GEN(&r, "7 7 14 7 15 15 15 15");
    int n;
    int32_t *out = dlm_session_output(r.s, &n);
    assert_int_equal(n, 2); // cut at EOS
    free(out);
    rig_free(&r);
    r = rig_new(eos_script, "t2t:eos_stop=0", 8, 4, 0);
    while (!dlm_session_done(r.s)) step(&r);
    ASSERT_GEN(&r, "7 7 14 7 7 7 7 7");
    rig_free(&r);
}

// ---- evotoken ----------------------------------------------------------------------------------

static void evo_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    switch (call) {
    case 0:
        if (pos == 2) peak2(probs, V, 3, 0.6, 4, 0.3);
        else if (pos == 3) peak2(probs, V, 5, 0.5, 6, 0.2);
        else peak(probs, V, 7, 0.4);
        break;
    case 1:
        if (pos == 2) peak(probs, V, 8, 0.9); // more confident than at transfer (0.6): replaces 3
        else if (pos == 3) peak(probs, V, 5, 0.7);
        else peak(probs, V, 7, 0.4);
        break;
    case 2: peak(probs, V, pos == 4 ? 9 : 7, pos == 4 ? 0.8 : 0.3); break;
    default: peak(probs, V, pos == 4 ? 10 : 11, 0.5); break; // 10 at 0.5 < 0.8: position 4 keeps 9
    }
}

static void test_evotoken_states(void **state) {
    rig r = rig_new(evo_script, "evotoken:temperature=0,k_soft=2,alpha=0.5", 4, 2, 4);
    scripted_impl *sc = r.be->impl;
    step(&r); // first forward: hard inputs
    assert_int_equal(sc->last_soft_k, 0);
    ASSERT_GEN(&r, "3 15 15 15");
    assert_int_equal(r.st->pos[2].state, DLM_POS_SOFT);
    assert_int_equal(r.st->pos[2].events & (DLM_EVENT_COMMIT | DLM_EVENT_TRANSITION), DLM_EVENT_COMMIT | DLM_EVENT_TRANSITION);
    assert_int_equal(r.st->pos[3].state, DLM_POS_SOFT_MASK);
    assert_int_equal(r.st->pos[5].state, DLM_POS_SOFT_MASK); // future blocks are soft masks too
    assert_true(r.st->pos[3].events & DLM_EVENT_TRANSITION);
    assert_true(fabsf(r.st->pos[2].hist_conf - 0.6f) < 1e-6f);

    step(&r); // soft inputs: masks mix alpha [MASK] with their top-k; decoded: top-k only
    assert_int_equal(sc->last_soft_k, 3);
    const int32_t *ids3 = sc->last_soft_ids + 3 * 3;
    const float *w3 = sc->last_soft_w + 3 * 3;
    assert_int_equal(ids3[0], 5);
    assert_int_equal(ids3[1], 6);
    assert_int_equal(ids3[2], MASK);
    // S = 0.7, own weight 0.7 * 0.5 / 0.5 = 0.7: [0.5, 0.2, 0.7] / 1.4, rounded to bf16
    assert_true(fabsf(w3[0] - 0.357f) < 2e-3f && fabsf(w3[1] - 0.143f) < 2e-3f && fabsf(w3[2] - 0.5f) < 2e-3f);
    const float *w2 = sc->last_soft_w + 2 * 3;
    assert_true(fabsf(w2[0] - 0.6667f) < 3e-3f && fabsf(w2[1] - 0.3333f) < 3e-3f && w2[2] == 0.0f);
    assert_true(sc->last_soft_w[0 * 3 + 2] == 1.0f); // prompt: one-hot on its own token
    assert_int_equal(r.st->pos[3].n_soft, 3);         // the snapshot shows the mixture fed
    ASSERT_GEN(&r, "8 5 15 15");                       // 3 -> 8 (historical best), 5 transferred
    assert_true(r.st->pos[2].events & DLM_EVENT_EDIT);
    assert_true(r.st->pos[2].events & DLM_EVENT_FINALIZE);
    assert_int_equal(r.st->n_finalized, 2);
    assert_int_equal(r.st->pos[2].state, DLM_POS_SOFT); // one-step lag: still soft next forward

    step(&r); // block 1; block 0 still fed soft in this forward
    assert_true(sc->last_soft_w[2 * 3 + 2] < 1.0f);
    assert_int_equal(r.st->pos[2].state, DLM_POS_DECODED);
    assert_true(r.st->pos[2].events & DLM_EVENT_TRANSITION);
    ASSERT_GEN(&r, "8 5 9 15");

    step(&r); // now block 0 is hard; 10 at 0.5 does not beat 9 at 0.8
    assert_true(sc->last_soft_w[2 * 3 + 2] == 1.0f);
    ASSERT_GEN(&r, "8 5 9 11");
    assert_true(r.st->done);
    rig_free(&r);
}

// ---- interventions ---------------------------------------------------------------------------------

static dlm_status intervene(rig *r, dlm_intervention_kind kind, int pos, int end, int32_t token) {
    dlm_intervention iv = {.kind = (uint8_t)kind, .pos = pos, .end = end, .token = token};
    return dlm_session_intervene(r->s, &iv);
}
#define INTERVENE(r, kind, pos, end, token) assert_int_equal(intervene(r, kind, pos, end, token), DLM_STATUS_OK)

// Position 3 is confidently something else (6 at 0.95); the rest confidently 4.
static void disagree_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    peak(probs, V, pos == 3 ? 6 : 4, pos == 3 ? 0.95 : 0.9);
}

// Every rule: a token forced and pinned before the first step is committed from then on (never
// re-committed, edited, replaced or remasked), even where the model confidently wants another.
static void test_forced_pinned_every_rule(void **state) {
    for (int k = 0; k < DLM_RULE_COUNT; k++) {
        const char *name = dlm_rule_name(k);
        bool steps = dlm_param_applies(DLM_PARAM_steps, k);
        rig r = rig_new(disagree_script, name, 4, 4, steps ? 4 : 0);
        INTERVENE(&r, DLM_IV_FORCE, 3, 4, 9);
        INTERVENE(&r, DLM_IV_PIN, 3, 4, -1);
        int n = 0, commits = 0;
        while (!dlm_session_done(r.s)) {
            step(&r);
            if (r.st->pos[3].events & ~DLM_EVENT_FINALIZE) fail_msg("%s: step %d touched the pinned position (events %u)", name, n, r.st->pos[3].events);
            if (!r.st->pos[3].pinned || r.st->pos[3].token != 9) fail_msg("%s: step %d: position 3 holds %d, pinned %d", name, n, r.st->pos[3].token, r.st->pos[3].pinned);
            assert_int_equal(r.st->n_interventions, n == 0 ? 2 : 0);
            assert_int_equal(r.st->pos[3].intervened, n == 0 ? (1 << DLM_IV_FORCE | 1 << DLM_IV_PIN) : 0);
            commits += r.st->n_commits;
            assert_true(++n < 32);
        }
        assert_int_equal(commits, 3); // the other three, once each
        rig_free(&r);
    }
}

// Every rule: a committed token remasked after the first step is a mask before the next forward
// and is filled again before the block ends (the flat script makes every rule commit one token
// or a few per step, so the first step leaves masks and the block running).
static void test_remask_every_rule(void **state) {
    for (int k = 0; k < DLM_RULE_COUNT; k++) {
        const char *name = dlm_rule_name(k);
        bool steps = dlm_param_applies(DLM_PARAM_steps, k);
        rig r = rig_new(flat, name, 4, 4, steps ? 4 : 0);
        step(&r);
        int p = -1;
        for (int i = 2; i < 6 && p < 0; i++)
            if (dlm_session_tokens(r.s)[i] != MASK) p = i;
        if (p < 0 || dlm_session_done(r.s)) fail_msg("%s: the first step committed nothing or finished", name);
        INTERVENE(&r, DLM_IV_REMASK, p, p + 1, -1);
        assert_int_equal(dlm_session_tokens(r.s)[p], MASK);
        bool refilled = false;
        for (int n = 0; !dlm_session_done(r.s); n++) {
            assert_true(n < 32);
            step(&r);
            if (n == 0) {
                assert_int_equal(r.st->pos[p].prev_token, MASK); // the forward saw the mask
                assert_int_equal(r.st->pos[p].intervened, 1 << DLM_IV_REMASK);
            }
            refilled |= (r.st->pos[p].events & DLM_EVENT_COMMIT) != 0;
        }
        if (!refilled || strstr(gen_tokens(&r), "15")) fail_msg("%s: remasked position %d not filled again: %s", name, p, gen_tokens(&r));
        rig_free(&r);
    }
}

// Forced but not pinned: a committed token like any other, so T2T edits it and T2M remasks it.
static void test_forced_is_committed(void **state) {
    rig r = rig_new(disagree_script, "t2t", 4, 4, 0);
    INTERVENE(&r, DLM_IV_FORCE, 3, 4, 9);
    step(&r);
    ASSERT_GEN(&r, "4 6 4 4"); // the fill and the edit of the forced token, in one step
    assert_true(r.st->pos[3].events & DLM_EVENT_EDIT);
    assert_int_equal(r.st->pos[3].prev_token, 9);
    assert_int_equal(r.st->n_commits, 3);
    rig_free(&r);
    r = rig_new(disagree_script, "t2m", 4, 4, 0);
    INTERVENE(&r, DLM_IV_FORCE, 3, 4, 9);
    step(&r);
    ASSERT_GEN(&r, "4 15 4 4"); // LowProb: p(9) is tiny
    assert_true(r.st->pos[3].events & DLM_EVENT_REMASK);
    rig_free(&r);
}

// The stuck token of test_stuck_set_t2t_silent_t2m_remasks, pinned: T2M leaves it; unpinned, it goes.
static void test_pinned_never_remasked_by_t2m(void **state) {
    rig r = rig_new(stuck_script, "t2m", 4, 4, 0);
    step(&r);
    ASSERT_GEN(&r, "4 4 4 4");
    INTERVENE(&r, DLM_IV_PIN, 3, 4, -1);
    step(&r);
    ASSERT_GEN(&r, "4 4 4 4");
    assert_int_equal(r.st->n_remasks, 0);
    assert_true(r.st->pos[3].pinned);
    rig_free(&r);
    r = rig_new(stuck_script, "t2m", 4, 4, 0);
    step(&r);
    INTERVENE(&r, DLM_IV_PIN, 2, 6, -1);
    INTERVENE(&r, DLM_IV_UNPIN, 3, 4, -1);
    step(&r);
    ASSERT_GEN(&r, "4 15 4 4");
    assert_true(r.st->pos[2].pinned && !r.st->pos[3].pinned);
    assert_int_equal(r.st->pos[3].intervened, 1 << DLM_IV_PIN | 1 << DLM_IV_UNPIN);
    rig_free(&r);
}

// T2T's edit of position 2 (3 -> 5 at 0.6) does not happen when it is pinned.
static void test_pinned_never_edited_by_t2t(void **state) {
    rig r = rig_new(t2t_script, "t2t", 4, 4, 0);
    step(&r);
    ASSERT_GEN(&r, "3 15 15 15");
    INTERVENE(&r, DLM_IV_PIN, 2, 3, -1);
    step(&r);
    ASSERT_GEN(&r, "3 7 15 15");
    assert_int_equal(r.st->n_edits, 0);
    assert_int_equal(r.st->pos[2].events, 0);
    rig_free(&r);
}

// EvoToken: a pinned token is fed hard and never replaced by a more confident candidate.
static void test_pinned_evotoken(void **state) {
    rig r = rig_new(evo_script, "evotoken:temperature=0,k_soft=2,alpha=0.5", 4, 2, 4);
    scripted_impl *sc = r.be->impl;
    step(&r);
    ASSERT_GEN(&r, "3 15 15 15");
    INTERVENE(&r, DLM_IV_PIN, 2, 3, -1);
    step(&r);
    assert_true(sc->last_soft_w[2 * 3 + 2] == 1.0f && sc->last_soft_ids[2 * 3 + 2] == 3); // [Decode]: itself
    ASSERT_GEN(&r, "3 5 15 15");                  // no historical-best replacement (8 at 0.9)
    assert_int_equal(r.st->pos[2].state, DLM_POS_DECODED);
    rig_free(&r);
}

// Remasking a position of the current block: the next step predicts it again, on a schedule that
// restarts (LLaDA: the block's masks counted again over its steps).
static void test_remask_restarts_schedule(void **state) {
    rig r = rig_new(t2t_script, "t2t", 4, 4, 0);
    step(&r);
    INTERVENE(&r, DLM_IV_REMASK, 2, 3, -1);
    ASSERT_GEN(&r, "15 15 15 15");
    step(&r); // call 1: position 2 at 0.6 < tau 0.7 stays masked; 3 fills
    ASSERT_GEN(&r, "15 7 15 15");
    assert_int_equal(r.st->pos[2].intervened, 1 << DLM_IV_REMASK);
    assert_int_equal(r.st->pos[2].state, DLM_POS_MASK);
    assert_int_equal(r.st->step_in_block, 0); // restarted
    rig_free(&r);
    r = rig_new(falling, "llada", 4, 4, 4);
    step(&r), step(&r), step(&r);
    INTERVENE(&r, DLM_IV_REMASK, 2, 6, -1);
    int n = 0;
    while (!dlm_session_done(r.s)) step(&r), n++;
    assert_int_equal(n, 4); // four masks over a fresh four-step schedule
    assert_true(strstr(gen_tokens(&r), "15") == NULL);
    rig_free(&r);
}

static void test_intervention_errors(void **state) {
    rig r = rig_new(disagree_script, "t2t", 8, 4, 0);
    step(&r);
    ASSERT_GEN(&r, "4 6 4 4 15 15 15 15");
    struct {
        dlm_intervention_kind kind;
        int pos, end, token;
        const char *msg;
    } bad[] = {
        {DLM_IV_FORCE, 1, 2, 4, "outside the generation region"},
        {DLM_IV_FORCE, 9, 11, 4, "outside the generation region"},
        {DLM_IV_FORCE, 3, 5, 4, "one position at a time"},
        {DLM_IV_FORCE, 3, 4, MASK, "remask the position"},
        {DLM_IV_FORCE, 3, 4, V, "outside the vocabulary"},
        {DLM_IV_PIN, 5, 7, -1, "position 6 is masked"},
        {DLM_IV_REMASK, 5, 4, -1, "outside the generation region"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(intervene(&r, bad[i].kind, bad[i].pos, bad[i].end, bad[i].token), DLM_STATUS_ARG);
        if (!strstr(dlm_error_message(), bad[i].msg)) fail_msg("case %zu: '%s' lacks '%s'", i, dlm_error_message(), bad[i].msg);
    }
    ASSERT_GEN(&r, "4 6 4 4 15 15 15 15"); // nothing changed
    INTERVENE(&r, DLM_IV_PIN, 2, 3, -1);
    assert_int_equal(intervene(&r, DLM_IV_REMASK, 2, 4, -1), DLM_STATUS_ARG);
    assert_non_null(strstr(dlm_error_message(), "position 2 is pinned"));
    step(&r); // mask-free and nothing to edit: block 0 ends
    assert_int_equal(dlm_session_tokens(r.s)[6], MASK);
    // block 0 is finished: its positions can no longer be remasked, but still forced
    INTERVENE(&r, DLM_IV_UNPIN, 2, 3, -1);
    assert_int_equal(intervene(&r, DLM_IV_REMASK, 2, 3, -1), DLM_STATUS_ARG);
    assert_non_null(strstr(dlm_error_message(), "finished block"));
    INTERVENE(&r, DLM_IV_FORCE, 2, 3, 11);
    for (int n = 0; !dlm_session_done(r.s); n++) {
        assert_true(n < 16);
        step(&r);
    }
    ASSERT_GEN(&r, "11 6 4 4 4 4 4 4");
    assert_int_equal(intervene(&r, DLM_IV_FORCE, 2, 3, 4), DLM_STATUS_ARG);
    assert_non_null(strstr(dlm_error_message(), "generation is finished"));
    rig_free(&r);
}

// ---- margin ---------------------------------------------------------------------------------------

// Position 2: p1 0.6 but a close second (margin 0.2); position 3: p1 0.5, far ahead (margin 0.275).
// llada commits position 2 first, margin position 3.
static void margin_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    for (int v = 0; v < V; v++) probs[v] = 0;
    if (pos == 2) probs[3] = 0.6, probs[4] = 0.4;
    else if (pos == 3) probs[5] = 0.5, probs[6] = 0.05, probs[7] = 0.45 / 2, probs[8] = 0.45 / 2 - 0.0001, probs[9] = 0.0001;
    else peak(probs, V, 10, 0.3);
}

static void test_margin_ordering(void **state) {
    rig r = rig_new(margin_script, "llada", 2, 2, 2);
    step(&r);
    ASSERT_GEN(&r, "3 15");
    rig_free(&r);
    r = rig_new(margin_script, "margin", 2, 2, 2);
    step(&r);
    ASSERT_GEN(&r, "15 5");
    step(&r);
    ASSERT_GEN(&r, "3 5");
    assert_true(r.st->done);
    rig_free(&r);
}

// ---- fdllm2 (Fast-dLLM v2) --------------------------------------------------------------------------

// Position p predicts token p; the second sub-block is confident from the start.
static void fdllm2_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    static const double conf[8] = {0.2, 0.95, 0.85, 0.5, 0.99, 0.99, 0.99, 0.99};
    peak(probs, V, pos, conf[pos - 2]);
}

static void test_fdllm2_sub_blocks(void **state) {
    rig r = rig_new(fdllm2_script, "fdllm2:sub_block=4", 8, 8, 0);
    step(&r); // the block's first position alone, whatever its confidence (generate()'s argmax token)
    assert_int_equal(r.st->n_commits, 1);
    ASSERT_GEN(&r, "2 15 15 15 15 15 15 15");
    step(&r); // first sub-block: 0.95 > 0.9; 0.85 is not; the second sub-block waits at 0.99
    assert_int_equal(r.st->n_commits, 1);
    ASSERT_GEN(&r, "2 3 15 15 15 15 15 15");
    step(&r); // none above tau: the most probable mask of the sub-block
    ASSERT_GEN(&r, "2 3 4 15 15 15 15 15");
    step(&r);
    ASSERT_GEN(&r, "2 3 4 5 15 15 15 15");
    step(&r); // the second sub-block at once
    assert_int_equal(r.st->n_commits, 4);
    ASSERT_GEN(&r, "2 3 4 5 6 7 8 9");
    assert_true(r.st->done);
    rig_free(&r);
}

// The stop token at position 3 with no mask before it ends generation; the masks after it stay.
static void fdllm2_stop_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    peak(probs, V, pos == 3 ? EOS : 4, pos == 3 ? 0.97 : 0.6);
}

static void test_fdllm2_stop(void **state) {
    rig r = rig_new(fdllm2_stop_script, "fdllm2:sub_block=2", 8, 8, 0);
    step(&r);
    ASSERT_GEN(&r, "4 15 15 15 15 15 15 15");
    assert_false(r.st->done);
    step(&r);
    ASSERT_GEN(&r, "4 14 15 15 15 15 15 15");
    assert_true(r.st->done && dlm_session_done(r.s));
    rig_free(&r);
    dlm_rule_config rc;
    assert_int_equal(dlm_rule_parse("fdllm2:sub_block=3", &rc), DLM_STATUS_OK);
    assert_int_equal(dlm_rule_finalize(&rc), DLM_STATUS_ARG); // 3 does not divide 32
    assert_non_null(strstr(dlm_error_message(), "sub_block=3 does not divide block=32"));
}

// ---- d2f: several blocks in flight -------------------------------------------------------------------

// P = 2, blocks of 4 at [2, 6) and [6, 10), block_add 0.25, decoded 0.5, tau 0.9, no cache (the
// scripted backend counts every pass).
static void d2f_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    const bool b0 = pos < 6;
    switch (call) {
    case 0: peak(probs, V, pos == 2 ? 3 : 4, pos == 2 ? 0.95 : 0.5); break; // one commit; block 1 opens
    case 1: peak(probs, V, b0 ? 5 : 6, 0.5); break; // nothing above tau: complete block 0 takes its best (3)
    case 2: // block 0 keeps a mask (5); block 1, complete now, fills up but waits for block 0
        if (b0) peak(probs, V, 7, pos == 4 ? 0.95 : 0.5);
        else peak(probs, V, 8, 0.95);
        break;
    default: peak(probs, V, 9, 0.95); break;
    }
}

static const char *block_states(const dlm_step *st) {
    static char buf[128];
    buf[0] = 0;
    for (int b = 0; b < st->n_block_info; b++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s%s", b ? "," : "",
                 dlm_block_state_name(st->block_info[b] & DLM_BSTATE_MASK), st->block_info[b] & DLM_BSTATE_COMPLETE ? "+" : "");
    return buf;
}

static void test_d2f_pipeline(void **state) {
    rig r = rig_new(d2f_script, "d2f:block_add=0.25,decoded=0.5,cache=none", 8, 4, 0);
    scripted_impl *sc = r.be->impl;
    step(&r);
    ASSERT_GEN(&r, "3 15 15 15 15 15 15 15");
    assert_int_equal(sc->last_n_tokens, 6); // the prompt and block 0: nothing after an open block is fed
    assert_string_equal(block_states(r.st), "active+,active"); // 1/4 decoded >= block_add: block 1 opens
    step(&r);
    ASSERT_GEN(&r, "3 5 15 15 15 15 15 15");
    assert_int_equal(sc->last_n_tokens, 10);
    assert_int_equal(r.st->block_start, 2);
    assert_int_equal(r.st->block_end, 10); // both blocks in flight
    assert_string_equal(block_states(r.st), "active+,active+"); // block 0 half decoded: block 1 complete
    step(&r);
    ASSERT_GEN(&r, "3 5 7 15 8 8 8 8");
    assert_string_equal(block_states(r.st), "active+,active+"); // filled, but an earlier block is active
    assert_false(r.st->done);
    step(&r);
    ASSERT_GEN(&r, "3 5 7 9 8 8 8 8");
    assert_string_equal(block_states(r.st), "to-cache+,to-cache+");
    assert_int_equal(r.st->n_finalized, 8);
    assert_true(r.st->done);
    rig_free(&r);
}

// EOS committed in block 0 stops new blocks; generation ends when the open ones are filled.
static void d2f_eos_script(void *ctx, int call, int pos, const int32_t *ids, int n, double *probs) {
    if (call == 0) peak(probs, V, pos == 2 ? EOS : 4, pos == 2 ? 0.95 : 0.5);
    else peak(probs, V, 3, 0.95);
}

static void test_d2f_eos(void **state) {
    rig r = rig_new(d2f_eos_script, "d2f:block_add=0.25,cache=none", 12, 4, 0);
    step(&r);
    ASSERT_GEN(&r, "14 15 15 15 15 15 15 15 15 15 15 15");
    assert_string_equal(block_states(r.st), "active+,idle,idle");
    step(&r);
    ASSERT_GEN(&r, "14 3 3 3 15 15 15 15 15 15 15 15");
    assert_true(r.st->done);
    assert_string_equal(block_states(r.st), "to-cache+,idle,idle");
    rig_free(&r);
}

// A run exported mid-way and restored continues exactly; the per-block states travel with it.
static void test_d2f_resume(void **state) {
    rig a = rig_new(d2f_script, "d2f:block_add=0.25,decoded=0.5,cache=none", 8, 4, 0);
    step(&a);
    step(&a);
    dlm_session_state saved;
    dlm_session_export(a.s, &saved);
    assert_int_equal(saved.block_info[1] & DLM_BSTATE_MASK, DLM_BSTATE_ACTIVE);
    dlm_session *s2 = dlm_session_restore(a.m, a.be, &saved, NULL, NULL);
    if (!s2) fail_msg("restore: %s", dlm_error_message());
    while (!dlm_session_done(a.s)) step(&a);
    dlm_step *st2 = dlm_step_new(dlm_session_n_tokens(s2));
    ((scripted_impl *)a.be->impl)->calls = 2; // the script by forward number: as after two steps
    while (!dlm_session_done(s2))
        if (dlm_session_step(s2, st2) != DLM_STATUS_OK) fail_msg("%s", dlm_error_message());
    assert_memory_equal(dlm_session_tokens(s2), dlm_session_tokens(a.s), 10 * sizeof(int32_t));
    assert_string_equal(block_states(st2), block_states(a.st));
    dlm_step_free(st2);
    dlm_session_free(s2);
    dlm_session_state_free(&saved);
    rig_free(&a);
}

static void test_d2f_errors(void **state) {
    dlm_rule_config rc;
    assert_int_equal(dlm_rule_parse("d2f:block_add=1.5", &rc), DLM_STATUS_ARG);
    assert_non_null(strstr(dlm_error_message(), "block_add=1.5"));
    assert_int_equal(dlm_rule_parse("d2f:decoded=-0.1", &rc), DLM_STATUS_ARG);
    assert_int_equal(dlm_rule_parse("d2f:cache=dual", &rc), DLM_STATUS_OK);
    assert_int_equal(dlm_rule_finalize(&rc), DLM_STATUS_ARG);
    assert_non_null(strstr(dlm_error_message(), "does not support cache=dual"));
    assert_int_equal(dlm_rule_parse("d2f:sub_block=4", &rc), DLM_STATUS_ARG); // fdllm2's, not d2f's
    assert_int_equal(dlm_rule_parse("d2f:gen=36", &rc), DLM_STATUS_OK);
    assert_int_equal(dlm_rule_finalize(&rc), DLM_STATUS_ARG); // 36 is not a multiple of 32
    // The defaults: the official demo's.
    dlm_rule_defaults(DLM_RULE_D2F, &rc);
    assert_true(rc.block == 32 && rc.tau == 0.9 && rc.block_add == 0.1 && rc.decoded == 0.55);
    assert_int_equal(rc.cache, DLM_RULE_CACHE_PREFIX);
    // A model that is already block-causal (LLaDA2, SDAR) keeps its own mask: refused.
    dlm_model *m = scripted_model(V);
    dlm_backend *be = scripted_backend(m, d2f_script, NULL);
    assert_int_equal(dlm_rule_parse("d2f:block=4,gen=8", &rc), DLM_STATUS_OK);
    dlm_session_opts o = {.block_causal = 4};
    assert_null(dlm_session_new(m, be, PROMPT, 2, &rc, &o));
    assert_non_null(strstr(dlm_error_message(), "brings its own attention mask"));
    dlm_backend_free(be);
    dlm_model_free(m);
}

// ---- the operations tables -------------------------------------------------------------------------

// Every rule fills every operation (the session calls them unconditionally), names itself as the
// registry does, and its parameter and state tables are consistent. Fails for a rule file that
// misses an entry.
static void test_rule_tables_complete(void **state) {
    for (int k = 0; k < DLM_RULE_COUNT; k++) {
        const dlm_rule_ops *o = dlm_rule_ops_of(k);
        assert_non_null(o);
        const char *n = o->name ? o->name : "(unnamed)";
        if (!o->name || !o->help || !o->finalize || !o->stuck_tau || !o->describe || !o->forward || !o->block_begin ||
            !o->step || !o->block_end || !o->pos_state)
            fail_msg("rule %s: an operation is missing", n);
        if (o->n_params < 0 || (o->n_params > 0 && !o->params)) fail_msg("rule %s: parameter table", n);
        if (o->n_state_cols < 0 || (o->n_state_cols > 0 && !o->state_cols)) fail_msg("rule %s: state table", n);
        if (!(o->cache_modes & DLM_CACHE_BIT(NONE))) fail_msg("rule %s: must run without a cache", n);
        assert_int_equal(dlm_rule_find(o->name), k);
        for (int i = 0; i < o->n_params; i++)
            if ((unsigned)o->params[i].id >= DLM_PARAM_COUNT) fail_msg("rule %s: parameter %d", n, i);
        for (int i = 0; i < o->n_state_cols; i++)
            if (!o->state_cols[i].name || o->state_cols[i].offset + sizeof(void *) > sizeof(dlm_session_state))
                fail_msg("rule %s: state column %d", n, i);
        // Its defaults finalize, describe themselves and format to a spec that parses back.
        dlm_rule_config rc, back;
        dlm_rule_defaults(k, &rc);
        if (dlm_rule_finalize(&rc) != DLM_STATUS_OK) fail_msg("rule %s: defaults: %s", n, dlm_error_message());
        char spec[512], spec2[512], label[128];
        dlm_rule_describe(&rc, true, label, sizeof label);
        if (strncmp(label, o->name, strlen(o->name)) != 0) fail_msg("rule %s: describe says '%s'", n, label);
        dlm_rule_format(&rc, spec, sizeof spec);
        if (dlm_rule_parse(spec, &back) != DLM_STATUS_OK || dlm_rule_finalize(&back) != DLM_STATUS_OK)
            fail_msg("rule %s: '%s' does not parse back: %s", n, spec, dlm_error_message());
        dlm_rule_format(&back, spec2, sizeof spec2);
        assert_string_equal(spec, spec2);
    }
}

// ---- bad configurations --------------------------------------------------------------------------

static void test_rule_errors(void **state) {
    dlm_rule_config rc;
    struct {
        const char *spec, *needle;
    } cases[] = {
        {"nope", "unknown rule 'nope'"},
        {"t2m:alpha=0.5", "rule t2m has no parameter 'alpha'"},
        {"evotoken:alpha=1", "alpha=1: expected a number in [0, 1)"},
        {"evotoken:alpha=-0.1", "alpha=-0.1"},
        {"t2m:tau_remask=1.5", "tau_remask=1.5: expected a number in [0, 1]"},
        {"t2m:detector=psychic", "detector=psychic: expected one of lowprob, t2t-remask, logitdiff"},
        {"llada:steps", "'steps' is not key=value"},
        {"llada:steps=0", "steps=0"},
        {"threshold:tau=x", "tau=x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (dlm_rule_parse(cases[i].spec, &rc) == DLM_STATUS_OK) fail_msg("'%s' parsed", cases[i].spec);
        if (!strstr(dlm_error_message(), cases[i].needle)) fail_msg("'%s': %s", cases[i].spec, dlm_error_message());
    }
    assert_int_equal(dlm_rule_parse("llada:gen=100,block=32", &rc), DLM_STATUS_OK);
    assert_int_equal(dlm_rule_finalize(&rc), DLM_STATUS_ARG);
    assert_non_null(strstr(dlm_error_message(), "gen 100 is not a multiple of block 32"));
    assert_int_equal(dlm_rule_parse("llada:gen=128,block=32,steps=30", &rc), DLM_STATUS_OK);
    assert_int_equal(dlm_rule_finalize(&rc), DLM_STATUS_ARG);
    assert_non_null(strstr(dlm_error_message(), "steps 30 is not a multiple of the 4 blocks"));
    assert_int_equal(dlm_rule_parse("llada:cache=official-block", &rc), DLM_STATUS_OK); // the T2M loop's cache only
    assert_int_equal(dlm_rule_finalize(&rc), DLM_STATUS_ARG);
    assert_non_null(strstr(dlm_error_message(), "rule llada does not support cache=official-block"));
    assert_int_equal(dlm_rule_parse("threshold:fastdllm_nfe=1", &rc), DLM_STATUS_OK); // only cached loops differ
    assert_int_equal(dlm_rule_finalize(&rc), DLM_STATUS_ARG);
    assert_non_null(strstr(dlm_error_message(), "fastdllm_nfe=1 needs cache=prefix or cache=dual"));
    // Presets and derived defaults, unless set explicitly.
    assert_int_equal(dlm_rule_parse("t2t:mode=s", &rc), DLM_STATUS_OK);
    dlm_rule_finalize(&rc);
    assert_true(rc.tau == 0.5 && rc.tau_edit == 0.0);
    assert_int_equal(dlm_rule_parse("t2m:detector=t2t-remask", &rc), DLM_STATUS_OK);
    dlm_rule_finalize(&rc);
    assert_true(rc.tau_remask == 0.9);
    assert_int_equal(dlm_rule_parse("evotoken:gen=64,block=32", &rc), DLM_STATUS_OK);
    dlm_rule_finalize(&rc);
    assert_int_equal(rc.steps, 32);
    assert_true(rc.temperature == 0.5);
    char buf[512];
    dlm_rule_format(&rc, buf, sizeof buf);
    dlm_rule_config back;
    assert_int_equal(dlm_rule_parse(buf, &back), DLM_STATUS_OK); // the canonical form parses back
    dlm_rule_finalize(&back);
    char buf2[512];
    dlm_rule_format(&back, buf2, sizeof buf2);
    assert_string_equal(buf, buf2);

    // Sessions reject empty and over-long prompts.
    dlm_model *m = scripted_model(V);
    dlm_backend *be = scripted_backend(m, flat, NULL);
    dlm_rule_parse("llada", &rc);
    assert_null(dlm_session_new(m, be, PROMPT, 0, &rc, NULL));
    assert_non_null(strstr(dlm_error_message(), "prompt is empty"));
    m->cfg.max_seq_len = 64;
    assert_null(dlm_session_new(m, be, PROMPT, 2, &rc, NULL));
    assert_non_null(strstr(dlm_error_message(), "more than the model's 64"));
    int32_t bad[2] = {1, 99};
    assert_null(dlm_session_new(m, be, bad, 2, &rc, NULL));
    assert_non_null(strstr(dlm_error_message(), "prompt token 99"));
    dlm_backend_free(be);
    dlm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llada_schedule_remainder),
        cmocka_unit_test(test_llada_ties_and_blocks),
        cmocka_unit_test(test_threshold_always_top1),
        cmocka_unit_test(test_threshold_factor),
        cmocka_unit_test(test_t2t_edit),
        cmocka_unit_test(test_stuck_set_t2t_silent_t2m_remasks),
        cmocka_unit_test(test_t2m_cmax),
        cmocka_unit_test(test_t2m_rho_cap),
        cmocka_unit_test(test_t2m_logitdiff_abstains_first),
        cmocka_unit_test(test_t2m_t2t_remask_detector),
        cmocka_unit_test(test_eos_stop),
        cmocka_unit_test(test_evotoken_states),
        cmocka_unit_test(test_rule_errors),
        cmocka_unit_test(test_margin_ordering),
        cmocka_unit_test(test_fdllm2_sub_blocks),
        cmocka_unit_test(test_fdllm2_stop),
        cmocka_unit_test(test_d2f_pipeline),
        cmocka_unit_test(test_d2f_eos),
        cmocka_unit_test(test_d2f_resume),
        cmocka_unit_test(test_d2f_errors),
        cmocka_unit_test(test_forced_pinned_every_rule),
        cmocka_unit_test(test_forced_is_committed),
        cmocka_unit_test(test_remask_every_rule),
        cmocka_unit_test(test_pinned_never_remasked_by_t2m),
        cmocka_unit_test(test_pinned_never_edited_by_t2t),
        cmocka_unit_test(test_pinned_evotoken),
        cmocka_unit_test(test_remask_restarts_schedule),
        cmocka_unit_test(test_intervention_errors),
        cmocka_unit_test(test_rule_tables_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
