// Dropout with masks from kernels/dropout_math.h: every thread draws its element's mask alone,
// the same value the CPU layer draws.
#include "dropout_math.h"
#include "kernels.h"
#include "launch.cuh"

namespace deeplab::cuda {
namespace {

__global__ void forward_kernel(const float* x, float* y, float* mask, const uint64_t* keys, size_t count,
                               int64_t per_image, uint64_t seed, float ratio) {
  DL_FOR_EACH(i, count) {
    const int64_t image = int64_t(i) / per_image;
    mask[i] = kernels::dropout_scale(seed, keys[image], uint64_t(int64_t(i) - image * per_image), ratio);
    y[i] = x[i] * mask[i];
  }
}

}  // namespace

void dropout_forward(const float* x, float* y, float* mask, const uint64_t* keys, int64_t images, int64_t per_image,
                     uint64_t seed, float ratio, cudaStream_t stream) {
  const size_t count = size_t(images * per_image);
  forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, y, mask, keys, count, per_image, seed, ratio);
  check_launch("dropout_forward");
}

}  // namespace deeplab::cuda
