// backend.c — backend selection and dispatch, and the argument check every backend shares.
#include <math.h>
#include <string.h>

#include "backend.h"

#ifdef DLM_CUDA
dlm_backend *dlm_backend_cuda_new(const dlm_model *model);
int dlm_cuda_device_count(void);
bool dlm_backend_cuda_built(void) { return true; }
#else
bool dlm_backend_cuda_built(void) { return false; }
#endif

dlm_backend *dlm_backend_new(const dlm_model *model, const char *name, int n_threads) {
    if (!name || strcmp(name, "auto") == 0) {
        // CPU even when CUDA is built: the CUDA backend is unverified until `make test-cuda` has
        // passed on a GPU. Then auto becomes CUDA when dlm_cuda_device_count() > 0, else CPU.
        return dlm_backend_cpu_new(model, n_threads);
    }
    if (strcmp(name, "cpu") == 0) return dlm_backend_cpu_new(model, n_threads);
    if (strcmp(name, "cuda") == 0) {
#ifdef DLM_CUDA
        return dlm_backend_cuda_new(model);
#else
        dlm_error(DLM_STATUS_UNSUPPORTED, "--device cuda: this dlmscope was built without CUDA (rebuild where nvcc is found)");
        return NULL;
#endif
    }
    dlm_error(DLM_STATUS_ARG, "--device '%s': expected cpu, cuda or auto", name);
    return NULL;
}

void dlm_backend_free(dlm_backend *be) {
    if (be) be->ops->free(be);
}

dlm_status dlm_backend_forward(dlm_backend *be, const dlm_forward_args *args, const dlm_sample_opts *opts,
                               dlm_row_summary *out) {
    return be->ops->forward(be, args, opts, out);
}

dlm_status dlm_forward_args_check(const dlm_config *c, const dlm_forward_args *a, const dlm_sample_opts *o) {
    if (a->n_tokens < 1 || a->n_tokens > c->max_seq_len)
        return dlm_error(DLM_STATUS_ARG, "sequence of %d tokens; the model takes 1 to %d", a->n_tokens, c->max_seq_len);
    if (a->n_rows < 0 || a->n_rows > a->n_tokens) return dlm_error(DLM_STATUS_ARG, "%d output rows for %d tokens", a->n_rows, a->n_tokens);
    if (a->soft_k < 0 || a->soft_k > 64) return dlm_error(DLM_STATUS_ARG, "soft_k %d is out of range [0, 64]", a->soft_k);
    if (a->block_size < 0) return dlm_error(DLM_STATUS_ARG, "block size %d is negative", a->block_size);
    if (a->block_origin < 0 || (a->block_origin > 0 && a->block_size <= 0))
        return dlm_error(DLM_STATUS_ARG, "block origin %d needs block-causal attention (block size %d)", a->block_origin,
                         a->block_size);
    if (a->cache < DLM_CACHE_NONE || a->cache > DLM_CACHE_BLOCK) return dlm_error(DLM_STATUS_ARG, "cache mode %d", a->cache);
    if (a->cache == DLM_CACHE_BLOCK && a->block_size <= 0)
        return dlm_error(DLM_STATUS_ARG, "the block cache is exact only for block-causal attention (block size 0)");
    if (a->cache == DLM_CACHE_BLOCK && (a->active_start < 0 || a->active_start >= a->n_tokens))
        return dlm_error(DLM_STATUS_ARG, "block cache pass starts at %d, outside the sequence [0, %d)", a->active_start,
                         a->n_tokens);
    if ((a->cache == DLM_CACHE_PREFIX || a->cache == DLM_CACHE_DUAL) && (a->active_start < 0 || a->active_start >= a->active_end || a->active_end > a->n_tokens))
        return dlm_error(DLM_STATUS_ARG, "active block [%d, %d) is outside the sequence [0, %d)", a->active_start,
                         a->active_end, a->n_tokens);
    for (int i = 0; i < a->n_tokens; i++)
        if (a->ids[i] < 0 || a->ids[i] >= c->n_vocab)
            return dlm_error(DLM_STATUS_ARG, "token id %d at position %d is outside the vocabulary [0, %d)", a->ids[i], i,
                             c->n_vocab);
    for (int i = 0; i < a->n_tokens * a->soft_k; i++) {
        if (a->soft_ids[i] < 0 || a->soft_ids[i] >= c->n_vocab)
            return dlm_error(DLM_STATUS_ARG, "soft token id %d at position %d is outside the vocabulary", a->soft_ids[i],
                             i / a->soft_k);
        if (!isfinite(a->soft_w[i]))
            return dlm_error(DLM_STATUS_ARG, "soft weight at position %d is not finite", i / a->soft_k);
    }
    for (int r = 0; r < a->n_rows; r++) {
        if (a->rows[r] < 0 || a->rows[r] >= a->n_tokens)
            return dlm_error(DLM_STATUS_ARG, "output row %d is outside the sequence [0, %d)", a->rows[r], a->n_tokens);
        if (a->given && (a->given[r] < -1 || a->given[r] >= c->n_vocab))
            return dlm_error(DLM_STATUS_ARG, "given token %d is outside the vocabulary", a->given[r]);
    }
    if (o->top_k < 0 || o->top_k > DLM_TOP_K_MAX)
        return dlm_error(DLM_STATUS_ARG, "top-k %d is out of range [0, %d]", o->top_k, DLM_TOP_K_MAX);
    return DLM_STATUS_OK;
}

