// rule.h — what a decoding rule is to the engine: one operations table (tig's view_ops pattern).
//
// Each rule is one file in engine/rules/ that fills a `const dlm_rule_ops dlm_rule_NAME_ops` and is
// listed in engine/rules/registry.h. The session (engine/session.c), the rule parser
// (engine/rules.c), the trace writer and reader and the front ends know rules only through these
// tables: there is no switch on the rule kind anywhere. Every operation is required (a rule that
// wants the common behaviour points at the shared helper); test_rules.c fails on a NULL entry.
// docs/adding-a-rule.md walks through adding one.
#ifndef DLM_RULES_RULE_H
#define DLM_RULES_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/forward.h"
#include "engine/rules.h"
#include "engine/session.h"

// A parameter the rule takes (beyond the ALL-scope ones) or an ALL-scope one whose default it
// changes, with its default (ints and enum indices as doubles).
typedef struct {
    dlm_param_id id;
    double       def;
} dlm_rule_param;

// Per-position state a rule keeps in dlm_session_state, exported to traces for resumes. The
// trace writer and reader loop over these; the column name is the trace key.
typedef enum { DLM_STATE_F32, DLM_STATE_U16 } dlm_state_col_type;
typedef struct {
    const char        *name;   // trace key (docs/trace-format.md)
    dlm_state_col_type type;
    size_t             offset; // of the array pointer in dlm_session_state
} dlm_rule_state_col;

// How the step's forward pass is set up for the rule.
typedef struct {
    bool soft_inputs;   // feed the soft mixtures of the state (soft_ids/soft_w) when it holds some
    bool rows_to_end;   // summarise every row up to the forward's end, not only the current block
    int  min_top_k;     // at least this many top-K candidates per row
    bool sample_no_mask;// the mask id is never sampled
    bool prob_no_mask;  // ... and at T = 0 removed from the softmax itself (EvoToken's aliasing)
    bool tempered;      // confidences from softmax(logits / T) (LLaDA2.1)
    // Several blocks in flight (D2F): the attention is block-causal with the prompt as block 0 and
    // generation blocks counted from it; the rule keeps each block's state in st->block_info and
    // its step works on the window [first_gen, window_end) of the open blocks.
    bool pipelined;
} dlm_rule_forward;

// The session as a rule sees it during one step (or between steps, in block_end).
typedef struct {
    dlm_session_state      *st;        // tokens, per-position state, counters (the rule may write)
    const dlm_rule_config  *rc;
    int                     mask_id, eos_id, n_vocab;
    int                     block_start, first_gen, block_end; // current block [start, end); first
                                                              // generated position (> start only
                                                              // for a block-causal first block)
    int                     window_end;// end of the last open block (pipelined rules), else block_end
    int                     block0, n_blocks; // first generation block's start; generation blocks
    int                     fwd_len;   // positions the forward covered
    int                     spb;       // steps per block (rules taking `steps`), else 0
    // Valid inside step() only:
    const int32_t          *x_old;     // (n_tokens) tokens when the forward ran
    const dlm_row_summary  *sum;       // per row
    const int32_t          *row_of;    // (n_tokens) row of a position, -1 if none
    dlm_step               *out;       // events and counts go here
    int32_t                *order;     // (n_tokens) scratch
    double                 *score;     // (n_tokens) scratch
    bool                   *mark;      // (n_tokens) scratch
} dlm_rule_ctx;

typedef enum {
    DLM_BLOCK_CONTINUE, // another forward on this block
    DLM_BLOCK_END,      // the block is finished: move to the next one
    DLM_BLOCK_STOP,     // generation is finished (EOS)
} dlm_block_verdict;

