// moe.c — expert routing of a mixture-of-experts layer (moe.h), written from the official gates:
// LLaDA2MoeGate (modeling_llada2_moe.py) and LLaDAMoESparseMoeBlock (modeling_lladamoe.py).
#include "moe.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

// The index of the largest of n scores not yet taken; ties go to the lowest index (the engine's
// determinism rule; torch.topk promises no order among equal values).
static int argmax_untaken(const double *score, int n, const bool *taken) {
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!taken[i] && (best < 0 || score[i] > score[best])) best = i;
    return best;
}

// One position's routing from its router logits (n_experts): the chosen experts, best selection
// score first, and their mixing weights (dlm_router_kind in model.h). In double precision; the
// official gates compute in fp32.
void dlm_moe_route(const dlm_config *c, const double *logits, const float *bias, int16_t *ids, float *w) {
    const int n = c->n_experts, k = c->n_experts_used;
    double prob[DLM_MAX_EXPERTS], sel[DLM_MAX_EXPERTS];
    bool taken[DLM_MAX_EXPERTS] = {false};
    if (c->router == DLM_ROUTER_SOFTMAX_TOPK) {
        double mx = logits[0], sum = 0;
        for (int e = 1; e < n; e++) mx = fmax(mx, logits[e]);
        for (int e = 0; e < n; e++) sum += prob[e] = exp(logits[e] - mx);
        for (int e = 0; e < n; e++) sel[e] = prob[e] / sum + (bias ? bias[e] : 0.0);
        for (int j = 0; j < k; j++) {
            int e = argmax_untaken(sel, n, taken);
            taken[e] = true;
            ids[j] = (int16_t)e;
            w[j] = (float)sel[e]; // the biased probability, not renormalised (norm_topk_prob is off)
        }
        return;
    }
    // DLM_ROUTER_SIGMOID_GROUPED: select on s + bias inside the best groups, weigh by s.
    for (int e = 0; e < n; e++) {
        prob[e] = 1.0 / (1.0 + exp(-logits[e]));
        sel[e] = prob[e] + (bias ? bias[e] : 0.0);
    }
    const int group = n / c->n_group;
    double group_score[DLM_MAX_EXPERTS];
    for (int g = 0; g < c->n_group; g++) { // the sum of the group's two best selection scores
        const double *s = sel + (size_t)g * group;
        int a = 0;
        for (int i = 1; i < group; i++) if (s[i] > s[a]) a = i;
        int b = a == 0 ? 1 : 0;
        for (int i = 0; i < group; i++) if (i != a && s[i] > s[b]) b = i;
        group_score[g] = s[a] + s[b];
    }
    bool group_taken[DLM_MAX_EXPERTS] = {false}, excluded[DLM_MAX_EXPERTS];
    for (int j = 0; j < c->topk_group; j++) group_taken[argmax_untaken(group_score, c->n_group, group_taken)] = true;
    for (int e = 0; e < n; e++) excluded[e] = !group_taken[e / group]; // masked to -inf in LLaDA2MoeGate
    double total = 0;
    for (int j = 0; j < k; j++) {
        int e = argmax_untaken(sel, n, excluded);
        excluded[e] = true;
        ids[j] = (int16_t)e;
        total += prob[e];
    }
    for (int j = 0; j < k; j++)
        w[j] = (float)((k > 1 ? prob[ids[j]] / (total + 1e-20) : prob[ids[j]]) * c->routed_scale);
}

void dlm_moe_group(const dlm_config *c, const int16_t *ids, int n_pos, int *start, int *pairs) {
    const int n_e = c->n_experts, n = n_pos * c->n_experts_used;
    memset(start, 0, (size_t)(n_e + 1) * sizeof *start);
    for (int i = 0; i < n; i++) start[ids[i] + 1]++;
    for (int e = 0; e < n_e; e++) start[e + 1] += start[e];
    for (int i = 0; i < n; i++) pairs[start[ids[i]]++] = i;
    for (int e = n_e; e > 0; e--) start[e] = start[e - 1]; // the fill moved each start to the next one
    start[0] = 0;
}
