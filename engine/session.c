// session.c — the decoding rules of research/algorithms.md as a step-at-a-time state machine.
//
// One call of dlm_session_step() = one forward pass = one refinement step:
//   1. inputs: hard tokens, or the soft mixtures a rule computed at the end of the last step
//   2. forward, with a softmax summary for the generation rows (sampled token, p(current), top-K)
//   3. the rule's decision (its operations table, engine/rules/*.c), recorded as events
//   4. advance(): the rule's block-end test until a forward is due, so done() is exact after a step
// A pipelined rule (d2f) keeps several blocks open at once: the step's window runs from the current
// (oldest unfinished) block to the last open one, under the prompt-as-block-0 block-causal mask.
// Ties: argmax to the lowest id (summary.c), position rankings to the lowest position.
#include "session.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "rules/rule.h"
#include "safetensors.h"
#include "util.h"

struct dlm_session {
    const dlm_model  *model;
    dlm_backend      *be;
    dlm_session_opts  opts;
    dlm_session_state st;
    int               mask_id, eos_id, n_vocab;
    int               block0;   // canvas position where block 0 starts
    int               n_blocks;
    int               attn_block, attn_origin; // block-causal attention (forward.h); 0: bidirectional
    bool              pipelined; // the rule keeps several blocks in flight (D2F)
    int               spb;      // steps per block (rules taking `steps`)
    const dlm_rule_ops *ops;    // the rule's operations
    // scratch, (n_tokens) each
    int32_t          *rows, *given, *row_of, *x_old, *order;
    uint8_t          *state_old;
    double           *score;
    bool             *mark;
    dlm_row_summary  *sum;
    int32_t          *fed_tok;  // hard inputs of the running step (official-block: stale finished blocks)
    int32_t          *fed_ids;  // the soft inputs of the running step, kept for the snapshot
    float            *fed_w;
    int               fed_k;
    int16_t          *routing;  // MoE models: the forward's experts per position (dlm_forward_args.routing)
    uint64_t          cache_key; // label of this session's KV cache in the backend (0: none yet)
    // interventions applied since the last step, reported in the next step's snapshot
    dlm_intervention  pending[DLM_STEP_MAX_INTERVENTIONS];
    int               n_pending;
};

static const char *const state_names[] = {
#define X(e, name) name,
    DLM_POS_STATES(X)
#undef X
};
const char *dlm_pos_state_name(dlm_pos_state st) { return (unsigned)st < DLM_POS_STATE_COUNT ? state_names[st] : "?"; }

static const char *const block_state_names[] = {
#define X(e, name) name,
    DLM_BLOCK_STATES(X)
#undef X
};
const char *dlm_block_state_name(int state) { return (unsigned)state <= DLM_BSTATE_MASK ? block_state_names[state] : "?"; }

static const char *const intervention_names[] = {
#define X(e, name) name,
    DLM_INTERVENTIONS(X)
#undef X
};
const char *dlm_intervention_name(int kind) { return (unsigned)kind < DLM_IV_COUNT ? intervention_names[kind] : "?"; }
int dlm_intervention_find(const char *name) {
    for (int k = 0; k < DLM_IV_COUNT; k++)
        if (strcmp(intervention_names[k], name) == 0) return k;
    return -1;
}

void dlm_intervention_format(const dlm_intervention *iv, char *buf, size_t n) {
    const char *name = dlm_intervention_name(iv->kind);
    if (iv->kind == DLM_IV_FORCE) snprintf(buf, n, "%s %d=#%d", name, iv->pos, iv->token);
    else if (iv->end - iv->pos > 1) snprintf(buf, n, "%s %d-%d", name, iv->pos, iv->end - 1);
    else snprintf(buf, n, "%s %d", name, iv->pos);
}

const char *dlm_event_name(int bit) {
    switch (bit) {
#define X(e, b, name) case b: return name;
        DLM_EVENTS(X)
#undef X
    default: return "?";
    }
}

// ---- snapshots ----------------------------------------------------------------------------------

dlm_step *dlm_step_new(int n_tokens) {
    dlm_step *st = dlm_xcalloc(1, sizeof *st);
    st->pos = dlm_xcalloc((size_t)(n_tokens > 0 ? n_tokens : 1), sizeof *st->pos);
    st->block_info = dlm_xcalloc((size_t)(n_tokens > 0 ? n_tokens : 1), 1);
    st->n_tokens = n_tokens;
    return st;
}

void dlm_step_free(dlm_step *st) {
    if (!st) return;
    free(st->pos);
    free(st->experts);
    free(st->block_info);
    free(st);
}

void dlm_step_reserve_experts(dlm_step *st, int n_moe_layers, int per_layer, int first_moe_layer) {
    st->n_moe_layers = n_moe_layers > 0 ? n_moe_layers : 0;
    st->experts_per_layer = n_moe_layers > 0 ? per_layer : 0;
    st->first_moe_layer = first_moe_layer;
    const size_t need = (size_t)st->n_tokens * st->n_moe_layers * st->experts_per_layer;
    if (need > st->experts_cap) {
        free(st->experts);
        st->experts = dlm_xmalloc(need * sizeof *st->experts);
        st->experts_cap = need;
    }
}

void dlm_step_copy(dlm_step *dst, const dlm_step *src) {
    dlm_pos_info *pos = dst->pos;
    int16_t *experts = dst->experts;
    uint8_t *block_info = dst->block_info;
    size_t cap = dst->experts_cap;
    *dst = *src;
    dst->pos = pos;
    dst->experts = experts, dst->experts_cap = cap;
    dst->block_info = block_info;
    memcpy(pos, src->pos, (size_t)src->n_tokens * sizeof *pos);
    if (src->n_block_info > 0) memcpy(block_info, src->block_info, (size_t)src->n_block_info);
    dlm_step_reserve_experts(dst, src->n_moe_layers, src->experts_per_layer, src->first_moe_layer);
    if (src->n_moe_layers > 0)
        memcpy(dst->experts, src->experts, (size_t)src->n_tokens * src->n_moe_layers * src->experts_per_layer * sizeof *dst->experts);
}

// ---- geometry and small helpers -----------------------------------------------------------------

