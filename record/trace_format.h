// trace_format.h — the dlmscope trace file, shared by the writer (record/) and reader (replay/).
// docs/trace-format.md is the normative description; this header names its constants.
//
// A trace is a stream of msgpack maps with string keys: one "header", then one "step" record per
// refinement step, appended and flushed as it happens, then (when the run ended cleanly) one
// "footer". Readers skip keys and record types they do not know. Per-position columns are
// little-endian binary blobs over the generation region (positions prompt_len .. n_tokens-1).
#ifndef DLM_TRACE_FORMAT_H
#define DLM_TRACE_FORMAT_H

#include <math.h>
#include <stdint.h>

#include "engine/rules.h"

#define DLM_TRACE_FORMAT "dlmscope-trace"
#define DLM_TRACE_VERSION_MAJOR 1 // incompatible changes bump this; readers refuse newer majors
#define DLM_TRACE_VERSION_MINOR 4 // compatible additions (1: KV-cache refresh inputs in the session state; 2: MoE routing;
                                  // 3: interventions of a step, pinned positions in the session state;
                                  // 4: per-block states of pipelined rules (d2f) in the session state)

// Every key of every record, declared once (docs/trace-format.md lists exactly these; test_trace
// checks it). X(RECORD, key): HEADER, MODEL (the header's `model` map), TOKENS (the token text
// table, in the header and in step records), STEP, SESSION (a step's `session` map; a rule's own
// per-position keys come from its table, engine/rules/*.c), INTERVENTION (an entry of a step's
// `interventions` array), FOOTER, RULE_PARAMS (the header's `rule_params` map: `name` and the
// rule's parameter names).
#define DLM_TRACE_FIELDS(X)                                                                                        \
    X(HEADER, type) X(HEADER, format) X(HEADER, version) X(HEADER, dlmscope) X(HEADER, created) X(HEADER, model) \
    X(HEADER, tokenizer) X(HEADER, device) X(HEADER, id_width) X(HEADER, prompt_text) X(HEADER, prompt_ids)      \
    X(HEADER, prompt_len) X(HEADER, gen_len) X(HEADER, n_tokens) X(HEADER, block_len) X(HEADER, block_causal)    \
    X(HEADER, rule) X(HEADER, rule_params) X(HEADER, seed) X(HEADER, top_k) X(HEADER, parent)                    \
    X(HEADER, parent_step)                                                                                         \
    X(MODEL, name) X(MODEL, dir) X(MODEL, identity) X(MODEL, adapter) X(MODEL, n_vocab) X(MODEL, mask_id)        \
    X(MODEL, eos_id)                                                                                               \
    X(TOKENS, new_token_ids) X(TOKENS, new_token_bytes)                                                           \
    X(STEP, type) X(STEP, step) X(STEP, block) X(STEP, n_blocks) X(STEP, block_start) X(STEP, block_end)         \
    X(STEP, step_in_block) X(STEP, commits) X(STEP, edits) X(STEP, remasks) X(STEP, transitions)                 \
    X(STEP, finalized) X(STEP, stuck) X(STEP, forward_ms) X(STEP, step_ms) X(STEP, done) X(STEP, token)          \
    X(STEP, state) X(STEP, events) X(STEP, flags) X(STEP, sampled) X(STEP, p_sampled) X(STEP, p_current)         \
    X(STEP, entropy) X(STEP, top_k) X(STEP, n_top) X(STEP, top_id) X(STEP, top_p) X(STEP, changes)               \
    X(STEP, soft_k) X(STEP, n_soft) X(STEP, soft_id) X(STEP, soft_w) X(STEP, session)                            \
    X(STEP, moe_layers) X(STEP, experts_per_layer) X(STEP, first_moe_layer) X(STEP, experts) X(STEP, interventions) \
    X(INTERVENTION, who) X(INTERVENTION, what) X(INTERVENTION, pos) X(INTERVENTION, end) X(INTERVENTION, token)   \
    X(SESSION, rule) X(SESSION, block) X(SESSION, step_in_block) X(SESSION, post_steps) X(SESSION, step)         \
    X(SESSION, block_masks) X(SESSION, done) X(SESSION, stopped) X(SESSION, prev_valid) X(SESSION, last_fwd_ids) \
    X(SESSION, soft_k) X(SESSION, soft_ids) X(SESSION, soft_w) X(SESSION, cache_len) X(SESSION, cache_ids)       \
    X(SESSION, cache_soft_k) X(SESSION, cache_soft_ids) X(SESSION, cache_soft_w) X(SESSION, pinned)              \
    X(SESSION, blocks)                                                                                             \
    X(FOOTER, type) X(FOOTER, steps) X(FOOTER, final) X(FOOTER, commits) X(FOOTER, edits) X(FOOTER, remasks)     \
    X(FOOTER, forward_ms) X(FOOTER, index)                                                                         \
    X(RULE_PARAMS, name)

