// eval.c — items, the parallel runner, statistics.
#include "eval.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/backend.h"
#include "engine/session.h"
#include "engine/strmap.h"
#include "engine/util.h"
#include "record/recorder.h"

// ---- items ---------------------------------------------------------------------------------------

dlm_status dlm_eval_read_items(const char *path, int forced, dlm_eval_items *items,
                               void (*bad)(const char *file, int line, const char *reason)) {
    FILE *f = fopen(path, "r");
    if (!f) return dlm_error(DLM_STATUS_IO, "%s: %s", path, strerror(errno));
    char *line = NULL, reason[256];
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        json_error_t e;
        json_t *o = json_loadb(line, (size_t)len, 0, &e);
        json_t *jp = json_object_get(o, "prompt"), *ja = json_object_get(o, "answer"), *jt = json_object_get(o, "task"),
               *ji = json_object_get(o, "id");
        reason[0] = 0;
        int checker = forced;
        if (!o) snprintf(reason, sizeof reason, "not JSON (%s)", e.text);
        else if (!json_is_object(o)) snprintf(reason, sizeof reason, "not a JSON object");
        else if (!json_is_string(jp) || !json_string_length(jp)) snprintf(reason, sizeof reason, "missing string field 'prompt'");
        else if (!json_is_string(ja) && !json_is_number(ja)) snprintf(reason, sizeof reason, "missing field 'answer'");
        else if (jt && !json_is_string(jt)) snprintf(reason, sizeof reason, "field 'task' is not a string");
        else if (checker < 0 && !jt) snprintf(reason, sizeof reason, "no 'task' field to choose a checker (give --checker)");
        else if (checker < 0 && (checker = dlm_checker_find(json_string_value(jt))) < 0) {
            char known[256] = "";
            for (int c = 0; c < DLM_CHECK_COUNT; c++) snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", c ? ", " : "", dlm_checker_name(c));
            snprintf(reason, sizeof reason, "unknown task family '%.40s' (known: %s)", json_string_value(jt), known);
        }
        if (reason[0]) {
            if (bad) bad(path, lineno, reason);
            items->n_bad++;
            json_decref(o);
            continue;
        }
        if (items->n == items->cap) {
            items->cap = items->cap ? 2 * items->cap : 256;
            items->v = dlm_xrealloc(items->v, (size_t)items->cap * sizeof *items->v);
        }
        dlm_eval_item *it = &items->v[items->n++];
        memset(it, 0, sizeof *it);
        char idbuf[64];
        if (json_is_integer(ji)) snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(ji));
        else snprintf(idbuf, sizeof idbuf, "line%d", lineno);
        it->id = dlm_xstrdup(json_is_string(ji) ? json_string_value(ji) : idbuf);
        it->task = dlm_xstrdup(jt ? json_string_value(jt) : "");
        it->checker = checker;
        it->prompt = dlm_xstrdup(json_string_value(jp));
        if (json_is_string(ja)) it->answer = dlm_xstrdup(json_string_value(ja));
        else {
            char num[64];
            snprintf(num, sizeof num, json_is_integer(ja) ? "%.0f" : "%.17g", json_number_value(ja));
            it->answer = dlm_xstrdup(num);
        }
        it->file = dlm_xstrdup(path);
        it->line = lineno;
        json_decref(o);
    }
    free(line);
    fclose(f);
    return DLM_STATUS_OK;
}

#define NAME_MAX_BYTES 120 // well under the 255 of common file systems, with room for "~hash~N.dlmtrace"

void dlm_eval_items_name(dlm_eval_items *items, void (*note)(const char *file, int line, const char *msg)) {
    dlm_strmap names, ids;
    dlm_strmap_init(&names, 64);
    dlm_strmap_init(&ids, 64);
    dlm_buf b = {0};
    for (int i = 0; i < items->n; i++) {
        dlm_eval_item *it = &items->v[i];
        size_t len = strlen(it->id), cut = len;
        if (cut > NAME_MAX_BYTES) { // back up to the start of a UTF-8 character
            cut = NAME_MAX_BYTES;
            while (cut > 0 && ((unsigned char)it->id[cut] & 0xC0) == 0x80) cut--;
        }
        b.len = 0;
        for (size_t k = 0; k < cut; k++) {
            char c = it->id[k];
            if (c == '/' || c == '\\' || (unsigned char)c < 0x20 || c == 0x7f || (k == 0 && c == '.')) c = '_';
            dlm_buf_append(&b, &c, 1);
        }
        if (cut == 0) dlm_buf_append(&b, "_", 1);
        if (cut < len) dlm_buf_printf(&b, "~%08llx", (unsigned long long)(dlm_hash64(it->id, len, 0) & 0xffffffffu));
        size_t stem = b.len;
        int32_t first;
        if (dlm_strmap_get(&ids, it->id, len, &first) && note) {
            char msg[512];
            snprintf(msg, sizeof msg, "id '%.200s' repeats the item of %s:%d; both are kept", it->id, items->v[first].file,
                     items->v[first].line);
            note(it->file, it->line, msg);
        } else {
            dlm_strmap_put(&ids, it->id, len, i);
        }
        for (int k = 2; dlm_strmap_get(&names, b.data, b.len, &first); k++) {
            b.len = stem;
            dlm_buf_printf(&b, "~%d", k);
        }
        dlm_strmap_put(&names, b.data, b.len, i);
        free(it->name);
        it->name = dlm_xmalloc(b.len + 1);
        memcpy(it->name, b.data, b.len);
        it->name[b.len] = 0;
    }
    dlm_buf_free(&b);
    dlm_strmap_free(&names);
    dlm_strmap_free(&ids);
}

