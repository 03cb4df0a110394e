// DL_HD marks a function that runs both on the host and on a CUDA device. The CUDA kernels call
// such functions per element and the CPU operators call the very same ones, so the two backends
// cannot drift apart, and the CPU tests check the code the GPU runs.
#pragma once

#ifdef __CUDACC__
#define DL_HD __host__ __device__ __forceinline__
#else
#define DL_HD inline
#endif
