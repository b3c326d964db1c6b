// control.c — live control: forks at the current step (another rule, other parameters), the
// counterpart session that compare mode steps in lockstep, and restarts with a new prompt. These
// need a model: live mode, or `view TRACE --model DIR`.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "engine/util.h"

// ---- forks (live, or replay with a model) --------------------------------------------------------------

// Fork at the current step under `rule`, with n_iv interventions before the fork's first step.
// `what` names the change for the labels and the message. The parent becomes B.
static bool fork_at(tui_app *app, const dlm_rule_config *rule, const dlm_intervention *iv, int n_iv, const char *what) {
    int s = tui_cur_step(app);
    if (s < 0) {
        tui_message(app, true, "run a step first");
        return false;
    }
    if (app->a.live) {
        tui_live_cancel(app->a.live);
        tui_live_wait(app->a.live);
    }
    tui_live_config cfg = tui_app_live_config(app, NULL);
    tui_live *l = tui_live_fork(&cfg, app->a.trace, s, rule, iv, n_iv);
    if (!l) {
        tui_message(app, true, "%s%s", n_iv ? "" : "fork: ", dlm_error_message()); // the engine's says which intervention
        return false;
    }
    tui_timeline nt;
    if (tui_timeline_open(&nt, tui_live_path(l), l) != DLM_STATUS_OK) {
        tui_message(app, true, "fork: %s", dlm_error_message());
        return false;
    }
    tui_timeline_free(&app->b); // the previous comparison goes; the parent becomes B
    app->b = app->a;
    snprintf(app->b.label, sizeof app->b.label, "parent: %s", dlm_rule_name(dlm_trace_header_of(app->b.trace)->rule.kind));
    app->b.note[0] = 0;
    app->a = nt;
    snprintf(app->a.label, sizeof app->a.label, "fork after step %d: %s", s, what);
    if (n_iv) snprintf(app->a.note, sizeof app->a.note, "fork@%d: %s", s, what);
    else app->a.note[0] = 0;
    dlm_player_seek(app->a.player, s);
    app->follow = true;
    return true;
}

void tui_fork_to(tui_app *app, const dlm_rule_config *rule) {
    if (!app->opts.model) {
        tui_message(app, true, "switching rules needs the model: this is a replay (dlmscope view TRACE --model DIR)");
        return;
    }
    if (!fork_at(app, rule, NULL, 0, dlm_rule_name(rule->kind))) return;
    char spec[256];
    dlm_rule_format(rule, spec, sizeof spec);
    tui_message(app, false, "forked after step %d: %s  (c compares with the parent)", tui_cur_step(app), spec);
}

// ---- interventions (force, remask, pin) -------------------------------------------------------------------

void tui_intervene(tui_app *app, const dlm_intervention *iv) {
    if (!app->opts.model) {
        tui_message(app, true, "%s needs the model: this is a replay (dlmscope view TRACE --model DIR)", dlm_intervention_name(iv->kind));
        return;
    }
    char what[96], tok[64] = "";
    dlm_intervention_format(iv, what, sizeof what);
    if (iv->kind == DLM_IV_FORCE) { // name the token by its text: "force 77 '7'"
        tui_token_text tt;
        tui_token_display(app, app->a.trace, iv->token, &tt);
        snprintf(tok, sizeof tok, "%s", tt.text);
        snprintf(what, sizeof what, "force %d '%s'", iv->pos, tok);
    }
    dlm_rule_config rule = tui_current_rule(app);
    int s = tui_cur_step(app);
    if (!fork_at(app, &rule, iv, 1, what)) return;
    tui_message(app, false, "forked after step %d: %s  (the next step shows the model's answer; c compares)", s, what);
    // Run the step that answers the intervention right away: that is what the user wants to see.
    if (app->a.live && !tui_live_request(app->a.live)) app->steps_wanted++;
}

// The rule the next step from here runs under: at the newest step of a live session that is the
// session's rule (a fork pending at this step included), else the rule the current step ran.
dlm_rule_config tui_current_rule(const tui_app *app) {
    dlm_rule_config r;
    int s = tui_cur_step(app);
    if (app->a.live && s == dlm_trace_n_steps(app->a.trace) - 1) {
        r = *tui_live_rule(app->a.live);
        return r;
    }
    const char *spec = s >= 0 ? dlm_trace_rule_spec(app->a.trace, dlm_trace_info(app->a.trace, s)->rule) : tui_hdr(app)->rule_spec;
    if (dlm_rule_parse(spec[0] ? spec : tui_hdr(app)->rule_spec, &r) != DLM_STATUS_OK) r = tui_hdr(app)->rule;
    dlm_rule_finalize(&r);
    return r;
}

