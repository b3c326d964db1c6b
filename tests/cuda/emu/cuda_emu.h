// cuda_emu.h — a CPU emulation of the part of CUDA and cuBLAS that engine/backend_cuda.cu uses, so
// `make test-cuda-emu` can run the backend's kernels against the CPU reference on a machine with
// no GPU (CI). Test only: never linked into dlmscope.
//
// What it emulates: transform.py rewrites each `kernel<<<grid, block, smem, stream>>>(args);` into
// emu_launch(), which runs the grid's blocks one after another and each block's threads as fibers
// (one stack per CUDA thread, switched in emu.cpp), so __syncthreads and warp shuffles (a barrier
// of the warp's 32 lanes) behave as on the GPU, and each warp runs as far ahead of the others as
// the barriers allow, so a missing __syncthreads around shared memory shared by warps shows up; __shared__ memory is per block, dynamic shared
// memory starts as garbage (0xff bytes, NaN as floats) and launches over the opt-in limit fail.
// Device memory is host memory (filled with 0xff on allocation); copies are synchronous;
// cublasGemmEx is a naive fp32 loop. bf16 rounds to nearest even as __float2bfloat16_rn does,
// or, with EMU_FP32, keeps every fp32 bit so the backend must match the CPU to rounding.
//
// What it cannot show: timing or occupancy; races within a warp (its lanes take turns, one
// barrier or shuffle at a time) or between blocks (they run one after another), and anything else
// only the real memory model exposes; divergent shuffles with partial masks; cuBLAS's own
// numerics (split-K, tensor-core accumulation order); device faults (out-of-bounds device
// accesses are caught by ASan only as host accesses to the malloc'ed buffers); the x86-64 stack
// switch limits it to x86-64.
#pragma once
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <math.h>
#include <functional>

#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __launch_bounds__(x)

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
extern dim3 threadIdx, blockIdx, blockDim, gridDim;

static inline int min(int a, int b) { return a < b ? a : b; }

#ifdef EMU_FP32
// "bf16" that keeps every bit of fp32: the emulated backend must then match the CPU to rounding.
struct __nv_bfloat16 { float x; };
static inline float __bfloat162float(__nv_bfloat16 h) { return h.x; }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { __nv_bfloat16 h; h.x = f; return h; }
#else
struct __nv_bfloat16 { uint16_t x; };
static inline float __bfloat162float(__nv_bfloat16 h) { uint32_t u = (uint32_t)h.x << 16; float f; memcpy(&f, &u, 4); return f; }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u; memcpy(&u, &f, 4);
    __nv_bfloat16 h;
    if ((u & 0x7fffffffu) > 0x7f800000u) { h.x = (uint16_t)((u >> 16) | 0x40); return h; }
    u += 0x7fffu + ((u >> 16) & 1);
    h.x = (uint16_t)(u >> 16);
    return h;
}
#endif

void __syncthreads(void);
uint64_t emu_shfl_bits(uint64_t bits, int src_lane, bool xor_mode);
template <typename T> static inline T __shfl_xor_sync(unsigned, T v, int o) {
    uint64_t b = 0; memcpy(&b, &v, sizeof v); b = emu_shfl_bits(b, o, true); T r; memcpy(&r, &b, sizeof r); return r;
}
template <typename T> static inline T __shfl_sync(unsigned, T v, int lane) {
    uint64_t b = 0; memcpy(&b, &v, sizeof v); b = emu_shfl_bits(b, lane, false); T r; memcpy(&r, &b, sizeof r); return r;
}
void *emu_dyn_smem(void);

// runtime
typedef enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2, cudaErrorInvalidConfiguration = 9,
               cudaErrorNoDevice = 100 } cudaError_t;
typedef enum { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice } cudaMemcpyKind;
typedef struct emu_stream *cudaStream_t;
#define cudaStreamNonBlocking 1
typedef enum { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 } cudaFuncAttribute;
struct cudaDeviceProp { char name[256]; int major, minor; size_t sharedMemPerBlockOptin; };
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d);
cudaError_t cudaMalloc(void **p, size_t n);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind k);
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t st);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t emu_func_set_attr(const void *f, cudaFuncAttribute a, int v);
template <class F> cudaError_t cudaFuncSetAttribute(F *f, cudaFuncAttribute a, int v) { return emu_func_set_attr((const void *)f, a, v); }
void emu_launch(const void *fn, dim3 grid, dim3 block, size_t smem, cudaStream_t s, std::function<void()> body);

// cuBLAS
typedef struct emu_blas *cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7, CUBLAS_STATUS_NOT_SUPPORTED = 15 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16BF = 14 } cudaDataType;
typedef enum { CUBLAS_COMPUTE_32F = 68 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
const char *cublasGetStatusString(cublasStatus_t s);
cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void *alpha,
                            const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt, int ldb, const void *beta,
                            void *C, cudaDataType ct, int ldc, cublasComputeType_t comp, cublasGemmAlgo_t algo);
