// app.c — the visualizer's event loop and actions. Keys map to actions through the binding table;
// actions change state and mark the screen dirty; draw.c renders. The engine runs in a worker
// thread (live.c), so the loop never blocks on a forward pass.
#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "app.h"
#include "engine/util.h"

static volatile sig_atomic_t sig_quit, sig_winch, sig_tstp; // sig_quit: the signal that asked to quit
static tui_app *g_app; // for the die callback: the terminal must be restored on a fatal error
static volatile sig_atomic_t screen_active;

// What a dying process can still do for the terminal from a signal handler (async-signal-safe:
// write and tcsetattr only): the tty modes saved before curses took it, and the escape sequences
// that leave the alternate screen, show the cursor and stop mouse reporting, prepared beforehand.
static struct termios saved_tio;
static bool have_tio;
static char reset_seq[256];
static size_t reset_len;

static void emergency_restore(void) {
    if (!screen_active) return;
    screen_active = 0;
    ssize_t r = write(STDOUT_FILENO, reset_seq, reset_len);
    (void)r;
    if (have_tio) tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

static bool is_quit_signal(int sig) { return sig != SIGWINCH && sig != SIGTSTP; }

static void on_signal(int sig) {
    if (sig == SIGWINCH) sig_winch = 1;
    else if (sig == SIGTSTP) sig_tstp = 1;
    else if (sig_quit && is_quit_signal(sig)) { // asked twice: the loop is not answering, so go now
        emergency_restore();
        _exit(128 + sig);
    } else sig_quit = sig;
}

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
static struct sigaction crash_old[sizeof crash_signals / sizeof crash_signals[0]];

static void on_crash(int sig) {
    emergency_restore();
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
        if (crash_signals[i] == sig) sigaction(sig, &crash_old[i], NULL); // a sanitizer's handler, or the default
    raise(sig); // blocked while this handler runs: delivered to that handler as soon as it returns
}

// Before curses takes the terminal: remember its modes and restore them if the process crashes.
static void catch_crashes(void) {
    have_tio = tcgetattr(STDIN_FILENO, &saved_tio) == 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++) sigaction(crash_signals[i], &sa, &crash_old[i]);
}

// After initscr: the sequences emergency_restore writes, from this terminal's terminfo.
static void prepare_reset(void) {
    const char *caps[] = {"sgr0", "cnorm", "rmcup"};
    reset_len = 0;
    const char *mouse_off = "\033[?1006l\033[?1000l";
    memcpy(reset_seq, mouse_off, strlen(mouse_off));
    reset_len = strlen(mouse_off);
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        const char *c = tigetstr((char *)caps[i]);
        if (c && c != (char *)-1 && reset_len + strlen(c) + 3 < sizeof reset_seq) memcpy(reset_seq + reset_len, c, strlen(c)), reset_len += strlen(c);
    }
    memcpy(reset_seq + reset_len, "\r\n", 2);
    reset_len += 2;
}

// Mouse reporting in the X10 encoding (ESC [ M b x y). Not SGR (1006): ncurses' xterm entries
// declare kmous=\E[< and libtermkey 0.22 then reads an SGR report as an X10 one, so a click
// became a jump to a step. X10 reaches column 223, wide enough for the grids' cells.
static void mouse_enable(bool on) {
    fputs(on ? "\033[?1000h" : "\033[?1006l\033[?1000l", stdout);
    fflush(stdout);
}

static void restore_terminal(void) {
    if (!screen_active) return;
    screen_active = false;
    if (g_app && !g_app->opts.no_mouse) mouse_enable(false);
    if (g_app && g_app->tk) termkey_stop(g_app->tk);
    endwin();
}

