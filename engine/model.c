// model.c — config.json parsing, checkpoint validation and PEFT LoRA merging.
#include "model.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "util.h"

// ---- config.json ------------------------------------------------------------------------------

// First present key among `names` (NULL-terminated). Reports which one matched.
static json_t *get_any(json_t *root, const char *const *names, const char **which) {
    for (int i = 0; names[i]; i++) {
        json_t *v = json_object_get(root, names[i]);
        if (v && !json_is_null(v)) {
            if (which) *which = names[i];
            return v;
        }
    }
    return NULL;
}

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

static dlm_status get_int(json_t *root, const char *path, const char *const *names, long long lo, long long hi,
                          bool required, long long dflt, int *out) {
    const char *which = names[0];
    json_t *v = get_any(root, names, &which);
    if (!v) {
        if (required) return dlm_error(DLM_STATUS_FORMAT, "%s: missing field '%s'", path, names[0]);
        *out = (int)dflt;
        return DLM_STATUS_OK;
    }
    if (json_is_array(v) && json_array_size(v) > 0) v = json_array_get(v, 0); // eos_token_id may be a list
    if (!json_is_integer(v)) return dlm_error(DLM_STATUS_FORMAT, "%s: field '%s' is not an integer", path, which);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return dlm_error(DLM_STATUS_FORMAT, "%s: field '%s' = %lld is out of range [%lld, %lld]", path, which, x, lo, hi);
    *out = (int)x;
    return DLM_STATUS_OK;
}

static dlm_status get_float(json_t *root, const char *path, const char *const *names, double lo, double hi,
                            double dflt, float *out) {
    const char *which = names[0];
    json_t *v = get_any(root, names, &which);
    if (!v) {
        *out = (float)dflt;
        return DLM_STATUS_OK;
    }
    if (!json_is_number(v)) return dlm_error(DLM_STATUS_FORMAT, "%s: field '%s' is not a number", path, which);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi))
        return dlm_error(DLM_STATUS_FORMAT, "%s: field '%s' = %g is out of range [%g, %g]", path, which, x, lo, hi);
    *out = (float)x;
    return DLM_STATUS_OK;
}

// Options of the LLaDA/OLMo and Llama configs that change the architecture and that we do not
// implement: refuse them loudly rather than compute something else.
static dlm_status check_unsupported(json_t *root, const char *path, const dlm_arch *arch) {
    static const char *const must_be_false[] = {"include_bias", "include_qkv_bias", "attention_bias", "mlp_bias",
                                                "alibi", "scale_logits", "input_emb_norm", "attention_layer_norm",
                                                "clip_qkv", "use_sliding_window", NULL};
    for (int i = 0; must_be_false[i]; i++) {
        // Qwen2's layer always has q/k/v biases; the family's description claims them.
        if (arch->qkv_bias && strcmp(must_be_false[i], "attention_bias") == 0) continue;
        json_t *v = json_object_get(root, must_be_false[i]);
        if (v && !json_is_null(v) && !json_is_false(v) && !(json_is_number(v) && json_number_value(v) == 0))
            return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: '%s' is set; dlmscope runs the %s block only without it", path,
                             must_be_false[i], arch->name);
    }
    json_t *v;
    if ((v = json_object_get(root, "rope")) && json_is_false(v))
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'rope' is false; only rotary position embeddings are supported", path);
    if ((v = json_object_get(root, "rope_scaling")) && !json_is_null(v))
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'rope_scaling' is not supported", path);
    if (!arch->partial_rotary && (v = json_object_get(root, "partial_rotary_factor")) && !json_is_null(v) &&
        !(json_is_number(v) && json_number_value(v) == 1.0))
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'partial_rotary_factor' is not 1; partial rotary embeddings are not supported",
                         path);
    if ((v = json_object_get(root, "layer_norm_type")) && json_is_string(v) && strcmp(json_string_value(v), "rms") &&
        strcmp(json_string_value(v), "rms_norm"))
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'layer_norm_type' = '%s'; only 'rms' is supported", path,
                         json_string_value(v));
    const char *const act_keys[] = {"activation_type", "hidden_act", NULL};
    for (int i = 0; act_keys[i]; i++)
        if ((v = json_object_get(root, act_keys[i])) && json_is_string(v) && strcmp(json_string_value(v), "silu") &&
            strcmp(json_string_value(v), "swiglu"))
            return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: '%s' = '%s'; only SiLU-gated MLPs are supported", path,
                             act_keys[i], json_string_value(v));
    // Qwen2-style per-layer attention kinds (Fast-dLLM v2 passes sliding_window to the layers
    // marked "sliding_attention"): dlmscope runs full attention only.
    if ((v = json_object_get(root, "layer_types")) && !json_is_null(v)) {
        if (!json_is_array(v)) return dlm_error(DLM_STATUS_FORMAT, "%s: 'layer_types' is not a list", path);
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_string(e) || strcmp(json_string_value(e), "full_attention"))
                return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: layer_types[%zu] is not \"full_attention\"; dlmscope runs no "
                                 "sliding-window layers", path, i);
        }
    }
    if ((v = json_object_get(root, "block_type")) && json_is_string(v) && strcmp(json_string_value(v), "llama"))
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'block_type' = '%s'; only 'llama' blocks are supported", path,
                         json_string_value(v));
    return DLM_STATUS_OK;
}

// A key that must be absent, null or equal to `want` (a string), else refused by name with `why`.
static dlm_status expect_string(json_t *root, const char *path, const char *key, const char *want, const char *why) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v) || (json_is_string(v) && strcmp(json_string_value(v), want) == 0)) return DLM_STATUS_OK;
    return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: '%s' is not \"%s\"; %s", path, key, want, why);
}

