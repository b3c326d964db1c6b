// margin.c — margin ordering: LLaDA's schedule (fixed steps per block, the same number of commits
// per step) with the masked positions ranked by the margin between their two most probable tokens,
// p1 - p2, instead of p1. This is the "topk_margin" confidence of Dream's sampler
// (generation_utils.py::sample_tokens, research notes §1.2) and of Kim et al.'s top-k margin, on
// the LLaDA schedule; Dream's own sampler (its step schedule, shifted logits) is a separate rule.
// The margin is taken from the noise-free softmax at every temperature (Dream uses the tempered one
// when T > 0); the committed token is the sampled one, as for llada.
#include <stdio.h>

#include "rule.h"

static const dlm_rule_param params[] = {
    {DLM_PARAM_steps, 0}, // 0: gen, one token per step
};

static void describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n) {
    dlm_rule_appendf(buf, n, "margin steps %d", rc->steps);
}

static void forward(const dlm_rule_config *rc, dlm_rule_forward *f) {
    dlm_rule_forward_plain(rc, f);
    f->min_top_k = 2; // p1 and p2
}

static bool step(dlm_rule_ctx *c) {
    int n = dlm_rule_rank_masks(c, dlm_rule_margin);
    dlm_rule_commit_top(c, dlm_rule_transfer_count(c), n);
    return false;
}

const dlm_rule_ops dlm_rule_margin_ops = {
    .name = "margin",
    .help = "margin ordering (Dream's topk_margin): LLaDA's schedule, commit the masks with the largest p1 - p2",
    .params = params,
    .n_params = DLM_COUNT_OF(params),
    .cache_modes = DLM_FAST_DLLM_CACHES,
    .finalize = dlm_rule_finalize_none,
    .stuck_tau = dlm_rule_stuck_tau_default,
    .describe = describe,
    .forward = forward,
    .block_begin = dlm_rule_block_begin_none,
    .step = step,
    .block_end = dlm_rule_end_after_spb,
    .pos_state = dlm_rule_pos_state_hard,
};
