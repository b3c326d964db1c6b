// plan.h — the layer plan: which weights a backend holds for a model, and how checkpoint tensors
// are stacked into them. Derived once from the family's switches (arch.h); both backends allocate,
// load and run from it, so the fused-QKV order, the optional slots and the tied-head rule exist
// in one place.
//
//   dlm_layer_plan plan;
//   dlm_layer_plan_make(model, &plan);
//   for (int s = 0; s < DLM_LAYER_SLOT_COUNT; s++) if (plan.layer[s].present) ... plan.layer[s].rows ...
#ifndef DLM_PLAN_H
#define DLM_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "model.h"

// X(SLOT, "name", matrix, parts...): parts are stacked by rows, in this order.
#define DLM_LAYER_SLOTS(X)                                                                  \
    X(ATTN_NORM, "attn_norm", false, DLM_TENSOR_ATTN_NORM)                                  \
    X(WQKV, "wqkv", true, DLM_TENSOR_WQ, DLM_TENSOR_WK, DLM_TENSOR_WV)                       \
    X(BQKV, "bqkv", false, DLM_TENSOR_BQ, DLM_TENSOR_BK, DLM_TENSOR_BV)                      \
    X(Q_NORM, "q_norm", false, DLM_TENSOR_Q_NORM)                                           \
    X(K_NORM, "k_norm", false, DLM_TENSOR_K_NORM)                                           \
    X(WO, "wo", true, DLM_TENSOR_WO)                                                        \
    X(FF_NORM, "ff_norm", false, DLM_TENSOR_FF_NORM)                                        \
    X(W_GATEUP, "w_gateup", true, DLM_TENSOR_W_GATE, DLM_TENSOR_W_UP)                        \
    X(W_DOWN, "w_down", true, DLM_TENSOR_W_DOWN)                                            \
    X(ROUTER, "router", true, DLM_TENSOR_ROUTER)                                            \
    X(EXPERT_BIAS, "expert_bias", false, DLM_TENSOR_EXPERT_BIAS)                            \
    X(SHARED_GATEUP, "shared_gateup", true, DLM_TENSOR_SHARED_GATE, DLM_TENSOR_SHARED_UP)    \
    X(SHARED_DOWN, "shared_down", true, DLM_TENSOR_SHARED_DOWN)

#define DLM_GLOBAL_SLOTS(X)                                                                 \
    X(WTE, "wte", true, DLM_TENSOR_WTE)                                                     \
    X(LM_HEAD, "lm_head", true, DLM_TENSOR_LM_HEAD)                                         \
    X(LN_F, "ln_f", false, DLM_TENSOR_LN_F)

typedef enum {
#define X(e, name, matrix, ...) DLM_SLOT_##e,
    DLM_LAYER_SLOTS(X)
#undef X
    DLM_LAYER_SLOT_COUNT
} dlm_layer_slot;

typedef enum {
#define X(e, name, matrix, ...) DLM_GSLOT_##e,
    DLM_GLOBAL_SLOTS(X)
#undef X
    DLM_GLOBAL_SLOT_COUNT
} dlm_global_slot;

typedef struct {
    const char     *name;
    bool            matrix;   // a matrix-product operand (bf16 on the GPU); else a vector kept in fp32
    bool            present;  // some layer of the model has it (biases and QK-norms only in some families;
                              // the dense MLP and the MoE slots only in their layers: dlm_plan_slot_in_layer)
    int             n_parts;
    dlm_tensor_role parts[3]; // stacked by rows in this order
    int64_t         rows, cols; // of the whole slot; cols 0 for vectors
} dlm_plan_slot;

typedef struct {
    dlm_plan_slot layer[DLM_LAYER_SLOT_COUNT];
    dlm_plan_slot global[DLM_GLOBAL_SLOT_COUNT];
    bool          tied_head; // the LM head is the embedding itself: hold it once
} dlm_layer_plan;

// WQKV is q | k | v stacked, or the family's fused query_key_value as one part (LLaDA2). The routed
// experts are not slots: backends take them per layer and expert (dlm_model_expert_tensor).
void dlm_layer_plan_make(const dlm_model *m, dlm_layer_plan *plan);

// Whether layer `layer` has the slot (MoE layers have no dense MLP, dense layers no router).
bool dlm_plan_slot_in_layer(const dlm_model *m, const dlm_plan_slot *s, int layer);

// Elements of a slot (rows * cols, or rows for a vector).
static inline int64_t dlm_plan_slot_numel(const dlm_plan_slot *s) { return s->rows * (s->cols ? s->cols : 1); }

// The slot's parts for `layer` as fp32, stacked, LoRA merged (dlm_model_load_tensor), into dst.
void dlm_plan_load_slot(const dlm_model *m, const dlm_plan_slot *s, int layer, float *dst);

#endif
