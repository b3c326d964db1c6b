// t2t.c — LLaDA2.1 M2T + T2T editing (research notes §5): each step fills the confident masks and
// overwrites committed tokens whose position now predicts another token with p > tau_edit; a
// block ends when a mask-free step edits nothing, or after max_post mask-free steps.
#include <stdio.h>

#include "rule.h"

static const dlm_rule_param params[] = {
    {DLM_PARAM_tau, 0.7},      // from mode in finalize unless set
    {DLM_PARAM_mode, DLM_MODE_Q},
    {DLM_PARAM_tau_edit, 0.5}, // from mode in finalize unless set
    {DLM_PARAM_max_post, 16},
    {DLM_PARAM_eos_stop, 1},   // the T2M paper's runs (T2T baseline included) set eos_early_stop
};

static double stuck_tau(const dlm_rule_config *rc) { return rc->tau_edit; }

static void describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n) {
    dlm_rule_appendf(buf, n, "t2t %s %s%g/%g", rc->mode == DLM_MODE_S ? "S" : "Q", unicode ? "τ" : "tau", rc->tau, rc->tau_edit);
}

// Edits are decided on the pre-step tokens, then fills and edits apply together. Converged: no
// masks at step start and nothing edited.
static bool step(dlm_rule_ctx *c) {
    bool edited = false;
    for (int i = c->first_gen; i < c->block_end; i++) {
        c->mark[i] = false;
        if (c->x_old[i] == c->mask_id || dlm_rule_pinned(c, i)) continue; // pinned: never edited
        const dlm_row_summary *r = &c->sum[c->row_of[i]];
        c->mark[i] = r->p_token > c->rc->tau_edit && r->token != c->x_old[i];
    }
    bool act = dlm_rule_m2t_fill(c);
    for (int i = c->first_gen; i < c->block_end; i++)
        if (c->mark[i]) {
            dlm_rule_set_token(c, i, c->sum[c->row_of[i]].token, DLM_EVENT_EDIT);
            edited = true;
        }
    return !act && !edited;
}

const dlm_rule_ops dlm_rule_t2t_ops = {
    .name = "t2t",
    .help = "LLaDA2.1 M2T + T2T editing: fill confident masks, overwrite confident disagreeing tokens",
    .params = params,
    .n_params = DLM_COUNT_OF(params),
    .cache_modes = DLM_FAST_DLLM_CACHES | DLM_CACHE_BIT(OFFICIAL_BLOCK),
    .finalize = dlm_rule_finalize_llada2,
    .stuck_tau = stuck_tau,
    .describe = describe,
    .forward = dlm_rule_forward_llada2,
    .block_begin = dlm_rule_block_begin_none,
    .step = step,
    .block_end = dlm_rule_end_llada2,
    .pos_state = dlm_rule_pos_state_hard,
};