static void message(tui_app *app, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void message(tui_app *app, bool error, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(app->message, sizeof app->message, fmt, ap);
    va_end(ap);
    app->message_error = error;
    app->message_until = dlm_now() + (error ? 6.0 : 3.0);
}

void tui_app_fail(tui_app *app, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("dlmscope: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    app->quit = true;
}

// ---- timelines -----------------------------------------------------------------------------------

static void timeline_free(tui_timeline *t) {
    dlm_player_free(t->player);
    dlm_trace_close(t->trace);
    tui_live_free(t->live); // after the reader: the live session may delete a temporary file
    for (int i = 0; i < t->cap_rows; i++) free(t->rows ? t->rows[i] : NULL);
    free(t->rows);
    dlm_step_free(t->scratch);
    memset(t, 0, sizeof *t);
}

static dlm_status timeline_open(tui_timeline *t, const char *path, tui_live *live) {
    memset(t, 0, sizeof *t);
    dlm_status st = dlm_trace_open(path, &t->trace);
    if (st != DLM_STATUS_OK) {
        tui_live_free(live);
        return st;
    }
    t->player = dlm_player_new(t->trace);
    t->live = live;
    const dlm_trace_header *h = dlm_trace_header_of(t->trace);
    snprintf(t->label, sizeof t->label, "%s", live ? dlm_rule_name(tui_live_rule(live)->kind) : h->rule_spec);
    return DLM_STATUS_OK;
}

static void timeline_refresh(tui_timeline *t) {
    dlm_trace_refresh(t->trace);
}

static tui_live_config live_config(const tui_app *app, const char *record) {
    tui_live_config c = {.model = app->opts.model,
                         .backend = app->opts.backend,
                         .tok = app->opts.tok,
                         .tok_path = app->opts.tok_path,
                         .prompt_text = app->prompt_text,
                         .block_causal = app->opts.block_causal,
                         .record = record};
    return c;
}

static int cur_step(const tui_app *app) { return dlm_player_index(app->a.player); }

static const dlm_trace_header *hdr(const tui_app *app) { return dlm_trace_header_of(app->a.trace); }

static void clamp_sel(tui_app *app) {
    const dlm_trace_header *h = hdr(app);
    if (app->sel < h->prompt_len) app->sel = h->prompt_len;
    if (app->sel >= h->n_tokens) app->sel = h->n_tokens - 1;
}

// ---- demo captions ------------------------------------------------------------------------------------

static void make_caption(tui_app *app) {
    const dlm_step *st = dlm_player_step(app->a.player);
    app->caption[0] = 0;
    if (!st) return;
    char *c = app->caption;
    size_t n = sizeof app->caption;
    int len = snprintf(c, n, "step %d, block %d: ", st->step, st->block);
    int shown = 0;
    for (int i = st->prompt_len; i < st->n_tokens && len < (int)n - 40 && shown < 4; i++) {
        const dlm_pos_info *p = &st->pos[i];
        tui_token_text a, b;
        if (p->events & DLM_EVENT_REMASK) {
            tui_token_display(app, app->a.trace, p->prev_token, &a);
            len += snprintf(c + len, n - (size_t)len, "remasked '%s' (p %.2f)  ", a.text, p->p_current);
        } else if (p->events & DLM_EVENT_EDIT) {
            tui_token_display(app, app->a.trace, p->prev_token, &a);
            tui_token_display(app, app->a.trace, p->token, &b);
            len += snprintf(c + len, n - (size_t)len, "edited '%s' -> '%s'  ", a.text, b.text);
        } else if (p->events & DLM_EVENT_COMMIT) {
            tui_token_display(app, app->a.trace, p->token, &a);
            len += snprintf(c + len, n - (size_t)len, "committed '%s' (%.2f)  ", a.text, p->p_sampled);
        } else continue;
        shown++;
    }
    if (!shown && st->n_transitions) snprintf(c + len, n - (size_t)len, "%d soft-state transitions", st->n_transitions);
    else if (!shown) snprintf(c + len, n - (size_t)len, "no change");
    if (st->n_stuck) snprintf(app->caption + strlen(app->caption), n - strlen(app->caption), "  %d stuck", st->n_stuck);
    if (st->done) snprintf(app->caption + strlen(app->caption), n - strlen(app->caption), "  -- done");
}

// ---- stepping -----------------------------------------------------------------------------------------

static void seek(tui_app *app, int step) {
    int n = dlm_trace_n_steps(app->a.trace);
    if (n == 0) return;
    if (dlm_player_seek(app->a.player, step) != DLM_STATUS_OK) message(app, true, "%s", dlm_error_message());
    if (app->compare && app->b.trace) { // lockstep
        int nb = dlm_trace_n_steps(app->b.trace), s = cur_step(app);
        if (s >= nb && app->b.live && !tui_live_done(app->b.live)) tui_live_request(app->b.live);
        if (nb) dlm_player_seek(app->b.player, s < nb ? s : nb - 1);
    }
    if (app->demo) make_caption(app);
}

// After a jump, select the first generated position where the step did one of event_mask
// (0: the first stuck position), so the inspector shows what the jump was for.
static void select_first(tui_app *app, uint32_t event_mask) {
    const dlm_step *st = dlm_player_step(app->a.player);
    if (!st) return;
    for (int i = st->prompt_len; i < st->n_tokens; i++)
        if (event_mask ? (st->pos[i].events & event_mask) != 0 : st->pos[i].stuck) {
            app->sel = i;
            return;
        }
}

// Forward one step: the next recorded one, or (live) a new one from the engine.
static void step_forward(tui_app *app) {
    int n = dlm_trace_n_steps(app->a.trace), cur = cur_step(app);
    if (cur + 1 < n) {
        seek(app, cur + 1);
        return;
    }
    if (app->a.live) {
        if (tui_live_done(app->a.live)) {
            app->playing = false;
            message(app, false, "generation finished (%d steps)", n);
        } else {
            // Keys pressed while a step runs are queued, not lost.
            if (!tui_live_request(app->a.live) && !app->playing && app->steps_wanted < 1000) app->steps_wanted++;
            app->follow = true;
        }
        return;
    }
    app->playing = false;
    if (app->demo) make_caption(app);
    else message(app, false, "last step (%d)", n);
}

// ---- forks (live, or replay with a model) --------------------------------------------------------------

static void fork_to(tui_app *app, const dlm_rule_config *rule) {
    if (!app->opts.model) {
        message(app, true, "switching rules needs the model: this is a replay (dlmscope view TRACE --model DIR)");
        return;
    }
    int s = cur_step(app);
    if (s < 0) {
        message(app, true, "run a step first");
        return;
    }
    if (app->a.live) {
        tui_live_cancel(app->a.live);
        tui_live_wait(app->a.live);
    }
    tui_live_config cfg = live_config(app, NULL);
    tui_live *l = tui_live_fork(&cfg, app->a.trace, s, rule);
    if (!l) {
        message(app, true, "fork: %s", dlm_error_message());
        return;
    }
    tui_timeline nt;
    if (timeline_open(&nt, tui_live_path(l), l) != DLM_STATUS_OK) {
        message(app, true, "fork: %s", dlm_error_message());
        return;
    }
    timeline_free(&app->b); // the previous comparison goes; the parent becomes B
    app->b = app->a;
    snprintf(app->b.label, sizeof app->b.label, "parent: %s", dlm_rule_name(dlm_trace_header_of(app->b.trace)->rule.kind));
    app->a = nt;
    snprintf(app->a.label, sizeof app->a.label, "fork after step %d: %s", s, dlm_rule_name(rule->kind));
    dlm_player_seek(app->a.player, s);
    app->follow = true;
    char spec[256];
    dlm_rule_format(rule, spec, sizeof spec);
    message(app, false, "forked after step %d: %s  (c compares with the parent)", s, spec);
}

// The rule the next step from here runs under: at the newest step of a live session that is the
// session's rule (a fork pending at this step included), else the rule the current step ran.
static dlm_rule_config current_rule(const tui_app *app) {
    dlm_rule_config r;
    int s = cur_step(app);
    if (app->a.live && s == dlm_trace_n_steps(app->a.trace) - 1) {
        r = *tui_live_rule(app->a.live);
        return r;
    }
    const char *spec = s >= 0 ? dlm_trace_rule_spec(app->a.trace, dlm_trace_info(app->a.trace, s)->rule) : hdr(app)->rule_spec;
    if (dlm_rule_parse(spec[0] ? spec : hdr(app)->rule_spec, &r) != DLM_STATUS_OK) r = hdr(app)->rule;
    dlm_rule_finalize(&r);
    return r;
}

// A rule of another kind that keeps the canvas, seed, temperature and shared thresholds.
static dlm_rule_config switch_kind(const dlm_rule_config *from, dlm_rule_kind kind) {
    dlm_rule_config r;
    dlm_rule_defaults(kind, &r);
    r.gen = from->gen, r.block = from->block, r.seed = from->seed, r.top_k = from->top_k;
    r.set = 1ull << DLM_PARAM_gen | 1ull << DLM_PARAM_block;
    if ((kind == DLM_RULE_T2T || kind == DLM_RULE_T2M) && (from->kind == DLM_RULE_T2T || from->kind == DLM_RULE_T2M))
        r.mode = from->mode, r.tau = from->tau, r.max_post = from->max_post, r.eos_stop = from->eos_stop,
        r.set |= 1ull << DLM_PARAM_tau;
    if (kind == DLM_RULE_LLADA || kind == DLM_RULE_EVOTOKEN) {
        // keep the step budget a valid multiple of the blocks
        int nb = r.gen / r.block;
        r.steps = kind == DLM_RULE_EVOTOKEN ? (r.gen / 2 / nb) * nb : r.gen;
        if (r.steps < nb) r.steps = nb;
        r.set |= 1ull << DLM_PARAM_steps;
    }
    dlm_rule_finalize(&r);
    return r;
}

static void start_compare(tui_app *app) {
    if (app->b.trace) {
        app->compare = !app->compare;
        if (app->compare) seek(app, cur_step(app));
        return;
    }
    if (!app->a.live) {
        message(app, true, "nothing to compare: fork with t / v / r first, or use dlmscope view A --compare B");
        return;
    }
    // A counterpart run from the same prompt and seed, in lockstep.
    dlm_rule_config r = current_rule(app);
    dlm_rule_kind other = r.kind == DLM_RULE_T2T ? DLM_RULE_T2M : r.kind == DLM_RULE_T2M ? DLM_RULE_T2T
                        : r.kind == DLM_RULE_EVOTOKEN ? DLM_RULE_LLADA : DLM_RULE_EVOTOKEN;
    dlm_rule_config rb = switch_kind(&r, other);
    tui_live_config cfg = live_config(app, NULL);
    tui_live *l = tui_live_new(&cfg, app->prompt_ids, app->n_prompt, &rb);
    if (!l || timeline_open(&app->b, tui_live_path(l), l) != DLM_STATUS_OK) {
        message(app, true, "compare: %s", dlm_error_message());
        return;
    }
    snprintf(app->a.label, sizeof app->a.label, "A: %s", dlm_rule_name(r.kind));
    snprintf(app->b.label, sizeof app->b.label, "B: %s (same prompt and seed)", dlm_rule_name(other));
    app->compare = true;
    seek(app, cur_step(app));
}

static void restart_with_prompt(tui_app *app, const char *text) {
    if (!app->opts.model || !app->opts.tok) {
        message(app, true, "a new prompt needs a live model with a tokenizer");
        return;
    }
    dlm_buf b = {0};
    int32_t *ids;
    int n;
    if (dlm_tokenizer_chat_prompt(app->opts.tok, text, &b) != DLM_STATUS_OK ||
        dlm_tokenizer_encode(app->opts.tok, b.data, b.len, &ids, &n) != DLM_STATUS_OK) {
        message(app, true, "prompt: %s", dlm_error_message());
        dlm_buf_free(&b);
        return;
    }
    free(app->prompt_text);
    app->prompt_text = b.data;
    dlm_rule_config r = current_rule(app);
    tui_live_config cfg = live_config(app, app->opts.record);
    tui_live *l = tui_live_new(&cfg, ids, n, &r);
    if (!l) {
        message(app, true, "prompt: %s", dlm_error_message());
        free(ids);
        return;
    }
    free(app->prompt_ids);
    app->prompt_ids = ids;
    app->n_prompt = n;
    timeline_free(&app->a);
    timeline_free(&app->b);
    app->compare = false;
    if (timeline_open(&app->a, tui_live_path(l), l) != DLM_STATUS_OK) {
        message(app, true, "%s", dlm_error_message());
        app->quit = true;
        return;
    }
    app->sel = hdr(app)->prompt_len;
    app->canvas_top = app->heat_top = app->heat_left = 0;
    app->playing = true;
    app->next_tick = 0;
}

// ---- the params panel ------------------------------------------------------------------------------------

static int param_at_row(const dlm_rule_config *r, int row) {
    int k = 0;
    for (int p = 0; p < DLM_PARAM_COUNT; p++) {
        if (!dlm_param_applies(p, r->kind) || p == DLM_PARAM_gen || p == DLM_PARAM_block) continue;
        if (++k == row) return p;
    }
    return -1;
}

static void param_adjust(tui_app *app, int dir) {
    dlm_rule_config *r = &app->param_rule;
    if (app->param_sel == 0) {
        *r = switch_kind(r, (dlm_rule_kind)((r->kind + DLM_RULE_COUNT + dir) % DLM_RULE_COUNT));
        return;
    }
    int p = param_at_row(r, app->param_sel);
    if (p < 0) return;
    char v[64], nv[64];
    dlm_param_format(r, p, v, sizeof v);
    int n;
    const char *const *vals = dlm_param_values(p, &n);
    if (vals) {
        int cur = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(vals[i], v) == 0) cur = i;
        snprintf(nv, sizeof nv, "%s", vals[(cur + n + dir) % n]);
    } else if (strchr(v, '.') || p == DLM_PARAM_tau || p == DLM_PARAM_tau_edit || p == DLM_PARAM_tau_remask ||
               p == DLM_PARAM_alpha || p == DLM_PARAM_rho_max || p == DLM_PARAM_temperature || p == DLM_PARAM_factor ||
               p == DLM_PARAM_stuck_eps || p == DLM_PARAM_stuck_tau) {
        double step = p == DLM_PARAM_stuck_eps ? 0.01 : p == DLM_PARAM_temperature ? 0.1 : 0.05;
        snprintf(nv, sizeof nv, "%.4g", atof(v) + dir * step);
    } else {
        snprintf(nv, sizeof nv, "%lld", atoll(v) + dir * (p == DLM_PARAM_steps ? r->gen / r->block : 1));
    }
    dlm_rule_config trial = *r;
    if (dlm_rule_set(&trial, dlm_param_name(p), nv) == DLM_STATUS_OK && dlm_rule_finalize(&trial) == DLM_STATUS_OK) *r = trial;
    else message(app, true, "%s", dlm_error_message());
}

// ---- actions ------------------------------------------------------------------------------------------------

static void input_set(tui_app *app, const char *text);

static void search_move(tui_app *app, int dir) {
    const dlm_step *st = dlm_player_step(app->a.player);
    if (!st || !app->search[0]) return;
    const dlm_trace_header *h = hdr(app);
    int G = h->n_tokens - h->prompt_len;
    unsigned char *starts = dlm_xmalloc((size_t)G + 1);
    int found = tui_step_search(app, &app->a, st, starts, NULL);
    for (int k = 1; found && k <= G; k++) {
        int g = ((app->sel - h->prompt_len + dir * k) % G + G) % G;
        if (starts[g]) {
            app->sel = h->prompt_len + g;
            break;
        }
    }
    free(starts);
    if (!found) message(app, true, "'%s' not found at step %d", app->search, cur_step(app));
    else if (found > 1) message(app, false, "'%s': %d matches (n next, N previous)", app->search, found);
}

static void do_action(tui_app *app, tui_action a, int arg) {
    int n = dlm_trace_n_steps(app->a.trace), cur = cur_step(app);
    int found;
    switch (a) {
    case TUI_ACTION_QUIT: app->quit = true; break;
    case TUI_ACTION_HELP: app->show_help = !app->show_help; break;
    case TUI_ACTION_PLAY:
        app->playing = !app->playing;
        app->next_tick = 0;
        if (app->playing && cur == n - 1 && !app->a.live) seek(app, 0); // replay from the start
        break;
    case TUI_ACTION_STEP_FWD: app->playing = false; step_forward(app); break;
    case TUI_ACTION_STEP_BACK:
        app->playing = false;
        if (cur > 0) seek(app, cur - 1);
        break;
    case TUI_ACTION_STEP_FWD10: seek(app, cur + 10); break;
    case TUI_ACTION_STEP_BACK10: seek(app, cur - 10); break;
    case TUI_ACTION_FIRST: seek(app, 0); break;
    case TUI_ACTION_LAST: seek(app, n - 1); break;
    case TUI_ACTION_JUMP: seek(app, n * arg / 10); break;
    case TUI_ACTION_PREV_BLOCK:
    case TUI_ACTION_NEXT_BLOCK: {
        const dlm_step *st = dlm_player_step(app->a.player);
        if (!st) break;
        int b = st->block + (a == TUI_ACTION_NEXT_BLOCK ? 1 : st->step_in_block == 0 ? -1 : 0);
        int s = dlm_player_block_start(app->a.player, b);
        if (s < 0) message(app, false, "no block %d yet", b);
        else seek(app, s);
        break;
    }
    case TUI_ACTION_NEXT_EVENT:
    case TUI_ACTION_PREV_EVENT:
        found = dlm_player_next_event(app->a.player, app->sel, a == TUI_ACTION_NEXT_EVENT ? 1 : -1);
        if (found < 0) message(app, false, "nothing happens at position %d %s", app->sel, a == TUI_ACTION_NEXT_EVENT ? "later" : "earlier");
        else seek(app, found);
        break;
    case TUI_ACTION_NEXT_CHANGE:
    case TUI_ACTION_PREV_CHANGE:
        found = dlm_player_next_kind(app->a.player, DLM_EVENT_EDIT | DLM_EVENT_REMASK, a == TUI_ACTION_NEXT_CHANGE ? 1 : -1);
        if (found < 0) message(app, false, "no edit or remask %s", a == TUI_ACTION_NEXT_CHANGE ? "later" : "earlier");
        else seek(app, found), select_first(app, DLM_EVENT_EDIT | DLM_EVENT_REMASK);
        break;
    case TUI_ACTION_NEXT_STUCK:
    case TUI_ACTION_PREV_STUCK:
        found = dlm_player_next_stuck(app->a.player, a == TUI_ACTION_NEXT_STUCK ? 1 : -1);
        if (found < 0) message(app, false, "no stuck token %s", a == TUI_ACTION_NEXT_STUCK ? "later" : "earlier");
        else seek(app, found), select_first(app, 0);
        break;
    case TUI_ACTION_GOTO: app->input = INPUT_GOTO, input_set(app, ""); break;
    case TUI_ACTION_FASTER: app->interval_ms = app->interval_ms > 20 ? app->interval_ms * 2 / 3 : 20; break;
    case TUI_ACTION_SLOWER: app->interval_ms = app->interval_ms < 4000 ? app->interval_ms * 3 / 2 : 4000; break;
    case TUI_ACTION_LEFT:
        app->sel--;
        break;
    case TUI_ACTION_RIGHT:
        app->sel++;
        break;
    case TUI_ACTION_UP:
    case TUI_ACTION_DOWN:
        if (app->focus == FOCUS_HEAT) {
            seek(app, cur + (a == TUI_ACTION_DOWN ? 1 : -1));
        } else { // the position on the neighbouring line nearest in order
            int line = tui_canvas_line_of(app, app->sel), target = line + (a == TUI_ACTION_DOWN ? 1 : -1);
            const dlm_trace_header *h = hdr(app);
            int best = app->sel;
            for (int i = h->prompt_len; i < h->n_tokens; i++)
                if (tui_canvas_line_of(app, i) == target) {
                    best = i;
                    if (a == TUI_ACTION_UP || i >= app->sel + 1) break;
                }
            app->sel = best;
        }
        break;
    case TUI_ACTION_FOCUS: app->focus = app->focus == FOCUS_CANVAS ? FOCUS_HEAT : FOCUS_CANVAS; break;
    case TUI_ACTION_METRIC: app->metric = (tui_metric)((app->metric + 1) % METRIC_COUNT); break;
    case TUI_ACTION_SEARCH: app->input = INPUT_SEARCH, input_set(app, ""); break;
    case TUI_ACTION_SEARCH_NEXT: search_move(app, 1); break;
    case TUI_ACTION_SEARCH_PREV: search_move(app, -1); break;
    case TUI_ACTION_TOGGLE_T2X: {
        dlm_rule_config r = current_rule(app), nr = switch_kind(&r, r.kind == DLM_RULE_T2M ? DLM_RULE_T2T : DLM_RULE_T2M);
        fork_to(app, &nr);
        break;
    }
    case TUI_ACTION_TOGGLE_EVO: {
        dlm_rule_config r = current_rule(app), nr = switch_kind(&r, r.kind == DLM_RULE_EVOTOKEN ? DLM_RULE_LLADA : DLM_RULE_EVOTOKEN);
        fork_to(app, &nr);
        break;
    }
    case TUI_ACTION_NEXT_RULE: {
        dlm_rule_config r = current_rule(app), nr = switch_kind(&r, (dlm_rule_kind)((r.kind + 1) % DLM_RULE_COUNT));
        fork_to(app, &nr);
        break;
    }
    case TUI_ACTION_PARAMS:
        app->show_params = true;
        app->param_rule = current_rule(app);
        app->param_sel = 0;
        break;
    case TUI_ACTION_COMPARE: start_compare(app); break;
    case TUI_ACTION_DEMO:
        app->demo = !app->demo;
        app->playing = app->demo;
        if (app->demo) {
            app->interval_ms = 700;
            if (cur == n - 1 && !app->a.live) seek(app, 0);
            make_caption(app);
        }
        break;
    case TUI_ACTION_INSPECTOR: app->lopts.inspector = !app->lopts.inspector; break;
    case TUI_ACTION_HEAT: app->lopts.heat = !app->lopts.heat; break;
    case TUI_ACTION_CAND: app->lopts.cand = !app->lopts.cand; break;
    case TUI_ACTION_PROMPT:
        if (!app->a.live) {
            message(app, true, "a new prompt needs a live session (dlmscope --model DIR)");
            break;
        }
        app->input = INPUT_PROMPT;
        // The next sample prompt: not the one on screen now.
        for (int k = 0; k < app->n_prompts && app->prompt_text && strstr(app->prompt_text, app->prompts[app->prompt_idx % app->n_prompts]); k++)
            app->prompt_idx++;
        input_set(app, app->n_prompts ? app->prompts[app->prompt_idx++ % app->n_prompts] : "");
        break;
    case TUI_ACTION_REDRAW: clearok(curscr, TRUE); break;
    case TUI_ACTION_CANCEL:
        app->playing = false;
        app->demo = false;
        app->steps_wanted = 0;
        if (app->a.live && tui_live_busy(app->a.live)) {
            tui_live_cancel(app->a.live);
            message(app, false, "cancelled the running step");
        }
        break;
    default: break;
    }
    clamp_sel(app);
}

// ---- input -----------------------------------------------------------------------------------------------

static void commit_input(tui_app *app) {
    tui_input in = app->input;
    app->input = INPUT_NONE;
    if (in == INPUT_SEARCH) {
        snprintf(app->search, sizeof app->search, "%s", app->input_buf);
        if (app->search[0]) search_move(app, 1);
    } else if (in == INPUT_GOTO) {
        long long s;
        if (dlm_parse_int(app->input_buf, 0, INT32_MAX, &s)) seek(app, (int)s);
        else if (app->input_buf[0]) message(app, true, "'%s' is not a step number", app->input_buf);
    } else if (in == INPUT_PROMPT && app->input_buf[0]) {
        restart_with_prompt(app, app->input_buf);
    }
}

static void input_set(tui_app *app, const char *text) {
    snprintf(app->input_buf, sizeof app->input_buf, "%s", text);
    app->input_pos = strlen(app->input_buf);
}

static bool utf8_cont(char c) { return ((unsigned char)c & 0xc0) == 0x80; }

// Delete input_buf[from, to) and leave the cursor at `from`.
static void input_delete(tui_app *app, size_t from, size_t to) {
    memmove(app->input_buf + from, app->input_buf + to, strlen(app->input_buf + to) + 1);
    app->input_pos = from;
}

static void input_insert(tui_app *app, const char *text) {
    size_t len = strlen(app->input_buf), n = strlen(text);
    if (len + n + 1 > sizeof app->input_buf) return;
    memmove(app->input_buf + app->input_pos + n, app->input_buf + app->input_pos, len - app->input_pos + 1);
    memcpy(app->input_buf + app->input_pos, text, n);
    app->input_pos += n;
}

// A line editor with the readline keys people expect: arrows, Home/End, C-a/C-e, C-u (to the
// start), C-k (to the end), C-w (the word before the cursor), Backspace, Delete.
static void input_key(tui_app *app, const TermKeyKey *k) {
    char *b = app->input_buf;
    size_t len = strlen(b), pos = app->input_pos > len ? len : app->input_pos;
    app->input_pos = pos;
    bool ctrl = k->modifiers & TERMKEY_KEYMOD_CTRL;
    int sym = k->type == TERMKEY_TYPE_KEYSYM ? k->code.sym : -1;
    int ch = k->type == TERMKEY_TYPE_UNICODE && ctrl ? (int)k->code.codepoint : 0;
    if (sym == TERMKEY_SYM_ENTER) commit_input(app);
    else if (sym == TERMKEY_SYM_ESCAPE || ch == 'g') app->input = INPUT_NONE;
    else if (sym == TERMKEY_SYM_LEFT || ch == 'b') {
        while (pos > 0 && utf8_cont(b[--pos])) {}
        app->input_pos = pos;
    } else if (sym == TERMKEY_SYM_RIGHT || ch == 'f') {
        if (pos < len) pos++;
        while (pos < len && utf8_cont(b[pos])) pos++;
        app->input_pos = pos;
    } else if (sym == TERMKEY_SYM_HOME || ch == 'a') app->input_pos = 0;
    else if (sym == TERMKEY_SYM_END || ch == 'e') app->input_pos = len;
    else if (ch == 'u') input_delete(app, 0, pos);
    else if (ch == 'k') b[pos] = 0;
    else if (ch == 'w') {
        size_t from = pos;
        while (from > 0 && b[from - 1] == ' ') from--;
        while (from > 0 && b[from - 1] != ' ') from--;
        input_delete(app, from, pos);
    } else if (sym == TERMKEY_SYM_BACKSPACE || ch == 'h') {
        size_t from = pos;
        while (from > 0 && utf8_cont(b[--from])) {} // a whole UTF-8 character
        input_delete(app, from, pos);
    } else if (sym == TERMKEY_SYM_DELETE || sym == TERMKEY_SYM_DEL || ch == 'd') {
        size_t to = pos < len ? pos + 1 : pos;
        while (to < len && utf8_cont(b[to])) to++;
        input_delete(app, pos, to);
    } else if (sym == TERMKEY_SYM_SPACE) {
        input_insert(app, " ");
    } else if (k->type == TERMKEY_TYPE_UNICODE && !(k->modifiers & (TERMKEY_KEYMOD_CTRL | TERMKEY_KEYMOD_ALT))) {
        input_insert(app, k->utf8);
    }
}

static void panel_key(tui_app *app, const TermKeyKey *k, tui_action a) {
    if (app->show_help) {
        if (a == TUI_ACTION_UP) app->help_scroll = app->help_scroll > 0 ? app->help_scroll - 1 : 0;
        else if (a == TUI_ACTION_DOWN) app->help_scroll++;
        else if (a == TUI_ACTION_QUIT && !(k->type == TERMKEY_TYPE_UNICODE && k->code.codepoint == 'q')) app->quit = true;
        else app->show_help = false;
        return;
    }
    // params panel
    int rows = 1;
    for (int p = 0; p < DLM_PARAM_COUNT; p++)
        rows += dlm_param_applies(p, app->param_rule.kind) && p != DLM_PARAM_gen && p != DLM_PARAM_block;
    if (k->type == TERMKEY_TYPE_KEYSYM && k->code.sym == TERMKEY_SYM_ENTER) {
        app->show_params = false;
        dlm_rule_config cur = current_rule(app);
        char x[512], y[512];
        dlm_rule_format(&cur, x, sizeof x);
        dlm_rule_format(&app->param_rule, y, sizeof y);
        if (strcmp(x, y) != 0) fork_to(app, &app->param_rule);
    } else if (a == TUI_ACTION_UP) app->param_sel = app->param_sel > 0 ? app->param_sel - 1 : rows - 1;
    else if (a == TUI_ACTION_DOWN) app->param_sel = (app->param_sel + 1) % rows;
    else if (a == TUI_ACTION_LEFT || a == TUI_ACTION_SLOWER) param_adjust(app, -1);
    else if (a == TUI_ACTION_RIGHT || a == TUI_ACTION_FASTER) param_adjust(app, +1);
    else if (a == TUI_ACTION_CANCEL || a == TUI_ACTION_PARAMS || a == TUI_ACTION_QUIT) app->show_params = false;
}

static void mouse_key(tui_app *app, const TermKeyKey *k) {
    TermKeyMouseEvent ev;
    int button, line, col;
    if (termkey_interpret_mouse(app->tk, k, &ev, &button, &line, &col) != TERMKEY_RES_KEY) return;
    line--, col--; // 0-based
    if (ev == TERMKEY_MOUSE_PRESS && (button == 4 || button == 5)) {
        do_action(app, button == 5 ? TUI_ACTION_STEP_FWD : TUI_ACTION_STEP_BACK, 0);
        return;
    }
    if (ev != TERMKEY_MOUSE_PRESS || button != 1) return;
    tui_rect c = app->L.canvas, h = app->L.heat, cand = app->L.cand;
    const dlm_trace_header *hd = hdr(app);
    if (!dlm_player_step(app->a.player)) return; // nothing decoded yet: nothing to select
    if (line > c.y && line < c.y + c.h && col >= c.x && col < c.x + c.w) {
        int p = tui_canvas_pos_at(app, line - c.y - 1 + app->canvas_top, col - c.x);
        if (p >= 0) app->sel = p;
        app->focus = FOCUS_CANVAS;
    } else if (cand.w && line >= cand.y && line < cand.y + cand.h && col >= cand.x + 6 && col < cand.x + cand.w) {
        // the candidates grid: one column of 9 cells per position, centred on the selection
        int ncols = (cand.w - 6) / 9, G = hd->n_tokens - hd->prompt_len, left = app->sel - hd->prompt_len - ncols / 2;
        if (left > G - ncols) left = G - ncols;
        if (left < 0) left = 0;
        app->sel = hd->prompt_len + left + (col - cand.x - 6) / 9;
    } else if (line > h.y && line < h.y + h.h && col >= h.x + 6 && col < h.x + h.w) {
        app->sel = hd->prompt_len + app->heat_left + (col - h.x - 6);
        seek(app, app->heat_top + line - h.y - 1);
        app->focus = FOCUS_HEAT;
    }
    clamp_sel(app);
}

static void handle_key(tui_app *app, const TermKeyKey *k) {
    app->message[0] = 0; // a message stays until the next key, not over the key bar for seconds
    if (k->type == TERMKEY_TYPE_MOUSE) {
        mouse_key(app, k);
        return;
    }
    if (app->input != INPUT_NONE) {
        input_key(app, k);
        return;
    }
    const tui_binding *b = tui_keymap_find(app->tk, &app->keys, k);
    if (app->show_help || app->show_params) {
        panel_key(app, k, b ? b->action : TUI_ACTION_COUNT);
        return;
    }
    if (b) do_action(app, b->action, b->arg);
}

// ---- loop ----------------------------------------------------------------------------------------------

static void poll_live(tui_app *app, bool *dirty) {
    tui_timeline *ts[2] = {&app->a, &app->b};
    for (int k = 0; k < 2; k++) {
        tui_timeline *t = ts[k];
        if (!t->live) continue;
        char err[256];
        int r = tui_live_poll(t->live, err, sizeof err);
        if (r == 0) continue;
        *dirty = true;
        if (r < 0) {
            if (!strstr(err, "cancel")) message(app, true, "engine: %s", err);
            app->playing = false;
            continue;
        }
        int before = dlm_trace_n_steps(t->trace);
        bool at_end = dlm_player_index(t->player) == before - 1 || before == 0;
        timeline_refresh(t);
        int n = dlm_trace_n_steps(t->trace);
        if (k == 0 && app->steps_wanted > 0 && !tui_live_done(t->live)) {
            app->steps_wanted--;
            tui_live_request(t->live);
        }
        if (k == 0 && (app->follow || at_end)) { // like tail -f: stay on the newest step
            seek(app, n - 1);
            app->follow = false;
        } else if (k == 1 && app->compare) {
            int s = cur_step(app);
            dlm_player_seek(t->player, s < n ? s : n - 1);
            if (s >= n && !tui_live_done(t->live)) tui_live_request(t->live);
        }
    }
}

static void handle_resize(tui_app *app) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) resizeterm(ws.ws_row, ws.ws_col);
    app->rows = LINES, app->cols = COLS;
}

