// arch.c — the model families dlmscope runs, and their detection from config.json.
//
// Each description was written from the family's official modeling code (its `source`); the facts
// and their provenance are in research/models.md and docs/model-families.md.
#include "arch.h"

#include <jansson.h>
#include <string.h>

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

// LLaDA's OLMo-derived names (modeling_llada.py).
#define LLADA_NAMES                                                                                     \
    [DLM_TENSOR_WTE] = "model.transformer.wte.weight",                                                  \
    [DLM_TENSOR_ATTN_NORM] = "model.transformer.blocks.%d.attn_norm.weight",                            \
    [DLM_TENSOR_WQ] = "model.transformer.blocks.%d.q_proj.weight",                                      \
    [DLM_TENSOR_WK] = "model.transformer.blocks.%d.k_proj.weight",                                      \
    [DLM_TENSOR_WV] = "model.transformer.blocks.%d.v_proj.weight",                                      \
    [DLM_TENSOR_WO] = "model.transformer.blocks.%d.attn_out.weight",                                    \
    [DLM_TENSOR_FF_NORM] = "model.transformer.blocks.%d.ff_norm.weight",                                \
    [DLM_TENSOR_W_GATE] = "model.transformer.blocks.%d.ff_proj.weight",                                 \
    [DLM_TENSOR_W_UP] = "model.transformer.blocks.%d.up_proj.weight",                                   \
    [DLM_TENSOR_W_DOWN] = "model.transformer.blocks.%d.ff_out.weight",                                  \
    [DLM_TENSOR_LN_F] = "model.transformer.ln_f.weight",                                                \
    [DLM_TENSOR_LM_HEAD] = "model.transformer.ff_out.weight"

// Hugging Face Llama / Qwen2 / Qwen3 names (transformers' modeling_llama/qwen2/qwen3.py).
#define HF_NAMES                                                                                        \
    [DLM_TENSOR_WTE] = "model.embed_tokens.weight",                                                     \
    [DLM_TENSOR_ATTN_NORM] = "model.layers.%d.input_layernorm.weight",                                  \
    [DLM_TENSOR_WQ] = "model.layers.%d.self_attn.q_proj.weight",                                        \
    [DLM_TENSOR_WK] = "model.layers.%d.self_attn.k_proj.weight",                                        \
    [DLM_TENSOR_WV] = "model.layers.%d.self_attn.v_proj.weight",                                        \
    [DLM_TENSOR_WO] = "model.layers.%d.self_attn.o_proj.weight",                                        \
    [DLM_TENSOR_FF_NORM] = "model.layers.%d.post_attention_layernorm.weight",                           \
    [DLM_TENSOR_W_GATE] = "model.layers.%d.mlp.gate_proj.weight",                                       \
    [DLM_TENSOR_W_UP] = "model.layers.%d.mlp.up_proj.weight",                                           \
    [DLM_TENSOR_W_DOWN] = "model.layers.%d.mlp.down_proj.weight",                                       \
    [DLM_TENSOR_LN_F] = "model.norm.weight",                                                            \
    [DLM_TENSOR_LM_HEAD] = "lm_head.weight"

#define QKV_BIAS_NAMES                                                                                  \
    [DLM_TENSOR_BQ] = "model.layers.%d.self_attn.q_proj.bias",                                          \
    [DLM_TENSOR_BK] = "model.layers.%d.self_attn.k_proj.bias",                                          \
    [DLM_TENSOR_BV] = "model.layers.%d.self_attn.v_proj.bias"

#define QK_NORM_NAMES                                                                                   \
    [DLM_TENSOR_Q_NORM] = "model.layers.%d.self_attn.q_norm.weight",                                    \
    [DLM_TENSOR_K_NORM] = "model.layers.%d.self_attn.k_norm.weight"

