#include "crf/dense_crf.h"
#include "crf/permutohedral_inl.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "core/error.h"
#include "crf/simd.h"

namespace deeplab::crf {

void validate(const CrfParams& p) {
  auto positive = [](float v, const char* name) {
    if (!(v > 0.0f) || !std::isfinite(v)) fail("crf: ", name, " must be a positive number, got ", v);
  };
  auto non_negative = [](float v, const char* name) {
    if (!(v >= 0.0f) || !std::isfinite(v)) fail("crf: ", name, " must be zero or positive, got ", v);
  };
  positive(p.bi_xy_std, "bi_xy_std");
  positive(p.bi_rgb_std, "bi_rgb_std");
  positive(p.pos_xy_std, "pos_xy_std");
  // Below this the kernels are a pixel's own value only, and lattice coordinates lose precision.
  auto not_tiny = [](float v, const char* name) {
    if (v < 0.01f) fail("crf: ", name, " = ", v, " is below 0.01 (pixels or colour levels): too small to mean anything");
  };
  not_tiny(p.bi_xy_std, "bi_xy_std");
  not_tiny(p.bi_rgb_std, "bi_rgb_std");
  not_tiny(p.pos_xy_std, "pos_xy_std");
  non_negative(p.bi_w, "bi_w");
  non_negative(p.pos_w, "pos_w");
  if (p.iterations < 0) fail("crf: iterations must be zero or positive, got ", p.iterations);
}

namespace {

void check_shape(const Tensor& t, const char* what) {
  if (t.ndim() != 3) fail("crf: ", what, " must be L x H x W, got ", shape_str(t.shape()));
  if (t.dim(0) < 1) fail("crf: ", what, " has no labels");
  if (t.dim(0) > 255) fail("crf: ", what, " has ", t.dim(0), " labels; at most 255 are supported");
  static_assert(Permutohedral::kMaxStride >= 256, "255 labels pad to 256");
}

// Fails naming the first non-finite element (in L, y, x order), if there is one.
void check_finite(const Tensor& t, const char* what) {
  const int64_t plane = t.dim(1) * t.dim(2), total = t.numel();
  for (int64_t i = 0; i < total; ++i)
    if (!std::isfinite(t.data()[i]))
      fail("crf: ", what, " value at label ", i / plane, ", y ", i % plane / t.dim(2), ", x ", i % t.dim(2),
           " is not finite (", t.data()[i], ")");
}

void check_planar(const Tensor& t, const char* what) {
  check_shape(t, what);
  check_finite(t, what);
}

// Softmax over one pixel's padded label vector; S as in Permutohedral (0: runtime stride).
// With shifted = true the caller guarantees max(acc) is within [0, 80] (unaries shifted so the
// best label's is 0, messages bounded by the total weight), so exp needs no max subtracted.
// Softmax over one pixel's padded label vector (a whole number of 8-float vectors); S as in
// Permutohedral (0: the runtime stride). With shifted = true the caller guarantees max(acc) is
// within [0, 80] (unaries shifted so the best label's is 0, messages bounded by the total
// weight), so exp needs no max subtracted.
template <int S>
inline void softmax(const float* acc, float* q, int runtime_stride, bool shifted) {
  const int vectors = (S > 0 ? S : runtime_stride) / 8;
  simd::f8 x[Permutohedral::kMaxStride / 8];
  for (int j = 0; j < vectors; ++j) x[j] = simd::load(acc + 8 * j);
  if (!shifted) {
    simd::f8 m = x[0];
    for (int j = 1; j < vectors; ++j) m = simd::max(m, x[j]);
    const float top = simd::hmax(m);
    for (int j = 0; j < vectors; ++j) x[j] -= top;
  }
  simd::f8 total{};
  for (int j = 0; j < vectors; ++j) total += (x[j] = simd::exp(x[j]));
  const float inv = 1.0f / simd::hsum(total);
  for (int j = 0; j < vectors; ++j) simd::store(q + 8 * j, x[j] * inv);
}

// The first label with the largest probability: in final marginals padding lanes hold exact
// zeros and a pixel's probabilities sum to 1, so they never win. Compares whole vectors (a branch per label would
// mispredict on every label change).
template <int S>
inline int argmax(const float* q, int runtime_stride) {
  const int vectors = (S > 0 ? S : runtime_stride) / 8;
  simd::f8 m = simd::load(q);
  for (int j = 1; j < vectors; ++j) m = simd::max(m, simd::load(q + 8 * j));
  const simd::f8 top = simd::splat(simd::hmax(m));
  const simd::i8 lane = {0, 1, 2, 3, 4, 5, 6, 7}, none = lane + Permutohedral::kMaxStride;
  simd::i8 first = none;
  for (int j = 0; j < vectors; ++j) first = simd::min(first, simd::load(q + 8 * j) == top ? lane + 8 * j : none);
  return simd::hmin(first);
}

// A probability's unary energy, -log p (p floored at 1e-30), and whether p is one at all: a
// non-negative finite number. Both unary makers run one parallel pass (a class map is millions
// of values) and, only when something is wrong, a second, in order, to name the first bad value.
inline float energy_of(float p) { return -std::log(std::max(p, 1e-30f)); }
inline bool is_probability(float p) { return p >= 0.0f && p <= std::numeric_limits<float>::max(); }

}  // namespace

Tensor unary_from_probabilities(const Tensor& probs) {
  check_shape(probs, "probabilities");
  Tensor u = Tensor::uninitialized_large(probs.shape());  // every value written below
  const float* p = probs.data();
  float* out = u.data();
  const int64_t n = probs.numel();
  bool bad = false;
#pragma omp parallel for reduction(|| : bad) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    bad = bad || !is_probability(p[i]);
    out[i] = energy_of(p[i]);
  }
  if (bad) {
    check_finite(probs, "probabilities");
    for (int64_t i = 0; i < n; ++i)
      if (p[i] < 0.0f) fail("crf: probability ", p[i], " at element ", i, " is negative");
  }
  return u;
}

