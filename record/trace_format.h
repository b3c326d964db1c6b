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
#define DLM_TRACE_VERSION_MINOR 1 // compatible additions (1: KV-cache refresh inputs in the session state)

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
