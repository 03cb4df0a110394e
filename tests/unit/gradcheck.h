// Finite-difference gradient checks, after Caffe's GradientChecker: the scalar
// L = sum_k <output_k, R_k> for fixed random R_k is perturbed element by element, and
// (L(x + eps) - L(x - eps)) / 2 eps is compared with what backward computed.
// Points where the function has a kink (ReLU at 0, a max switching) are recognised by a
// second difference far from zero and skipped; a test fails if more than a tenth are.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/net.h"

namespace deeplab::testing {

struct GradCheck {
  float eps = 1e-2f;
  double tolerance = 2e-3;     // relative to max(1, |analytic|, |numeric|)
  int samples = 60;            // elements checked per tensor (all when smaller)
  bool check_inputs = true;    // also the inputs' gradients (the net must have asked for them)
  std::function<void()> before_forward;  // e.g. reseed dropout so every run draws one mask
};

inline Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor t(shape);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.uniform(lo, hi);
  return t;
}

inline void check_gradients(nn::Net& net, std::vector<Tensor> inputs, const GradCheck& opt = {}) {
  auto run = [&]() {
    if (opt.before_forward) opt.before_forward();
    net.forward(inputs);
  };
  run();
  std::vector<Tensor> weights;  // the R_k
  for (int k = 0;; ++k) {
    try {
      Tensor out = net.output(k);
      weights.push_back(random_tensor(out.shape(), 1000 + k));
    } catch (const std::out_of_range&) {
      break;
    }
  }
  auto objective = [&]() {
    run();
    double l = 0;
    for (size_t k = 0; k < weights.size(); ++k) {
      Tensor out = net.output(int(k));
      for (int64_t i = 0; i < out.numel(); ++i) l += double(out.data()[i]) * weights[k].data()[i];
    }
    return l;
  };
  const double base = objective();
  net.zero_grads();
  net.backward(weights);

  int checked = 0, kinks = 0;
  auto check_tensor = [&](float* values, const float* analytic, int64_t n, const std::string& what,
                          const std::function<void()>& touched) {
    const int64_t step = std::max<int64_t>(1, n / opt.samples);
    for (int64_t i = 0; i < n; i += step) {
      const float saved = values[i];
      values[i] = saved + opt.eps;
      touched();
      const double plus = objective();
      values[i] = saved - opt.eps;
      touched();
      const double minus = objective();
      values[i] = saved;
      touched();
      ++checked;
      const double numeric = (plus - minus) / (2.0 * opt.eps);
      const double curvature = std::abs(plus + minus - 2.0 * base) / opt.eps;
      if (curvature > opt.tolerance * std::max(1.0, std::abs(numeric))) {
        ++kinks;
        continue;
      }
      const double scale = std::max({1.0, std::abs(numeric), double(std::abs(analytic[i]))});
      EXPECT_NEAR(analytic[i], numeric, opt.tolerance * scale) << what << " element " << i;
    }
  };
  for (size_t k = 0; opt.check_inputs && k < inputs.size(); ++k) {
    Tensor analytic = net.input_diff(int(k));
    check_tensor(inputs[k].data(), analytic.data(), inputs[k].numel(), "input " + std::to_string(k), [] {});
  }
  for (nn::Param* p : net.params()) {
    if (p->lr_mult == 0.0f) continue;
    Tensor analytic = p->grad.clone();
    check_tensor(p->value.data(), analytic.data(), p->value.numel(), p->name, [p] { ++p->version; });
  }
  net.forward(inputs);  // leave the net as it was
  EXPECT_GT(checked, 0);
  EXPECT_LE(kinks * 10, checked) << "too many points skipped as kinks: " << kinks << " of " << checked;
}

}  // namespace deeplab::testing
