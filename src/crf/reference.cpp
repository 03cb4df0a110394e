#include "crf/reference.h"

#include <cmath>

#include "core/error.h"

namespace deeplab::crf {

ReferenceCrf::ReferenceCrf(const uint8_t* rgb, int64_t height, int64_t width, const CrfParams& params)
    : h_(height), w_(width), params_(params) {
  validate(params);
  const int64_t n = h_ * w_;
  DEEPLAB_CHECK(n <= 4096, "the exact CRF is for small test images, not ", h_, " x ", w_);
  // Sum of the normalised, weighted kernels: the message is then M Q.
  message_matrix_.assign(n * n, 0.0);
  auto add_kernel = [&](float weight, auto kernel) {
    if (weight <= 0) return;
    std::vector<double> k(n * n), row_sum(n, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) row_sum[i] += (k[i * n + j] = kernel(i, j));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const double norm = params.normalization == Normalization::symmetric
                                ? 1.0 / std::sqrt(row_sum[i] * row_sum[j])
                                : 1.0 / row_sum[i];
        message_matrix_[i * n + j] += weight * norm * k[i * n + j];
      }
  };
  auto sq = [](double v) { return v * v; };
  add_kernel(params.bi_w, [&](int64_t i, int64_t j) {
    double d = (sq(double(i % w_ - j % w_)) + sq(double(i / w_ - j / w_))) / sq(params.bi_xy_std);
    for (int c = 0; c < 3; ++c) d += sq(double(rgb[i * 3 + c]) - rgb[j * 3 + c]) / sq(params.bi_rgb_std);
    return std::exp(-0.5 * d);
  });
  add_kernel(params.pos_w, [&](int64_t i, int64_t j) {
    const double d = (sq(double(i % w_ - j % w_)) + sq(double(i / w_ - j / w_))) / sq(params.pos_xy_std);
    return std::exp(-0.5 * d);
  });
}

CrfResult ReferenceCrf::infer(const Tensor& unary, std::vector<Tensor>* history) const {
  if (unary.ndim() != 3 || unary.dim(1) != h_ || unary.dim(2) != w_)
    fail("reference crf: unary ", shape_str(unary.shape()), " does not match the image");
  const int64_t labels = unary.dim(0), n = h_ * w_;
  std::vector<double> q(labels * n), next(labels * n);
  auto normalise = [&](std::vector<double>& energy_like) {  // softmax over labels, per pixel
    for (int64_t i = 0; i < n; ++i) {
      double m = energy_like[i];
      for (int64_t l = 1; l < labels; ++l) m = std::max(m, energy_like[l * n + i]);
      double sum = 0;
      for (int64_t l = 0; l < labels; ++l) sum += (energy_like[l * n + i] = std::exp(energy_like[l * n + i] - m));
      for (int64_t l = 0; l < labels; ++l) energy_like[l * n + i] /= sum;
    }
  };
  auto as_tensor = [&](const std::vector<double>& v) {
    Tensor t({labels, h_, w_});
    for (int64_t k = 0; k < labels * n; ++k) t.data()[k] = float(v[k]);
    return t;
  };
  for (int64_t k = 0; k < labels * n; ++k) q[k] = -unary.data()[k];
  normalise(q);
  if (history) history->push_back(as_tensor(q));
  for (int it = 0; it < params_.iterations; ++it) {
    for (int64_t l = 0; l < labels; ++l)
      for (int64_t i = 0; i < n; ++i) {
        double msg = 0;
        const double* row = &message_matrix_[i * n];
        const double* ql = &q[l * n];
        for (int64_t j = 0; j < n; ++j) msg += row[j] * ql[j];
        next[l * n + i] = -unary.data()[l * n + i] + msg;
      }
    normalise(next);
    q.swap(next);
    if (history) history->push_back(as_tensor(q));
  }
  CrfResult r;
  r.marginals = as_tensor(q);
  r.labels = LabelMap(1, h_, w_);
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t l = 1; l < labels; ++l)
      if (q[l * n + i] > q[best * n + i]) best = l;
    r.labels.data[i] = uint8_t(best);
  }
  return r;
}

double ReferenceCrf::energy(const Tensor& unary, const Tensor& marginals) const {
  const int64_t labels = unary.dim(0), n = h_ * w_;
  double e = 0;
  for (int64_t l = 0; l < labels; ++l)
    for (int64_t i = 0; i < n; ++i) {
      const double p = marginals.data()[l * n + i];
      e += p * unary.data()[l * n + i] + (p > 0 ? p * std::log(p) : 0.0);
      double msg = 0;
      for (int64_t j = 0; j < n; ++j) msg += message_matrix_[i * n + j] * marginals.data()[l * n + j];
      e -= 0.5 * p * msg;
    }
  return e;
}

}  // namespace deeplab::crf
