// cmd_eval.c — `dlmscope eval`: every listed rule over every task item, judged and compared.
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "common.h"
#include "engine/util.h"
#include "eval/eval.h"

static void bad_line(const char *file, int line, const char *reason) {
    fprintf(stderr, "dlmscope eval: %s:%d: %s (skipped)\n", file, line, reason);
}

static void note_line(const char *file, int line, const char *msg) { fprintf(stderr, "dlmscope eval: %s:%d: %s\n", file, line, msg); }

// A JSON string from any bytes (a path, a cut answer): invalid UTF-8 becomes U+FFFD, so no result
// is ever dropped from --out for its encoding.
static json_t *jtext(const char *s) {
    dlm_buf b = {0};
    dlm_utf8_append_lossy(&b, s ? s : "", s ? strlen(s) : 0);
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    dlm_buf_free(&b);
    return j;
}

static void progress(int done, int total, double elapsed, void *ctx) {
    bool tty = *(bool *)ctx;
    static int last_decile = -1;
    // No estimate before the first item is done: "ETA 0 s" there would be a guess shown as a fact.
    char eta[48];
    if (done) snprintf(eta, sizeof eta, "ETA %.0f s", elapsed / done * (total - done));
    else snprintf(eta, sizeof eta, "ETA after the first item");
    if (tty) {
        int w = 30, fill = total ? done * w / total : w;
        fprintf(stderr, "\r[%.*s%*s] %d/%d  %.0f s elapsed, %s ", fill, "##############################", w - fill, "",
                done, total, elapsed, eta);
        if (done == total) fputc('\n', stderr);
    } else if (total && done * 10 / total != last_decile) { // logs: one line per 10%
        last_decile = done * 10 / total;
        fprintf(stderr, "dlmscope eval: %d/%d items done, %.0f s elapsed, %s\n", done, total, elapsed, eta);
    }
}

// One item a rule got right and another wrong; with --record-dir, the command that shows why.
static void print_example(const dlm_eval_item *it, const char *right, const char *wrong, const char *record_dir) {
    printf("      e.g. %s (%s right, %s wrong)", it->id, right, wrong);
    if (record_dir)
        printf("  dlmscope view %s/%s/%s.dlmtrace --compare %s/%s/%s.dlmtrace", record_dir, wrong, it->name, record_dir, right,
               it->name);
    printf("\n");
}

