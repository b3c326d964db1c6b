// cmd_run.c — `dlmscope run`: headless generation with any rule, optionally recorded or resumed.
//
// Prints the answer on stdout and a one-line summary on stderr. --trace-text adds one line per
// step (the positions that changed and how) for people and golden tests; --trace-ids prints, per
// step, the generation region's token ids instead of the answer (the reference-parity format).
// --record FILE writes a trace; --resume TRACE@N restores the session after step N of a trace and
// continues it (with --rule: a fork under another rule). --force, --remask, --pin and --unpin
// intervene before the first step this run makes (a scripted "what if"), recorded in its trace.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "engine/util.h"
#include "record/recorder.h"
#include "replay/trace_reader.h"

static void token_text(const cli_engine *e, int32_t id, char *buf, size_t n) {
    if (e->tok) dlm_tokenizer_token_display(e->tok, id, buf, n);
    else snprintf(buf, n, "#%d", id);
}

static void print_trace_text(const cli_engine *e, const dlm_step *st) {
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
    putchar('\n');
}

static void engine_token_text(const void *ctx, int32_t id, char *buf, size_t n) { token_text(ctx, id, buf, n); }

static void print_interventions(const cli_engine *e, const dlm_step *st) {
    if (!st->n_interventions) return;
    char buf[1024];
    cli_interventions_text(st, engine_token_text, e, buf, sizeof buf);
    printf("  %s: %s\n", st->interventions[0].who, buf);
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

// "POS" or "POS-END" (inclusive) into [*pos, *end).
static bool parse_range(const char *opt, const char *text, int32_t *pos, int32_t *end) {
    char buf[64];
    long long a, b;
    snprintf(buf, sizeof buf, "%s", text);
    char *dash = strchr(buf, '-');
    if (dash) *dash = 0;
    if (strlen(text) >= sizeof buf || !dlm_parse_int(buf, 0, INT32_MAX - 1, &a) ||
        !dlm_parse_int(dash ? dash + 1 : buf, 0, INT32_MAX - 1, &b) || b < a) {
        cli_error("run", "--%s: expected a canvas position POS or a range POS-END, got '%s'", opt, text);
        return false;
    }
    *pos = (int32_t)a, *end = (int32_t)b + 1;
    return true;
}

// The token of --force POS=TOKEN: #ID, or the text of one vocabulary token.
static bool parse_forced_token(const cli_engine *e, const char *text, int32_t *id) {
    long long v;
    if (text[0] == '#' && dlm_parse_int(text + 1, 0, INT32_MAX, &v)) {
        *id = (int32_t)v;
        return true;
    }
    *id = e->tok ? dlm_tokenizer_lookup(e->tok, text) : -1;
    if (*id >= 0) return true;
    if (!e->tok) cli_error("run", "--force: '%s': without a tokenizer give the token as #ID", text);
    else cli_error("run", "--force: '%s' is not the text of one token of the vocabulary (give #ID for any id)", text);
    return false;
}

// --unpin, --remask, --force, --pin, in that order (each option's values in the order given).
static bool apply_interventions(const cli_opt *opts, const cli_engine *e, dlm_session *s) {
    static const struct {
        const char *opt;
        dlm_intervention_kind kind;
    } order[] = {{"unpin", DLM_IV_UNPIN}, {"remask", DLM_IV_REMASK}, {"force", DLM_IV_FORCE}, {"pin", DLM_IV_PIN}};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        const cli_opt *o = NULL;
        for (const cli_opt *p = opts; p->name; p++)
            if (strcmp(p->name, order[k].opt) == 0) o = p;
        for (int j = 0; o && j < o->count; j++) {
            dlm_intervention iv = {.kind = (uint8_t)order[k].kind, .token = -1};
            snprintf(iv.who, sizeof iv.who, "user");
            const char *v = o->values[j];
            if (order[k].kind == DLM_IV_FORCE) {
                const char *eq = strchr(v, '=');
                char num[32];
                long long p;
                if (!eq || eq - v >= (long)sizeof num || (snprintf(num, sizeof num, "%.*s", (int)(eq - v), v), !dlm_parse_int(num, 0, INT32_MAX - 1, &p))) {
                    cli_error("run", "--force: expected POS=TOKEN (TOKEN: its text or #ID), got '%s'", v);
                    return false;
                }
                iv.pos = (int32_t)p, iv.end = (int32_t)p + 1;
                if (!parse_forced_token(e, eq + 1, &iv.token)) return false;
            } else if (!parse_range(order[k].opt, v, &iv.pos, &iv.end)) {
                return false;
            }
            if (dlm_session_intervene(s, &iv) != DLM_STATUS_OK) {
                cli_error("run", "--%s %s: %s", order[k].opt, v, dlm_error_message());
                return false;
            }
        }
    }
    return true;
}

