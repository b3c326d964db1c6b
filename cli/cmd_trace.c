// cmd_trace.c — `dlmscope trace info|dump|diff`: inspect trace files from the shell.
//
//   trace info FILE              header, summary and the state of the file's tail
//   trace dump FILE [--step N] [--json]   per-step view; --json: one JSON object per line
//   trace diff A B [--tolerance P]   every difference (header, steps, positions); exit 1 if any.
//                                Probabilities must be equal, or with --tolerance within P (the
//                                schedule, events, flags, candidates and soft inputs stay exact)
// A truncated or damaged file prints what it can, then one line about the damage, exit 1.
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "commands.h"
#include "engine/tokenizer.h"
#include "engine/util.h"
#include "replay/trace_reader.h"
#include "trace_json.h"

// Token text from the trace, escaped for one line, or #id when the trace does not have it.
// A token as text dumps show it: [MASK] for the mask id (the viewer's name for it, whatever the
// tokenizer calls it), escapes for control bytes.
static void tok_text(const dlm_trace *t, int32_t id, char *buf, size_t n) {
    if (id == dlm_trace_header_of(t)->mask_id) {
        snprintf(buf, n, "[MASK]");
        return;
    }
    size_t len;
    const char *b = dlm_trace_token(t, id, &len);
    if (!b) {
        snprintf(buf, n, "#%d", id);
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '\n') o += (size_t)snprintf(buf + o, n - o, "\\n");
        else if (c == '\t') o += (size_t)snprintf(buf + o, n - o, "\\t");
        else if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(buf + o, n - o, "\\x%02X", c);
        else buf[o++] = (char)c;
    }
    buf[o] = 0;
}

static void trace_token_text(const void *ctx, int32_t id, char *buf, size_t n) { tok_text(ctx, id, buf, n); }

// "  user: force 77'7', pin 77\n" for a step with interventions (nothing otherwise).
static void print_interventions(const dlm_trace *t, const dlm_step *st, const char *indent) {
    if (!st->n_interventions) return;
    char buf[1024];
    cli_interventions_text(st, trace_token_text, t, buf, sizeof buf);
    printf("%s%s: %s\n", indent, st->interventions[0].who, buf);
}

static int report_problem(const dlm_trace *t) {
    const char *p = dlm_trace_problem(t);
    if (!p) return 0;
    fprintf(stderr, "dlmscope trace: %s\n", p);
    return 1;
}

