// summary.c — one fused pass over a row of logits: softmax (fp64), sampled token, entropy, top-K.
#include <math.h>
#include <string.h>

#include "error.h"
#include "forward.h"
#include "rng.h"
#include "topk.h"

void dlm_summarize_logits(const float *logits, int n_vocab, int position, int32_t given, const dlm_sample_opts *o,
                          dlm_row_summary *out, float *probs_out) {
    DLM_ASSERT(o->top_k >= 0 && o->top_k <= DLM_TOP_K_MAX);
    // Max and normaliser over the ids that stay in the softmax (of logits / T when tempered).
    const double inv_t = o->tempered && o->temperature > 0 ? 1.0 / o->temperature : 1.0;
    double mx = -INFINITY;
    for (int v = 0; v < n_vocab; v++)
        if (v != o->prob_exclude && logits[v] * inv_t > mx) mx = logits[v] * inv_t;
    double z = 0, zl = 0; // sum e^(l - mx), sum e^(l - mx) * (l - mx)
    for (int v = 0; v < n_vocab; v++) {
        if (v == o->prob_exclude) continue;
        double d = (double)logits[v] * inv_t - mx, e = exp(d);
        z += e;
        zl += e * d;
    }
    double log_z = log(z);

    // Sampled token: argmax of logits/T + Gumbel noise (or of logits at T = 0); first maximum wins.
    int32_t tok = -1;
    double best = -INFINITY;
    int32_t top_ids[DLM_TOP_K_MAX];
    double top_ps[DLM_TOP_K_MAX];
    int n_top = 0;
    for (int v = 0; v < n_vocab; v++) {
        if (v == o->sample_exclude) continue;
        double score = logits[v];
        if (o->temperature > 0) {
            double u = dlm_rng_uniform(o->seed, o->counter, (uint64_t)position, (uint64_t)v);
            score = score / o->temperature - log(-log(u));
        }
        if (score > best) {
            best = score;
            tok = v;
        }
    }
    for (int v = 0; v < n_vocab; v++) {
        double p = v == o->prob_exclude ? 0.0 : exp((double)logits[v] * inv_t - mx - log_z);
        if (probs_out) probs_out[v] = (float)p;
        if (o->top_k) dlm_top_insert(top_ids, top_ps, &n_top, o->top_k, v, p);
    }
    if (tok < 0) tok = 0; // only possible when every id is excluded (n_vocab == 1)
    out->token = tok;
    out->p_token = tok == o->prob_exclude ? 0.0f : (float)exp((double)logits[tok] * inv_t - mx - log_z);
    out->p_given = (given >= 0 && given < n_vocab && given != o->prob_exclude)
                       ? (float)exp((double)logits[given] * inv_t - mx - log_z)
                       : 0.0f;
    // H = -sum p log p = log z - (sum e d) / z   with d = l - mx
    out->entropy = (float)(log_z - zl / z);
    out->n_top = n_top;
    for (int i = 0; i < n_top; i++) {
        out->top_id[i] = top_ids[i];
        out->top_p[i] = (float)top_ps[i];
    }
}
