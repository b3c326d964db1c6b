// synth.c — random LLaDA-layout checkpoints, streamed to disk one tensor at a time.
#include "synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "rng.h"
#include "safetensors.h"
#include "util.h"

dlm_synth_spec dlm_synth_spec_make(int d_model, int n_heads, int n_kv_heads, int n_layers, int d_ff, int n_vocab) {
    dlm_synth_spec s = {0};
    dlm_config *c = &s.cfg;
    c->d_model = d_model, c->n_heads = n_heads, c->n_kv_heads = n_kv_heads, c->head_dim = d_model / n_heads;
    c->n_layers = n_layers, c->d_ff = d_ff, c->n_vocab = c->vocab_size = n_vocab, c->max_seq_len = 4096;
    c->rope_theta = 500000.0f, c->norm_eps = 1e-5f;
    c->mask_id = n_vocab - 1, c->eos_id = 0, c->pad_id = 0, c->bos_id = -1;
    c->arch = dlm_arch_find("llada");
    s.dtype = "BF16";
    s.n_shards = 1;
    s.seed = 1;
    return s;
}

// Presets in each family's real layout and config keys; the *-real ones have the released
// checkpoints' shapes (research/models.md), the small ones are for tests and quick looks.
static const struct {
    const char *name, *family;
    int         d, heads, kv, head_dim, layers, ff, vocab;
    bool        tied;
    float       theta;
    int         mask, eos, shards;
} presets[] = {
    {"tiny", "llada", 64, 4, 4, 16, 2, 160, 384, false, 500000, -1, 0, 1},
    {"small", "llada", 256, 8, 8, 32, 8, 768, 2048, false, 500000, -1, 0, 1},
    {"medium", "llada", 512, 8, 8, 64, 8, 1536, 2048, false, 500000, -1, 0, 1},
    {"llada-8b", "llada", 4096, 32, 32, 128, 32, 12288, 126464, false, 500000, 126336, 126081, 6},
    // Qwen3-0.6B's dimensions in the LLaDA architecture (no QK-norm, untied head), so that PyTorch's
    // train/model.py can run the same checkpoint (make bench-compare); a2d-qwen3-0.6b is the real family.
    {"qwen3-0.6b-llada", "llada", 1024, 16, 8, 128, 28, 3072, 151936, false, 1e6, -1, 0, 1},
    {"dream-tiny", "dream", 64, 4, 2, 16, 2, 160, 384, false, 1e6, -1, 0, 1},
    {"dream-7b", "dream", 3584, 28, 4, 128, 28, 18944, 152064, false, 1e6, 151666, 151643, 4},
    {"a2d-qwen3-tiny", "a2d-qwen3", 64, 4, 2, 32, 2, 160, 384, true, 1e6, -1, 0, 1},
    {"a2d-qwen3-0.6b", "a2d-qwen3", 1024, 16, 8, 128, 28, 3072, 151936, true, 1e6, 151669, 151645, 1},
    {"a2d-qwen2-tiny", "a2d-qwen2", 64, 4, 2, 16, 2, 160, 384, true, 1e6, -1, 0, 1},
    {"a2d-qwen2.5-0.5b", "a2d-qwen2", 896, 14, 2, 64, 24, 4864, 151936, true, 1e6, 151665, 151645, 1},
    {"sdar-tiny", "sdar", 64, 4, 2, 32, 2, 160, 384, false, 1e6, -1, 0, 1},
    {"sdar-1.7b", "sdar", 2048, 16, 8, 128, 28, 6144, 151936, false, 1e6, 151669, 151645, 1},
    {"fast-dllm-v2-tiny", "fast-dllm-v2", 64, 4, 2, 16, 2, 160, 384, true, 1e6, -1, 0, 1},
    // Fast_dLLM_v2_1.5B's config.json (Qwen2.5-1.5B-Instruct, tied); the 7B is Qwen2.5-7B's (untied)
    {"fast-dllm-v2-1.5b", "fast-dllm-v2", 1536, 12, 2, 128, 28, 8960, 151936, true, 1e6, 151665, 151645, 1},
    {"fast-dllm-v2-7b", "fast-dllm-v2", 3584, 28, 4, 128, 28, 18944, 152064, false, 1e6, 151665, 151645, 4},
    {"llada-moe-tiny", "llada-moe", 64, 4, 4, 16, 2, 160, 384, false, 5e4, -1, 0, 1},
    {"llada-moe-7b", "llada-moe", 2048, 16, 16, 128, 16, 8192, 157184, false, 5e4, 156895, 156892, 3},
    {"llada2-tiny", "llada2", 64, 4, 2, 32, 3, 160, 384, false, 6e5, -1, 0, 1},
    {"llada2-mini", "llada2", 2048, 16, 4, 128, 20, 5120, 157184, false, 6e5, 156895, 156892, 8},
};

