// session.h — a resumable decoding session: one refinement step at a time.
//
// The TUI, the recorder and the evaluator all drive this API. A step runs exactly one forward
// pass and fills a dlm_step snapshot (DESIGN.md contract 2); the session can export its complete
// state after any step and be restored from it (contract 3), with the same rule (bit-identical
// continuation) or another (a fork).
//
//   dlm_session *s = dlm_session_new(model, backend, prompt_ids, n_prompt, &rule, NULL);
//   dlm_step *st = dlm_step_new(dlm_session_n_tokens(s));
//   while (!dlm_session_done(s))
//       if (dlm_session_step(s, st) != DLM_STATUS_OK) ... dlm_error_message()
//   dlm_step_free(st); dlm_session_free(s);
#ifndef DLM_SESSION_H
#define DLM_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "error.h"
#include "model.h"
#include "rules.h"

// X(ENUM, "name"): what a position is, as it will be fed to the next forward pass.
#define DLM_POS_STATES(X)       \
    X(PROMPT, "prompt")         \
    X(MASK, "mask")             \
    X(SOFT_MASK, "soft-mask")   \
    X(SOFT, "soft")             \
    X(DECODED, "decoded")

typedef enum {
#define X(e, name) DLM_POS_##e,
    DLM_POS_STATES(X)
#undef X
    DLM_POS_STATE_COUNT
} dlm_pos_state;

// Pipelined rules (d2f: several blocks in flight, research/models.md §6): the state of each
// generation block, X(ENUM, "name"), in the low two bits of a block's byte, with the flag bits below.
#define DLM_BLOCK_STATES(X)     \
    X(IDLE, "idle")             \
    X(ACTIVE, "active")         \
    X(TO_CACHE, "to-cache")     \
    X(IN_CACHE, "in-cache")

typedef enum {
#define X(e, name) DLM_BSTATE_##e,
    DLM_BLOCK_STATES(X)
#undef X
} dlm_block_state;
enum {
    DLM_BSTATE_MASK = 3,      // the dlm_block_state part of a block's byte
    DLM_BSTATE_COMPLETE = 4,  // "fully activated": its predecessor reached the decoded threshold, so a
                              // step commits at least one of its masks
    DLM_BSTATE_FRESH = 8,     // opened since the last forward (at most one block opens per step)
};

// What happened to a position in a step (bit flags). X(ENUM, bit, "name")
#define DLM_EVENTS(X)                 \
    X(COMMIT, 0, "commit")            \
    X(EDIT, 1, "edit")                \
    X(REMASK, 2, "remask")            \
    X(TRANSITION, 3, "transition")    \
    X(FINALIZE, 4, "finalize")

enum {
#define X(e, bit, name) DLM_EVENT_##e = 1 << bit,
    DLM_EVENTS(X)
#undef X
};

// What a person (or a script) may do to a session between two steps: X(ENUM, "name").
//   force  POS=TOKEN  put a token at a position (any vocabulary token but the mask)
//   remask POS[-END]  reset positions of the current block (or a later one) to the mask
//   pin    POS[-END]  no rule may edit or remask these positions (they must hold tokens)
//   unpin  POS[-END]  undo a pin
#define DLM_INTERVENTIONS(X) \
    X(FORCE, "force")        \
    X(REMASK, "remask")      \
    X(PIN, "pin")            \
    X(UNPIN, "unpin")

typedef enum {
#define X(e, name) DLM_IV_##e,
    DLM_INTERVENTIONS(X)
#undef X
    DLM_IV_COUNT
} dlm_intervention_kind;

#define DLM_STEP_MAX_INTERVENTIONS 64 // per step: what one person does between two steps
#define DLM_IV_WHO_MAX 16

// One intervention: who did what where. Recorded in the trace as an event of the step it preceded.
typedef struct {
    uint8_t kind;                 // dlm_intervention_kind
    int32_t pos, end;             // canvas positions [pos, end); force: end = pos + 1
    int32_t token;                // force: the token placed; else -1
    char    who[DLM_IV_WHO_MAX];  // "user" (the TUI, the command line); "" reads as "user"
} dlm_intervention;

#define DLM_SOFT_MAX 9 // k_soft (<= 8) candidates + the position's own token
// Steps one session may run (about 1e9, far beyond any schedule): counters never overflow.
#define DLM_SESSION_MAX_STEPS (1 << 30)

