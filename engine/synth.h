// synth.h — write synthetic (random-weight) checkpoints in each family's real layout (arch.h).
//
// Used by benchmarks (models of any shape without a download, up to LLaDA-8B's 16 GB in six
// shards, streamed tensor by tensor) and by tests, which can also ask for a broken file: a missing
// tensor, a wrong shape or an unconvertible dtype.
#ifndef DLM_SYNTH_H
#define DLM_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "model.h"

typedef struct {
    dlm_config  cfg;       // cfg.arch (the family), d_model, n_heads, n_kv_heads, head_dim, n_layers, d_ff, n_vocab (+ ids, rope)
    const char *dtype;     // "BF16" (default), "F16" or "F32"
    int         n_shards;  // 1: model.safetensors; > 1: model-0000i-of-0000n.safetensors + index
    uint64_t    seed;
    // Deliberate damage, for tests (NULL for none): leave a tensor out, add a row, store as I64.
    const char *omit;
    const char *bad_shape;
    const char *bad_dtype;
    const char *extra_tensor; // a tensor the family does not have (a bias vector under this name)
    const char *extra_config; // extra JSON members appended to config.json, e.g. ", \"alibi\": true"
} dlm_synth_spec;

// Fill in a spec's config from the main shape numbers (head_dim = d / n_heads, the LLaDA family and
// its defaults; set cfg.arch and the switches for another family).
dlm_synth_spec dlm_synth_spec_make(int d_model, int n_heads, int n_kv_heads, int n_layers, int d_ff, int n_vocab);

// Write DIR/config.json and the weights. DIR must exist.
dlm_status dlm_synth_write(const char *dir, const dlm_synth_spec *spec);

// Named shapes: "tiny", "small" (the bundled model's size), "medium", "llada-8b", and per family
// "dream-tiny", "dream-7b", "a2d-qwen3-0.6b", "sdar-1.7b", ... (dlm_synth_preset_names()).
bool dlm_synth_preset(const char *name, dlm_synth_spec *out);
const char *dlm_synth_preset_names(void);

#endif
