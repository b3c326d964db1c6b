// cmd_bench.c — `dlmscope bench`: forward-pass speed, with a reference measured in the same run.
//
// For each sequence length it times full forward passes (median of --repeat after a warm-up) with
// LM-head rows for every position and for one 32-token block, then the cached steps of a 32-token
// block in the middle of the sequence (prefix and dual KV caches), counts the FLOPs, and reports them
// against OpenBLAS sgemm measured at the model's own GEMM shapes in the same process: the ratio is
// the fraction of the machine's matrix-product peak the forward pass reaches (CPU backend only).
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "commands.h"
#include "engine/backend.h"
#include "engine/util.h"
#include "engine/session.h"
#include "engine/synth.h"
#include "record/recorder.h"
#include "record/trace_writer.h"
#include "replay/trace_reader.h"
#include "tui/tui.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// FLOPs of a pass that computes Lq of L positions (Lq = L: a full forward) and `rows` LM-head rows.
static double forward_flops(const dlm_config *c, int L, int Lq, int rows) {
    double qd = (double)(c->n_heads + 2 * c->n_kv_heads) * c->head_dim, od = (double)c->n_heads * c->head_dim;
    double per_layer = 2.0 * Lq * c->d_model * qd + 2.0 * Lq * od * c->d_model + 2.0 * Lq * c->d_model * 2 * c->d_ff +
                       2.0 * Lq * c->d_ff * c->d_model + 4.0 * Lq * (double)L * od;
    return per_layer * c->n_layers + 2.0 * rows * c->d_model * c->n_vocab;
}

// GFLOP/s of OpenBLAS sgemm for out(M,N) = x(M,K) W(N,K)^T: the best run after a warm-up, over at
// least 7 runs and 0.2 s, because a small GEMM's few runs can all land on a thread wake-up stall.
static double sgemm_gflops(int m, int n, int k) {
    float *x = dlm_xmalloc((size_t)m * k * sizeof *x), *w = dlm_xmalloc((size_t)n * k * sizeof *w),
          *o = dlm_xmalloc((size_t)m * n * sizeof *o);
    for (size_t i = 0; i < (size_t)m * k; i++) x[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < (size_t)n * k; i++) w[i] = (float)((i * 40503u) % 1000) * 1e-3f - 0.5f;
    double best = 1e30, start = dlm_now();
    for (int r = 0; r < 8 || (dlm_now() - start < 0.2 && r < 10000); r++) {
        double t = dlm_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, o, n);
        t = dlm_now() - t;
        if (r > 0 && t < best) best = t;
    }
    free(x);
    free(w);
    free(o);
    return 2.0 * m * n * k / best / 1e9;
}

