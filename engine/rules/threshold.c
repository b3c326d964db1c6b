// threshold.c — Fast-dLLM confidence-aware parallel decoding (research notes §3.1-3.2): commit the
// most confident mask and every mask with confidence >= tau, until the block is filled; or the
// factor mode's sliding thresholds.
#include <stdio.h>

#include "rule.h"

static const dlm_rule_param params[] = {
    {DLM_PARAM_tau, 0.9},
    {DLM_PARAM_factor, 0},
    {DLM_PARAM_fastdllm_nfe, 0},
};

static dlm_status finalize(dlm_rule_config *rc) {
    if (rc->fastdllm_nfe && rc->cache == DLM_RULE_CACHE_NONE)
        return dlm_error(DLM_STATUS_ARG, "rule threshold: fastdllm_nfe=1 needs cache=prefix or cache=dual (Fast-dLLM's "
                                         "uncached loop runs the forwards dlmscope runs)");
    return DLM_STATUS_OK;
}

static void describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n) {
    if (rc->factor > 0) dlm_rule_appendf(buf, n, "threshold factor %g", rc->factor);
    else dlm_rule_appendf(buf, n, "threshold %s%g", unicode ? "τ" : "tau", rc->tau);
}

static bool step(dlm_rule_ctx *c) {
    int n = dlm_rule_rank_masks(c, NULL), k;
    double factor = c->rc->factor;
    if (factor > 0) { // Fast-dLLM get_transfer_index_dynamic, off-by-one included
        int i = 0;
        for (; i < n; i++) {
            double thr = i == 0 ? -1.0 : 1.0 - factor / (i + 2);
            if (c->score[c->order[i]] < thr) break;
        }
        if (i == n) i = n - 1;
        if (i == 0 || i == n - 1) i++;
        k = i;
    } else { // the top-1 always, the rest if conf >= tau
        k = n > 0 ? 1 : 0;
        while (k < n && c->score[c->order[k]] >= c->rc->tau) k++;
    }
    dlm_rule_commit_top(c, k, n);
    return false;
}

// Until the block has no mask. With fastdllm_nfe, as Fast-dLLM's cached loops of June 2025
// (generate_with_prefix_cache / _dual_cache: `while True: nfe += 1; forward; commit; if no mask:
// break`) test for masks only after each cached forward: a block its first, cache-refreshing
// forward filled still runs one cached forward, which commits nothing (later versions test first).
static dlm_block_verdict block_end(dlm_rule_ctx *c, bool converged) {
    if (dlm_rule_count_masks(c, c->first_gen, c->block_end) > 0) return DLM_BLOCK_CONTINUE;
    if (c->rc->fastdllm_nfe && c->st->step_in_block == 1) return DLM_BLOCK_CONTINUE;
    return DLM_BLOCK_END;
}

const dlm_rule_ops dlm_rule_threshold_ops = {
    .name = "threshold",
    .help = "Fast-dLLM parallel decoding: commit the top mask and every mask with conf >= tau",
    .params = params,
    .n_params = DLM_COUNT_OF(params),
    .cache_modes = DLM_FAST_DLLM_CACHES,
    .finalize = finalize,
    .stuck_tau = dlm_rule_stuck_tau_default,
    .describe = describe,
    .forward = dlm_rule_forward_plain,
    .block_begin = dlm_rule_block_begin_none,
    .step = step,
    .block_end = block_end,
    .pos_state = dlm_rule_pos_state_hard,
};