Tensor unary_from_probabilities_hwc(const Tensor& probs_hwc) {
  if (probs_hwc.ndim() != 3) fail("crf: probabilities must be H x W x L, got ", shape_str(probs_hwc.shape()));
  const int64_t h = probs_hwc.dim(0), w = probs_hwc.dim(1), l = probs_hwc.dim(2);
  Tensor u = Tensor::uninitialized_large({l, h, w});  // every value written below
  check_shape(u, "probabilities");
  const float* p = probs_hwc.data();
  float* out = u.data();
  bool bad = false;
#pragma omp parallel for reduction(|| : bad) schedule(static)
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < l; ++k) {
        const float v = p[(y * w + x) * l + k];
        bad = bad || !is_probability(v);
        out[(k * h + y) * w + x] = energy_of(v);
      }
  if (!bad) return u;
  return unary_from_probabilities(hwc_to_chw(probs_hwc));  // names the first bad value: label, y, x
}

Tensor unary_from_scores(const Tensor& scores) {
  check_planar(scores, "scores");
  const int64_t labels = scores.dim(0), plane = scores.dim(1) * scores.dim(2);
  Tensor u = Tensor::uninitialized_large(scores.shape());  // every value written below
  for (int64_t p = 0; p < plane; ++p) {
    float m = scores.data()[p];
    for (int64_t l = 1; l < labels; ++l) m = std::max(m, scores.data()[l * plane + p]);
    for (int64_t l = 0; l < labels; ++l) u.data()[l * plane + p] = m - scores.data()[l * plane + p];
  }
  return u;
}