void tui_app_key(tui_app *app, const TermKeyKey *k) { handle_key(app, k); }

bool tui_app_tick(tui_app *app) {
    bool dirty = false;
    poll_live(app, &dirty);
    double now = dlm_now();
    if (app->playing && now >= app->next_tick) {
        if (!(app->a.live && tui_live_busy(app->a.live))) step_forward(app);
        app->next_tick = now + app->interval_ms / 1000.0;
        dirty = true;
    }
    if (app->message[0] && now >= app->message_until) app->message[0] = 0, dirty = true;
    return dirty;
}

bool tui_app_idle(const tui_app *app) {
    const tui_timeline *ts[2] = {&app->a, &app->b};
    for (int k = 0; k < 2; k++)
        if (ts[k]->live && tui_live_busy(ts[k]->live)) return false;
    return !app->playing && app->steps_wanted == 0;
}

void tui_app_frame(tui_app *app) {
    app->rows = LINES, app->cols = COLS;
    app->lopts.compare = app->compare;
    app->lopts.cand_rows = tui_cand_rows(app);
    // Two passes: the widths do not depend on the canvas's text, its height does.
    app->lopts.canvas_lines = 0;
    tui_layout_compute(app->rows, app->cols, &app->lopts, &app->L);
    if (!app->L.too_small) {
        app->lopts.canvas_lines = tui_canvas_lines(app, app->L.canvas.w);
        tui_layout_compute(app->rows, app->cols, &app->lopts, &app->L);
    }
    tui_draw(app);
}