typedef enum {
#define X(rec, key) DLM_TF_##rec##_##key,
    DLM_TRACE_FIELDS(X)
#undef X
    DLM_TF_COUNT
} dlm_trace_field;

// The key of a declared field as a string literal: DLM_TK(STEP, token) is "token". An undeclared
// one does not compile, so the writer and the reader cannot drift from the declaration.
#define DLM_TK(rec, key) ((void)DLM_TF_##rec##_##key, #key)

typedef struct {
    const char *record, *key;
} dlm_trace_field_info;
// (DLM_TF_COUNT) the declaration as data, for tests and tools.
extern const dlm_trace_field_info dlm_trace_fields[DLM_TF_COUNT];

// Probabilities are stored as u16: q = round(p * 65535), error <= 7.7e-6 (invisible: the UI
// shows three decimals). Entropy as u16 of nats * 2048 (resolution 0.0005 nats, up to 32 nats).
// Exact values needed to resume (historical-best confidences, LogitDiff memory) are stored as f32,
// soft-input weights as the bf16 bit patterns they already are.
static inline uint16_t dlm_trace_quant_p(float p) {
    if (!(p > 0)) return 0;
    if (p >= 1) return 65535;
    return (uint16_t)lrintf(p * 65535.0f);
}
static inline float dlm_trace_dequant_p(uint16_t q) { return (float)q / 65535.0f; }
static inline uint16_t dlm_trace_quant_entropy(float h) {
    if (!(h > 0)) return 0;
    double v = h * 2048.0;
    return v >= 65535 ? 65535 : (uint16_t)lrint(v);
}
static inline float dlm_trace_dequant_entropy(uint16_t q) { return (float)q / 2048.0f; }

// Per-position flag bits of the "flags" column.
enum { DLM_TRACE_FLAG_HAS_DIST = 1, DLM_TRACE_FLAG_STUCK = 2 };

// What a trace says about its run (the header record).
typedef struct {
    int             version_major, version_minor;
    char            dlmscope_version[32];
    int64_t         created;         // unix seconds
    char            model_name[128]; // folder name
    char            model_dir[1024];
    uint64_t        model_identity;  // hash of config.json and the tensor index (names, dtypes, shapes)
    char            adapter[1024];   // "" when none
    int             n_vocab, mask_id, eos_id;
    int             id_width;        // bytes per token id in columns: 2 (n_vocab <= 65536) or 4
    char            tokenizer[1024]; // "" when none
    char            device[64];
    char           *prompt_text;     // chat-formatted prompt, or NULL (malloc'd)
    int32_t        *prompt_ids;      // (prompt_len) malloc'd
    int             prompt_len, gen_len, n_tokens, block_causal;
    char            rule_spec[512];  // canonical spec of the rule the run started with
    dlm_rule_config rule;
    char            parent[1024];    // trace this one was forked from ("" if none)
    int             parent_step;     // step of the parent at which it forked (-1 if none)
} dlm_trace_header;

void dlm_trace_header_free(dlm_trace_header *h);

#endif