// A boolean key: absent or null gives `dflt`; anything but true/false is an error.
static dlm_status get_bool(json_t *root, const char *path, const char *key, bool dflt, bool *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return DLM_STATUS_OK;
    }
    if (!json_is_boolean(v)) return dlm_error(DLM_STATUS_FORMAT, "%s: field '%s' is not true or false", path, key);
    *out = json_is_true(v);
    return DLM_STATUS_OK;
}

// The rotary width: partial_rotary_factor of the head (transformers' default RoPE init: dim =
// int(head_dim * factor), inv_freq over that dim). LLaDA2.1's config.json also states rotary_dim.
static dlm_status parse_rotary(json_t *root, const char *path, const dlm_arch *arch, dlm_config *c) {
    c->rotary_dim = c->head_dim;
    if (!arch->partial_rotary) return DLM_STATUS_OK;
    // LLaDA2MoeConfig defaults the factor to 0.5; LLaDA-MoE's config class to -1 (it must be given).
    float factor = 0;
    dlm_status st = get_float(root, path, KEYS("partial_rotary_factor"), 0.0, 1.0,
                              arch->moe == DLM_MOE_LLADA2 ? 0.5 : -1.0, &factor);
    if (st != DLM_STATUS_OK) return st;
    if (!(factor > 0)) return dlm_error(DLM_STATUS_FORMAT, "%s: missing field 'partial_rotary_factor'", path);
    c->rotary_dim = (int)((double)c->head_dim * factor);
    if (c->rotary_dim < 2 || c->rotary_dim % 2 != 0)
        return dlm_error(DLM_STATUS_FORMAT, "%s: 'partial_rotary_factor' = %g gives %d rotary dims of %d; need an even number >= 2",
                         path, (double)factor, c->rotary_dim, c->head_dim);
    int stated = 0;
    if ((st = get_int(root, path, KEYS("rotary_dim"), 0, 1 << 16, false, c->rotary_dim, &stated)) != DLM_STATUS_OK) return st;
    if (stated != c->rotary_dim)
        return dlm_error(DLM_STATUS_FORMAT, "%s: 'rotary_dim' = %d contradicts head_dim x partial_rotary_factor = %d", path,
                         stated, c->rotary_dim);
    return DLM_STATUS_OK;
}

