// Caffe's SGD step on the device, per element as on the CPU (kernels/sgd_math.h).
#include "kernels.h"
#include "launch.cuh"
#include "sgd_math.h"

namespace deeplab::cuda {
namespace {

__global__ void sgd_kernel(float* w, float* v, const float* g, size_t count, float scale, float lr, float decay,
                           float momentum) {
  DL_FOR_EACH(i, count) kernels::sgd_step(w[i], v[i], g[i], scale, lr, decay, momentum);
}

}  // namespace

void sgd_update(float* w, float* v, const float* g, size_t count, float scale, float lr, float decay, float momentum,
                cudaStream_t stream) {
  sgd_kernel<<<blocks_for(count), kThreads, 0, stream>>>(w, v, g, count, scale, lr, decay, momentum);
  check_launch("sgd_update");
}

}  // namespace deeplab::cuda
