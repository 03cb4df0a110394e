// The operators on plain NCHW tensors at the network's edges: Caffe Interp (bilinear,
// corners aligned), softmax, softmax cross-entropy with ignore label, label shrinking.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "gradcheck.h"
#include "nn/softmax.h"

namespace deeplab {
namespace {

using namespace nn;
using testing::random_tensor;

double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += double(a.data()[i]) * b.data()[i];
  return s;
}

// d/dx of <f(x), r> by central differences, for every element of x.
Tensor numeric_gradient(const std::function<Tensor(const Tensor&)>& f, Tensor x, const Tensor& r, float eps = 1e-2f) {
  Tensor g(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float saved = x.data()[i];
    x.data()[i] = saved + eps;
    double plus = dot(f(x), r);
    x.data()[i] = saved - eps;
    double minus = dot(f(x), r);
    x.data()[i] = saved;
    g.data()[i] = float((plus - minus) / (2 * eps));
  }
  return g;
}

TEST(Softmax, SumsToOneAndGradientMatches) {
  Tensor x = random_tensor({2, 5, 3, 4}, 4, -3, 3);
  Tensor y = softmax_forward(x);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t p = 0; p < 12; ++p) {
      double s = 0;
      for (int64_t c = 0; c < 5; ++c) s += y.data()[(b * 5 + c) * 12 + p];
      EXPECT_NEAR(s, 1.0, 1e-6);
    }
  Tensor r = random_tensor(x.shape(), 5);
  Tensor dx = softmax_backward(y, r);
  Tensor num = numeric_gradient(softmax_forward, x, r, 1e-3f);
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(dx.data()[i], num.data()[i], 2e-3) << i;
}

TEST(SoftmaxLoss, ValueAndGradientWithIgnoredPixels) {
  Tensor scores = random_tensor({2, 4, 3, 3}, 6, -2, 2);
  LabelMap labels(2, 3, 3);
  Rng rng(1);
  for (auto& l : labels.data) l = uint8_t(rng.below(4));
  labels.at(0, 1, 1) = kIgnoreLabel;
  labels.at(1, 0, 2) = kIgnoreLabel;
  for (auto norm : {LossNormalization::per_image, LossNormalization::per_pixel}) {
    LossResult r = softmax_cross_entropy(scores, labels, norm);
    EXPECT_EQ(r.labelled, 16);
    // The loss by hand.
    Tensor p = softmax_forward(scores);
    double want = 0;
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < 9; ++i) {
        int l = labels.data[b * 9 + i];
        if (l != kIgnoreLabel) want -= std::log(p.data()[(b * 4 + l) * 9 + i]);
      }
    want /= norm == LossNormalization::per_image ? 2.0 : 16.0;
    EXPECT_NEAR(r.loss, want, 1e-5);
    // Ignored pixels get no gradient; the rest match finite differences.
    for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(r.grad.at(0, c, 1, 1), 0.0f);
    for (int64_t i = 0; i < scores.numel(); ++i) {
      Tensor s = scores.clone();
      s.data()[i] += 1e-3f;
      double plus = softmax_cross_entropy(s, labels, norm).loss;
      s.data()[i] -= 2e-3f;
      double minus = softmax_cross_entropy(s, labels, norm).loss;
      EXPECT_NEAR(r.grad.data()[i], (plus - minus) / 2e-3, 1e-3) << i;
    }
  }
}

TEST(SoftmaxLoss, ExactForHugeScores) {
  Tensor scores({1, 2, 1, 1});
  scores.data()[0] = 0.0f;
  scores.data()[1] = 200.0f;  // p(class 0) underflows to 0 in float
  LabelMap labels(1, 1, 1, 0);
  EXPECT_NEAR(softmax_cross_entropy(scores, labels).loss, 200.0, 1e-3);
}

TEST(SoftmaxLoss, LabelOutsideTheClassesIsAClearError) {
  LabelMap labels(1, 2, 2, 7);
  EXPECT_THROW(softmax_cross_entropy(random_tensor({1, 3, 2, 2}, 1), labels), Error);
}

TEST(ShrinkLabels, NearestEveryEighthPixelFor321To41) {
  LabelMap big(1, 321, 321);
  for (int64_t y = 0; y < 321; ++y)
    for (int64_t x = 0; x < 321; ++x) big.at(0, y, x) = uint8_t((y * 7 + x) % 250);
  LabelMap small = shrink_labels(big, 41, 41);
  for (int64_t y = 0; y < 41; ++y)
    for (int64_t x = 0; x < 41; ++x) ASSERT_EQ(small.at(0, y, x), big.at(0, 8 * y, 8 * x));
  LabelMap odd = shrink_labels(big, 3, 2);  // rows 0, 160, 320; columns 0, 320
  EXPECT_EQ(odd.at(0, 1, 1), big.at(0, 160, 320));
}

}  // namespace
}  // namespace deeplab