static int block_start(const dlm_session *s, int b) { return s->block0 + b * s->st.rule.block; }
static int block_end(const dlm_session *s, int b) {
    int e = block_start(s, b) + s->st.rule.block;
    return e < s->st.n_tokens ? e : s->st.n_tokens;
}
static int first_gen(const dlm_session *s, int b) { // prompt tokens of a block-causal first block are not generated
    int bs = block_start(s, b);
    return bs > s->st.prompt_len ? bs : s->st.prompt_len;
}

// End of the window a step works on: the last open block under a pipelined rule, else the block.
static int window_end(const dlm_session *s, int b) {
    int last = b;
    if (s->pipelined)
        for (int k = b + 1; k < s->n_blocks; k++)
            if ((s->st.block_info[k] & DLM_BSTATE_MASK) != DLM_BSTATE_IDLE) last = k;
    return block_end(s, last);
}

static int count_masks(const dlm_session *s, int from, int to) {
    int n = 0;
    for (int i = from; i < to; i++) n += s->st.tokens[i] == s->mask_id;
    return n;
}

// The rule's view of the session (the per-step fields are filled by dlm_session_step).
static dlm_rule_ctx rule_ctx(dlm_session *s) {
    dlm_session_state *st = &s->st;
    int b = st->block < s->n_blocks ? st->block : s->n_blocks - 1;
    dlm_rule_ctx c = {.st = st, .rc = &st->rule, .mask_id = s->mask_id, .eos_id = s->eos_id, .n_vocab = s->n_vocab,
                      .block_start = block_start(s, b), .first_gen = first_gen(s, b), .block_end = block_end(s, b),
                      .spb = s->spb, .order = s->order, .score = s->score, .mark = s->mark,
                      .window_end = window_end(s, b), .block0 = s->block0, .n_blocks = s->n_blocks};
    c.fwd_len = s->attn_block > 0 ? c.window_end : st->n_tokens;
    return c;
}

static void start_block(dlm_session *s) {
    dlm_session_state *st = &s->st;
    st->step_in_block = 0;
    st->post_steps = 0;
    if (st->block < s->n_blocks) {
        st->block_masks = count_masks(s, first_gen(s, st->block), block_end(s, st->block));
        dlm_rule_ctx c = rule_ctx(s);
        s->ops->block_begin(&c);
    }
}

// Resolve block ends (the rule's test) until a forward pass is due or generation is over.
// `converged`: what the step just run returned. Marks positions of blocks it closes with FINALIZE
// in `out` (may be NULL).
static void advance(dlm_session *s, bool converged, dlm_step *out) {
    dlm_session_state *st = &s->st;
    while (!st->done) {
        if (st->block >= s->n_blocks) {
            st->done = true;
            break;
        }
        dlm_rule_ctx c = rule_ctx(s);
        c.out = out;
        dlm_block_verdict v = s->ops->block_end(&c, converged);
        if (v == DLM_BLOCK_CONTINUE) break;
        if (out)
            for (int i = c.first_gen; i < c.block_end; i++)
                if (st->tokens[i] != s->mask_id) {
                    out->pos[i].events |= DLM_EVENT_FINALIZE;
                    out->n_finalized++;
                }
        if (v == DLM_BLOCK_STOP) {
            st->stopped = st->done = true;
            break;
        }
        st->block++;
        converged = false;
        start_block(s);
    }
}

// ---- construction -------------------------------------------------------------------------------

static void state_alloc(dlm_session_state *st, int n, int soft_k) {
    st->tokens = dlm_xcalloc((size_t)n, sizeof *st->tokens);
    st->state = dlm_xcalloc((size_t)n, sizeof *st->state);
    st->hist_conf = dlm_xcalloc((size_t)n, sizeof *st->hist_conf);
    st->remask_count = dlm_xcalloc((size_t)n, sizeof *st->remask_count);
    st->prev_p = dlm_xcalloc((size_t)n, sizeof *st->prev_p);
    st->pinned = dlm_xcalloc((size_t)n, sizeof *st->pinned);
    st->soft_k = soft_k;
    st->soft_ids = dlm_xcalloc((size_t)n * (soft_k ? soft_k : 1), sizeof *st->soft_ids);
    st->soft_w = dlm_xcalloc((size_t)n * (soft_k ? soft_k : 1), sizeof *st->soft_w);
    st->cache_ids = dlm_xcalloc((size_t)n, sizeof *st->cache_ids);
    st->last_fwd_ids = dlm_xcalloc((size_t)n, sizeof *st->last_fwd_ids);
    st->block_info = dlm_xcalloc((size_t)n, 1);
}

// (Re)size the saved cache inputs for k soft slots per position.
static void cache_soft_alloc(dlm_session_state *st, int k) {
    free(st->cache_soft_ids);
    free(st->cache_soft_w);
    st->cache_soft_k = k;
    st->cache_soft_ids = k ? dlm_xcalloc((size_t)st->n_tokens * k, sizeof *st->cache_soft_ids) : NULL;
    st->cache_soft_w = k ? dlm_xcalloc((size_t)st->n_tokens * k, sizeof *st->cache_soft_w) : NULL;
}

void dlm_session_state_free(dlm_session_state *st) {
    if (!st) return;
    free(st->tokens);
    free(st->state);
    free(st->hist_conf);
    free(st->remask_count);
    free(st->prev_p);
    free(st->pinned);
    free(st->soft_ids);
    free(st->soft_w);
    free(st->cache_ids);
    free(st->cache_soft_ids);
    free(st->cache_soft_w);
    free(st->last_fwd_ids);
    free(st->block_info);
    memset(st, 0, sizeof *st);
}