// The mixture of experts of the MoE presets (added to the shape above of the same name).
static const struct {
    const char *name;
    int         experts, used, d_expert, d_shared, dense_layers, n_group, topk_group, rotary_dim;
    bool        bias;
    float       scale;
} moe_presets[] = {
    {"llada-moe-tiny", 8, 2, 32, 0, 1, 0, 0, 8, true, 1.0f},
    // hidden 2048, 16 MoE layers (none dense), 16 heads of 128 without GQA, 64 experts of 1024, 8
    // active, no shared expert, full rotary: llama.cpp's llada-moe loader and graph (every layer
    // routed, n_rot == head_dim) and the 7.36B parameter count (docs/model-families.md)
    {"llada-moe-7b", 64, 8, 1024, 0, 0, 0, 0, 128, false, 1.0f},
    {"llada2-tiny", 16, 4, 32, 32, 1, 4, 2, 16, true, 2.5f},
    {"llada2-mini", 256, 8, 512, 512, 1, 8, 4, 64, true, 2.5f}, // LLaDA2.1-mini's config.json
};

bool dlm_synth_preset(const char *name, dlm_synth_spec *out) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) != 0) continue;
        *out = dlm_synth_spec_make(presets[i].d, presets[i].heads, presets[i].kv, presets[i].layers, presets[i].ff,
                                   presets[i].vocab);
        dlm_config *c = &out->cfg;
        c->arch = dlm_arch_find(presets[i].family);
        c->head_dim = presets[i].head_dim;
        c->tied_embeddings = presets[i].tied;
        c->rope_theta = presets[i].theta;
        c->qkv_bias = c->arch->qkv_bias, c->qk_norm = c->arch->qk_norm;
        if (c->arch != dlm_arch_find("llada")) c->norm_eps = 1e-6f;
        if (presets[i].mask >= 0) c->mask_id = presets[i].mask, c->eos_id = presets[i].eos;
        c->block_causal = c->arch->default_block;
        c->fused_qkv = c->arch->fused_qkv;
        c->rotary_dim = c->head_dim;
        for (size_t j = 0; j < sizeof moe_presets / sizeof moe_presets[0]; j++) {
            if (strcmp(moe_presets[j].name, name) != 0) continue;
            c->n_experts = moe_presets[j].experts, c->n_experts_used = moe_presets[j].used;
            c->d_expert = moe_presets[j].d_expert, c->d_shared = moe_presets[j].d_shared;
            c->n_dense_layers = moe_presets[j].dense_layers, c->router = c->arch->router;
            c->n_group = moe_presets[j].n_group, c->topk_group = moe_presets[j].topk_group;
            c->rotary_dim = moe_presets[j].rotary_dim, c->expert_bias = moe_presets[j].bias;
            c->routed_scale = moe_presets[j].scale;
        }
        out->n_shards = presets[i].shards;
        return true;
    }
    return false;
}

const char *dlm_synth_preset_names(void) {
    static char names[1024];
    if (!names[0])
        for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", presets[i].name);
    return names;
}

// One tensor of the plan.
typedef struct {
    char            name[128];
    dlm_tensor_role role;
    int64_t         rows, cols; // cols 0 for vectors
    int             elsize;     // bytes per element as written
    const char     *dtype;
    uint64_t        bytes;
    int             shard;
} planned;

