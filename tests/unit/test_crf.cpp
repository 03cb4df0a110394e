// The fully connected CRF: the permutohedral filter against exact Gaussian sums, the lattice
// CRF against the exact O(N^2) one, the mean-field energy, expected behaviour, and bad input.
#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "crf/crf_runner.h"
#include "crf/dense_crf.h"
#include "crf/permutohedral.h"
#include "crf/reference.h"
#include "test_support.h"

namespace deeplab::crf {
namespace {

// A small scene whose colour edges follow its true labels: a disc and a bar on a background,
// each region its own colour plus noise. Returns the true label map too.
struct Scene {
  int64_t h, w;
  std::vector<uint8_t> rgb;
  LabelMap truth;
};

Scene make_scene(int64_t h, int64_t w, int labels, uint64_t seed, float noise = 10.0f) {
  Scene s{h, w, std::vector<uint8_t>(h * w * 3), LabelMap(1, h, w)};
  Rng rng(seed);
  const uint8_t colours[4][3] = {{200, 60, 40}, {40, 180, 70}, {50, 70, 210}, {220, 210, 60}};
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      int region = 0;
      if ((x - w / 3) * (x - w / 3) + (y - h / 2) * (y - h / 2) < h * h / 9) region = 1;
      if (x > 2 * w / 3 && y > h / 4) region = 2;
      if (y < h / 6 && x < w / 2) region = 3;
      s.truth.at(0, y, x) = uint8_t(region % labels);
      for (int c = 0; c < 3; ++c)
        s.rgb[(y * w + x) * 3 + c] = uint8_t(std::clamp(colours[region][c] + rng.uniform(-noise, noise), 0.0f, 255.0f));
    }
  return s;
}

// A coarse, noisy unary: the truth shrunk by 8 (nearest), enlarged bilinearly, plus noise.
Tensor coarse_unary(const Scene& s, int labels, uint64_t seed, float noise) {
  const int64_t ch = (s.h + 7) / 8, cw = (s.w + 7) / 8;
  Tensor coarse({int64_t(labels), ch, cw});
  for (int64_t y = 0; y < ch; ++y)
    for (int64_t x = 0; x < cw; ++x) {
      const int l = s.truth.at(0, std::min(s.h - 1, 8 * y + 4), std::min(s.w - 1, 8 * x + 4));
      for (int k = 0; k < labels; ++k) coarse.data()[(k * ch + y) * cw + x] = k == l ? 0.6f : 0.4f / (labels - 1);
    }
  Tensor p({int64_t(labels), s.h, s.w});
  Rng rng(seed);
  for (int k = 0; k < labels; ++k)
    for (int64_t y = 0; y < s.h; ++y)
      for (int64_t x = 0; x < s.w; ++x) {
        const float sy = std::clamp((y + 0.5f) / 8 - 0.5f, 0.0f, float(ch - 1));
        const float sx = std::clamp((x + 0.5f) / 8 - 0.5f, 0.0f, float(cw - 1));
        const int64_t y0 = int64_t(sy), x0 = int64_t(sx), y1 = std::min(y0 + 1, ch - 1), x1 = std::min(x0 + 1, cw - 1);
        const float fy = sy - y0, fx = sx - x0;
        auto at = [&](int64_t yy, int64_t xx) { return coarse.data()[(k * ch + yy) * cw + xx]; };
        const float v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
        p.data()[(k * s.h + y) * s.w + x] = std::max(1e-3f, v + rng.uniform(-noise, noise));
      }
  return unary_from_probabilities(p);
}

double accuracy(const LabelMap& a, const LabelMap& b) {
  int64_t same = 0;
  for (size_t i = 0; i < a.data.size(); ++i) same += a.data[i] == b.data[i];
  return double(same) / double(a.data.size());
}

LabelMap argmin_unary(const Tensor& u) {
  const int64_t l = u.dim(0), n = u.dim(1) * u.dim(2);
  LabelMap m(1, u.dim(1), u.dim(2));
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t k = 1; k < l; ++k)
      if (u.data()[k * n + i] < u.data()[best * n + i]) best = k;
    m.data[i] = uint8_t(best);
  }
  return m;
}

