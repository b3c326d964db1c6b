// backend.c — backend selection and dispatch.
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
#ifdef DLM_CUDA
        if (dlm_cuda_device_count() > 0) return dlm_backend_cuda_new(model);
#endif
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