static void copy_state(dlm_session_state *dst, const dlm_session_state *src) {
    dlm_session_state_free(dst);
    int n = src->n_tokens;
    *dst = *src;
    state_alloc(dst, n, src->soft_k);
    memcpy(dst->tokens, src->tokens, (size_t)n * sizeof *dst->tokens);
    memcpy(dst->state, src->state, (size_t)n * sizeof *dst->state);
    memcpy(dst->hist_conf, src->hist_conf, (size_t)n * sizeof *dst->hist_conf);
    memcpy(dst->remask_count, src->remask_count, (size_t)n * sizeof *dst->remask_count);
    memcpy(dst->prev_p, src->prev_p, (size_t)n * sizeof *dst->prev_p);
    if (src->pinned) memcpy(dst->pinned, src->pinned, (size_t)n * sizeof *dst->pinned); // else none pinned
    if (src->soft_k) {
        memcpy(dst->soft_ids, src->soft_ids, (size_t)n * src->soft_k * sizeof *dst->soft_ids);
        memcpy(dst->soft_w, src->soft_w, (size_t)n * src->soft_k * sizeof *dst->soft_w);
    }
    // A state without the tokens of the last forwards (built by hand, or a trace not recorded with
    // cache=official-block): every finished block is taken as exact.
    memcpy(dst->last_fwd_ids, src->last_fwd_ids ? src->last_fwd_ids : src->tokens, (size_t)n * sizeof *dst->last_fwd_ids);
    if (src->block_info) memcpy(dst->block_info, src->block_info, (size_t)n); // else no block open (built by hand)
    if (src->cache_ids) memcpy(dst->cache_ids, src->cache_ids, (size_t)n * sizeof *dst->cache_ids);
    else dst->cache_len = 0, dst->cache_soft_k = 0; // a state without cache inputs (built by hand)
    dst->cache_soft_ids = NULL, dst->cache_soft_w = NULL;
    cache_soft_alloc(dst, dst->cache_soft_k);
    if (dst->cache_soft_k) {
        memcpy(dst->cache_soft_ids, src->cache_soft_ids, (size_t)n * src->cache_soft_k * sizeof *dst->cache_soft_ids);
        memcpy(dst->cache_soft_w, src->cache_soft_w, (size_t)n * src->cache_soft_k * sizeof *dst->cache_soft_w);
    }
}

// Geometry, derived numbers and scratch for a session whose state's sizes and rule are set.
static dlm_status session_setup(dlm_session *s, const dlm_model *m, dlm_backend *be, const dlm_session_opts *opts) {
    s->model = m;
    s->be = be;
    if (opts) s->opts = *opts;
    const dlm_config *c = &m->cfg;
    const dlm_rule_config *r = &s->st.rule;
    s->mask_id = c->mask_id;
    s->eos_id = c->eos_id;
    s->n_vocab = c->n_vocab;
    if (s->mask_id < 0)
        return dlm_error(DLM_STATUS_ARG, "%s/config.json has no mask_token_id; masked diffusion decoding needs one", m->dir);
    int P = s->st.prompt_len, B = r->block;
    s->ops = dlm_rule_ops_of(r->kind);
    dlm_rule_forward rf;
    s->ops->forward(r, &rf);
    s->pipelined = rf.pipelined;
    s->attn_block = s->opts.block_causal;
    if (s->pipelined) { // D2F: the prompt is block 0 of a block-causal mask the rule brings to the model
        // D2F-LLaDA is LLaDA-8B-Instruct with a LoRA; the mask and the loop suit any bidirectional family
        // whose row i predicts position i. A block-causal family has a mask of its own, and with shifted
        // logits a block's first position would be read from the block before (D2F-Dream's loop, not this).
        if (c->arch && (c->arch->attention != DLM_ATTN_FULL || c->arch->shift_logits))
            return dlm_error(DLM_STATUS_ARG, "rule %s needs a bidirectional model whose logits are not shifted (D2F-LLaDA: "
                                             "LLaDA-8B-Instruct with its LoRA); %s is a %s model (%s)", s->ops->name, m->dir,
                             c->arch->name, c->arch->shift_logits ? "shifted logits" : "block-causal");
        if (s->opts.block_causal > 0)
            return dlm_error(DLM_STATUS_ARG, "rule %s brings its own attention mask (the prompt as block 0); drop --block-causal %d",
                             s->ops->name, s->opts.block_causal);
        s->attn_block = B;
        s->attn_origin = P;
    }
    if (s->opts.block_causal > 0 && s->opts.block_causal != B)
        return dlm_error(DLM_STATUS_ARG, "--block %d must equal the model's attention block size %d (block-causal)", B,
                         s->opts.block_causal);
    if (r->cache == DLM_RULE_CACHE_OFFICIAL_BLOCK && s->opts.block_causal <= 0)
        return dlm_error(DLM_STATUS_ARG, "cache=official-block reproduces the T2M repository's LLaDA2.1 loop, whose "
                                         "attention is block-causal: it needs a block-causal model (--block-causal B)");
    s->block0 = s->opts.block_causal > 0 ? (P / B) * B : P;
    s->n_blocks = (s->st.n_tokens - s->block0 + B - 1) / B;
    if (!s->pipelined) memset(s->st.block_info, 0, (size_t)s->st.n_tokens); // a fork away from d2f: no block states
    if (dlm_param_applies(DLM_PARAM_steps, r->kind)) {
        // A block-causal model's blocks start at multiples of B from position 0, so an answer after
        // a prompt that ends mid-block spans gen / B + 1 blocks: the rule's default steps is rounded
        // up to a multiple of both block counts (the rule's own check, as a trace is read back, is
        // against gen / B); steps given explicitly must divide the blocks.
        if (r->steps % s->n_blocks != 0 && !dlm_rule_is_set(r, DLM_PARAM_steps)) {
            int a = s->n_blocks, b = r->gen / B, g = a;
            for (int t = b; t;) { int rem = g % t; g = t; t = rem; } // g = gcd(a, b)
            int unit = a / g * b;
            s->st.rule.steps = (r->steps + unit - 1) / unit * unit;
        }
        if (r->steps % s->n_blocks != 0)
            return dlm_error(DLM_STATUS_ARG, "--steps %d is not a multiple of the %d blocks", r->steps, s->n_blocks);
        s->spb = r->steps / s->n_blocks;
    }
    int n = s->st.n_tokens;
    s->rows = dlm_xcalloc((size_t)n, sizeof *s->rows);
    s->given = dlm_xcalloc((size_t)n, sizeof *s->given);
    s->row_of = dlm_xcalloc((size_t)n, sizeof *s->row_of);
    s->x_old = dlm_xcalloc((size_t)n, sizeof *s->x_old);
    s->order = dlm_xcalloc((size_t)n, sizeof *s->order);
    s->state_old = dlm_xcalloc((size_t)n, sizeof *s->state_old);
    s->score = dlm_xcalloc((size_t)n, sizeof *s->score);
    s->mark = dlm_xcalloc((size_t)n, sizeof *s->mark);
    s->sum = dlm_xcalloc((size_t)n, sizeof *s->sum);
    s->fed_tok = dlm_xcalloc((size_t)n, sizeof *s->fed_tok);
    s->fed_ids = dlm_xcalloc((size_t)n * DLM_SOFT_MAX, sizeof *s->fed_ids);
    s->fed_w = dlm_xcalloc((size_t)n * DLM_SOFT_MAX, sizeof *s->fed_w);
    const dlm_config *mc = &s->model->cfg;
    if (dlm_config_moe_layers(mc) > 0)
        s->routing = dlm_xmalloc((size_t)n * dlm_config_moe_layers(mc) * mc->n_experts_used * sizeof *s->routing);
    return DLM_STATUS_OK;
}

