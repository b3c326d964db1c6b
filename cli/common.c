// common.c — shared option handling: model + backend + tokenizer, rule, prompt.
#include "common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/util.h"

// The model's chat template: its family's, or the one its tokenizer_config.json names when that
// is one we know. An unknown template is reported once (on stderr) and the family's is used.
static dlm_chat_template choose_chat(const char *dir, const dlm_arch *arch) {
    dlm_chat_template chat = arch->chat;
    char *path = dlm_path_join(dir, "tokenizer_config.json"), *text = NULL;
    if (dlm_file_exists(path) && dlm_read_file(path, 64u << 20, &text, NULL) == DLM_STATUS_OK) {
        json_t *root = json_loads(text, 0, NULL), *t = root ? json_object_get(root, "chat_template") : NULL;
        if (json_is_array(t)) // [{"name": "default", "template": ...}, ...]
            for (size_t i = 0; i < json_array_size(t); i++) {
                json_t *item = json_array_get(t, i), *name = json_object_get(item, "name");
                if (json_is_string(name) && strcmp(json_string_value(name), "default") == 0) t = json_object_get(item, "template");
            }
        if (json_is_string(t)) {
            int found = dlm_chat_identify(json_string_value(t));
            if (found < 0) {
                static bool reported;
                if (!reported)
                    fprintf(stderr, "dlmscope: %s: the chat template is not one dlmscope knows; using the %s family's (%s); "
                                    "--no-chat sends prompts as they are\n", path, arch->name, dlm_chat_name(chat));
                reported = true;
            } else if (!(found == DLM_CHAT_QWEN3 && chat == DLM_CHAT_QWEN3_NO_THINK)) { // dLLM's A2D default: no thinking
                chat = (dlm_chat_template)found;
            }
        }
        json_decref(root);
    }
    free(text);
    free(path);
    return chat;
}

// Ids the family names by text (the mask token when config.json has no mask_token_id, the
// end-of-turn token) looked up in the tokenizer.
static void resolve_special_ids(dlm_model *m, const dlm_tokenizer *tok) {
    const dlm_arch *arch = m->cfg.arch;
    if (!tok) return;
    if (m->cfg.mask_id < 0 && arch->mask_token) {
        // dLLM adds "<|mask|>"; Qwen3's tokenizer already lists "<|MASK|>": try both spellings.
        char other[64];
        snprintf(other, sizeof other, "%s", arch->mask_token);
        for (char *c = other; *c; c++) *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        int32_t id = dlm_tokenizer_find(tok, arch->mask_token);
        if (id < 0) id = dlm_tokenizer_find(tok, other);
        if (id >= 0 && id < m->cfg.n_vocab) m->cfg.mask_id = id;
    }
    if (arch->eos_token) {
        int32_t id = dlm_tokenizer_find(tok, arch->eos_token);
        if (id >= 0 && id < m->cfg.n_vocab) m->cfg.eos_id = id;
    }
}

bool cli_parse_ids(const char *cmd, const char *option, const char *text, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    int cap = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        const char *start = p;
        while (*p && *p != ' ' && *p != ',' && *p != '\t' && *p != '\n') p++;
        char tok[32];
        long long v;
        size_t len = (size_t)(p - start);
        if (len >= sizeof tok) len = sizeof tok - 1;
        memcpy(tok, start, len);
        tok[len] = 0;
        if ((size_t)(p - start) >= sizeof tok || !dlm_parse_int(tok, 0, INT32_MAX, &v)) {
            cli_error(cmd, "--%s: '%s' is not a token id", option, tok);
            free(*ids);
            *ids = NULL;
            return false;
        }
        if (*n == cap) *ids = dlm_xrealloc(*ids, (size_t)(cap = cap ? 2 * cap : 64) * sizeof **ids);
        (*ids)[(*n)++] = (int32_t)v;
    }
    if (*n == 0) {
        cli_error(cmd, "--%s: no token ids given", option);
        return false;
    }
    return true;
}

