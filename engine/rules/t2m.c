// t2m.c — T2M, Token-to-Mask remasking ("Remask, Don't Replace"; research notes §6): the LLaDA2.1
// loop whose editing step resets suspect committed tokens to [MASK] instead of overwriting them.
// A detector names the suspects; per-position counters (C_max) and a per-step cap (rho_max)
// bound the remasks.
#include <stddef.h>
#include <stdio.h>

#include "rule.h"

static const dlm_rule_param params[] = {
    {DLM_PARAM_tau, 0.7}, // from mode in finalize unless set
    {DLM_PARAM_mode, DLM_MODE_Q},
    {DLM_PARAM_max_post, 16},
    {DLM_PARAM_eos_stop, 1},
    {DLM_PARAM_detector, DLM_DETECT_LOWPROB},
    {DLM_PARAM_tau_remask, 0.3}, // from the detector in finalize unless set
    {DLM_PARAM_cmax, 1},         // the paper's value (the released code and README use 3 or 5)
    {DLM_PARAM_rho_max, 0.25},
    {DLM_PARAM_cap, DLM_CAP_CODE},
    {DLM_PARAM_editable, DLM_EDITABLE_BEFORE},
};

// LogitDiff's memory (probability, at the previous step, of the token each position now holds)
// and the remask counters.
static const dlm_rule_state_col state_cols[] = {
    {"prev_p", DLM_STATE_F32, offsetof(dlm_session_state, prev_p)},
    {"remask_count", DLM_STATE_U16, offsetof(dlm_session_state, remask_count)},
};

static dlm_status finalize(dlm_rule_config *rc) {
    dlm_rule_finalize_llada2(rc);
    if (!dlm_rule_is_set(rc, DLM_PARAM_tau_remask)) rc->tau_remask = rc->detector == DLM_DETECT_T2T_REMASK ? 0.9 : 0.3;
    return DLM_STATUS_OK;
}

static void describe(const dlm_rule_config *rc, bool unicode, char *buf, size_t n) {
    int count;
    const char *const *detectors = dlm_param_values(DLM_PARAM_detector, &count);
    dlm_rule_appendf(buf, n, "t2m %s %s%g C%d %s%g", rc->detector < count ? detectors[rc->detector] : "?",
                     unicode ? "τ" : "tau", rc->tau_remask, rc->cmax, unicode ? "ρ" : "rho", rc->rho_max);
}

static void reset(dlm_rule_ctx *c) { // the official reset_state(): counters and LogitDiff memory
    for (int i = c->block_start; i < c->block_end; i++) c->st->remask_count[i] = 0;
    c->st->prev_valid = false;
}

// p, at this step, of whatever each position now holds: LogitDiff's p_{t-1} at the next step.
static void remember(dlm_rule_ctx *c) {
    for (int i = 0; i < c->st->n_tokens; i++) {
        if (c->row_of[i] < 0) continue;
        const dlm_row_summary *rs = &c->sum[c->row_of[i]];
        int32_t t = c->st->tokens[i];
        c->st->prev_p[i] = t == c->x_old[i] ? rs->p_given : t == rs->token ? rs->p_token : 0.0f;
    }
}

static bool step(dlm_rule_ctx *c) {
    dlm_session_state *st = c->st;
    const dlm_rule_config *r = c->rc;
    bool act = dlm_rule_m2t_fill(c);
    // Editable set: committed before this step (code), or also this step's fills (paper).
    int n_e = 0;
    for (int i = c->first_gen; i < c->block_end; i++) {
        bool filled = c->x_old[i] == c->mask_id && st->tokens[i] != c->mask_id;
        c->mark[i] = (c->x_old[i] != c->mask_id || (r->editable == DLM_EDITABLE_AFTER && filled)) &&
                     !dlm_rule_pinned(c, i); // a pinned token is not editable: never remasked
        n_e += c->mark[i];
    }
    if (n_e == 0) {
        reset(c);
        remember(c);
        return !act;
    }
    int n_r = 0;
    for (int i = c->first_gen; i < c->block_end; i++) {
        if (!c->mark[i]) continue;
        const dlm_row_summary *rs = &c->sum[c->row_of[i]];
        // p_t of the token the position holds (for a fill, the token just placed: its confidence)
        double p_now = c->x_old[i] == c->mask_id ? rs->p_token : rs->p_given;
        bool remask = false;
        double score = 0;
        if (r->detector == DLM_DETECT_LOWPROB) {
            remask = p_now < r->tau_remask, score = p_now;
        } else if (r->detector == DLM_DETECT_T2T_REMASK) {
            remask = rs->p_token > r->tau_remask && rs->token != st->tokens[i], score = 1.0 - rs->p_token;
        } else { // DLM_DETECT_LOGITDIFF (the parser admits no other value)
            double drop = st->prev_p[i] - p_now;
            remask = st->prev_valid && drop > r->tau_remask, score = -drop;
        }
        if (remask && st->remask_count[i] < r->cmax) {
            c->score[i] = score;
            c->order[n_r++] = i;
        }
    }
    st->prev_valid = true;
    if (n_r > 0 && r->rho_max < 1.0) {
        int cap = (int)(n_e * r->rho_max);
        if (r->cap == DLM_CAP_CODE && cap < 1) cap = 1;
        dlm_rule_rank(c->order, n_r, c->score, true); // lowest score first
        if (n_r > cap) n_r = cap;
    }
    for (int j = 0; j < n_r; j++) {
        int p = c->order[j];
        dlm_rule_set_token(c, p, c->mask_id, DLM_EVENT_REMASK);
        st->remask_count[p]++;
    }
    remember(c);
    return !act && n_r == 0;
}

const dlm_rule_ops dlm_rule_t2m_ops = {
    .name = "t2m",
    .help = "T2M remasking (Remask, Don't Replace): fill like LLaDA2.1, reset suspect tokens to [MASK]",
    .params = params,
    .n_params = DLM_COUNT_OF(params),
    .cache_modes = DLM_FAST_DLLM_CACHES | DLM_CACHE_BIT(OFFICIAL_BLOCK),
    .finalize = finalize,
    .stuck_tau = dlm_rule_stuck_tau_default,
    .describe = describe,
    .forward = dlm_rule_forward_llada2,
    .block_begin = reset,
    .step = step,
    .block_end = dlm_rule_end_llada2,
    .pos_state = dlm_rule_pos_state_hard,
    .state_cols = state_cols,
    .n_state_cols = DLM_COUNT_OF(state_cols),
};