// The mixture-of-experts keys of LLaDA-MoE (configuration_lladamoe.py) and LLaDA2.x
// (configuration_llada2_moe.py), as their modeling code reads them. Keys the code reads but we do
// not implement are refused by name; keys the code ignores are ignored (docs/model-families.md).
static dlm_status parse_moe(json_t *root, const char *path, const dlm_arch *arch, dlm_config *c) {
    dlm_status st;
#define TRY(expr)                                      \
    do {                                               \
        if ((st = (expr)) != DLM_STATUS_OK) return st; \
    } while (0)
    c->router = arch->router;
    TRY(get_int(root, path, KEYS("num_experts"), 1, DLM_MAX_EXPERTS, true, 0, &c->n_experts));
    TRY(get_int(root, path, KEYS("num_experts_per_tok"), 1, c->n_experts, true, 0, &c->n_experts_used));
    if (c->n_experts_used > 64)
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'num_experts_per_tok' = %d; dlmscope routes to at most 64", path,
                         c->n_experts_used);
    if (arch->moe == DLM_MOE_LLADA2) {
        TRY(get_int(root, path, KEYS("moe_intermediate_size"), 1, 1 << 20, true, 0, &c->d_expert));
        int n_shared = 0;
        TRY(get_int(root, path, KEYS("num_shared_experts"), 0, 64, false, 0, &n_shared));
        c->d_shared = n_shared * c->d_expert;
        TRY(get_int(root, path, KEYS("first_k_dense_replace"), 0, c->n_layers, false, 0, &c->n_dense_layers));
        TRY(get_int(root, path, KEYS("n_group"), 1, c->n_experts, false, 8, &c->n_group));
        TRY(get_int(root, path, KEYS("topk_group"), 1, c->n_group, false, 4, &c->topk_group));
        TRY(get_float(root, path, KEYS("routed_scaling_factor"), 0.0, 1e6, 2.5, &c->routed_scale));
        if (c->n_experts % c->n_group != 0 || c->n_experts / c->n_group < 2)
            return dlm_error(DLM_STATUS_FORMAT, "%s: %d experts do not split into 'n_group' = %d groups of at least 2", path,
                             c->n_experts, c->n_group);
        if (c->n_experts_used > c->topk_group * (c->n_experts / c->n_group))
            return dlm_error(DLM_STATUS_FORMAT, "%s: 'num_experts_per_tok' = %d exceeds the %d experts of 'topk_group' = %d groups",
                             path, c->n_experts_used, c->topk_group * (c->n_experts / c->n_group), c->topk_group);
        c->expert_bias = true; // LLaDA2MoeGate always registers expert_bias and adds it for selection
        bool on = true;
        TRY(get_bool(root, path, "moe_router_enable_expert_bias", true, &on));
        if (!on)
            return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'moe_router_enable_expert_bias' is false, but LLaDA2's gate always "
                             "adds its expert_bias; dlmscope runs what the modeling code does only", path);
        TRY(expect_string(root, path, "score_function", "sigmoid", "LLaDA2's gate (the code dlmscope follows) scores with a sigmoid"));
        TRY(get_bool(root, path, "use_qk_norm", true, &c->qk_norm));
        bool flag = false;
        TRY(get_bool(root, path, "use_qkv_bias", false, &flag));
        if (flag) return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'use_qkv_bias' is true; dlmscope runs LLaDA2 without a QKV bias", path);
        // LLaDA2MoeConfig defaults use_bias to true (a bias on attention.dense); the released configs say false.
        TRY(get_bool(root, path, "use_bias", true, &flag));
        if (flag)
            return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'use_bias' is %s; dlmscope runs LLaDA2 without the attention output "
                             "bias (the released configs set it false)", path, json_object_get(root, "use_bias") ? "true" : "absent (its default is true)");
        TRY(get_bool(root, path, "norm_head", false, &flag));
        if (flag) return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'norm_head' is true; not supported", path);
        TRY(get_bool(root, path, "norm_softmax", false, &flag));
        if (flag) return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'norm_softmax' is true; not supported", path);
    } else {
        TRY(get_int(root, path, KEYS("expert_intermediate_size"), 1, 1 << 20, true, 0, &c->d_expert));
        json_t *v = json_object_get(root, "shared_expert_intermediate_size");
        if (!v) return dlm_error(DLM_STATUS_FORMAT, "%s: missing field 'shared_expert_intermediate_size' (null: no shared expert)", path);
        TRY(get_int(root, path, KEYS("shared_expert_intermediate_size"), 1, 1 << 20, false, 0, &c->d_shared));
        TRY(get_bool(root, path, "moe_router_enable_expert_bias", false, &c->expert_bias));
        TRY(expect_string(root, path, "moe_router_score_function", "softmax",
                          "modeling_lladamoe.py's router always takes a softmax, so this checkpoint expects something else"));
        TRY(get_bool(root, path, "qk_layernorm", false, &c->qk_norm));
        // moe_layer_freq: 0 = dense MLP, 1 = MoE, per layer. dlmscope runs dense layers first, then MoE.
        v = json_object_get(root, "moe_layer_freq");
        if (!json_is_array(v) || (int)json_array_size(v) != c->n_layers)
            return dlm_error(DLM_STATUS_FORMAT, "%s: 'moe_layer_freq' must be a list of %d entries (0 dense, 1 MoE)", path,
                             c->n_layers);
        c->n_dense_layers = 0;
        for (int l = 0; l < c->n_layers; l++) {
            json_t *e = json_array_get(v, (size_t)l);
            if (!json_is_integer(e) || (json_integer_value(e) != 0 && json_integer_value(e) != 1))
                return dlm_error(DLM_STATUS_FORMAT, "%s: moe_layer_freq[%d] is not 0 or 1", path, l);
            if (json_integer_value(e) == 0) {
                if (c->n_dense_layers != l)
                    return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: 'moe_layer_freq' has a dense layer %d after a MoE layer; "
                                     "dlmscope runs dense layers only before the first MoE layer", path, l);
                c->n_dense_layers++;
            }
        }
    }
    if (c->n_dense_layers > 0 && c->d_ff <= 0)
        return dlm_error(DLM_STATUS_FORMAT, "%s: %d dense layers but no dense MLP width ('%s')", path, c->n_dense_layers,
                         arch->moe == DLM_MOE_LLADA2 ? "intermediate_size" : "dense_intermediate_size");
#undef TRY
    return DLM_STATUS_OK;
}

dlm_status dlm_config_parse(const char *text, const char *path, dlm_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root) return dlm_error(DLM_STATUS_FORMAT, "%s: not valid JSON (line %d: %s)", path, jerr.line, jerr.text);
    dlm_status st = DLM_STATUS_OK;
    if (!json_is_object(root)) {
        st = dlm_error(DLM_STATUS_FORMAT, "%s: top level is not a JSON object", path);
        goto done;
    }