static int run_loop(tui_app *app) {
    bool dirty = true, pending = false;
    while (!app->quit && !sig_quit) {
        if (sig_winch) {
            sig_winch = 0;
            handle_resize(app);
            dirty = true;
        }
        if (sig_tstp) { // Ctrl-Z: give the terminal back, stop, take it again
            sig_tstp = 0;
            restore_terminal();
            signal(SIGTSTP, SIG_DFL);
            raise(SIGTSTP);
            signal(SIGTSTP, on_signal);
            termkey_start(app->tk);
            if (!app->opts.no_mouse) mouse_enable(true);
            screen_active = true;
            refresh();
            handle_resize(app);
            dirty = true;
        }
        dirty |= tui_app_tick(app);
        if (dirty) {
            tui_app_frame(app);
            dirty = false;
        }
        int timeout = 1000;
        if (pending) timeout = termkey_get_waittime(app->tk);
        else if ((app->a.live && tui_live_busy(app->a.live)) || (app->b.live && tui_live_busy(app->b.live))) timeout = 15;
        else if (app->playing) timeout = (int)((app->next_tick - dlm_now()) * 1000) + 1;
        if (timeout < 0) timeout = 0;
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        int r = poll(&pfd, 1, timeout);
        if (r < 0) continue; // EINTR: a signal; the flags are checked above
        TermKeyKey key;
        TermKeyResult res;
        if (r > 0) {
            if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) break; // the terminal went away
            if (termkey_advisereadable(app->tk) == TERMKEY_RES_ERROR) break; // EIO: the terminal is gone
            while ((res = termkey_getkey(app->tk, &key)) == TERMKEY_RES_KEY) {
                handle_key(app, &key);
                dirty = true;
            }
            if (res == TERMKEY_RES_EOF || res == TERMKEY_RES_ERROR) break;
            pending = res == TERMKEY_RES_AGAIN;
        } else if (pending) {
            if (termkey_getkey_force(app->tk, &key) == TERMKEY_RES_KEY) {
                handle_key(app, &key);
                dirty = true;
            }
            pending = false;
        }
    }
    return 0;
}

