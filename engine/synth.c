// synth.c — random LLaDA-layout checkpoints, streamed to disk one tensor at a time.
#include "synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    s.dtype = "BF16";
    s.n_shards = 1;
    s.seed = 1;
    return s;
}

static const struct {
    const char *name;
    int         d, heads, kv, layers, ff, vocab;
} presets[] = {
    {"tiny", 64, 4, 4, 2, 160, 384},
    {"small", 256, 8, 8, 8, 768, 2048},
    {"medium", 512, 8, 8, 8, 1536, 2048},
    {"llada-8b", 4096, 32, 32, 32, 12288, 126464},
    // Qwen3-0.6B's dimensions (head size 128, so 16 heads are 2048 wide on a 1024 model; GQA 2:1) in
    // the LLaDA architecture: no QK-norm, untied head (issue 22's benchmark shape, not a Qwen3 model).
    {"qwen3-0.6b", 1024, 16, 8, 28, 3072, 151936},
};

bool dlm_synth_preset(const char *name, dlm_synth_spec *out) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0) {
            *out = dlm_synth_spec_make(presets[i].d, presets[i].heads, presets[i].kv, presets[i].layers, presets[i].ff,
                                       presets[i].vocab);
            if (strcmp(name, "qwen3-0.6b") == 0) {
                out->cfg.head_dim = 128;
                out->cfg.rope_theta = 1000000.0f;
            }
            if (strcmp(name, "llada-8b") == 0) {
                out->n_shards = 6;
                out->cfg.mask_id = 126336, out->cfg.eos_id = 126081;
            }
            return true;
        }
    return false;
}

const char *dlm_synth_preset_names(void) { return "tiny, small, medium, llada-8b, qwen3-0.6b"; }

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

static float init_value(dlm_tensor_role role, const dlm_config *c, uint64_t seed, uint64_t idx) {
    double u = dlm_rng_uniform(seed, (uint64_t)role, idx, 0) * 2.0 - 1.0; // U(-1, 1)
    switch (role) {
    case DLM_TENSOR_ATTN_NORM:
    case DLM_TENSOR_FF_NORM:
    case DLM_TENSOR_LN_F: return (float)(1.0 + 0.1 * u);
    case DLM_TENSOR_WTE: return (float)u;
    case DLM_TENSOR_LM_HEAD: return (float)(3.0 * u / sqrt(c->d_model));
    case DLM_TENSOR_W_DOWN: return (float)(u / sqrt(c->d_ff));
    default: return (float)(u / sqrt(c->d_model));
    }
}

static dlm_status write_config(const char *dir, const dlm_synth_spec *s) {
    const dlm_config *c = &s->cfg;
    char *path = dlm_path_join(dir, "config.json");
    FILE *f = fopen(path, "w");
    if (!f) {
        dlm_status st = dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
        free(path);
        return st;
    }
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
    int max_tensors = 3 + 9 * c->n_layers, n = 0;
    planned *plan = dlm_xcalloc((size_t)max_tensors, sizeof *plan);
    dlm_model names = {.cfg = *c, .names = DLM_NAMES_LLADA};
    uint64_t total = 0;
    for (int r = 0; r < DLM_TENSOR_ROLE_COUNT; r++) {
        bool per_layer = r != DLM_TENSOR_WTE && r != DLM_TENSOR_LN_F && r != DLM_TENSOR_LM_HEAD;
        if (r == DLM_TENSOR_LM_HEAD && c->tied_embeddings) continue;
        for (int l = 0; l < (per_layer ? c->n_layers : 1); l++) {
            planned *p = &plan[n];
            dlm_model_tensor_name(&names, (dlm_tensor_role)r, l, p->name, sizeof p->name);
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
            uint64_t tseed = s->seed * 1000003u + (uint64_t)i;
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t j = 0; j < cols; j++) {
                    uint64_t idx = (uint64_t)(r * cols + j);
                    float v = plan[i].elsize == 8 ? 0.0f : init_value(plan[i].role, c, tseed, idx);
                    if (plan[i].elsize == 8) memset(row + 8 * j, 0, 8);
                    else if (elsize == 4) memcpy(row + 4 * j, &v, 4);
                    else if (strcmp(dtype, "F16") == 0) {
                        uint16_t h = dlm_f32_to_f16(v);
                        memcpy(row + 2 * j, &h, 2);
                    } else {
                        uint16_t h = dlm_f32_to_bf16(v);
                        memcpy(row + 2 * j, &h, 2);
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
    free(plan);
    return st;
}
