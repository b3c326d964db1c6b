// safetensors.h — memory-mapped Hugging Face safetensors files, single or sharded.
//
// File layout: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [r, c], "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the data block; offsets are relative to the start of the data block. Every header field,
// shape and offset is checked against the file size before a tensor is handed out: the files are
// treated as hostile.
//
//   dlm_tensor_set *ts;
//   if (dlm_tensor_set_open_dir("model/", "model", &ts) != DLM_STATUS_OK) ... dlm_error_message()
//   const dlm_tensor *t = dlm_tensor_set_find(ts, "model.transformer.wte.weight");
//   dlm_tensor_to_f32(t, dst);          // dst holds dlm_tensor_numel(t) floats
//   dlm_tensor_set_free(ts);            // unmaps every file; tensors die with it
#ifndef DLM_SAFETENSORS_H
#define DLM_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define DLM_TENSOR_MAX_DIMS 8

typedef enum {
    DLM_DTYPE_F32,
    DLM_DTYPE_F16,
    DLM_DTYPE_BF16,
    DLM_DTYPE_OTHER, // a dtype we recognise but cannot convert (I64, F8_E4M3, ...)
} dlm_dtype;

typedef struct {
    const char *name;       // owned by the set
    const char *file;       // path of the file holding it; owned by the set
    char        dtype_name[12];
    dlm_dtype   dtype;
    int         n_dims;
    int64_t     shape[DLM_TENSOR_MAX_DIMS];
    const void *data;       // points into the read-only mapping
    size_t      n_bytes;
} dlm_tensor;

typedef struct dlm_tensor_set dlm_tensor_set;

// Open DIR/STEM.safetensors, or, when absent, DIR/STEM.safetensors.index.json and every shard it
// names. *out is NULL on error. Caller frees with dlm_tensor_set_free.
dlm_status dlm_tensor_set_open_dir(const char *dir, const char *stem, dlm_tensor_set **out);
// Open one safetensors file (no index). *out is NULL on error.
dlm_status dlm_tensor_set_open_file(const char *path, dlm_tensor_set **out);
void dlm_tensor_set_free(dlm_tensor_set *set);

// NULL if absent. Valid until the set is freed.
const dlm_tensor *dlm_tensor_set_find(const dlm_tensor_set *set, const char *name);
int dlm_tensor_set_count(const dlm_tensor_set *set);
const dlm_tensor *dlm_tensor_set_at(const dlm_tensor_set *set, int i);

int64_t dlm_tensor_numel(const dlm_tensor *t);
// Convert n elements starting at element offset `first` to fp32. t->dtype must be F32/F16/BF16.
void dlm_tensor_to_f32(const dlm_tensor *t, int64_t first, int64_t n, float *dst);

// Scalar conversions (exposed for tests and the CUDA backend's host staging).
float dlm_bf16_to_f32(uint16_t h);
float dlm_f16_to_f32(uint16_t h);
uint16_t dlm_f32_to_bf16(float f); // round to nearest even, NaN preserved
uint16_t dlm_f32_to_f16(float f);  // round to nearest even; overflow to inf, subnormals kept

#endif