// Median (and min) milliseconds of a pass over L tokens with LM-head rows [row0, row0 + n_rows).
// cache != none: a cached step of the block [row0, row0 + n_rows) after one refreshing pass.
static double time_forward(dlm_backend *be, int L, int row0, int n_rows, dlm_cache_mode cache, int warmup, int repeat,
                           double *min_ms) {
    const dlm_config *c = &be->model->cfg;
    int32_t *ids = dlm_xmalloc((size_t)L * sizeof *ids), *rows = dlm_xmalloc((size_t)n_rows * sizeof *rows);
    for (int i = 0; i < L; i++) ids[i] = (int32_t)((i * 7919u) % (unsigned)c->n_vocab);
    for (int i = 0; i < n_rows; i++) rows[i] = row0 + i;
    dlm_row_summary *sum = dlm_xcalloc((size_t)n_rows, sizeof *sum);
    dlm_forward_args fa = {.n_tokens = L, .ids = ids, .n_rows = n_rows, .rows = rows};
    dlm_sample_opts so = dlm_sample_opts_default();
    if (cache != DLM_CACHE_NONE) {
        fa.cache = cache, fa.active_start = row0, fa.active_end = row0 + n_rows, fa.cache_key = 1, fa.cache_refresh = true;
        if (dlm_backend_forward(be, &fa, &so, sum) != DLM_STATUS_OK) dlm_die("bench forward: %s", dlm_error_message());
        fa.cache_refresh = false;
    }
    double *t = dlm_xmalloc((size_t)repeat * sizeof *t);
    for (int r = -warmup; r < repeat; r++) {
        double t0 = dlm_now();
        if (dlm_backend_forward(be, &fa, &so, sum) != DLM_STATUS_OK) dlm_die("bench forward: %s", dlm_error_message());
        if (r >= 0) t[r] = (dlm_now() - t0) * 1e3;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    double med = t[repeat / 2];
    *min_ms = t[0];
    free(t);
    free(ids);
    free(rows);
    free(sum);
    return med;
}

// Whether `key` is one of the comma-separated names in `list`.
static bool pass_wanted(const char *list, const char *key) {
    size_t n = strlen(key);
    for (const char *p = list; *p;) {
        size_t m = strcspn(p, ",");
        if (m == n && strncmp(p, key, n) == 0) return true;
        p += m + (p[m] == ',');
    }
    return false;
}

// Recording cost: the same generation with and without a trace writer, per rule.
static void bench_recording(const dlm_model *model, dlm_backend *be, int gen, int repeat) {
    static const char *const specs[] = {"llada", "t2m", "evotoken"};
    printf("\nrecording (gen %d, block 32, prompt 16; median of %d runs)\n", gen, repeat);
    printf("%-9s %10s %10s %11s %8s %12s %12s\n", "rule", "ms/step", "+record", "write ms", "ratio", "bytes/step", "B/pos/step");
    int32_t prompt[16];
    for (int i = 0; i < 16; i++) prompt[i] = (int32_t)((i * 37 + 11) % (model->cfg.n_vocab - 2));
    char path[] = "/tmp/dlmscope-bench-trace.XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        dlm_rule_config rc;
        dlm_rule_parse(specs[k], &rc);
        char g[16];
        snprintf(g, sizeof g, "%d", gen);
        dlm_rule_set(&rc, "gen", g);
        double plain[64], rec[64], write_ms[64];
        long bytes = 0;
        int steps = 0, n_pos = 0;
        for (int r = 0; r < repeat && r < 64; r++) {
            for (int with = 0; with < 2; with++) {
                dlm_session *s = dlm_session_new(model, be, prompt, 16, &rc, NULL);
                if (!s) dlm_die("bench: %s", dlm_error_message());
                dlm_step *st = dlm_step_new(dlm_session_n_tokens(s));
                dlm_recorder *recorder = NULL;
                dlm_record_opts o = {.device = be->device};
                if (with && dlm_recorder_open(path, model, s, &o, &recorder) != DLM_STATUS_OK) dlm_die("bench: %s", dlm_error_message());
                double t0 = dlm_now(), wt = 0;
                steps = 0;
                while (!dlm_session_done(s)) {
                    dlm_session_step(s, st);
                    steps++;
                    if (recorder) {
                        double t1 = dlm_now();
                        if (dlm_recorder_step(recorder, s, st) != DLM_STATUS_OK) dlm_die("bench: %s", dlm_error_message());
                        wt += dlm_now() - t1;
                    }
                }
                double total = (dlm_now() - t0) * 1e3 / steps;
                if (recorder) {
                    dlm_recorder_close(recorder);
                    struct stat sb;
                    if (stat(path, &sb) == 0) bytes = (long)sb.st_size;
                    rec[r] = total;
                    write_ms[r] = wt * 1e3 / steps;
                } else {
                    plain[r] = total;
                }
                n_pos = dlm_session_n_tokens(s) - dlm_session_prompt_len(s);
                dlm_step_free(st);
                dlm_session_free(s);
            }
        }
        int n = repeat < 64 ? repeat : 64;
        qsort(plain, (size_t)n, sizeof *plain, cmp_double);
        qsort(rec, (size_t)n, sizeof *rec, cmp_double);
        qsort(write_ms, (size_t)n, sizeof *write_ms, cmp_double);
        double per_step = (double)bytes / steps;
        printf("%-9s %10.2f %10.2f %11.3f %7.3fx %12.0f %12.1f\n", specs[k], plain[n / 2], rec[n / 2], write_ms[n / 2],
               rec[n / 2] / plain[n / 2], per_step, per_step / n_pos);
    }
    remove(path);
}

