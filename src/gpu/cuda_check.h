// Failing CUDA, cuDNN and cuBLAS calls become Errors that name the call and the library's reason.
#pragma once
#include <cuda_runtime.h>
#include <cudnn.h>

#include "core/error.h"

namespace deeplab::gpu {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA ", what, ": ", cudaGetErrorString(e));
}
inline void check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) fail("cuDNN ", what, ": ", cudnnGetErrorString(s));
}

// Device memory of any element type, freed with its owner; contents undefined until written.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(size_t count) { resize(count); }
  ~DeviceArray() { cudaFree(ptr_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  // Grows (never shrinks); old contents are not kept.
  void resize(size_t count) {
    if (count <= count_) return;
    cudaFree(ptr_);
    ptr_ = nullptr;
    check(cudaMalloc(&ptr_, count * sizeof(T)), "cudaMalloc");
    count_ = count;
  }
  T* get() const { return ptr_; }
  size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

}  // namespace deeplab::gpu
