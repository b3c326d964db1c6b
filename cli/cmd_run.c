// cmd_run.c — `dlmscope run`: headless generation with any rule.
//
// Prints the answer on stdout and a one-line summary on stderr. --trace-text adds one line per
// step (the positions that changed and how) for people and golden tests; --trace-ids prints, per
// step, the generation region's token ids instead of the answer (the reference-parity format).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "engine/util.h"

static void token_text(const cli_engine *e, int32_t id, char *buf, size_t n) {
    if (e->tok) dlm_tokenizer_token_display(e->tok, id, buf, n);
    else snprintf(buf, n, "#%d", id);
}

static void print_trace_text(const cli_engine *e, const dlm_step *st, int mask_id) {
    printf("step %3d  block %d  +%d ~%d -%d", st->step, st->block, st->n_commits, st->n_edits, st->n_remasks);
    if (st->n_stuck) printf("  stuck %d", st->n_stuck);
    printf("  %6.1f ms |", st->forward_ms);
    char a[96], b[96];
    for (int i = 0; i < st->n_tokens; i++) {
        const dlm_pos_info *p = &st->pos[i];
        if (p->events & DLM_EVENT_REMASK) {
            token_text(e, p->prev_token, a, sizeof a);
            printf(" -%d'%s'", i, a);
        } else if (p->events & DLM_EVENT_EDIT) {
            token_text(e, p->prev_token, a, sizeof a);
            token_text(e, p->token, b, sizeof b);
            printf(" ~%d'%s'>'%s'", i, a, b);
        } else if (p->events & DLM_EVENT_COMMIT) {
            token_text(e, p->token, a, sizeof a);
            printf(" +%d'%s'", i, a);
        }
    }
    (void)mask_id;
    putchar('\n');
}

static void print_trace_ids(const dlm_session *s, const dlm_step *st) {
    const int32_t *t = dlm_session_tokens(s);
    const dlm_rule_config *r = dlm_session_rule(s);
    int P = dlm_session_prompt_len(s);
    if (st) printf("step %d block %d :", st->step, st->block);
    else printf("final :");
    for (int i = P; i < P + r->gen; i++) printf(" %d", t[i]);
    putchar('\n');
}

int cmd_run(int argc, char **argv) {
    cli_opt opts[] = {CLI_MODEL_OPTS,
                      CLI_PROMPT_OPTS,
                      CLI_RULE_OPTS,
                      {"trace-text", NULL, "print one line per step: commits (+), edits (~), remasks (-)"},
                      {"trace-ids", NULL, "print the generation region's ids after every step (golden format)"},
                      {"rows", "WHICH", "distributions for 'all' generation positions (default) or 'needed' rows"},
                      {0}};
    cli_positional pos;
    int rc = cli_parse("run", "--model DIR (--prompt TEXT | --prompt-ids IDS) [--rule SPEC] [options]", opts, argc, argv,
                       &pos);
    if (rc) {
        cli_free(opts, &pos);
        return rc < 0 ? 2 : 0;
    }
    if (cli_has(opts, "help-rules")) {
        cli_print_rules();
        cli_free(opts, &pos);
        return 0;
    }
    int status = 2;
    cli_engine e = {0};
    dlm_session *s = NULL;
    dlm_step *st = NULL;
    int32_t *prompt = NULL, *out_ids = NULL;
    int n_prompt = 0;
    dlm_rule_config rule;
    dlm_session_opts so = {0};
    if (pos.n) {
        cli_error("run", "unexpected argument '%s' (the prompt goes in --prompt)", pos.items[0]);
        goto done;
    }
    if (!cli_rule_from_opts("run", opts, &rule)) goto done;
    if (cli_has(opts, "rows")) {
        const char *w = cli_get(opts, "rows");
        if (strcmp(w, "all") && strcmp(w, "needed")) {
            cli_error("run", "--rows: '%s' is not 'all' or 'needed'", w);
            goto done;
        }
        so.rows = strcmp(w, "needed") == 0 ? DLM_ROWS_NEEDED : DLM_ROWS_GENERATION;
    }
    if (!cli_has(opts, "prompt") && !cli_has(opts, "prompt-ids")) {
        cli_error("run", "--prompt TEXT or --prompt-ids IDS is required");
        goto done;
    }
    if (cli_has(opts, "prompt") && cli_has(opts, "prompt-ids")) {
        cli_error("run", "give exactly one of --prompt TEXT and --prompt-ids IDS");
        goto done;
    }
    if (!cli_engine_open("run", opts, cli_has(opts, "prompt"), &e)) goto done;
    if (!cli_prompt_from_opts("run", opts, e.tok, e.model->cfg.n_vocab, &prompt, &n_prompt)) goto done;
    long long bc;
    cli_get_int("run", opts, "block-causal", 1, 1 << 20, 0, &bc);
    so.block_causal = (int)bc;
    s = dlm_session_new(e.model, e.be, prompt, n_prompt, &rule, &so);
    if (!s) {
        cli_error("run", "%s", dlm_error_message());
        goto done;
    }
    st = dlm_step_new(dlm_session_n_tokens(s));
    bool trace_text = cli_has(opts, "trace-text"), trace_ids = cli_has(opts, "trace-ids");
    long commits = 0, edits = 0, remasks = 0;
    double t0 = dlm_now(), fwd_ms = 0;
    while (!dlm_session_done(s)) {
        if (dlm_session_step(s, st) != DLM_STATUS_OK) {
            cli_error("run", "step %d: %s", dlm_session_steps_done(s), dlm_error_message());
            goto done;
        }
        commits += st->n_commits, edits += st->n_edits, remasks += st->n_remasks;
        fwd_ms += st->forward_ms;
        if (trace_text) print_trace_text(&e, st, e.model->cfg.mask_id);
        if (trace_ids) print_trace_ids(s, st);
    }
    double secs = dlm_now() - t0;
    int n_out;
    out_ids = dlm_session_output(s, &n_out);
    if (trace_ids) {
        print_trace_ids(s, NULL);
    } else if (e.tok) {
        dlm_buf text = {0};
        dlm_tokenizer_decode(e.tok, out_ids, n_out, true, &text);
        printf("%s\n", text.data ? text.data : "");
        dlm_buf_free(&text);
    } else {
        for (int i = 0; i < n_out; i++) printf(i ? " %d" : "%d", out_ids[i]);
        putchar('\n');
    }
    fflush(stdout);
    char spec[512];
    dlm_rule_format(dlm_session_rule(s), spec, sizeof spec);
    int steps = dlm_session_steps_done(s);
    fprintf(stderr, "dlmscope run: %d steps, %d forwards, %ld commits, %ld edits, %ld remasks, %.2f s (%.1f ms/forward), %s, %s\n",
            steps, steps, commits, edits, remasks, secs, steps ? fwd_ms / steps : 0.0, e.be->device, spec);
    status = 0;
done:
    free(prompt);
    free(out_ids);
    dlm_step_free(st);
    dlm_session_free(s);
    cli_engine_close(&e);
    cli_free(opts, &pos);
    return status;
}