// Restore from TRACE@N. On success *s is the session and *parent the open trace (caller closes).
static bool resume_session(const cli_opt *opts, cli_engine *e, const dlm_session_opts *so, dlm_session **s,
                           dlm_trace **parent, int *fork_step) {
    const char *arg = cli_get(opts, "resume");
    const char *at = strrchr(arg, '@');
    long long n;
    if (!at || !dlm_parse_int(at + 1, 0, INT32_MAX, &n)) {
        cli_error("run", "--resume: expected TRACE@STEP, got '%s'", arg);
        return false;
    }
    char *path = dlm_xstrdup(arg);
    path[at - arg] = 0;
    dlm_trace *t = NULL;
    dlm_session_state state = {0};
    bool ok = false;
    if (dlm_trace_open(path, &t) != DLM_STATUS_OK) {
        cli_error("run", "--resume: %s", dlm_error_message());
        goto out;
    }
    const dlm_trace_header *h = dlm_trace_header_of(t);
    if (n >= dlm_trace_n_steps(t)) {
        cli_error("run", "--resume: %s has %d steps (0..%d), no step %lld", path, dlm_trace_n_steps(t),
                  dlm_trace_n_steps(t) - 1, n);
        goto out;
    }
    if (h->model_identity != e->model->identity) {
        cli_error("run", "--resume: %s was recorded with model '%s' (identity %016llx); %s has identity %016llx", path,
                  h->model_name, (unsigned long long)h->model_identity, e->model->dir,
                  (unsigned long long)e->model->identity);
        goto out;
    }
    dlm_step *st = dlm_step_new(h->n_tokens);
    dlm_status rs = dlm_trace_read_step(t, (int)n, st, &state);
    dlm_step_free(st);
    if (rs != DLM_STATUS_OK) {
        cli_error("run", "--resume: %s", dlm_error_message());
        goto out;
    }
    dlm_rule_config rule, *fork = NULL;
    if (cli_has(opts, "rule")) { // a fork: the canvas (gen, block) comes from the trace
        if (!cli_rule_from_opts("run", opts, &rule)) goto out;
        if (!cli_has(opts, "gen")) rule.gen = state.rule.gen;
        if (!cli_has(opts, "block")) rule.block = state.rule.block;
        rule.set &= ~(1ull << DLM_PARAM_steps);
        if (dlm_rule_finalize(&rule) != DLM_STATUS_OK) {
            cli_error("run", "%s", dlm_error_message());
            goto out;
        }
        fork = &rule;
    }
    *s = dlm_session_restore(e->model, e->be, &state, fork, so);
    if (!*s) {
        cli_error("run", "--resume: %s", dlm_error_message());
        goto out;
    }
    *fork_step = (int)n;
    ok = true;
out:
    dlm_session_state_free(&state);
    if (ok) *parent = t;
    else dlm_trace_close(t);
    free(path);
    return ok;
}

