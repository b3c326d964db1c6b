// test_trace.c — trace files: every field round-trips; resume from a read-back state continues the
// recording exactly; truncation at every byte and random damage never crash the reader.
#include <errno.h>

#include "engine/rules/rule.h"
#include "engine/session.h"
#include "record/trace_writer.h"
#include "replay/player.h"
#include "replay/trace_reader.h"
#include "testmodel.h"

static char *dir;
static dlm_model *model;
static dlm_backend *be;
static const int32_t PROMPT[5] = {3, 17, 5, 60, 2};

static int setup(void **state) {
    return tu_small_engine_open(&dir, &model, &be);
}

static int teardown(void **state) {
    tu_small_engine_close(&dir, &model, &be);
    return 0;
}

#define MAX_STEPS 128
typedef struct {
    int               n;
    dlm_step         *steps[MAX_STEPS];
    dlm_session_state states[MAX_STEPS];
    char             *path;
} recorded;

// Optional: called before each step of record() (interventions by hand).
static void (*before_step)(dlm_session *s, int step);

static void record(const char *spec, int gen, recorded *rec) {
    dlm_rule_config rc;
    if (dlm_rule_parse(spec, &rc) != DLM_STATUS_OK) fail_msg("%s", dlm_error_message());
    char g[16];
    snprintf(g, sizeof g, "%d", gen);
    dlm_rule_set(&rc, "gen", g);
    dlm_rule_set(&rc, "block", "8");
    if (dlm_param_applies(DLM_PARAM_steps, rc.kind)) dlm_rule_set(&rc, "steps", rc.kind == DLM_RULE_EVOTOKEN ? "8" : g);
    dlm_session_opts opts = {.block_causal = rc.cache == DLM_RULE_CACHE_OFFICIAL_BLOCK ? 8 : 0}; // it needs one
    dlm_session *s = dlm_session_new(model, be, PROMPT, 5, &rc, &opts);
    if (!s) fail_msg("%s: %s", spec, dlm_error_message());
    dlm_trace_header h;
    dlm_trace_header_from_session(&h, model, s, "the prompt", NULL, "cpu");
    rec->path = dlm_path_join(dir, "t.dlmtrace");
    dlm_trace_writer *w;
    assert_int_equal(dlm_trace_writer_open(rec->path, &h, NULL, &w), DLM_STATUS_OK);
    dlm_trace_header_free(&h);
    rec->n = 0;
    while (!dlm_session_done(s)) {
        assert_true(rec->n < MAX_STEPS);
        dlm_step *st = dlm_step_new(dlm_session_n_tokens(s));
        if (before_step) before_step(s, rec->n);
        assert_int_equal(dlm_session_step(s, st), DLM_STATUS_OK);
        dlm_session_export(s, &rec->states[rec->n]);
        assert_int_equal(dlm_trace_writer_append(w, st, &rec->states[rec->n]), DLM_STATUS_OK);
        rec->steps[rec->n++] = st;
    }
    assert_int_equal(dlm_trace_writer_close(w), DLM_STATUS_OK);
    dlm_session_free(s);
}

static void recorded_free(recorded *rec) {
    for (int i = 0; i < rec->n; i++) {
        dlm_step_free(rec->steps[i]);
        dlm_session_state_free(&rec->states[i]);
    }
    free(rec->path);
}

static void assert_close(float a, float b, float tol, const char *what, int step, int pos) {
    if (!(fabsf(a - b) <= tol)) fail_msg("step %d pos %d: %s %g vs %g", step, pos, what, a, b);
}

