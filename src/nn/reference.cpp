#include "nn/reference.h"

#include <algorithm>
#include <limits>

#include "kernels/pool_math.h"

namespace deeplab::nn {

Tensor conv_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvSpec& s) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int oh = conv_out_size(int(h), s.kernel, s.stride, s.pad, s.dilation);
  const int ow = conv_out_size(int(w), s.kernel, s.stride, s.pad, s.dilation);
  Tensor y({n, s.out_channels, oh, ow});
  for (int64_t b = 0; b < n; ++b)
    for (int o = 0; o < s.out_channels; ++o)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          double acc = bias.empty() ? 0.0 : bias.data()[o];
          for (int64_t ci = 0; ci < c; ++ci)
            for (int ki = 0; ki < s.kernel; ++ki)
              for (int kj = 0; kj < s.kernel; ++kj) {
                int64_t yy = int64_t(i) * s.stride - s.pad + ki * s.dilation;
                int64_t xx = int64_t(j) * s.stride - s.pad + kj * s.dilation;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                acc += double(x.at(b, ci, yy, xx)) * weight.at(o, ci, ki, kj);
              }
          if (s.relu) acc = std::max(acc, 0.0);
          y.at(b, o, i, j) = float(acc);
        }
  return y;
}

namespace {
using Window = kernels::PoolWindow;
Window window(int i, int64_t size, const PoolSpec& s) {
  return kernels::pool_window(i, size, s.kernel, s.stride, s.pad);
}
}  // namespace

Tensor pool_reference(const Tensor& x, const PoolSpec& s) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int oh = pool_out_size(int(h), s.kernel, s.stride, s.pad);
  const int ow = pool_out_size(int(w), s.kernel, s.stride, s.pad);
  Tensor y({n, c, oh, ow});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          Window wy = window(i, h, s), wx = window(j, w, s);
          double acc = s.kind == PoolKind::max ? -std::numeric_limits<double>::infinity() : 0.0;
          for (int64_t yy = wy.begin; yy < wy.end; ++yy)
            for (int64_t xx = wx.begin; xx < wx.end; ++xx)
              acc = s.kind == PoolKind::max ? std::max(acc, double(x.at(b, ch, yy, xx))) : acc + x.at(b, ch, yy, xx);
          if (s.kind == PoolKind::avg) acc /= double(wy.divisor_span * wx.divisor_span);
          y.at(b, ch, i, j) = float(acc);
        }
  return y;
}

Tensor pool_reference_backward(const Tensor& x, const Tensor& dy, const PoolSpec& s) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int64_t oh = dy.dim(2), ow = dy.dim(3);
  Tensor dx(x.shape());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int i = 0; i < oh; ++i)
        for (int j = 0; j < ow; ++j) {
          Window wy = window(i, h, s), wx = window(j, w, s);
          const float g = dy.at(b, ch, i, j);
          if (s.kind == PoolKind::avg) {
            const float share = g / float(wy.divisor_span * wx.divisor_span);
            for (int64_t yy = wy.begin; yy < wy.end; ++yy)
              for (int64_t xx = wx.begin; xx < wx.end; ++xx) dx.at(b, ch, yy, xx) += share;
            continue;
          }
          int64_t by = wy.begin, bx = wx.begin;
          for (int64_t yy = wy.begin; yy < wy.end; ++yy)
            for (int64_t xx = wx.begin; xx < wx.end; ++xx)
              if (x.at(b, ch, yy, xx) > x.at(b, ch, by, bx)) by = yy, bx = xx;
          dx.at(b, ch, by, bx) += g;
        }
  return dx;
}

}  // namespace deeplab::nn