dlm_status dlm_cache_plan(dlm_backend *be, const dlm_forward_args *a, int *q0, int *q1, int *grow_to) {
    const int L = a->n_tokens;
    dlm_cache_info *c = &be->cache;
    *q0 = 0, *q1 = L, *grow_to = 0;
    if (a->cache == DLM_CACHE_NONE) return DLM_STATUS_OK;
    if (a->cache_key == 0) return dlm_error(DLM_STATUS_ARG, "a cached forward pass needs a nonzero cache key");
    if (a->cache == DLM_CACHE_BLOCK) {
        if (a->cache_refresh) {
            if (a->active_start != 0)
                return dlm_error(DLM_STATUS_ARG, "a block cache starts empty: its first pass starts at position 0, not %d",
                                 a->active_start);
            be->cache_key = 0;
            c->len = 0;
        } else if (be->cache_key != a->cache_key || c->mode != DLM_CACHE_BLOCK || c->len < a->active_start) {
            return dlm_error(DLM_STATUS_ARG, "KV cache miss: the backend keeps no block cache up to position %d (refresh it first)",
                             a->active_start);
        }
        if (L > c->cap) *grow_to = L > 2 * c->cap ? L : 2 * c->cap;
        *q0 = a->active_start;
        return DLM_STATUS_OK;
    }
    if (a->cache_refresh) {
        be->cache_key = 0;
        c->len = 0;
        if (L > c->cap) *grow_to = L;
        return DLM_STATUS_OK;
    }
    if (be->cache_key != a->cache_key || c->len != L || c->mode != a->cache || c->start != a->active_start ||
        c->end != a->active_end)
        return dlm_error(DLM_STATUS_ARG, "KV cache miss: the backend holds no cache for this pass (refresh it first)");
    *q0 = a->active_start;
    *q1 = a->cache == DLM_CACHE_DUAL ? a->active_end : L;
    return DLM_STATUS_OK;
}

void dlm_cache_commit(dlm_backend *be, const dlm_forward_args *a) {
    dlm_cache_info *c = &be->cache;
    if (a->cache == DLM_CACHE_BLOCK) {
        c->mode = DLM_CACHE_BLOCK;
        if (a->cache_store) c->len = a->n_tokens;
        be->cache_key = a->cache_key;
    } else if (a->cache != DLM_CACHE_NONE && a->cache_refresh) {
        c->len = a->n_tokens, c->mode = a->cache, c->start = a->active_start, c->end = a->active_end;
        be->cache_key = a->cache_key;
    }
}
