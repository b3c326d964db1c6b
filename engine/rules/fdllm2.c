// fdllm2.c — Fast-dLLM v2's decoding loop (Fast_dLLM_QwenForCausalLM.generate in the checkpoints'
// modeling.py; docs/rules.md): blocks of 32 decoded left to right, each in sub-blocks of 8 taken in
// order. A step works on the first sub-block that still holds a mask: it commits every mask there
// whose greedy token has p > tau, and always the single most probable one. The first position of
// a block that does not share the prompt's block is decoded alone, greedily, from the previous
// row: generate() takes it as argmax(logits[:, -1]) of the forward that writes the finished block
// (or the prompt) to the cache. Generation stops once a stop token has no mask before it.
#include <stdio.h>

#include "rule.h"

static const dlm_rule_param params[] = {
    {DLM_PARAM_tau, 0.9}, // v2/run_chatbot.py and the model cards (generate() itself defaults to 1)
    {DLM_PARAM_sub_block, 8},
    {DLM_PARAM_block, 32},
    {DLM_PARAM_cache, DLM_RULE_CACHE_PREFIX}, // generate() always keeps the finished blocks' K/V
};

static dlm_status finalize(dlm_rule_config *rc) {
    if (rc->sub_block < rc->block && rc->block % rc->sub_block != 0) // a longer one is the whole block
        return dlm_error(DLM_STATUS_ARG, "rule fdllm2: sub_block=%d does not divide block=%d (generate() would never "
                                         "decode the remainder)", rc->sub_block, rc->block);
    return DLM_STATUS_OK;
}

static void describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n) {
    dlm_rule_appendf(buf, n, "fdllm2 %s%g sub %d", unicode ? "τ" : "tau", rc->tau, rc->sub_block);
}

// A real checkpoint never predicts its mask token; a random one may, and generate() would then
// commit the mask and loop forever. The mask is therefore never committed here.
static void forward(const dlm_rule_config *rc, dlm_rule_forward *f) {
    dlm_rule_forward_plain(rc, f);
    f->sample_no_mask = true;
    f->min_top_k = 2; // the argmax other than the mask
}

static bool step(dlm_rule_ctx *c) {
    const int bs = c->block_start;
    if (c->first_gen == bs && bs > 0 && c->x_old[bs] == c->mask_id) { // the autoregressive first token
        const dlm_row_summary *r = &c->sum[c->row_of[bs]];
        const int32_t argmax = r->top_id[0] != c->mask_id || r->n_top < 2 ? r->top_id[0] : r->top_id[1];
        dlm_rule_set_token(c, bs, argmax, DLM_EVENT_COMMIT); // the argmax at any temperature, as generate()
        return false;
    }
    // Sub-blocks are aligned to the block start, so in the prompt's block they may be part prompt.
    for (int s0 = bs; s0 < c->block_end; s0 += c->rc->sub_block) {
        const int s1 = s0 + c->rc->sub_block < c->block_end ? s0 + c->rc->sub_block : c->block_end;
        int best = -1;
        for (int i = s0 > c->first_gen ? s0 : c->first_gen; i < s1; i++) {
            if (c->x_old[i] != c->mask_id) continue;
            const double p = c->sum[c->row_of[i]].p_token;
            if (p > c->rc->tau) dlm_rule_set_token(c, i, c->sum[c->row_of[i]].token, DLM_EVENT_COMMIT);
            if (best < 0 || p > c->sum[c->row_of[best]].p_token) best = i; // ties: the lowest position (argmax)
        }
        if (best >= 0) {
            dlm_rule_set_token(c, best, c->sum[c->row_of[best]].token, DLM_EVENT_COMMIT);
            return false;
        }
    }
    return false;
}

// generate() checks, before every forward, whether the text holds a stop token with no mask
// before it (then generation ends, masks after it stay), else whether the block is filled.
static dlm_block_verdict block_end(dlm_rule_ctx *c, bool converged) {
    const int from = c->st->prompt_len;
    if (c->eos_id >= 0)
        for (int i = from; i < c->block_end; i++) {
            if (c->st->tokens[i] == c->mask_id) break;
            if (c->st->tokens[i] == c->eos_id) return DLM_BLOCK_STOP;
        }
    return dlm_rule_count_masks(c, c->first_gen, c->block_end) > 0 ? DLM_BLOCK_CONTINUE : DLM_BLOCK_END;
}

const dlm_rule_ops dlm_rule_fdllm2_ops = {
    .name = "fdllm2",
    .help = "Fast-dLLM v2: sub-blocks in order, commit p > tau and the top mask; a block's first token autoregressively",
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
    .pos_state = dlm_rule_pos_state_hard,
};
