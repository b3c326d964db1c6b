// trace_json.c — trace records as JSON objects (see trace_json.h).
#include "trace_json.h"

#include <math.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "engine/util.h"

// JSON values from whatever a trace holds: strings as valid UTF-8 (invalid bytes become U+FFFD),
// numbers that JSON cannot write (NaN, infinities) as null.
static json_t *jstr(const char *s) {
    dlm_buf lossy = {0};
    dlm_utf8_append_lossy(&lossy, s, strlen(s));
    json_t *j = json_stringn(lossy.data ? lossy.data : "", lossy.len);
    dlm_buf_free(&lossy);
    return j;
}
static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }
static json_t *jpair(int id, double p) {
    json_t *a = json_array();
    json_array_append_new(a, json_integer(id));
    json_array_append_new(a, jnum(p));
    return a;
}

static json_t *pos_json(const dlm_trace *t, const dlm_pos_info *p, int i) {
    char b[256];
    json_t *o = json_object();
    json_object_set_new(o, "pos", json_integer(i));
    json_object_set_new(o, "token", json_integer(p->token));
    size_t len;
    const char *raw = dlm_trace_token(t, p->token, &len);
    if (raw) {
        dlm_buf lossy = {0};
        dlm_utf8_append_lossy(&lossy, raw, len);
        json_object_set_new(o, "text", json_stringn(lossy.data ? lossy.data : "", lossy.len));
        dlm_buf_free(&lossy);
    }
    json_object_set_new(o, "state", json_string(dlm_pos_state_name(p->state)));
    json_t *ev = json_array();
    for (int bit = 0; bit < 5; bit++)
        if (p->events & (1 << bit)) json_array_append_new(ev, json_string(dlm_event_name(bit)));
    json_object_set_new(o, "events", ev);
    if (p->prev_token != p->token) json_object_set_new(o, "prev_token", json_integer(p->prev_token));
    if (p->has_dist) {
        json_object_set_new(o, "sampled", json_integer(p->sampled));
        json_object_set_new(o, "p_sampled", jnum(p->p_sampled));
        json_object_set_new(o, "p_current", jnum(p->p_current));
        json_object_set_new(o, "entropy", jnum(p->entropy));
        json_t *top = json_array();
        for (int j = 0; j < p->n_top; j++) json_array_append_new(top, jpair(p->top_id[j], p->top_p[j]));
        json_object_set_new(o, "top", top);
    }
    if (p->n_soft) {
        json_t *soft = json_array();
        for (int j = 0; j < p->n_soft; j++) json_array_append_new(soft, jpair(p->soft_id[j], p->soft_w[j]));
        json_object_set_new(o, "soft", soft);
        json_object_set_new(o, "hist_conf", jnum(p->hist_conf));
    }
    if (p->remask_count) json_object_set_new(o, "remask_count", json_integer(p->remask_count));
    if (p->stuck) json_object_set_new(o, "stuck", json_true());
    if (p->pinned) json_object_set_new(o, "pinned", json_true());
    if (p->intervened) { // what a person did here before this step
        json_t *u = json_array();
        for (int k = 0; k < DLM_IV_COUNT; k++)
            if (p->intervened & (1 << k)) json_array_append_new(u, json_string(dlm_intervention_name(k)));
        json_object_set_new(o, "user", u);
    }
    (void)b;
    return o;
}

static void set_int(json_t *o, const char *k, long long v) { json_object_set_new(o, k, json_integer(v)); }