dlm_session *dlm_session_new(const dlm_model *m, dlm_backend *be, const int32_t *prompt, int n_prompt,
                             const dlm_rule_config *rule, const dlm_session_opts *opts) {
    const dlm_config *c = &m->cfg;
    if (n_prompt < 1) {
        dlm_error(DLM_STATUS_ARG, "the prompt is empty");
        return NULL;
    }
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= c->n_vocab) {
            dlm_error(DLM_STATUS_ARG, "prompt token %d (position %d) is outside the vocabulary [0, %d)", prompt[i], i,
                      c->n_vocab);
            return NULL;
        }
    dlm_rule_config r = *rule;
    if (dlm_rule_finalize(&r) != DLM_STATUS_OK) return NULL;
    int block_causal = opts ? opts->block_causal : 0;
    long n = (long)n_prompt + r.gen;
    if (block_causal > 0) n = (n + r.block - 1) / r.block * r.block; // LLaDA2: whole blocks from position 0
    if (n > c->max_seq_len) {
        dlm_error(DLM_STATUS_ARG, "prompt (%d tokens) + --gen %d = %ld tokens, more than the model's %d", n_prompt, r.gen, n,
                  c->max_seq_len);
        return NULL;
    }
    dlm_session *s = dlm_xcalloc(1, sizeof *s);
    dlm_session_state *st = &s->st;
    st->rule = r;
    st->n_tokens = (int)n;
    st->prompt_len = n_prompt;
    st->gen_len = r.gen;
    st->block_causal = block_causal;
    state_alloc(st, (int)n, 0);
    if (session_setup(s, m, be, opts) != DLM_STATUS_OK) {
        dlm_session_free(s);
        return NULL;
    }
    for (int i = 0; i < st->n_tokens; i++) {
        st->tokens[i] = i < n_prompt ? prompt[i] : s->mask_id;
        st->state[i] = i < n_prompt ? DLM_POS_PROMPT : DLM_POS_MASK;
    }
    memcpy(st->last_fwd_ids, st->tokens, (size_t)n * sizeof *st->last_fwd_ids);
    start_block(s);
    advance(s, false, NULL);
    return s;
}

dlm_session *dlm_session_restore(const dlm_model *m, dlm_backend *be, const dlm_session_state *state,
                                 const dlm_rule_config *rule, const dlm_session_opts *opts) {
    if (dlm_session_state_check(state, &m->cfg) != DLM_STATUS_OK) return NULL;
    dlm_session_opts o = {0};
    if (opts) o = *opts;
    o.block_causal = state->block_causal; // geometry belongs to the state
    dlm_rule_config r = rule ? *rule : state->rule;
    if (rule) {
        if (rule->gen != state->rule.gen || rule->block != state->rule.block) {
            dlm_error(DLM_STATUS_ARG, "a fork keeps gen %d and block %d (got gen %d, block %d)", state->rule.gen,
                      state->rule.block, rule->gen, rule->block);
            return NULL;
        }
        if (dlm_rule_finalize(&r) != DLM_STATUS_OK) return NULL;
    }
    dlm_session *s = dlm_xcalloc(1, sizeof *s);
    copy_state(&s->st, state);
    s->st.rule = r;
    if (session_setup(s, m, be, &o) != DLM_STATUS_OK) {
        dlm_session_free(s);
        return NULL;
    }
    char a[512], b[512];
    dlm_rule_format(&r, a, sizeof a);
    dlm_rule_format(&state->rule, b, sizeof b);
    bool fork = strcmp(a, b) != 0;
    if (fork && !s->st.done) {
        dlm_session_state *st = &s->st;
        // Soft states exist only under a rule with soft inputs; others see committed tokens and
        // masks. Per-position state the new rule does not keep starts from zero.
        if (!dlm_rule_has_soft_states(r.kind) || !dlm_rule_has_soft_states(state->rule.kind)) {
            for (int i = 0; i < st->n_tokens; i++) {
                if (st->state[i] == DLM_POS_SOFT) st->state[i] = DLM_POS_DECODED;
                if (st->state[i] == DLM_POS_SOFT_MASK) st->state[i] = DLM_POS_MASK;
            }
            st->soft_k = 0;
        }
        if (r.kind != state->rule.kind) {
            memset(st->hist_conf, 0, (size_t)st->n_tokens * sizeof *st->hist_conf);
            memset(st->remask_count, 0, (size_t)st->n_tokens * sizeof *st->remask_count);
            st->prev_valid = false;
        }
        start_block(s); // the current block restarts its schedule under the new rule
        advance(s, false, NULL);
    }
    return s;
}

void dlm_session_free(dlm_session *s) {
    if (!s) return;
    dlm_session_state_free(&s->st);
    free(s->rows);
    free(s->given);
    free(s->row_of);
    free(s->x_old);
    free(s->order);
    free(s->state_old);
    free(s->score);
    free(s->mark);
    free(s->sum);
    free(s->fed_tok);
    free(s->fed_ids);
    free(s->fed_w);
    free(s->routing);
    free(s);
}

void dlm_session_export(const dlm_session *s, dlm_session_state *out) {
    memset(out, 0, sizeof *out);
    copy_state(out, &s->st);
}

