// dream.c — Dream's own decoding loop (Dream-org generation_utils.py `_sample` and `sample_tokens`,
// research notes §1.2), on any family (Dream checkpoints shift their logits in the model itself).
// With t, s the step's pair from linspace(1, eps, steps + 1): `origin` unmasks each mask
// independently with probability 1 - s/t; maskgit_plus, topk_margin and entropy unmask the
// int(n_mask * (1 - s/t)) masks ranked highest by p of the sampled token, p1 - p2, or sum p log p.
// The block's last step unmasks every mask left. Ranked by softmax(logits / T), the distribution
// Dream samples from. Deviations: no top_p/top_k truncation, no alg_temp, and `origin` draws from
// dlmscope's seeded stream, not torch's. Defaults: Dream's generation_config.json (alg origin,
// eps 0.001, temperature 0), steps = gen, and one block (Dream has none; block=B gives the
// semi-autoregressive variant of dLLM's and Fast-dLLM's Dream samplers).
#include <stdio.h>

#include "engine/rng.h"
#include "rule.h"

static const dlm_rule_param params[] = {
    {DLM_PARAM_steps, 0}, // 0: gen
    {DLM_PARAM_alg, DLM_ALG_ORIGIN},
    {DLM_PARAM_eps, 1e-3},
};

static dlm_status finalize(dlm_rule_config *rc) {
    if (!dlm_rule_is_set(rc, DLM_PARAM_block)) rc->block = rc->gen; // no blocks in Dream's loop
    return DLM_STATUS_OK;
}

static void describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n) {
    char alg[32];
    dlm_param_format(rc, DLM_PARAM_alg, alg, sizeof alg); // the name from the enum table in rules.h
    dlm_rule_appendf(buf, n, "dream %s steps %d", alg, rc->steps);
}

static void forward(const dlm_rule_config *rc, dlm_rule_forward *f) {
    dlm_rule_forward_plain(rc, f);
    f->min_top_k = 2;   // topk_margin reads p1 - p2
    f->tempered = true; // Dream ranks by softmax(logits / T)
}

static double score(const dlm_rule_ctx *c, int pos) {
    const dlm_row_summary *rs = &c->sum[c->row_of[pos]];
    switch (c->rc->alg) {
    case DLM_ALG_ORIGIN: return dlm_rng_uniform(c->rc->seed, (uint64_t)c->st->step, (uint64_t)pos, (uint64_t)c->n_vocab);
    case DLM_ALG_TOPK_MARGIN: return dlm_rule_margin(c, pos);
    case DLM_ALG_ENTROPY: return -(double)rs->entropy; // sum p log p
    default: return rs->p_token;                       // maskgit_plus
    }
}

static bool step(dlm_rule_ctx *c) {
    const int i = c->st->step_in_block, spb = c->spb;
    const double eps = c->rc->eps, t = 1.0 - i * (1.0 - eps) / spb, s = 1.0 - (i + 1) * (1.0 - eps) / spb;
    const bool last = i >= spb - 1;
    int n = 0;
    for (int p = c->first_gen; p < c->block_end; p++)
        if (c->x_old[p] == c->mask_id) {
            c->score[p] = score(c, p);
            c->order[n++] = p;
        }
    int k = n;
    if (!last && c->rc->alg == DLM_ALG_ORIGIN) { // each mask with probability 1 - s/t
        k = 0;
        for (int j = 0; j < n; j++)
            if (c->score[c->order[j]] < 1.0 - s / t) c->order[k++] = c->order[j];
    } else if (!last) {
        k = (int)(n * (1.0 - s / t));
        dlm_rule_rank(c->order, n, c->score, false);
    }
    dlm_rule_commit_top(c, k, n);
    return false;
}

const dlm_rule_ops dlm_rule_dream_ops = {
    .name = "dream",
    .help = "Dream's diffusion_generate: unmask int(n*(1-s/t)) masks per step in the order of alg",
    .params = params,
    .n_params = DLM_COUNT_OF(params),
    .cache_modes = DLM_FAST_DLLM_CACHES,
    .finalize = finalize,
    .stuck_tau = dlm_rule_stuck_tau_default,
    .describe = describe,
    .forward = forward,
    .block_begin = dlm_rule_block_begin_none,
    .step = step,
    .block_end = dlm_rule_end_after_spb,
    .pos_state = dlm_rule_pos_state_hard,
};
