// app.c — the visualizer's event loop: the terminal (taken, given back on every exit, a crash
// included), keys to actions, stepping and searching, and tui_main. Keys map to actions through
// the binding table; actions change state and the loop redraws; draw.c renders. The engine runs
// in a worker thread (live.c), so the loop never blocks on a forward pass. Forks and live
// sessions are in control.c, the key bar's line editor in input.c, script mode in script.c,
// exports in export.c.
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

void tui_message(tui_app *app, bool error, const char *fmt, ...) {
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

void tui_timeline_free(tui_timeline *t) {
    dlm_player_free(t->player);
    dlm_trace_close(t->trace);
    tui_live_free(t->live); // after the reader: the live session may delete a temporary file
    for (int i = 0; i < t->cap_rows; i++) free(t->rows ? t->rows[i] : NULL);
    free(t->rows);
    dlm_step_free(t->scratch);
    memset(t, 0, sizeof *t);
}

dlm_status tui_timeline_open(tui_timeline *t, const char *path, tui_live *live) {
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

tui_live_config tui_app_live_config(const tui_app *app, const char *record) {
    tui_live_config c = {.model = app->opts.model,
                         .backend = app->opts.backend,
                         .tok = app->opts.tok,
                         .tok_path = app->opts.tok_path,
                         .prompt_text = app->prompt_text,
                         .block_causal = app->opts.block_causal,
                         .record = record};
    return c;
}



static void clamp_sel(tui_app *app) {
    const dlm_trace_header *h = tui_hdr(app);
    if (app->sel < h->prompt_len) app->sel = h->prompt_len;
    if (app->sel >= h->n_tokens) app->sel = h->n_tokens - 1;
}

static void make_caption(tui_app *app);

// ---- demo captions ------------------------------------------------------------------------------------

void tui_app_caption(tui_app *app) { make_caption(app); }

static void make_caption(tui_app *app) {
    const dlm_step *st = dlm_player_step(app->a.player);
    app->caption[0] = 0;
    if (!st) return;
    char *c = app->caption;
    size_t n = sizeof app->caption;
    int len = snprintf(c, n, "step %d, block %d: ", st->step, st->block);
    for (int k = 0; k < st->n_interventions && len < (int)n - 60; k++) { // what was done by hand comes first
        const dlm_intervention *iv = &st->interventions[k];
        char what[64];
        dlm_intervention_format(iv, what, sizeof what);
        if (iv->kind == DLM_IV_FORCE) {
            tui_token_text a;
            tui_token_display(app, app->a.trace, iv->token, &a);
            snprintf(what, sizeof what, "forced '%s' at %d", a.text, iv->pos);
        }
        len += snprintf(c + len, n - (size_t)len, "%s %s%s", k ? "," : "you", what, k + 1 == st->n_interventions ? ", then " : "");
    }
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

void tui_app_seek(tui_app *app, int step) {
    int n = dlm_trace_n_steps(app->a.trace);
    if (n == 0) return;
    if (dlm_player_seek(app->a.player, step) != DLM_STATUS_OK) tui_message(app, true, "%s", dlm_error_message());
    if (app->compare && app->b.trace) { // lockstep
        int nb = dlm_trace_n_steps(app->b.trace), s = tui_cur_step(app);
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
    int n = dlm_trace_n_steps(app->a.trace), cur = tui_cur_step(app);
    if (cur + 1 < n) {
        tui_app_seek(app, cur + 1);
        return;
    }
    if (app->a.live) {
        if (tui_live_done(app->a.live)) {
            app->playing = false;
            tui_message(app, false, "generation finished (%d steps)", n);
        } else {
            // Keys pressed while a step runs are queued, not lost.
            if (!tui_live_request(app->a.live) && !app->playing && app->steps_wanted < 1000) app->steps_wanted++;
            app->follow = true;
        }
        return;
    }
    if (app->opts.loop && n > 0) { // kiosk: start again
        tui_app_seek(app, 0);
        return;
    }
    app->playing = false;
    if (app->demo) make_caption(app);
    else tui_message(app, false, "last step (%d)", n - 1);
}

// ---- actions ------------------------------------------------------------------------------------------------

void tui_input_set(tui_app *app, const char *text);

void tui_search_move(tui_app *app, int dir) {
    const dlm_step *st = dlm_player_step(app->a.player);
    if (!st || !app->search[0]) return;
    const dlm_trace_header *h = tui_hdr(app);
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
    if (!found) tui_message(app, true, "'%s' not found at step %d", app->search, tui_cur_step(app));
    else if (found > 1) tui_message(app, false, "'%s': %d matches (n next, N previous)", app->search, found);
}

static void do_action(tui_app *app, tui_action a, int arg) {
    int n = dlm_trace_n_steps(app->a.trace), cur = tui_cur_step(app);
    int found;
    switch (a) {
    case TUI_ACTION_QUIT: app->quit = true; break;
    case TUI_ACTION_HELP: app->show_help = !app->show_help; break;
    case TUI_ACTION_PLAY:
        app->playing = !app->playing;
        app->next_tick = 0;
        if (app->playing && cur == n - 1 && !app->a.live) tui_app_seek(app, 0); // replay from the start
        break;
    case TUI_ACTION_STEP_FWD: app->playing = false; step_forward(app); break;
    case TUI_ACTION_STEP_BACK:
        app->playing = false;
        if (cur > 0) tui_app_seek(app, cur - 1);
        break;
    case TUI_ACTION_STEP_FWD10: tui_app_seek(app, cur + 10); break;
    case TUI_ACTION_STEP_BACK10: tui_app_seek(app, cur - 10); break;
    case TUI_ACTION_FIRST: tui_app_seek(app, 0); break;
    case TUI_ACTION_LAST: tui_app_seek(app, n - 1); break;
    case TUI_ACTION_JUMP: tui_app_seek(app, n * arg / 10); break;
    case TUI_ACTION_PREV_BLOCK:
    case TUI_ACTION_NEXT_BLOCK: {
        const dlm_step *st = dlm_player_step(app->a.player);
        if (!st) break;
        int b = st->block + (a == TUI_ACTION_NEXT_BLOCK ? 1 : st->step_in_block == 0 ? -1 : 0);
        int s = dlm_player_block_start(app->a.player, b);
        if (s < 0) tui_message(app, false, "no block %d yet", b);
        else tui_app_seek(app, s);
        break;
    }
    case TUI_ACTION_NEXT_EVENT:
    case TUI_ACTION_PREV_EVENT:
        found = dlm_player_next_event(app->a.player, app->sel, a == TUI_ACTION_NEXT_EVENT ? 1 : -1);
        if (found < 0) tui_message(app, false, "nothing happens at position %d %s", app->sel, a == TUI_ACTION_NEXT_EVENT ? "later" : "earlier");
        else tui_app_seek(app, found);
        break;
    case TUI_ACTION_NEXT_CHANGE:
    case TUI_ACTION_PREV_CHANGE:
        found = dlm_player_next_kind(app->a.player, DLM_EVENT_EDIT | DLM_EVENT_REMASK, a == TUI_ACTION_NEXT_CHANGE ? 1 : -1);
        if (found < 0) tui_message(app, false, "no edit or remask %s", a == TUI_ACTION_NEXT_CHANGE ? "later" : "earlier");
        else tui_app_seek(app, found), select_first(app, DLM_EVENT_EDIT | DLM_EVENT_REMASK);
        break;
    case TUI_ACTION_NEXT_STUCK:
    case TUI_ACTION_PREV_STUCK:
        found = dlm_player_next_stuck(app->a.player, a == TUI_ACTION_NEXT_STUCK ? 1 : -1);
        if (found < 0) tui_message(app, false, "no stuck token %s", a == TUI_ACTION_NEXT_STUCK ? "later" : "earlier");
        else tui_app_seek(app, found), select_first(app, 0);
        break;
    case TUI_ACTION_GOTO: app->input = INPUT_GOTO, tui_input_set(app, ""); break;
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
            tui_app_seek(app, cur + (a == TUI_ACTION_DOWN ? 1 : -1));
        } else {
            app->sel = tui_canvas_vertical(app, app->sel, a == TUI_ACTION_DOWN ? 1 : -1);
        }
        break;
    case TUI_ACTION_FOCUS: app->focus = app->focus == FOCUS_CANVAS ? FOCUS_HEAT : FOCUS_CANVAS; break;
    case TUI_ACTION_METRIC: app->metric = (tui_metric)((app->metric + 1) % METRIC_COUNT); break;
    case TUI_ACTION_SEARCH: app->input = INPUT_SEARCH, tui_input_set(app, ""); break;
    case TUI_ACTION_SEARCH_NEXT: tui_search_move(app, 1); break;
    case TUI_ACTION_SEARCH_PREV: tui_search_move(app, -1); break;
    case TUI_ACTION_TOGGLE_T2X: {
        dlm_rule_config r = tui_current_rule(app), nr = tui_switch_kind(&r, r.kind == DLM_RULE_T2M ? DLM_RULE_T2T : DLM_RULE_T2M);
        tui_fork_to(app, &nr);
        break;
    }
    case TUI_ACTION_TOGGLE_EVO: {
        dlm_rule_config r = tui_current_rule(app), nr = tui_switch_kind(&r, r.kind == DLM_RULE_EVOTOKEN ? DLM_RULE_LLADA : DLM_RULE_EVOTOKEN);
        tui_fork_to(app, &nr);
        break;
    }
    case TUI_ACTION_NEXT_RULE: {
        dlm_rule_config r = tui_current_rule(app), nr = tui_switch_kind(&r, (dlm_rule_kind)((r.kind + 1) % DLM_RULE_COUNT));
        tui_fork_to(app, &nr);
        break;
    }
    case TUI_ACTION_PARAMS:
        app->show_params = true;
        app->param_rule = tui_current_rule(app);
        app->param_sel = 0;
        break;
    case TUI_ACTION_COMPARE: tui_start_compare(app); break;
    case TUI_ACTION_FORCE:
    case TUI_ACTION_REMASK:
    case TUI_ACTION_PIN: {
        const dlm_step *st = dlm_player_step(app->a.player);
        int sel = app->sel;
        if (!app->opts.model) { // said before a candidate is picked, not after
            tui_message(app, true, "%s needs the model: this is a replay (dlmscope view TRACE --model DIR)", tui_action_name(a));
            break;
        }
        if (!st || sel < st->prompt_len || sel >= st->n_tokens) {
            tui_message(app, true, "select a generated position first");
            break;
        }
        if (a == TUI_ACTION_FORCE) { // the candidates: the inspector's top-K, and a line to type into
            app->lopts.inspector = true;
            app->input = INPUT_FORCE;
            app->force_pos = sel;
            app->force_cand = -1;
            tui_input_set(app, "");
            tui_force_candidate(app, +1); // the most likely token the position does not hold
            break;
        }
        dlm_intervention iv = {.kind = a == TUI_ACTION_REMASK ? DLM_IV_REMASK : st->pos[sel].pinned ? DLM_IV_UNPIN : DLM_IV_PIN,
                               .pos = sel, .end = sel + 1, .token = -1};
        tui_intervene(app, &iv);
        break;
    }
    case TUI_ACTION_DEMO:
        app->demo = !app->demo;
        app->playing = app->demo;
        if (app->demo) {
            app->interval_ms = 700;
            if (cur == n - 1 && !app->a.live) tui_app_seek(app, 0);
            make_caption(app);
        }
        break;
    case TUI_ACTION_INSPECTOR: app->lopts.inspector = !app->lopts.inspector; break;
    case TUI_ACTION_HEAT: app->lopts.heat = !app->lopts.heat; break;
    case TUI_ACTION_CAND: app->lopts.cand = !app->lopts.cand; break;
    case TUI_ACTION_ZOOM: // 1, 2, 4, 8, 16 steps per row, every step on screen, one row per block, 1 again
        app->heat_zoom = app->heat_zoom < 0 ? 1 : app->heat_zoom == 0 ? -1 : app->heat_zoom >= 16 ? 0 : app->heat_zoom * 2;
        app->heat_top = 0;
        if (app->heat_zoom < 0) tui_message(app, false, "heat grid: one row per block (its last step)");
        else if (app->heat_zoom == 0) tui_message(app, false, "heat grid: every step on screen");
        else tui_message(app, false, "heat grid: %d step%s per row", app->heat_zoom, app->heat_zoom > 1 ? "s" : "");
        break;
    case TUI_ACTION_PROMPT:
        if (!app->a.live) {
            tui_message(app, true, "a new prompt needs a live session (dlmscope --model DIR)");
            break;
        }
        app->input = INPUT_PROMPT;
        // The next sample prompt: not the one on screen now.
        for (int k = 0; k < app->n_prompts && app->prompt_text && strstr(app->prompt_text, app->prompts[app->prompt_idx % app->n_prompts]); k++)
            app->prompt_idx++;
        tui_input_set(app, app->n_prompts ? app->prompts[app->prompt_idx++ % app->n_prompts] : "");
        break;
    case TUI_ACTION_REDRAW: clearok(curscr, TRUE); break;
    case TUI_ACTION_CANCEL:
        app->playing = false;
        app->demo = false;
        app->steps_wanted = 0;
        if (app->a.live && tui_live_busy(app->a.live)) {
            tui_live_cancel(app->a.live);
            tui_message(app, false, "cancelled the running step");
        }
        break;
    default: break;
    }
    clamp_sel(app);
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
        dlm_rule_config cur = tui_current_rule(app);
        char x[512], y[512];
        dlm_rule_format(&cur, x, sizeof x);
        dlm_rule_format(&app->param_rule, y, sizeof y);
        if (strcmp(x, y) != 0) tui_fork_to(app, &app->param_rule);
    } else if (a == TUI_ACTION_UP) app->param_sel = app->param_sel > 0 ? app->param_sel - 1 : rows - 1;
    else if (a == TUI_ACTION_DOWN) app->param_sel = (app->param_sel + 1) % rows;
    else if (a == TUI_ACTION_LEFT || a == TUI_ACTION_SLOWER) tui_param_adjust(app, -1);
    else if (a == TUI_ACTION_RIGHT || a == TUI_ACTION_FASTER) tui_param_adjust(app, +1);
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
    const dlm_trace_header *hd = tui_hdr(app);
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
    } else if (line > h.y + 1 && line < h.y + h.h && col >= h.x + 6 && col < h.x + h.w) {
        app->sel = hd->prompt_len + app->heat_left + (col - h.x - 6);
        int s0, s1;
        if (tui_heat_group(app, &app->a, h.h - 2, app->heat_top + line - h.y - 2, &s0, &s1)) tui_app_seek(app, s1 - 1);
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
        tui_input_key(app, k);
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
            if (!strstr(err, "cancel")) tui_message(app, true, "engine: %s", err);
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
            tui_app_seek(app, n - 1);
            app->follow = false;
        } else if (k == 1 && app->compare) {
            int s = tui_cur_step(app);
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
    tui_view_build(app);
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
    app->heat_zoom = 1;
    app->metric = METRIC_CONF;
    setlocale(LC_ALL, "");
    app->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    int status = 1;
    // Everything that can fail with a file error happens before the screen is taken.
    if (o->trace_path) {
        if (tui_timeline_open(&app->a, o->trace_path, NULL) != DLM_STATUS_OK) {
            fprintf(stderr, "dlmscope view: %s\n", dlm_error_message());
            free(app);
            return 1;
        }
        if (dlm_trace_n_steps(app->a.trace) == 0) {
            fprintf(stderr, "dlmscope view: %s: no complete step to show%s%s\n", o->trace_path,
                    dlm_trace_problem(app->a.trace) ? "; " : "", dlm_trace_problem(app->a.trace) ? dlm_trace_problem(app->a.trace) : "");
            tui_timeline_free(&app->a);
            free(app);
            return 1;
        }
    } else {
        app->prompt_ids = dlm_xmalloc((size_t)o->n_prompt * sizeof *app->prompt_ids);
        memcpy(app->prompt_ids, o->prompt_ids, (size_t)o->n_prompt * sizeof *app->prompt_ids);
        app->n_prompt = o->n_prompt;
        app->prompt_text = o->prompt_text ? dlm_xstrdup(o->prompt_text) : NULL;
        tui_live_config cfg = tui_app_live_config(app, o->record);
        tui_live *l = tui_live_new(&cfg, o->prompt_ids, o->n_prompt, &o->rule);
        if (!l || tui_timeline_open(&app->a, tui_live_path(l), l) != DLM_STATUS_OK) {
            fprintf(stderr, "dlmscope: %s\n", dlm_error_message());
            free(app);
            return 1;
        }
        app->playing = o->autoplay;
    }
    if (o->compare_path && tui_timeline_open(&app->b, o->compare_path, NULL) != DLM_STATUS_OK) {
        fprintf(stderr, "dlmscope view: --compare: %s\n", dlm_error_message());
        tui_timeline_free(&app->a);
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
    if (o->script || o->export_format) {
        // Script mode and exports: an off-screen terminal of $TERM's kind. Its bytes go to
        // DIR/terminal.out (script), a temporary file (a cast is made of them) or nowhere.
        const char *term = getenv("TERM") && *getenv("TERM") ? getenv("TERM") : "xterm-256color";
        char *out_path = o->dump_dir ? dlm_path_join(o->dump_dir, "terminal.out") : NULL;
        script_out = o->export_format ? tmpfile() : fopen(out_path ? out_path : "/dev/null", "w");
        script_in = fopen("/dev/null", "r");
        free(out_path);
        script_screen = script_out && script_in ? newterm(term, script_out, script_in) : NULL;
        if (!script_screen) {
            fprintf(stderr, "dlmscope: --script: cannot create an off-screen terminal (TERM=%s; is --dump-screens a folder?)\n", term);
            goto cleanup;
        }
        set_term(script_screen);
        int dc = o->export_format ? 120 : 80, dr = o->export_format ? 40 : 24;
        int cols = getenv("COLUMNS") ? atoi(getenv("COLUMNS")) : dc, rows = getenv("LINES") ? atoi(getenv("LINES")) : dr;
        resizeterm(rows > 0 && rows <= 1000 ? rows : dr, cols > 0 && cols <= 1000 ? cols : dc);
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
    if (!o->no_mouse && !o->script && !o->export_format) mouse_enable(true);
    if (!o->script && !o->export_format) {
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
    if (tui_keymap_load_user(app->tk, &app->keys) != DLM_STATUS_OK) tui_message(app, true, "%s", dlm_error_message());
    const char *theme = o->theme ? o->theme : app->keys.theme[0] ? app->keys.theme : "dark";
    if (tui_theme_load(theme, &app->theme) != DLM_STATUS_OK) {
        tui_message(app, true, "%s; using the default theme", dlm_error_message());
        tui_theme_load("dark", &app->theme);
    }
    tui_color_depth depth = tui_theme_detect_depth(o->no_color);
    if (depth == TUI_COLOR_NONE && strcmp(theme, "mono") != 0) tui_theme_load("mono", &app->theme);
    tui_theme_apply(&app->theme, depth);
    app->sel = tui_hdr(app)->prompt_len;
    app->demo = o->demo || o->loop;
    if (app->demo && !o->export_format) app->playing = true, app->interval_ms = 700;
    if (o->trace_path) tui_app_seek(app, o->start_step);
    if (o->export_format) {
        status = tui_export_run(app, o->export_format, o->export_path, script_out);
    } else if (o->script) {
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
    tui_timeline_free(&app->a);
    tui_timeline_free(&app->b);
    tui_view_free(&app->view);
    for (int i = 0; i < app->n_prompts; i++) free(app->prompts[i]);
    free(app->prompts);
    free(app->prompt_ids);
    free(app->prompt_text);
    free(app);
    return status;
}

// ---- benchmark ------------------------------------------------------------------------------------------

bool tui_bench_render(const char *trace, int cols, int rows, int frames, double *ms_frame, double *ms_frame_nocand,
                      double *ms_seek) {
    tui_app *app = dlm_xcalloc(1, sizeof *app);
    app->lopts = (tui_layout_opts){.inspector = true, .heat = true, .cand = true};
    app->heat_zoom = 1;
    setlocale(LC_ALL, "");
    app->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    if (tui_timeline_open(&app->a, trace, NULL) != DLM_STATUS_OK) {
        free(app);
        return false;
    }
    FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
    SCREEN *scr = out && in ? newterm("xterm-256color", out, in) : NULL;
    if (!scr) {
        dlm_error(DLM_STATUS_IO, "cannot create an off-screen terminal (xterm-256color terminfo)");
        tui_timeline_free(&app->a);
        free(app);
        if (out) fclose(out);
        if (in) fclose(in);
        return false;
    }
    set_term(scr);
    resizeterm(rows, cols);
    tui_theme_load("dark", &app->theme);
    tui_theme_apply(&app->theme, tui_theme_detect_depth(false));
    int n = dlm_trace_n_steps(app->a.trace);
    uint64_t x = 12345;
    double t_seek = 0, t_draw[2] = {0, 0};
    int n_draw[2] = {0, 0};
    for (int f = 0; f < frames; f++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int s = (int)(x % (uint64_t)n);
        const dlm_trace_header *h = tui_hdr(app);
        app->sel = h->prompt_len + (int)((x >> 20) % (uint64_t)(h->n_tokens - h->prompt_len));
        double t0 = dlm_now();
        dlm_player_seek(app->a.player, s);
        double t1 = dlm_now();
        app->lopts.cand = f % 2 == 0; // interleaved: with and without the candidates grid
        tui_app_frame(app);           // layout (it measures the canvas text) and drawing
        double t2 = dlm_now();
        t_seek += t1 - t0, t_draw[f % 2] += t2 - t1, n_draw[f % 2]++;
    }
    *ms_frame = n_draw[0] ? t_draw[0] * 1e3 / n_draw[0] : 0;
    *ms_frame_nocand = n_draw[1] ? t_draw[1] * 1e3 / n_draw[1] : 0;
    *ms_seek = t_seek * 1e3 / frames;
    endwin();
    delscreen(scr);
    fclose(out);
    fclose(in);
    tui_view_free(&app->view);
    tui_timeline_free(&app->a);
    free(app);
    return true;
}