TEST(Permutohedral, ApproximatesTheNormalisedGaussian) {
  // Normalised filtering (what the CRF uses) against exact sums, for d = 2 and d = 5.
  for (int d : {2, 5}) {
    const int64_t n = 400;
    Rng rng(d);
    // Values in lane 0 of 8 (the lattice filters whole 8-float vectors); lane 1 holds ones.
    std::vector<float> f(n * d), v(n), in(n * 8, 0.0f), filtered(n * 8), out(n), norm(n);
    for (auto& x : f) x = rng.uniform(0, 4);
    for (int64_t i = 0; i < n; ++i) {
      in[i * 8] = v[i] = rng.uniform(0, 1);
      in[i * 8 + 1] = 1.0f;
    }
    Permutohedral lattice;
    lattice.build(f.data(), n, d);
    lattice.filter(in.data(), filtered.data(), 8);
    for (int64_t i = 0; i < n; ++i) out[i] = filtered[i * 8], norm[i] = filtered[i * 8 + 1];
    double err = 0, spread = 0;
    for (int64_t i = 0; i < n; ++i) {
      double num = 0, den = 0;
      for (int64_t j = 0; j < n; ++j) {
        double dist = 0;
        for (int k = 0; k < d; ++k) dist += std::pow(f[i * d + k] - f[j * d + k], 2.0);
        const double g = std::exp(-0.5 * dist);
        num += g * v[j];
        den += g;
      }
      err += std::abs(out[i] / norm[i] - num / den);
      spread += std::abs(v[i] - 0.5);
    }
    // The lattice's kernel is a close but not exact Gaussian: its averages land near the exact
    // ones (measured: 0.0014 for d = 2, 0.0083 for d = 5), against values spread over [0, 1].
    // Bounds at 1.5x those, so that a lattice blurring too much or too little fails.
    EXPECT_LT(err / n, d == 2 ? 0.0021 : 0.012) << "d = " << d;
    EXPECT_GT(spread / n, 0.2);
  }
}

struct Case {
  int labels;
  CrfParams params;
};

std::vector<Case> reference_cases() {
  std::vector<Case> cases;
  for (Normalization norm : {Normalization::per_pixel, Normalization::symmetric}) {
    cases.push_back({3, {4.0f, 20.0f, 10.0f, 3.0f, 3.0f, 10, norm}});
    cases.push_back({7, {5.0f, 50.0f, 5.0f, 3.0f, 1.0f, 5, norm}});
    cases.push_back({21, {3.0f, 10.0f, 20.0f, 2.0f, 2.0f, 10, norm}});
  }
  return cases;
}

TEST(DenseCrf, AgreesWithTheExactCrf) {
  // Tolerance: the lattice's normalised kernel averages differ from the exact ones by about 0.01
  // (previous test), so a message, such an average of marginals times w (<= 5), is off by up to
  // about w x 0.01 on average and several times that at a few pixels; through the softmax that
  // moves marginals by about as much. Measured: mean difference <= 0.0004, worst pixel 0.13,
  // labels agreeing on >= 99.75% of pixels.
  int index = 0;
  for (const Case& c : reference_cases()) {
    Scene s = make_scene(40, 40, c.labels, 100 + index);
    Tensor u = coarse_unary(s, c.labels, 200 + index, 0.15f);
    CrfResult fast = DenseCrf(s.rgb.data(), s.h, s.w, c.params).infer(u);
    CrfResult exact = ReferenceCrf(s.rgb.data(), s.h, s.w, c.params).infer(u);
    double mean_diff = 0, max_diff = 0;
    for (int64_t i = 0; i < fast.marginals.numel(); ++i) {
      const double diff = std::abs(fast.marginals.data()[i] - exact.marginals.data()[i]);
      mean_diff += diff;
      max_diff = std::max(max_diff, diff);
    }
    mean_diff /= double(fast.marginals.numel());
    EXPECT_GE(accuracy(fast.labels, exact.labels), 0.98) << "case " << index;
    EXPECT_LT(mean_diff, 0.002) << "case " << index;
    EXPECT_LT(max_diff, 0.2) << "case " << index;
    ++index;
  }
}