// Viewer speed on a synthetic trace: STEPS steps over 1024 generation positions, shaped like a
// llada run (masks turning into tokens left to right, top-5 candidates everywhere).
static int bench_viewer(int steps) {
    const int P = 16, G = 1024, N = P + G, V = 32000, K = 5;
    char path[] = "/tmp/dlmscope-bench-viewer.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 2;
    close(fd);
    dlm_trace_header h = {0};
    h.version_major = DLM_TRACE_VERSION_MAJOR;
    snprintf(h.dlmscope_version, sizeof h.dlmscope_version, "bench");
    snprintf(h.model_name, sizeof h.model_name, "synthetic");
    h.n_vocab = V, h.mask_id = V - 1, h.eos_id = V - 2, h.id_width = 2;
    h.prompt_len = P, h.gen_len = G, h.n_tokens = N, h.parent_step = -1;
    h.prompt_ids = dlm_xmalloc(P * sizeof *h.prompt_ids);
    for (int i = 0; i < P; i++) h.prompt_ids[i] = i + 1;
    char spec[64];
    snprintf(spec, sizeof spec, "llada:gen=%d,block=%d,steps=%d", G, G, steps);
    dlm_rule_parse(spec, &h.rule);
    dlm_rule_finalize(&h.rule);
    dlm_rule_format(&h.rule, h.rule_spec, sizeof h.rule_spec);
    dlm_trace_writer *w;
    double t0 = dlm_now();
    if (dlm_trace_writer_open(path, &h, NULL, &w) != DLM_STATUS_OK) {
        cli_error("bench", "%s", dlm_error_message());
        return 2;
    }
    dlm_step *st = dlm_step_new(N);
    dlm_session_state state = {0};
    state.rule = h.rule, state.n_tokens = N, state.prompt_len = P, state.gen_len = G;
    state.tokens = dlm_xcalloc(N, sizeof *state.tokens);
    state.state = dlm_xcalloc(N, 1);
    state.hist_conf = dlm_xcalloc(N, sizeof(float));
    state.remask_count = dlm_xcalloc(N, sizeof(uint16_t));
    state.prev_p = dlm_xcalloc(N, sizeof(float));
    uint64_t x = 1;
    for (int s = 0; s < steps; s++) {
        st->step = s, st->block = 0, st->n_blocks = 1, st->block_start = P, st->block_end = N, st->step_in_block = s;
        st->n_tokens = N, st->prompt_len = P, st->gen_len = G, st->forward_ms = 1, st->done = s == steps - 1;
        int committed = (int)((long)G * (s + 1) / steps);
        for (int i = 0; i < N; i++) {
            dlm_pos_info *p = &st->pos[i];
            memset(p, 0, sizeof *p);
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            bool done = i < P + committed;
            p->token = p->prev_token = i < P ? i + 1 : done ? (int32_t)(x % 30000) : V - 1;
            p->state = i < P ? DLM_POS_PROMPT : done ? DLM_POS_DECODED : DLM_POS_MASK;
            if (i >= P) {
                p->has_dist = true, p->n_top = K, p->sampled = (int32_t)((x >> 8) % 30000);
                p->p_sampled = p->p_current = (float)((x >> 16) % 1000) / 1000.0f, p->entropy = 1.5f;
                for (int k = 0; k < K; k++) p->top_id[k] = (int32_t)((x >> (k * 4)) % 30000), p->top_p[k] = 0.5f / (k + 1);
            }
            state.tokens[i] = p->token, state.state[i] = p->state;
        }
        state.step = s + 1;
        if (dlm_trace_writer_append(w, st, &state) != DLM_STATUS_OK) {
            cli_error("bench", "%s", dlm_error_message());
            return 2;
        }
    }
    dlm_trace_writer_close(w);
    double t_write = dlm_now() - t0;
    struct stat sb;
    stat(path, &sb);
    t0 = dlm_now();
    dlm_trace *t;
    if (dlm_trace_open(path, &t) != DLM_STATUS_OK) {
        cli_error("bench", "%s", dlm_error_message());
        return 2;
    }
    double t_open = dlm_now() - t0;
    dlm_trace_close(t);
    double ms_frame, ms_frame_nocand, ms_seek;
    if (!tui_bench_render(path, 200, 60, 200, &ms_frame, &ms_frame_nocand, &ms_seek)) {
        cli_error("bench", "%s", dlm_error_message());
        return 2;
    }
    printf("viewer: synthetic trace of %d steps x %d positions, %.1f MB (written in %.1f s)\n", steps, G, sb.st_size / 1e6, t_write);
    printf("  open + index (one scan)      %8.1f ms\n", t_open * 1e3);
    printf("  seek to a random step        %8.3f ms (decode of one step record)\n", ms_seek);
    printf("  render a frame, 200x60       %8.3f ms (canvas, candidates grid, inspector, heat grid rows for the visible steps)\n", ms_frame);
    printf("  the same without candidates  %8.3f ms (interleaved with the above)\n", ms_frame_nocand);
    remove(path);
    dlm_step_free(st);
    dlm_session_state_free(&state);
    dlm_trace_header_free(&h);
    return 0;
}

