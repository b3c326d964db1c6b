// llada.c — LLaDA low-confidence remasking (research notes §2, ML-GSAI/LLaDA generate.py): a fixed
// number of steps per block; each commits the masked positions with the highest confidence (or
// random ones), as many as the LLaDA schedule gives that step.
#include <stdio.h>

#include "engine/rng.h"
#include "rule.h"

static const dlm_rule_param params[] = {
    {DLM_PARAM_steps, 0}, // 0: gen, one token per step (the LLaDA authors' best setting)
    {DLM_PARAM_remasking, DLM_REMASK_LOW_CONFIDENCE},
};

static void describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n) {
    dlm_rule_appendf(buf, n, "llada %s steps %d", rc->remasking == DLM_REMASK_RANDOM ? "random" : "low-conf", rc->steps);
}

// remasking=random: a uniform draw per (step, position) instead of the confidence.
static double random_conf(const dlm_rule_ctx *c, int pos) {
    return dlm_rng_uniform(c->rc->seed, (uint64_t)c->st->step, (uint64_t)pos, (uint64_t)c->n_vocab);
}

static bool step(dlm_rule_ctx *c) {
    int n = dlm_rule_rank_masks(c, c->rc->remasking == DLM_REMASK_RANDOM ? random_conf : NULL);
    dlm_rule_commit_top(c, dlm_rule_transfer_count(c), n);
    return false;
}

const dlm_rule_ops dlm_rule_llada_ops = {
    .name = "llada",
    .help = "LLaDA low-confidence remasking: fixed steps per block, commit the most confident masks",
    .params = params,
    .n_params = DLM_COUNT_OF(params),
    .cache_modes = DLM_FAST_DLLM_CACHES,
    .finalize = dlm_rule_finalize_none,
    .stuck_tau = dlm_rule_stuck_tau_default,
    .describe = describe,
    .forward = dlm_rule_forward_plain,
    .block_begin = dlm_rule_block_begin_none,
    .step = step,
    .block_end = dlm_rule_end_after_spb,
    .pos_state = dlm_rule_pos_state_hard,
};