// Each tensor is U(centre - half, centre + half), the interval depending on its role: norms near 1,
// projections scaled by their fan-in so activations stay O(1), the router wide enough that routing
// is well away from ties.
static void init_range(dlm_tensor_role role, const dlm_config *c, float *centre, float *half) {
    *centre = 0.0f;
    switch (role) {
    case DLM_TENSOR_ATTN_NORM:
    case DLM_TENSOR_FF_NORM:
    case DLM_TENSOR_Q_NORM:
    case DLM_TENSOR_K_NORM:
    case DLM_TENSOR_LN_F: *centre = 1.0f, *half = 0.1f; break;
    case DLM_TENSOR_BQ:
    case DLM_TENSOR_BK:
    case DLM_TENSOR_BV: *half = 0.5f; break;
    case DLM_TENSOR_WTE: *half = c->tied_embeddings ? (float)(3.0 / sqrt(c->d_model)) : 1.0f; break; // tied: it is the head too
    case DLM_TENSOR_LM_HEAD: *half = (float)(3.0 / sqrt(c->d_model)); break;
    case DLM_TENSOR_W_DOWN: *half = (float)(1.0 / sqrt(c->d_ff)); break;
    case DLM_TENSOR_EXPERT_DOWN: *half = (float)(1.0 / sqrt(c->d_expert)); break;
    case DLM_TENSOR_SHARED_DOWN: *half = (float)(1.0 / sqrt(c->d_shared)); break;
    case DLM_TENSOR_EXPERT_BIAS: *half = 0.1f; break;
    case DLM_TENSOR_ROUTER: *half = (float)(2.0 / sqrt(c->d_model)); break;
    default: *half = (float)(1.0 / sqrt(c->d_model)); break;
    }
}

// Elements [first, first + n) of a tensor whose random stream is `key`: SplitMix64 over the element
// counter, two 32-bit draws per 64-bit output. A pure function of (key, index), so a row can be
// written without the rows before it, and fast enough (about 1 ns an element) that writing a
// 30 GB checkpoint is bound by the disk, not by this.
static void fill_uniform(float *out, uint64_t key, uint64_t first, size_t n, float centre, float half) {
    const float scale = half * (1.0f / 2147483648.0f); // int32 -> [-half, half)
    for (size_t j = 0; j < n; j++) {
        uint64_t idx = first + j;
        uint64_t bits = dlm_rng_mix(key + (idx >> 1) * 0x9e3779b97f4a7c15ULL);
        int32_t draw = (int32_t)(uint32_t)(idx & 1 ? bits >> 32 : bits);
        out[j] = centre + scale * (float)draw;
    }
}

// Round to nearest even (the values here are finite), as dlm_f32_to_bf16 does, inlined for the loop.
static inline uint16_t to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