static int trace_info(const char *path) {
    dlm_trace *t;
    if (dlm_trace_open(path, &t) != DLM_STATUS_OK) {
        fprintf(stderr, "dlmscope trace: %s\n", dlm_error_message());
        return 2;
    }
    const dlm_trace_header *h = dlm_trace_header_of(t);
    int n = dlm_trace_n_steps(t);
    char when[64] = "?";
    time_t c = (time_t)h->created;
    struct tm tm;
    if (gmtime_r(&c, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("trace      %s (%s %d.%d, dlmscope %s, %s)\n", path, DLM_TRACE_FORMAT, h->version_major, h->version_minor,
           h->dlmscope_version, when);
    printf("model      %s (%s, identity %016llx%s%s)\n", h->model_name, h->model_dir, (unsigned long long)h->model_identity,
           h->adapter[0] ? ", adapter " : "", h->adapter);
    printf("device     %s\n", h->device[0] ? h->device : "?");
    printf("rule       %s\n", h->rule_spec);
    printf("canvas     prompt %d + generation %d = %d positions, blocks of %d, %s attention\n", h->prompt_len, h->gen_len,
           h->n_tokens, h->rule.block, h->block_causal ? "block-causal" : "bidirectional");
    if (h->parent[0]) printf("forked     from %s after step %d\n", h->parent, h->parent_step);
    long commits = 0, edits = 0, remasks = 0, stuck_steps = 0;
    double fwd = 0;
    int blocks = 0;
    for (int i = 0; i < n; i++) {
        const dlm_trace_step_info *in = dlm_trace_info(t, i);
        commits += in->n_commits, edits += in->n_edits, remasks += in->n_remasks;
        stuck_steps += in->n_stuck > 0;
        fwd += in->forward_ms;
        if (in->block + 1 > blocks) blocks = in->block + 1;
    }
    printf("steps      %d in %d block%s%s; %ld commits, %ld edits, %ld remasks; stuck set non-empty in %ld steps\n", n,
           blocks, blocks == 1 ? "" : "s", dlm_trace_has_footer(t) ? "" : " (no footer: the run did not finish cleanly)",
           commits, edits, remasks, stuck_steps);
    printf("time       %.1f ms in forward passes (%.2f ms per step)\n", fwd, n ? fwd / n : 0.0);
    int n_iv = 0, first_iv = -1; // interventions by hand (trace format 1.3)
    for (int i = 0; i < n; i++)
        if (dlm_trace_info(t, i)->n_interventions) n_iv += dlm_trace_info(t, i)->n_interventions, first_iv = first_iv < 0 ? i : first_iv;
    if (n_iv) printf("by hand    %d intervention%s, the first before step %d (trace dump --step %d shows them)\n", n_iv,
                     n_iv == 1 ? "" : "s", first_iv, first_iv);
    if (n > 0) {
        dlm_step *st = dlm_step_new(h->n_tokens);
        if (dlm_trace_read_step(t, n - 1, st, NULL) == DLM_STATUS_OK) {
            dlm_buf text = {0};
            char b[128];
            for (int i = h->prompt_len; i < h->prompt_len + h->gen_len; i++) {
                int32_t id = st->pos[i].token;
                if (id == h->eos_id) break;
                size_t len;
                const char *raw = dlm_trace_token(t, id, &len);
                if (id == h->mask_id) dlm_buf_append(&text, "_", 1);
                else if (raw) dlm_buf_append(&text, raw, len);
                else {
                    snprintf(b, sizeof b, "#%d ", id);
                    dlm_buf_append(&text, b, strlen(b));
                }
            }
            printf("final      %s\n", text.data ? text.data : "");
            dlm_buf_free(&text);
        } else {
            fprintf(stderr, "dlmscope trace: %s\n", dlm_error_message());
            dlm_step_free(st);
            dlm_trace_close(t);
            return 1;
        }
        dlm_step_free(st);
    }
    int rc = report_problem(t);
    dlm_trace_close(t);
    return rc;
}

// One line of JSON; false (with the reason on stderr) when it cannot be written.
static bool print_json(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        fprintf(stderr, "dlmscope trace: cannot encode a record as JSON\n");
        return false;
    }
    bool ok = puts(s) >= 0;
    free(s);
    return ok; // a write error is reported once, at exit (main.c)
}

static int trace_dump(const char *path, int only, bool as_json) {
    dlm_trace *t;
    if (dlm_trace_open(path, &t) != DLM_STATUS_OK) {
        fprintf(stderr, "dlmscope trace: %s\n", dlm_error_message());
        return 2;
    }
    const dlm_trace_header *h = dlm_trace_header_of(t);
    int n = dlm_trace_n_steps(t), rc = 0;
    if (only >= n) {
        fprintf(stderr, "dlmscope trace: %s has %d steps, no step %d\n", path, n, only);
        dlm_trace_close(t);
        return 2;
    }
    if (as_json && only < 0) {
        json_t *hj = trace_header_json(t);
        if (!print_json(hj)) rc = 1;
    }
    dlm_step *st = dlm_step_new(h->n_tokens);
    for (int i = only >= 0 ? only : 0; i < (only >= 0 ? only + 1 : n); i++) {
        if (dlm_trace_read_step(t, i, st, NULL) != DLM_STATUS_OK) {
            fprintf(stderr, "dlmscope trace: %s\n", dlm_error_message());
            rc = 1;
            break;
        }
        if (as_json) {
            json_t *o = trace_step_json(t, st);
            if (!print_json(o)) {
                rc = 1;
                break;
            }
            continue;
        }
        char a[96], b[96];
        printf("step %d  block %d  +%d ~%d -%d  stuck %d  %.2f ms\n", st->step, st->block, st->n_commits, st->n_edits,
               st->n_remasks, st->n_stuck, st->forward_ms);
        print_interventions(t, st, "  ");
        for (int p = h->prompt_len; p < h->n_tokens; p++) {
            const dlm_pos_info *q = &st->pos[p];
            if (only < 0 && !q->events && !q->intervened) continue; // whole traces: only what changed
            tok_text(t, q->token, a, sizeof a);
            printf("  %4d %-10s %-16s", p, dlm_pos_state_name(q->state), a);
            if (q->prev_token != q->token) {
                tok_text(t, q->prev_token, b, sizeof b);
                printf(" (was %s)", b);
            }
            if (q->has_dist) {
                printf(" p=%.3f H=%.2f top:", q->p_current, q->entropy);
                for (int j = 0; j < q->n_top; j++) {
                    tok_text(t, q->top_id[j], b, sizeof b);
                    printf(" %s:%.3f", b, q->top_p[j]);
                }
            }
            for (int bit = 0; bit < 5; bit++)
                if (q->events & (1 << bit)) printf(" [%s]", dlm_event_name(bit));
            if (q->stuck) printf(" [stuck]");
            for (int k = 0; k < DLM_IV_COUNT; k++)
                if (q->intervened & (1 << k)) printf(" [user: %s]", dlm_intervention_name(k));
            if (q->pinned) printf(" [pinned]");
            const int k = st->experts_per_layer;
            const int16_t *ex = st->n_moe_layers > 0 ? st->experts + (size_t)p * st->n_moe_layers * k : NULL;
            if (only >= 0 && ex && ex[0] >= 0) { // one step: the experts fired, per MoE layer
                printf(" experts");
                for (int j = 0; j < st->n_moe_layers; j++) {
                    printf(" L%d:", st->first_moe_layer + j);
                    for (int e = 0; e < k; e++) printf("%s%d", e ? "," : "", ex[j * k + e]);
                }
            }
            putchar('\n');
        }
    }
    dlm_step_free(st);
    if (!rc) rc = report_problem(t);
    dlm_trace_close(t);
    return rc;
}

// --tolerance: everything a position records beyond its token, state and events. Probabilities
// must agree within tol, the entropy within tol nats plus one storage step (1/2048: two nearby
// values can round apart); candidate ids may differ only where their probabilities are within tol
// of another candidate's (a near-tie can order either way); soft-input weights within tol or one
// bf16 step; everything else exactly. Returns false and describes the first difference in why.
static bool near(double a, double b, double tol) { return fabs(a - b) <= tol; }

static bool top_agrees(const dlm_pos_info *a, const dlm_pos_info *b, int j, double tol) {
    if (a->top_id[j] == b->top_id[j]) return true;
    if (j + 1 == a->n_top) return true; // the next candidate (not kept) may tie with the last
    for (int k = 0; k < a->n_top; k++)
        if (k != j && near(a->top_p[j], a->top_p[k], tol)) return true;
    return false;
}

static bool pos_agrees(const dlm_pos_info *a, const dlm_pos_info *b, double tol, char *why, size_t n) {
#define DIFF(cond, ...)                      \
    do {                                     \
        if (cond) {                          \
            snprintf(why, n, __VA_ARGS__);   \
            return false;                    \
        }                                    \
    } while (0)
    DIFF(a->token != b->token || a->state != b->state, "token %d (%s) vs %d (%s)", a->token, dlm_pos_state_name(a->state),
         b->token, dlm_pos_state_name(b->state));
    DIFF(a->prev_token != b->prev_token, "previous token %d vs %d", a->prev_token, b->prev_token);
    DIFF(a->events != b->events, "events %u vs %u", a->events, b->events);
    DIFF(a->has_dist != b->has_dist || a->stuck != b->stuck, "flags (distribution %d, stuck %d) vs (%d, %d)", a->has_dist,
         a->stuck, b->has_dist, b->stuck);
    if (a->has_dist) {
        DIFF(a->sampled != b->sampled, "sampled %d vs %d", a->sampled, b->sampled);
        DIFF(!near(a->p_sampled, b->p_sampled, tol), "p_sampled %.6f vs %.6f", a->p_sampled, b->p_sampled);
        DIFF(!near(a->p_current, b->p_current, tol), "p_current %.6f vs %.6f", a->p_current, b->p_current);
        DIFF(!near(a->entropy, b->entropy, tol + 1.0 / 2048), "entropy %.6f vs %.6f", a->entropy, b->entropy);
        DIFF(a->n_top != b->n_top, "%d candidates vs %d", a->n_top, b->n_top);
        for (int j = 0; j < a->n_top; j++) {
            DIFF(!near(a->top_p[j], b->top_p[j], tol), "candidate %d: p %.6f vs %.6f", j, a->top_p[j], b->top_p[j]);
            DIFF(!top_agrees(a, b, j, tol), "candidate %d: id %d vs %d", j, a->top_id[j], b->top_id[j]);
        }
    }
    DIFF(a->n_soft != b->n_soft, "%d soft inputs vs %d", a->n_soft, b->n_soft);
    for (int j = 0; j < a->n_soft; j++) {
        double ulp = fabs(a->soft_w[j]) / 128.0; // one bf16 step
        DIFF(a->soft_id[j] != b->soft_id[j], "soft input %d: id %d vs %d", j, a->soft_id[j], b->soft_id[j]);
        DIFF(!near(a->soft_w[j], b->soft_w[j], tol > ulp ? tol : ulp), "soft input %d: weight %.6f vs %.6f", j, a->soft_w[j],
             b->soft_w[j]);
    }
    DIFF(!near(a->hist_conf, b->hist_conf, tol), "historical-best confidence %.6f vs %.6f", a->hist_conf, b->hist_conf);
    DIFF(a->remask_count != b->remask_count, "remask count %u vs %u", a->remask_count, b->remask_count);
#undef DIFF
    return true;
}

static bool step_agrees(const dlm_step *a, const dlm_step *b, char *why, size_t n) {
    if (a->block != b->block || a->block_start != b->block_start || a->block_end != b->block_end ||
        a->step_in_block != b->step_in_block || a->n_blocks != b->n_blocks || a->done != b->done) {
        snprintf(why, n, "schedule: block %d [%d, %d) step in block %d of %d blocks%s vs block %d [%d, %d) step in block %d of %d blocks%s",
                 a->block, a->block_start, a->block_end, a->step_in_block, a->n_blocks, a->done ? ", done" : "", b->block,
                 b->block_start, b->block_end, b->step_in_block, b->n_blocks, b->done ? ", done" : "");
        return false;
    }
    if (a->n_commits != b->n_commits || a->n_edits != b->n_edits || a->n_remasks != b->n_remasks ||
        a->n_transitions != b->n_transitions || a->n_finalized != b->n_finalized || a->n_stuck != b->n_stuck) {
        snprintf(why, n, "event counts +%d ~%d -%d >%d |%d stuck %d vs +%d ~%d -%d >%d |%d stuck %d", a->n_commits, a->n_edits,
                 a->n_remasks, a->n_transitions, a->n_finalized, a->n_stuck, b->n_commits, b->n_edits, b->n_remasks,
                 b->n_transitions, b->n_finalized, b->n_stuck);
        return false;
    }
    return true;
}

static int trace_diff(const char *pa, const char *pb, double tol) {
    dlm_trace *a = NULL, *b = NULL;
    if (dlm_trace_open(pa, &a) != DLM_STATUS_OK || dlm_trace_open(pb, &b) != DLM_STATUS_OK) {
        fprintf(stderr, "dlmscope trace: %s\n", dlm_error_message());
        dlm_trace_close(a);
        return 2;
    }
    const dlm_trace_header *ha = dlm_trace_header_of(a), *hb = dlm_trace_header_of(b);
    int rc = 0;
    if (ha->prompt_len != hb->prompt_len || ha->n_tokens != hb->n_tokens ||
        memcmp(ha->prompt_ids, hb->prompt_ids, (size_t)ha->prompt_len * sizeof(int32_t)) != 0) {
        printf("different canvases: %s has prompt %d / %d positions, %s has prompt %d / %d positions\n", pa,
               ha->prompt_len, ha->n_tokens, pb, hb->prompt_len, hb->n_tokens);
        dlm_trace_close(a);
        dlm_trace_close(b);
        return 1;
    }
    // Every difference, not just the first: the header, then each step that differs. Exit 1 if
    // anything differs (like diff(1)), 2 on an error.
    bool differ = false;
    if (ha->model_identity != hb->model_identity)
        printf("models: %s (identity %016llx) vs %s (identity %016llx)\n", ha->model_name,
               (unsigned long long)ha->model_identity, hb->model_name, (unsigned long long)hb->model_identity), differ = true;
    if (strcmp(ha->rule_spec, hb->rule_spec)) printf("rules: %s\n   vs: %s\n", ha->rule_spec, hb->rule_spec), differ = true;
    // Forks: where each one left its parent (the steps before are copies).
    if (hb->parent_step >= 0) printf("B forks %s after step %d\n", hb->parent, hb->parent_step);
    if (ha->parent_step >= 0) printf("A forks %s after step %d\n", ha->parent, ha->parent_step);
    int na = dlm_trace_n_steps(a), nb = dlm_trace_n_steps(b), n = na < nb ? na : nb;
    if (na != nb) printf("steps: %s has %d, %s has %d\n", pa, na, pb, nb), differ = true;
    dlm_step *sa = dlm_step_new(ha->n_tokens), *sb = dlm_step_new(hb->n_tokens);
    int steps_differ = 0, first = -1;
    for (int i = 0; i < n; i++) {
        if (dlm_trace_read_step(a, i, sa, NULL) != DLM_STATUS_OK || dlm_trace_read_step(b, i, sb, NULL) != DLM_STATUS_OK) {
            fprintf(stderr, "dlmscope trace: %s\n", dlm_error_message());
            rc = 2;
            break;
        }
        int n_tok = 0, n_prob = 0, why_pos = -1;
        char why[256] = "", sched[320] = "";
        bool sched_differs = tol >= 0 && !step_agrees(sa, sb, sched, sizeof sched);
        for (int p = ha->prompt_len; p < ha->n_tokens; p++) {
            const dlm_pos_info *qa = &sa->pos[p], *qb = &sb->pos[p];
            bool tok = qa->token != qb->token || qa->state != qb->state || qa->events != qb->events ||
                       qa->pinned != qb->pinned || qa->intervened != qb->intervened;
            bool prob;
            if (tol < 0) {
                prob = qa->p_current != qb->p_current || qa->p_sampled != qb->p_sampled || qa->sampled != qb->sampled ||
                       qa->n_top != qb->n_top || (qa->n_top && (qa->top_id[0] != qb->top_id[0] || qa->top_p[0] != qb->top_p[0]));
            } else {
                char w[256];
                prob = !tok && !pos_agrees(qa, qb, tol, w, sizeof w);
                if (prob && why_pos < 0) why_pos = p, snprintf(why, sizeof why, "%s", w);
            }
            n_tok += tok;
            n_prob += !tok && prob;
        }
        bool iv_differs = sa->n_interventions != sb->n_interventions;
        for (int k = 0; k < sa->n_interventions && !iv_differs; k++) {
            const dlm_intervention *x = &sa->interventions[k], *y = &sb->interventions[k];
            iv_differs = x->kind != y->kind || x->pos != y->pos || x->end != y->end || x->token != y->token || strcmp(x->who, y->who);
        }
        if (!n_tok && !n_prob && sa->block == sb->block && !sched_differs && !iv_differs) continue;
        if (first < 0) first = i;
        steps_differ++;
        printf("step %d (block %d", i, sa->block);
        if (sb->block != sa->block) printf(" vs %d", sb->block);
        printf("): %d position%s differ in token or state", n_tok, n_tok == 1 ? "" : "s");
        if (n_prob && tol < 0) printf(", %d more only in probabilities", n_prob);
        if (n_prob && tol >= 0) printf(", %d more beyond the tolerance (first: pos %d: %s)", n_prob, why_pos, why);
        if (sched_differs) printf("; %s", sched);
        printf("\n");
        if (iv_differs) { // the cause of a fork's divergence: what was done by hand before this step
            printf("  interventions before step %d:\n", i);
            if (sa->n_interventions) print_interventions(a, sa, "    A ");
            else printf("    A: none\n");
            if (sb->n_interventions) print_interventions(b, sb, "    B ");
            else printf("    B: none\n");
        }
        for (int p = ha->prompt_len; p < ha->n_tokens; p++) {
            const dlm_pos_info *qa = &sa->pos[p], *qb = &sb->pos[p];
            if (qa->token == qb->token && qa->state == qb->state && qa->events == qb->events && qa->pinned == qb->pinned &&
                qa->intervened == qb->intervened)
                continue;
            char x[96], y[96];
            tok_text(a, qa->token, x, sizeof x);
            tok_text(b, qb->token, y, sizeof y);
            printf("  pos %4d  %-20s %-9s | %-20s %-9s", p, x, dlm_pos_state_name(qa->state), y, dlm_pos_state_name(qb->state));
            if (qa->events != qb->events) {
                printf("  events:");
                for (int bit = 0; bit < 5; bit++)
                    if ((qa->events ^ qb->events) & (1 << bit)) printf(" %s in %s", dlm_event_name(bit), qa->events & (1 << bit) ? "A" : "B");
            }
            for (int k = 0; k < DLM_IV_COUNT; k++)
                if ((qa->intervened ^ qb->intervened) & (1 << k)) printf("  user %s in %s", dlm_intervention_name(k), qa->intervened & (1 << k) ? "A" : "B");
            if (qa->pinned != qb->pinned) printf("  pinned in %s", qa->pinned ? "A" : "B");
            printf("\n");
        }
    }
    if (rc == 0) {
        if (steps_differ) printf("%d of %d common steps differ; first difference at step %d\n", steps_differ, n, first), differ = true;
        else if (differ) printf("the %d steps in common are identical\n", n);
        else if (tol >= 0) printf("identical: %d steps (probabilities within %g)\n", n, tol);
        else printf("identical: %d steps\n", n);
        rc = differ ? 1 : 0;
    }
    dlm_step_free(sa);
    dlm_step_free(sb);
    if (report_problem(a) | report_problem(b)) rc = rc ? rc : 1;
    dlm_trace_close(a);
    dlm_trace_close(b);
    return rc;
}

int cmd_trace(int argc, char **argv) {
    cli_opt opts[] = {{"step", "N", "dump: only step N (with every position)"},
                      {"json", NULL, "dump: one JSON object per line (header, then steps)"},
                      {"tolerance", "P", "diff: probabilities may differ by P (also compares candidates, soft inputs, counters)"},
                      {0}};
    cli_positional pos;
    const char *usage = "info FILE | dump FILE [--step N] [--json] | diff A B [--tolerance P]";
    int exit_status;
    if (!cli_begin("trace", usage, opts, argc, argv, &pos, &exit_status))
        return exit_status;
    long long step = -1;
    int rc = 2;
    if (pos.n < 1) cli_error("trace", "expected a subcommand: %s", usage);
    else if (strcmp(pos.items[0], "info") == 0 && pos.n == 2) rc = trace_info(pos.items[1]);
    else if (strcmp(pos.items[0], "dump") == 0 && pos.n == 2) {
        if (cli_get_int("trace", opts, "step", 0, INT32_MAX, -1, &step)) rc = trace_dump(pos.items[1], (int)step, cli_has(opts, "json"));
    } else if (strcmp(pos.items[0], "diff") == 0 && pos.n == 3) {
        double tol = -1;
        if (cli_get_double("trace", opts, "tolerance", 0, 1, -1, &tol)) rc = trace_diff(pos.items[1], pos.items[2], tol);
    }
    else cli_error("trace", "expected %s", usage);
    cli_free(opts, &pos);
    return rc;
}
