// emu.cpp — the emulator behind cuda_emu.h: fibers (one per CUDA thread, a hand-written x86-64
// stack switch, cheaper than swapcontext, which makes a system call on every switch),
// block and warp barriers, shuffles, and the runtime and cuBLAS calls the backend makes.
#if !defined(__x86_64__)
#error "tests/cuda/emu: the fiber switch is x86-64 assembly (make test-cuda-emu skips elsewhere)"
#endif
#include "cuda_emu.h"
#include <stdio.h>
#include <stdlib.h>
#include <map>
#include <set>

dim3 threadIdx, blockIdx, blockDim, gridDim;

// tests/cuda/test_cuda.c reads the mode from the device name: fp32 mode must match the CPU.
#ifdef EMU_FP32
#define EMU_DEVICE_NAME "CPU emulation, bf16 kept as fp32"
#else
#define EMU_DEVICE_NAME "CPU emulation, bf16"
#endif

extern "C" void emu_switch(void **save_sp, void *to_sp);
__asm__(".text\n.globl emu_switch\n.type emu_switch,@function\nemu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n  ret\n");

enum { W_NONE, W_BLOCK, W_WARP };
struct fiber { void *sp; char *stack; dim3 idx; int warp, bcount, wcount, done, wait, target; };
#define STACK (256 * 1024)
static fiber *fibers; static int n_alloc, n_threads;
static fiber *cur; static void *sched_sp;
static std::function<void()> *body;
static int barr_gen[4], barr_n[4], block_done;
static int (*wgen)[4], (*wn)[4], *wdone;
// Shuffle values, double-buffered by the parity of the warp's barrier count: a lane can only
// write the next-but-one shuffle's slot after every lane has passed the next barrier, i.e. after
// they have all read this one, so one barrier per shuffle suffices.
static uint64_t slots[2][1024];
static char *dyn_smem; static size_t dyn_size;
void *emu_dyn_smem(void) { return dyn_smem; }

static void yield_() { emu_switch(&cur->sp, sched_sp); }
void __syncthreads(void) {
    int k = ++cur->bcount;
    if (barr_gen[k & 3] != k) barr_gen[k & 3] = k, barr_n[k & 3] = 0;
    barr_n[k & 3]++;
    cur->wait = W_BLOCK, cur->target = k;
    yield_();
}
static void warp_barrier() {
    int k = ++cur->wcount, w = cur->warp;
    if (wgen[w][k & 3] != k) wgen[w][k & 3] = k, wn[w][k & 3] = 0;
    wn[w][k & 3]++;
    cur->wait = W_WARP, cur->target = k;
    yield_();
}
uint64_t emu_shfl_bits(uint64_t bits, int src, bool xor_mode) {
    int t = (int)(cur - fibers), base = t & ~31, lane = t & 31;
    if (n_threads % 32) { fprintf(stderr, "emu: shuffle in a block of %d threads\n", n_threads); abort(); }
    const int p = (cur->wcount + 1) & 1; // the parity of the barrier below
    slots[p][t] = bits;
    warp_barrier();
    int from = xor_mode ? (lane ^ src) : src;
    if (from < 0 || from > 31) { fprintf(stderr, "emu: bad shuffle lane %d\n", from); abort(); }
    return slots[p][base + from];
}
static bool ready(const fiber *f) {
    int k = f->target;
    if (f->wait == W_BLOCK) return barr_gen[k & 3] == k && barr_n[k & 3] + block_done >= n_threads;
    if (f->wait == W_WARP) {
        int w = f->warp, lanes = n_threads - w * 32 < 32 ? n_threads - w * 32 : 32;
        return wgen[w][k & 3] == k && wn[w][k & 3] + wdone[w] >= lanes;
    }
    return true;
}
static void entry() {
    (*body)();
    cur->done = 1;
    block_done++;
    wdone[cur->warp]++;
    for (;;) yield_();
}

static cudaError_t last_err = cudaSuccess;
static std::map<const void *, int> smem_attr;
cudaError_t emu_func_set_attr(const void *f, cudaFuncAttribute a, int v) { smem_attr[f] = v; return cudaSuccess; }

