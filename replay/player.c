// player.c — cursor, seeking and searches over a trace.
#include "player.h"

#include <stdlib.h>

#include "engine/util.h"

struct dlm_player {
    dlm_trace *t;
    int        cur;
    dlm_step  *step;    // decoded current step
    dlm_step  *scratch; // searches decode here so a failed search leaves the cursor untouched
};

dlm_player *dlm_player_new(dlm_trace *t) {
    dlm_player *p = dlm_xcalloc(1, sizeof *p);
    p->t = t;
    p->cur = -1;
    p->step = dlm_step_new(dlm_trace_header_of(t)->n_tokens);
    p->scratch = dlm_step_new(dlm_trace_header_of(t)->n_tokens);
    return p;
}

void dlm_player_free(dlm_player *p) {
    if (!p) return;
    dlm_step_free(p->step);
    dlm_step_free(p->scratch);
    free(p);
}

int dlm_player_index(const dlm_player *p) { return p->cur; }
const dlm_step *dlm_player_step(const dlm_player *p) { return p->cur >= 0 ? p->step : NULL; }
int dlm_player_n_steps(const dlm_player *p) { return dlm_trace_n_steps(p->t); }

dlm_status dlm_player_seek(dlm_player *p, int i) {
    int n = dlm_trace_n_steps(p->t);
    if (n == 0) return dlm_error(DLM_STATUS_ARG, "%s: the trace has no steps", dlm_trace_path(p->t));
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    if (i == p->cur) return DLM_STATUS_OK;
    dlm_status st = dlm_trace_read_step(p->t, i, p->step, NULL);
    if (st == DLM_STATUS_OK) p->cur = i;
    return st;
}

dlm_status dlm_player_next(dlm_player *p) {
    if (p->cur + 1 >= dlm_trace_n_steps(p->t)) return dlm_error(DLM_STATUS_ARG, "at the last step");
    return dlm_player_seek(p, p->cur + 1);
}

dlm_status dlm_player_prev(dlm_player *p) {
    if (p->cur <= 0) return dlm_error(DLM_STATUS_ARG, "at the first step");
    return dlm_player_seek(p, p->cur - 1);
}

int dlm_player_block_start(dlm_player *p, int block) {
    int n = dlm_trace_n_steps(p->t);
    for (int i = 0; i < n; i++)
        if (dlm_trace_info(p->t, i)->block == block) return dlm_player_seek(p, i) == DLM_STATUS_OK ? i : -1;
    return -1;
}

int dlm_player_next_stuck(dlm_player *p, int dir) {
    int n = dlm_trace_n_steps(p->t);
    for (int i = p->cur + dir; i >= 0 && i < n; i += dir)
        if (dlm_trace_info(p->t, i)->n_stuck > 0) return dlm_player_seek(p, i) == DLM_STATUS_OK ? i : -1;
    return -1;
}

int dlm_player_next_kind(dlm_player *p, int mask, int dir) {
    int n = dlm_trace_n_steps(p->t);
    for (int i = p->cur + dir; i >= 0 && i < n; i += dir) {
        const dlm_trace_step_info *in = dlm_trace_info(p->t, i);
        int have = (in->n_commits ? DLM_EVENT_COMMIT : 0) | (in->n_edits ? DLM_EVENT_EDIT : 0) |
                   (in->n_remasks ? DLM_EVENT_REMASK : 0) | (in->n_transitions ? DLM_EVENT_TRANSITION : 0) |
                   (in->n_finalized ? DLM_EVENT_FINALIZE : 0);
        if (have & mask) return dlm_player_seek(p, i) == DLM_STATUS_OK ? i : -1;
    }
    return -1;
}

int dlm_player_next_event(dlm_player *p, int position, int dir) {
    int n = dlm_trace_n_steps(p->t);
    if (position < 0 || position >= dlm_trace_header_of(p->t)->n_tokens) return -1;
    for (int i = p->cur + dir; i >= 0 && i < n; i += dir) {
        if (dlm_trace_read_step(p->t, i, p->scratch, NULL) != DLM_STATUS_OK) return -1;
        if (p->scratch->pos[position].events) {
            dlm_step *tmp = p->step; // the decoded step becomes the current one
            p->step = p->scratch;
            p->scratch = tmp;
            p->cur = i;
            return i;
        }
    }
    return -1;
}
