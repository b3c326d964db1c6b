// moe.h — how a mixture-of-experts layer routes one position (dlm_router_kind in model.h), shared
// by both backends so that they choose the same experts from the same router logits.
//
//   double logits[n_experts];            // x . router row e, for every expert
//   int16_t ids[k]; float w[k];
//   dlm_moe_route(cfg, logits, expert_bias_or_NULL, ids, w);   // k = cfg->n_experts_used
#ifndef DLM_MOE_H
#define DLM_MOE_H

#include <stdint.h>

#include "model.h"

// The experts chosen for one position (best selection score first; ties to the lowest expert
// and group index) and their mixing weights, in double precision (the official gates in fp32).
void dlm_moe_route(const dlm_config *c, const double *logits, const float *bias, int16_t *ids, float *w);

// Group the (position, choice) pairs of n_pos routed positions by expert, positions ascending
// within an expert: pairs[start[e] .. start[e+1]) hold position * k + choice for expert e.
// start has n_experts + 1 entries, pairs n_pos * k.
void dlm_moe_group(const dlm_config *c, const int16_t *ids, int n_pos, int *start, int *pairs);

#endif
