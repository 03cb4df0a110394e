// CUDA kernels the library calls on device tensors. Built only with DEEPLAB_CUDA=ON; each
// function launches on the default stream and checks the launch.
#pragma once
#include <cstddef>

namespace deeplab::cuda {

void fill(float* dst, size_t count, float value);
void relu_forward(const float* x, float* y, size_t count);
void relu_backward(const float* x, const float* dy, float* dx, size_t count);

}  // namespace deeplab::cuda
