// d2f.c — Discrete Diffusion Forcing's pipelined decoding (D2F-LLaDA; research/models.md §6,
// docs/rules.md): several blocks in flight at once under a block-causal mask whose block 0 is the
// prompt. Per generation block a state (active, to-cache, in-cache) and an is_complete flag live in
// st->block_info. Between two forwards: the first active block, once it holds no mask, goes to the
// cache (and the ones after it that are filled too, in order); then a new all-mask block opens when
// the last open one is at least block_add decoded (none after EOS, none past gen); then a block
// whose predecessor is at least `decoded` decoded becomes complete. A step commits, in every active
// block, each mask whose p > tau; a complete block with none above tau commits its most probable
// mask. The session (engine/session.c) runs the forward over the open blocks, with the finished
// ones in the exact block KV cache.
#include <stdio.h>

#include "rule.h"

static const dlm_rule_param params[] = {
    {DLM_PARAM_tau, 0.9},        // skip_threshold: the demo's default and every eval_llada.sh task's
    {DLM_PARAM_block, 32},       // the demo's block_size (eval_llada.sh: gsm8k 64, others 32)
    {DLM_PARAM_block_add, 0.1},  // the demo's block_add_threshold (gsm8k 0.7, mbpp 0.9)
    {DLM_PARAM_decoded, 0.55},   // the demo's first example (its slider says 0.5; gsm8k 0.95)
    {DLM_PARAM_cache, DLM_RULE_CACHE_PREFIX}, // the official loop always keeps finished blocks' K/V
};

static void describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n) {
    dlm_rule_appendf(buf, n, "d2f %s%g add %g dec %g", unicode ? "τ" : "tau", rc->tau, rc->block_add, rc->decoded);
}

// sample_tokens(): the argmax (or a sample) of softmax(logits / T) and its probability. A random
// checkpoint may predict its mask token, which the official loop would then "commit" while the
// position stays masked; dlmscope never commits the mask (a trained model never predicts it).
static void forward(const dlm_rule_config *rc, dlm_rule_forward *f) {
    dlm_rule_forward_plain(rc, f);
    f->sample_no_mask = true;
    f->tempered = true;
    f->pipelined = true;
}

static uint8_t state_of(const dlm_rule_ctx *c, int b) { return c->st->block_info[b] & DLM_BSTATE_MASK; }
static int start_of(const dlm_rule_ctx *c, int b) { return c->block0 + b * c->rc->block; }
static int masks_in(const dlm_rule_ctx *c, int b) { return dlm_rule_count_masks(c, start_of(c, b), start_of(c, b) + c->rc->block); }
// (total_masks - mask_count) / total_masks of the official loop; a block starts all masks.
static double decoded_fraction(const dlm_rule_ctx *c, int b) { return 1.0 - (double)masks_in(c, b) / c->rc->block; }

// A session starts (or forks into d2f) with no block open: the first step of the official loop
// opens block 1 after the prompt, complete because the prompt counts as fully decoded. Blocks a
// fork finds finished are in the cache.
static void block_begin(dlm_rule_ctx *c) {
    uint8_t *bi = c->st->block_info;
    for (int b = 0; b < c->n_blocks; b++)
        if (bi[b] != 0) return;
    for (int b = 0; b < c->st->block; b++) bi[b] = DLM_BSTATE_IN_CACHE | DLM_BSTATE_COMPLETE;
    bi[c->st->block] = DLM_BSTATE_ACTIVE | DLM_BSTATE_COMPLETE | DLM_BSTATE_FRESH;
}

static bool step(dlm_rule_ctx *c) {
    uint8_t *bi = c->st->block_info;
    for (int b = 0; b < c->n_blocks; b++) { // this forward stored the to-cache blocks
        if (state_of(c, b) == DLM_BSTATE_TO_CACHE) bi[b] = (uint8_t)((bi[b] & ~DLM_BSTATE_MASK) | DLM_BSTATE_IN_CACHE);
        bi[b] &= (uint8_t)~DLM_BSTATE_FRESH;
    }
    for (int b = c->st->block; b < c->n_blocks && state_of(c, b) == DLM_BSTATE_ACTIVE; b++) {
        const int s0 = start_of(c, b), s1 = s0 + c->rc->block;
        int best = -1, n = 0;
        for (int i = s0; i < s1; i++) {
            if (c->x_old[i] != c->mask_id || dlm_rule_pinned(c, i)) continue;
            const dlm_row_summary *r = &c->sum[c->row_of[i]];
            if (r->p_token > c->rc->tau) {
                dlm_rule_set_token(c, i, r->token, DLM_EVENT_COMMIT);
                n++;
            }
            if (best < 0 || r->p_token > c->sum[c->row_of[best]].p_token) best = i; // torch.argmax: the first
        }
        if (n == 0 && best >= 0 && (bi[b] & DLM_BSTATE_COMPLETE))
            dlm_rule_set_token(c, best, c->sum[c->row_of[best]].token, DLM_EVENT_COMMIT);
    }
    return false;
}

// Called after each step until it says CONTINUE. The first active block leaves when it holds no
// mask (the official loop's deactivation, which keeps a filled block active while an earlier one
// is); then the work the official loop does at the top of the next iteration.
static dlm_block_verdict block_end(dlm_rule_ctx *c, bool converged) {
    uint8_t *bi = c->st->block_info;
    const int cur = c->st->block;
    if (state_of(c, cur) == DLM_BSTATE_ACTIVE && masks_in(c, cur) == 0) {
        bi[cur] = (uint8_t)((bi[cur] & ~DLM_BSTATE_MASK) | DLM_BSTATE_TO_CACHE);
        return DLM_BLOCK_END;
    }
    int last = cur - 1;
    for (int b = cur; b < c->n_blocks && state_of(c, b) != DLM_BSTATE_IDLE; b++) last = b;
    const int P = c->st->prompt_len, open_end = last >= 0 ? start_of(c, last) + c->rc->block : P;
    bool fresh = last >= 0 && (bi[last] & DLM_BSTATE_FRESH); // opened at this boundary already
    if (last + 1 < c->n_blocks && !fresh && !dlm_rule_eos_in(c, P, open_end) &&
        (last < 0 || decoded_fraction(c, last) >= c->rc->block_add))
        bi[++last] = DLM_BSTATE_ACTIVE | DLM_BSTATE_FRESH;
    for (int b = 0; b <= last; b++) // the prompt (before block 0) is fully decoded
        if (b == 0 || decoded_fraction(c, b - 1) >= c->rc->decoded) bi[b] |= DLM_BSTATE_COMPLETE;
    return last < cur ? DLM_BLOCK_STOP : DLM_BLOCK_CONTINUE; // nothing in flight, none may open: EOS
}

const dlm_rule_ops dlm_rule_d2f_ops = {
    .name = "d2f",
    .help = "D2F (Discrete Diffusion Forcing): blocks in flight, each commits p > tau; a new block once the last is "
            "block_add decoded",
    .params = params,
    .n_params = DLM_COUNT_OF(params),
    .cache_modes = DLM_CACHE_BIT(NONE) | DLM_CACHE_BIT(PREFIX),
    .finalize = dlm_rule_finalize_none,
    .stuck_tau = dlm_rule_stuck_tau_default,
    .describe = describe,
    .forward = forward,
    .block_begin = block_begin,
    .step = step,
    .block_end = block_end,
    .pos_state = dlm_rule_pos_state_hard,
};