json_t *trace_header_json(const dlm_trace *t) {
    const dlm_trace_header *h = dlm_trace_header_of(t);
    json_t *hj = json_object();
    json_object_set_new(hj, "type", json_string("header"));
    json_object_set_new(hj, "version", json_pack("[i,i]", h->version_major, h->version_minor));
    json_object_set_new(hj, "model", jstr(h->model_name));
    json_object_set_new(hj, "model_dir", jstr(h->model_dir));
    json_object_set_new(hj, "rule", jstr(h->rule_spec));
    json_object_set_new(hj, "device", jstr(h->device));
    set_int(hj, "prompt_len", h->prompt_len);
    set_int(hj, "gen_len", h->gen_len);
    set_int(hj, "n_tokens", h->n_tokens);
    set_int(hj, "mask_id", h->mask_id);
    set_int(hj, "eos_id", h->eos_id);
    set_int(hj, "steps", dlm_trace_n_steps(t));
    json_t *pids = json_array();
    for (int i = 0; i < h->prompt_len; i++) json_array_append_new(pids, json_integer(h->prompt_ids[i]));
    json_object_set_new(hj, "prompt_ids", pids);
    if (h->prompt_text) json_object_set_new(hj, "prompt_text", jstr(h->prompt_text));
    if (h->parent[0]) {
        json_t *par = json_object();
        json_object_set_new(par, "file", jstr(h->parent));
        set_int(par, "step", h->parent_step);
        json_object_set_new(hj, "parent", par);
    }
    return hj;
}

json_t *trace_step_json(const dlm_trace *t, const dlm_step *st) {
    const dlm_trace_header *h = dlm_trace_header_of(t);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("step"));
    set_int(o, "step", st->step);
    set_int(o, "block", st->block);
    set_int(o, "block_start", st->block_start);
    set_int(o, "block_end", st->block_end);
    set_int(o, "commits", st->n_commits);
    set_int(o, "edits", st->n_edits);
    set_int(o, "remasks", st->n_remasks);
    set_int(o, "transitions", st->n_transitions);
    set_int(o, "stuck", st->n_stuck);
    json_object_set_new(o, "forward_ms", jnum(st->forward_ms));
    json_object_set_new(o, "done", json_boolean(st->done));
    if (st->n_block_info > 0) { // pipelined rules (d2f): "active complete", "in-cache", ... per block
        json_t *bj = json_array();
        for (int b = 0; b < st->n_block_info; b++) {
            char text[48];
            const uint8_t v = st->block_info[b];
            snprintf(text, sizeof text, "%s%s%s", dlm_block_state_name(v & DLM_BSTATE_MASK),
                     v & DLM_BSTATE_COMPLETE ? " complete" : "", v & DLM_BSTATE_FRESH ? " fresh" : "");
            json_array_append_new(bj, json_string(text));
        }
        json_object_set_new(o, "blocks", bj);
    }
    if (st->n_interventions) {
        json_t *ivs = json_array();
        for (int k = 0; k < st->n_interventions; k++) {
            const dlm_intervention *iv = &st->interventions[k];
            json_t *e = json_object();
            json_object_set_new(e, "who", jstr(iv->who));
            json_object_set_new(e, "what", json_string(dlm_intervention_name(iv->kind)));
            set_int(e, "pos", iv->pos);
            set_int(e, "end", iv->end);
            if (iv->kind == DLM_IV_FORCE) set_int(e, "token", iv->token);
            json_array_append_new(ivs, e);
        }
        json_object_set_new(o, "interventions", ivs);
    }
    json_t *pos = json_array();
    for (int p = h->prompt_len; p < h->n_tokens; p++) {
        json_t *pj = pos_json(t, &st->pos[p], p);
        const int k = st->experts_per_layer;
        const int16_t *ex = st->n_moe_layers > 0 ? st->experts + (size_t)p * st->n_moe_layers * k : NULL;
        if (ex && ex[0] >= 0) { // MoE models: {"LAYER": [experts, best first], ...}
            json_t *ej = json_object();
            for (int j = 0; j < st->n_moe_layers; j++) {
                char layer[16];
                snprintf(layer, sizeof layer, "%d", st->first_moe_layer + j);
                json_t *arr = json_array();
                for (int e = 0; e < k; e++) json_array_append_new(arr, json_integer(ex[j * k + e]));
                json_object_set_new(ej, layer, arr);
            }
            json_object_set_new(pj, "experts", ej);
        }
        json_array_append_new(pos, pj);
    }
    json_object_set_new(o, "positions", pos);
    return o;
}
