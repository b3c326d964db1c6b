// cpu_gemm.h — the CPU backend's matrix products, from weights in the checkpoint's own dtype.
//
// A weight is a view: rows x cols, row-major (PyTorch Linear layout, out x in), in F32, BF16 or F16,
// usually pointing straight into the read-only safetensors mapping, so nothing is expanded at load
// and resident memory follows what the forward touches. Half-precision weights are converted to
// fp32 one panel at a time inside the product (a 16-bit shift for bf16, F16C for f16), so the
// arithmetic is fp32 throughout and a bf16 checkpoint gives exactly the fp32 path's results.
//
//   cpu_weight w[3] = {wq, wk, wv};                 // outputs side by side: q | k | v
//   cpu_gemm(qkv, qkv_dim, xb, d, w, 3, n_tokens, 0.0f);
#ifndef DLM_CPU_GEMM_H
#define DLM_CPU_GEMM_H

#include <stdint.h>

#include "safetensors.h"

typedef struct {
    dlm_dtype   dtype; // DLM_DTYPE_F32, _F16 or _BF16
    const void *data;  // rows * cols elements; not owned
    int64_t     rows;  // output features
    int64_t     cols;  // input features
} cpu_weight;

// out[:, c0 .. c0 + w[i].rows) = x @ w[i]^T + beta * out, for each weight i in turn with c0 the sum of
// the previous weights' rows: out is (m, sum of rows) with row stride ldo, x is (m, cols) with row
// stride ldx; every weight has the same cols. Parallel over panels of output columns (OpenMP,
// dynamic schedule, so a thread slowed by another process takes fewer panels).
void cpu_gemm(float *out, int ldo, const float *x, int ldx, const cpu_weight *w, int n_weights, int m, float beta);

// n elements of `src` (of dtype) to fp32.
void cpu_convert_f32(dlm_dtype dtype, const void *src, int64_t n, float *dst);

// Row r of a weight as fp32 (the embedding lookup). dst holds w->cols floats.
void cpu_weight_row(const cpu_weight *w, int64_t r, float *dst);

#endif