static dlm_status write_config(const char *dir, const dlm_synth_spec *s) {
    const dlm_config *c = &s->cfg;
    const dlm_arch *arch = c->arch;
    char *path = dlm_path_join(dir, "config.json");
    FILE *f = fopen(path, "w");
    if (!f) {
        dlm_status st = dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
        free(path);
        return st;
    }
    if (strcmp(arch->name, "llada") == 0) {
        char head_dim[48] = ""; // written only where it is not d_model / n_heads
        if (c->head_dim != c->d_model / c->n_heads) snprintf(head_dim, sizeof head_dim, ",\n  \"head_dim\": %d", c->head_dim);
        fprintf(f,
                "{\n  \"model_type\": \"llada\",\n  \"d_model\": %d,\n  \"n_heads\": %d,\n  \"n_kv_heads\": %d,\n"
                "  \"n_layers\": %d,\n  \"mlp_hidden_size\": %d,\n  \"vocab_size\": %d,\n  \"embedding_size\": %d,\n"
                "  \"max_sequence_length\": %d,\n  \"rope_theta\": %.1f,\n  \"rms_norm_eps\": %g,\n"
                "  \"mask_token_id\": %d,\n  \"eos_token_id\": %d,\n  \"pad_token_id\": %d,\n  \"weight_tying\": %s,\n"
                "  \"include_bias\": false,\n  \"activation_type\": \"silu\",\n  \"block_type\": \"llama\",\n"
                "  \"layer_norm_type\": \"rms\"%s%s\n}\n",
                c->d_model, c->n_heads, c->n_kv_heads, c->n_layers, c->d_ff, c->vocab_size, c->n_vocab, c->max_seq_len,
                (double)c->rope_theta, (double)c->norm_eps, c->mask_id, c->eos_id, c->pad_id,
                c->tied_embeddings ? "true" : "false", head_dim, s->extra_config ? s->extra_config : "");
    } else {
        // Hugging Face keys, as the family's released config.json writes them.
        fprintf(f,
                "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n  \"hidden_size\": %d,\n"
                "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"num_hidden_layers\": %d,\n"
                "  \"%s\": %d,\n  \"vocab_size\": %d,\n  \"max_position_embeddings\": %d,\n"
                "  \"rope_theta\": %.1f,\n  \"rope_scaling\": null,\n  \"rms_norm_eps\": %g,\n  \"hidden_act\": \"silu\",\n"
                "  \"tie_word_embeddings\": %s,\n  \"use_sliding_window\": false,\n  \"mask_token_id\": %d,\n"
                "  \"eos_token_id\": %d,\n  \"pad_token_id\": %d,\n  \"torch_dtype\": \"bfloat16\"",
                arch->architectures[0], arch->model_types[0], c->d_model, c->n_heads, c->n_kv_heads, c->n_layers,
                arch->moe == DLM_MOE_LLADA_MOE ? "dense_intermediate_size" : "intermediate_size", c->d_ff,
                c->vocab_size, c->max_seq_len, (double)c->rope_theta, (double)c->norm_eps,
                c->tied_embeddings ? "true" : "false", c->mask_id, c->eos_id, c->pad_id);
        if (!arch->head_dim_from_heads) fprintf(f, ",\n  \"head_dim\": %d", c->head_dim);
        if (!arch->qkv_bias) fprintf(f, ",\n  \"attention_bias\": false");
        if (arch->block_size_key) fprintf(f, ",\n  \"%s\": %d", arch->block_size_key, c->block_causal);
        if (strcmp(arch->name, "fast-dllm-v2") == 0) { // the other keys of its released config.json
            fprintf(f, ",\n  \"max_window_layers\": %d,\n  \"sliding_window\": null,\n"
                       "  \"layer_types\": [", c->n_layers);
            for (int l = 0; l < c->n_layers; l++) fprintf(f, "%s\"full_attention\"", l ? ", " : "");
            fprintf(f, "]");
        }
        if (arch->partial_rotary) fprintf(f, ",\n  \"partial_rotary_factor\": %g", (double)c->rotary_dim / c->head_dim);
        if (arch->moe == DLM_MOE_LLADA2)
            fprintf(f,
                    ",\n  \"num_experts\": %d,\n  \"num_experts_per_tok\": %d,\n  \"moe_intermediate_size\": %d,\n"
                    "  \"num_shared_experts\": %d,\n  \"first_k_dense_replace\": %d,\n  \"n_group\": %d,\n"
                    "  \"topk_group\": %d,\n  \"routed_scaling_factor\": %g,\n  \"score_function\": \"sigmoid\",\n"
                    "  \"moe_router_enable_expert_bias\": true,\n  \"norm_topk_prob\": true,\n  \"use_qk_norm\": true,\n"
                    "  \"use_qkv_bias\": false,\n  \"use_bias\": false,\n  \"norm_head\": false,\n  \"rotary_dim\": %d",
                    c->n_experts, c->n_experts_used, c->d_expert, c->d_shared / c->d_expert, c->n_dense_layers, c->n_group,
                    c->topk_group, (double)c->routed_scale, c->rotary_dim);
        if (arch->moe == DLM_MOE_LLADA_MOE) {
            fprintf(f,
                    ",\n  \"num_experts\": %d,\n  \"num_experts_per_tok\": %d,\n  \"expert_intermediate_size\": %d,\n"
                    "  \"shared_expert_intermediate_size\": ",
                    c->n_experts, c->n_experts_used, c->d_expert);
            if (c->d_shared) fprintf(f, "%d", c->d_shared);
            else fprintf(f, "null");
            fprintf(f,
                    ",\n  \"moe_router_enable_expert_bias\": %s,\n  \"moe_router_score_function\": \"softmax\",\n"
                    "  \"norm_topk_prob\": false,\n  \"qk_layernorm\": true,\n  \"moe_layer_freq\": [",
                    c->expert_bias ? "true" : "false");
            for (int l = 0; l < c->n_layers; l++) fprintf(f, "%s%d", l ? ", " : "", dlm_config_layer_is_moe(c, l) ? 1 : 0);
            fprintf(f, "]");
        }
        fprintf(f, "%s\n}\n", s->extra_config ? s->extra_config : "");
    }
    int bad = ferror(f);
    bad |= fclose(f);
    dlm_status st = bad ? dlm_error(DLM_STATUS_IO, "%s: write error", path) : DLM_STATUS_OK;
    free(path);
    return st;
}