void dlm_eval_items_free(dlm_eval_items *items) {
    for (int i = 0; i < items->n; i++) {
        free(items->v[i].id);
        free(items->v[i].name);
        free(items->v[i].task);
        free(items->v[i].prompt);
        free(items->v[i].answer);
        free(items->v[i].file);
    }
    free(items->v);
    memset(items, 0, sizeof *items);
}

void dlm_eval_results_free(dlm_eval_result *r, int n) {
    for (int i = 0; i < n; i++) free(r[i].response);
}

// ---- running -----------------------------------------------------------------------------------------

typedef struct {
    const dlm_eval_config *cfg;
    const dlm_eval_items  *items;
    dlm_eval_result       *results;
    atomic_int             next, done;
    char                   setup_error[512];
    pthread_mutex_t        mu;
} shared;

static void run_one(const dlm_eval_config *cfg, dlm_backend *be, const dlm_eval_item *it, int r, dlm_eval_result *out) {
    memset(out, 0, sizeof *out);
    dlm_buf text = {0};
    int32_t *ids = NULL, *gen = NULL;
    int n = 0;
    dlm_session *s = NULL;
    dlm_step *st = NULL;
    dlm_recorder *rec = NULL;
    double t0 = dlm_now();
    if (cfg->raw_prompt) dlm_buf_append(&text, it->prompt, strlen(it->prompt));
    else if (dlm_chat_render(cfg->chat, cfg->tok, it->prompt, &text) != DLM_STATUS_OK) goto fail;
    if (dlm_tokenizer_encode(cfg->tok, text.data, text.len, &ids, &n) != DLM_STATUS_OK) goto fail;
    dlm_rule_config rule = cfg->rules[r];
    rule.seed ^= dlm_hash64(it->id, strlen(it->id), 0) & 0x7fffffffffffULL; // per item, order-independent
    dlm_session_opts so = {.block_causal = cfg->block_causal, .rows = DLM_ROWS_NEEDED};
    if (cfg->record_dir) so.rows = DLM_ROWS_GENERATION; // traces show every position
    s = dlm_session_new(cfg->model, be, ids, n, &rule, &so);
    if (!s) goto fail;
    st = dlm_step_new(dlm_session_n_tokens(s));
    if (cfg->record_dir) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s/%s.dlmtrace", cfg->record_dir, cfg->rule_labels[r], it->name ? it->name : it->id);
        dlm_record_opts o = {.prompt_text = text.data, .tok_path = cfg->tok_path, .device = be->device, .tok = cfg->tok};
        if (dlm_recorder_open(path, cfg->model, s, &o, &rec) != DLM_STATUS_OK) goto fail;
    }
    while (!dlm_session_done(s)) {
        if (dlm_session_step(s, st) != DLM_STATUS_OK) goto fail;
        out->forwards++;
        out->commits += st->n_commits, out->edits += st->n_edits, out->remasks += st->n_remasks;
        if (rec && dlm_recorder_step(rec, s, st) != DLM_STATUS_OK) goto fail;
    }
    int n_out;
    gen = dlm_session_output(s, &n_out);
    dlm_buf resp = {0};
    if (dlm_tokenizer_decode(cfg->tok, gen, n_out, true, &resp) != DLM_STATUS_OK) {
        // The model produced an id its tokenizer lacks: the item ran, its answer is wrong, and why is kept.
        snprintf(out->undecodable, sizeof out->undecodable, "%s", dlm_error_message());
        dlm_buf_free(&resp);
        out->response = dlm_xstrdup("");
        goto done;
    }
    out->response = dlm_xstrdup(resp.data ? resp.data : "");
    dlm_buf_free(&resp);
    out->correct = dlm_check(it->checker, it->prompt, it->answer, out->response, out->extracted, sizeof out->extracted);
    goto done;