int cmd_bench(int argc, char **argv) {
    cli_opt opts[] = {
        {"model", "MODEL", "benchmark this model (folder, bundled NAME or ORG/NAME[@REV])"},
        {"shape", "NAME", "random weights of a preset shape (dlmscope synth --help lists them; default small)"},
        {"tokens", "LIST", "sequence lengths, comma separated (default 128,512)"},
        {"repeat", "N", "timed runs per case, after 2 warm-up runs (default 10)"},
        {"threads", "N", "CPU threads, fixed (default: adaptive, up to the CPUs this process may run on; idle threads sleep)"},
        {"warmup", "N", "untimed runs before each case (default 2)"},
        {"passes", "LIST", "which passes: full (all rows), rows (a 32-row block), prefix, dual (default all four)"},
        {"device", "NAME", "cpu, cuda or auto (default auto)"},
        {"recording", "GEN", "also time whole generations of GEN tokens with and without a trace writer"},
        {"viewer", "STEPS", "only the viewer: seek and frame times on a synthetic STEPS x 1024 trace"},
        {0}};
    cli_positional pos;
    int exit_status;
    if (!cli_begin("bench", "[--model MODEL | --shape NAME] [--tokens 128,512] [options]", opts, argc, argv, &pos, &exit_status))
        return exit_status;
    int status = 2;
    char *tmp = NULL, *model_dir = NULL;
    dlm_model *model = NULL;
    dlm_backend *be = NULL;
    long long repeat, threads, warmup;
    if (cli_has(opts, "viewer")) {
        long long vs;
        if (!cli_get_int("bench", opts, "viewer", 1, 1000000, 10000, &vs)) goto done;
        status = bench_viewer((int)vs);
        goto done;
    }
    if (!cli_get_int("bench", opts, "repeat", 1, 10000, 10, &repeat) ||
        !cli_get_int("bench", opts, "threads", 1, 1024, 0, &threads) ||
        !cli_get_int("bench", opts, "warmup", 0, 1000, 2, &warmup))
        goto done;
    const char *pass_list = cli_has(opts, "passes") ? cli_get(opts, "passes") : "full,rows,prefix,dual";
    for (const char *p = pass_list; *p;) {
        size_t n = strcspn(p, ",");
        if (!((n == 4 && (!strncmp(p, "full", 4) || !strncmp(p, "rows", 4) || !strncmp(p, "dual", 4))) ||
              (n == 6 && !strncmp(p, "prefix", 6)))) {
            cli_error("bench", "--passes: '%.*s' is not one of full, rows, prefix, dual", (int)n, p);
            goto done;
        }
        p += n + (p[n] == ',');
    }
    const char *dir = cli_get(opts, "model");
    if (!dir) {
        const char *want = cli_has(opts, "shape") ? cli_get(opts, "shape") : "small";
        dlm_synth_spec spec;
        if (!dlm_synth_preset(want, &spec)) {
            cli_error("bench", "--shape '%s': expected one of %s", want, dlm_synth_preset_names());
            goto done;
        }
        char tmpl[] = "/tmp/dlmscope-bench.XXXXXX";
        if (!mkdtemp(tmpl)) {
            cli_error("bench", "cannot create a temporary folder for the random checkpoint");
            goto done;
        }
        tmp = dlm_xstrdup(tmpl);
        if (dlm_synth_write(tmp, &spec) != DLM_STATUS_OK) {
            cli_error("bench", "%s", dlm_error_message());
            goto done;
        }
        printf("shape %s: random bf16 weights written to %s\n", want, tmp);
        dir = tmp;
    } else if (cli_has(opts, "shape")) {
        cli_error("bench", "give --model or --shape, not both");
        goto done;
    }
    if (!tmp && !(dir = model_dir = cli_model_folder("bench", "model", dir))) goto done;
    model = dlm_model_load(dir, NULL);
    if (!model) {
        cli_error("bench", "%s", dlm_error_message());
        goto done;
    }
    be = dlm_backend_new(model, cli_has(opts, "device") ? cli_get(opts, "device") : "auto", (int)threads);
    if (!be) {
        cli_error("bench", "%s", dlm_error_message());
        goto done;
    }
    const dlm_config *c = &model->cfg;
    const bool on_cpu = strncmp(be->device, "cpu", 3) == 0;
    printf("model: d=%d heads=%d/%d layers=%d ff=%d vocab=%d, %.2f M parameters; device %s\n", c->d_model, c->n_heads,
           c->n_kv_heads, c->n_layers, c->d_ff, c->n_vocab, model->n_params / 1e6, be->device);
    printf("%7s %-14s %10s %10s %9s %9s %12s %8s\n", "tokens", "pass", "median ms", "min ms", "vs full", "GFLOP/s",
           "sgemm GFLOP/s", "of peak");
    char *list = dlm_xstrdup(cli_has(opts, "tokens") ? cli_get(opts, "tokens") : "128,512"), *save = NULL;
    status = 0;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long long L;
        if (!dlm_parse_int(tok, 1, c->max_seq_len, &L)) {
            cli_error("bench", "--tokens: '%s' is not a length in [1, %d]", tok, c->max_seq_len);
            status = 2;
            break;
        }
        // Reference: sgemm at this model's two largest GEMM shapes with M = L, flop-weighted. A CPU
        // reference says nothing about a GPU: other devices print no peak columns.
        double peak = 0;
        if (on_cpu) {
            double g1 = sgemm_gflops((int)L, 2 * c->d_ff, c->d_model), g2 = sgemm_gflops((int)L, c->d_model, c->d_ff);
            peak = (2.0 * c->d_ff * 2 + 1.0 * c->d_ff * 2) / (2.0 * c->d_ff * 2 / g1 + 1.0 * c->d_ff * 2 / g2);
        }
        // A full pass with every LM-head row, one with a 32-row block's, then the cached block steps
        // (Fast-dLLM prefix and dual caches) for the block in the middle of the sequence.
        const int B = L > 32 ? 32 : (int)L, b0 = ((int)L - B) / 2;
        const struct {
            const char *key, *name;
            int rows;
            dlm_cache_mode cache;
        } passes[] = {{"full", "full, all rows", (int)L, DLM_CACHE_NONE}, {"rows", "full, 32 rows", B, DLM_CACHE_NONE},
                      {"prefix", "prefix cache", B, DLM_CACHE_PREFIX}, {"dual", "dual cache", B, DLM_CACHE_DUAL}};
        double full_ms = 0;
        for (size_t k = 0; k < sizeof passes / sizeof passes[0]; k++) {
            if ((k == 1 && B == L) || !pass_wanted(pass_list, passes[k].key)) continue;
            int row0 = passes[k].rows == L ? 0 : b0;
            double min_ms, ms = time_forward(be, (int)L, row0, passes[k].rows, passes[k].cache, (int)warmup, (int)repeat, &min_ms);
            if (k <= 1) full_ms = ms; // the 32-row full pass when it runs, else the all-rows one
            int Lq = passes[k].cache == DLM_CACHE_DUAL ? B : passes[k].cache == DLM_CACHE_PREFIX ? (int)L - b0 : (int)L;
            double gf = forward_flops(c, (int)L, Lq, passes[k].rows) / (ms * 1e-3) / 1e9;
            char vs[16] = "";
            if (k >= 2 && full_ms > 0) snprintf(vs, sizeof vs, "%.2fx", full_ms / ms);
            if (on_cpu)
                printf("%7lld %-14s %10.2f %10.2f %9s %9.1f %12.1f %7.0f%%\n", L, passes[k].name, ms, min_ms, vs, gf, peak,
                       100.0 * gf / peak);
            else
                printf("%7lld %-14s %10.2f %10.2f %9s %9.1f %12s %8s\n", L, passes[k].name, ms, min_ms, vs, gf, "-", "-");
        }
    }
    free(list);
    long long rec_gen;
    if (status == 0 && cli_has(opts, "recording")) {
        if (!cli_get_int("bench", opts, "recording", 32, 1 << 16, 128, &rec_gen) || rec_gen % 32) {
            cli_error("bench", "--recording: expected a multiple of 32");
            status = 2;
        } else {
            bench_recording(model, be, (int)rec_gen, (int)(repeat < 5 ? repeat : 5));
        }
    }
done:
    dlm_backend_free(be);
    dlm_model_free(model);
    free(model_dir);
    if (tmp) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0) fprintf(stderr, "dlmscope bench: could not remove %s\n", tmp);
        free(tmp);
    }
    cli_free(opts, &pos);
    return status;
}
