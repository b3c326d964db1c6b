// backend.h — the compute backend vtable: the CPU reference and (when built) CUDA sit behind it.
//
// No backend-specific type appears here. A backend reads the weights from the memory-mapped
// checkpoint (the CPU in place, the GPU through a device copy), with LoRA merged, and owns its
// scratch memory.
//
//   dlm_backend *be = dlm_backend_new(model, "cpu", 0);      // 0 threads: all cores
//   dlm_row_summary sum[n_rows];
//   dlm_sample_opts so = dlm_sample_opts_default();
//   if (dlm_backend_forward(be, &args, &so, sum) != DLM_STATUS_OK) ...
//   dlm_backend_free(be);
#ifndef DLM_BACKEND_H
#define DLM_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "forward.h"
#include "model.h"

typedef struct dlm_backend dlm_backend;

typedef struct {
    const char *name;
    // Run one forward pass and summarise the requested rows (see forward.h). Thread-compatible:
    // one call at a time per backend.
    dlm_status (*forward)(dlm_backend *be, const dlm_forward_args *args, const dlm_sample_opts *opts,
                          dlm_row_summary *out);
    void (*free)(dlm_backend *be);
} dlm_backend_ops;

// What the backend's KV cache holds (forward.h), kept by the shared cache plan below.
typedef struct {
    int cap;        // positions the backend's buffers hold (it allocates them; see dlm_cache_plan)
    int len;        // positions the cache covers: the refreshing pass's n_tokens, or BLOCK's kept prefix
    int mode;       // dlm_cache_mode of the refreshing pass
    int start, end; // its active range (PREFIX, DUAL)
} dlm_cache_info;

struct dlm_backend {
    const dlm_backend_ops *ops;
    const dlm_model       *model; // not owned; must outlive the backend
    char                   device[64]; // human-readable device name ("cpu (2 threads)")
    uint64_t               cache_key;  // label of the KV cache the backend holds (0: none); see forward.h
    dlm_cache_info         cache;
    void                  *impl;
};

// Create a backend by name: "cpu", "cuda", or "auto" (CUDA when built and a GPU is present).
// Returns NULL with a message on failure. Caller frees with dlm_backend_free.
dlm_backend *dlm_backend_new(const dlm_model *model, const char *name, int n_threads);
void dlm_backend_free(dlm_backend *be);
dlm_status dlm_backend_forward(dlm_backend *be, const dlm_forward_args *args, const dlm_sample_opts *opts,
                               dlm_row_summary *out);
// Check a forward pass's arguments against the model (sizes, ids, rows, cache fields, top-k):
// DLM_STATUS_ARG with a message naming the first bad one. Every backend's forward starts here.
dlm_status dlm_forward_args_check(const dlm_config *cfg, const dlm_forward_args *args, const dlm_sample_opts *opts);
// The cache policy every backend follows (forward.h): the positions this pass recomputes,
// [*q0, *q1), after checking a cached pass against what the backend holds. *grow_to > 0: the
// backend must first make its cache buffers hold that many positions, keeping the first
// be->cache.len (BLOCK) of them, then set be->cache.cap. A refreshing pass invalidates the old
// cache until dlm_cache_commit, which the backend calls after the pass succeeded.
dlm_status dlm_cache_plan(dlm_backend *be, const dlm_forward_args *args, int *q0, int *q1, int *grow_to);
void dlm_cache_commit(dlm_backend *be, const dlm_forward_args *args);

// The hidden-state row a position's distribution is read from: i - 1 when the family shifts its
// logits (Dream: the first position takes row 0), else i.
static inline int dlm_logit_row(const dlm_config *c, int position) {
    return c->shift_logits && position > 0 ? position - 1 : position;
}

// Whether this build includes the CUDA backend.
bool dlm_backend_cuda_built(void);

// Individual constructors (backend_cpu.c, backend_cuda.cu).
dlm_backend *dlm_backend_cpu_new(const dlm_model *model, int n_threads);

#endif