static bool engine_open(const char *cmd, const cli_opt *opts, bool need_tokenizer, const char *dir, const char *adapter,
                        int threads, int block_causal, cli_engine *e) {
    const char *tpath = cli_get(opts, "tokenizer");
    char *default_tok = dlm_path_join(dir, "tokenizer.json"), *slow_vocab = dlm_path_join(dir, "vocab.json"),
         *slow_merges = dlm_path_join(dir, "merges.txt");
    if (!tpath && access(default_tok, F_OK) == 0) tpath = default_tok; // present but not a file: say so
    bool slow = !tpath && dlm_file_exists(slow_vocab) && dlm_file_exists(slow_merges);
    free(slow_merges);
    if (slow) { // Qwen2's slow-tokenizer files (Dream's layout, some Qwen exports)
        e->tok = dlm_tokenizer_load_qwen2_slow(dir);
        e->tok_path = slow_vocab;
    } else {
        free(slow_vocab);
        if (tpath) {
            e->tok = dlm_tokenizer_load(tpath);
            e->tok_path = dlm_xstrdup(tpath);
        }
    }
    free(default_tok);
    if ((slow || tpath) && !e->tok) {
        cli_error(cmd, "%s", dlm_error_message());
        return false;
    }
    if (!e->tok && need_tokenizer) {
        cli_error(cmd, "%s: no tokenizer.json, nor vocab.json + merges.txt (give --tokenizer FILE, or --prompt-ids)", dir);
        return false;
    }
    e->model = dlm_model_load(dir, adapter);
    if (!e->model) {
        cli_error(cmd, "%s", dlm_error_message());
        cli_engine_close(e);
        return false;
    }
    resolve_special_ids(e->model, e->tok);
    e->chat = choose_chat(dir, e->model->cfg.arch);
    e->block_causal = cli_has(opts, "block-causal") ? block_causal : e->model->cfg.block_causal;
    e->be = dlm_backend_new(e->model, cli_has(opts, "device") ? cli_get(opts, "device") : "auto", (int)threads);
    if (!e->be) {
        cli_error(cmd, "%s", dlm_error_message());
        cli_engine_close(e);
        return false;
    }
    return true;
}

bool cli_engine_open(const char *cmd, const cli_opt *opts, bool need_tokenizer, cli_engine *e) {
    memset(e, 0, sizeof *e);
    long long threads, block_causal;
    if (!cli_get_int(cmd, opts, "threads", 1, 1024, 0, &threads) ||
        !cli_get_int(cmd, opts, "block-causal", 1, 1 << 20, 0, &block_causal))
        return false;
    if (!cli_has(opts, "model")) {
        cli_error(cmd, "--model DIR is required");
        return false;
    }
    char *dir = cli_model_folder(cmd, "model", cli_get(opts, "model")), *adapter = NULL;
    if (!dir || (cli_has(opts, "adapter") && !(adapter = cli_model_folder(cmd, "adapter", cli_get(opts, "adapter"))))) {
        free(dir);
        return false;
    }
    bool ok = engine_open(cmd, opts, need_tokenizer, dir, adapter, (int)threads, (int)block_causal, e);
    free(dir);
    free(adapter);
    return ok;
}

void cli_engine_close(cli_engine *e) {
    dlm_backend_free(e->be);
    dlm_model_free(e->model);
    dlm_tokenizer_free(e->tok);
    free(e->tok_path);
    memset(e, 0, sizeof *e);
}

bool cli_begin(const char *cmd, const char *usage, cli_opt *opts, int argc, char **argv, cli_positional *pos,
               int *exit_status) {
    int rc = cli_parse(cmd, usage, opts, argc, argv, pos);
    if (rc == 0 && cli_has(opts, "help-rules")) {
        cli_print_rules();
        rc = 1;
    }
    if (rc == 0) return true;
    cli_free(opts, pos);
    *exit_status = rc < 0 ? 2 : 0;
    return false;
}

void cli_print_rules(void) {
    printf("rules (--rule NAME[:key=value,...]):\n");
    for (int k = 0; k < DLM_RULE_COUNT; k++) {
        dlm_rule_config rc;
        dlm_rule_defaults(k, &rc);
        dlm_rule_finalize(&rc);
        char spec[512];
        dlm_rule_format(&rc, spec, sizeof spec);
        printf("\n  %-10s %s\n             default: %s\n", dlm_rule_name(k), dlm_rule_help(k), spec);
    }
    printf("\nparameters:\n");
    for (int p = 0; p < DLM_PARAM_COUNT; p++) {
        char rules[128] = "";
        for (int k = 0; k < DLM_RULE_COUNT; k++)
            if (dlm_param_applies(p, k)) snprintf(rules + strlen(rules), sizeof rules - strlen(rules), "%s%s", rules[0] ? "," : "", dlm_rule_name(k));
        printf("  %-12s %s  [%s]\n", dlm_param_name(p), dlm_param_help(p), rules);
    }
}

// model_block > 0: the block-causal model's attention block, the rule's block unless --block says
// otherwise (set before finalizing, so the checks see the block that will run).
static bool rule_from_spec(const char *cmd, const cli_opt *opts, const char *default_spec, int model_block,
                           dlm_rule_config *rc) {
    const char *spec = cli_has(opts, "rule") ? cli_get(opts, "rule") : default_spec;
    if (dlm_rule_parse(spec, rc) != DLM_STATUS_OK) {
        cli_error(cmd, "--rule: %s", dlm_error_message());
        return false;
    }
    static const char *const flags[] = {"gen", "block", "steps", "seed", "temperature"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (!cli_has(opts, flags[i])) continue;
        if (strcmp(flags[i], "steps") == 0 && !dlm_param_applies(DLM_PARAM_steps, rc->kind)) {
            cli_error(cmd, "--steps: rule %s has no fixed step count (it runs until each block converges)",
                      dlm_rule_name(rc->kind));
            return false;
        }
        if (dlm_rule_set(rc, flags[i], cli_get(opts, flags[i])) != DLM_STATUS_OK) {
            cli_error(cmd, "--%s: %s", flags[i], dlm_error_message());
            return false;
        }
    }
    char b[16];
    snprintf(b, sizeof b, "%d", model_block);
    if (model_block > 0 && !cli_has(opts, "block") && dlm_rule_set(rc, "block", b) != DLM_STATUS_OK) {
        cli_error(cmd, "the model attends in blocks of %d: %s", model_block, dlm_error_message());
        return false;
    }
    if (dlm_rule_finalize(rc) != DLM_STATUS_OK) {
        cli_error(cmd, "%s", dlm_error_message());
        return false;
    }
    return true;
}