typedef struct {
    const char *name; // on the command line, in the TUI, in trace headers
    const char *help; // paper name and one-line description
    const dlm_rule_param *params;
    int         n_params;
    uint32_t    cache_modes; // bit m: supports cache=m (DLM_RULE_CACHE_*)
    // Derived defaults (presets) for what was not set explicitly, then checks that need more than
    // one parameter. Errors through dlm_error naming the parameter.
    dlm_status (*finalize)(dlm_rule_config *rc);
    // The threshold above which a committed token could still be replaced (stuck set).
    double (*stuck_tau)(const dlm_rule_config *rc);
    // The rule-specific part of dlm_rule_describe ("t2m lowprob τ0.3 C1 ρ0.25").
    void (*describe)(const dlm_rule_config *rc, bool unicode, char *buf, size_t n);
    void (*forward)(const dlm_rule_config *rc, dlm_rule_forward *f);
    // A new block begins (also after a fork): reset the rule's per-block state.
    void (*block_begin)(dlm_rule_ctx *c);
    // The per-step decision on the block [first_gen, block_end): commit, edit, remask through
    // dlm_rule_set_token. Returns true when the rule declares the block converged.
    bool (*step)(dlm_rule_ctx *c);
    // Whether the block is finished. Called after each step (converged: what step() returned)
    // and again while it says END (converged false) and the next block begins.
    dlm_block_verdict (*block_end)(dlm_rule_ctx *c, bool converged);
    // The state of position i after the step (DLM_POS_*), as the next forward will see it.
    uint8_t (*pos_state)(const dlm_rule_ctx *c, int i);
    const dlm_rule_state_col *state_cols;
    int         n_state_cols;
} dlm_rule_ops;

// The table of a rule kind (kind < DLM_RULE_COUNT), and the registry as an array.
const dlm_rule_ops *dlm_rule_ops_of(dlm_rule_kind kind);
#define X(e, name) extern const dlm_rule_ops dlm_rule_##name##_ops;
DLM_RULE_LIST(X)
#undef X

// ---- helpers the rules share (engine/rules/common.c) ---------------------------------------------

#define DLM_COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define DLM_CACHE_BIT(m) (1u << DLM_RULE_CACHE_##m)
#define DLM_FAST_DLLM_CACHES (DLM_CACHE_BIT(NONE) | DLM_CACHE_BIT(PREFIX) | DLM_CACHE_BIT(DUAL))

// Set a position's token and record the event. A pinned position (an intervention) is left as it
// is: rules skip pinned positions in their own selections, and this makes it a guarantee.
void dlm_rule_set_token(dlm_rule_ctx *c, int pos, int32_t tok, int event);
bool dlm_rule_pinned(const dlm_rule_ctx *c, int pos);
int dlm_rule_count_masks(const dlm_rule_ctx *c, int from, int to);
bool dlm_rule_eos_in(const dlm_rule_ctx *c, int from, int to);
// Order n positions by score descending (ascending if asked); ties to the lowest position.
void dlm_rule_rank(int32_t *pos, int n, const double *score, bool ascending);
// The block's masked positions (at forward time) into c->order, ranked by c->score descending,
// which holds the p of the sampled token unless `conf` is given. Returns the count.
int dlm_rule_rank_masks(dlm_rule_ctx *c, double (*conf)(const dlm_rule_ctx *c, int pos));
// The margin p1 - p2 of a position's two most probable tokens (p1 when only one is kept): the
// topk_margin confidence of Dream's sampler, used by the margin and dream rules.
double dlm_rule_margin(const dlm_rule_ctx *c, int pos);
// LLaDA schedule: the block's masks at its start over spb steps, remainder to the early steps.
int dlm_rule_transfer_count(const dlm_rule_ctx *c);
// Commit the sampled token at the first k ranked positions of c->order.
void dlm_rule_commit_top(dlm_rule_ctx *c, int k, int n);

// Common operations.
dlm_status dlm_rule_finalize_none(dlm_rule_config *rc);
double dlm_rule_stuck_tau_default(const dlm_rule_config *rc); // 0.5: LLaDA2.1 Q mode's edit threshold
void dlm_rule_forward_plain(const dlm_rule_config *rc, dlm_rule_forward *f);
void dlm_rule_block_begin_none(dlm_rule_ctx *c);
uint8_t dlm_rule_pos_state_hard(const dlm_rule_ctx *c, int i); // prompt, mask or decoded
dlm_block_verdict dlm_rule_end_after_spb(dlm_rule_ctx *c, bool converged);  // fixed steps per block
dlm_block_verdict dlm_rule_end_when_filled(dlm_rule_ctx *c, bool converged); // no mask left
// LLaDA2.1 / T2M: M2T fill, and the loop's block end (convergence, max_post, EOS stop).
bool dlm_rule_m2t_fill(dlm_rule_ctx *c);
dlm_block_verdict dlm_rule_end_llada2(dlm_rule_ctx *c, bool converged);
void dlm_rule_forward_llada2(const dlm_rule_config *rc, dlm_rule_forward *f);
dlm_status dlm_rule_finalize_llada2(dlm_rule_config *rc);
// Append " name" or "τ0.7"-style pieces for describe().
void dlm_rule_appendf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
