// arch.h — model families: one description per architecture dlmscope can run.
//
// A family says which tensors a checkpoint holds (checkpoint names per tensor role, which are
// required and which optional), which switches of the transformer block apply (q/k/v bias,
// QK-norm, logit shift, attention mask), its special tokens and chat template, and the decoding
// defaults of its official code. It is chosen from config.json: `architectures[0]` first,
// `model_type` second, then the key set (research/models.md §12). Loading (model.c) claims every
// checkpoint tensor through it and refuses what it does not describe; both backends build their
// weights from the layer plan (plan.h) derived from it. Adding a family: docs/model-families.md.
#ifndef DLM_ARCH_H
#define DLM_ARCH_H

#include <stdbool.h>

#include "chat.h"
#include "model.h"

typedef enum {
    DLM_ATTN_FULL,         // bidirectional over the whole canvas (LLaDA, Dream, A2D mdlm)
    DLM_ATTN_BLOCK_CAUSAL, // blocks counted from absolute position 0: j visible from i iff j/B <= i/B (SDAR)
} dlm_attn_kind;

typedef enum { DLM_KEYS_LLADA, DLM_KEYS_HF } dlm_key_style;

// Which config.json keys describe a family's mixture of experts (model.c reads them).
typedef enum {
    DLM_MOE_NONE,
    DLM_MOE_LLADA_MOE, // LLaDAConfig of LLaDA-MoE: expert_intermediate_size, moe_layer_freq, ...
    DLM_MOE_LLADA2,    // LLaDA2MoeConfig: moe_intermediate_size, first_k_dense_replace, n_group, ...
} dlm_moe_keys; // d_model/n_layers... or hidden_size/num_hidden_layers...

typedef struct dlm_arch {
    const char *name;                  // family name used in messages and docs ("dream")
    const char *users_call_it;         // "Dream-v0 (Base/Instruct 7B), DiffuCoder, Dream-Coder"
    const char *const *architectures;  // config.json architectures[0] values that select it (NULL-terminated)
    const char *const *model_types;    // config.json model_type values that select it (NULL-terminated)
    // Checkpoint name of each tensor role ("%d" is the layer); NULL: the family has no such tensor.
    const char *tensor_names[DLM_TENSOR_ROLE_COUNT];
    bool          qkv_bias;      // q_proj, k_proj, v_proj carry a bias (Qwen2)
    bool          qk_norm;       // per-head RMSNorm of q and k before RoPE (Qwen3)
    bool          shift_logits;  // the distribution of position i is read from row i-1 (Dream)
    bool          head_dim_from_heads; // head_dim = hidden / heads even if config.json has head_dim (Dream's code)
    bool          fused_qkv;     // one query_key_value projection (role WQKV)
    bool          partial_rotary; // honours partial_rotary_factor (RoPE on the leading dims of each head)
    dlm_moe_keys  moe;           // mixture-of-experts layers and the config keys that describe them
    int           router;        // dlm_router_kind (model.h) of its MoE layers
    dlm_attn_kind attention;
    const char   *block_size_key; // config.json key of the attention block size (block-causal families)
    int           default_block;  // block size when config.json has none
    const char   *mask_token;     // text of the mask token, looked up in the tokenizer when config.json has no mask_token_id
    const char   *eos_token;      // end-of-turn token text that also ends generation (NULL: config's eos)
    dlm_chat_template chat;       // the family's own template (DLM_CHAT_NONE: raw prompts)
    const char   *default_rule;   // --rule when none is given (the official decoding loop's defaults)
    const char   *source;         // official modeling code this description was written from
} dlm_arch;

// The family a config.json (a parsed jansson object) selects, or an error naming the file and the
// key: an unknown architecture or model_type is refused by name, a known unsupported one says so.
dlm_status dlm_arch_detect(const void *json_root, const char *path, const dlm_arch **out);

// The families, for docs and --help: NULL-terminated.
const dlm_arch *const *dlm_arch_all(void);
const dlm_arch *dlm_arch_find(const char *name);

#endif
