// CUDA kernels the library calls on device memory. Built only with DEEPLAB_CUDA=ON. Each function
// launches on the given stream (default: the legacy default stream) and checks the launch; the
// per-element arithmetic lives in the *_math.h headers, shared with the CPU operators.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace deeplab::cuda {

void relu_forward(const float* x, float* y, size_t count, cudaStream_t stream = 0);
// y is ReLU's output or input: both are > 0 exactly where the gradient passes.
void relu_backward(const float* x, const float* dy, float* dx, size_t count, cudaStream_t stream = 0);
// y += alpha x
void axpy(float alpha, const float* x, float* y, size_t count, cudaStream_t stream = 0);

// Caffe pooling (kernels/pool_math.h) over planes of height x width, output out_h x out_w.
void max_pool_forward(const float* x, float* y, int64_t planes, int64_t height, int64_t width, int64_t out_h,
                      int64_t out_w, int kernel, int stride, int pad, cudaStream_t stream);
void avg_pool_forward(const float* x, float* y, int64_t planes, int64_t height, int64_t width, int64_t out_h,
                      int64_t out_w, int kernel, int stride, int pad, cudaStream_t stream);
// dx must be zeroed first; gradients of overlapping windows add up.
void max_pool_backward(const float* x, const float* dy, float* dx, int64_t planes, int64_t height, int64_t width,
                       int64_t out_h, int64_t out_w, int kernel, int stride, int pad, cudaStream_t stream);
void avg_pool_backward(const float* dy, float* dx, int64_t planes, int64_t height, int64_t width, int64_t out_h,
                       int64_t out_w, int kernel, int stride, int pad, cudaStream_t stream);

// Dropout (kernels/dropout_math.h): keys holds one key per image (device memory); mask gets the
// scale of every element, for backward.
void dropout_forward(const float* x, float* y, float* mask, const uint64_t* keys, int64_t images, int64_t per_image,
                     uint64_t seed, float ratio, cudaStream_t stream);
void multiply(const float* a, const float* b, float* out, size_t count, cudaStream_t stream);

// Labels (uint8, images x in_h x in_w) sampled down to out_h x out_w (kernels/loss_math.h).
void shrink_labels(const uint8_t* labels, uint8_t* out, int64_t images, int64_t in_h, int64_t in_w, int64_t out_h,
                   int64_t out_w, cudaStream_t stream);

// Softmax cross-entropy with ignore label 255 (kernels/loss_math.h) over images x classes x hw
// scores: grad gets p - onehot (unnormalised: the caller divides); sums gets {loss, labelled,
// correct, bad labels} added.
void softmax_cross_entropy(const float* scores, const uint8_t* labels, float* grad, double* sums, int64_t images,
                           int classes, int64_t hw, cudaStream_t stream);
// Adds the number of non-finite values among x to *count (device memory).
void count_nonfinite(const float* x, size_t n, double* count, cudaStream_t stream);

// Caffe's SGD step (kernels/sgd_math.h) on one parameter array.
void sgd_update(float* w, float* v, const float* g, size_t count, float scale, float lr, float decay, float momentum,
                cudaStream_t stream);

}  // namespace deeplab::cuda