static void load_prompts(tui_app *app, const char *path) {
    char *text;
    if (!path || dlm_read_file(path, 1 << 20, &text, NULL) != DLM_STATUS_OK) return;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (!*l || *l == '#') continue;
        app->prompts = dlm_xrealloc(app->prompts, (size_t)(app->n_prompts + 1) * sizeof *app->prompts);
        // "\n" in the file stands for a line break
        char *p = dlm_xstrdup(l), *o = p;
        for (char *c = l; *c; c++) {
            if (c[0] == '\\' && c[1] == 'n') *o++ = '\n', c++;
            else *o++ = *c;
        }
        *o = 0;
        app->prompts[app->n_prompts++] = p;
    }
    free(text);
}

int tui_main(const tui_opts *o) {
    tui_app *app = dlm_xcalloc(1, sizeof *app);
    app->opts = *o;
    app->interval_ms = 120;
    app->lopts = (tui_layout_opts){.inspector = true, .heat = true, .cand = true};
    app->metric = METRIC_CONF;
    setlocale(LC_ALL, "");
    app->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    int status = 1;
    // Everything that can fail with a file error happens before the screen is taken.
    if (o->trace_path) {
        if (timeline_open(&app->a, o->trace_path, NULL) != DLM_STATUS_OK) {
            fprintf(stderr, "dlmscope view: %s\n", dlm_error_message());
            free(app);
            return 1;
        }
        if (dlm_trace_n_steps(app->a.trace) == 0) {
            fprintf(stderr, "dlmscope view: %s: no complete step to show%s%s\n", o->trace_path,
                    dlm_trace_problem(app->a.trace) ? "; " : "", dlm_trace_problem(app->a.trace) ? dlm_trace_problem(app->a.trace) : "");
            timeline_free(&app->a);
            free(app);
            return 1;
        }
    } else {
        app->prompt_ids = dlm_xmalloc((size_t)o->n_prompt * sizeof *app->prompt_ids);
        memcpy(app->prompt_ids, o->prompt_ids, (size_t)o->n_prompt * sizeof *app->prompt_ids);
        app->n_prompt = o->n_prompt;
        app->prompt_text = o->prompt_text ? dlm_xstrdup(o->prompt_text) : NULL;
        tui_live_config cfg = live_config(app, o->record);
        tui_live *l = tui_live_new(&cfg, o->prompt_ids, o->n_prompt, &o->rule);
        if (!l || timeline_open(&app->a, tui_live_path(l), l) != DLM_STATUS_OK) {
            fprintf(stderr, "dlmscope: %s\n", dlm_error_message());
            free(app);
            return 1;
        }
        app->playing = o->autoplay;
    }
    if (o->compare_path && timeline_open(&app->b, o->compare_path, NULL) != DLM_STATUS_OK) {
        fprintf(stderr, "dlmscope view: --compare: %s\n", dlm_error_message());
        timeline_free(&app->a);
        free(app);
        return 1;
    }
    if (o->compare_path) {
        app->compare = true;
        const char *na = strrchr(o->trace_path, '/'), *nb = strrchr(o->compare_path, '/');
        snprintf(app->a.label, sizeof app->a.label, "A: %s", na ? na + 1 : o->trace_path);
        snprintf(app->b.label, sizeof app->b.label, "B: %s", nb ? nb + 1 : o->compare_path);
    }
    load_prompts(app, o->prompts_file);
    SCREEN *script_screen = NULL;
    FILE *script_out = NULL, *script_in = NULL;
    if (o->script) {
        // Script mode: an off-screen terminal of $TERM's kind; its bytes go to DIR/terminal.out.
        const char *term = getenv("TERM") && *getenv("TERM") ? getenv("TERM") : "xterm-256color";
        char *out_path = o->dump_dir ? dlm_path_join(o->dump_dir, "terminal.out") : NULL;
        script_out = fopen(out_path ? out_path : "/dev/null", "w");
        script_in = fopen("/dev/null", "r");
        free(out_path);
        script_screen = script_out && script_in ? newterm(term, script_out, script_in) : NULL;
        if (!script_screen) {
            fprintf(stderr, "dlmscope: --script: cannot create an off-screen terminal (TERM=%s; is --dump-screens a folder?)\n", term);
            goto cleanup;
        }
        set_term(script_screen);
        int cols = getenv("COLUMNS") ? atoi(getenv("COLUMNS")) : 80, rows = getenv("LINES") ? atoi(getenv("LINES")) : 24;
        resizeterm(rows > 0 ? rows : 24, cols > 0 ? cols : 80);
        app->tk = termkey_new_abstract(term, TERMKEY_FLAG_SPACESYMBOL | TERMKEY_FLAG_CTRLC);
    } else {
        if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
            fprintf(stderr, "dlmscope: the visualizer needs a terminal (headless: dlmscope run, dlmscope trace dump; "
                            "scripted: --script FILE)\n");
            status = 2;
            goto cleanup;
        }
        // Take the terminal.
        g_app = app;
        dlm_set_die_callback(restore_terminal);
        catch_crashes();
        if (!initscr()) {
            fprintf(stderr, "dlmscope: cannot initialise the terminal (TERM=%s)\n", getenv("TERM") ? getenv("TERM") : "");
            goto cleanup;
        }
        screen_active = true;
        prepare_reset();
        noecho();
        nonl();
        curs_set(0);
        app->tk = termkey_new(STDIN_FILENO, TERMKEY_FLAG_SPACESYMBOL | TERMKEY_FLAG_CTRLC);
    }
    if (!app->tk) {
        restore_terminal();
        fprintf(stderr, "dlmscope: cannot read keys from this terminal\n");
        goto cleanup;
    }
    termkey_set_waittime(app->tk, 25); // a lone Esc answers in 25 ms
    if (!o->no_mouse && !o->script) mouse_enable(true);
    if (!o->script) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        // Every signal that ends the process by default and that a user or a dying terminal sends:
        // each quits through the loop, which gives the terminal back.
        static const int quit_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM};
        for (size_t i = 0; i < sizeof quit_signals / sizeof quit_signals[0]; i++) sigaction(quit_signals[i], &sa, NULL);
        sigaction(SIGWINCH, &sa, NULL);
        sigaction(SIGTSTP, &sa, NULL);
    }

    tui_keymap_defaults(app->tk, &app->keys);
    if (tui_keymap_load_user(app->tk, &app->keys) != DLM_STATUS_OK) message(app, true, "%s", dlm_error_message());
    const char *theme = o->theme ? o->theme : app->keys.theme[0] ? app->keys.theme : "dark";
    if (tui_theme_load(theme, &app->theme) != DLM_STATUS_OK) {
        message(app, true, "%s; using the default theme", dlm_error_message());
        tui_theme_load("dark", &app->theme);
    }
    tui_color_depth depth = tui_theme_detect_depth(o->no_color);
    if (depth == TUI_COLOR_NONE && strcmp(theme, "mono") != 0) tui_theme_load("mono", &app->theme);
    tui_theme_apply(&app->theme, depth);
    app->sel = hdr(app)->prompt_len;
    app->demo = o->demo;
    if (app->demo) app->playing = true, app->interval_ms = 700;
    if (o->trace_path) seek(app, o->start_step);
    if (o->script) {
        char mode[64];
        snprintf(mode, sizeof mode, "%s colours=%s", getenv("TERM") ? getenv("TERM") : "", tui_color_depth_name(depth));
        status = tui_script_run(app, o->script, o->dump_dir, mode);
    } else {
        status = run_loop(app);
        restore_terminal();
        // INT, TERM and HUP are how users and terminals say quit; any other signal is reported.
        if (sig_quit && sig_quit != SIGINT && sig_quit != SIGTERM && sig_quit != SIGHUP) status = 128 + (int)sig_quit;
    }