dlm_status dlm_session_state_check(const dlm_session_state *st, const dlm_config *c) {
    if (st->n_tokens < 1 || st->n_tokens > c->max_seq_len || st->prompt_len < 1 || st->prompt_len >= st->n_tokens ||
        st->gen_len < 1 || st->prompt_len + st->gen_len > st->n_tokens)
        return dlm_error(DLM_STATUS_FORMAT, "session state: sizes (tokens %d, prompt %d, gen %d) do not fit the model",
                         st->n_tokens, st->prompt_len, st->gen_len);
    if ((unsigned)st->rule.kind >= DLM_RULE_COUNT || st->rule.block < 1 || st->rule.gen != st->gen_len)
        return dlm_error(DLM_STATUS_FORMAT, "session state: bad rule");
    if (st->soft_k < 0 || st->soft_k > DLM_SOFT_MAX) return dlm_error(DLM_STATUS_FORMAT, "session state: soft_k %d", st->soft_k);
    if (st->block < 0 || st->step < 0 || st->step_in_block < 0 || st->post_steps < 0 || st->block_masks < 0)
        return dlm_error(DLM_STATUS_FORMAT, "session state: negative counter");
    // Counters bounded by what a run can reach, so none can overflow and every block ends: a
    // block's steps are some of all steps, its mask-free iterations some of its steps (plus one
    // pending), at most max_post + 1 under the LLaDA2.1 rules, and step leaves room to count on.
    bool llada2 = st->rule.kind == DLM_RULE_T2T || st->rule.kind == DLM_RULE_T2M;
    if (st->step > DLM_SESSION_MAX_STEPS || st->step_in_block > st->step || st->post_steps > st->step_in_block + 1 ||
        (llada2 && st->post_steps > st->rule.max_post + 1) || st->block > st->n_tokens || st->block_masks > st->n_tokens)
        return dlm_error(DLM_STATUS_FORMAT,
                         "session state: counters out of range (step %d, step_in_block %d, post_steps %d, block %d, block_masks %d)",
                         st->step, st->step_in_block, st->post_steps, st->block, st->block_masks);
    for (int i = 0; i < st->n_tokens; i++) {
        if (st->tokens[i] < 0 || st->tokens[i] >= c->n_vocab)
            return dlm_error(DLM_STATUS_FORMAT, "session state: token %d at position %d is outside the vocabulary",
                             st->tokens[i], i);
        if (st->state[i] >= DLM_POS_STATE_COUNT)
            return dlm_error(DLM_STATUS_FORMAT, "session state: bad state %d at position %d", st->state[i], i);
        if (st->pinned && st->pinned[i] && (st->pinned[i] != 1 || i < st->prompt_len || st->tokens[i] == c->mask_id))
            return dlm_error(DLM_STATUS_FORMAT, "session state: position %d is pinned but is not a generated token", i);
    }
    for (int i = 0; i < st->n_tokens * st->soft_k; i++)
        if (st->soft_ids[i] < 0 || st->soft_ids[i] >= c->n_vocab || !isfinite(st->soft_w[i]))
            return dlm_error(DLM_STATUS_FORMAT, "session state: bad soft input at position %d", i / st->soft_k);
    if ((st->cache_len > 0 && !st->cache_ids) || (st->cache_soft_k > 0 && !(st->cache_soft_ids && st->cache_soft_w)))
        return dlm_error(DLM_STATUS_ARG, "session state: cache inputs missing");
    if (st->cache_len < 0 || st->cache_len > st->n_tokens || st->cache_soft_k < 0 || st->cache_soft_k > DLM_SOFT_MAX)
        return dlm_error(DLM_STATUS_FORMAT, "session state: cache inputs (length %d, soft_k %d)", st->cache_len,
                         st->cache_soft_k);
    for (int i = 0; st->block_info && i < st->n_tokens; i++)
        if (st->block_info[i] > (DLM_BSTATE_MASK | DLM_BSTATE_COMPLETE | DLM_BSTATE_FRESH))
            return dlm_error(DLM_STATUS_FORMAT, "session state: block %d has the unknown state %d", i, st->block_info[i]);
    for (int i = 0; st->last_fwd_ids && i < st->n_tokens; i++)
        if (st->last_fwd_ids[i] < 0 || st->last_fwd_ids[i] >= c->n_vocab)
            return dlm_error(DLM_STATUS_FORMAT, "session state: last forward's token %d at position %d is outside the vocabulary",
                             st->last_fwd_ids[i], i);
    for (int i = 0; i < st->cache_len; i++)
        if (st->cache_ids[i] < 0 || st->cache_ids[i] >= c->n_vocab)
            return dlm_error(DLM_STATUS_FORMAT, "session state: cache input token %d at position %d is outside the vocabulary",
                             st->cache_ids[i], i);
    for (int i = 0; i < st->n_tokens * st->cache_soft_k; i++)
        if (st->cache_soft_ids[i] < 0 || st->cache_soft_ids[i] >= c->n_vocab || !isfinite(st->cache_soft_w[i]))
            return dlm_error(DLM_STATUS_FORMAT, "session state: bad cache soft input at position %d", i / st->cache_soft_k);
    return DLM_STATUS_OK;
}

bool dlm_session_done(const dlm_session *s) { return s->st.done; }
int dlm_session_n_tokens(const dlm_session *s) { return s->st.n_tokens; }
int dlm_session_prompt_len(const dlm_session *s) { return s->st.prompt_len; }
const int32_t *dlm_session_tokens(const dlm_session *s) { return s->st.tokens; }
const dlm_rule_config *dlm_session_rule(const dlm_session *s) { return &s->st.rule; }
int dlm_session_steps_done(const dlm_session *s) { return s->st.step; }

int32_t *dlm_session_output(const dlm_session *s, int *n) {
    const dlm_session_state *st = &s->st;
    int32_t *out = dlm_xmalloc((size_t)st->gen_len * sizeof *out);
    int k = 0;
    for (int i = st->prompt_len; i < st->prompt_len + st->gen_len; i++) {
        if (st->tokens[i] == s->eos_id) break;
        out[k++] = st->tokens[i];
    }
    *n = k;
    return out;
}

// ---- interventions --------------------------------------------------------------------------------