TEST(DenseCrf, MeanFieldEnergyNeverIncreasesUnderSymmetricNormalisation) {
  // Parallel mean-field updates are a concave-convex step when the normalised kernel is
  // symmetric positive semi-definite (Krähenbühl and Koltun, ICML 2013): the energy cannot rise.
  for (int labels : {3, 21}) {
    CrfParams p{5.0f, 15.0f, 10.0f, 3.0f, 2.0f, 8, Normalization::symmetric};
    Scene s = make_scene(32, 36, labels, 7 + labels);
    Tensor u = coarse_unary(s, labels, 9, 0.2f);
    ReferenceCrf exact(s.rgb.data(), s.h, s.w, p);
    std::vector<Tensor> history;
    exact.infer(u, &history);
    ASSERT_EQ(history.size(), 9u);
    for (size_t t = 1; t < history.size(); ++t)
      EXPECT_LE(exact.energy(u, history[t]), exact.energy(u, history[t - 1]) + 1e-6) << "exact, step " << t;
    // The lattice filter is itself symmetric PSD (splat, [1 2 1] blurs, slice), so the same holds.
    DenseCrf fast(s.rgb.data(), s.h, s.w, p);
    fast.record_history(true);
    fast.infer(u);
    for (size_t t = 1; t < fast.history().size(); ++t)
      EXPECT_LE(fast.energy(u, fast.history()[t]), fast.energy(u, fast.history()[t - 1]) + 1e-3)
          << "lattice, step " << t;
  }
}

TEST(DenseCrf, UniformImageAndFlatUnaryStayFlat) {
  std::vector<uint8_t> grey(30 * 20 * 3, 128);
  Tensor u({5, 30, 20});
  u.fill(1.3f);
  CrfResult r = DenseCrf(grey.data(), 30, 20, CrfParams{}).infer(u);
  for (int64_t i = 0; i < r.marginals.numel(); ++i) ASSERT_NEAR(r.marginals.data()[i], 0.2f, 1e-5);
  // Five equal marginals per pixel (600 pixels: a partial last block of 24): ties go to the first label.
  for (uint8_t label : r.labels.data) ASSERT_EQ(label, 0);
}

TEST(DenseCrf, ZeroWeightsGiveBackTheUnaryArgmax) {
  Scene s = make_scene(24, 30, 4, 3);
  Tensor u = coarse_unary(s, 4, 4, 0.3f);
  CrfParams p;
  p.bi_w = 0;
  p.pos_w = 0;
  CrfResult r = DenseCrf(s.rgb.data(), s.h, s.w, p).infer(u);
  EXPECT_EQ(r.labels.data, argmin_unary(u).data);
}

TEST(DenseCrf, CleansUpANoisyCoarseUnaryAlongColourEdges) {
  for (uint64_t seed : {1, 2, 3}) {
    Scene s = make_scene(120, 160, 4, seed);
    Tensor u = coarse_unary(s, 4, seed, 0.25f);
    const double before = accuracy(argmin_unary(u), s.truth);
    CrfParams p;  // the released parameters, at this image's scale
    p.bi_xy_std = 30;
    const double after = accuracy(DenseCrf(s.rgb.data(), s.h, s.w, p).infer(u).labels, s.truth);
    EXPECT_GT(after, before + 0.01) << "seed " << seed << ": " << before << " -> " << after;
    EXPECT_GT(after, 0.95);
  }
}

TEST(DenseCrf, ScoresAndProbabilitiesGiveTheSameAnswer) {
  Scene s = make_scene(20, 24, 3, 5);
  Tensor scores({3, 20, 24});
  Rng rng(6);
  for (int64_t i = 0; i < scores.numel(); ++i) scores.data()[i] = rng.uniform(-5, 5);
  Tensor probs(scores.shape());
  const int64_t n = 20 * 24;
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int l = 0; l < 3; ++l) sum += std::exp(scores.data()[l * n + i]);
    for (int l = 0; l < 3; ++l) probs.data()[l * n + i] = float(std::exp(scores.data()[l * n + i]) / sum);
  }
  DenseCrf crf(s.rgb.data(), 20, 24, CrfParams{});
  CrfResult a = crf.infer(unary_from_scores(scores)), b = crf.infer(unary_from_probabilities(probs));
  for (int64_t i = 0; i < a.marginals.numel(); ++i) ASSERT_NEAR(a.marginals.data()[i], b.marginals.data()[i], 1e-4);
}

