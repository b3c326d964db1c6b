// common.c — shared option handling: model + backend + tokenizer, rule, prompt.
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/util.h"

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
                        int threads, cli_engine *e) {
    const char *tpath = cli_get(opts, "tokenizer");
    char *default_tok = dlm_path_join(dir, "tokenizer.json");
    if (!tpath && access(default_tok, F_OK) == 0) tpath = default_tok; // present but not a file: say so
    if (tpath) {
        e->tok = dlm_tokenizer_load(tpath);
        e->tok_path = dlm_xstrdup(tpath);
        if (!e->tok) {
            cli_error(cmd, "%s", dlm_error_message());
            free(default_tok);
            return false;
        }
    } else if (need_tokenizer) {
        cli_error(cmd, "%s: no tokenizer.json (give --tokenizer FILE, or --prompt-ids)", dir);
        free(default_tok);
        return false;
    }
    free(default_tok);
    e->model = dlm_model_load(dir, adapter);
    if (!e->model) {
        cli_error(cmd, "%s", dlm_error_message());
        cli_engine_close(e);
        return false;
    }
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
    bool ok = engine_open(cmd, opts, need_tokenizer, dir, adapter, (int)threads, e);
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

bool cli_rule_from_opts(const char *cmd, const cli_opt *opts, dlm_rule_config *rc) {
    const char *spec = cli_has(opts, "rule") ? cli_get(opts, "rule") : "llada";
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
    if (dlm_rule_finalize(rc) != DLM_STATUS_OK) {
        cli_error(cmd, "%s", dlm_error_message());
        return false;
    }
    return true;
}

bool cli_prompt_from_opts(const char *cmd, const cli_opt *opts, const dlm_tokenizer *tok, int n_vocab, int32_t **ids,
                          int *n) {
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
    if (!cli_has(opts, "raw")) {
        if (dlm_tokenizer_chat_prompt(tok, text, &b) != DLM_STATUS_OK) {
            cli_error(cmd, "%s", dlm_error_message());
            return false;
        }
    } else {
        dlm_buf_append(&b, text, len);
    }
    dlm_status st = dlm_tokenizer_encode(tok, b.data, b.len, ids, n);
    dlm_buf_free(&b);
    if (st != DLM_STATUS_OK) {
        cli_error(cmd, "--prompt: %s", dlm_error_message());
        return false;
    }
    return true;
}