DenseCrf::DenseCrf(const uint8_t* rgb, int64_t height, int64_t width, const CrfParams& params)
    : h_(height), w_(width), params_(params) {
  validate(params);
  if (height < 1 || width < 1) fail("crf: empty image (", height, " x ", width, ")");
  const int64_t n = h_ * w_;
  if (n > kMaxCrfPixels)
    fail("crf: an image of ", width, " x ", height, " (", n / 1000000, " megapixels) is larger than the CRF takes (",
         kMaxCrfPixels / 1000000, " megapixels: the appearance lattice numbers up to 6 vertices per pixel in 32 "
         "bits); scale it down first (segment --max-side)");
  // Features in units of their standard deviations: the lattice blurs with unit std.
  if (params.bi_w > 0) {
    HostArray<float> f = host_array<float>(size_t(n) * 5, true);  // every element written below
#pragma omp parallel for schedule(static)
    for (int64_t y = 0; y < h_; ++y)
      for (int64_t x = 0; x < w_; ++x) {
        const int64_t i = y * w_ + x;
        f[i * 5 + 0] = float(x) / params.bi_xy_std;
        f[i * 5 + 1] = float(y) / params.bi_xy_std;
        for (int c = 0; c < 3; ++c) f[i * 5 + 2 + c] = float(rgb[i * 3 + c]) / params.bi_rgb_std;
      }
    kernels_.emplace_back();
    setup_kernel(kernels_.back(), f.get(), 5, params.bi_w);
  }
  if (params.pos_w > 0) {
    HostArray<float> f = host_array<float>(size_t(n) * 2, true);
#pragma omp parallel for schedule(static)
    for (int64_t y = 0; y < h_; ++y)
      for (int64_t x = 0; x < w_; ++x) {
        f[(y * w_ + x) * 2 + 0] = float(x) / params.pos_xy_std;
        f[(y * w_ + x) * 2 + 1] = float(y) / params.pos_xy_std;
      }
    kernels_.emplace_back();
    setup_kernel(kernels_.back(), f.get(), 2, params.pos_w);
  }
}

bool same_lattices(const CrfParams& a, const CrfParams& b) {
  return a.bi_xy_std == b.bi_xy_std && a.bi_rgb_std == b.bi_rgb_std && a.pos_xy_std == b.pos_xy_std &&
         (a.bi_w > 0) == (b.bi_w > 0) && (a.pos_w > 0) == (b.pos_w > 0);
}

bool DenseCrf::retune(const CrfParams& p) {
  validate(p);
  if (!same_lattices(p, params_)) return false;
  size_t k = 0;  // the kernels in the constructor's order: appearance, then smoothness
  if (p.bi_w > 0) kernels_[k++].weight = p.bi_w;
  if (p.pos_w > 0) kernels_[k++].weight = p.pos_w;
  // The normalisers depend on the lattices only, but a new DenseCrf computes them during its
  // first infer, in a padding lane (per-pixel) or beforehand (symmetric): cleared, they are
  // computed again the same way, so the answer is the new DenseCrf's to the bit.
  for (Kernel& kernel : kernels_) kernel.norm.clear();
  params_ = p;
  return true;
}

void DenseCrf::setup_kernel(Kernel& k, const float* features, int dim, float weight) {
  k.weight = weight;
  k.lattice.build(features, h_ * w_, dim);
}

void DenseCrf::ensure_norm(Kernel& k) {
  if (!k.norm.empty()) return;
  const int64_t n = h_ * w_;
  // The filter's response to a constant image, the pixel itself included (one vector of ones
  // per pixel: the lattice works in whole 8-float vectors; lane 0 is the answer).
  std::vector<float> ones(n * 8, 1.0f), response(n * 8);
  k.lattice.filter(ones.data(), response.data(), 8);
  const bool symmetric = params_.normalization == Normalization::symmetric;
  k.norm.resize(n);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float v = response[i * 8];
    k.norm[i] = symmetric ? 1.0f / std::sqrt(v + 1e-20f) : 1.0f / (v + 1e-20f);
  }
}

