// Bilinear resize with corners aligned, one thread per output element (kernels/interp_math.h,
// the CPU operator's arithmetic). Backward scatters each output's gradient to its four sources.
#include "interp_math.h"
#include "kernels.h"
#include "launch.cuh"

namespace deeplab::cuda {
namespace {

struct Sources {
  int64_t plane, a, b, c, d;  // offsets of the four source pixels within the plane
  float wa, wb, wc, wd;
};

__device__ Sources sources(size_t i, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w) {
  const int64_t x = int64_t(i % out_w), y = int64_t(i / out_w % out_h);
  const kernels::BilinearTap ty = kernels::bilinear_tap(y, in_h, out_h), tx = kernels::bilinear_tap(x, in_w, out_w);
  const int64_t r0 = ty.lo * in_w, r1 = r0 + ty.step * in_w, c0 = tx.lo, c1 = c0 + tx.step;
  const float fy = ty.frac, fx = tx.frac;
  return {int64_t(i / (out_w * out_h)), r0 + c0, r0 + c1, r1 + c0, r1 + c1,
          (1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx};
}

__global__ void forward_kernel(const float* x, float* y, size_t count, int64_t in_h, int64_t in_w, int64_t out_h,
                               int64_t out_w) {
  DL_FOR_EACH(i, count) {
    const Sources s = sources(i, in_h, in_w, out_h, out_w);
    const float* src = x + s.plane * in_h * in_w;
    y[i] = s.wa * src[s.a] + s.wb * src[s.b] + s.wc * src[s.c] + s.wd * src[s.d];
  }
}

__global__ void backward_kernel(const float* dy, float* dx, size_t count, int64_t in_h, int64_t in_w, int64_t out_h,
                                int64_t out_w) {
  DL_FOR_EACH(i, count) {
    const Sources s = sources(i, in_h, in_w, out_h, out_w);
    float* d = dx + s.plane * in_h * in_w;
    atomicAdd(d + s.a, s.wa * dy[i]);
    atomicAdd(d + s.b, s.wb * dy[i]);
    atomicAdd(d + s.c, s.wc * dy[i]);
    atomicAdd(d + s.d, s.wd * dy[i]);
  }
}

}  // namespace

void interp_forward(const float* x, float* y, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                    int64_t out_w, cudaStream_t stream) {
  const size_t count = size_t(planes * out_h * out_w);
  forward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(x, y, count, in_h, in_w, out_h, out_w);
  check_launch("interp_forward");
}

void interp_backward(const float* dy, float* dx, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                     int64_t out_w, cudaStream_t stream) {
  const size_t count = size_t(planes * out_h * out_w);
  backward_kernel<<<blocks_for(count), kThreads, 0, stream>>>(dy, dx, count, in_h, in_w, out_h, out_w);
  check_launch("interp_backward");
}

}  // namespace deeplab::cuda
