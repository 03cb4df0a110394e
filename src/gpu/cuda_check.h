// Failing CUDA and cuDNN calls become Errors that name the call and the library's reason (CUDA's
// check and device buffer are core/cuda_check.h's).
#pragma once
#include <cuda_runtime.h>
#include <cudnn.h>

#include "core/cuda_check.h"
#include "core/error.h"

namespace deeplab::gpu {

inline void check(cudaError_t e, const char* what) { cuda_check(e, what); }
inline void check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) fail("cuDNN ", what, ": ", cudnnGetErrorString(s));
}

using deeplab::CudaStream;
using deeplab::DeviceArray;
using CudnnHandle = OwnedHandle<cudnnHandle_t, cudnnDestroy>;

}  // namespace deeplab::gpu