// A position's inputs after an intervention set its token: hard (a soft mixture computed for the
// old token would feed something else), no history (EvoToken's historical best, LogitDiff's memory).
static void intervene_reset(dlm_session *s, int i, int32_t tok, uint8_t state) {
    dlm_session_state *st = &s->st;
    st->tokens[i] = tok;
    st->state[i] = state;
    st->hist_conf[i] = 0;
    st->prev_p[i] = 0;
    st->last_fwd_ids[i] = tok; // official-block: a finished block is fed what it now holds
    if (st->soft_k) {
        int k = st->soft_k;
        for (int j = 0; j < k; j++) {
            st->soft_ids[(size_t)i * k + j] = tok;
            st->soft_w[(size_t)i * k + j] = j == k - 1 ? 1.0f : 0.0f;
        }
    }
}

dlm_status dlm_session_intervene(dlm_session *s, const dlm_intervention *iv) {
    dlm_session_state *st = &s->st;
    const char *name = dlm_intervention_name(iv->kind);
    if ((unsigned)iv->kind >= DLM_IV_COUNT) return dlm_error(DLM_STATUS_ARG, "unknown intervention %d", iv->kind);
    if (st->done) return dlm_error(DLM_STATUS_ARG, "%s: generation is finished (%d steps)", name, st->step);
    if (iv->pos < st->prompt_len || iv->end <= iv->pos || iv->end > st->n_tokens)
        return dlm_error(DLM_STATUS_ARG, "%s: positions %d-%d are outside the generation region %d-%d", name, iv->pos,
                         iv->end - 1, st->prompt_len, st->n_tokens - 1);
    if (s->n_pending == DLM_STEP_MAX_INTERVENTIONS)
        return dlm_error(DLM_STATUS_ARG, "%s: %d interventions before one step is the most a step records", name,
                         DLM_STEP_MAX_INTERVENTIONS);
    int b = st->block < s->n_blocks ? st->block : s->n_blocks - 1, fg = first_gen(s, b), be = block_end(s, b);
    bool changed_block = false, changed = false;
    switch (iv->kind) {
    case DLM_IV_FORCE:
        if (iv->end != iv->pos + 1) return dlm_error(DLM_STATUS_ARG, "force: one position at a time (got %d-%d)", iv->pos, iv->end - 1);
        if (iv->token < 0 || iv->token >= s->n_vocab)
            return dlm_error(DLM_STATUS_ARG, "force: token %d is outside the vocabulary [0, %d)", iv->token, s->n_vocab);
        if (iv->token == s->mask_id) return dlm_error(DLM_STATUS_ARG, "force: the mask is not a token to force (remask the position)");
        changed = st->tokens[iv->pos] != iv->token;
        changed_block = changed && iv->pos >= fg && iv->pos < be;
        intervene_reset(s, iv->pos, iv->token, DLM_POS_DECODED);
        break;
    case DLM_IV_REMASK:
        for (int i = iv->pos; i < iv->end; i++) {
            if (st->pinned[i]) return dlm_error(DLM_STATUS_ARG, "remask: position %d is pinned (unpin it first)", i);
            if (i < fg && st->tokens[i] != s->mask_id)
                return dlm_error(DLM_STATUS_ARG, "remask: position %d is in a finished block (the current block starts at %d)", i, fg);
        }
        for (int i = iv->pos; i < iv->end; i++) {
            if (st->tokens[i] == s->mask_id) continue;
            changed = true;
            changed_block |= i >= fg && i < be;
            intervene_reset(s, i, s->mask_id, DLM_POS_MASK);
        }
        break;
    case DLM_IV_PIN:
        for (int i = iv->pos; i < iv->end; i++)
            if (st->tokens[i] == s->mask_id)
                return dlm_error(DLM_STATUS_ARG, "pin: position %d is masked (force a token there first)", i);
        for (int i = iv->pos; i < iv->end; i++) {
            st->pinned[i] = 1;
            // A pinned token is final: fed as itself, never as a soft mixture (EvoToken's [Decode]).
            if (st->state[i] == DLM_POS_SOFT) intervene_reset(s, i, st->tokens[i], DLM_POS_DECODED);
        }
        break;
    case DLM_IV_UNPIN:
        for (int i = iv->pos; i < iv->end; i++) st->pinned[i] = 0;
        break;
    }
    if (changed) { // the KV cache no longer matches the tokens: the next forward refreshes it
        st->cache_len = 0;
        s->cache_key = 0;
    }
    if (changed_block) { // the current block's schedule restarts, as after a fork
        st->step_in_block = 0;
        st->post_steps = 0;
        st->block_masks = count_masks(s, fg, be);
    }
    dlm_intervention *p = &s->pending[s->n_pending++];
    *p = *iv;
    if (iv->kind != DLM_IV_FORCE) p->token = -1;
    if (!p->who[0]) snprintf(p->who, sizeof p->who, "user");
    p->who[sizeof p->who - 1] = 0;
    return DLM_STATUS_OK;
}

// ---- KV cache -----------------------------------------------------------------------------------

static uint64_t new_cache_key(void) {
    static atomic_uint_fast64_t next = 1; // unique across the sessions sharing a backend
    return (uint64_t)atomic_fetch_add(&next, 1);
}

// Fast-dLLM caching (research/algorithms.md §3.3-3.4): the first forward of a block refreshes the
// cache; the block's later forwards reuse it. The refreshing inputs are saved in the state, so a
// session whose cache the backend no longer holds (restored from a trace, or another session ran
// on the same backend since) first rebuilds it from them: the result stays bit-identical.
// Block-causal models (SDAR): the exact block cache. Every position before the current block is
// final and sees nothing after its own block, so its K/V never change: they are computed once,
// by a storing pass over the blocks finished since (the official loop's store_kv forward after a
// block is done, run here at the start of the next block's first step), and each step recomputes
// only the current block against them. A session whose cache the backend no longer holds stores
// the whole prefix again from its tokens.
static dlm_status block_cache_prepare(dlm_session *s, dlm_forward_args *fa, int bs) {
    const dlm_cache_info *held = &s->be->cache;
    bool ours = s->cache_key != 0 && s->be->cache_key == s->cache_key && held->mode == DLM_CACHE_BLOCK && held->len <= bs;
    if (!ours) s->cache_key = new_cache_key();
    int kept = ours ? held->len : 0;
    fa->cache = DLM_CACHE_BLOCK;
    fa->cache_key = s->cache_key;
    // One storing pass per finished block, with the same boundaries whether the session ran
    // straight through or was restored (the prompt's whole blocks first): the same passes give
    // bit-identical K/V, so a resumed session continues exactly.
    while (kept < bs) {
        int next = kept < s->block0 ? s->block0 : kept + s->st.rule.block;
        if (next > bs) next = bs;
        dlm_forward_args store = *fa;
        store.n_tokens = next;
        store.active_start = kept;
        store.active_end = next;
        store.n_rows = 0;
        store.cache_store = true;
        store.cache_refresh = !ours;
        dlm_sample_opts none = dlm_sample_opts_default();
        dlm_status e = dlm_backend_forward(s->be, &store, &none, NULL);
        if (e != DLM_STATUS_OK) {
            s->cache_key = 0;
            return e;
        }
        ours = true;
        kept = next;
    }
    fa->active_start = bs;
    fa->active_end = fa->n_tokens;
    fa->cache_refresh = !ours; // an empty prefix (bs = 0): the step's own pass starts the cache
    return DLM_STATUS_OK;
}

