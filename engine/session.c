// session.c — the decoding rules of research/algorithms.md as a step-at-a-time state machine.
//
// One call of dlm_session_step() = one forward pass = one refinement step:
//   1. inputs: hard tokens, or EvoToken's soft mixtures computed at the end of the last step
//   2. forward, with a softmax summary for the generation rows (sampled token, p(current), top-K)
//   3. the rule's update (llada / threshold / t2t / t2m / evotoken), recorded as events
//   4. advance(): block ends, post-refinement budget, EOS stop — so done() is exact after a step
// Ties: argmax to the lowest id (summary.c), position rankings to the lowest position.
#include "session.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
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
    int               spb;      // steps per block (llada, evotoken)
    // scratch, (n_tokens) each
    int32_t          *rows, *given, *row_of, *x_old, *order;
    uint8_t          *state_old;
    double           *score;
    bool             *mark;
    dlm_row_summary  *sum;
    int32_t          *fed_ids;  // the soft inputs of the running step, kept for the snapshot
    float            *fed_w;
    int               fed_k;
    uint64_t          cache_key; // label of this session's KV cache in the backend (0: none yet)
};

static const char *const state_names[] = {
#define X(e, name) name,
    DLM_POS_STATES(X)
#undef X
};
const char *dlm_pos_state_name(dlm_pos_state st) { return (unsigned)st < DLM_POS_STATE_COUNT ? state_names[st] : "?"; }

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
    st->n_tokens = n_tokens;
    return st;
}

void dlm_step_free(dlm_step *st) {
    if (!st) return;
    free(st->pos);
    free(st);
}

void dlm_step_copy(dlm_step *dst, const dlm_step *src) {
    dlm_pos_info *pos = dst->pos;
    *dst = *src;
    dst->pos = pos;
    memcpy(pos, src->pos, (size_t)src->n_tokens * sizeof *pos);
}

// ---- geometry and small helpers -----------------------------------------------------------------

static bool is_rule(const dlm_session *s, dlm_rule_kind k) { return s->st.rule.kind == k; }
static bool llada2_loop(const dlm_session *s) { return is_rule(s, DLM_RULE_T2T) || is_rule(s, DLM_RULE_T2M); }
static int block_start(const dlm_session *s, int b) { return s->block0 + b * s->st.rule.block; }
static int block_end(const dlm_session *s, int b) {
    int e = block_start(s, b) + s->st.rule.block;
    return e < s->st.n_tokens ? e : s->st.n_tokens;
}
static int first_gen(const dlm_session *s, int b) { // prompt tokens of a block-causal first block are not generated
    int bs = block_start(s, b);
    return bs > s->st.prompt_len ? bs : s->st.prompt_len;
}

static int count_masks(const dlm_session *s, int from, int to) {
    int n = 0;
    for (int i = from; i < to; i++) n += s->st.tokens[i] == s->mask_id;
    return n;
}

static bool eos_in(const dlm_session *s, int from, int to) {
    if (s->eos_id < 0) return false;
    for (int i = from; i < to; i++)
        if (s->st.tokens[i] == s->eos_id) return true;
    return false;
}

// LLaDA schedule: n // steps per step, the remainder to the early steps.
static int transfer_count(const dlm_session *s, int i) {
    int n = s->st.block_masks, spb = s->spb;
    if (i >= spb) return count_masks(s, first_gen(s, s->st.block), block_end(s, s->st.block)); // only after a fork
    return n / spb + (i < n % spb ? 1 : 0);
}

