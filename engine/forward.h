// forward.h — what a forward pass takes and what it gives back.
//
// A forward pass reads a sequence of inputs (hard token ids, or per position a soft mixture of
// up to soft_k token embeddings), runs the transformer with bidirectional or block-causal
// attention, and for the rows the caller asks for returns a softmax summary — never the full
// logits unless asked. The summary is everything the decoding rules read: the sampled token and
// its probability, p(a given token), entropy, and the top-K candidates.
#ifndef DLM_FORWARD_H
#define DLM_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#define DLM_TOP_K_MAX 32

typedef enum { DLM_CACHE_NONE = 0, DLM_CACHE_PREFIX = 1, DLM_CACHE_DUAL = 2, DLM_CACHE_BLOCK = 3 } dlm_cache_mode;

typedef struct {
    int            n_tokens;    // L
    const int32_t *ids;         // (L) token ids; used at every position without a soft input
    // Soft inputs (EvoToken). When soft_k > 0, position i's input embedding is
    // sum_k w[i,k] * wte[soft_ids[i,k]] with w clamped at 0 and renormalised to sum 1, for every
    // position whose weights sum to more than 0; other positions use ids[i].
    int            soft_k;
    const int32_t *soft_ids;    // (L, soft_k)
    const float   *soft_w;      // (L, soft_k)
    int            block_size;  // 0: bidirectional; B > 0: position i sees j iff j/B <= i/B ...
    int            block_origin;// ... counted from here: [0, origin) is one block, then blocks of B
                                // (D2F's prompt as block 0; engine/cpu_attention.h); 0 for LLaDA2/SDAR
    int            n_rows;      // rows whose LM head is computed
    const int32_t *rows;        // (n_rows) positions, each in [0, L)
    const int32_t *given;       // (n_rows) token whose probability is reported as p_given; NULL or -1: none
    // KV cache (Fast-dLLM, research/algorithms.md §3.3-3.4). With cache != DLM_CACHE_NONE a pass
    // with cache_refresh set is a full forward that also keeps every layer's K and V and the final
    // hidden states, labelled cache_key. The passes after it (same cache_key, n_tokens and active
    // range) recompute only [active_start, n_tokens) (prefix) or [active_start, active_end) (dual)
    // and attend to the kept K/V everywhere else; requested rows outside the recomputed range report
    // the refreshing pass's prediction. A cached pass the backend holds no matching cache for fails
    // with DLM_STATUS_ARG: callers check dlm_backend.cache_key first.
    // DLM_CACHE_BLOCK is the exact cache of a block-causal model (SDAR's store_kv): the backend keeps
    // K/V and final hidden states of [0, cache.len); a pass recomputes [active_start, n_tokens)
    // against them (it needs active_start <= cache.len under the same key, or cache_refresh with
    // active_start 0, which starts an empty cache), and with cache_store its rows join the kept
    // prefix (cache.len = n_tokens). Rows below active_start report the kept hidden states, which
    // are exact because no position attends to a later block.
    int            cache;                    // dlm_cache_mode
    bool           cache_refresh;
    bool           cache_store;              // DLM_CACHE_BLOCK: keep this pass's rows
    uint64_t       cache_key;                // nonzero label of the cache contents
    int            active_start, active_end; // canvas positions of the block being refined
    // Optional out (MoE models, NULL otherwise): the experts every recomputed position was routed to
    // in each MoE layer j (counted from the first MoE layer), best selection score first:
    // routing[((size_t)p * dlm_config_moe_layers(cfg) + j) * n_experts_used + k]. Positions this pass
    // did not recompute (cached) are left as they are.
    int16_t       *routing;
    // Set (from another thread) to abandon the pass: the backend returns DLM_STATUS_CANCELLED at its
    // next check (between layers) and the session's state is left as it was before the step.
    const volatile int *cancel;
} dlm_forward_args;

typedef struct {
    int      top_k;          // candidates per row, 0..DLM_TOP_K_MAX
    double   temperature;    // 0: the sampled token is the argmax; > 0: Gumbel-max sample of softmax(logits/T)
    uint64_t seed;           // noise stream: u = rng(seed, counter, position, token)
    uint64_t counter;
    int32_t  sample_exclude; // id never sampled (its logit is -inf for sampling only), -1 for none
    int32_t  prob_exclude;   // id removed from the softmax itself (EvoToken at T=0), -1 for none
    bool     tempered;       // probabilities of softmax(logits / T) (LLaDA2.1 at T > 0), not softmax(logits)
    float   *probs;          // optional out: (n_rows, n_vocab) full probabilities
    float   *logits;         // optional out: (n_rows, n_vocab) raw logits
} dlm_sample_opts;

typedef struct {
    int32_t token;               // sampled token (argmax at T=0); ties go to the lowest id
    float   p_token;             // its probability (noise-free softmax)
    float   p_given;             // probability of args.given[row] (0 if none)
    float   entropy;             // of the softmax, in nats
    int32_t n_top;
    int32_t top_id[DLM_TOP_K_MAX];  // by probability descending, ties to the lowest id
    float   top_p[DLM_TOP_K_MAX];
} dlm_row_summary;

// Summarise one row of logits (n_vocab floats) on the CPU. Softmax in double precision, as the
// reference decoders do. `position` feeds the noise stream. `given` may be -1.
void dlm_summarize_logits(const float *logits, int n_vocab, int position, int32_t given, const dlm_sample_opts *opts,
                          dlm_row_summary *out, float *probs_out);

static inline dlm_sample_opts dlm_sample_opts_default(void) {
    dlm_sample_opts o = {0};
    o.top_k = 5;
    o.sample_exclude = -1;
    o.prob_exclude = -1;
    return o;
}

#endif
