// What every kernel file needs: a grid size for grid-stride loops and a launch check.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "core/cuda_check.h"

namespace deeplab::cuda {

constexpr int kThreads = 256;

inline unsigned blocks_for(size_t count) {
  const size_t b = (count + kThreads - 1) / kThreads;
  return unsigned(b == 0 ? 1 : (b < 65535 ? b : 65535));
}

inline void check_launch(const char* what) { cuda_check(cudaGetLastError(), what); }

// Index i of a grid-stride loop over count elements.
#define DL_FOR_EACH(i, count) \
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < size_t(count); i += size_t(gridDim.x) * blockDim.x)

}  // namespace deeplab::cuda