#define TRY(expr)                                  \
    do {                                           \
        if ((st = (expr)) != DLM_STATUS_OK) goto done; \
    } while (0)
    const dlm_arch *arch = NULL;
    TRY(dlm_arch_detect(root, path, &arch));
    cfg->arch = arch;
    cfg->qkv_bias = arch->qkv_bias;
    cfg->qk_norm = arch->qk_norm;
    cfg->shift_logits = arch->shift_logits;
    TRY(check_unsupported(root, path, arch));
    TRY(get_int(root, path, KEYS("d_model", "hidden_size"), 1, 65536, true, 0, &cfg->d_model));
    TRY(get_int(root, path, KEYS("n_heads", "num_attention_heads"), 1, 1024, true, 0, &cfg->n_heads));
    TRY(get_int(root, path, KEYS("n_kv_heads", "num_key_value_heads"), 1, 1024, false, cfg->n_heads, &cfg->n_kv_heads));
    TRY(get_int(root, path, KEYS("n_layers", "num_hidden_layers"), 1, 1024, true, 0, &cfg->n_layers));
    if (arch->moe == DLM_MOE_NONE)
        TRY(get_int(root, path, KEYS("mlp_hidden_size", "intermediate_size"), 1, 1 << 20, true, 0, &cfg->d_ff));
    else // only the dense layers have it (checked in parse_moe)
        TRY(get_int(root, path, KEYS(arch->moe == DLM_MOE_LLADA2 ? "intermediate_size" : "dense_intermediate_size"), 1,
                    1 << 20, false, 0, &cfg->d_ff));
    TRY(get_int(root, path, KEYS("vocab_size"), 2, 1 << 22, true, 0, &cfg->vocab_size));
    TRY(get_int(root, path, KEYS("embedding_size"), cfg->vocab_size, 1 << 22, false, cfg->vocab_size, &cfg->n_vocab));
    TRY(get_int(root, path, KEYS("max_sequence_length", "max_position_embeddings"), 1, 1 << 24, false, 4096,
                &cfg->max_seq_len));
    TRY(get_float(root, path, KEYS("rope_theta"), 1.0, 1e12, 10000.0, &cfg->rope_theta));
    TRY(get_float(root, path, KEYS("rms_norm_eps", "layer_norm_eps"), 0.0, 1.0, 1e-5, &cfg->norm_eps));
    int hd_default = cfg->d_model / cfg->n_heads;
    TRY(get_int(root, path, KEYS("head_dim"), 2, 1024, false, hd_default, &cfg->head_dim));
    if (arch->head_dim_from_heads && cfg->head_dim != hd_default) {
        // Dream's attention takes hidden_size / num_attention_heads whatever head_dim says.
        st = dlm_error(DLM_STATUS_FORMAT, "%s: 'head_dim' = %d contradicts hidden_size / num_attention_heads = %d, which %s uses",
                       path, cfg->head_dim, hd_default, arch->name);
        goto done;
    }
    cfg->fused_qkv = arch->fused_qkv;
    TRY(parse_rotary(root, path, arch, cfg));
    if (arch->moe != DLM_MOE_NONE) TRY(parse_moe(root, path, arch, cfg));
    if (arch->attention == DLM_ATTN_BLOCK_CAUSAL)
        TRY(get_int(root, path, KEYS(arch->block_size_key), 1, 1 << 16, false, arch->default_block, &cfg->block_causal));
    TRY(get_int(root, path, KEYS("mask_token_id"), -1, cfg->n_vocab - 1, false, -1, &cfg->mask_id));
    TRY(get_int(root, path, KEYS("eos_token_id"), -1, cfg->n_vocab - 1, false, -1, &cfg->eos_id));
    TRY(get_int(root, path, KEYS("pad_token_id"), -1, cfg->n_vocab - 1, false, -1, &cfg->pad_id));
    TRY(get_int(root, path, KEYS("bos_token_id"), -1, cfg->n_vocab - 1, false, -1, &cfg->bos_id));
#undef TRY
    json_t *tie = get_any(root, KEYS("weight_tying", "tie_word_embeddings"), NULL);
    cfg->tied_embeddings = tie && json_is_true(tie);

    if (!json_object_get(root, "head_dim") && cfg->d_model % cfg->n_heads != 0) {
        st = dlm_error(DLM_STATUS_FORMAT, "%s: d_model %d is not a multiple of n_heads %d", path, cfg->d_model, cfg->n_heads);
    } else if (cfg->head_dim % 2 != 0) {
        st = dlm_error(DLM_STATUS_FORMAT, "%s: head size %d is odd; rotary embeddings need an even head size", path,
                       cfg->head_dim);
    } else if (cfg->n_heads % cfg->n_kv_heads != 0) {
        st = dlm_error(DLM_STATUS_FORMAT, "%s: n_heads %d is not a multiple of n_kv_heads %d", path, cfg->n_heads,
                       cfg->n_kv_heads);
    }
done:
    json_decref(root);
    return st;
}

// ---- tensors ----------------------------------------------------------------------------------

static const struct {
    const char *name;
    int         per_layer;
} role_info[] = {
#define X(role, per_layer) {#role, per_layer},
    DLM_TENSOR_ROLES(X)
#undef X
};

const char *dlm_tensor_role_name(dlm_tensor_role role) { return role_info[role].name; }
bool dlm_tensor_role_per_layer(dlm_tensor_role role) { return role_info[role].per_layer != 0; }
bool dlm_tensor_role_per_expert(dlm_tensor_role role) { return role_info[role].per_layer == 2; }

bool dlm_config_has_role(const dlm_config *c, dlm_tensor_role role) {
    const bool moe = c->n_experts > 0 && c->n_dense_layers < c->n_layers;
    switch (role) {
    case DLM_TENSOR_BQ:
    case DLM_TENSOR_BK:
    case DLM_TENSOR_BV: return c->qkv_bias;
    case DLM_TENSOR_Q_NORM:
    case DLM_TENSOR_K_NORM: return c->qk_norm;
    case DLM_TENSOR_WQ:
    case DLM_TENSOR_WK:
    case DLM_TENSOR_WV: return !c->fused_qkv;
    case DLM_TENSOR_WQKV: return c->fused_qkv;
    case DLM_TENSOR_W_GATE:
    case DLM_TENSOR_W_UP:
    case DLM_TENSOR_W_DOWN: return c->n_experts == 0 || c->n_dense_layers > 0;
    case DLM_TENSOR_ROUTER:
    case DLM_TENSOR_EXPERT_GATE:
    case DLM_TENSOR_EXPERT_UP:
    case DLM_TENSOR_EXPERT_DOWN: return moe;
    case DLM_TENSOR_EXPERT_BIAS: return moe && c->expert_bias;
    case DLM_TENSOR_SHARED_GATE:
    case DLM_TENSOR_SHARED_UP:
    case DLM_TENSOR_SHARED_DOWN: return moe && c->d_shared > 0;
    default: return true;
    }
}

