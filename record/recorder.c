// recorder.c — a session's steps into a trace writer: header from the session, fork copy, export
// and append per step.
#include "recorder.h"

#include <stdio.h>
#include <stdlib.h>

#include "engine/util.h"
#include "trace_writer.h"

struct dlm_recorder {
    dlm_trace_writer *w;
};

dlm_status dlm_recorder_open(const char *path, const dlm_model *m, const dlm_session *s, const dlm_record_opts *o,
                             dlm_recorder **out) {
    *out = NULL;
    dlm_record_opts none = {0};
    if (!o) o = &none;
    const dlm_record_parent *p = o->parent;
    const char *text = o->prompt_text ? o->prompt_text : p ? p->prompt_text : NULL;
    dlm_trace_header h;
    dlm_trace_header_from_session(&h, m, s, text, o->tok_path, o->device);
    if (p) {
        snprintf(h.parent, sizeof h.parent, "%s", p->path);
        h.parent_step = p->step;
        // The fork's trace starts with the parent's steps, so it plays from the beginning under
        // the rule the parent started with; the step records say where the rule changes.
        h.rule = *p->rule;
        snprintf(h.rule_spec, sizeof h.rule_spec, "%s", p->rule_spec);
    }
    dlm_trace_writer *w;
    dlm_status st = dlm_trace_writer_open(path, &h, o->tok, &w);
    dlm_trace_header_free(&h);
    if (st != DLM_STATUS_OK) return st;
    for (int i = 0; p && i <= p->step; i++) {
        const void *bytes;
        size_t n;
        st = p->raw_step(p->ctx, i, &bytes, &n);
        if (st == DLM_STATUS_OK) st = dlm_trace_writer_append_raw(w, bytes, n);
        if (st != DLM_STATUS_OK) {
            dlm_trace_writer_abort(w);
            return st;
        }
    }
    dlm_recorder *r = dlm_xcalloc(1, sizeof *r);
    r->w = w;
    *out = r;
    return DLM_STATUS_OK;
}

dlm_status dlm_recorder_step(dlm_recorder *r, const dlm_session *s, const dlm_step *st) {
    dlm_session_state state;
    dlm_session_export(s, &state);
    dlm_status e = dlm_trace_writer_append(r->w, st, &state);
    dlm_session_state_free(&state);
    return e;
}

int dlm_recorder_n_steps(const dlm_recorder *r) { return dlm_trace_writer_n_steps(r->w); }

dlm_status dlm_recorder_close(dlm_recorder *r) {
    if (!r) return DLM_STATUS_OK;
    dlm_status st = dlm_trace_writer_close(r->w);
    free(r);
    return st;
}

void dlm_recorder_abort(dlm_recorder *r) {
    if (!r) return;
    dlm_trace_writer_abort(r->w);
    free(r);
}