static const dlm_arch llada = {
    .name = "llada",
    .users_call_it = "LLaDA-8B-Base/Instruct, LLaDA-1.5 (and the bundled model)",
    .architectures = LIST("LLaDAModelLM"),
    .model_types = LIST("llada"),
    .tensor_names = {LLADA_NAMES},
    .attention = DLM_ATTN_FULL,
    .mask_token = "<|mdm_mask|>",
    .chat = DLM_CHAT_LLADA,
    .default_rule = "llada",
    .source = "GSAI-ML/LLaDA-8B-Instruct modeling_llada.py",
};

// dLLM's A2D conversion of Llama: the unchanged Llama layer with a bidirectional mask.
static const dlm_arch a2d_llama = {
    .name = "a2d-llama",
    .users_call_it = "dLLM A2D Llama (autoregressive-to-diffusion Llama checkpoints)",
    .architectures = LIST("A2DLlamaLMHeadModel"),
    .model_types = LIST("a2d-llama"),
    .tensor_names = {HF_NAMES},
    .attention = DLM_ATTN_FULL,
    .mask_token = "<|mask|>",
    .chat = DLM_CHAT_NONE,
    .default_rule = "llada",
    .source = "ZHZisZZ/dllm dllm/pipelines/a2d (transformers LlamaModel, bidirectional mask)",
};

static const dlm_arch dream = {
    .name = "dream",
    .users_call_it = "Dream-v0-Base/Instruct-7B, DiffuCoder-7B, Dream-Coder-v0-7B",
    .architectures = LIST("DreamModel"),
    .model_types = LIST("Dream"),
    .tensor_names = {HF_NAMES, QKV_BIAS_NAMES},
    .qkv_bias = true,
    .shift_logits = true,
    .head_dim_from_heads = true,
    .attention = DLM_ATTN_FULL,
    .mask_token = "<|mask|>",
    .chat = DLM_CHAT_CHATML,
    .default_rule = "llada",
    .source = "Dream-org/Dream-v0-Instruct-7B modeling_dream.py (copy in ZHZisZZ/dllm), generation_utils.py",
};

static const dlm_arch a2d_qwen2 = {
    .name = "a2d-qwen2",
    .users_call_it = "dLLM Tiny-A2D Qwen2.5-Coder-0.5B-Instruct-diffusion-mdlm-v0.1",
    .architectures = LIST("A2DQwen2LMHeadModel"),
    .model_types = LIST("a2d-qwen2"),
    .tensor_names = {HF_NAMES, QKV_BIAS_NAMES},
    .qkv_bias = true,
    .attention = DLM_ATTN_FULL,
    .mask_token = "<|mask|>",
    .eos_token = "<|im_end|>",
    .chat = DLM_CHAT_QWEN25,
    .default_rule = "llada",
    .source = "ZHZisZZ/dllm dllm/pipelines/a2d (transformers Qwen2Model, bidirectional mask)",
};

static const dlm_arch a2d_qwen3 = {
    .name = "a2d-qwen3",
    .users_call_it = "dLLM Tiny-A2D Qwen3-0.6B-diffusion-mdlm-v0.1",
    .architectures = LIST("A2DQwen3LMHeadModel"),
    .model_types = LIST("a2d-qwen3"),
    .tensor_names = {HF_NAMES, QK_NORM_NAMES},
    .qk_norm = true,
    .attention = DLM_ATTN_FULL,
    .mask_token = "<|mask|>",
    .eos_token = "<|im_end|>",
    .chat = DLM_CHAT_QWEN3_NO_THINK,
    .default_rule = "llada",
    .source = "ZHZisZZ/dllm dllm/pipelines/a2d (transformers Qwen3Model, bidirectional mask)",
};

static const dlm_arch sdar = {
    .name = "sdar",
    .users_call_it = "SDAR-1.7B/4B/8B-Chat (JetLM), block sizes 4-64",
    .architectures = LIST("SDARForCausalLM"),
    .model_types = LIST("sdar"),
    .tensor_names = {HF_NAMES, QK_NORM_NAMES},
    .qk_norm = true,
    .attention = DLM_ATTN_BLOCK_CAUSAL,
    .block_size_key = "block_size",
    .default_block = 4,
    .mask_token = "<|MASK|>",
    .eos_token = "<|im_end|>",
    .chat = DLM_CHAT_QWEN3,
    // generate.py's README evaluation: block 4, 4 denoising steps, low_confidence_dynamic at 0.85.
    // With one token per step it commits every mask above the threshold, or else the top one:
    // Fast-dLLM's threshold rule (docs/model-families.md), with the KV cache exact here.
    .default_rule = "threshold:tau=0.85,block=4,cache=prefix",
    .source = "JetAstra/SDAR generate.py, modeling_sdar.py (MinerU-Diffusion copy), JetLM/SDAR-4B-Chat config.json",
};