bool dlm_config_layer_has_role(const dlm_config *c, dlm_tensor_role role, int layer) {
    if (!dlm_config_has_role(c, role)) return false;
    switch (role) {
    case DLM_TENSOR_W_GATE:
    case DLM_TENSOR_W_UP:
    case DLM_TENSOR_W_DOWN: return !dlm_config_layer_is_moe(c, layer);
    case DLM_TENSOR_ROUTER:
    case DLM_TENSOR_EXPERT_BIAS:
    case DLM_TENSOR_SHARED_GATE:
    case DLM_TENSOR_SHARED_UP:
    case DLM_TENSOR_SHARED_DOWN:
    case DLM_TENSOR_EXPERT_GATE:
    case DLM_TENSOR_EXPERT_UP:
    case DLM_TENSOR_EXPERT_DOWN: return dlm_config_layer_is_moe(c, layer);
    default: return true;
    }
}

void dlm_model_role_shape(const dlm_config *c, dlm_tensor_role role, int64_t *rows, int64_t *cols) {
    int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
    *cols = c->d_model;
    switch (role) {
    case DLM_TENSOR_WTE:
    case DLM_TENSOR_LM_HEAD: *rows = c->n_vocab; break;
    case DLM_TENSOR_ATTN_NORM:
    case DLM_TENSOR_FF_NORM:
    case DLM_TENSOR_LN_F: *rows = c->d_model; *cols = 0; break;
    case DLM_TENSOR_WQ: *rows = q; break;
    case DLM_TENSOR_WK:
    case DLM_TENSOR_WV: *rows = kv; break;
    case DLM_TENSOR_BQ: *rows = q; *cols = 0; break;
    case DLM_TENSOR_BK:
    case DLM_TENSOR_BV: *rows = kv; *cols = 0; break;
    case DLM_TENSOR_Q_NORM:
    case DLM_TENSOR_K_NORM: *rows = c->head_dim; *cols = 0; break;
    case DLM_TENSOR_WO: *rows = c->d_model; *cols = q; break;
    case DLM_TENSOR_W_GATE:
    case DLM_TENSOR_W_UP: *rows = c->d_ff; break;
    case DLM_TENSOR_W_DOWN: *rows = c->d_model; *cols = c->d_ff; break;
    case DLM_TENSOR_WQKV: *rows = q + 2 * kv; break;
    case DLM_TENSOR_ROUTER: *rows = c->n_experts; break;
    case DLM_TENSOR_EXPERT_BIAS: *rows = c->n_experts; *cols = 0; break;
    case DLM_TENSOR_SHARED_GATE:
    case DLM_TENSOR_SHARED_UP: *rows = c->d_shared; break;
    case DLM_TENSOR_SHARED_DOWN: *rows = c->d_model; *cols = c->d_shared; break;
    case DLM_TENSOR_EXPERT_GATE:
    case DLM_TENSOR_EXPERT_UP: *rows = c->d_expert; break;
    case DLM_TENSOR_EXPERT_DOWN: *rows = c->d_model; *cols = c->d_expert; break;
    default: dlm_die("bad tensor role %d", (int)role);
    }
}

void dlm_config_tensor_name(const dlm_config *c, dlm_tensor_role role, int layer, char *buf, size_t n) {
    const char *pattern = c->arch->tensor_names[role];
    DLM_ASSERT(pattern);
    DLM_ASSERT(role_info[role].per_layer != 2);
    if (role_info[role].per_layer) snprintf(buf, n, pattern, layer);
    else snprintf(buf, n, "%s", pattern);
}

void dlm_config_expert_tensor_name(const dlm_config *c, dlm_tensor_role role, int layer, int expert, char *buf, size_t n) {
    const char *pattern = c->arch->tensor_names[role];
    DLM_ASSERT(pattern && role_info[role].per_layer == 2);
    snprintf(buf, n, pattern, layer, expert);
}

const dlm_tensor *dlm_model_expert_tensor(const dlm_model *m, int layer, int expert, int k) {
    return m->expert[((size_t)layer * m->cfg.n_experts + expert) * 3 + k];
}

static int slot(const dlm_model *m, dlm_tensor_role role, int layer) {
    return (int)role * m->cfg.n_layers + (role_info[role].per_layer ? layer : 0);
}

const dlm_tensor *dlm_model_tensor(const dlm_model *m, dlm_tensor_role role, int layer) {
    return m->tensor[slot(m, role, layer)];
}

bool dlm_model_head_tied(const dlm_model *m) {
    return dlm_model_tensor(m, DLM_TENSOR_LM_HEAD, 0) == dlm_model_tensor(m, DLM_TENSOR_WTE, 0) && !m->lora;
}

static dlm_status check_tensor(const dlm_model *m, const dlm_tensor *t, dlm_tensor_role role) {
    int64_t rows, cols;
    dlm_model_role_shape(&m->cfg, role, &rows, &cols);
    if (t->dtype == DLM_DTYPE_OTHER)
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: tensor '%s' has dtype %s; supported are BF16, F16 and F32", t->file,
                         t->name, t->dtype_name);
    bool ok = cols ? (t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols)
                   : (t->n_dims == 1 && t->shape[0] == rows);
    if (!ok) {
        char got[96] = "", *p = got;
        for (int i = 0; i < t->n_dims && p < got + sizeof got - 24; i++)
            p += sprintf(p, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (cols)
            return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s' has shape [%s], config.json implies [%lld, %lld]", t->file,
                             t->name, got, (long long)rows, (long long)cols);
        return dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s' has shape [%s], config.json implies [%lld]", t->file, t->name,
                         got, (long long)rows);
    }
    return DLM_STATUS_OK;
}

static int compare_ptr(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(const void *const *)a, y = (uintptr_t)*(const void *const *)b;
    return x < y ? -1 : x > y;
}