static void check_round_trip(const char *spec) {
    recorded rec;
    record(spec, 16, &rec);
    dlm_trace *t;
    assert_int_equal(dlm_trace_open(rec.path, &t), DLM_STATUS_OK);
    assert_null(dlm_trace_problem(t));
    assert_true(dlm_trace_has_footer(t));
    assert_int_equal(dlm_trace_n_steps(t), rec.n);
    const dlm_trace_header *h = dlm_trace_header_of(t);
    assert_int_equal(h->prompt_len, 5);
    assert_memory_equal(h->prompt_ids, PROMPT, sizeof PROMPT);
    assert_string_equal(h->prompt_text, "the prompt");
    assert_int_equal(h->model_identity, model->identity);
    dlm_step *st = dlm_step_new(h->n_tokens);
    for (int i = 0; i < rec.n; i++) {
        dlm_session_state state;
        assert_int_equal(dlm_trace_read_step(t, i, st, &state), DLM_STATUS_OK);
        const dlm_step *a = rec.steps[i];
        assert_int_equal(st->step, a->step);
        assert_int_equal(st->block, a->block);
        assert_int_equal(st->block_start, a->block_start);
        assert_int_equal(st->block_end, a->block_end);
        assert_int_equal(st->n_blocks, a->n_blocks);
        assert_int_equal(st->step_in_block, a->step_in_block);
        assert_int_equal(st->n_commits, a->n_commits);
        assert_int_equal(st->n_edits, a->n_edits);
        assert_int_equal(st->n_remasks, a->n_remasks);
        assert_int_equal(st->n_transitions, a->n_transitions);
        assert_int_equal(st->n_finalized, a->n_finalized);
        assert_int_equal(st->n_stuck, a->n_stuck);
        assert_int_equal(st->done, a->done);
        assert_true(st->forward_ms == a->forward_ms);
        assert_int_equal(st->n_interventions, a->n_interventions);
        for (int k = 0; k < a->n_interventions; k++) {
            const dlm_intervention *x = &st->interventions[k], *y = &a->interventions[k];
            assert_int_equal(x->kind, y->kind);
            assert_int_equal(x->pos, y->pos);
            assert_int_equal(x->end, y->end);
            assert_int_equal(x->token, y->token);
            assert_string_equal(x->who, y->who);
        }
        for (int p = 0; p < a->n_tokens; p++) {
            const dlm_pos_info *x = &st->pos[p], *y = &a->pos[p];
            if (x->token != y->token || x->prev_token != y->prev_token || x->state != y->state ||
                x->events != y->events || x->has_dist != y->has_dist || x->stuck != y->stuck ||
                x->n_top != y->n_top || x->n_soft != y->n_soft || x->remask_count != y->remask_count ||
                x->hist_conf != y->hist_conf || x->pinned != y->pinned || x->intervened != y->intervened)
                fail_msg("%s: step %d pos %d differs after the round trip", spec, i, p);
            if (!y->has_dist) continue;
            assert_int_equal(x->sampled, y->sampled);
            assert_close(x->p_sampled, y->p_sampled, 1.0f / 65535, "p_sampled", i, p);
            assert_close(x->p_current, y->p_current, 1.0f / 65535, "p_current", i, p);
            assert_close(x->entropy, y->entropy, 1.0f / 2048, "entropy", i, p);
            for (int j = 0; j < y->n_top; j++) {
                assert_int_equal(x->top_id[j], y->top_id[j]);
                assert_close(x->top_p[j], y->top_p[j], 1.0f / 65535, "top_p", i, p);
            }
            for (int j = 0; j < y->n_soft; j++) {
                assert_int_equal(x->soft_id[j], y->soft_id[j]);
                assert_true(x->soft_w[j] == y->soft_w[j]); // bf16 values: exact
            }
        }
        // The state read back equals the exported one, field by field.
        const dlm_session_state *e = &rec.states[i];
        assert_int_equal(state.block, e->block);
        assert_int_equal(state.step, e->step);
        assert_int_equal(state.step_in_block, e->step_in_block);
        assert_int_equal(state.post_steps, e->post_steps);
        assert_int_equal(state.block_masks, e->block_masks);
        assert_int_equal(state.done, e->done);
        assert_int_equal(state.prev_valid, e->prev_valid);
        assert_int_equal(state.soft_k, e->soft_k);
        assert_memory_equal(state.tokens, e->tokens, (size_t)e->n_tokens * sizeof *e->tokens);
        assert_memory_equal(state.state, e->state, (size_t)e->n_tokens);
        assert_memory_equal(state.hist_conf, e->hist_conf, (size_t)e->n_tokens * sizeof(float));
        assert_memory_equal(state.remask_count, e->remask_count, (size_t)e->n_tokens * sizeof(uint16_t));
        assert_memory_equal(state.pinned, e->pinned, (size_t)e->n_tokens);
        if (e->rule.kind == DLM_RULE_T2M) assert_memory_equal(state.prev_p, e->prev_p, (size_t)e->n_tokens * sizeof(float));
        if (e->rule.cache == DLM_RULE_CACHE_OFFICIAL_BLOCK)
            assert_memory_equal(state.last_fwd_ids, e->last_fwd_ids, (size_t)e->n_tokens * sizeof(int32_t));
        if (e->soft_k) {
            assert_memory_equal(state.soft_ids, e->soft_ids, (size_t)e->n_tokens * e->soft_k * sizeof(int32_t));
            assert_memory_equal(state.soft_w, e->soft_w, (size_t)e->n_tokens * e->soft_k * sizeof(float));
        }
        assert_int_equal(state.cache_len, e->cache_len);
        assert_int_equal(state.cache_soft_k, e->cache_soft_k);
        if (e->cache_len) assert_memory_equal(state.cache_ids, e->cache_ids, (size_t)e->n_tokens * sizeof(int32_t));
        if (e->cache_soft_k) {
            assert_memory_equal(state.cache_soft_ids, e->cache_soft_ids, (size_t)e->n_tokens * e->cache_soft_k * sizeof(int32_t));
            assert_memory_equal(state.cache_soft_w, e->cache_soft_w, (size_t)e->n_tokens * e->cache_soft_k * sizeof(float));
        }
        // Resume from the read-back state: the rest of the recording, step for step.
        if (i == rec.n / 2) {
            dlm_session *s = dlm_session_restore(model, be, &state, NULL, NULL);
            assert_non_null(s);
            dlm_step *cont = dlm_step_new(h->n_tokens);
            for (int k = i + 1; k < rec.n; k++) {
                assert_int_equal(dlm_session_step(s, cont), DLM_STATUS_OK);
                for (int p = 0; p < h->n_tokens; p++)
                    if (cont->pos[p].token != rec.steps[k]->pos[p].token ||
                        cont->pos[p].p_sampled != rec.steps[k]->pos[p].p_sampled)
                        fail_msg("%s: resumed at %d, step %d pos %d differs", spec, i, k, p);
            }
            assert_true(dlm_session_done(s));
            dlm_step_free(cont);
            dlm_session_free(s);
        }
        dlm_session_state_free(&state);
    }
    dlm_step_free(st);
    dlm_trace_close(t);
    recorded_free(&rec);
}