static void shard_name(char *buf, size_t n, int shard, int n_shards) {
    if (n_shards == 1) snprintf(buf, n, "model.safetensors");
    else snprintf(buf, n, "model-%05d-of-%05d.safetensors", shard + 1, n_shards);
}

dlm_status dlm_synth_write(const char *dir, const dlm_synth_spec *s) {
    const dlm_config *c = &s->cfg;
    const char *dtype = s->dtype ? s->dtype : "BF16";
    int elsize = strcmp(dtype, "F32") == 0 ? 4 : 2;
    int n_shards = s->n_shards > 0 ? s->n_shards : 1;
    dlm_status st = write_config(dir, s);
    if (st != DLM_STATUS_OK) return st;

    // Plan every tensor, in checkpoint order, and spread them over the shards by size.
    int max_tensors = 3 + DLM_TENSOR_ROLE_COUNT * c->n_layers + 3 * c->n_layers * c->n_experts + 1, n = 0;
    planned *plan = dlm_xcalloc((size_t)max_tensors, sizeof *plan);
    uint64_t total = 0;
    for (int r = 0; r < DLM_TENSOR_ROLE_COUNT; r++) {
        bool per_layer = dlm_tensor_role_per_layer(r);
        if (r == DLM_TENSOR_LM_HEAD && c->tied_embeddings) continue;
        if (!dlm_config_has_role(c, r)) continue;
        for (int t = 0; t < (per_layer ? c->n_layers : 1) * (dlm_tensor_role_per_expert(r) ? c->n_experts : 1); t++) {
            const int l = dlm_tensor_role_per_expert(r) ? t / c->n_experts : t, expert = dlm_tensor_role_per_expert(r) ? t % c->n_experts : 0;
            if (per_layer && !dlm_config_layer_has_role(c, r, l)) continue;
            planned *p = &plan[n];
            if (dlm_tensor_role_per_expert(r)) dlm_config_expert_tensor_name(c, (dlm_tensor_role)r, l, expert, p->name, sizeof p->name);
            else dlm_config_tensor_name(c, (dlm_tensor_role)r, l, p->name, sizeof p->name);
            if (s->omit && strcmp(s->omit, p->name) == 0) continue;
            p->role = (dlm_tensor_role)r;
            dlm_model_role_shape(c, p->role, &p->rows, &p->cols);
            if (s->bad_shape && strcmp(s->bad_shape, p->name) == 0) p->rows++;
            bool i64 = s->bad_dtype && strcmp(s->bad_dtype, p->name) == 0;
            p->dtype = i64 ? "I64" : dtype;
            p->elsize = i64 ? 8 : elsize;
            p->bytes = (uint64_t)p->rows * (uint64_t)(p->cols ? p->cols : 1) * (uint64_t)p->elsize;
            total += p->bytes;
            n++;
        }
    }
    if (s->extra_tensor) { // a tensor the family does not have: a q-projection-sized bias vector
        planned *p = &plan[n++];
        snprintf(p->name, sizeof p->name, "%s", s->extra_tensor);
        p->role = DLM_TENSOR_BQ;
        p->rows = (int64_t)c->n_heads * c->head_dim, p->cols = 0;
        p->dtype = dtype, p->elsize = elsize;
        p->bytes = (uint64_t)p->rows * (uint64_t)elsize;
        total += p->bytes;
    }
    uint64_t per_shard = total / (uint64_t)n_shards + 1, acc = 0;
    for (int i = 0; i < n; i++) {
        plan[i].shard = (int)(acc / per_shard);
        if (plan[i].shard >= n_shards) plan[i].shard = n_shards - 1;
        acc += plan[i].bytes;
    }

    // Stream one row at a time: never more than one row of the widest tensor in memory.
    size_t row_elems = 0;
    for (int i = 0; i < n; i++) {
        size_t w = (size_t)(plan[i].cols ? plan[i].cols : plan[i].rows);
        if (w > row_elems) row_elems = w;
    }
    unsigned char *row = dlm_xmalloc(row_elems * 8);
    float *vals = dlm_xmalloc(row_elems * sizeof *vals);
    const bool is_f16 = strcmp(dtype, "F16") == 0;
    dlm_buf index = {0};
    dlm_buf_printf(&index, "{\n  \"metadata\": {\"total_size\": %llu},\n  \"weight_map\": {", (unsigned long long)total);
    bool first_entry = true;
    for (int sh = 0; sh < n_shards && st == DLM_STATUS_OK; sh++) {
        char fname[64];
        shard_name(fname, sizeof fname, sh, n_shards);
        dlm_buf head = {0};
        uint64_t off = 0;
        dlm_buf_printf(&head, "{\"__metadata__\":{\"format\":\"pt\"}");
        for (int i = 0; i < n; i++) {
            if (plan[i].shard != sh) continue;
            dlm_buf_printf(&head, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld", plan[i].name, plan[i].dtype,
                           (long long)plan[i].rows);
            if (plan[i].cols) dlm_buf_printf(&head, ",%lld", (long long)plan[i].cols);
            dlm_buf_printf(&head, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                           (unsigned long long)(off + plan[i].bytes));
            off += plan[i].bytes;
            dlm_buf_printf(&index, "%s\n    \"%s\": \"%s\"", first_entry ? "" : ",", plan[i].name, fname);
            first_entry = false;
        }
        dlm_buf_putc(&head, '}');
        while ((8 + head.len) % 8) dlm_buf_putc(&head, ' ');
        char *path = dlm_path_join(dir, fname);
        FILE *f = fopen(path, "wb");
        if (!f) {
            st = dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
            free(path);
            dlm_buf_free(&head);
            break;
        }
        unsigned char le[8];
        for (int b = 0; b < 8; b++) le[b] = (unsigned char)((uint64_t)head.len >> (8 * b));
        fwrite(le, 1, 8, f);
        fwrite(head.data, 1, head.len, f);
        for (int i = 0; i < n; i++) {
            if (plan[i].shard != sh) continue;
            int64_t rows = plan[i].cols ? plan[i].rows : 1, cols = plan[i].cols ? plan[i].cols : plan[i].rows;
            uint64_t key = dlm_rng_mix(s->seed * 1000003u + (uint64_t)i) ^ (uint64_t)plan[i].role;
            float centre, half;
            init_range(plan[i].role, c, &centre, &half);
            for (int64_t r = 0; r < rows; r++) {
                if (plan[i].elsize == 8) { // the I64 tensor of a bad-dtype test: zeros
                    memset(row, 0, (size_t)cols * 8);
                } else {
                    fill_uniform(vals, key, (uint64_t)(r * cols), (size_t)cols, centre, half);
                    if (elsize == 4) memcpy(row, vals, (size_t)cols * 4);
                    else {
                        uint16_t *h = (uint16_t *)row;
                        if (is_f16)
                            for (int64_t j = 0; j < cols; j++) h[j] = dlm_f32_to_f16(vals[j]);
                        else
                            for (int64_t j = 0; j < cols; j++) h[j] = to_bf16(vals[j]);
                    }
                }
                fwrite(row, (size_t)plan[i].elsize, (size_t)cols, f);
            }
        }
        int bad = ferror(f);
        bad |= fclose(f);
        if (bad) st = dlm_error(DLM_STATUS_IO, "%s: write error (disk full?)", path);
        free(path);
        dlm_buf_free(&head);
    }
    dlm_buf_printf(&index, "\n  }\n}\n");
    if (st == DLM_STATUS_OK && n_shards > 1) {
        char *path = dlm_path_join(dir, "model.safetensors.index.json");
        FILE *f = fopen(path, "w");
        if (!f || fwrite(index.data, 1, index.len, f) != index.len) st = dlm_error(DLM_STATUS_IO, "%s: write error", path);
        if (f) fclose(f);
        free(path);
    }
    dlm_buf_free(&index);
    free(row);
    free(vals);
    free(plan);
    return st;
}