// Bind every role the family has to its checkpoint tensor (required ones must exist with the
// right shape and dtype), then claim: a tensor no role took is an error, never silently unused.
static dlm_status bind_tensors(dlm_model *m) {
    const dlm_config *c = &m->cfg;
    const char *family = c->arch->name;
    m->tensor = dlm_xcalloc((size_t)DLM_TENSOR_ROLE_COUNT * c->n_layers, sizeof *m->tensor);
    const size_t n_expert_slots = (size_t)c->n_layers * c->n_experts * 3;
    if (n_expert_slots) m->expert = dlm_xcalloc(n_expert_slots, sizeof *m->expert);
    m->n_params = 0;
    char name[256];
    for (int r = 0; r < DLM_TENSOR_ROLE_COUNT; r++) {
        if (!dlm_config_has_role(c, r)) continue;
        int n = role_info[r].per_layer ? c->n_layers : 1;
        for (int l = 0; l < n; l++) {
            if (role_info[r].per_layer && !dlm_config_layer_has_role(c, r, l)) continue;
            const int n_per = role_info[r].per_layer == 2 ? c->n_experts : 1;
            for (int e = 0; e < n_per; e++) {
                if (role_info[r].per_layer == 2) dlm_config_expert_tensor_name(c, r, l, e, name, sizeof name);
                else dlm_config_tensor_name(c, r, l, name, sizeof name);
                const dlm_tensor *t = dlm_tensor_set_find(m->weights, name);
                // A tied model may still ship an explicit head; then the explicit one wins.
                if (!t && r == DLM_TENSOR_LM_HEAD && c->tied_embeddings) t = m->tensor[slot(m, DLM_TENSOR_WTE, 0)];
                if (!t) {
                    if (r == DLM_TENSOR_LM_HEAD)
                        return dlm_error(DLM_STATUS_FORMAT,
                                         "%s: missing tensor '%s' (LM head) and config.json does not tie it to the embedding "
                                         "(family %s)", m->dir, name, family);
                    return dlm_error(DLM_STATUS_FORMAT, "%s: missing tensor '%s'%s (family %s, from %s/config.json)", m->dir,
                                     name, r == DLM_TENSOR_WTE ? " (the token embedding)" : "", family, m->dir);
                }
                dlm_status st = check_tensor(m, t, r);
                if (st != DLM_STATUS_OK) return st;
                if (role_info[r].per_layer == 2)
                    m->expert[((size_t)l * c->n_experts + e) * 3 + (r - DLM_TENSOR_EXPERT_GATE)] = t;
                else
                    m->tensor[slot(m, r, l)] = t;
                if (!(r == DLM_TENSOR_LM_HEAD && t == m->tensor[slot(m, DLM_TENSOR_WTE, 0)])) m->n_params += dlm_tensor_numel(t);
            }
        }
    }
    // Claim: every checkpoint tensor must be bound (sorted pointers: MoE checkpoints hold ~15k tensors).
    const size_t n_bound = (size_t)DLM_TENSOR_ROLE_COUNT * c->n_layers + n_expert_slots;
    const void **bound = dlm_xmalloc(n_bound * sizeof *bound);
    size_t nb = 0;
    for (size_t s = 0; s < (size_t)DLM_TENSOR_ROLE_COUNT * c->n_layers; s++)
        if (m->tensor[s]) bound[nb++] = m->tensor[s];
    for (size_t s = 0; s < n_expert_slots; s++)
        if (m->expert[s]) bound[nb++] = m->expert[s];
    qsort(bound, nb, sizeof *bound, compare_ptr);
    dlm_status st = DLM_STATUS_OK;
    for (int i = 0; i < dlm_tensor_set_count(m->weights) && st == DLM_STATUS_OK; i++) {
        const void *t = dlm_tensor_set_at(m->weights, i);
        if (!bsearch(&t, bound, nb, sizeof *bound, compare_ptr)) {
            const dlm_tensor *u = t;
            st = dlm_error(DLM_STATUS_UNSUPPORTED,
                           "%s: tensor '%s' is not part of the %s architecture (detected from %s/config.json); "
                           "dlmscope would ignore it and compute something else",
                           u->file, u->name, family, m->dir);
        }
    }
    free(bound);
    return st;
}

// ---- PEFT LoRA adapters ------------------------------------------------------------------------

// Last dotted component of a tensor's module path: "...blocks.3.q_proj.weight" -> "q_proj".
static void module_leaf(const char *tensor_name_, char *out, size_t n) {
    size_t len = strlen(tensor_name_);
    if (len > 7 && strcmp(tensor_name_ + len - 7, ".weight") == 0) len -= 7;
    size_t start = len;
    while (start > 0 && tensor_name_[start - 1] != '.') start--;
    snprintf(out, n, "%.*s", (int)(len - start), tensor_name_ + start);
}

static const dlm_tensor *find_lora(const dlm_tensor_set *ad, const char *base_name, char ab) {
    // PEFT writes base_model.model.<module>.lora_A.weight (older versions keep the adapter name).
    char key[512];
    size_t len = strlen(base_name);
    int mlen = (int)(len > 7 ? len - 7 : len);
    snprintf(key, sizeof key, "base_model.model.%.*s.lora_%c.weight", mlen, base_name, ab);
    const dlm_tensor *t = dlm_tensor_set_find(ad, key);
    if (!t) {
        snprintf(key, sizeof key, "base_model.model.%.*s.lora_%c.default.weight", mlen, base_name, ab);
        t = dlm_tensor_set_find(ad, key);
    }
    return t;
}