cleanup:
    if (app->tk) termkey_destroy(app->tk);
    if (script_screen) {
        endwin();
        delscreen(script_screen);
    }
    if (script_out) fclose(script_out);
    if (script_in) fclose(script_in);
    g_app = NULL;
    dlm_set_die_callback(NULL);
    timeline_free(&app->a);
    timeline_free(&app->b);
    for (int i = 0; i < app->n_prompts; i++) free(app->prompts[i]);
    free(app->prompts);
    free(app->prompt_ids);
    free(app->prompt_text);
    free(app);
    return status;
}

// ---- benchmark ------------------------------------------------------------------------------------------

bool tui_bench_render(const char *trace, int cols, int rows, int frames, double *ms_frame, double *ms_seek) {
    tui_app *app = dlm_xcalloc(1, sizeof *app);
    app->lopts = (tui_layout_opts){.inspector = true, .heat = true, .cand = true};
    setlocale(LC_ALL, "");
    app->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    if (timeline_open(&app->a, trace, NULL) != DLM_STATUS_OK) {
        free(app);
        return false;
    }
    FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
    SCREEN *scr = out && in ? newterm("xterm-256color", out, in) : NULL;
    if (!scr) {
        dlm_error(DLM_STATUS_IO, "cannot create an off-screen terminal (xterm-256color terminfo)");
        timeline_free(&app->a);
        free(app);
        if (out) fclose(out);
        if (in) fclose(in);
        return false;
    }
    set_term(scr);
    resizeterm(rows, cols);
    tui_theme_load("dark", &app->theme);
    tui_theme_apply(&app->theme, tui_theme_detect_depth(false));
    app->rows = rows, app->cols = cols;
    tui_layout_compute(rows, cols, &app->lopts, &app->L);
    int n = dlm_trace_n_steps(app->a.trace);
    uint64_t x = 12345;
    double t_seek = 0, t_draw = 0;
    for (int f = 0; f < frames; f++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int s = (int)(x % (uint64_t)n);
        const dlm_trace_header *h = hdr(app);
        app->sel = h->prompt_len + (int)((x >> 20) % (uint64_t)(h->n_tokens - h->prompt_len));
        double t0 = dlm_now();
        dlm_player_seek(app->a.player, s);
        double t1 = dlm_now();
        tui_draw(app);
        double t2 = dlm_now();
        t_seek += t1 - t0, t_draw += t2 - t1;
    }
    *ms_frame = t_draw * 1e3 / frames;
    *ms_seek = t_seek * 1e3 / frames;
    endwin();
    delscreen(scr);
    fclose(out);
    fclose(in);
    timeline_free(&app->a);
    free(app);
    return true;
}