TEST(DenseCrf, SameAnswerWhenCalledWithFewerThreadsThanTheMaximum) {
  // From inside a parallel region the CRF's own regions get one thread while the maximum is
  // still larger: every per-thread buffer must still be cleared and summed correctly.
  Scene s = make_scene(30, 40, 5, 21);
  Tensor u = coarse_unary(s, 5, 22, 0.2f);
  omp_set_num_threads(2);
  CrfResult alone = DenseCrf(s.rgb.data(), s.h, s.w, CrfParams{}).infer(u);
  CrfResult nested;
#pragma omp parallel num_threads(2)
#pragma omp single
  nested = DenseCrf(s.rgb.data(), s.h, s.w, CrfParams{}).infer(u);
  ASSERT_EQ(alone.marginals.numel(), nested.marginals.numel());
  for (int64_t i = 0; i < alone.marginals.numel(); ++i)
    ASSERT_NEAR(alone.marginals.data()[i], nested.marginals.data()[i], 1e-5) << i;
}

// A CRF retuned to other weights, iterations or normalisation answers as a new one built with
// those parameters, to the bit (crf-sweep builds each image's lattices once for such points);
// parameters that change a lattice are refused. The runner keeps the last image's lattices only
// when asked, and only for the same pixels.
using testing::same_bits;

TEST(DenseCrf, RetunedAnswersAsANewOne) {
  Scene s = make_scene(40, 48, 5, 31);
  Tensor u = coarse_unary(s, 5, 32, 0.2f);
  const CrfParams first{4, 30, 8, 3, 3, 5};
  DenseCrf kept(s.rgb.data(), s.h, s.w, first);
  kept.infer(u);
  CrfParams other = first;
  other.bi_w = 9, other.pos_w = 1, other.iterations = 7;
  CrfParams symmetric = first;
  symmetric.normalization = Normalization::symmetric;
  for (const CrfParams& p : {other, symmetric, first}) {
    ASSERT_TRUE(kept.retune(p));
    const CrfResult again = kept.infer(u), fresh = DenseCrf(s.rgb.data(), s.h, s.w, p).infer(u);
    EXPECT_TRUE(same_bits(again.marginals, fresh.marginals)) << p.bi_w << " " << p.iterations;
    EXPECT_EQ(again.labels.data, fresh.labels.data);
  }
  EXPECT_FALSE(same_bits(DenseCrf(s.rgb.data(), s.h, s.w, other).infer(u).marginals,
                         DenseCrf(s.rgb.data(), s.h, s.w, first).infer(u).marginals));  // the weights matter
  for (auto change : {+[](CrfParams& p) { p.bi_xy_std = 31; }, +[](CrfParams& p) { p.bi_rgb_std = 9; },
                      +[](CrfParams& p) { p.pos_xy_std = 2; }, +[](CrfParams& p) { p.bi_w = 0; },
                      +[](CrfParams& p) { p.pos_w = 0; }}) {
    CrfParams p = first;
    change(p);
    EXPECT_FALSE(kept.retune(p));
  }
  CrfParams bad = first;
  bad.iterations = -1;
  EXPECT_THROW(kept.retune(bad), Error);
}

TEST(CrfRunner, KeepsTheLastImagesLatticesWhenAsked) {
  Scene a = make_scene(40, 48, 5, 41), b = make_scene(40, 48, 5, 42);
  Tensor ua = coarse_unary(a, 5, 43, 0.2f), ub = coarse_unary(b, 5, 44, 0.2f);
  CrfParams p{4, 30, 8, 3, 3, 5}, q = p;
  q.bi_w = 7;
  CrfRunner plain, keeping;
  keeping.keep_lattices(true);
  std::vector<uint8_t> copy = a.rgb;  // the same pixels at another address count as the same image
  const struct {
    const uint8_t* rgb;
    const Tensor& unary;
    const CrfParams& params;
  } runs[] = {{a.rgb.data(), ua, p}, {copy.data(), ua, q}, {b.rgb.data(), ub, q}, {b.rgb.data(), ub, p}, {a.rgb.data(), ua, p}};
  for (const auto& r : runs) {
    const CrfResult mine = keeping.run(r.rgb, 40, 48, r.params, r.unary), theirs = plain.run(r.rgb, 40, 48, r.params, r.unary);
    EXPECT_TRUE(same_bits(mine.marginals, theirs.marginals));
  }
  EXPECT_EQ(keeping.lattices_reused(), 2);  // the second run on a, the second on b
  EXPECT_EQ(plain.lattices_reused(), 0);
}

