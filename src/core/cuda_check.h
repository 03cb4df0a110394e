// The one check for CUDA runtime calls and the one typed device buffer, for the CUDA side of
// every folder (core's tensors, kernels/, src/gpu). A failing call is an Error that names the
// call and CUDA's reason, so a job prints it and exits 1 rather than "internal error". CUDA
// builds only.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/error.h"

namespace deeplab {

inline void cuda_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("CUDA ", what, ": ", cudaGetErrorString(e));
}

// Device memory for count elements of T that only grows: a loop over inputs of varying size
// reallocates only for a larger one (with an eighth to spare). Contents are undefined until
// written and not kept across a growth.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(int64_t count) { reserve(count); }
  ~DeviceArray() { release(); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* reserve(int64_t count) {
    const size_t want = size_t(count > 0 ? count : 1);
    if (want > capacity_) {
      release();
      const size_t room = want + want / 8;
      cuda_check(cudaMalloc(reinterpret_cast<void**>(&ptr_), room * sizeof(T)), "cudaMalloc");
      capacity_ = room;
    }
    return ptr_;
  }
  void release() {
    if (ptr_) cudaFree(ptr_);  // never throws: called from destructors
    ptr_ = nullptr;
    capacity_ = 0;
  }
  T* get() const { return ptr_; }
  size_t capacity() const { return capacity_; }

 private:
  T* ptr_ = nullptr;
  size_t capacity_ = 0;
};

// A CUDA library handle (stream, event, cuDNN handle) released with the object that holds it,
// also when that object's constructor throws after creating it: members already built are
// destroyed then, though the holder's destructor does not run.
template <typename Handle, auto destroy>
class OwnedHandle {
 public:
  OwnedHandle() = default;
  ~OwnedHandle() {
    if (handle_) destroy(handle_);  // the status is ignored: destructors never throw
  }
  OwnedHandle(const OwnedHandle&) = delete;
  OwnedHandle& operator=(const OwnedHandle&) = delete;

  Handle* receive() { return &handle_; }  // for the library's create call
  Handle get() const { return handle_; }

 private:
  Handle handle_ = nullptr;
};
using CudaStream = OwnedHandle<cudaStream_t, cudaStreamDestroy>;
using CudaEvent = OwnedHandle<cudaEvent_t, cudaEventDestroy>;

}  // namespace deeplab