static void test_round_trip(void **state) {
    const char *specs[] = {"llada", "llada:temperature=0.7,remasking=random", "threshold:tau=0.4", "t2t",
                           "t2m:detector=logitdiff,tau_remask=0.05", "t2m", "evotoken", "evotoken:temperature=0",
                           "llada:cache=dual", "t2m:cache=prefix", "evotoken:cache=dual", "margin",
                           "t2m:max_post=1,tau_remask=0.5,cache=official-block"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) check_round_trip(specs[i]);
}

// Interventions by hand (generation starts at 5; blocks of 8): before step 2 force position 6 and
// pin it, before step 3 remask the current block's positions 8-9 and pin 5 (when it holds a token).
static void intervene_script(dlm_session *s, int step) {
    const int32_t *t = dlm_session_tokens(s);
    if (step == 2) {
        dlm_intervention f = {.kind = DLM_IV_FORCE, .pos = 6, .end = 7, .token = 42}, p = {.kind = DLM_IV_PIN, .pos = 6, .end = 7};
        assert_int_equal(dlm_session_intervene(s, &f), DLM_STATUS_OK);
        assert_int_equal(dlm_session_intervene(s, &p), DLM_STATUS_OK);
    }
    if (step == 3) {
        dlm_intervention r = {.kind = DLM_IV_REMASK, .pos = 8, .end = 10}, p = {.kind = DLM_IV_PIN, .pos = 5, .end = 6};
        if (dlm_session_intervene(s, &r) != DLM_STATUS_OK) fail_msg("remask: %s", dlm_error_message());
        if (t[5] != model->cfg.mask_id) assert_int_equal(dlm_session_intervene(s, &p), DLM_STATUS_OK);
        snprintf(p.who, sizeof p.who, "script"); // who travels too
        p.kind = DLM_IV_UNPIN;
        assert_int_equal(dlm_session_intervene(s, &p), DLM_STATUS_OK);
    }
}

static void test_round_trip_interventions(void **state) {
    const char *specs[] = {"llada", "t2t", "t2m", "evotoken", "threshold:tau=0.4,cache=dual", "t2m:cache=prefix"};
    before_step = intervene_script;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) check_round_trip(specs[i]);
    before_step = NULL;
}