fail:
    snprintf(out->error, sizeof out->error, "%s", dlm_error_message());
    if (!out->response) out->response = dlm_xstrdup("");
done:
    out->ms = (dlm_now() - t0) * 1e3;
    if (rec && dlm_recorder_close(rec) != DLM_STATUS_OK && !out->error[0]) // the trace is part of the result
        snprintf(out->error, sizeof out->error, "%s", dlm_error_message());
    dlm_step_free(st);
    dlm_session_free(s);
    free(ids);
    free(gen);
    dlm_buf_free(&text);
}

static void *worker(void *arg) {
    shared *sh = arg;
    const dlm_eval_config *cfg = sh->cfg;
    int threads = cfg->threads > 0 ? cfg->threads / cfg->jobs : 0;
    dlm_backend *be = dlm_backend_new(cfg->model, cfg->device, threads > 0 ? threads : 1);
    if (!be) {
        pthread_mutex_lock(&sh->mu);
        snprintf(sh->setup_error, sizeof sh->setup_error, "%s", dlm_error_message());
        pthread_mutex_unlock(&sh->mu);
        return NULL;
    }
    int total = cfg->n_rules * sh->items->n;
    for (int k; (k = atomic_fetch_add(&sh->next, 1)) < total;) {
        int r = k / sh->items->n, i = k % sh->items->n;
        run_one(cfg, be, &sh->items->v[i], r, &sh->results[k]);
        atomic_fetch_add(&sh->done, 1);
    }
    dlm_backend_free(be);
    return NULL;
}

dlm_status dlm_eval_run(const dlm_eval_config *cfg, const dlm_eval_items *items, dlm_eval_result *results) {
    if (cfg->record_dir) {
        if (mkdir(cfg->record_dir, 0777) != 0 && errno != EEXIST)
            return dlm_error(DLM_STATUS_IO, "--record-dir %s: %s", cfg->record_dir, strerror(errno));
        for (int r = 0; r < cfg->n_rules; r++) {
            char *d = dlm_path_join(cfg->record_dir, cfg->rule_labels[r]);
            int rc = mkdir(d, 0777);
            int err = errno;
            free(d);
            if (rc != 0 && err != EEXIST) return dlm_error(DLM_STATUS_IO, "--record-dir %s: %s", cfg->record_dir, strerror(err));
        }
    }
    shared sh = {.cfg = cfg, .items = items, .results = results};
    pthread_mutex_init(&sh.mu, NULL);
    int jobs = cfg->jobs > 0 ? cfg->jobs : 1;
    pthread_t *th = dlm_xcalloc((size_t)jobs, sizeof *th);
    double t0 = dlm_now();
    for (int j = 0; j < jobs; j++) pthread_create(&th[j], NULL, worker, &sh);
    int total = cfg->n_rules * items->n;
    if (cfg->progress) cfg->progress(0, total, 0, cfg->ctx); // the bar (or the 0% log line) at once
    while (atomic_load(&sh.done) < total && !sh.setup_error[0]) {
        usleep(200000);
        if (cfg->progress) cfg->progress(atomic_load(&sh.done), total, dlm_now() - t0, cfg->ctx);
    }
    for (int j = 0; j < jobs; j++) pthread_join(th[j], NULL);
    if (cfg->progress) cfg->progress(atomic_load(&sh.done), total, dlm_now() - t0, cfg->ctx);
    free(th);
    pthread_mutex_destroy(&sh.mu);
    if (sh.setup_error[0] && atomic_load(&sh.done) < total) return dlm_error(DLM_STATUS_BACKEND, "%s", sh.setup_error);
    return DLM_STATUS_OK;
}

// ---- statistics ---------------------------------------------------------------------------------------------

void dlm_eval_wilson(int k, int n, double *lo, double *hi) {
    if (n == 0) {
        *lo = 0, *hi = 1;
        return;
    }
    const double z = 1.959963984540054;
    double p = (double)k / n, z2 = z * z, den = 1 + z2 / n;
    double c = (p + z2 / (2 * n)) / den, h = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / den;
    *lo = fmax(0, c - h), *hi = fmin(1, c + h);
}

double dlm_eval_mcnemar(int b, int c) {
    int n = b + c, k = b < c ? b : c;
    if (n == 0) return 1.0;
    // 2 * P(X <= k), X ~ Binomial(n, 1/2), in log space
    double sum = 0;
    for (int i = 0; i <= k; i++) sum += exp(lgamma(n + 1.0) - lgamma(i + 1.0) - lgamma(n - i + 1.0) - n * log(2.0));
    return fmin(1.0, 2 * sum);
}
