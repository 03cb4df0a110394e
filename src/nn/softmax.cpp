#include "nn/softmax.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/loss_math.h"

namespace deeplab::nn {

static_assert(kernels::kIgnore == kIgnoreLabel, "the kernels and the data agree on the ignore label");

Tensor softmax_forward(const Tensor& x) {
  DEEPLAB_CHECK(x.ndim() == 4, "softmax of ", shape_str(x.shape()));
  const int64_t n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
  Tensor y(x.shape());
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t p = 0; p < hw; ++p) {
      const float* in = x.data() + b * c * hw + p;
      float* out = y.data() + b * c * hw + p;
      float m = in[0];
      for (int64_t k = 1; k < c; ++k) m = std::max(m, in[k * hw]);
      double sum = 0;
      for (int64_t k = 0; k < c; ++k) sum += (out[k * hw] = std::exp(in[k * hw] - m));
      const float inv = float(1.0 / sum);
      for (int64_t k = 0; k < c; ++k) out[k * hw] *= inv;
    }
  return y;
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy) {
  const int64_t n = y.dim(0), c = y.dim(1), hw = y.dim(2) * y.dim(3);
  Tensor dx(y.shape());
#pragma omp parallel for collapse(2)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t p = 0; p < hw; ++p) {
      const int64_t base = b * c * hw + p;
      double dot = 0;
      for (int64_t k = 0; k < c; ++k) dot += double(y.data()[base + k * hw]) * dy.data()[base + k * hw];
      for (int64_t k = 0; k < c; ++k)
        dx.data()[base + k * hw] = y.data()[base + k * hw] * float(dy.data()[base + k * hw] - dot);
    }
  return dx;
}

LabelMap shrink_labels(const LabelMap& labels, int64_t h, int64_t w) {
  LabelMap out(labels.n, h, w);
  for (int64_t b = 0; b < labels.n; ++b)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        out.at(b, y, x) = labels.at(b, kernels::shrink_source(y, labels.h, h), kernels::shrink_source(x, labels.w, w));
  return out;
}

LossResult softmax_cross_entropy(const Tensor& scores, const LabelMap& labels, LossNormalization norm) {
  DEEPLAB_CHECK(scores.ndim() == 4, "loss of ", shape_str(scores.shape()));
  const int64_t n = scores.dim(0), c = scores.dim(1), hw = scores.dim(2) * scores.dim(3);
  if (labels.n != n || labels.h != scores.dim(2) || labels.w != scores.dim(3))
    fail("softmax loss: labels ", labels.n, "x", labels.h, "x", labels.w, " do not match scores ",
         shape_str(scores.shape()));
  for (int64_t i = 0; i < n * hw; ++i)
    if (labels.data[i] != kIgnoreLabel && labels.data[i] >= c)
      fail("softmax loss: label ", int(labels.data[i]), " at image ", i / hw, " pixel ", i % hw, " is outside [0, ", c, ")");
  LossResult r;
  r.grad = Tensor(scores.shape());  // (p - onehot) / normaliser
  double loss = 0;
  int64_t labelled = 0, correct = 0;
#pragma omp parallel for collapse(2) reduction(+ : loss, labelled, correct)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t p = 0; p < hw; ++p) {
      const int64_t at = b * c * hw + p;
      const kernels::PixelLoss l = kernels::softmax_cross_entropy_pixel(scores.data() + at, r.grad.data() + at, hw,
                                                                       int(c), labels.data[b * hw + p]);
      loss += l.loss;
      labelled += l.labelled;
      correct += l.correct;
    }
  const double divisor = norm == LossNormalization::per_image   ? double(n)
                         : norm == LossNormalization::per_pixel ? double(std::max<int64_t>(labelled, 1))
                                                                : 1.0;
  r.loss = loss / divisor;
  r.labelled = labelled;
  r.correct = correct;
  const float scale = float(1.0 / divisor);
  float* g = r.grad.data();
  const int64_t total = r.grad.numel();
#pragma omp parallel for simd
  for (int64_t i = 0; i < total; ++i) g[i] *= scale;
  return r;
}

}  // namespace deeplab::nn
