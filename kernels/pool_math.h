// Caffe's pooling window along one axis: it starts at i x stride - pad; its end is clipped to the
// padded image for the average's divisor, then to the image itself for the pixels read.
#pragma once
#include <cstdint>

#include "hd.h"

namespace deeplab::kernels {

struct PoolWindow {
  int64_t begin, end;    // pixels read: [begin, end)
  int64_t divisor_span;  // the window's extent inside the padded image
};

DL_HD PoolWindow pool_window(int64_t i, int64_t size, int kernel, int stride, int pad) {
  const int64_t begin = i * stride - pad;
  const int64_t padded_end = begin + kernel < size + pad ? begin + kernel : size + pad;
  return {begin > 0 ? begin : 0, padded_end < size ? padded_end : size, padded_end - begin};
}

// The offset (y x width + x) of the first maximum of one window of a plane; ties keep the first.
DL_HD int64_t pool_argmax(const float* plane, int64_t width, PoolWindow wy, PoolWindow wx) {
  int64_t best = wy.begin * width + wx.begin;
  for (int64_t y = wy.begin; y < wy.end; ++y)
    for (int64_t x = wx.begin; x < wx.end; ++x)
      if (plane[y * width + x] > plane[best]) best = y * width + x;
  return best;
}

// The average of one window, divided by the window clipped to the padded image (Caffe).
DL_HD float pool_average(const float* plane, int64_t width, PoolWindow wy, PoolWindow wx) {
  double sum = 0;
  for (int64_t y = wy.begin; y < wy.end; ++y)
    for (int64_t x = wx.begin; x < wx.end; ++x) sum += plane[y * width + x];
  return float(sum / double(wy.divisor_span * wx.divisor_span));
}

}  // namespace deeplab::kernels