void emu_launch(const void *fn, dim3 grid, dim3 block, size_t smem, cudaStream_t s, std::function<void()> b) {
    size_t nt = (size_t)block.x * block.y * block.z;
    int optin = smem_attr.count(fn) ? smem_attr[fn] : 48 * 1024;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || nt == 0 || nt > 1024 || grid.y > 65535 || smem > (size_t)optin ||
        smem > 227 * 1024) {
        fprintf(stderr, "emu: invalid launch grid (%u,%u,%u) block %zu smem %zu (opt-in %d)\n", grid.x, grid.y, grid.z, nt, smem, optin);
        last_err = cudaErrorInvalidConfiguration;
        return;
    }
    if ((int)nt > n_alloc) {
        fibers = (fiber *)realloc(fibers, nt * sizeof *fibers);
        for (int i = n_alloc; i < (int)nt; i++) fibers[i].stack = (char *)malloc(STACK);
        n_alloc = (int)nt;
    }
    n_threads = (int)nt;
    int nw = (n_threads + 31) / 32;
    wgen = (int(*)[4])calloc(nw, sizeof *wgen); wn = (int(*)[4])calloc(nw, sizeof *wn); wdone = (int *)calloc(nw, sizeof *wdone);
    free(dyn_smem); dyn_size = smem; dyn_smem = (char *)malloc(smem ? smem : 1);
    memset(dyn_smem, 0xff, smem); // garbage: reads before writes show up as NaN
    body = &b;
    gridDim = grid, blockDim = block;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                blockIdx = dim3(bx, by, bz);
                memset(barr_gen, 0, sizeof barr_gen), memset(barr_n, 0, sizeof barr_n), block_done = 0;
                memset(wgen, 0, nw * sizeof *wgen), memset(wn, 0, nw * sizeof *wn), memset(wdone, 0, nw * sizeof *wdone);
                for (int t = 0; t < n_threads; t++) {
                    fiber *f = &fibers[t];
                    f->idx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
                    f->warp = t / 32, f->bcount = f->wcount = f->done = f->wait = 0;
                    uintptr_t top = ((uintptr_t)(f->stack + STACK)) & ~(uintptr_t)15;
                    void **sp = (void **)top;
                    *--sp = 0;               // fake return address of entry
                    *--sp = (void *)entry;   // ret target
                    for (int r = 0; r < 6; r++) *--sp = 0;
                    f->sp = sp;
                }
                // Warp by warp: a warp runs until all its lanes wait at __syncthreads (or end) before
                // the next one moves, i.e. as far ahead of the others as a GPU could let it, so a
                // missing __syncthreads between one warp's shared-memory accesses and another's
                // changes the result instead of going unnoticed.
                for (;;) {
                    int alive = 0; bool progress = false;
                    for (int w = 0; w < nw; w++) {
                        const int t1 = (w + 1) * 32 < n_threads ? (w + 1) * 32 : n_threads;
                        for (bool moved = true; moved;) {
                            moved = false;
                            for (int t = w * 32; t < t1; t++) {
                                fiber *f = &fibers[t];
                                if (f->done || (f->wait && !ready(f))) continue;
                                f->wait = W_NONE;
                                cur = f; threadIdx = f->idx;
                                emu_switch(&sched_sp, f->sp);
                                moved = progress = true;
                            }
                        }
                    }
                    for (int t = 0; t < n_threads; t++) alive += !fibers[t].done;
                    if (!alive) break;
                    if (!progress) { fprintf(stderr, "emu: deadlock in block (%u,%u)\n", bx, by); abort(); }
                }
            }
    free(wgen); free(wn); free(wdone);
}

// runtime
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    default: return "emulated error";
    }
}
cudaError_t cudaGetLastError(void) { cudaError_t e = last_err; last_err = cudaSuccess; return e; }
cudaError_t cudaGetDeviceCount(int *n) { *n = getenv("EMU_NO_DEVICE") ? 0 : 1; return getenv("EMU_NO_DEVICE") ? cudaErrorNoDevice : cudaSuccess; }
cudaError_t cudaSetDevice(int) { return cudaSuccess; }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int) {
    memset(p, 0, sizeof *p); strcpy(p->name, EMU_DEVICE_NAME); p->major = 9; p->minor = 0; p->sharedMemPerBlockOptin = 227 * 1024; return cudaSuccess;
}
static std::map<void *, size_t> allocs;
static size_t emu_limit() { const char *s = getenv("EMU_MEM_LIMIT"); return s ? (size_t)atoll(s) : (size_t)1 << 40; }
static size_t in_use;
cudaError_t cudaMalloc(void **p, size_t n) {
    if (in_use + n > emu_limit()) { *p = NULL; last_err = cudaErrorMemoryAllocation; return cudaErrorMemoryAllocation; }
    *p = malloc(n);
    if (!*p) return cudaErrorMemoryAllocation;
    memset(*p, 0xff, n);
    allocs[*p] = n; in_use += n;
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) { if (p) { in_use -= allocs[p]; allocs.erase(p); free(p); } return cudaSuccess; }
cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind) { memcpy(d, s, n); return cudaSuccess; }
cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind, cudaStream_t) { memcpy(d, s, n); return cudaSuccess; }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) { *s = (cudaStream_t)malloc(1); return cudaSuccess; }
cudaError_t cudaStreamDestroy(cudaStream_t s) { free(s); return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
size_t emu_in_use(void) { return in_use; }

// cuBLAS
cublasStatus_t cublasCreate(cublasHandle_t *h) { *h = (cublasHandle_t)malloc(1); return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasDestroy(cublasHandle_t h) { free(h); return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
const char *cublasGetStatusString(cublasStatus_t s) { return s ? "CUBLAS_STATUS_NOT_SUPPORTED" : "CUBLAS_STATUS_SUCCESS"; }
static float ld(const void *p, cudaDataType t, size_t i) {
    if (t == CUDA_R_32F) return ((const float *)p)[i];
    return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
}
cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void *alpha,
                            const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt, int ldb, const void *beta,
                            void *C, cudaDataType ct, int ldc, cublasComputeType_t comp, cublasGemmAlgo_t) {
    if (ct != CUDA_R_32F || comp != CUBLAS_COMPUTE_32F || m <= 0 || n <= 0 || k <= 0) return CUBLAS_STATUS_INVALID_VALUE;
    if (lda < (ta == CUBLAS_OP_N ? m : k) || ldb < (tb == CUBLAS_OP_N ? k : n) || ldc < m) return CUBLAS_STATUS_INVALID_VALUE;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    float *c = (float *)C;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float acc = 0;
            for (int l = 0; l < k; l++) {
                float a = ta == CUBLAS_OP_N ? ld(A, at, i + (size_t)l * lda) : ld(A, at, l + (size_t)i * lda);
                float b = tb == CUBLAS_OP_N ? ld(B, bt, l + (size_t)j * ldb) : ld(B, bt, j + (size_t)l * ldb);
                acc += a * b;
            }
            size_t ci = i + (size_t)j * ldc;
            c[ci] = al * acc + (be == 0.0f ? 0.0f : be * c[ci]);
        }
    return CUBLAS_STATUS_SUCCESS;
}
