// cmd_logits.c — `dlmscope logits`: one forward pass, top-K probabilities for every position.
//
// Output, one line per position:  POS ID:PROB ID:PROB ...   (probabilities with 8 decimals)
// Each line is the distribution the decoder uses for that position: for a family that shifts its
// logits (Dream) it is computed from the hidden state of the position before (position 0: its own).
// With --experts (MoE models), one line per position with the experts its router chose in every
// MoE layer, best selection score first:  POS LAYER:E,E,... LAYER:E,E,...
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "engine/backend.h"
#include "engine/util.h"

// --soft "POS:ID=W,ID=W;POS:ID=W": positions fed a weighted mixture of token embeddings.
static bool parse_soft(const char *spec, int n_tokens, int soft_k, int32_t *soft_ids, float *soft_w) {
    char *copy = dlm_xstrdup(spec), *save = NULL;
    bool ok = true;
    for (char *item = strtok_r(copy, ";", &save); item && ok; item = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(item, ':');
        long long pos;
        if (!colon) {
            cli_error("logits", "--soft: '%s' is not POS:ID=W,...", item);
            ok = false;
            break;
        }
        *colon = 0;
        if (!dlm_parse_int(item, 0, n_tokens - 1, &pos)) {
            cli_error("logits", "--soft: position '%s' is not in [0, %d)", item, n_tokens);
            ok = false;
            break;
        }
        char *save2 = NULL;
        int k = 0;
        for (char *pair = strtok_r(colon + 1, ",", &save2); pair; pair = strtok_r(NULL, ",", &save2)) {
            char *eq = strchr(pair, '=');
            long long id;
            double w;
            if (!eq || k >= soft_k) {
                cli_error("logits", "--soft: '%s' at position %lld: expected at most %d ID=W pairs", pair, pos, soft_k);
                ok = false;
                break;
            }
            *eq = 0;
            if (!dlm_parse_int(pair, 0, INT32_MAX, &id) || !dlm_parse_double(eq + 1, &w)) {
                cli_error("logits", "--soft: '%s=%s' at position %lld is not ID=WEIGHT", pair, eq + 1, pos);
                ok = false;
                break;
            }
            soft_ids[pos * soft_k + k] = (int32_t)id;
            soft_w[pos * soft_k + k] = (float)w;
            k++;
        }
    }
    free(copy);
    return ok;
}