CrfResult DenseCrf::infer(const Tensor& unary) {
  check_shape(unary, "unary");
  if (unary.dim(1) != h_ || unary.dim(2) != w_)
    fail("crf: unary is ", unary.dim(1), " x ", unary.dim(2), " but the image is ", h_, " x ", w_);
  const int64_t labels = unary.dim(0), n = h_ * w_;
  const int stride = padded_labels(labels);
  // Pixel-major, padded: padding lanes get a huge energy, so their probability is exactly 0.
  // Each pixel's energies are shifted so its best label's is 0 (the marginals do not change).
  // Non-finite energies are looked for here, in parallel; the serial scan only names the first.
  HostArray<float> u = host_array<float>(n * stride, true);
  bool finite = true;
#pragma omp parallel for schedule(static) reduction(&& : finite)
  for (int64_t i = 0; i < n; ++i) {
    float* ui = &u[i * stride];
    float lowest = unary.data()[i];
    for (int64_t l = 0; l < labels; ++l) {
      const float v = unary.data()[l * n + i];
      finite = finite && std::isfinite(v);
      lowest = std::min(lowest, ui[l] = v);
    }
    for (int64_t l = 0; l < labels; ++l) ui[l] -= lowest;
    for (int64_t l = labels; l < stride; ++l) ui[l] = 1e30f;
  }
  if (!finite) check_finite(unary, "unary");
  CrfResult r;
  r.marginals = Tensor::uninitialized_large({labels, h_, w_});  // every element written below
  r.labels = LabelMap(1, h_, w_);
  switch (stride) {  // the label counts of VOC (21), COCO-stuff-like sets and tests unroll fully
    case 8: mean_field<8>(u.get(), labels, stride, r); break;
    case 16: mean_field<16>(u.get(), labels, stride, r); break;
    case 24: mean_field<24>(u.get(), labels, stride, r); break;
    case 32: mean_field<32>(u.get(), labels, stride, r); break;
    default: mean_field<0>(u.get(), labels, stride, r); break;
  }
  return r;
}