// Traces written before interventions existed (format 1.1: a sample trace of the earlier bundled
// model, kept as a fixture) read as runs nobody touched.
static void test_old_traces_read(void **state) {
    dlm_trace *t;
    assert_int_equal(dlm_trace_open("tests/fixtures/interim/t2t.dlmtrace", &t), DLM_STATUS_OK);
    assert_int_equal(dlm_trace_header_of(t)->version_minor, 1);
    dlm_step *st = dlm_step_new(dlm_trace_header_of(t)->n_tokens);
    for (int i = 0; i < dlm_trace_n_steps(t); i++) {
        dlm_session_state s;
        assert_int_equal(dlm_trace_read_step(t, i, st, &s), DLM_STATUS_OK);
        assert_int_equal(st->n_interventions, 0);
        for (int p = 0; p < st->n_tokens; p++) assert_true(!st->pos[p].pinned && !st->pos[p].intervened && !s.pinned[p]);
        dlm_session_state_free(&s);
    }
    dlm_step_free(st);
    dlm_trace_close(t);
}

static void test_player(void **state) {
    recorded rec;
    record("t2m:tau_remask=0.4", 16, &rec);
    dlm_trace *t;
    assert_int_equal(dlm_trace_open(rec.path, &t), DLM_STATUS_OK);
    dlm_player *p = dlm_player_new(t);
    assert_null(dlm_player_step(p));
    assert_int_equal(dlm_player_seek(p, 3), DLM_STATUS_OK);
    assert_int_equal(dlm_player_step(p)->step, 3);
    assert_int_equal(dlm_player_next(p), DLM_STATUS_OK);
    assert_int_equal(dlm_player_index(p), 4);
    assert_int_equal(dlm_player_prev(p), DLM_STATUS_OK);
    assert_int_equal(dlm_player_seek(p, 1000), DLM_STATUS_OK); // clamped
    assert_int_equal(dlm_player_index(p), rec.n - 1);
    assert_int_equal(dlm_player_next(p), DLM_STATUS_ARG);
    int b1 = dlm_player_block_start(p, 1);
    assert_true(b1 > 0);
    assert_int_equal(rec.steps[b1]->block, 1);
    assert_int_equal(rec.steps[b1 - 1]->block, 0);
    // next event at a position: the first later step whose events touch it
    dlm_player_seek(p, 0);
    int pos = 5 + 3, want = -1;
    for (int i = 1; i < rec.n && want < 0; i++)
        if (rec.steps[i]->pos[pos].events) want = i;
    assert_int_equal(dlm_player_next_event(p, pos, +1), want);
    if (want > 0) assert_int_equal(dlm_player_index(p), want);
    // remasks and stuck sets, forward and back
    dlm_player_seek(p, 0);
    int r = dlm_player_next_kind(p, DLM_EVENT_REMASK, +1);
    if (r >= 0) assert_true(rec.steps[r]->n_remasks > 0);
    dlm_player_seek(p, rec.n - 1);
    int s = dlm_player_next_stuck(p, -1);
    if (s >= 0) assert_true(rec.steps[s]->n_stuck > 0);
    dlm_player_free(p);
    dlm_trace_close(t);
    recorded_free(&rec);
}

// Read everything a viewer would read; returns the number of steps decoded.
static int read_all(dlm_trace *t) {
    int ok = 0;
    dlm_step *st = dlm_step_new(dlm_trace_header_of(t)->n_tokens);
    for (int i = 0; i < dlm_trace_n_steps(t); i++) {
        dlm_session_state state;
        if (dlm_trace_read_step(t, i, st, &state) == DLM_STATUS_OK) {
            ok++;
            dlm_session_state_free(&state);
        }
    }
    dlm_step_free(st);
    return ok;
}

static void test_truncation_at_every_byte(void **state) {
    recorded rec;
    record("evotoken", 8, &rec); // the richest records (soft inputs, historical best)
    char *data;
    size_t len;
    assert_int_equal(dlm_read_file(rec.path, 1 << 24, &data, &len), DLM_STATUS_OK);
    int last_steps = -1;
    for (size_t cut = 0; cut <= len; cut++) {
        dlm_trace *t;
        dlm_status st = dlm_trace_open_buffer(data, cut, "cut.dlmtrace", &t);
        if (st != DLM_STATUS_OK) { // only the header can be incomplete
            assert_non_null(strstr(dlm_error_message(), "cut.dlmtrace"));
            continue;
        }
        int n = dlm_trace_n_steps(t);
        assert_int_equal(read_all(t), n); // every complete record reads back
        assert_true(n >= last_steps);     // more bytes never mean fewer steps
        last_steps = n;
        if (cut < len && !dlm_trace_has_footer(t) && dlm_trace_problem(t))
            assert_non_null(strstr(dlm_trace_problem(t), "truncated"));
        dlm_trace_close(t);
    }
    assert_int_equal(last_steps, rec.n);
    free(data);
    recorded_free(&rec);
}