static dlm_status check_adapter_config(json_t *root, const char *path, int *rank, float *alpha, bool *rslora,
                                       json_t **targets) {
    json_t *v;
    if ((v = json_object_get(root, "peft_type")) && json_is_string(v) && strcmp(json_string_value(v), "LORA"))
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: peft_type '%s' is not supported (only LORA)", path,
                         json_string_value(v));
    v = json_object_get(root, "r");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65536)
        return dlm_error(DLM_STATUS_FORMAT, "%s: field 'r' must be a positive integer", path);
    *rank = (int)json_integer_value(v);
    v = json_object_get(root, "lora_alpha");
    if (!json_is_number(v) || !(json_number_value(v) > 0) || !(json_number_value(v) < 1e9))
        return dlm_error(DLM_STATUS_FORMAT, "%s: field 'lora_alpha' must be a positive number", path);
    *alpha = (float)json_number_value(v);
    *rslora = json_is_true(json_object_get(root, "use_rslora"));
    static const char *const must_be_off[] = {"fan_in_fan_out", "use_dora", NULL};
    for (int i = 0; must_be_off[i]; i++)
        if (json_is_true(json_object_get(root, must_be_off[i])))
            return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: '%s' is not supported", path, must_be_off[i]);
    static const char *const must_be_empty[] = {"modules_to_save", "layers_to_transform", "rank_pattern", "alpha_pattern",
                                                NULL};
    for (int i = 0; must_be_empty[i]; i++) {
        v = json_object_get(root, must_be_empty[i]);
        if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0) &&
            !(json_is_object(v) && json_object_size(v) == 0))
            return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: '%s' is not supported", path, must_be_empty[i]);
    }
    if ((v = json_object_get(root, "bias")) && json_is_string(v) && strcmp(json_string_value(v), "none"))
        return dlm_error(DLM_STATUS_UNSUPPORTED, "%s: bias '%s' is not supported (only 'none')", path,
                         json_string_value(v));
    v = json_object_get(root, "target_modules");
    if (!json_is_array(v) || json_array_size(v) == 0)
        return dlm_error(DLM_STATUS_FORMAT, "%s: 'target_modules' must be a non-empty list of module names", path);
    for (size_t i = 0; i < json_array_size(v); i++)
        if (!json_is_string(json_array_get(v, i)))
            return dlm_error(DLM_STATUS_FORMAT, "%s: target_modules[%zu] is not a string", path, i);
    *targets = v;
    return DLM_STATUS_OK;
}

static dlm_status load_adapter(dlm_model *m, const char *adir) {
    char *cfg_path = dlm_path_join(adir, "adapter_config.json"), *text = NULL;
    json_t *root = NULL;
    dlm_status st = dlm_read_file(cfg_path, 16u << 20, &text, NULL);
    if (st != DLM_STATUS_OK) goto done;
    json_error_t jerr;
    root = json_loads(text, 0, &jerr);
    if (!root || !json_is_object(root)) {
        st = dlm_error(DLM_STATUS_FORMAT, "%s: not a JSON object (line %d: %s)", cfg_path, jerr.line,
                       root ? "expected an object" : jerr.text);
        goto done;
    }
    int rank = 0;
    float alpha = 0;
    bool rslora = false;
    json_t *targets = NULL;
    if ((st = check_adapter_config(root, cfg_path, &rank, &alpha, &rslora, &targets)) != DLM_STATUS_OK) goto done;
    if ((st = dlm_tensor_set_open_dir(adir, "adapter_model", &m->adapter)) != DLM_STATUS_OK) goto done;
    m->lora_rank = rank;
    m->lora_scale = rslora ? alpha / sqrtf((float)rank) : alpha / (float)rank;
    m->lora = dlm_xcalloc((size_t)DLM_TENSOR_ROLE_COUNT * m->cfg.n_layers, sizeof *m->lora);

    char name[256], leaf[128];
    int n_pairs = 0;
    for (size_t ti = 0; ti < json_array_size(targets) && st == DLM_STATUS_OK; ti++) {
        const char *target = json_string_value(json_array_get(targets, ti));
        bool matched = false;
        for (int r = 0; r < DLM_TENSOR_ROLE_COUNT && st == DLM_STATUS_OK; r++) {
            int64_t r_rows, r_cols;
            dlm_model_role_shape(&m->cfg, r, &r_rows, &r_cols);
            if (r_cols == 0 || r == DLM_TENSOR_WTE || !dlm_config_has_role(&m->cfg, r))
                continue; // PEFT LoRA wraps Linear layers' weights only
            if (role_info[r].per_layer == 2) continue; // experts: not LoRA targets dlmscope merges
            int n = role_info[r].per_layer ? m->cfg.n_layers : 1;
            for (int l = 0; l < n; l++) {
                if (role_info[r].per_layer && !dlm_config_layer_has_role(&m->cfg, r, l)) continue;
                dlm_config_tensor_name(&m->cfg, r, l, name, sizeof name);
                module_leaf(name, leaf, sizeof leaf);
                if (strcmp(leaf, target) != 0) continue;
                matched = true;
                const dlm_tensor *a = find_lora(m->adapter, name, 'A'), *b = find_lora(m->adapter, name, 'B');
                if (!a || !b) {
                    st = dlm_error(DLM_STATUS_FORMAT, "%s/adapter_model.safetensors: no lora_%c tensor for target '%s' of '%s'",
                                   adir, a ? 'B' : 'A', target, name);
                    break;
                }
                int64_t rows, cols;
                dlm_model_role_shape(&m->cfg, r, &rows, &cols);
                if (a->n_dims != 2 || a->shape[0] != rank || a->shape[1] != cols || a->dtype == DLM_DTYPE_OTHER) {
                    st = dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s' must be a float [%d, %lld] (r, in)", a->file, a->name,
                                   rank, (long long)cols);
                    break;
                }
                if (b->n_dims != 2 || b->shape[0] != rows || b->shape[1] != rank || b->dtype == DLM_DTYPE_OTHER) {
                    st = dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s' must be a float [%lld, %d] (out, r)", b->file, b->name,
                                   (long long)rows, rank);
                    break;
                }
                m->lora[slot(m, r, l)] = (dlm_lora_pair){a, b};
                n_pairs += 2;
            }
        }
        if (st == DLM_STATUS_OK && !matched)
            st = dlm_error(DLM_STATUS_FORMAT, "%s: target_modules entry '%s' matches no module of the model in %s", cfg_path,
                           target, m->dir);
    }
    if (st == DLM_STATUS_OK) {
        // Every LoRA tensor in the file must have been claimed by a target, or we would silently ignore weights.
        int n_lora = 0;
        for (int i = 0; i < dlm_tensor_set_count(m->adapter); i++)
            if (strstr(dlm_tensor_set_at(m->adapter, i)->name, ".lora_")) n_lora++;
        if (n_lora != n_pairs) {
            for (int i = 0; i < dlm_tensor_set_count(m->adapter); i++) {
                const dlm_tensor *t = dlm_tensor_set_at(m->adapter, i);
                bool used = false;
                for (int s = 0; s < DLM_TENSOR_ROLE_COUNT * m->cfg.n_layers && !used; s++)
                    used = m->lora[s].a == t || m->lora[s].b == t;
                if (!used) {
                    st = dlm_error(DLM_STATUS_FORMAT, "%s: tensor '%s' targets a module not in target_modules or not in the model",
                                   t->file, t->name);
                    break;
                }
            }
        }
    }