static dlm_status cache_prepare(dlm_session *s, dlm_forward_args *fa, int bs, int be) {
    dlm_session_state *st = &s->st;
    if (st->rule.cache == DLM_RULE_CACHE_NONE) return DLM_STATUS_OK;
    if (s->attn_block > 0) return block_cache_prepare(s, fa, bs); // exact for block-causal attention
    // official-block is the prefix cache over the stale finished blocks the caller feeds.
    fa->cache = st->rule.cache == DLM_RULE_CACHE_OFFICIAL_BLOCK ? DLM_CACHE_PREFIX : st->rule.cache;
    fa->active_start = bs;
    fa->active_end = be;
    if (st->step_in_block == 0 || st->cache_len != fa->n_tokens) {
        st->cache_len = fa->n_tokens;
        memcpy(st->cache_ids, fa->ids, (size_t)fa->n_tokens * sizeof *st->cache_ids);
        cache_soft_alloc(st, fa->soft_k);
        if (fa->soft_k) {
            memcpy(st->cache_soft_ids, fa->soft_ids, (size_t)st->n_tokens * fa->soft_k * sizeof *st->cache_soft_ids);
            memcpy(st->cache_soft_w, fa->soft_w, (size_t)st->n_tokens * fa->soft_k * sizeof *st->cache_soft_w);
        }
        s->cache_key = new_cache_key();
        fa->cache_refresh = true;
    } else if (s->cache_key == 0 || s->be->cache_key != s->cache_key) {
        s->cache_key = new_cache_key();
        dlm_forward_args rebuild = *fa;
        rebuild.ids = st->cache_ids;
        rebuild.soft_k = st->cache_soft_k;
        rebuild.soft_ids = st->cache_soft_ids;
        rebuild.soft_w = st->cache_soft_w;
        rebuild.n_rows = 0;
        rebuild.cache_refresh = true;
        rebuild.cache_key = s->cache_key;
        dlm_sample_opts none = dlm_sample_opts_default();
        dlm_status e = dlm_backend_forward(s->be, &rebuild, &none, NULL);
        if (e != DLM_STATUS_OK) {
            s->cache_key = 0;
            return e;
        }
    }
    fa->cache_key = s->cache_key;
    return DLM_STATUS_OK;
}