int cmd_run(int argc, char **argv) {
    cli_opt opts[] = {CLI_MODEL_OPTS,
                      CLI_PROMPT_OPTS,
                      CLI_RULE_OPTS,
                      {"record", "FILE", "write a trace of every step (msgpack; open it with dlmscope view)"},
                      {"resume", "TRACE@N", "continue the session recorded in TRACE after step N (with --rule: fork)"},
                      {"trace-text", NULL, "print one line per step: commits (+), edits (~), remasks (-)"},
                      {"trace-ids", NULL, "print the generation region's ids after every step (golden format)"},
                      {"rows", "WHICH", "distributions for 'all' generation positions (default) or 'needed' rows"},
                      {"force", "POS=TOKEN", "before the first step: put TOKEN (its text, or #ID) at canvas position POS (repeatable)"},
                      {"remask", "POS[-END]", "before the first step: reset positions of the current block to the mask (repeatable)"},
                      {"pin", "POS[-END]", "before the first step: no rule may edit or remask these positions (repeatable)"},
                      {"unpin", "POS[-END]", "before the first step: undo pins (of a resumed trace)"},
                      {0}};
    cli_positional pos;
    int exit_status;
    if (!cli_begin("run", "--model DIR (--prompt TEXT | --prompt-ids IDS | --resume TRACE@N) [--rule SPEC] [options]",
                       opts, argc, argv, &pos, &exit_status))
        return exit_status;
    int status = 2;
    cli_engine e = {0};
    dlm_session *s = NULL;
    dlm_step *st = NULL;
    dlm_trace *parent = NULL;
    dlm_recorder *rec = NULL;
    int32_t *prompt = NULL, *out_ids = NULL;
    int n_prompt = 0, fork_step = -1;
    dlm_rule_config rule;
    dlm_session_opts so = {0};
    bool resume = cli_has(opts, "resume");
    int n_prompts = cli_has(opts, "prompt") + cli_has(opts, "prompt-ids") + resume;
    if (pos.n) {
        cli_error("run", "unexpected argument '%s' (the prompt goes in --prompt)", pos.items[0]);
        goto done;
    }
    if (n_prompts != 1) {
        cli_error("run", n_prompts ? "give exactly one of --prompt TEXT, --prompt-ids IDS and --resume TRACE@N"
                                   : "--prompt TEXT or --prompt-ids IDS is required");
        goto done;
    }
    // An explicit --rule is checked before the model loads; without one, the model family's
    // decoding defaults apply (cli_rule_fit_model below).
    if (!resume && cli_has(opts, "rule") && !cli_rule_from_opts("run", opts, &rule)) goto done;
    if (cli_has(opts, "rows")) {
        const char *wh = cli_get(opts, "rows");
        if (strcmp(wh, "all") && strcmp(wh, "needed")) {
            cli_error("run", "--rows: '%s' is not 'all' or 'needed'", wh);
            goto done;
        }
        so.rows = strcmp(wh, "needed") == 0 ? DLM_ROWS_NEEDED : DLM_ROWS_GENERATION;
    }
    if (!cli_engine_open("run", opts, cli_has(opts, "prompt"), &e)) goto done;
    if (!resume && !cli_rule_fit_model("run", opts, &e, &rule)) goto done;
    so.block_causal = e.block_causal;
    if (resume) {
        if (!resume_session(opts, &e, &so, &s, &parent, &fork_step)) goto done;
    } else {
        if (!cli_prompt_from_opts("run", opts, &e, &prompt, &n_prompt)) goto done;
        s = dlm_session_new(e.model, e.be, prompt, n_prompt, &rule, &so);
        if (!s) {
            cli_error("run", "%s", dlm_error_message());
            goto done;
        }
    }
    if (!apply_interventions(opts, &e, s)) goto done;
    if (cli_has(opts, "record")) {
        const char *ptext = NULL;
        dlm_buf chat = {0};
        if (parent) ptext = dlm_trace_header_of(parent)->prompt_text;
        else if (cli_has(opts, "prompt") && cli_prompt_text("run", opts, &e, &chat))
            ptext = chat.data;
        else if (cli_has(opts, "prompt")) ptext = cli_get(opts, "prompt");
        dlm_record_parent p; // a fork's trace starts with the parent's steps
        if (parent) dlm_trace_as_parent(parent, fork_step, &p);
        dlm_record_opts o = {.prompt_text = ptext, .tok_path = e.tok_path, .device = e.be->device, .tok = e.tok,
                             .parent = parent ? &p : NULL};
        dlm_status rs = dlm_recorder_open(cli_get(opts, "record"), e.model, s, &o, &rec);
        dlm_buf_free(&chat);
        if (rs != DLM_STATUS_OK) {
            cli_error("run", "--record: %s", dlm_error_message());
            goto done;
        }
    }
    st = dlm_step_new(dlm_session_n_tokens(s));
    bool trace_text = cli_has(opts, "trace-text"), trace_ids = cli_has(opts, "trace-ids");
    long commits = 0, edits = 0, remasks = 0;
    int steps = 0;
    double t0 = dlm_now(), fwd_ms = 0;
    while (!dlm_session_done(s)) {
        if (dlm_session_step(s, st) != DLM_STATUS_OK) {
            cli_error("run", "step %d: %s", dlm_session_steps_done(s), dlm_error_message());
            goto done;
        }
        steps++;
        commits += st->n_commits, edits += st->n_edits, remasks += st->n_remasks;
        fwd_ms += st->forward_ms;
        if (rec && dlm_recorder_step(rec, s, st) != DLM_STATUS_OK) {
            cli_error("run", "--record: %s", dlm_error_message());
            goto done;
        }
        if (trace_text) {
            print_interventions(&e, st);
            print_trace_text(&e, st);
        }
        if (trace_ids) print_trace_ids(s, st);
    }
    double secs = dlm_now() - t0;
    if (rec) {
        dlm_status cs = dlm_recorder_close(rec);
        rec = NULL;
        if (cs != DLM_STATUS_OK) {
            cli_error("run", "--record: %s", dlm_error_message());
            goto done;
        }
    }
    int n_out;
    out_ids = dlm_session_output(s, &n_out);
    if (trace_ids) {
        print_trace_ids(s, NULL);
    } else if (e.tok) {
        dlm_buf text = {0};
        int32_t unknown = -1;
        int left_out = dlm_tokenizer_decode_known(e.tok, out_ids, n_out, true, &text, &unknown);
        if (left_out) // said, never silent: the text lacks them
            fprintf(stderr, "dlmscope run: warning: the answer holds %d id%s the tokenizer cannot decode (first: %d, of a "
                            "vocabulary of %d); left out of the text, as Hugging Face's decode does (--trace-ids shows them)\n",
                    left_out, left_out == 1 ? "" : "s", unknown, dlm_tokenizer_n_vocab(e.tok));
        printf("%s\n", text.data ? text.data : "");
        dlm_buf_free(&text);
    } else {
        for (int i = 0; i < n_out; i++) printf(i ? " %d" : "%d", out_ids[i]);
        putchar('\n');
    }
    fflush(stdout);
    char spec[512];
    dlm_rule_format(dlm_session_rule(s), spec, sizeof spec);
    fprintf(stderr, "dlmscope run: %d steps, %d forwards, %ld commits, %ld edits, %ld remasks, %.2f s (%.1f ms/forward), %s, %s\n",
            steps, steps, commits, edits, remasks, secs, steps ? fwd_ms / steps : 0.0, e.be->device, spec);
    status = 0;
done:
    dlm_recorder_abort(rec);
    dlm_trace_close(parent);
    free(prompt);
    free(out_ids);
    dlm_step_free(st);
    dlm_session_free(s);
    cli_engine_close(&e);
    cli_free(opts, &pos);
    return status;
}
