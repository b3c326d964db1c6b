// evotoken.c — EvoToken-DLM progressive soft tokens (research notes §4.3): masks evolve through
// [MASK] -> Soft([MASK] u V) -> Soft(V) -> [Decode]; the LLaDA schedule moves the most confident
// masks to Soft(V), where a historical-best rule may still replace their token; every step ends
// by computing the soft inputs of the next forward.
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/util.h"
#include "rule.h"

static const dlm_rule_param params[] = {
    {DLM_PARAM_steps, 0},         // 0: gen / 2 (finalize), the paper's evaluation
    {DLM_PARAM_temperature, 0.5}, // EvoToken's evaluation runs at T = 0.5
    {DLM_PARAM_k_soft, 3},
    {DLM_PARAM_alpha, 0.7},
};

// The historical-best confidences (conf_x).
static const dlm_rule_state_col state_cols[] = {
    {"hist_conf", DLM_STATE_F32, offsetof(dlm_session_state, hist_conf)},
};

static dlm_status finalize(dlm_rule_config *rc) {
    if (!dlm_rule_is_set(rc, DLM_PARAM_steps)) rc->steps = rc->gen / 2 > 0 ? rc->gen / 2 : 1;
    if (!(rc->alpha >= 0 && rc->alpha < 1))
        return dlm_error(DLM_STATUS_ARG, "rule evotoken: alpha=%g: expected a number in [0, 1)", rc->alpha);
    return DLM_STATUS_OK;
}

static void describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n) {
    dlm_rule_appendf(buf, n, "evotoken %s%g k%d", unicode ? "α" : "alpha", rc->alpha, rc->k_soft);
}

static void forward(const dlm_rule_config *rc, dlm_rule_forward *f) {
    memset(f, 0, sizeof *f);
    f->soft_inputs = true;
    f->rows_to_end = true; // every masked position gets a soft input, future blocks included
    f->min_top_k = rc->k_soft;
    f->sample_no_mask = true;
    f->prob_no_mask = true; // only at T = 0: the official code aliases noised and clean logits there
}

static bool step(dlm_rule_ctx *c) {
    dlm_session_state *st = c->st;
    const dlm_rule_config *r = c->rc;
    int n = dlm_rule_rank_masks(c, NULL), k = dlm_rule_transfer_count(c);
    for (int j = 0; j < k && j < n; j++) {
        int p = c->order[j];
        const dlm_row_summary *rs = &c->sum[c->row_of[p]];
        dlm_rule_set_token(c, p, rs->token, DLM_EVENT_COMMIT);
        st->hist_conf[p] = rs->p_token;
    }
    for (int i = c->first_gen; i < c->block_end; i++) { // historical best: strictly more confident candidates replace
        const dlm_row_summary *rs = &c->sum[c->row_of[i]];
        if (st->tokens[i] == c->mask_id || rs->token == c->mask_id || dlm_rule_pinned(c, i) || !(rs->p_token > st->hist_conf[i]))
            continue;
        if (rs->token != st->tokens[i]) dlm_rule_set_token(c, i, rs->token, DLM_EVENT_EDIT);
        st->hist_conf[i] = rs->p_token;
    }
    // Next forward's inputs. Masks: alpha * e_M + (1 - alpha) * renormalised top-k mixture;
    // decoded positions of this block: the top-k mixture alone (own token weight 0); before the
    // block: the hard token. Weights are rounded to bf16 as the reference feeds them.
    int K = r->k_soft, slots = K + 1;
    if (st->soft_k != slots) {
        free(st->soft_ids);
        free(st->soft_w);
        st->soft_ids = dlm_xcalloc((size_t)st->n_tokens * slots, sizeof *st->soft_ids);
        st->soft_w = dlm_xcalloc((size_t)st->n_tokens * slots, sizeof *st->soft_w);
        st->soft_k = slots;
    }
    for (int i = 0; i < st->n_tokens; i++) {
        int32_t *ids = st->soft_ids + (size_t)i * slots;
        float *w = st->soft_w + (size_t)i * slots;
        memset(w, 0, (size_t)slots * sizeof *w);
        for (int j = 0; j < slots; j++) ids[j] = st->tokens[i];
        if (i < c->block_start || i >= c->fwd_len || c->row_of[i] < 0 || dlm_rule_pinned(c, i)) { // pinned: [Decode]
            w[K] = 1.0f;
            continue;
        }
        const dlm_row_summary *rs = &c->sum[c->row_of[i]];
        double sum = 0, wd[DLM_SOFT_MAX];
        for (int j = 0; j < K; j++) sum += rs->top_p[j];
        for (int j = 0; j < K; j++) wd[j] = rs->top_p[j], ids[j] = rs->top_id[j];
        wd[K] = st->tokens[i] == c->mask_id ? sum * r->alpha / (1.0 - r->alpha) : 0.0;
        double total = sum + wd[K];
        for (int j = 0; j < slots; j++) w[j] = dlm_bf16_to_f32(dlm_f32_to_bf16((float)(wd[j] / total)));
    }
    return false;
}

// A block ends right after the step that places its last token (the finished block is still fed
// soft in the next forward: the official one-step lag).
static dlm_block_verdict block_end(dlm_rule_ctx *c, bool converged) {
    return c->st->step_in_block > 0 && dlm_rule_count_masks(c, c->first_gen, c->block_end) == 0 ? DLM_BLOCK_END
                                                                                               : DLM_BLOCK_CONTINUE;
}

static uint8_t pos_state(const dlm_rule_ctx *c, int i) {
    const dlm_session_state *st = c->st;
    if (i < st->prompt_len) return DLM_POS_PROMPT;
    bool soft_next = st->soft_k > 0 && st->soft_w[(size_t)i * st->soft_k + st->soft_k - 1] < 1.0f;
    if (st->tokens[i] == c->mask_id) return soft_next ? DLM_POS_SOFT_MASK : DLM_POS_MASK;
    return i >= c->block_start && soft_next ? DLM_POS_SOFT : DLM_POS_DECODED;
}

const dlm_rule_ops dlm_rule_evotoken_ops = {
    .name = "evotoken",
    .help = "EvoToken-DLM: masks evolve through soft token mixtures before they are decoded",
    .params = params,
    .n_params = DLM_COUNT_OF(params),
    .cache_modes = DLM_FAST_DLLM_CACHES,
    .finalize = finalize,
    .stuck_tau = dlm_rule_stuck_tau_default,
    .describe = describe,
    .forward = forward,
    .block_begin = dlm_rule_block_begin_none,
    .step = step,
    .block_end = block_end,
    .pos_state = pos_state,
    .state_cols = state_cols,
    .n_state_cols = DLM_COUNT_OF(state_cols),
};