// Fast-dLLM v2: Qwen2.5-Instruct fine-tuned into a block diffusion model. The Qwen2 layer (q/k/v
// bias, o without) under block-causal attention over absolute positions (eval_mask: q_block >=
// kv_block), and shifted logits: the decoder reads position i from row i-1, so the first token
// of a block comes from the previous block's last row (generate() decodes it autoregressively).
static const dlm_arch fast_dllm_v2 = {
    .name = "fast-dllm-v2",
    .users_call_it = "Fast-dLLM v2 (NVlabs): Fast_dLLM_v2_7B, Fast_dLLM_v2_1.5B",
    .architectures = LIST("Fast_dLLM_QwenForCausalLM"),
    .model_types = LIST("Fast_dLLM_Qwen"),
    .tensor_names = {HF_NAMES, QKV_BIAS_NAMES},
    .qkv_bias = true,
    .shift_logits = true,
    .attention = DLM_ATTN_BLOCK_CAUSAL,
    .block_size_key = "bd_size",
    .default_block = 32, // generate(block_size=32); bd_size 32 in both released configs
    .mask_token = "|<MASK>|", // generate(mask_id=151665)
    .eos_token = "<|im_end|>",  // generate(stop_token=151645)
    .chat = DLM_CHAT_QWEN25,
    // generate() as v2/run_chatbot.py and the model card call it: block 32, sub-blocks of 8,
    // threshold 0.9, greedy (docs/model-families.md).
    .default_rule = "fdllm2",
    .source = "Efficient-Large-Model/Fast_dLLM_v2_7B modeling.py (copies in Satgoy152/DualDiffusion and others), "
              "NVlabs/Fast-dLLM v2/run_chatbot.py, Fast_dLLM_v2_1.5B config.json",
};

// LLaDA-MoE-7B-A1B: OLMoE's layer (per-head QK-norm, softmax top-k without renormalisation) with
// bidirectional attention. Its checkpoints say model_type "llada" like LLaDA-8B: architectures decides.
static const dlm_arch llada_moe = {
    .name = "llada-moe",
    .users_call_it = "LLaDA-MoE-7B-A1B-Base/Instruct/Instruct-TD",
    .architectures = LIST("LLaDAMoEModelLM"),
    .model_types = LIST("llada", "lladamoe"), // dLLM tells users to rewrite it to "lladamoe"
    .tensor_names = {HF_NAMES, QK_NORM_NAMES,
                     [DLM_TENSOR_ROUTER] = "model.layers.%d.mlp.gate.weight",
                     [DLM_TENSOR_EXPERT_BIAS] = "model.layers.%d.mlp.expert_bias",
                     [DLM_TENSOR_SHARED_GATE] = "model.layers.%d.shared_expert.gate_proj.weight",
                     [DLM_TENSOR_SHARED_UP] = "model.layers.%d.shared_expert.up_proj.weight",
                     [DLM_TENSOR_SHARED_DOWN] = "model.layers.%d.shared_expert.down_proj.weight",
                     [DLM_TENSOR_EXPERT_GATE] = "model.layers.%d.mlp.experts.%d.gate_proj.weight",
                     [DLM_TENSOR_EXPERT_UP] = "model.layers.%d.mlp.experts.%d.up_proj.weight",
                     [DLM_TENSOR_EXPERT_DOWN] = "model.layers.%d.mlp.experts.%d.down_proj.weight"},
    .qk_norm = true,
    .head_dim_from_heads = true,
    .partial_rotary = true,
    .moe = DLM_MOE_LLADA_MOE,
    .router = DLM_ROUTER_SOFTMAX_TOPK,
    .attention = DLM_ATTN_FULL,
    .mask_token = "<|mask|>",
    .chat = DLM_CHAT_NONE,
    .default_rule = "llada",
    .source = "inclusionAI/LLaDA-MoE-7B-A1B-Base modeling_lladamoe.py, configuration_lladamoe.py",
};

