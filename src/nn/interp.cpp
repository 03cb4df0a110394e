#include "nn/interp.h"

#include <vector>

#include "core/error.h"
#include "kernels/interp_math.h"

namespace deeplab::nn {
namespace {

using kernels::BilinearTap;

std::vector<BilinearTap> taps(int64_t in, int64_t out) {
  std::vector<BilinearTap> t(out);
  for (int64_t i = 0; i < out; ++i) t[i] = kernels::bilinear_tap(i, in, out);
  return t;
}

// Calls visit(out, a, b, c, d, wa, wb, wc, wd) for each output pixel of one plane: its flat
// index, the flat indices of its four source pixels and their bilinear weights. Forward
// gathers along these taps and backward scatters along the same ones, so they stay adjoint.
template <typename Visit>
void for_each_output(const std::vector<BilinearTap>& ty, const std::vector<BilinearTap>& tx, int64_t in_w, Visit visit) {
  const int64_t out_w = int64_t(tx.size());
  for (int64_t i = 0; i < int64_t(ty.size()); ++i) {
    const int64_t r0 = ty[i].lo * in_w, r1 = r0 + ty[i].step * in_w;
    const float fy = ty[i].frac;
    for (int64_t j = 0; j < out_w; ++j) {
      const int64_t c0 = tx[j].lo, c1 = c0 + tx[j].step;
      const float fx = tx[j].frac;
      visit(i * out_w + j, r0 + c0, r0 + c1, r1 + c0, r1 + c1, (1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx),
            fy * fx);
    }
  }
}

}  // namespace

Tensor interp_forward(const Tensor& x, int64_t out_h, int64_t out_w) {
  DEEPLAB_CHECK(x.ndim() == 4 && out_h > 0 && out_w > 0, "interp of ", shape_str(x.shape()));
  const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
  Tensor y({x.dim(0), x.dim(1), out_h, out_w});
  const auto ty = taps(h, out_h), tx = taps(w, out_w);
#pragma omp parallel for
  for (int64_t p = 0; p < planes; ++p) {
    const float* src = x.data() + p * h * w;
    float* dst = y.data() + p * out_h * out_w;
    for_each_output(ty, tx, w, [&](int64_t o, int64_t a, int64_t b, int64_t c, int64_t d, float wa, float wb,
                                   float wc, float wd) { dst[o] = wa * src[a] + wb * src[b] + wc * src[c] + wd * src[d]; });
  }
  return y;
}

Tensor interp_backward(const Tensor& dy, int64_t in_h, int64_t in_w) {
  DEEPLAB_CHECK(dy.ndim() == 4, "interp gradient of ", shape_str(dy.shape()));
  const int64_t planes = dy.dim(0) * dy.dim(1), out_h = dy.dim(2), out_w = dy.dim(3);
  Tensor dx({dy.dim(0), dy.dim(1), in_h, in_w});
  const auto ty = taps(in_h, out_h), tx = taps(in_w, out_w);
#pragma omp parallel for
  for (int64_t p = 0; p < planes; ++p) {
    const float* g = dy.data() + p * out_h * out_w;
    float* d = dx.data() + p * in_h * in_w;
    for_each_output(ty, tx, in_w, [&](int64_t o, int64_t a, int64_t b, int64_t c, int64_t e, float wa, float wb,
                                      float wc, float we) {
      d[a] += wa * g[o];
      d[b] += wb * g[o];
      d[c] += wc * g[o];
      d[e] += we * g[o];
    });
  }
  return dx;
}

}  // namespace deeplab::nn
