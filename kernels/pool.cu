// Caffe's max and average pooling, one thread per output element; the window arithmetic is
// kernels/pool_math.h, which the CPU reference uses too. Backward gathers: one thread per input
// element adds up, in output order, what each window holding it sends back, so overlapping
// windows (3x3 stride 2) sum in the same order every run (atomics would not: training would not
// repeat bit for bit, nor a resumed run equal a straight one).
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
// The outputs along one axis whose window may hold input i (inclusive; pool_window decides).
struct Covering {
  int64_t first, last;
};
__device__ Covering covering(int64_t i, int64_t out, int kernel, int stride, int pad) {
  const int64_t lowest_start = i + pad - kernel + 1;  // window o starts at o x stride - pad
  const int64_t first = lowest_start <= 0 ? 0 : (lowest_start + stride - 1) / stride;
  const int64_t last = (i + pad) / stride < out - 1 ? (i + pad) / stride : out - 1;
  return {first, last};
}
__device__ bool holds(PoolWindow w, int64_t i) { return i >= w.begin && i < w.end; }

// Adds up, in output order, what each window holding input element i (of planes x height x
// width) sends back to it: share(wy, wx, o) for the window at output offset o of its plane.
template <typename Share>
__device__ float gather(size_t i, const Geometry& g, Share share) {
  const int64_t ix = int64_t(i % g.width), iy = int64_t(i / g.width % g.height);
  const Covering cy = covering(iy, g.out_h, g.kernel, g.stride, g.pad);
  const Covering cx = covering(ix, g.out_w, g.kernel, g.stride, g.pad);
  float sum = 0;
  for (int64_t oy = cy.first; oy <= cy.last; ++oy) {
    const PoolWindow wy = kernels::pool_window(oy, g.height, g.kernel, g.stride, g.pad);
    if (!holds(wy, iy)) continue;
    for (int64_t ox = cx.first; ox <= cx.last; ++ox) {
      const PoolWindow wx = kernels::pool_window(ox, g.width, g.kernel, g.stride, g.pad);
      if (holds(wx, ix)) sum += share(wy, wx, oy * g.out_w + ox);
    }
  }
  return sum;
}

__global__ void max_backward(const float* x, const float* dy, float* dx, size_t count, Geometry g) {
  DL_FOR_EACH(i, count) {
    const int64_t plane = int64_t(i / (g.width * g.height)), me = int64_t(i % (g.width * g.height));
    const float* in = x + plane * g.height * g.width;
    const float* grad = dy + plane * g.out_h * g.out_w;
    dx[i] = gather(i, g, [&](PoolWindow wy, PoolWindow wx, int64_t o) {
      return kernels::pool_argmax(in, g.width, wy, wx) == me ? grad[o] : 0.0f;
    });
  }
}
__global__ void avg_backward(const float* dy, float* dx, size_t count, Geometry g) {
  DL_FOR_EACH(i, count) {
    const float* grad = dy + int64_t(i / (g.width * g.height)) * g.out_h * g.out_w;
    dx[i] = gather(i, g, [&](PoolWindow wy, PoolWindow wx, int64_t o) {
      return grad[o] / float(wy.divisor_span * wx.divisor_span);
    });
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
  const size_t count = size_t(planes * height * width);
  max_backward<<<blocks_for(count), kThreads, 0, stream>>>(x, dy, dx, count,
                                                           {height, width, out_h, out_w, kernel, stride, pad});
  check_launch("max_pool_backward");
}
void avg_pool_backward(const float* dy, float* dx, int64_t planes, int64_t height, int64_t width, int64_t out_h,
                       int64_t out_w, int kernel, int stride, int pad, cudaStream_t stream) {
  const size_t count = size_t(planes * height * width);
  avg_backward<<<blocks_for(count), kThreads, 0, stream>>>(dy, dx, count, {height, width, out_h, out_w, kernel, stride, pad});
  check_launch("avg_pool_backward");
}

}  // namespace deeplab::cuda
