// model.h — a masked diffusion LM as users download it: config.json + safetensors (+ PEFT LoRA).
//
// The model keeps the checkpoint memory-mapped. The CPU backend computes from the mapped tensors in
// their own dtype (engine/cpu_gemm.h); where a LoRA delta applies, it and the GPU backend take
// weights through dlm_model_load_tensor, which converts the dtype and merges the delta.
//
//   dlm_model *m = dlm_model_load("samples/models/x", NULL);   // NULL: no adapter
//   if (!m) { fprintf(stderr, "%s\n", dlm_error_message()); ... }
//   ...
//   dlm_model_free(m);
#ifndef DLM_MODEL_H
#define DLM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "safetensors.h"

typedef struct {
    int   d_model;        // hidden size
    int   n_heads;        // query heads
    int   n_kv_heads;     // key/value heads (GQA when < n_heads)
    int   head_dim;       // d_model / n_heads unless config.json says otherwise
    int   n_layers;
    int   d_ff;           // SwiGLU hidden width (mlp_hidden_size / intermediate_size)
    int   n_vocab;        // rows of the embedding and LM head (embedding_size)
    int   vocab_size;     // config's vocab_size (ids >= vocab_size are padding rows)
    int   max_seq_len;
    float rope_theta;
    float norm_eps;
    bool  tied_embeddings; // LM head shares the embedding matrix
    int   mask_id;        // [MASK] token (-1 if unknown)
    int   eos_id;         // end of text (-1 if unknown)
    int   pad_id;         // padding token (-1 if unknown)
    int   bos_id;         // start of text (-1 if unknown)
} dlm_config;

// The tensors of a LLaDA-style block model. X(role, per_layer, llada name, llama name)
#define DLM_TENSOR_ROLES(X)                                                                             \
    X(WTE,       0, "model.transformer.wte.weight",         "model.embed_tokens.weight")                \
    X(ATTN_NORM, 1, "model.transformer.blocks.%d.attn_norm.weight", "model.layers.%d.input_layernorm.weight") \
    X(WQ,        1, "model.transformer.blocks.%d.q_proj.weight",    "model.layers.%d.self_attn.q_proj.weight") \
    X(WK,        1, "model.transformer.blocks.%d.k_proj.weight",    "model.layers.%d.self_attn.k_proj.weight") \
    X(WV,        1, "model.transformer.blocks.%d.v_proj.weight",    "model.layers.%d.self_attn.v_proj.weight") \
    X(WO,        1, "model.transformer.blocks.%d.attn_out.weight",  "model.layers.%d.self_attn.o_proj.weight") \
    X(FF_NORM,   1, "model.transformer.blocks.%d.ff_norm.weight",   "model.layers.%d.post_attention_layernorm.weight") \
    X(W_GATE,    1, "model.transformer.blocks.%d.ff_proj.weight",   "model.layers.%d.mlp.gate_proj.weight") \
    X(W_UP,      1, "model.transformer.blocks.%d.up_proj.weight",   "model.layers.%d.mlp.up_proj.weight")   \
    X(W_DOWN,    1, "model.transformer.blocks.%d.ff_out.weight",    "model.layers.%d.mlp.down_proj.weight") \
    X(LN_F,      0, "model.transformer.ln_f.weight",        "model.norm.weight")                        \
    X(LM_HEAD,   0, "model.transformer.ff_out.weight",      "lm_head.weight")

typedef enum {
#define X(role, per_layer, llada, llama) DLM_TENSOR_##role,
    DLM_TENSOR_ROLES(X)
#undef X
    DLM_TENSOR_ROLE_COUNT
} dlm_tensor_role;

typedef enum { DLM_NAMES_LLADA, DLM_NAMES_LLAMA } dlm_tensor_names;

// One LoRA pair merged into a base tensor: W += scale * B @ A.
typedef struct {
    const dlm_tensor *a; // (r, in)
    const dlm_tensor *b; // (out, r)
} dlm_lora_pair;

typedef struct dlm_model {
    dlm_config        cfg;
    char             *dir;          // model folder as given
    char             *adapter_dir;  // NULL when no adapter
    dlm_tensor_names  names;
    dlm_tensor_set   *weights;      // memory-mapped checkpoint
    dlm_tensor_set   *adapter;      // memory-mapped adapter_model.safetensors (or NULL)
    float             lora_scale;   // lora_alpha / r (or / sqrt(r) with use_rslora)
    int               lora_rank;
    // [role * n_layers + layer] (layer 0 for global roles); NULL where unused
    const dlm_tensor **tensor;
    dlm_lora_pair     *lora;
    int64_t           n_params;
    uint64_t          identity;     // hash of config.json and the tensor index (names, dtypes, shapes)
} dlm_model;

// Load DIR/config.json and the checkpoint in DIR, and optionally the PEFT adapter in ADAPTER_DIR.
// Returns NULL on error (message in dlm_error_message(), naming the file and field or tensor).
dlm_model *dlm_model_load(const char *dir, const char *adapter_dir);
void dlm_model_free(dlm_model *m);

// Parse a config.json text (exposed for tests). `path` is used in messages only.
dlm_status dlm_config_parse(const char *text, const char *path, dlm_config *cfg);

// Expected shape (rows, cols) of a role; cols == 0 for vectors.
void dlm_model_role_shape(const dlm_config *cfg, dlm_tensor_role role, int64_t *rows, int64_t *cols);
const char *dlm_tensor_role_name(dlm_tensor_role role);
// Checkpoint name of a role's tensor in this model's naming scheme (layer ignored for global roles).
void dlm_model_tensor_name(const dlm_model *m, dlm_tensor_role role, int layer, char *buf, size_t n);

// Convert one tensor to fp32 with any LoRA delta merged. dst holds rows*cols (or rows) floats.
void dlm_model_load_tensor(const dlm_model *m, dlm_tensor_role role, int layer, float *dst);

#endif