static void test_random_damage(void **state) {
    recorded rec;
    record("t2m", 8, &rec);
    char *data;
    size_t len;
    assert_int_equal(dlm_read_file(rec.path, 1 << 24, &data, &len), DLM_STATUS_OK);
    uint64_t x = 88172645463325252ULL;
    for (int trial = 0; trial < 3000; trial++) {
        char *copy = dlm_xmalloc(len);
        memcpy(copy, data, len);
        int flips = 1 + trial % 4;
        for (int f = 0; f < flips; f++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            copy[x % len] = (char)(x >> 32);
        }
        dlm_trace *t;
        if (dlm_trace_open_buffer(copy, len, "damaged.dlmtrace", &t) == DLM_STATUS_OK) {
            read_all(t);
            dlm_trace_close(t);
        }
        free(copy);
    }
    free(data);
    recorded_free(&rec);
}

static void test_bad_files(void **state) {
    dlm_trace *t;
    struct {
        const char *bytes;
        size_t      n;
        const char *needle;
    } cases[] = {
        {"", 0, "empty file"},
        {"hello world", 11, "not a dlmscope trace"},
        {"\x81\xa6" "format\xa3" "abc", 12, "field 'format': not a dlmscope trace"},
        {"\x82\xa6" "format\xae" "dlmscope-trace\xa7version\x92\x02\x00", 34, "format version 2.0; this dlmscope reads version 1"},
        {"\x82\xa6" "format\xae" "dlmscope-trace\xa7version\x92", 32, "incomplete"},
        {"\xc1", 1, "not a msgpack file"},
        {"\x81\xa4type\xa6header", 13, "not a dlmscope trace"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (dlm_trace_open_buffer(cases[i].bytes, cases[i].n, "bad.dlmtrace", &t) == DLM_STATUS_OK)
            fail_msg("case %zu opened", i);
        if (!strstr(dlm_error_message(), cases[i].needle) || !strstr(dlm_error_message(), "bad.dlmtrace"))
            fail_msg("case %zu: %s", i, dlm_error_message());
    }
    assert_int_equal(dlm_trace_open(dir, &t), DLM_STATUS_IO);
    assert_non_null(strstr(dlm_error_message(), "is a directory"));
    char *missing = dlm_path_join(dir, "missing.dlmtrace");
    assert_int_equal(dlm_trace_open(missing, &t), DLM_STATUS_IO);
    free(missing);
}

// A reader keeps working when its file is rewritten in place (cut short: a mapping would SIGBUS)
// or replaced by rename, and says which on refresh; a writer replaces a file, never truncates it.
static void test_file_replaced_under_reader(void **state) {
    recorded rec;
    record("t2m", 16, &rec);
    dlm_trace *t;
    assert_int_equal(dlm_trace_open(rec.path, &t), DLM_STATUS_OK);
    int n = dlm_trace_n_steps(t);
    const dlm_trace_header *h = dlm_trace_header_of(t);
    dlm_step *st = dlm_step_new(h->n_tokens);
    // Another program rewrites the file in place, shorter.
    FILE *f = fopen(rec.path, "wb");
    assert_non_null(f);
    fputs("rewritten", f);
    fclose(f);
    for (int i = 0; i < n; i++) {
        dlm_session_state s;
        assert_int_equal(dlm_trace_read_step(t, i, st, &s), DLM_STATUS_OK);
        dlm_session_state_free(&s);
    }
    assert_int_equal(dlm_trace_refresh(t), DLM_STATUS_OK);
    assert_non_null(dlm_trace_problem(t));
    assert_non_null(strstr(dlm_trace_problem(t), "shrank"));
    assert_int_equal(dlm_trace_n_steps(t), n);
    assert_int_equal(dlm_trace_read_step(t, n - 1, st, NULL), DLM_STATUS_OK);
    dlm_trace_close(t);
    // A new recording over an open trace: the reader keeps the old file and is told it was replaced.
    recorded_free(&rec);
    record("llada", 16, &rec);
    assert_int_equal(dlm_trace_open(rec.path, &t), DLM_STATUS_OK);
    n = dlm_trace_n_steps(t);
    recorded again;
    record("t2m", 16, &again); // same path
    assert_int_equal(dlm_trace_refresh(t), DLM_STATUS_OK);
    assert_non_null(strstr(dlm_trace_problem(t), "replaced"));
    assert_int_equal(dlm_trace_n_steps(t), n);
    assert_int_equal(dlm_trace_read_step(t, n - 1, st, NULL), DLM_STATUS_OK);
    dlm_trace_close(t);
    dlm_step_free(st);
    recorded_free(&again);
    recorded_free(&rec);
}

// ---- the declared fields and docs/trace-format.md ----------------------------------------------------

// The record a heading of the format document opens ("" for none).
static const char *doc_record(const char *line) {
    if (!strncmp(line, "## Header record", 16)) return "HEADER";
    if (!strncmp(line, "### `model`", 11)) return "MODEL";
    if (!strncmp(line, "## Step record", 14)) return "STEP";
    if (!strncmp(line, "### `session`", 13)) return "SESSION";
    if (!strncmp(line, "### `interventions`", 19)) return "INTERVENTION";
    if (!strncmp(line, "## Footer record", 16)) return "FOOTER";
    if (!strncmp(line, "### Token text", 14)) return "";
    if (!strncmp(line, "## ", 3)) return "";
    return NULL; // not a heading that changes the record
}

typedef struct {
    char rec[16], key[48];
    bool seen;
} doc_key;

static bool declared(const char *rec, const char *key) {
    for (int i = 0; i < DLM_TF_COUNT; i++)
        if (!strcmp(dlm_trace_fields[i].record, rec) && !strcmp(dlm_trace_fields[i].key, key)) return true;
    // the token text table is part of the header and of every step record
    if (!strcmp(rec, "HEADER") || !strcmp(rec, "STEP"))
        for (int i = 0; i < DLM_TF_COUNT; i++)
            if (!strcmp(dlm_trace_fields[i].record, "TOKENS") && !strcmp(dlm_trace_fields[i].key, key)) return true;
    if (!strcmp(rec, "SESSION")) // a rule's own per-position state
        for (int k = 0; k < DLM_RULE_COUNT; k++)
            for (int i = 0; i < dlm_rule_ops_of(k)->n_state_cols; i++)
                if (!strcmp(dlm_rule_ops_of(k)->state_cols[i].name, key)) return true;
    return false;
}

// docs/trace-format.md lists exactly the declared keys: each row of a record's tables names keys
// in backticks in its first cell; every declared key appears, nothing undeclared does.
static void test_docs_list_the_declared_fields(void **state) {
    FILE *f = fopen("docs/trace-format.md", "r");
    if (!f) fail_msg("docs/trace-format.md: %s (run from the repository root)", strerror(errno));
    static doc_key found[256];
    int n = 0;
    char line[4096], rec[16] = "";
    while (fgets(line, sizeof line, f)) {
        const char *r = doc_record(line);
        if (r) snprintf(rec, sizeof rec, "%s", r);
        if (!rec[0] || strncmp(line, "| `", 3) != 0) continue;
        char *end = strchr(line + 1, '|'); // the first cell
        if (!end) continue;
        *end = 0;
        for (char *p = strchr(line, '`'); p; p = strchr(p, '`')) {
            char *q = strchr(p + 1, '`');
            if (!q) break;
            *q = 0;
            if (!declared(rec, p + 1)) fail_msg("docs/trace-format.md lists %s key `%s`, which is not declared", rec, p + 1);
            assert_true(n < 256);
            snprintf(found[n].rec, sizeof found[n].rec, "%s", rec);
            snprintf(found[n].key, sizeof found[n].key, "%s", p + 1);
            n++;
            p = q + 1;
        }
    }
    fclose(f);
    for (int i = 0; i < DLM_TF_COUNT; i++) {
        const dlm_trace_field_info *fi = &dlm_trace_fields[i];
        if (!strcmp(fi->record, "RULE_PARAMS")) continue; // described in the `rule_params` row
        bool listed = false;
        for (int j = 0; j < n && !listed; j++)
            listed = !strcmp(found[j].key, fi->key) &&
                     (!strcmp(found[j].rec, fi->record) ||
                      (!strcmp(fi->record, "TOKENS") && (!strcmp(found[j].rec, "HEADER") || !strcmp(found[j].rec, "STEP"))));
        if (!listed) fail_msg("%s key `%s` is declared but docs/trace-format.md does not list it", fi->record, fi->key);
    }
    for (int k = 0; k < DLM_RULE_COUNT; k++)
        for (int i = 0; i < dlm_rule_ops_of(k)->n_state_cols; i++) {
            bool listed = false;
            for (int j = 0; j < n; j++) listed |= !strcmp(found[j].rec, "SESSION") && !strcmp(found[j].key, dlm_rule_ops_of(k)->state_cols[i].name);
            if (!listed) fail_msg("rule %s's session key `%s` is not in docs/trace-format.md", dlm_rule_name(k),
                                  dlm_rule_ops_of(k)->state_cols[i].name);
        }
}

// A mixture-of-experts model's routing (the experts every position fired, per MoE layer) comes
// back from the trace exactly, -1 where the step computed no distribution.
static void test_moe_routing_round_trip(void **state) {
    dlm_model *m = dlm_model_load("tests/fixtures/models/llada2-f32", NULL);
    if (!m) fail_msg("%s", dlm_error_message());
    dlm_backend *b = dlm_backend_new(m, "cpu", 1);
    dlm_rule_config rc;
    assert_int_equal(dlm_rule_parse("t2t:mode=q,gen=24,block=8,cache=prefix", &rc), DLM_STATUS_OK);
    dlm_session_opts opts = {.block_causal = 8};
    dlm_session *s = dlm_session_new(m, b, PROMPT, 5, &rc, &opts);
    if (!s) fail_msg("%s", dlm_error_message());
    dlm_trace_header h;
    dlm_trace_header_from_session(&h, m, s, "moe", NULL, "cpu");
    char *path = dlm_path_join(dir, "moe.dlmtrace");
    dlm_trace_writer *w;
    assert_int_equal(dlm_trace_writer_open(path, &h, NULL, &w), DLM_STATUS_OK);
    dlm_trace_header_free(&h);
    dlm_step *steps[MAX_STEPS];
    int n = 0;
    while (!dlm_session_done(s) && n < MAX_STEPS) {
        steps[n] = dlm_step_new(dlm_session_n_tokens(s));
        assert_int_equal(dlm_session_step(s, steps[n]), DLM_STATUS_OK);
        dlm_session_state st;
        dlm_session_export(s, &st);
        assert_int_equal(dlm_trace_writer_append(w, steps[n], &st), DLM_STATUS_OK);
        dlm_session_state_free(&st);
        n++;
    }
    assert_int_equal(dlm_trace_writer_close(w), DLM_STATUS_OK);
    dlm_trace *t;
    assert_int_equal(dlm_trace_open(path, &t), DLM_STATUS_OK);
    dlm_step *back = dlm_step_new(dlm_trace_header_of(t)->n_tokens);
    long fired = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(dlm_trace_read_step(t, i, back, NULL), DLM_STATUS_OK);
        assert_int_equal(back->n_moe_layers, 2);
        assert_int_equal(back->experts_per_layer, 4);
        assert_int_equal(back->first_moe_layer, 1);
        const size_t E = 2 * 4;
        for (int p = 0; p < steps[i]->n_tokens; p++) {
            if (memcmp(back->experts + p * E, steps[i]->experts + p * E, E * sizeof *back->experts))
                fail_msg("step %d position %d: experts differ after the round trip", i, p);
            assert_true(back->experts[p * E] < 0 || back->pos[p].has_dist); // cached rows: a distribution, no routing
            fired += back->experts[p * E] >= 0;
        }
        dlm_step_free(steps[i]);
    }
    assert_true(fired > 0);
    dlm_step_free(back);
    dlm_trace_close(t);
    free(path);
    dlm_session_free(s);
    dlm_backend_free(b);
    dlm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moe_routing_round_trip),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_interventions),
        cmocka_unit_test(test_old_traces_read),
        cmocka_unit_test(test_docs_list_the_declared_fields),
        cmocka_unit_test(test_player),
        cmocka_unit_test(test_truncation_at_every_byte),
        cmocka_unit_test(test_random_damage),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_file_replaced_under_reader),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