bool cli_rule_from_opts(const char *cmd, const cli_opt *opts, dlm_rule_config *rc) {
    return rule_from_spec(cmd, opts, "llada", 0, rc);
}

bool cli_rule_fit_model(const char *cmd, const cli_opt *opts, const cli_engine *e, dlm_rule_config *rc) {
    const char *family_rule = e->model->cfg.arch->default_rule;
    if (!cli_has(opts, "rule") && !rule_from_spec(cmd, opts, family_rule ? family_rule : "llada", e->block_causal, rc))
        return false;
    if (e->block_causal > 0 && !cli_has(opts, "block") && rc->block != e->block_causal) {
        char b[16];
        snprintf(b, sizeof b, "%d", e->block_causal);
        if (dlm_rule_set(rc, "block", b) != DLM_STATUS_OK || dlm_rule_finalize(rc) != DLM_STATUS_OK) {
            cli_error(cmd, "the model attends in blocks of %d: %s", e->block_causal, dlm_error_message());
            return false;
        }
    }
    return true;
}

bool cli_prompt_text(const char *cmd, const cli_opt *opts, const cli_engine *e, dlm_buf *out) {
    const char *text = cli_get(opts, "prompt");
    if (cli_has(opts, "raw") || cli_has(opts, "no-chat") || !e->tok) {
        dlm_buf_append(out, text, strlen(text));
        return true;
    }
    if (dlm_chat_render(e->chat, e->tok, text, out) != DLM_STATUS_OK) {
        cli_error(cmd, "%s (--no-chat sends the prompt as is)", dlm_error_message());
        return false;
    }
    return true;
}

bool cli_prompt_from_opts(const char *cmd, const cli_opt *opts, const cli_engine *e, int32_t **ids, int *n) {
    const dlm_tokenizer *tok = e->tok;
    const int n_vocab = e->model->cfg.n_vocab;
    *ids = NULL;
    *n = 0;
    if (cli_has(opts, "prompt") == cli_has(opts, "prompt-ids")) {
        cli_error(cmd, "give exactly one of --prompt TEXT and --prompt-ids IDS");
        return false;
    }
    if (cli_has(opts, "prompt-ids")) {
        if (!cli_parse_ids(cmd, "prompt-ids", cli_get(opts, "prompt-ids"), ids, n)) return false;
        for (int i = 0; i < *n; i++)
            if ((*ids)[i] >= n_vocab) {
                cli_error(cmd, "--prompt-ids: id %d is outside the vocabulary [0, %d)", (*ids)[i], n_vocab);
                free(*ids);
                *ids = NULL;
                return false;
            }
        return true;
    }
    const char *text = cli_get(opts, "prompt");
    if (!tok) {
        cli_error(cmd, "--prompt needs a tokenizer (tokenizer.json in the model folder, or --tokenizer)");
        return false;
    }
    size_t len = strlen(text), a = 0;
    while (a < len && (text[a] == ' ' || text[a] == '\n' || text[a] == '\t' || text[a] == '\r')) a++;
    if (a == len) {
        cli_error(cmd, "--prompt: the prompt is empty");
        return false;
    }
    dlm_buf b = {0};
    if (!cli_prompt_text(cmd, opts, e, &b)) {
        dlm_buf_free(&b);
        return false;
    }
    dlm_status st = dlm_tokenizer_encode(tok, b.data, b.len, ids, n);
    dlm_buf_free(&b);
    if (st != DLM_STATUS_OK) {
        cli_error(cmd, "--prompt: %s", dlm_error_message());
        return false;
    }
    return true;
}

void cli_interventions_text(const dlm_step *st, cli_token_text_fn text, const void *ctx, char *buf, size_t n) {
    buf[0] = 0;
    for (int k = 0; k < st->n_interventions; k++) {
        const dlm_intervention *iv = &st->interventions[k];
        char one[160], tok[96];
        if (iv->kind == DLM_IV_FORCE) { // the token as text: "force 23'cat'"
            text(ctx, iv->token, tok, sizeof tok);
            snprintf(one, sizeof one, "%s %d'%s'", dlm_intervention_name(iv->kind), iv->pos, tok);
        } else {
            dlm_intervention_format(iv, one, sizeof one);
        }
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", k ? ", " : "", one);
    }
}
