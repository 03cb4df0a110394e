#include "segment/predict.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/half.h"
#include "data/loader.h"
#include "nn/softmax.h"

namespace deeplab::segment {

namespace {
// Probabilities below this (float16 underflow) are taken as this, so log p stays finite.
constexpr float kMinProbability = 1e-8f;
}  // namespace

Stride8Probabilities network_probabilities(Scorer& scorer, const data::Sample& sample) {
  const Tensor scores = scorer.scores(data::to_network_input(sample));
  for (int64_t i = 0; i < scores.numel(); ++i)
    if (!std::isfinite(scores.data()[i]))
      fail("image '", sample.name, "': the network's scores are not finite (a damaged or diverged model?)");
  const Tensor p = nn::softmax_forward(scores);
  Stride8Probabilities out{p.dim(1), p.dim(2), p.dim(3), std::vector<uint16_t>(size_t(p.numel()))};
  for (int64_t i = 0; i < p.numel(); ++i) out.bits[size_t(i)] = float_to_half(p.data()[i]);
  return out;
}

Tensor upsample(const Tensor& map, int64_t height, int64_t width, int stride) {
  DEEPLAB_CHECK(map.ndim() == 3, "upsample of ", shape_str(map.shape()));
  const int64_t c = map.dim(0), h = map.dim(1), w = map.dim(2);
  // Source row/column and weight per output row/column, computed once.
  auto taps = [stride](int64_t out, int64_t in, std::vector<int64_t>& lo, std::vector<float>& frac) {
    lo.resize(size_t(out));
    frac.resize(size_t(out));
    for (int64_t i = 0; i < out; ++i) {
      const float s = std::min(float(i) / float(stride), float(in - 1));
      lo[size_t(i)] = std::min<int64_t>(int64_t(s), std::max<int64_t>(in - 2, 0));
      frac[size_t(i)] = in > 1 ? s - float(lo[size_t(i)]) : 0.0f;
    }
  };
  std::vector<int64_t> y0, x0;
  std::vector<float> fy, fx;
  taps(height, h, y0, fy);
  taps(width, w, x0, fx);
  Tensor out = Tensor::uninitialized_large({c, height, width});
#pragma omp parallel for
  for (int64_t k = 0; k < c; ++k) {
    const float* src = map.data() + k * h * w;
    float* dst = out.data() + k * height * width;
    for (int64_t y = 0; y < height; ++y) {
      const float* r0 = src + y0[size_t(y)] * w;
      const float* r1 = h > 1 ? r0 + w : r0;
      const float a = fy[size_t(y)];
      for (int64_t x = 0; x < width; ++x) {
        const int64_t i = x0[size_t(x)], j = w > 1 ? i + 1 : i;
        const float b = fx[size_t(x)];
        const float top = r0[i] + b * (r0[j] - r0[i]), bottom = r1[i] + b * (r1[j] - r1[i]);
        dst[y * width + x] = top + a * (bottom - top);
      }
    }
  }
  return out;
}

LabelMap labels_from_probabilities(const Stride8Probabilities& probs, const uint8_t* rgb, int64_t height,
                                   int64_t width, const crf::CrfParams* crf, crf::CrfRunner* runner) {
  // Score i sits on pixel 8i; Caffe's rounded-up pooling gives ceil(H/8) or one more.
  const auto fits = [](int64_t grid, int64_t pixels) { return grid >= (pixels + 7) / 8 && grid <= (pixels + 7) / 8 + 1; };
  if (!fits(probs.height, height) || !fits(probs.width, width))
    fail("probabilities of ", probs.width, "x", probs.height, " do not fit a ", width, "x", height, " image at stride 8");
  Tensor logp({probs.classes, probs.height, probs.width});
  for (size_t i = 0; i < probs.bits.size(); ++i)
    logp.data()[i] = std::log(std::max(half_to_float(probs.bits[i]), kMinProbability));
  Tensor up = upsample(logp, height, width);
  if (crf) {
    float* u = up.data();
    for (int64_t i = 0; i < up.numel(); ++i) u[i] = -u[i];  // unary = -log p
    if (runner) return runner->run(rgb, height, width, *crf, up).labels;
    return crf::DenseCrf(rgb, height, width, *crf).infer(up).labels;
  }
  LabelMap labels(1, height, width);
  const int64_t plane = height * width;
  for (int64_t i = 0; i < plane; ++i) {
    int64_t best = 0;
    for (int64_t k = 1; k < probs.classes; ++k)
      if (up.data()[k * plane + i] > up.data()[best * plane + i]) best = k;
    labels.data[size_t(i)] = uint8_t(best);
  }
  return labels;
}

}  // namespace deeplab::segment
