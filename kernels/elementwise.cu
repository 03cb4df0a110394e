// Elementwise kernels: fill and ReLU. Grid-stride loops so any size works with one launch.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels.h"

namespace deeplab::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(size_t count) {
  size_t b = (count + kThreads - 1) / kThreads;
  return unsigned(b < 65535 ? (b == 0 ? 1 : b) : 65535);
}

void check_launch(const char* what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA kernel ") + what + ": " + cudaGetErrorString(e));
}

__global__ void fill_kernel(float* dst, size_t count, float value) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

__global__ void relu_forward_kernel(const float* x, float* y, size_t count) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x)
    y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void relu_backward_kernel(const float* x, const float* dy, float* dx, size_t count) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x)
    dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

}  // namespace

void fill(float* dst, size_t count, float value) {
  fill_kernel<<<blocks_for(count), kThreads>>>(dst, count, value);
  check_launch("fill");
}

void relu_forward(const float* x, float* y, size_t count) {
  relu_forward_kernel<<<blocks_for(count), kThreads>>>(x, y, count);
  check_launch("relu_forward");
}

void relu_backward(const float* x, const float* dy, float* dx, size_t count) {
  relu_backward_kernel<<<blocks_for(count), kThreads>>>(x, dy, dx, count);
  check_launch("relu_backward");
}

}  // namespace deeplab::cuda
