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
    bool  fused_qkv;      // one query_key_value matrix (role WQKV) instead of q/k/v projections (LLaDA2)
    int   rotary_dim;     // leading dims of each head that RoPE rotates (head_dim, or less: partial rotary)
    // Mixture of experts (LLaDA-MoE, LLaDA2.x); n_experts == 0: every layer has the dense SwiGLU MLP.
    int   n_experts;      // routed experts per MoE layer
    int   n_experts_used; // experts chosen per position (top-k)
    int   d_expert;       // each expert's SwiGLU width
    int   d_shared;       // the shared expert's width (0: none)
    int   n_dense_layers; // layers 0 .. n_dense_layers-1 keep the dense MLP (width d_ff); the rest are MoE
    int   router;         // dlm_router_kind
    bool  expert_bias;    // a per-expert bias vector (role EXPERT_BIAS) enters the selection
    int   n_group, topk_group; // group-limited selection (DLM_ROUTER_SIGMOID_GROUPED)
    float routed_scale;   // the normalised weights are multiplied by this (DLM_ROUTER_SIGMOID_GROUPED)
} dlm_config;

#define DLM_MAX_EXPERTS 1024 // routed experts per layer dlmscope accepts (LLaDA2.x has 256)

// How a MoE layer picks and weighs its experts (research/models.md §2.8).
typedef enum {
    // LLaDA-MoE (modeling_lladamoe.py): p = softmax(x Wr^T), p += expert_bias if any, the top k of p
    // are chosen and their (biased) p are the weights, not renormalised.
    DLM_ROUTER_SOFTMAX_TOPK,
    // LLaDA2.x (modeling_llada2_moe.py LLaDA2MoeGate): s = sigmoid(x Wr^T); selection on s + bias,
    // limited to the topk_group groups (of n_experts / n_group) with the largest sum of their top-2;
    // weights are the unbiased s of the chosen, divided by their sum, times routed_scale.
    DLM_ROUTER_SIGMOID_GROUPED,
} dlm_router_kind;

// Layers whose MLP routes through experts (0 for a dense model).
static inline int dlm_config_moe_layers(const dlm_config *c) { return c->n_experts > 0 ? c->n_layers - c->n_dense_layers : 0; }

// Whether layer l of this model routes its MLP through experts.
static inline bool dlm_config_layer_is_moe(const dlm_config *c, int layer) {
    return c->n_experts > 0 && layer >= c->n_dense_layers;
}

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
    X(K_NORM, 1)    /* (head_dim) */                                                                    \
    X(WQKV, 1)      /* ((n_heads+2*n_kv_heads)*head_dim, d) fused q|k|v (LLaDA2), instead of WQ, WK, WV */ \
    X(ROUTER, 1)    /* (n_experts, d) MoE layers: the router (gate) */                                  \
    X(EXPERT_BIAS, 1) /* (n_experts) selection bias of the router */                                    \
    X(SHARED_GATE, 1) /* (d_shared, d) the shared expert, added to every position */                    \
    X(SHARED_UP, 1) /* (d_shared, d) */                                                                 \
    X(SHARED_DOWN, 1) /* (d, d_shared) */                                                               \
    X(EXPERT_GATE, 2) /* (d_expert, d) per expert: named with the layer and the expert number */        \
    X(EXPERT_UP, 2) /* (d_expert, d) */                                                                 \
    X(EXPERT_DOWN, 2) /* (d, d_expert) */

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
    // [(layer * n_experts + e) * 3 + k], k = 0 gate, 1 up, 2 down; NULL in dense layers (and models)
    const dlm_tensor **expert;
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
// Whether a model of this config has the role in any layer (biases only with qkv_bias, ...), and
// in layer `layer` (the dense MLP only in dense layers, the router and experts only in MoE layers).
bool dlm_config_has_role(const dlm_config *cfg, dlm_tensor_role role);
bool dlm_config_layer_has_role(const dlm_config *cfg, dlm_tensor_role role, int layer);
// Per-expert roles (EXPERT_GATE, EXPERT_UP, EXPERT_DOWN) are bound per layer and expert.
bool dlm_tensor_role_per_expert(dlm_tensor_role role);
// Checkpoint name of a role's tensor in the config's family (layer ignored for global roles;
// expert used by the per-expert roles only).
void dlm_config_tensor_name(const dlm_config *cfg, dlm_tensor_role role, int layer, char *buf, size_t n);
void dlm_config_expert_tensor_name(const dlm_config *cfg, dlm_tensor_role role, int layer, int expert, char *buf,
                                   size_t n);
// An expert's matrix (k = 0 gate, 1 up, 2 down) of a MoE layer.
const dlm_tensor *dlm_model_expert_tensor(const dlm_model *m, int layer, int expert, int k);
// The tensor bound to a role (NULL where the model has none); the LM head is the embedding when tied.
const dlm_tensor *dlm_model_tensor(const dlm_model *m, dlm_tensor_role role, int layer);
// Whether the LM head is the embedding matrix itself (tied, no separate head, no LoRA on either).
bool dlm_model_head_tied(const dlm_model *m);

// Convert one tensor to fp32 with any LoRA delta merged. dst holds rows*cols (or rows) floats.
void dlm_model_load_tensor(const dlm_model *m, dlm_tensor_role role, int layer, float *dst);

#endif