// A rule of another kind that keeps the canvas, seed, temperature and shared thresholds.
dlm_rule_config tui_switch_kind(const dlm_rule_config *from, dlm_rule_kind kind) {
    dlm_rule_config r;
    dlm_rule_defaults(kind, &r);
    r.gen = from->gen, r.block = from->block, r.seed = from->seed, r.top_k = from->top_k;
    r.set = 1ull << DLM_PARAM_gen | 1ull << DLM_PARAM_block;
    if (dlm_param_applies(DLM_PARAM_mode, kind) && dlm_param_applies(DLM_PARAM_mode, from->kind)) // the LLaDA2.1 loop's
        r.mode = from->mode, r.tau = from->tau, r.max_post = from->max_post, r.eos_stop = from->eos_stop,
        r.set |= 1ull << DLM_PARAM_tau;
    if (dlm_param_applies(DLM_PARAM_steps, kind)) {
        // the rule's default step budget, kept a valid multiple of the blocks
        int nb = r.gen / r.block;
        dlm_rule_finalize(&r);
        r.steps = (r.steps / nb) * nb;
        if (r.steps < nb) r.steps = nb;
        r.set |= 1ull << DLM_PARAM_steps;
    }
    dlm_rule_finalize(&r);
    return r;
}

void tui_start_compare(tui_app *app) {
    if (app->b.trace) {
        app->compare = !app->compare;
        if (app->compare) tui_app_seek(app, tui_cur_step(app));
        return;
    }
    if (!app->a.live) {
        tui_message(app, true, "nothing to compare: fork with t / v / r first, or use dlmscope view A --compare B");
        return;
    }
    // A counterpart run from the same prompt and seed, in lockstep.
    dlm_rule_config r = tui_current_rule(app);
    dlm_rule_kind other = r.kind == DLM_RULE_T2T ? DLM_RULE_T2M : r.kind == DLM_RULE_T2M ? DLM_RULE_T2T
                        : r.kind == DLM_RULE_EVOTOKEN ? DLM_RULE_LLADA : DLM_RULE_EVOTOKEN;
    dlm_rule_config rb = tui_switch_kind(&r, other);
    tui_live_config cfg = tui_app_live_config(app, NULL);
    tui_live *l = tui_live_new(&cfg, app->prompt_ids, app->n_prompt, &rb);
    if (!l || tui_timeline_open(&app->b, tui_live_path(l), l) != DLM_STATUS_OK) {
        tui_message(app, true, "compare: %s", dlm_error_message());
        return;
    }
    snprintf(app->a.label, sizeof app->a.label, "A: %s", dlm_rule_name(r.kind));
    snprintf(app->b.label, sizeof app->b.label, "B: %s (same prompt and seed)", dlm_rule_name(other));
    app->compare = true;
    tui_app_seek(app, tui_cur_step(app));
}

void tui_restart_with_prompt(tui_app *app, const char *text) {
    if (!app->opts.model || !app->opts.tok) {
        tui_message(app, true, "a new prompt needs a live model with a tokenizer");
        return;
    }
    dlm_buf b = {0};
    int32_t *ids;
    int n;
    if (dlm_tokenizer_chat_prompt(app->opts.tok, text, &b) != DLM_STATUS_OK ||
        dlm_tokenizer_encode(app->opts.tok, b.data, b.len, &ids, &n) != DLM_STATUS_OK) {
        tui_message(app, true, "prompt: %s", dlm_error_message());
        dlm_buf_free(&b);
        return;
    }
    free(app->prompt_text);
    app->prompt_text = b.data;
    dlm_rule_config r = tui_current_rule(app);
    tui_live_config cfg = tui_app_live_config(app, app->opts.record);
    tui_live *l = tui_live_new(&cfg, ids, n, &r);
    if (!l) {
        tui_message(app, true, "prompt: %s", dlm_error_message());
        free(ids);
        return;
    }
    free(app->prompt_ids);
    app->prompt_ids = ids;
    app->n_prompt = n;
    tui_timeline_free(&app->a);
    tui_timeline_free(&app->b);
    app->compare = false;
    if (tui_timeline_open(&app->a, tui_live_path(l), l) != DLM_STATUS_OK) {
        tui_message(app, true, "%s", dlm_error_message());
        app->quit = true;
        return;
    }
    app->sel = tui_hdr(app)->prompt_len;
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

void tui_param_adjust(tui_app *app, int dir) {
    dlm_rule_config *r = &app->param_rule;
    if (app->param_sel == 0) {
        *r = tui_switch_kind(r, (dlm_rule_kind)((r->kind + DLM_RULE_COUNT + dir) % DLM_RULE_COUNT));
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
    else tui_message(app, true, "%s", dlm_error_message());
}