// LLaDA2.0 / LLaDA2.1 (mini, flash): Ling's layer (fused QKV, QK-norm, half-width RoPE, sigmoid
// group-limited routing with a shared expert) with block-causal attention over absolute positions.
static const dlm_arch llada2 = {
    .name = "llada2",
    .users_call_it = "LLaDA2.0-mini/flash, LLaDA2.1-mini/flash (inclusionAI), DMax-Math-16B",
    .architectures = LIST("LLaDA2MoeModelLM"),
    .model_types = LIST("llada2_moe"),
    .tensor_names = {[DLM_TENSOR_WTE] = "model.word_embeddings.weight",
                     [DLM_TENSOR_ATTN_NORM] = "model.layers.%d.input_layernorm.weight",
                     [DLM_TENSOR_WQKV] = "model.layers.%d.attention.query_key_value.weight",
                     [DLM_TENSOR_Q_NORM] = "model.layers.%d.attention.query_layernorm.weight",
                     [DLM_TENSOR_K_NORM] = "model.layers.%d.attention.key_layernorm.weight",
                     [DLM_TENSOR_WO] = "model.layers.%d.attention.dense.weight",
                     [DLM_TENSOR_FF_NORM] = "model.layers.%d.post_attention_layernorm.weight",
                     [DLM_TENSOR_W_GATE] = "model.layers.%d.mlp.gate_proj.weight",
                     [DLM_TENSOR_W_UP] = "model.layers.%d.mlp.up_proj.weight",
                     [DLM_TENSOR_W_DOWN] = "model.layers.%d.mlp.down_proj.weight",
                     [DLM_TENSOR_ROUTER] = "model.layers.%d.mlp.gate.weight",
                     [DLM_TENSOR_EXPERT_BIAS] = "model.layers.%d.mlp.gate.expert_bias",
                     [DLM_TENSOR_SHARED_GATE] = "model.layers.%d.mlp.shared_experts.gate_proj.weight",
                     [DLM_TENSOR_SHARED_UP] = "model.layers.%d.mlp.shared_experts.up_proj.weight",
                     [DLM_TENSOR_SHARED_DOWN] = "model.layers.%d.mlp.shared_experts.down_proj.weight",
                     [DLM_TENSOR_EXPERT_GATE] = "model.layers.%d.mlp.experts.%d.gate_proj.weight",
                     [DLM_TENSOR_EXPERT_UP] = "model.layers.%d.mlp.experts.%d.up_proj.weight",
                     [DLM_TENSOR_EXPERT_DOWN] = "model.layers.%d.mlp.experts.%d.down_proj.weight",
                     [DLM_TENSOR_LN_F] = "model.norm.weight",
                     [DLM_TENSOR_LM_HEAD] = "lm_head.weight"},
    .qk_norm = true,
    .fused_qkv = true,
    .partial_rotary = true,
    .moe = DLM_MOE_LLADA2,
    .router = DLM_ROUTER_SIGMOID_GROUPED,
    .attention = DLM_ATTN_BLOCK_CAUSAL,
    .default_block = 32, // every generate() of LLaDA2.x and SGLang's server use block 32
    .mask_token = "<|mask|>",
    .eos_token = "<|endoftext|>", // generate(eos_id=156892)
    .chat = DLM_CHAT_LING,
    // LLaDA2.1's generate() in Q mode (threshold 0.7, editing threshold 0.5, block 32): algorithms.md §5.
    .default_rule = "t2t:mode=q,block=32,cache=prefix",
    .source = "inclusionAI/LLaDA2.1-mini modeling_llada2_moe.py, configuration_llada2_moe.py, config.json",
};