typedef struct {
    int32_t  token;        // after this step
    int32_t  prev_token;   // when the step's forward ran
    uint8_t  state;        // dlm_pos_state after this step
    uint8_t  events;       // DLM_EVENT_* bits
    bool     has_dist;     // the fields below were computed this step
    bool     stuck;        // committed, p(current) < stuck_eps and max p < stuck_tau
    int32_t  sampled;      // the rule's candidate x0 (argmax, or the Gumbel sample)
    float    p_sampled;    // its probability: the rule's confidence
    float    p_current;    // probability of prev_token (the token held when the forward ran)
    float    entropy;      // nats
    uint8_t  n_top;
    int32_t  top_id[DLM_SNAPSHOT_TOP_MAX];  // top-K by probability; top_p[0] is max p
    float    top_p[DLM_SNAPSHOT_TOP_MAX];
    uint8_t  n_soft;       // EvoToken: the soft input fed this step (0: a hard token)
    int32_t  soft_id[DLM_SOFT_MAX];
    float    soft_w[DLM_SOFT_MAX];
    float    hist_conf;    // EvoToken: historical-best confidence of the position's token
    uint16_t remask_count; // T2M: remasks of this position in the current block
    bool     pinned;       // after this step: no rule may edit or remask the position
    uint8_t  intervened;   // bit (1 << dlm_intervention_kind) per intervention that touched it before this step
} dlm_pos_info;

typedef struct {
    int           step;          // 0-based index: forward passes before this one
    int           block;         // index of the block this step worked on
    int           n_blocks;
    int           block_start, block_end; // canvas positions [start, end)
    int           step_in_block;
    int           prompt_len;
    int           gen_len;
    int           n_tokens;      // canvas length (prompt + generation, block-padded when block-causal)
    int           n_commits, n_edits, n_remasks, n_transitions, n_finalized, n_stuck;
    double        forward_ms;
    double        step_ms;
    bool          done;          // generation finished with this step
    int           n_interventions; // applied before this step's forward, in order
    dlm_intervention interventions[DLM_STEP_MAX_INTERVENTIONS];
    dlm_pos_info *pos;           // (n_tokens)
    // Mixture-of-experts models: the experts this step's forward routed each position to, in every
    // MoE layer (the first is layer first_moe_layer of the checkpoint), best selection score first:
    // experts[((size_t)i * n_moe_layers + j) * experts_per_layer + k]; -1 where this step's forward
    // did not route the position (no distribution, or one read from the KV cache). NULL / 0 for
    // dense models.
    int           n_moe_layers, experts_per_layer, first_moe_layer;
    int16_t      *experts;
    size_t        experts_cap;   // entries the experts buffer holds
    // Pipelined rules (d2f): every generation block's state after this step (DLM_BSTATE_* | flags),
    // block_start..block_end spanning the blocks in flight; n_block_info 0 for other rules.
    int           n_block_info;
    uint8_t      *block_info;    // (n_tokens capacity)
} dlm_step;

dlm_step *dlm_step_new(int n_tokens);
void dlm_step_free(dlm_step *st);
void dlm_step_copy(dlm_step *dst, const dlm_step *src); // dst must have room for src->n_tokens
// Give a snapshot room for the routing of n_moe_layers x per_layer experts for each of its
// n_tokens positions (n_moe_layers 0: none).
void dlm_step_reserve_experts(dlm_step *st, int n_moe_layers, int per_layer, int first_moe_layer);

typedef enum {
    DLM_ROWS_GENERATION, // every generation position gets a distribution (for viewing)
    DLM_ROWS_NEEDED,     // only the rows the rule reads (faster on large vocabularies)
} dlm_rows;

typedef struct {
    int      block_causal; // > 0: the model attends block-causally with this block size (LLaDA2.x)
    dlm_rows rows;
    const volatile int *cancel; // optional: set it to abandon a running step (DLM_STATUS_CANCELLED)
} dlm_session_opts;

