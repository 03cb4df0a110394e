// Caffe's max and average pooling, one thread per output element; the window arithmetic is
// kernels/pool_math.h, which the CPU reference uses too. Backward scatters with atomics, so
// overlapping windows (3x3 stride 2) add up.
#include "kernels.h"
#include "launch.cuh"
#include "pool_math.h"

namespace deeplab::cuda {
namespace {

using kernels::PoolWindow;

struct Geometry {
  int64_t height, width, out_h, out_w;
  int kernel, stride, pad;
  __device__ void locate(size_t i, int64_t& plane, PoolWindow& wy, PoolWindow& wx) const {
    const int64_t x = int64_t(i % out_w), y = int64_t(i / out_w % out_h);
    plane = int64_t(i / (out_w * out_h));
    wy = kernels::pool_window(y, height, kernel, stride, pad);
    wx = kernels::pool_window(x, width, kernel, stride, pad);
  }
};

__global__ void max_forward(const float* x, float* y, size_t count, Geometry g) {
  DL_FOR_EACH(i, count) {
    int64_t p;
    PoolWindow wy, wx;
    g.locate(i, p, wy, wx);
    const float* plane = x + p * g.height * g.width;
    y[i] = plane[kernels::pool_argmax(plane, g.width, wy, wx)];
  }
}
__global__ void avg_forward(const float* x, float* y, size_t count, Geometry g) {
  DL_FOR_EACH(i, count) {
    int64_t p;
    PoolWindow wy, wx;
    g.locate(i, p, wy, wx);
    y[i] = kernels::pool_average(x + p * g.height * g.width, g.width, wy, wx);
  }
}
__global__ void max_backward(const float* x, const float* dy, float* dx, size_t count, Geometry g) {
  DL_FOR_EACH(i, count) {
    int64_t p;
    PoolWindow wy, wx;
    g.locate(i, p, wy, wx);
    const int64_t offset = p * g.height * g.width;
    atomicAdd(dx + offset + kernels::pool_argmax(x + offset, g.width, wy, wx), dy[i]);
  }
}
__global__ void avg_backward(const float* dy, float* dx, size_t count, Geometry g) {
  DL_FOR_EACH(i, count) {
    int64_t p;
    PoolWindow wy, wx;
    g.locate(i, p, wy, wx);
    const float share = dy[i] / float(wy.divisor_span * wx.divisor_span);
    float* plane = dx + p * g.height * g.width;
    for (int64_t yy = wy.begin; yy < wy.end; ++yy)
      for (int64_t xx = wx.begin; xx < wx.end; ++xx) atomicAdd(plane + yy * g.width + xx, share);
  }
}

}  // namespace

void max_pool_forward(const float* x, float* y, int64_t planes, int64_t height, int64_t width, int64_t out_h,
                      int64_t out_w, int kernel, int stride, int pad, cudaStream_t stream) {
  const size_t count = size_t(planes * out_h * out_w);
  max_forward<<<blocks_for(count), kThreads, 0, stream>>>(x, y, count, {height, width, out_h, out_w, kernel, stride, pad});
  check_launch("max_pool_forward");
}
void avg_pool_forward(const float* x, float* y, int64_t planes, int64_t height, int64_t width, int64_t out_h,
                      int64_t out_w, int kernel, int stride, int pad, cudaStream_t stream) {
  const size_t count = size_t(planes * out_h * out_w);
  avg_forward<<<blocks_for(count), kThreads, 0, stream>>>(x, y, count, {height, width, out_h, out_w, kernel, stride, pad});
  check_launch("avg_pool_forward");
}
void max_pool_backward(const float* x, const float* dy, float* dx, int64_t planes, int64_t height, int64_t width,
                       int64_t out_h, int64_t out_w, int kernel, int stride, int pad, cudaStream_t stream) {
  const size_t count = size_t(planes * out_h * out_w);
  max_backward<<<blocks_for(count), kThreads, 0, stream>>>(x, dy, dx, count,
                                                           {height, width, out_h, out_w, kernel, stride, pad});
  check_launch("max_pool_backward");
}
void avg_pool_backward(const float* dy, float* dx, int64_t planes, int64_t height, int64_t width, int64_t out_h,
                       int64_t out_w, int kernel, int stride, int pad, cudaStream_t stream) {
  const size_t count = size_t(planes * out_h * out_w);
  avg_backward<<<blocks_for(count), kThreads, 0, stream>>>(dy, dx, count, {height, width, out_h, out_w, kernel, stride, pad});
  check_launch("avg_pool_backward");
}

}  // namespace deeplab::cuda
