// hostdev.h — DLM_HOSTDEV marks small inline functions that the CPU code and the CUDA kernels share,
// so both backends compute the same thing from one definition.
#ifndef DLM_HOSTDEV_H
#define DLM_HOSTDEV_H

#ifdef __CUDACC__
#define DLM_HOSTDEV __host__ __device__
#else
#define DLM_HOSTDEV
#endif

#endif