TEST(DenseCrf, EnergyIsRightAfterAnInferenceWithoutIterations) {
  Scene s = make_scene(16, 20, 5, 23);
  Tensor u = coarse_unary(s, 5, 24, 0.2f);
  CrfParams p;
  p.iterations = 0;
  DenseCrf used(s.rgb.data(), s.h, s.w, p), fresh(s.rgb.data(), s.h, s.w, p);
  CrfResult r = used.infer(u);
  EXPECT_NEAR(used.energy(u, r.marginals), fresh.energy(u, r.marginals), 1e-3);
}

using testing::expect_error;

TEST(DenseCrf, BadInputIsAClearError) {
  std::vector<uint8_t> img(10 * 12 * 3, 50);
  CrfParams p;
  DenseCrf crf(img.data(), 10, 12, p);
  expect_error([&] { crf.infer(Tensor({3, 11, 12})); }, {"11 x 12 but the image is 10 x 12"});
  Tensor nan({2, 10, 12});
  nan.data()[5] = std::nanf("");
  nan.data()[120 + 7] = INFINITY;  // a later one: the first is named
  expect_error([&] { crf.infer(nan); }, {"unary value at label 0, y 0, x 5 is not finite"});
  Tensor inf({2, 10, 12});
  inf.data()[3] = INFINITY;
  expect_error([&] { unary_from_scores(inf); }, {"not finite"});
  expect_error([&] { crf.infer(Tensor({0, 10, 12})); }, {"no labels"});
  // 20000 x 20000 is over the lattice's limit: refused before the image is even read (null here).
  expect_error([&] { DenseCrf(nullptr, 20000, 20000, CrfParams{}); },
               {"20000 x 20000 (400 megapixels) is larger than the CRF takes (357 megapixels", "--max-side"});
  for (float bad : {0.0f, -3.0f}) {
    CrfParams q;
    q.bi_rgb_std = bad;
    expect_error([&] { DenseCrf(img.data(), 10, 12, q); }, {"bi_rgb_std"});
    CrfParams r;
    r.pos_xy_std = bad;
    expect_error([&] { DenseCrf(img.data(), 10, 12, r); }, {"pos_xy_std"});
  }
  CrfParams tiny;
  tiny.pos_xy_std = 1e-9f;
  expect_error([&] { DenseCrf(img.data(), 10, 12, tiny); }, {"below 0.01"});
  CrfParams neg;
  neg.bi_w = -1;
  expect_error([&] { DenseCrf(img.data(), 10, 12, neg); }, {"bi_w"});
  Tensor negp({2, 10, 12});
  negp.data()[0] = -0.5f;
  expect_error([&] { unary_from_probabilities(negp); }, {"negative"});
}

}  // namespace
}  // namespace deeplab::crf

namespace deeplab::crf {
namespace {

// Probabilities as H x W x L (how most tools write a class map) give the planar path's unary,
// and its errors.
TEST(Unary, FromHwcEqualsFromPlanar) {
  const int64_t h = 7, w = 9, l = 21;
  Tensor hwc({h, w, l}), chw({l, h, w});
  Rng rng(5);
  for (int64_t i = 0; i < h * w; ++i)
    for (int64_t k = 0; k < l; ++k) chw.data()[k * h * w + i] = hwc.data()[i * l + k] = rng.uniform(0.0f, 1.0f);
  hwc.data()[4] = chw.data()[4 * h * w] = 0.0f;  // floored at 1e-30
  const Tensor a = unary_from_probabilities_hwc(hwc), b = unary_from_probabilities(chw);
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data()[i], b.data()[i]) << i;
  hwc.data()[5 * l + 2] = std::nanf("");
  testing::expect_error([&] { unary_from_probabilities_hwc(hwc); }, {"label 2, y 0, x 5 is not finite"});
}

}  // namespace
}  // namespace deeplab::crf