int cmd_eval(int argc, char **argv) {
    cli_opt opts[] = {CLI_MODEL_OPTS,
                      {"tasks", "FILE", "JSONL items {prompt, answer, id?, task?} (repeat for several files)"},
                      {"rule", "SPEC", "a decoding rule to evaluate (repeat to compare; default llada)"},
                      {"gen", "N", "generation length for every rule"},
                      {"block", "B", "block length for every rule"},
                      {"steps", "S", "steps for the rules that take them"},
                      {"temperature", "T", "temperature for every rule"},
                      {"seed", "N", "seed (per item it is mixed with the item id)"},
                      {"limit", "N", "first N items of each file"},
                      {"jobs", "N", "items run in parallel, each with its own backend (default 1)"},
                      {"checker", "NAME", "judge every item with this checker instead of its task field"},
                      {"raw", NULL, "do not wrap prompts in the chat template"},
                      {"record-dir", "DIR", "keep a trace per item and rule: DIR/RULE/ID.dlmtrace"},
                      {"out", "FILE", "write every result and the summary as JSON"},
                      {"quiet", NULL, "no progress on stderr"},
                      {0}};
    cli_positional pos;
    int exit_status;
    if (!cli_begin("eval", "--model DIR --tasks FILE.jsonl [--rule SPEC]... [options]", opts, argc, argv, &pos, &exit_status))
        return exit_status;
    int status = 2;
    cli_engine e = {0};
    dlm_eval_items items = {0};
    dlm_rule_config *rules = NULL;
    char **labels = NULL;
    dlm_eval_result *res = NULL;
    int n_rules = 0;
    long long limit, jobs, threads;
    int forced = -1;
    const cli_opt *tasks_opt = NULL, *rule_opt = NULL;
    for (const cli_opt *o = opts; o->name; o++) {
        if (!strcmp(o->name, "tasks")) tasks_opt = o;
        if (!strcmp(o->name, "rule")) rule_opt = o;
    }
    if (pos.n) {
        cli_error("eval", "unexpected argument '%s'", pos.items[0]);
        goto done;
    }
    if (!tasks_opt->count) {
        cli_error("eval", "--tasks FILE.jsonl is required");
        goto done;
    }
    if (!cli_get_int("eval", opts, "limit", 1, INT32_MAX, 0, &limit) || !cli_get_int("eval", opts, "jobs", 1, 256, 1, &jobs) ||
        !cli_get_int("eval", opts, "threads", 1, 1024, 0, &threads))
        goto done;
    if (cli_has(opts, "checker") && (forced = dlm_checker_find(cli_get(opts, "checker"))) < 0) {
        cli_error("eval", "--checker '%s': unknown (arith, countdown, digits, sort, gsm8k, svamp, math, cmath)", cli_get(opts, "checker"));
        goto done;
    }
    // Rules: parse them all before anything runs (a bad spec stops here).
    n_rules = rule_opt->count ? rule_opt->count : 1;
    rules = dlm_xcalloc((size_t)n_rules, sizeof *rules);
    labels = dlm_xcalloc((size_t)n_rules, sizeof *labels);
    for (int r = 0; r < n_rules; r++) {
        const char *spec = rule_opt->count ? rule_opt->values[r] : "llada";
        if (dlm_rule_parse(spec, &rules[r]) != DLM_STATUS_OK) {
            cli_error("eval", "--rule '%s': %s", spec, dlm_error_message());
            goto done;
        }
        static const char *const flags[] = {"gen", "block", "steps", "temperature", "seed"};
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            if (!cli_has(opts, flags[f])) continue;
            if (!strcmp(flags[f], "steps") && !dlm_param_applies(DLM_PARAM_steps, rules[r].kind)) continue;
            if (dlm_rule_set(&rules[r], flags[f], cli_get(opts, flags[f])) != DLM_STATUS_OK) {
                cli_error("eval", "--%s: %s", flags[f], dlm_error_message());
                goto done;
            }
        }
        if (dlm_rule_finalize(&rules[r]) != DLM_STATUS_OK) {
            cli_error("eval", "--rule '%s': %s", spec, dlm_error_message());
            goto done;
        }
        int same = 0;
        for (int q = 0; q < r; q++) same += rules[q].kind == rules[r].kind;
        char lab[64];
        snprintf(lab, sizeof lab, same ? "%s-%d" : "%s", dlm_rule_name(rules[r].kind), same + 1);
        labels[r] = dlm_xstrdup(lab);
    }
    for (int f = 0; f < tasks_opt->count; f++) {
        int before = items.n;
        if (dlm_eval_read_items(tasks_opt->values[f], forced, &items, bad_line) != DLM_STATUS_OK) {
            cli_error("eval", "--tasks: %s", dlm_error_message());
            goto done;
        }
        if (limit && items.n - before > limit) { // keep the first N of this file
            for (int i = before + (int)limit; i < items.n; i++) {
                free(items.v[i].id), free(items.v[i].name), free(items.v[i].task), free(items.v[i].prompt), free(items.v[i].answer), free(items.v[i].file);
            }
            items.n = before + (int)limit;
        }
    }
    dlm_eval_items_name(&items, note_line);
    if (items.n == 0) {
        cli_error("eval", "no usable items in %s%s", tasks_opt->values[0], tasks_opt->count > 1 ? " and the other files" : "");
        goto done;
    }
    if (!cli_engine_open("eval", opts, true, &e)) goto done;
    bool tty = isatty(STDERR_FILENO);
    dlm_eval_config cfg = {.model = e.model,
                           .device = cli_has(opts, "device") ? cli_get(opts, "device") : "auto",
                           .threads = (int)threads,
                           .jobs = (int)jobs,
                           .tok = e.tok,
                           .tok_path = e.tok_path,
                           .rules = rules,
                           .n_rules = n_rules,
                           .block_causal = e.block_causal,
                           .raw_prompt = cli_has(opts, "raw"),
                           .chat = e.chat,
                           .record_dir = cli_get(opts, "record-dir"),
                           .rule_labels = (const char *const *)labels,
                           .progress = cli_has(opts, "quiet") ? NULL : progress,
                           .ctx = &tty};
    dlm_backend_free(e.be); // each job makes its own
    e.be = NULL;
    int N = items.n;
    res = dlm_xcalloc((size_t)n_rules * N, sizeof *res);
    if (dlm_eval_run(&cfg, &items, res) != DLM_STATUS_OK) {
        cli_error("eval", "%s", dlm_error_message());
        goto done;
    }

    // ---- the table ----
    printf("%d items%s x %d rule%s on %s (%s%s)\n", N, items.n_bad ? "" : "", n_rules, n_rules == 1 ? "" : "s",
           e.model->dir, e.model->adapter_dir ? "adapter " : "", e.model->adapter_dir ? e.model->adapter_dir : "no adapter");
    if (items.n_bad) printf("%d input lines skipped (see the messages above)\n", items.n_bad);
    printf("\n%-12s %7s  %-15s %9s %8s %11s %13s %8s\n", "rule", "acc", "95% CI", "fwd/item", "tok/fwd", "edits/item",
           "remasks/item", "s/item");
    json_t *jrules = json_array();
    int failed_items = 0;
    for (int r = 0; r < n_rules; r++) {
        int k = 0, errors = 0, first_error = -1, undecodable = 0, first_undecodable = -1;
        double fwd = 0, com = 0, ed = 0, rm = 0, ms = 0;
        for (int i = 0; i < N; i++) {
            const dlm_eval_result *x = &res[r * N + i];
            k += x->correct, errors += x->error[0] != 0;
            if (x->error[0] && first_error < 0) first_error = i;
            undecodable += x->undecodable[0] != 0;
            if (x->undecodable[0] && first_undecodable < 0) first_undecodable = i;
            fwd += x->forwards, com += x->commits, ed += x->edits, rm += x->remasks, ms += x->ms;
        }
        double lo, hi;
        dlm_eval_wilson(k, N, &lo, &hi);
        printf("%-12s %6.1f%%  [%5.1f, %5.1f]  %9.1f %8.2f %11.2f %13.2f %8.2f\n", labels[r], 100.0 * k / N, 100 * lo,
               100 * hi, fwd / N, fwd ? com / fwd : 0, ed / N, rm / N, ms / N / 1000);
        if (errors) { // on stderr too: a failure to run is not a wrong answer
            printf("             %d items failed to run (first, %s: %s)\n", errors, items.v[first_error].id, res[r * N + first_error].error);
            fprintf(stderr, "dlmscope eval: %s: %d of %d items failed to run; first, %s: %s\n", labels[r], errors, N,
                    items.v[first_error].id, res[r * N + first_error].error);
            failed_items += errors;
        }
        if (undecodable) {
            printf("             %d answers hold ids the tokenizer cannot decode, scored wrong (first, %s: %s)\n", undecodable,
                   items.v[first_undecodable].id, res[r * N + first_undecodable].undecodable);
            fprintf(stderr, "dlmscope eval: %s: %d answers hold ids the tokenizer cannot decode, scored wrong; first, %s: %s\n",
                    labels[r], undecodable, items.v[first_undecodable].id, res[r * N + first_undecodable].undecodable);
        }
        char spec[512];
        dlm_rule_format(&rules[r], spec, sizeof spec);
        json_array_append_new(jrules, json_pack("{s:s, s:o, s:i, s:i, s:f, s:[f,f], s:f, s:f, s:f, s:f, s:f, s:i}", "label",
                                                labels[r], "rule", jtext(spec), "n", N, "correct", k, "accuracy", (double)k / N,
                                                "ci95", lo, hi, "forwards_per_item", fwd / N, "tokens_per_forward",
                                                fwd ? com / fwd : 0.0, "edits_per_item", ed / N, "remasks_per_item", rm / N,
                                                "seconds_per_item", ms / N / 1000, "errors", errors));
    }
    for (int r = 0; r < n_rules; r++) { // the full parameters behind each label
        char spec[512];
        dlm_rule_format(&rules[r], spec, sizeof spec);
        printf("  %-10s %s\n", labels[r], spec);
    }
    // per family
    printf("\nby family (accuracy, correct/n):\n%-12s", "family");
    for (int r = 0; r < n_rules; r++) printf(" %16s", labels[r]);
    putchar('\n');
    json_t *jfam = json_object();
    for (int i = 0; i < N; i++) {
        const char *fam = items.v[i].task[0] ? items.v[i].task : dlm_checker_name(items.v[i].checker);
        if (json_object_get(jfam, fam)) continue;
        json_t *row = json_object();
        printf("%-12s", fam);
        for (int r = 0; r < n_rules; r++) {
            int k = 0, n = 0;
            for (int j = 0; j < N; j++) {
                const char *f2 = items.v[j].task[0] ? items.v[j].task : dlm_checker_name(items.v[j].checker);
                if (strcmp(f2, fam)) continue;
                n++, k += res[r * N + j].correct;
            }
            char cell[40];
            snprintf(cell, sizeof cell, "%5.1f%% %d/%d", 100.0 * k / n, k, n);
            printf(" %16s", cell);
            json_object_set_new(row, labels[r], json_pack("{s:i, s:i}", "correct", k, "n", n));
        }
        putchar('\n');
        json_object_set_new(jfam, fam, row);
    }
    // paired comparisons
    json_t *jpair = json_array();
    if (n_rules > 1) printf("\npaired comparisons (exact McNemar test, two-sided):\n");
    for (int a = 0; a < n_rules; a++)
        for (int b = a + 1; b < n_rules; b++) {
            int only_a = 0, only_b = 0, ex_a = -1, ex_b = -1;
            for (int i = 0; i < N; i++) {
                bool ra = res[a * N + i].correct, rb = res[b * N + i].correct;
                if (ra && !rb) only_a++, ex_a = ex_a < 0 ? i : ex_a;
                if (rb && !ra) only_b++, ex_b = ex_b < 0 ? i : ex_b;
            }
            double p = dlm_eval_mcnemar(only_a, only_b);
            printf("  %s vs %s: %d items only %s got right, %d only %s, p = %.3g\n", labels[a], labels[b], only_a, labels[a],
                   only_b, labels[b], p);
            const char *rd = cli_get(opts, "record-dir");
            if (ex_a >= 0) print_example(&items.v[ex_a], labels[a], labels[b], rd);
            if (ex_b >= 0) print_example(&items.v[ex_b], labels[b], labels[a], rd);
            json_array_append_new(jpair, json_pack("{s:s, s:s, s:i, s:i, s:f}", "a", labels[a], "b", labels[b], "only_a", only_a,
                                                   "only_b", only_b, "p", p));
        }
    if (cli_has(opts, "out")) {
        json_t *jitems = json_array();
        for (int r = 0; r < n_rules; r++)
            for (int i = 0; i < N; i++) {
                const dlm_eval_result *x = &res[r * N + i];
                json_t *o = json_pack("{s:o, s:o, s:s, s:b, s:o, s:o, s:i, s:i, s:i, s:i, s:f}", "id", jtext(items.v[i].id),
                                      "task", jtext(items.v[i].task), "rule", labels[r], "correct", x->correct, "extracted",
                                      jtext(x->extracted), "response", jtext(x->response), "forwards", x->forwards, "commits",
                                      x->commits, "edits", x->edits, "remasks", x->remasks, "ms", x->ms);
                if (x->error[0]) json_object_set_new(o, "error", jtext(x->error));
                if (x->undecodable[0]) json_object_set_new(o, "undecodable", jtext(x->undecodable));
                json_object_set_new(o, "trace_name", jtext(items.v[i].name));
                json_array_append_new(jitems, o);
            }
        json_t *root = json_pack("{s:o, s:o, s:o, s:o, s:o, s:i}", "model", jtext(e.model->dir), "rules", jrules, "by_family", jfam,
                                 "paired", jpair, "items", jitems, "skipped_lines", items.n_bad);
        errno = 0;
        if (json_dump_file(root, cli_get(opts, "out"), JSON_INDENT(1)) != 0) {
            cli_error("eval", "--out %s: cannot write: %s", cli_get(opts, "out"), errno ? strerror(errno) : "error");
            json_decref(root);
            goto done;
        }
        json_decref(root);
    } else {
        json_decref(jrules);
        json_decref(jfam);
        json_decref(jpair);
    }
    status = failed_items ? 1 : 0; // everything is printed, but a run with failures is not a success
done:
    if (res) dlm_eval_results_free(res, n_rules * items.n);
    free(res);
    for (int r = 0; labels && r < n_rules; r++) free(labels[r]);
    free(labels);
    free(rules);
    dlm_eval_items_free(&items);
    cli_engine_close(&e);
    cli_free(opts, &pos);
    return status;
}
