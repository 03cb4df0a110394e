// Finite-difference gradient checks, after Caffe's GradientChecker: the scalar
// L = sum_k <output_k, R_k> for fixed random R_k is perturbed element by element, and
// (L(x + eps) - L(x - eps)) / 2 eps is compared with what backward computed.
// Points where the function has a kink (ReLU at 0, a max switching) are recognised by a
// second difference far from zero and skipped; a test fails if more than a tenth are.
// Each element is compared relatively: to the larger of |analytic| and |numeric|, and not below
// a twentieth of the tensor's largest gradient, so a tensor whose gradients are all small is
// still checked to the tolerance; plus the central difference's float rounding noise.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/net.h"

namespace deeplab::testing {

struct GradCheck {
  float eps = 1e-2f;
  double tolerance = 2e-3;     // relative (see above)
  int samples = 60;            // elements checked per tensor (all when smaller)
  bool check_inputs = true;    // also the inputs' gradients (the net must have asked for them)
  // Share of the checked elements that may miss the tolerance. 0 for a layer: every element must
  // agree. A whole float network differenced at eps crosses ReLU and max-pool switches that the
  // second difference does not always show; there the share is measured and bounded instead.
  double allowed_misses = 0;
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
  double magnitude = 0;  // sum of |output x R|: what float rounding in the outputs scales with
  auto objective = [&]() {
    run();
    double l = 0;
    magnitude = 0;
    for (size_t k = 0; k < weights.size(); ++k) {
      Tensor out = net.output(int(k));
      for (int64_t i = 0; i < out.numel(); ++i) {
        l += double(out.data()[i]) * weights[k].data()[i];
        magnitude += std::abs(double(out.data()[i]) * weights[k].data()[i]);
      }
    }
    return l;
  };
  const double base = objective();
  // Float outputs carry relative rounding of a few 1e-7; the difference divides it by eps.
  const double noise = 4 * 1.2e-7 * magnitude / opt.eps;
  net.zero_grads();
  net.backward(weights);

  int checked = 0, kinks = 0, misses = 0;
  double worst_miss = 0;
  std::string worst;
  auto check_tensor = [&](float* values, const float* analytic, int64_t n, const std::string& what,
                          const std::function<void()>& touched) {
    const int64_t step = std::max<int64_t>(1, n / opt.samples);
    double largest = 0;
    for (int64_t i = 0; i < n; ++i) largest = std::max(largest, double(std::abs(analytic[i])));
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
      const double scale = std::max({std::abs(numeric), double(std::abs(analytic[i])), largest / 20});
      if (curvature > opt.tolerance * scale + noise) {
        ++kinks;
        continue;
      }
      const double miss = std::abs(analytic[i] - numeric) - (opt.tolerance * scale + noise);
      if (miss <= 0) continue;
      ++misses;
      if (opt.allowed_misses == 0)
        ADD_FAILURE() << what << " element " << i << ": analytic " << analytic[i] << ", numeric " << numeric
                      << ", allowed " << opt.tolerance * scale + noise;
      else if (miss > worst_miss)
        worst_miss = miss, worst = what + " element " + std::to_string(i) + ": analytic " + std::to_string(analytic[i]) +
                                   ", numeric " + std::to_string(numeric);
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
  if (opt.allowed_misses == 0) {
    EXPECT_LE(kinks * 10, checked) << "too many points skipped as kinks: " << kinks << " of " << checked;
  } else {
    EXPECT_LE(kinks + misses, opt.allowed_misses * checked)
        << kinks << " kinks and " << misses << " misses of " << checked << " elements; worst " << worst;
  }
}

}  // namespace deeplab::testing
