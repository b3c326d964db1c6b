// common.c — the registry and the pieces several rules share (ranking, the LLaDA schedule, the
// LLaDA2.1 M2T fill and block end).
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rule.h"

static const dlm_rule_ops *const registry[DLM_RULE_COUNT] = {
#define X(e, name) [DLM_RULE_##e] = &dlm_rule_##name##_ops,
    DLM_RULE_LIST(X)
#undef X
};

const dlm_rule_ops *dlm_rule_ops_of(dlm_rule_kind kind) { return registry[kind]; }

void dlm_rule_appendf(char *buf, size_t n, const char *fmt, ...) {
    size_t len = strlen(buf);
    if (len + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

bool dlm_rule_pinned(const dlm_rule_ctx *c, int pos) { return c->st->pinned && c->st->pinned[pos]; }

void dlm_rule_set_token(dlm_rule_ctx *c, int pos, int32_t tok, int event) {
    if (dlm_rule_pinned(c, pos)) return; // the rules skip pinned positions; this is the guarantee
    c->st->tokens[pos] = tok;
    c->out->pos[pos].events |= (uint8_t)event;
}

int dlm_rule_count_masks(const dlm_rule_ctx *c, int from, int to) {
    int n = 0;
    for (int i = from; i < to; i++) n += c->st->tokens[i] == c->mask_id;
    return n;
}

bool dlm_rule_eos_in(const dlm_rule_ctx *c, int from, int to) {
    if (c->eos_id < 0) return false;
    for (int i = from; i < to; i++)
        if (c->st->tokens[i] == c->eos_id) return true;
    return false;
}

void dlm_rule_rank(int32_t *pos, int n, const double *score, bool ascending) {
    for (int i = 1; i < n; i++) { // insertion sort: stable, n <= block length
        int32_t p = pos[i];
        int j = i - 1;
        while (j >= 0 && (ascending ? score[pos[j]] > score[p] : score[pos[j]] < score[p])) {
            pos[j + 1] = pos[j];
            j--;
        }
        pos[j + 1] = p;
    }
}

double dlm_rule_margin(const dlm_rule_ctx *c, int pos) {
    const dlm_row_summary *rs = &c->sum[c->row_of[pos]];
    return rs->n_top > 1 ? (double)rs->top_p[0] - rs->top_p[1] : rs->top_p[0];
}

int dlm_rule_rank_masks(dlm_rule_ctx *c, double (*conf)(const dlm_rule_ctx *c, int pos)) {
    int n = 0;
    for (int i = c->first_gen; i < c->block_end; i++)
        if (c->x_old[i] == c->mask_id) {
            c->score[i] = conf ? conf(c, i) : c->sum[c->row_of[i]].p_token;
            c->order[n++] = i;
        }
    dlm_rule_rank(c->order, n, c->score, false);
    return n;
}

int dlm_rule_transfer_count(const dlm_rule_ctx *c) {
    int n = c->st->block_masks, spb = c->spb, i = c->st->step_in_block;
    if (i >= spb) return dlm_rule_count_masks(c, c->first_gen, c->block_end); // only after a fork
    return n / spb + (i < n % spb ? 1 : 0);
}

void dlm_rule_commit_top(dlm_rule_ctx *c, int k, int n) {
    for (int j = 0; j < k && j < n; j++) {
        int p = c->order[j];
        dlm_rule_set_token(c, p, c->sum[c->row_of[p]].token, DLM_EVENT_COMMIT);
    }
}

// ---- common operations ----------------------------------------------------------------------------

dlm_status dlm_rule_finalize_none(dlm_rule_config *rc) { return DLM_STATUS_OK; }
double dlm_rule_stuck_tau_default(const dlm_rule_config *rc) { return 0.5; }
void dlm_rule_forward_plain(const dlm_rule_config *rc, dlm_rule_forward *f) { memset(f, 0, sizeof *f); }
void dlm_rule_block_begin_none(dlm_rule_ctx *c) {}

uint8_t dlm_rule_pos_state_hard(const dlm_rule_ctx *c, int i) {
    if (i < c->st->prompt_len) return DLM_POS_PROMPT;
    return c->st->tokens[i] == c->mask_id ? DLM_POS_MASK : DLM_POS_DECODED;
}

dlm_block_verdict dlm_rule_end_after_spb(dlm_rule_ctx *c, bool converged) {
    return c->st->step_in_block >= c->spb ? DLM_BLOCK_END : DLM_BLOCK_CONTINUE;
}

dlm_block_verdict dlm_rule_end_when_filled(dlm_rule_ctx *c, bool converged) {
    return dlm_rule_count_masks(c, c->first_gen, c->block_end) == 0 ? DLM_BLOCK_END : DLM_BLOCK_CONTINUE;
}

// ---- the LLaDA2.1 loop (t2t, t2m; research notes §5-6) -----------------------------------------------

// M2T: fill masks with conf > tau, or else the single most confident one. Returns whether the
// block had masks when the step began.
bool dlm_rule_m2t_fill(dlm_rule_ctx *c) {
    int best = -1, n = 0;
    bool any_act = false;
    for (int i = c->first_gen; i < c->block_end; i++) {
        if (c->x_old[i] != c->mask_id) continue;
        any_act = true;
        const dlm_row_summary *r = &c->sum[c->row_of[i]];
        if (r->p_token > c->rc->tau) {
            dlm_rule_set_token(c, i, r->token, DLM_EVENT_COMMIT);
            n++;
        }
        if (best < 0 || r->p_token > c->sum[c->row_of[best]].p_token) best = i;
    }
    if (n == 0 && best >= 0) dlm_rule_set_token(c, best, c->sum[c->row_of[best]].token, DLM_EVENT_COMMIT);
    return any_act;
}

// The loop's tests, in its order: at the top of a mask-free iteration an EOS in the generated text
// stops everything (the T2M fork's eos_early_stop); else the post-step budget; after a block ends,
// a finished text holding EOS stops generation too.
dlm_block_verdict dlm_rule_end_llada2(dlm_rule_ctx *c, bool converged) {
    dlm_session_state *st = c->st;
    const dlm_rule_config *r = c->rc;
    bool end = converged;
    if (!end && dlm_rule_count_masks(c, c->first_gen, c->block_end) == 0) {
        if (r->eos_stop && dlm_rule_eos_in(c, st->prompt_len, c->block_end)) return DLM_BLOCK_STOP;
        end = ++st->post_steps > r->max_post;
    }
    if (!end) return DLM_BLOCK_CONTINUE;
    if (r->eos_stop && dlm_rule_count_masks(c, st->prompt_len, c->block_end) == 0 &&
        dlm_rule_eos_in(c, st->prompt_len, c->block_end))
        return DLM_BLOCK_STOP;
    return DLM_BLOCK_END;
}

void dlm_rule_forward_llada2(const dlm_rule_config *rc, dlm_rule_forward *f) {
    memset(f, 0, sizeof *f);
    f->tempered = true; // LLaDA2.1 samples from softmax(logits / T) and reports that probability
}

dlm_status dlm_rule_finalize_llada2(dlm_rule_config *rc) {
    if (!dlm_rule_is_set(rc, DLM_PARAM_tau)) rc->tau = rc->mode == DLM_MODE_S ? 0.5 : 0.7;
    if (!dlm_rule_is_set(rc, DLM_PARAM_tau_edit)) rc->tau_edit = rc->mode == DLM_MODE_S ? 0.0 : 0.5;
    return DLM_STATUS_OK;
}
