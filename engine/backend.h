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

struct dlm_backend {
    const dlm_backend_ops *ops;
    const dlm_model       *model; // not owned; must outlive the backend
    char                   device[64]; // human-readable device name ("cpu (2 threads)")
    uint64_t               cache_key;  // label of the KV cache the backend holds (0: none); see forward.h
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
// Whether this build includes the CUDA backend.
bool dlm_backend_cuda_built(void);

// Individual constructors (backend_cpu.c, backend_cuda.cu).
dlm_backend *dlm_backend_cpu_new(const dlm_model *model, int n_threads);

#endif
