// Elementwise kernels: ReLU, axpy, products, the non-finite count.
#include "kernels.h"
#include "launch.cuh"

namespace deeplab::cuda {
namespace {

__global__ void relu_forward_kernel(const float* x, float* y, size_t count) {
  DL_FOR_EACH(i, count) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
__global__ void relu_backward_kernel(const float* x, const float* dy, float* dx, size_t count) {
  DL_FOR_EACH(i, count) dx[i] = x[i] <= 0.0f ? 0.0f : dy[i];  // NaN passes, as on the CPU
}
__global__ void axpy_kernel(float alpha, const float* x, float* y, size_t count) {
  DL_FOR_EACH(i, count) y[i] += alpha * x[i];
}
__global__ void multiply_kernel(const float* a, const float* b, float* out, size_t count) {
  DL_FOR_EACH(i, count) out[i] = a[i] * b[i];
}

__global__ void nonfinite_kernel(const float* x, size_t count, double* total) {
  unsigned bad = 0;
  DL_FOR_EACH(i, count) bad += !isfinite(x[i]);
  // One atomic per warp that saw any.
  for (int offset = 16; offset > 0; offset /= 2) bad += __shfl_down_sync(0xffffffffu, bad, offset);
  if ((threadIdx.x & 31) == 0 && bad) atomicAdd(total, double(bad));
}

}  // namespace

void count_nonfinite(const float* x, size_t n, double* count, cudaStream_t stream) {
  nonfinite_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, count);
  check_launch("count_nonfinite");
}

void relu_forward(const float* x, float* y, size_t count, cudaStream_t stream) {
  relu_forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, y, count);
  check_launch("relu_forward");
}
void relu_backward(const float* x, const float* dy, float* dx, size_t count, cudaStream_t stream) {
  relu_backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, dy, dx, count);
  check_launch("relu_backward");
}
void axpy(float alpha, const float* x, float* y, size_t count, cudaStream_t stream) {
  axpy_kernel<<<blocks_for(count), kThreads, 0, stream>>>(alpha, x, y, count);
  check_launch("axpy");
}
void multiply(const float* a, const float* b, float* out, size_t count, cudaStream_t stream) {
  multiply_kernel<<<blocks_for(count), kThreads, 0, stream>>>(a, b, out, count);
  check_launch("multiply");
}

}  // namespace deeplab::cuda