// Complete decoding state after a step: everything needed to continue (contract 3).
typedef struct {
    dlm_rule_config rule;
    int       n_tokens, prompt_len, gen_len, block_causal;
    int       block;          // current block index
    int       step_in_block;  // forwards done in the current block
    int       post_steps;     // t2t/t2m: mask-free iterations of this block (incl. a pending one)
    int       step;           // forwards done in total (the random stream's counter)
    int       block_masks;    // masks in the current block when it started (LLaDA schedule)
    bool      done, stopped;  // finished; stopped early by EOS
    bool      prev_valid;     // t2m logitdiff has a previous step to compare with
    int32_t  *tokens;         // (n_tokens)
    uint8_t  *state;          // (n_tokens) dlm_pos_state
    float    *hist_conf;      // (n_tokens) EvoToken conf_x
    uint16_t *remask_count;   // (n_tokens) T2M counters, reset per block
    float    *prev_p;         // (n_tokens) probability, at the previous step, of the token now held
    uint8_t  *pinned;         // (n_tokens) 1: pinned by an intervention (NULL in a state built by hand: none)
    int       soft_k;         // slots per position below; 0: the next forward takes hard tokens
    int32_t  *soft_ids;       // (n_tokens, soft_k)
    float    *soft_w;         // (n_tokens, soft_k)
    // KV cache (rule.cache): the inputs of the forward that last refreshed it, so a restored
    // session rebuilds the same cache and continues bit for bit. cache_len 0: nothing cached yet.
    int       cache_len;      // n_tokens of that forward
    int32_t  *cache_ids;      // (n_tokens)
    int       cache_soft_k;
    int32_t  *cache_soft_ids; // (n_tokens, cache_soft_k)
    float    *cache_soft_w;   // (n_tokens, cache_soft_k)
    // Each position's token when the last forward over its block ran (for finished blocks: the
    // tokens the T2M repository's block cache keeps, fed by cache=official-block).
    int32_t  *last_fwd_ids;   // (n_tokens)
    // Pipelined rules (d2f): each generation block's state (DLM_BSTATE_* | flags), indexed by block
    // (n_blocks <= n_tokens entries used); all 0 under other rules. block is the first active one.
    uint8_t  *block_info;     // (n_tokens)
} dlm_session_state;

typedef struct dlm_session dlm_session;

// Start a session. `prompt` holds token ids (apply the chat template before). The model and the
// backend must outlive the session. NULL with a message on error (empty prompt, too long, ...).
dlm_session *dlm_session_new(const dlm_model *model, dlm_backend *be, const int32_t *prompt, int n_prompt,
                             const dlm_rule_config *rule, const dlm_session_opts *opts);
// Restore from an exported state. rule NULL: continue with the state's rule (bit-identical);
// another rule forks: the current block restarts its schedule under the new rule.
dlm_session *dlm_session_restore(const dlm_model *model, dlm_backend *be, const dlm_session_state *state,
                                 const dlm_rule_config *rule, const dlm_session_opts *opts);
void dlm_session_free(dlm_session *s);

// Run one refinement step and describe it in *out (sized with dlm_step_new(n_tokens)).
dlm_status dlm_session_step(dlm_session *s, dlm_step *out);
bool dlm_session_done(const dlm_session *s);
int dlm_session_n_tokens(const dlm_session *s);
int dlm_session_prompt_len(const dlm_session *s);
const int32_t *dlm_session_tokens(const dlm_session *s); // (n_tokens), valid until the next step
const dlm_rule_config *dlm_session_rule(const dlm_session *s);
int dlm_session_steps_done(const dlm_session *s);
// The generated tokens: positions [P, P+G) up to (not including) the first EOS. Caller frees.
int32_t *dlm_session_output(const dlm_session *s, int *n);

// Apply an intervention now: it takes effect before the next step and is recorded in that step's
// snapshot (dlm_step.interventions). Forced and pinned tokens are committed tokens to every rule;
// a pinned position is never edited nor remasked. A change of tokens in the current block
// restarts its schedule (as a fork does: step_in_block 0, the masks counted again) and any KV
// cache is rebuilt. Errors (position outside the generation region, the mask as a forced token,
// remasking a pinned or finished position, pinning a mask, a finished session) change nothing.
dlm_status dlm_session_intervene(dlm_session *s, const dlm_intervention *iv);
// "force 23=#812", "remask 20-24", "pin 7" (ranges inclusive, as typed; token text is the caller's).
void dlm_intervention_format(const dlm_intervention *iv, char *buf, size_t n);
const char *dlm_intervention_name(int kind);
int dlm_intervention_find(const char *name); // -1 if unknown

// Deep copy of the state; free with dlm_session_state_free. restore reads, never keeps, it.
void dlm_session_export(const dlm_session *s, dlm_session_state *out);
void dlm_session_state_free(dlm_session_state *st);
// Check a state read from a file against a model (sizes, ids in range, enums valid).
dlm_status dlm_session_state_check(const dlm_session_state *st, const dlm_config *cfg);

const char *dlm_pos_state_name(dlm_pos_state st);
const char *dlm_block_state_name(int state); // of (byte & DLM_BSTATE_MASK)
const char *dlm_event_name(int bit);

#endif