// Order `n` positions by score descending (ascending if `ascending`), ties to the lowest position.
static void rank_positions(int32_t *pos, int n, const double *score, bool ascending) {
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

static void start_block(dlm_session *s) {
    dlm_session_state *st = &s->st;
    st->step_in_block = 0;
    st->post_steps = 0;
    st->prev_valid = false;
    if (st->block < s->n_blocks) {
        for (int i = block_start(s, st->block); i < block_end(s, st->block); i++) st->remask_count[i] = 0;
        st->block_masks = count_masks(s, first_gen(s, st->block), block_end(s, st->block));
    }
}

// Resolve block ends, the post-refinement budget and the EOS stop until a forward pass is due or
// generation is over. `converged`: the step just run ended its block (t2t/t2m). Marks positions of
// blocks it closes with FINALIZE in `out` (may be NULL).
static void advance(dlm_session *s, bool converged, dlm_step *out) {
    dlm_session_state *st = &s->st;
    while (!st->done) {
        if (st->block >= s->n_blocks) {
            st->done = true;
            break;
        }
        int be = block_end(s, st->block), fg = first_gen(s, st->block);
        int masks = count_masks(s, fg, be);
        bool end_block = false;
        switch (st->rule.kind) {
        case DLM_RULE_LLADA: end_block = st->step_in_block >= s->spb; break;
        case DLM_RULE_EVOTOKEN: end_block = st->step_in_block > 0 && masks == 0; break;
        case DLM_RULE_THRESHOLD: end_block = masks == 0; break;
        case DLM_RULE_T2T:
        case DLM_RULE_T2M:
            if (converged) {
                end_block = true;
            } else if (masks == 0) {
                // Top of a mask-free iteration (T2M fork semantics): EOS ends everything at once.
                if (st->rule.eos_stop && eos_in(s, st->prompt_len, be)) {
                    st->stopped = st->done = true;
                    end_block = true;
                } else if (++st->post_steps > st->rule.max_post) {
                    end_block = true;
                }
            }
            break;
        default: break;
        }
        if (!end_block) break;
        if (out)
            for (int i = fg; i < be; i++)
                if (st->tokens[i] != s->mask_id) {
                    out->pos[i].events |= DLM_EVENT_FINALIZE;
                    out->n_finalized++;
                }
        if (llada2_loop(s) && st->rule.eos_stop && count_masks(s, st->prompt_len, be) == 0 &&
            eos_in(s, st->prompt_len, be))
            st->stopped = st->done = true;
        if (st->done) break;
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
    st->soft_k = soft_k;
    st->soft_ids = dlm_xcalloc((size_t)n * (soft_k ? soft_k : 1), sizeof *st->soft_ids);
    st->soft_w = dlm_xcalloc((size_t)n * (soft_k ? soft_k : 1), sizeof *st->soft_w);
    st->cache_ids = dlm_xcalloc((size_t)n, sizeof *st->cache_ids);
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
    free(st->soft_ids);
    free(st->soft_w);
    free(st->cache_ids);
    free(st->cache_soft_ids);
    free(st->cache_soft_w);
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
    if (src->soft_k) {
        memcpy(dst->soft_ids, src->soft_ids, (size_t)n * src->soft_k * sizeof *dst->soft_ids);
        memcpy(dst->soft_w, src->soft_w, (size_t)n * src->soft_k * sizeof *dst->soft_w);
    }
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
    if (s->opts.block_causal > 0 && s->opts.block_causal != B)
        return dlm_error(DLM_STATUS_ARG, "--block %d must equal the model's attention block size %d (block-causal)", B,
                         s->opts.block_causal);
    s->block0 = s->opts.block_causal > 0 ? (P / B) * B : P;
    s->n_blocks = (s->st.n_tokens - s->block0 + B - 1) / B;
    if (r->kind == DLM_RULE_LLADA || r->kind == DLM_RULE_EVOTOKEN) {
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
    s->fed_ids = dlm_xcalloc((size_t)n * DLM_SOFT_MAX, sizeof *s->fed_ids);
    s->fed_w = dlm_xcalloc((size_t)n * DLM_SOFT_MAX, sizeof *s->fed_w);
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
        // Soft states exist only under EvoToken; other rules see committed tokens and masks.
        if (r.kind != DLM_RULE_EVOTOKEN || state->rule.kind != DLM_RULE_EVOTOKEN) {
            for (int i = 0; i < st->n_tokens; i++) {
                if (st->state[i] == DLM_POS_SOFT) st->state[i] = DLM_POS_DECODED;
                if (st->state[i] == DLM_POS_SOFT_MASK) st->state[i] = DLM_POS_MASK;
                st->hist_conf[i] = 0;
            }
            st->soft_k = 0;
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
    free(s->fed_ids);
    free(s->fed_w);
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
    }
    for (int i = 0; i < st->n_tokens * st->soft_k; i++)
        if (st->soft_ids[i] < 0 || st->soft_ids[i] >= c->n_vocab || !isfinite(st->soft_w[i]))
            return dlm_error(DLM_STATUS_FORMAT, "session state: bad soft input at position %d", i / st->soft_k);
    if ((st->cache_len > 0 && !st->cache_ids) || (st->cache_soft_k > 0 && !(st->cache_soft_ids && st->cache_soft_w)))
        return dlm_error(DLM_STATUS_ARG, "session state: cache inputs missing");
    if (st->cache_len < 0 || st->cache_len > st->n_tokens || st->cache_soft_k < 0 || st->cache_soft_k > DLM_SOFT_MAX)
        return dlm_error(DLM_STATUS_FORMAT, "session state: cache inputs (length %d, soft_k %d)", st->cache_len,
                         st->cache_soft_k);
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

// ---- the rules ----------------------------------------------------------------------------------

static double confidence(const dlm_session *s, int pos) {
    if (is_rule(s, DLM_RULE_LLADA) && s->st.rule.remasking == DLM_REMASK_RANDOM)
        return dlm_rng_uniform(s->st.rule.seed, (uint64_t)s->st.step, (uint64_t)pos, (uint64_t)s->n_vocab);
    return s->sum[s->row_of[pos]].p_token;
}

static void set_token(dlm_session *s, dlm_step *out, int pos, int32_t tok, int event) {
    s->st.tokens[pos] = tok;
    out->pos[pos].events |= (uint8_t)event;
}

// Masked positions of the current block, ranked by confidence (highest first). Returns the count.
static int ranked_masks(dlm_session *s) {
    int n = 0;
    for (int i = first_gen(s, s->st.block); i < block_end(s, s->st.block); i++)
        if (s->x_old[i] == s->mask_id) {
            s->score[i] = confidence(s, i);
            s->order[n++] = i;
        }
    rank_positions(s->order, n, s->score, false);
    return n;
}

static void rule_llada(dlm_session *s, dlm_step *out) {
    int n = ranked_masks(s), k = transfer_count(s, s->st.step_in_block);
    for (int j = 0; j < k && j < n; j++) {
        int p = s->order[j];
        set_token(s, out, p, s->sum[s->row_of[p]].token, DLM_EVENT_COMMIT);
    }
}

static void rule_threshold(dlm_session *s, dlm_step *out) {
    int n = ranked_masks(s), k;
    double factor = s->st.rule.factor;
    if (factor > 0) { // Fast-dLLM get_transfer_index_dynamic, off-by-one included
        int i = 0;
        for (; i < n; i++) {
            double thr = i == 0 ? -1.0 : 1.0 - factor / (i + 2);
            if (s->score[s->order[i]] < thr) break;
        }
        if (i == n) i = n - 1;
        if (i == 0 || i == n - 1) i++;
        k = i;
    } else { // the top-1 always, the rest if conf >= tau
        k = n > 0 ? 1 : 0;
        while (k < n && s->score[s->order[k]] >= s->st.rule.tau) k++;
    }
    for (int j = 0; j < k && j < n; j++) {
        int p = s->order[j];
        set_token(s, out, p, s->sum[s->row_of[p]].token, DLM_EVENT_COMMIT);
    }
}

// LLaDA2.1 M2T: fill masks with conf > tau, or else the single most confident one.
static bool m2t_fill(dlm_session *s, dlm_step *out) {
    int fg = first_gen(s, s->st.block), be = block_end(s, s->st.block), best = -1, n = 0;
    bool any_act = false;
    for (int i = fg; i < be; i++) {
        if (s->x_old[i] != s->mask_id) continue;
        any_act = true;
        const dlm_row_summary *r = &s->sum[s->row_of[i]];
        if (r->p_token > s->st.rule.tau) {
            set_token(s, out, i, r->token, DLM_EVENT_COMMIT);
            n++;
        }
        if (best < 0 || r->p_token > s->sum[s->row_of[best]].p_token) best = i;
    }
    if (n == 0 && best >= 0) set_token(s, out, best, s->sum[s->row_of[best]].token, DLM_EVENT_COMMIT);
    return any_act;
}

// Returns true when the block has converged (no masks at step start and nothing edited).
static bool rule_t2t(dlm_session *s, dlm_step *out) {
    int fg = first_gen(s, s->st.block), be = block_end(s, s->st.block);
    bool act = false, edited = false;
    // Decide edits on the pre-step tokens, then apply fills and edits together.
    for (int i = fg; i < be; i++) {
        s->mark[i] = false;
        if (s->x_old[i] == s->mask_id) continue;
        const dlm_row_summary *r = &s->sum[s->row_of[i]];
        s->mark[i] = r->p_token > s->st.rule.tau_edit && r->token != s->x_old[i];
    }
    act = m2t_fill(s, out);
    for (int i = fg; i < be; i++)
        if (s->mark[i]) {
            set_token(s, out, i, s->sum[s->row_of[i]].token, DLM_EVENT_EDIT);
            edited = true;
        }
    return !act && !edited;
}

static bool rule_t2m(dlm_session *s, dlm_step *out) {
    dlm_session_state *st = &s->st;
    const dlm_rule_config *r = &st->rule;
    int fg = first_gen(s, st->block), be = block_end(s, st->block);
    bool act = m2t_fill(s, out);
    // Editable set: committed before this step (code), or also this step's fills (paper).
    int n_e = 0;
    for (int i = fg; i < be; i++) {
        bool filled = s->x_old[i] == s->mask_id && st->tokens[i] != s->mask_id;
        s->mark[i] = s->x_old[i] != s->mask_id || (r->editable == DLM_EDITABLE_AFTER && filled);
        n_e += s->mark[i];
    }
    if (n_e == 0) { // reset_state(): counters and LogitDiff memory
        for (int i = block_start(s, st->block); i < be; i++) st->remask_count[i] = 0;
        st->prev_valid = false;
        return !act;
    }
    int n_r = 0;
    for (int i = fg; i < be; i++) {
        if (!s->mark[i]) continue;
        const dlm_row_summary *rs = &s->sum[s->row_of[i]];
        // p_t of the token the position holds (for a fill, the token just placed: its confidence)
        double p_now = s->x_old[i] == s->mask_id ? rs->p_token : rs->p_given;
        bool remask = false;
        double score = 0;
        switch (r->detector) {
        case DLM_DETECT_LOWPROB: remask = p_now < r->tau_remask, score = p_now; break;
        case DLM_DETECT_T2T_REMASK:
            remask = rs->p_token > r->tau_remask && rs->token != st->tokens[i], score = 1.0 - rs->p_token;
            break;
        case DLM_DETECT_LOGITDIFF: {
            double drop = st->prev_p[i] - p_now;
            remask = st->prev_valid && drop > r->tau_remask, score = -drop;
            break;
        }
        }
        if (remask && st->remask_count[i] < r->cmax) {
            s->score[i] = score;
            s->order[n_r++] = i;
        }
    }
    st->prev_valid = true;
    if (n_r > 0 && r->rho_max < 1.0) {
        int cap = (int)(n_e * r->rho_max);
        if (r->cap == DLM_CAP_CODE && cap < 1) cap = 1;
        rank_positions(s->order, n_r, s->score, true); // lowest score first
        if (n_r > cap) n_r = cap;
    }
    for (int j = 0; j < n_r; j++) {
        int p = s->order[j];
        set_token(s, out, p, s->mask_id, DLM_EVENT_REMASK);
        st->remask_count[p]++;
    }
    return !act && n_r == 0;
}

// EvoToken: top-ntt masks go to Soft(V), historical-best replacement, next soft inputs for all.
static void rule_evotoken(dlm_session *s, dlm_step *out, int fwd_len) {
    dlm_session_state *st = &s->st;
    const dlm_rule_config *r = &st->rule;
    int bs = block_start(s, st->block), fg = first_gen(s, st->block), be = block_end(s, st->block);
    int n = ranked_masks(s), k = transfer_count(s, st->step_in_block);
    for (int j = 0; j < k && j < n; j++) {
        int p = s->order[j];
        const dlm_row_summary *rs = &s->sum[s->row_of[p]];
        set_token(s, out, p, rs->token, DLM_EVENT_COMMIT);
        st->hist_conf[p] = rs->p_token;
    }
    for (int i = fg; i < be; i++) { // historical best: strictly more confident candidates replace
        const dlm_row_summary *rs = &s->sum[s->row_of[i]];
        if (st->tokens[i] == s->mask_id || rs->token == s->mask_id || !(rs->p_token > st->hist_conf[i])) continue;
        if (rs->token != st->tokens[i]) set_token(s, out, i, rs->token, DLM_EVENT_EDIT);
        st->hist_conf[i] = rs->p_token;
    }
    // Next forward's inputs. Masks: alpha * e_M + (1 - alpha) * renormalised top-k mixture;
    // decoded positions of this block: the top-k mixture alone (own token weight 0); before the
    // block: the hard token. Weights are rounded to bf16 as the reference feeds them.
    int K = r->k_soft, slots = K + 1;
    if (st->soft_k != slots) {
        free(st->soft_ids);
        free(st->soft_w);
        st->soft_ids = dlm_xcalloc((size_t)st->n_tokens * slots, sizeof *st->soft_ids);
        st->soft_w = dlm_xcalloc((size_t)st->n_tokens * slots, sizeof *st->soft_w);
        st->soft_k = slots;
    }
    for (int i = 0; i < st->n_tokens; i++) {
        int32_t *ids = st->soft_ids + (size_t)i * slots;
        float *w = st->soft_w + (size_t)i * slots;
        memset(w, 0, (size_t)slots * sizeof *w);
        for (int j = 0; j < slots; j++) ids[j] = st->tokens[i];
        if (i < bs || i >= fwd_len || s->row_of[i] < 0) {
            w[K] = 1.0f;
            continue;
        }
        const dlm_row_summary *rs = &s->sum[s->row_of[i]];
        double sum = 0, wd[DLM_SOFT_MAX];
        for (int j = 0; j < K; j++) sum += rs->top_p[j];
        for (int j = 0; j < K; j++) wd[j] = rs->top_p[j], ids[j] = rs->top_id[j];
        wd[K] = st->tokens[i] == s->mask_id ? sum * r->alpha / (1.0 - r->alpha) : 0.0;
        double total = sum + wd[K];
        for (int j = 0; j < slots; j++) w[j] = dlm_bf16_to_f32(dlm_f32_to_bf16((float)(wd[j] / total)));
    }
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
static dlm_status cache_prepare(dlm_session *s, dlm_forward_args *fa, int bs, int be) {
    dlm_session_state *st = &s->st;
    if (st->rule.cache == DLM_CACHE_NONE) return DLM_STATUS_OK;
    fa->cache = st->rule.cache;
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

static uint8_t state_after(const dlm_session *s, int i, int bs) {
    const dlm_session_state *st = &s->st;
    if (i < st->prompt_len) return DLM_POS_PROMPT;
    if (!is_rule(s, DLM_RULE_EVOTOKEN)) return st->tokens[i] == s->mask_id ? DLM_POS_MASK : DLM_POS_DECODED;
    bool soft_next = st->soft_k > 0 && st->soft_w[(size_t)i * st->soft_k + st->soft_k - 1] < 1.0f;
    if (st->tokens[i] == s->mask_id) return soft_next ? DLM_POS_SOFT_MASK : DLM_POS_MASK;
    return i >= bs && soft_next ? DLM_POS_SOFT : DLM_POS_DECODED;
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
    const int b = st->block, bs = block_start(s, b), be = block_end(s, b), P = st->prompt_len;
    const int fwd_len = st->block_causal > 0 ? be : st->n_tokens;
    const bool evo = is_rule(s, DLM_RULE_EVOTOKEN);
    memcpy(s->x_old, st->tokens, (size_t)st->n_tokens * sizeof *s->x_old);
    memcpy(s->state_old, st->state, (size_t)st->n_tokens);

    // Rows: the whole generation region (to show it), or what the rule reads.
    int row_lo = P, row_hi = fwd_len, n_rows = 0;
    if (s->opts.rows == DLM_ROWS_NEEDED) {
        row_lo = first_gen(s, b);
        row_hi = evo ? fwd_len : be;
    }
    for (int i = 0; i < st->n_tokens; i++) s->row_of[i] = -1;
    for (int i = row_lo; i < row_hi; i++) {
        s->row_of[i] = n_rows;
        s->given[n_rows] = st->tokens[i];
        s->rows[n_rows++] = i;
    }
    // Inputs: soft mixtures (EvoToken after its first forward) or hard tokens.
    s->fed_k = evo ? st->soft_k : 0;
    dlm_forward_args fa = {.n_tokens = fwd_len, .ids = st->tokens, .block_size = st->block_causal,
                           .n_rows = n_rows, .rows = s->rows, .given = s->given, .cancel = s->opts.cancel};
    if (s->fed_k) {
        fa.soft_k = st->soft_k;
        fa.soft_ids = st->soft_ids;
        fa.soft_w = st->soft_w;
        memcpy(s->fed_ids, st->soft_ids, (size_t)st->n_tokens * st->soft_k * sizeof *s->fed_ids);
        memcpy(s->fed_w, st->soft_w, (size_t)st->n_tokens * st->soft_k * sizeof *s->fed_w);
    }
    dlm_sample_opts so = dlm_sample_opts_default();
    so.top_k = r->top_k > (evo ? r->k_soft : 0) ? r->top_k : r->k_soft;
    so.temperature = r->temperature;
    so.seed = r->seed;
    so.counter = (uint64_t)st->step;
    so.sample_exclude = evo ? s->mask_id : -1;                      // EvoToken never samples [MASK]
    so.prob_exclude = evo && r->temperature == 0 ? s->mask_id : -1; // its T = 0 aliasing quirk (Q1)
    so.tempered = llada2_loop(s); // LLaDA2.1 samples from softmax(logits / T) and reports that probability
    double tf = dlm_now();
    dlm_status fst = cache_prepare(s, &fa, bs, be);
    if (fst == DLM_STATUS_OK) fst = dlm_backend_forward(s->be, &fa, &so, s->sum);
    if (fst != DLM_STATUS_OK) return fst;
    double forward_ms = (dlm_now() - tf) * 1e3;

    // Snapshot header; per-position events are set by the rule.
    dlm_pos_info *pos = out->pos;
    memset(pos, 0, (size_t)st->n_tokens * sizeof *pos);
    out->n_commits = out->n_edits = out->n_remasks = out->n_transitions = out->n_finalized = out->n_stuck = 0;

    bool converged = false;
    switch (r->kind) {
    case DLM_RULE_LLADA: rule_llada(s, out); break;
    case DLM_RULE_THRESHOLD: rule_threshold(s, out); break;
    case DLM_RULE_T2T: converged = rule_t2t(s, out); break;
    case DLM_RULE_T2M: converged = rule_t2m(s, out); break;
    case DLM_RULE_EVOTOKEN: rule_evotoken(s, out, fwd_len); break;
    default: break;
    }
    // LogitDiff memory: p, at this step, of whatever each position now holds.
    for (int i = row_lo; i < row_hi; i++) {
        const dlm_row_summary *rs = &s->sum[s->row_of[i]];
        st->prev_p[i] = st->tokens[i] == s->x_old[i] ? rs->p_given : st->tokens[i] == rs->token ? rs->p_token : 0.0f;
    }
    for (int i = 0; i < st->n_tokens; i++) st->state[i] = state_after(s, i, bs);

    // Per-position snapshot.
    double eps = r->stuck_eps, tau = dlm_rule_stuck_tau(r);
    for (int i = 0; i < st->n_tokens; i++) {
        dlm_pos_info *pi = &pos[i];
        pi->token = st->tokens[i];
        pi->prev_token = s->x_old[i];
        pi->state = st->state[i];
        pi->hist_conf = st->hist_conf[i];
        pi->remask_count = st->remask_count[i];
        if (evo && st->state[i] != s->state_old[i]) pi->events |= DLM_EVENT_TRANSITION;
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
        if (i >= bs && i < be && i >= P && s->x_old[i] != s->mask_id && rs->p_given < eps && rs->top_p[0] < tau) {
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
    out->block_end = be;
    out->step_in_block = st->step_in_block;
    out->prompt_len = P;
    out->gen_len = st->gen_len;
    out->n_tokens = st->n_tokens;
    out->forward_ms = forward_ms;

    st->step++;
    st->step_in_block++;
    advance(s, converged, out);
    out->done = st->done;
    out->step_ms = (dlm_now() - t0) * 1e3;
    return DLM_STATUS_OK;
}