template <int S>
void DenseCrf::mean_field(const float* u, int64_t labels, int stride, CrfResult& r) {
  const int64_t n = h_ * w_;
  const bool symmetric = params_.normalization == Normalization::symmetric;
  // Per-pixel normalised messages lie in [0, weight], so the accumulated energies stay below the
  // sum of the weights. (Symmetric ones have no such bound: those keep the max subtraction.)
  float total_weight = 0;
  for (const Kernel& k : kernels_) total_weight += k.weight;
  const bool shifted = !symmetric && total_weight <= 80.0f;
  // Per-pixel normalisation divides each message by filter(1). With a padding lane free, the first
  // splat carries 1 there and the first slice returns filter(1) beside the messages, stored per
  // pixel for the later passes. Otherwise (symmetric normalisation needs it before the first
  // splat; or an earlier infer has it already) it is filtered once, as it is needed.
  bool have_norm = true;
  for (const Kernel& k : kernels_) have_norm = have_norm && !k.norm.empty();
  const bool lane_norm = !symmetric && labels < stride && params_.iterations > 0 && !have_norm;
  for (Kernel& k : kernels_) {
    if (lane_norm)
      k.norm.assign(n, 0.0f);  // filled by the first slicing pass
    else if (params_.iterations > 0)
      ensure_norm(k);
  }
  const int width = S > 0 ? S : stride;
  constexpr int64_t kBlock = 32;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  for (Kernel& k : kernels_) k.lattice.set_stride(stride);
  history_.clear();
  // Iteration t is one pass over the pixels: slice the messages of Q_(t-1) (blurred at the end of
  // the previous pass), add the unary, normalise into Q_t, and splat Q_t straight away for the
  // next pass, while the pixel's simplex rows are in cache. Q itself is written out only at the
  // end (and after every pass when a test records the history).
  for (int it = 0; it <= params_.iterations; ++it) {
    const bool last = it == params_.iterations;
    const bool write_q = last || record_;
    if (!last)
      for (Kernel& k : kernels_) k.lattice.clear_splat();
#pragma omp parallel
    {
      const int thread = omp_get_thread_num();
      alignas(64) float filtered[256];
      // A block's work in three steps, each over all its pixels: slice, softmax, splat. One
      // pixel's steps form a long chain of dependent operations (about 250 instructions); the
      // pixels of a step are independent, so the core overlaps them.
      alignas(64) float acc[kBlock * 256];  // pixel b's energies at acc + b * width
      // Q of a block of pixels, written out label by label (runs of kBlock floats per plane,
      // where pixel by pixel each of Q's values would land in another plane).
      alignas(64) float q[kBlock * 256];  // pixel b's Q at q + b * width
#pragma omp for schedule(static)
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t first = block * kBlock, count = std::min<int64_t>(kBlock, n - first);
        for (int64_t b = 0; b < count; ++b) {
          const int64_t i = first + b;
          float* ai = acc + b * width;
          const float* ui = &u[i * stride];
          for (int c = 0; c < width; ++c) ai[c] = -ui[c];
          if (it == 1 && lane_norm) {
            for (Kernel& k : kernels_) {
              std::fill_n(filtered, width, 0.0f);
              k.lattice.template slice_add<S>(i, 1.0f, filtered);
              k.norm[i] = 1.0f / (filtered[labels] + 1e-20f);
              const float scale = k.weight * k.norm[i];
              for (int c = 0; c < width; ++c) ai[c] += scale * filtered[c];
            }
          } else if (it > 0) {
            for (const Kernel& k : kernels_) k.lattice.template slice_add<S>(i, k.weight * k.norm[i], ai);
          }
        }
        for (int64_t b = 0; b < count; ++b) {
          float* qi = q + b * width;
          softmax<S>(acc + b * width, qi, stride, shifted);
          if (lane_norm && it == 0) qi[labels] = 1.0f;  // the constant to filter; output reads lanes < labels
        }
        if (!last)
          for (Kernel& k : kernels_)
            for (int64_t b = 0; b < count; ++b)
              k.lattice.template splat_add<S>(thread, first + b, q + b * width, symmetric ? k.norm[first + b] : 1.0f);
        if (write_q) {
          for (int64_t l = 0; l < labels; ++l) {
            float* plane = r.marginals.data() + l * n + first;
            for (int64_t b = 0; b < count; ++b) plane[b] = q[b * width + l];
          }
          // Labels from the final marginals only: the first pass's Q may carry the constant 1 in a padding lane.
          if (last)
            for (int64_t b = 0; b < count; ++b) r.labels.data[first + b] = uint8_t(argmax<S>(q + b * width, stride));
        }
      }
    }
    if (!last)
      for (Kernel& k : kernels_) k.lattice.blur();
    if (record_) history_.push_back(r.marginals.clone());
  }
}

double DenseCrf::energy(const Tensor& unary, const Tensor& marginals) {
  const int64_t labels = unary.dim(0), n = h_ * w_;
  const int stride = padded_labels(labels);
  std::vector<float> q(n * stride, 0.0f), msg(n * stride, 0.0f);
  for (int64_t l = 0; l < labels; ++l)
    for (int64_t i = 0; i < n; ++i) q[i * stride + l] = marginals.data()[l * n + i];
  double e = 0;
  for (int64_t l = 0; l < labels; ++l)
    for (int64_t i = 0; i < n; ++i) {
      const double p = q[i * stride + l];
      e += p * unary.data()[l * n + i] + (p > 0 ? p * std::log(p) : 0.0);
    }
  const bool symmetric = params_.normalization == Normalization::symmetric;
  for (Kernel& k : kernels_) {
    ensure_norm(k);
    k.lattice.splat_blur(q.data(), stride, symmetric ? k.norm.data() : nullptr);
    double pair = 0;
    for (int64_t i = 0; i < n; ++i) {
      std::fill(msg.begin(), msg.begin() + stride, 0.0f);
      k.lattice.slice_add(i, k.norm[i], msg.data());  // runtime stride: energy is for tests
      for (int64_t l = 0; l < labels; ++l) pair += double(q[i * stride + l]) * msg[l];
    }
    e -= 0.5 * k.weight * pair;
  }
  return e;
}

}  // namespace deeplab::crf
