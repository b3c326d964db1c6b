// plan.c — the layer plan of a model (plan.h).
#include "plan.h"

static void fill(const dlm_model *m, dlm_plan_slot *s, const char *name, bool matrix, int n_parts,
                 const dlm_tensor_role *parts) {
    s->name = name;
    s->matrix = matrix;
    s->n_parts = n_parts;
    s->present = true;
    s->rows = 0;
    for (int i = 0; i < n_parts; i++) {
        s->parts[i] = parts[i];
        if (!dlm_config_has_role(&m->cfg, parts[i])) s->present = false;
        int64_t r, c;
        dlm_model_role_shape(&m->cfg, parts[i], &r, &c);
        s->rows += r;
        s->cols = c;
    }
}

void dlm_layer_plan_make(const dlm_model *m, dlm_layer_plan *p) {
#define X(e, name, matrix, ...)                                                                             \
    {                                                                                                       \
        const dlm_tensor_role parts[] = {__VA_ARGS__};                                                      \
        fill(m, &p->layer[DLM_SLOT_##e], name, matrix, (int)(sizeof parts / sizeof parts[0]), parts);       \
    }
    DLM_LAYER_SLOTS(X)
#undef X
#define X(e, name, matrix, ...)                                                                             \
    {                                                                                                       \
        const dlm_tensor_role parts[] = {__VA_ARGS__};                                                      \
        fill(m, &p->global[DLM_GSLOT_##e], name, matrix, (int)(sizeof parts / sizeof parts[0]), parts);     \
    }
    DLM_GLOBAL_SLOTS(X)
#undef X
    if (m->cfg.fused_qkv) {
        const dlm_tensor_role fused[] = {DLM_TENSOR_WQKV};
        fill(m, &p->layer[DLM_SLOT_WQKV], "wqkv", true, 1, fused);
    }
    p->tied_head = dlm_model_head_tied(m);
}

void dlm_plan_load_slot(const dlm_model *m, const dlm_plan_slot *s, int layer, float *dst) {
    for (int i = 0; i < s->n_parts; i++) {
        int64_t r, c;
        dlm_model_role_shape(&m->cfg, s->parts[i], &r, &c);
        dlm_model_load_tensor(m, s->parts[i], layer, dst);
        dst += r * (c ? c : 1);
    }
}

bool dlm_plan_slot_in_layer(const dlm_model *m, const dlm_plan_slot *s, int layer) {
    return s->present && dlm_config_layer_has_role(&m->cfg, s->parts[0], layer);
}