done:
    json_decref(root);
    free(text);
    free(cfg_path);
    return st;
}

// ---- load / free ------------------------------------------------------------------------------

dlm_model *dlm_model_load(const char *dir, const char *adapter_dir) {
    if (!dlm_is_dir(dir)) {
        dlm_error(DLM_STATUS_IO, "%s: not a model folder (expected config.json and *.safetensors)", dir);
        return NULL;
    }
    dlm_model *m = dlm_xcalloc(1, sizeof *m);
    m->dir = dlm_xstrdup(dir);
    char *cfg_path = dlm_path_join(dir, "config.json"), *text = NULL;
    size_t text_len = 0;
    dlm_status st = dlm_read_file(cfg_path, 16u << 20, &text, &text_len);
    if (st == DLM_STATUS_OK) st = dlm_config_parse(text, cfg_path, &m->cfg);
    if (st == DLM_STATUS_OK) st = dlm_tensor_set_open_dir(dir, "model", &m->weights);
    if (st == DLM_STATUS_OK) st = bind_tensors(m);
    if (st == DLM_STATUS_OK && adapter_dir) {
        if (!dlm_is_dir(adapter_dir))
            st = dlm_error(DLM_STATUS_IO, "%s: not an adapter folder (expected adapter_config.json)", adapter_dir);
        else {
            m->adapter_dir = dlm_xstrdup(adapter_dir);
            st = load_adapter(m, adapter_dir);
        }
    }
    if (st == DLM_STATUS_OK) {
        uint64_t h = dlm_hash64(text, text_len, 0);
        for (int i = 0; i < dlm_tensor_set_count(m->weights); i++) {
            const dlm_tensor *t = dlm_tensor_set_at(m->weights, i);
            h = dlm_hash64(t->name, strlen(t->name), h);
            h = dlm_hash64(t->dtype_name, strlen(t->dtype_name), h);
            h = dlm_hash64(t->shape, sizeof t->shape, h);
        }
        m->identity = h;
    }
    free(text);
    free(cfg_path);
    if (st != DLM_STATUS_OK) {
        dlm_model_free(m);
        return NULL;
    }
    return m;
}

void dlm_model_free(dlm_model *m) {
    if (!m) return;
    dlm_tensor_set_free(m->weights);
    dlm_tensor_set_free(m->adapter);
    free(m->tensor);
    free(m->expert);
    free(m->lora);
    free(m->dir);
    free(m->adapter_dir);
    free(m);
}

void dlm_model_load_tensor(const dlm_model *m, dlm_tensor_role role, int layer, float *dst) {
    const dlm_tensor *t = m->tensor[slot(m, role, layer)];
    DLM_ASSERT(t);
    dlm_tensor_to_f32(t, 0, dlm_tensor_numel(t), dst);
    if (!m->lora) return;
    dlm_lora_pair p = m->lora[slot(m, role, layer)];
    if (!p.a) return;
    int64_t rows = p.b->shape[0], cols = p.a->shape[1], r = p.a->shape[0];
    float *a = dlm_xmalloc((size_t)(r * cols) * sizeof *a), *b = dlm_xmalloc((size_t)(rows * r) * sizeof *b);
    dlm_tensor_to_f32(p.a, 0, r * cols, a);
    dlm_tensor_to_f32(p.b, 0, rows * r, b);
    // W (rows, cols) += scale * B (rows, r) @ A (r, cols)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)cols, (int)r, m->lora_scale, b, (int)r, a,
                (int)cols, 1.0f, dst, (int)cols);
    free(a);
    free(b);
}