static const dlm_arch *const families[] = {&llada, &a2d_llama, &dream, &a2d_qwen2, &a2d_qwen3, &sdar, &fast_dllm_v2, &llada_moe,
                                           &llada2, NULL};

const dlm_arch *const *dlm_arch_all(void) { return families; }

const dlm_arch *dlm_arch_find(const char *name) {
    for (int i = 0; families[i]; i++)
        if (strcmp(families[i]->name, name) == 0) return families[i];
    return NULL;
}

// Families we know of but cannot run yet: refused by name with the reason.
static const struct {
    const char *architecture, *model_type, *why;
} not_yet[] = {
    {"ModernBertForMaskedLM", "modernbert", "ModernBERT (LayerNorm, GeGLU, local attention) is not supported yet"},
    {"MMadaModelLM", "mmada", "MMaDA (LLaDA with an image-token vocabulary) is not supported yet"},
};

static bool in_list(const char *const *list, const char *s) {
    for (int i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0) return true;
    return false;
}

dlm_status dlm_arch_detect(const void *json_root, const char *path, const dlm_arch **out) {
    *out = NULL;
    json_t *root = (json_t *)json_root;
    const char *arch = NULL, *type = NULL;
    json_t *a = json_object_get(root, "architectures"), *t = json_object_get(root, "model_type");
    if (a && !json_is_null(a)) {
        if (!json_is_array(a) || json_array_size(a) == 0 || !json_is_string(json_array_get(a, 0)))
            return dlm_error(DLM_STATUS_FORMAT, "%s: 'architectures' is not a list of names", path);
        arch = json_string_value(json_array_get(a, 0));
    }
    if (t && !json_is_null(t)) {
        if (!json_is_string(t)) return dlm_error(DLM_STATUS_FORMAT, "%s: 'model_type' is not a string", path);
        type = json_string_value(t);
    }
    for (size_t i = 0; i < sizeof not_yet / sizeof not_yet[0]; i++)
        if ((arch && strcmp(arch, not_yet[i].architecture) == 0) ||
            (!arch && type && not_yet[i].model_type && strcmp(type, not_yet[i].model_type) == 0))
            return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: %s '%s': %s", path, arch ? "architectures" : "model_type",
                             arch ? arch : type, not_yet[i].why);
    // LLaDA-MoE's checkpoints say model_type "llada" like LLaDA-8B (models.md §5): its keys tell it apart.
    if (!arch && type && strcmp(type, "llada") == 0 && json_object_get(root, "num_experts")) {
        *out = &llada_moe;
        return DLM_STATUS_OK;
    }
    char known[512] = "";
    for (int i = 0; families[i]; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", families[i]->architectures[0]);
    if (arch) {
        for (int i = 0; families[i]; i++)
            if (in_list(families[i]->architectures, arch)) *out = families[i];
        if (*out && type && !in_list((*out)->model_types, type)) {
            *out = NULL;
            return dlm_error(DLM_STATUS_FORMAT, "%s: model_type '%s' contradicts architectures '%s' ", path, type, arch);
        }
        if (*out) return DLM_STATUS_OK;
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: architectures '%s' is not a model family dlmscope runs (known: %s)",
                         path, arch, known);
    }
    if (type) {
        for (int i = 0; families[i] && !*out; i++) // first match: "llada" alone is LLaDA-8B, not LLaDA-MoE
            if (in_list(families[i]->model_types, type)) *out = families[i];
        if (*out) return DLM_STATUS_OK;
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: model_type '%s' is not a model family dlmscope runs (known: %s)", path,
                         type, known);
    }
    // Neither key: LLaDA's own config style (d_model, n_layers, ...) says what it is; Hugging Face
    // keys alone (hidden_size, ...) could be any architecture.
    if (json_object_get(root, "hidden_size") && !json_object_get(root, "d_model"))
        return dlm_error(DLM_STATUS_FORMAT,
                         "%s: no 'architectures' or 'model_type' to say which model family this is (known: %s)", path, known);
    *out = &llada;
    return DLM_STATUS_OK;
}
