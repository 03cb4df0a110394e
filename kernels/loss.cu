// The training loss on the device: label shrinking and softmax cross-entropy with ignore label,
// one thread per pixel, arithmetic shared with the CPU (kernels/loss_math.h). Sums are
// reduced per block in shared memory, then added to the totals with one atomic per block.
#include "kernels.h"
#include "launch.cuh"
#include "loss_math.h"

namespace deeplab::cuda {
namespace {

__global__ void shrink_kernel(const uint8_t* labels, uint8_t* out, size_t count, int64_t in_h, int64_t in_w,
                              int64_t out_h, int64_t out_w) {
  DL_FOR_EACH(i, count) {
    const int64_t x = int64_t(i % out_w), y = int64_t(i / out_w % out_h), b = int64_t(i / (out_w * out_h));
    out[i] = labels[(b * in_h + kernels::shrink_source(y, in_h, out_h)) * in_w + kernels::shrink_source(x, in_w, out_w)];
  }
}

// sums: loss, labelled, correct, labels out of range.
__global__ void loss_kernel(const float* scores, const uint8_t* labels, float* grad, double* sums, size_t pixels,
                            int classes, int64_t hw) {
  __shared__ double partial[4][kThreads];
  double acc[4] = {0, 0, 0, 0};
  DL_FOR_EACH(i, pixels) {
    const int64_t b = int64_t(i) / hw, p = int64_t(i) - b * hw, at = b * classes * hw + p;
    int label = labels[i];
    if (label != kernels::kIgnore && label >= classes) {
      acc[3] += 1;
      label = kernels::kIgnore;  // reported by the caller; contributes nothing
    }
    const kernels::PixelLoss l = kernels::softmax_cross_entropy_pixel(scores + at, grad + at, hw, classes, label);
    acc[0] += l.loss;
    acc[1] += l.labelled;
    acc[2] += l.correct;
  }
  for (int k = 0; k < 4; ++k) partial[k][threadIdx.x] = acc[k];
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half)
      for (int k = 0; k < 4; ++k) partial[k][threadIdx.x] += partial[k][threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int k = 0; k < 4; ++k) atomicAdd(sums + k, partial[k][0]);
}

}  // namespace

void shrink_labels(const uint8_t* labels, uint8_t* out, int64_t images, int64_t in_h, int64_t in_w, int64_t out_h,
                   int64_t out_w, cudaStream_t stream) {
  const size_t count = size_t(images * out_h * out_w);
  shrink_kernel<<<blocks_for(count), kThreads, 0, stream>>>(labels, out, count, in_h, in_w, out_h, out_w);
  check_launch("shrink_labels");
}

void softmax_cross_entropy(const float* scores, const uint8_t* labels, float* grad, double* sums, int64_t images,
                           int classes, int64_t hw, cudaStream_t stream) {
  const size_t pixels = size_t(images * hw);
  loss_kernel<<<blocks_for(pixels), kThreads, 0, stream>>>(scores, labels, grad, sums, pixels, classes, hw);
  check_launch("softmax_cross_entropy");
}

}  // namespace deeplab::cuda