int cmd_logits(int argc, char **argv) {
    cli_opt opts[] = {
        {"model", "MODEL", "model folder (config.json, model*.safetensors), bundled NAME or ORG/NAME[@REV] (required)"},
        {"ids", "IDS", "token ids, space or comma separated (required)"},
        {"top", "K", "candidates per position, 1..32 (default 5)"},
        {"adapter", "ADAPTER", "PEFT LoRA adapter folder or ORG/NAME[@REV], merged at load"},
        {"block-causal", "B", "block-causal attention with blocks of B tokens (default: the model's; LLaDA, Dream: none)"},
        {"soft", "SPEC", "soft inputs 'POS:ID=W,ID=W;POS:...' (EvoToken-style embedding mixtures)"},
        {"experts", NULL, "print the experts each position was routed to per MoE layer instead of probabilities"},
        {"device", "NAME", "cpu, cuda or auto (default auto)"},
        {"threads", "N", "CPU threads, fixed (default: adaptive, up to the CPUs this process may run on; idle threads sleep)"},
        {0}};
    cli_positional pos;
    int exit_status;
    if (!cli_begin("logits", "--model MODEL --ids IDS [options]", opts, argc, argv, &pos, &exit_status))
        return exit_status;
    int status = 2;
    dlm_model *model = NULL;
    dlm_backend *be = NULL;
    char *model_dir = NULL, *adapter_dir = NULL;
    int32_t *ids = NULL, *rows = NULL, *soft_ids = NULL;
    float *soft_w = NULL;
    int16_t *routing = NULL;
    dlm_row_summary *sum = NULL;
    long long top, block, threads;
    int n = 0;
    const int soft_k = 8;

    if (pos.n) {
        cli_error("logits", "unexpected argument '%s'", pos.items[0]);
        goto done;
    }
    if (!cli_has(opts, "model") || !cli_has(opts, "ids")) {
        cli_error("logits", "--model and --ids are required (see --help)");
        goto done;
    }
    if (!cli_get_int("logits", opts, "top", 1, DLM_TOP_K_MAX, 5, &top) ||
        !cli_get_int("logits", opts, "block-causal", 1, 1 << 20, 0, &block) ||
        !cli_get_int("logits", opts, "threads", 1, 1024, 0, &threads))
        goto done;
    if (!cli_parse_ids("logits", "ids", cli_get(opts, "ids"), &ids, &n)) goto done;
    if (cli_has(opts, "soft")) {
        soft_ids = dlm_xcalloc((size_t)n * soft_k, sizeof *soft_ids);
        soft_w = dlm_xcalloc((size_t)n * soft_k, sizeof *soft_w);
        if (!parse_soft(cli_get(opts, "soft"), n, soft_k, soft_ids, soft_w)) goto done;
    }
    if (!(model_dir = cli_model_folder("logits", "model", cli_get(opts, "model")))) goto done;
    if (cli_has(opts, "adapter") && !(adapter_dir = cli_model_folder("logits", "adapter", cli_get(opts, "adapter")))) goto done;
    model = dlm_model_load(model_dir, adapter_dir);
    if (!model) {
        cli_error("logits", "%s", dlm_error_message());
        goto done;
    }
    be = dlm_backend_new(model, cli_has(opts, "device") ? cli_get(opts, "device") : "auto", (int)threads);
    if (!be) {
        cli_error("logits", "%s", dlm_error_message());
        goto done;
    }
    if (!cli_has(opts, "block-causal")) block = model->cfg.block_causal; // SDAR attends block-causally
    rows = dlm_xmalloc((size_t)n * sizeof *rows);
    for (int i = 0; i < n; i++) rows[i] = i;
    sum = dlm_xcalloc((size_t)n, sizeof *sum);
    dlm_forward_args fa = {.n_tokens = n, .ids = ids, .block_size = (int)block, .n_rows = n, .rows = rows};
    if (soft_ids) {
        fa.soft_k = soft_k;
        fa.soft_ids = soft_ids;
        fa.soft_w = soft_w;
    }
    const dlm_config *c = &model->cfg;
    const int n_moe = dlm_config_moe_layers(c);
    if (cli_has(opts, "experts")) {
        if (n_moe == 0) {
            cli_error("logits", "--experts: %s is not a mixture-of-experts model", model_dir);
            goto done;
        }
        routing = dlm_xmalloc((size_t)n * n_moe * c->n_experts_used * sizeof *routing);
        fa.routing = routing;
    }
    dlm_sample_opts so = dlm_sample_opts_default();
    so.top_k = (int)top;
    if (dlm_backend_forward(be, &fa, &so, sum) != DLM_STATUS_OK) {
        cli_error("logits", "%s", dlm_error_message());
        goto done;
    }
    for (int i = 0; i < n && routing; i++) {
        printf("%d", i);
        for (int j = 0; j < n_moe; j++) {
            printf(" %d:", c->n_dense_layers + j); // the layer's number in the checkpoint
            const int16_t *e = routing + ((size_t)i * n_moe + j) * c->n_experts_used;
            for (int k = 0; k < c->n_experts_used; k++) printf("%s%d", k ? "," : "", e[k]);
        }
        putchar('\n');
    }
    for (int i = 0; i < n && !routing; i++) {
        printf("%d", i);
        for (int k = 0; k < sum[i].n_top; k++) printf(" %d:%.8f", sum[i].top_id[k], sum[i].top_p[k]);
        putchar('\n');
    }
    status = 0;
done:
    free(model_dir);
    free(adapter_dir);
    free(ids);
    free(rows);
    free(soft_ids);
    free(soft_w);
    free(routing);
    free(sum);
    dlm_backend_free(be);
    dlm_model_free(model);
    cli_free(opts, &pos);
    return status;
}
