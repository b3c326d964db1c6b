// live.c — one worker thread per live session, stepping on request.
#include "live.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/util.h"
#include "record/recorder.h"
#include "replay/trace_reader.h"

enum { WORK_IDLE, WORK_RUNNING, WORK_DONE, WORK_FAILED };

struct tui_live {
    tui_live_config   cfg;
    dlm_session      *s;
    dlm_recorder     *rec;
    char             *path;
    bool              temp;
    dlm_step         *st;
    volatile int      cancel;
    pthread_t         thread;
    pthread_mutex_t   mu;
    pthread_cond_t    cv;
    bool              quit, request;
    atomic_int        work;
    char              err[256];
};

static void *worker(void *arg) {
    tui_live *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->request && !l->quit) pthread_cond_wait(&l->cv, &l->mu);
        if (l->quit) break;
        l->request = false;
        pthread_mutex_unlock(&l->mu);
        l->cancel = 0;
        dlm_status st = dlm_session_step(l->s, l->st);
        if (st == DLM_STATUS_OK) {
            st = dlm_recorder_step(l->rec, l->s, l->st);
            if (st == DLM_STATUS_OK && dlm_session_done(l->s)) st = dlm_recorder_close(l->rec), l->rec = NULL;
        }
        if (st != DLM_STATUS_OK) snprintf(l->err, sizeof l->err, "%s", dlm_error_message());
        atomic_store(&l->work, st == DLM_STATUS_OK ? WORK_DONE : WORK_FAILED);
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static char *temp_path(void) {
    const char *tmp = getenv("TMPDIR");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s/dlmscope-live-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(buf);
    if (fd < 0) return NULL;
    close(fd);
    return dlm_xstrdup(buf);
}

// Common tail of new and fork: writer, worker thread.
static tui_live *start(tui_live *l, dlm_trace *parent, int fork_step) {
    l->temp = !l->cfg.record;
    l->path = l->temp ? temp_path() : dlm_xstrdup(l->cfg.record);
    if (!l->path) {
        dlm_error(DLM_STATUS_IO, "cannot create a temporary trace file in $TMPDIR");
        tui_live_free(l);
        return NULL;
    }
    dlm_record_parent p;
    if (parent) dlm_trace_as_parent(parent, fork_step, &p);
    dlm_record_opts o = {.prompt_text = l->cfg.prompt_text, .tok_path = l->cfg.tok_path, .device = l->cfg.backend->device,
                         .tok = l->cfg.tok, .parent = parent ? &p : NULL};
    if (dlm_recorder_open(l->path, l->cfg.model, l->s, &o, &l->rec) != DLM_STATUS_OK) {
        tui_live_free(l);
        return NULL;
    }
    l->st = dlm_step_new(dlm_session_n_tokens(l->s));
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    atomic_store(&l->work, WORK_IDLE);
    if (pthread_create(&l->thread, NULL, worker, l) != 0) dlm_die("cannot start the engine thread");
    return l;
}

tui_live *tui_live_new(const tui_live_config *cfg, const int32_t *prompt, int n_prompt, const dlm_rule_config *rule) {
    tui_live *l = dlm_xcalloc(1, sizeof *l);
    l->cfg = *cfg;
    dlm_session_opts so = {.block_causal = cfg->block_causal, .cancel = &l->cancel};
    l->s = dlm_session_new(cfg->model, cfg->backend, prompt, n_prompt, rule, &so);
    if (!l->s) {
        free(l);
        return NULL;
    }
    return start(l, NULL, -1);
}

tui_live *tui_live_fork(const tui_live_config *cfg, dlm_trace *parent, int step, const dlm_rule_config *rule,
                        const dlm_intervention *iv, int n_iv) {
    dlm_step *tmp = dlm_step_new(dlm_trace_header_of(parent)->n_tokens);
    dlm_session_state state;
    dlm_status st = dlm_trace_read_step(parent, step, tmp, &state);
    dlm_step_free(tmp);
    if (st != DLM_STATUS_OK) return NULL;
    tui_live *l = dlm_xcalloc(1, sizeof *l);
    l->cfg = *cfg;
    dlm_session_opts so = {.block_causal = cfg->block_causal, .cancel = &l->cancel};
    dlm_rule_config r = *rule;
    r.gen = state.rule.gen, r.block = state.rule.block; // the canvas stays
    l->s = dlm_session_restore(cfg->model, cfg->backend, &state, &r, &so);
    dlm_session_state_free(&state);
    if (!l->s) {
        free(l);
        return NULL;
    }
    for (int k = 0; k < n_iv; k++)
        if (dlm_session_intervene(l->s, &iv[k]) != DLM_STATUS_OK) {
            dlm_session_free(l->s);
            free(l);
            return NULL;
        }
    return start(l, parent, step);
}

void tui_live_free(tui_live *l) {
    if (!l) return;
    if (l->st) { // the thread exists
        l->cancel = 1;
        pthread_mutex_lock(&l->mu);
        l->quit = true;
        pthread_cond_signal(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
    }
    dlm_recorder_close(l->rec); // a footer even for an unfinished run: it ended cleanly
    if (l->temp && l->path) unlink(l->path);
    free(l->path);
    dlm_step_free(l->st);
    dlm_session_free(l->s);
    free(l);
}

const char *tui_live_path(const tui_live *l) { return l->path; }
bool tui_live_busy(const tui_live *l) { return atomic_load(&((tui_live *)l)->work) == WORK_RUNNING; }
bool tui_live_done(const tui_live *l) { return !tui_live_busy(l) && dlm_session_done(l->s); }
const dlm_rule_config *tui_live_rule(const tui_live *l) { return dlm_session_rule(l->s); }

bool tui_live_request(tui_live *l) {
    int w = atomic_load(&l->work);
    if (w == WORK_RUNNING || w == WORK_DONE || w == WORK_FAILED || dlm_session_done(l->s)) return false;
    atomic_store(&l->work, WORK_RUNNING);
    pthread_mutex_lock(&l->mu);
    l->request = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return true;
}

int tui_live_poll(tui_live *l, char *buf, size_t n) {
    int w = atomic_load(&l->work);
    if (w == WORK_DONE) {
        atomic_store(&l->work, WORK_IDLE);
        return 1;
    }
    if (w == WORK_FAILED) {
        atomic_store(&l->work, WORK_IDLE);
        snprintf(buf, n, "%s", l->err);
        return -1;
    }
    return 0;
}

void tui_live_cancel(tui_live *l) {
    if (tui_live_busy(l)) l->cancel = 1;
}

void tui_live_wait(tui_live *l) {
    while (tui_live_busy(l)) usleep(1000);
}
