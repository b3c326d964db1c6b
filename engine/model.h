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
    // The family (arch.h) and the switches of its block, from the family and config.json.
    const struct dlm_arch *arch;
    bool  qkv_bias;       // q/k/v projections carry biases
    bool  qk_norm;        // per-head RMSNorm of q and k (weights Q_NORM, K_NORM) before RoPE
    bool  shift_logits;   // position i's distribution comes from hidden row i-1 (row 0 for i = 0)
    int   block_causal;   // > 0: the family attends block-causally with this block size; 0: full attention
} dlm_config;

// The tensor roles of the transformer block every family is built from. Which roles a family has
// and their checkpoint names are in its description (arch.c). X(role, per_layer)
#define DLM_TENSOR_ROLES(X)                                                                             \
    X(WTE, 0)       /* (n_vocab, d) token embedding */                                                  \
    X(ATTN_NORM, 1) /* (d) */                                                                           \
    X(WQ, 1)        /* (n_heads*head_dim, d) */                                                         \
    X(WK, 1)        /* (n_kv_heads*head_dim, d) */                                                      \
    X(WV, 1)        /* (n_kv_heads*head_dim, d) */                                                      \
    X(WO, 1)        /* (d, n_heads*head_dim) */                                                         \
    X(FF_NORM, 1)   /* (d) */                                                                           \
    X(W_GATE, 1)    /* (d_ff, d) */                                                                     \
    X(W_UP, 1)      /* (d_ff, d) */                                                                     \
    X(W_DOWN, 1)    /* (d, d_ff) */                                                                     \
    X(LN_F, 0)      /* (d) final norm */                                                                \
    X(LM_HEAD, 0)   /* (n_vocab, d); the embedding itself when tied */                                  \
    X(BQ, 1)        /* (n_heads*head_dim) q bias (Qwen2); after the LLaDA roles, whose numbers seed synth */ \
    X(BK, 1)        /* (n_kv_heads*head_dim) */                                                         \
    X(BV, 1)        /* (n_kv_heads*head_dim) */                                                         \
    X(Q_NORM, 1)    /* (head_dim) per-head RMSNorm of q before RoPE (Qwen3) */                          \
    X(K_NORM, 1)    /* (head_dim) */

typedef enum {
#define X(role, per_layer) DLM_TENSOR_##role,
    DLM_TENSOR_ROLES(X)
#undef X
    DLM_TENSOR_ROLE_COUNT
} dlm_tensor_role;

struct dlm_arch;

// One LoRA pair merged into a base tensor: W += scale * B @ A.
typedef struct {
    const dlm_tensor *a; // (r, in)
    const dlm_tensor *b; // (out, r)
} dlm_lora_pair;

typedef struct dlm_model {
    dlm_config        cfg;
    char             *dir;          // model folder as given
    char             *adapter_dir;  // NULL when no adapter
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

// Parse a config.json text: detect the family (arch.h) and read its keys (exposed for tests and the
// fuzzer). `path` is used in messages only.
dlm_status dlm_config_parse(const char *text, const char *path, dlm_config *cfg);

// Expected shape (rows, cols) of a role; cols == 0 for vectors.
void dlm_model_role_shape(const dlm_config *cfg, dlm_tensor_role role, int64_t *rows, int64_t *cols);
const char *dlm_tensor_role_name(dlm_tensor_role role);
bool dlm_tensor_role_per_layer(dlm_tensor_role role);
// Whether a model of this config has the role at all (biases only with qkv_bias, ...).
bool dlm_config_has_role(const dlm_config *cfg, dlm_tensor_role role);
// Checkpoint name of a role's tensor in the config's family (layer ignored for global roles).
void dlm_config_tensor_name(const dlm_config *cfg, dlm_tensor_role role, int layer, char *buf, size_t n);
// The tensor bound to a role (NULL where the model has none); the LM head is the embedding when tied.
const dlm_tensor *dlm_model_tensor(const dlm_model *m, dlm_tensor_role role, int layer);
// Whether the LM head is the embedding matrix itself (tied, no separate head, no LoRA on either).
bool dlm_model_head_tied(const dlm_model *m);

// Convert one tensor to fp32 with any LoRA delta merged. dst holds rows*cols (or rows) floats.
void dlm_model_load_tensor(const dlm_model *m, dlm_tensor_role role, int layer, float *dst);

#endif