dlm_status dlm_session_step(dlm_session *s, dlm_step *out) {
    dlm_session_state *st = &s->st;
    if (st->done) return dlm_error(DLM_STATUS_ARG, "generation is finished (%d steps)", st->step);
    if (st->step >= DLM_SESSION_MAX_STEPS)
        return dlm_error(DLM_STATUS_ARG, "%d steps without finishing: the step limit of a session", st->step);
    if (out->n_tokens < st->n_tokens)
        return dlm_error(DLM_STATUS_ARG, "step snapshot holds %d positions, the session %d", out->n_tokens, st->n_tokens);
    double t0 = dlm_now();
    const dlm_rule_config *r = &st->rule;
    const int b = st->block, bs = block_start(s, b), be = block_end(s, b), P = st->prompt_len, we = window_end(s, b);
    const int fwd_len = s->attn_block > 0 ? we : st->n_tokens;
    dlm_rule_forward rf;
    s->ops->forward(r, &rf);
    memcpy(s->x_old, st->tokens, (size_t)st->n_tokens * sizeof *s->x_old);
    memcpy(s->state_old, st->state, (size_t)st->n_tokens);

    // Rows: the whole generation region (to show it), or what the rule reads.
    int row_lo = P, row_hi = fwd_len, n_rows = 0;
    if (s->opts.rows == DLM_ROWS_NEEDED) {
        row_lo = first_gen(s, b);
        row_hi = rf.rows_to_end ? fwd_len : we;
    }
    for (int i = 0; i < st->n_tokens; i++) s->row_of[i] = -1;
    for (int i = row_lo; i < row_hi; i++) {
        s->row_of[i] = n_rows;
        s->given[n_rows] = st->tokens[i];
        s->rows[n_rows++] = i;
    }
    // Inputs: soft mixtures (EvoToken after its first forward) or hard tokens. The official-block
    // cache feeds every finished block as its last forward saw it: the T2M repository's loop keeps
    // their keys and values from then (stale when the block ended through max_post), and under
    // block-causal attention a pass over those tokens computes exactly that cache.
    s->fed_k = rf.soft_inputs ? st->soft_k : 0;
    const int32_t *ids = st->tokens;
    if (r->cache == DLM_RULE_CACHE_OFFICIAL_BLOCK) {
        memcpy(s->fed_tok, st->last_fwd_ids, (size_t)bs * sizeof *s->fed_tok);
        memcpy(s->fed_tok + bs, st->tokens + bs, (size_t)(st->n_tokens - bs) * sizeof *s->fed_tok);
        ids = s->fed_tok;
    }
    dlm_forward_args fa = {.n_tokens = fwd_len, .ids = ids, .block_size = s->attn_block, .block_origin = s->attn_origin,
                           .n_rows = n_rows, .rows = s->rows, .given = s->given, .cancel = s->opts.cancel,
                           .routing = s->routing};
    const dlm_config *mc = &s->model->cfg;
    const int n_moe = dlm_config_moe_layers(mc), per_pos = n_moe * mc->n_experts_used;
    if (s->routing) memset(s->routing, 0xff, (size_t)st->n_tokens * per_pos * sizeof *s->routing); // -1: not computed
    if (s->fed_k) {
        fa.soft_k = st->soft_k;
        fa.soft_ids = st->soft_ids;
        fa.soft_w = st->soft_w;
        memcpy(s->fed_ids, st->soft_ids, (size_t)st->n_tokens * st->soft_k * sizeof *s->fed_ids);
        memcpy(s->fed_w, st->soft_w, (size_t)st->n_tokens * st->soft_k * sizeof *s->fed_w);
    }
    dlm_sample_opts so = dlm_sample_opts_default();
    so.top_k = r->top_k > rf.min_top_k ? r->top_k : rf.min_top_k;
    so.temperature = r->temperature;
    so.seed = r->seed;
    so.counter = (uint64_t)st->step;
    so.sample_exclude = rf.sample_no_mask ? s->mask_id : -1;
    so.prob_exclude = rf.prob_no_mask && r->temperature == 0 ? s->mask_id : -1;
    so.tempered = rf.tempered;
    double tf = dlm_now();
    dlm_status fst = cache_prepare(s, &fa, bs, be);
    if (fst == DLM_STATUS_OK) fst = dlm_backend_forward(s->be, &fa, &so, s->sum);
    if (fst != DLM_STATUS_OK) return fst;
    double forward_ms = (dlm_now() - tf) * 1e3;

    // Snapshot header; per-position events are set by the rule.
    dlm_step_reserve_experts(out, n_moe, mc->n_experts_used, mc->n_dense_layers);
    if (out->experts) // the experts of the positions whose distribution this step shows
        for (int i = 0; i < st->n_tokens; i++) {
            int16_t *e = out->experts + (size_t)i * per_pos;
            if (s->row_of[i] >= 0) memcpy(e, s->routing + (size_t)i * per_pos, (size_t)per_pos * sizeof *e);
            else memset(e, 0xff, (size_t)per_pos * sizeof *e);
        }
    dlm_pos_info *pos = out->pos;
    memset(pos, 0, (size_t)st->n_tokens * sizeof *pos);
    out->n_commits = out->n_edits = out->n_remasks = out->n_transitions = out->n_finalized = out->n_stuck = 0;

    dlm_rule_ctx c = rule_ctx(s);
    c.x_old = s->x_old, c.sum = s->sum, c.row_of = s->row_of, c.out = out;
    bool converged = s->ops->step(&c);
    memcpy(st->last_fwd_ids + bs, s->x_old + bs, (size_t)(be - bs) * sizeof *st->last_fwd_ids);
    for (int i = 0; i < st->n_tokens; i++) st->state[i] = s->ops->pos_state(&c, i);

    // Per-position snapshot.
    double eps = r->stuck_eps, tau = dlm_rule_stuck_tau(r);
    for (int i = 0; i < st->n_tokens; i++) {
        dlm_pos_info *pi = &pos[i];
        pi->token = st->tokens[i];
        pi->prev_token = s->x_old[i];
        pi->state = st->state[i];
        pi->hist_conf = st->hist_conf[i];
        pi->remask_count = st->remask_count[i];
        pi->pinned = st->pinned[i];
        if (rf.soft_inputs && st->state[i] != s->state_old[i]) pi->events |= DLM_EVENT_TRANSITION;
        if (s->fed_k) {
            int k = s->fed_k;
            bool hard = s->fed_w[(size_t)i * k + k - 1] >= 1.0f;
            pi->n_soft = hard ? 0 : (uint8_t)k;
            for (int j = 0; j < k && !hard; j++) {
                pi->soft_id[j] = s->fed_ids[(size_t)i * k + j];
                pi->soft_w[j] = s->fed_w[(size_t)i * k + j];
            }
        }
        if (s->row_of[i] < 0) continue;
        const dlm_row_summary *rs = &s->sum[s->row_of[i]];
        pi->has_dist = true;
        pi->sampled = rs->token;
        pi->p_sampled = rs->p_token;
        pi->p_current = rs->p_given;
        pi->entropy = rs->entropy;
        pi->n_top = (uint8_t)(rs->n_top < r->top_k ? rs->n_top : r->top_k);
        for (int j = 0; j < pi->n_top; j++) {
            pi->top_id[j] = rs->top_id[j];
            pi->top_p[j] = rs->top_p[j];
        }
        // Stuck: committed before this step, in the active block, and neither confident in its
        // token nor confident enough in any other for T2T to fire.
        if (i >= bs && i < we && i >= P && s->x_old[i] != s->mask_id && rs->p_given < eps && rs->top_p[0] < tau) {
            pi->stuck = true;
            out->n_stuck++;
        }
    }
    for (int i = 0; i < st->n_tokens; i++) {
        uint8_t e = pos[i].events;
        out->n_commits += !!(e & DLM_EVENT_COMMIT);
        out->n_edits += !!(e & DLM_EVENT_EDIT);
        out->n_remasks += !!(e & DLM_EVENT_REMASK);
        out->n_transitions += !!(e & DLM_EVENT_TRANSITION);
    }
    out->step = st->step;
    out->block = b;
    out->n_blocks = s->n_blocks;
    out->block_start = bs;
    out->block_end = we; // pipelined rules: every block in flight
    out->step_in_block = st->step_in_block;
    out->prompt_len = P;
    out->gen_len = st->gen_len;
    out->n_tokens = st->n_tokens;
    out->forward_ms = forward_ms;
    out->n_interventions = s->n_pending;
    for (int k = 0; k < s->n_pending; k++) {
        const dlm_intervention *iv = &s->pending[k];
        out->interventions[k] = *iv;
        for (int i = iv->pos; i < iv->end; i++) pos[i].intervened |= (uint8_t)(1u << iv->kind);
    }
    s->n_pending = 0;

    st->step++;
    st->step_in_block++;
    advance(s, converged, out);
    out->done = st->done;
    out->n_block_info = s->pipelined ? s->n_blocks : 0;
    if (s->pipelined) memcpy(out->block_info, st->block_info, (size_t)s->n_blocks);
    out->step_ms = (dlm_now() - t0) * 1e3;
    return DLM_STATUS_OK;
}
