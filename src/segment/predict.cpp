#include "segment/predict.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "core/half.h"
#include "data/loader.h"
#include "nn/softmax.h"

namespace deeplab::segment {

namespace {
// Probabilities below this (float16 underflow) are taken as this, so log p stays finite.
constexpr float kMinProbability = 1e-8f;
}  // namespace

Size2D working_size(int64_t height, int64_t width, int max_side) {
  const int64_t longer = std::max(height, width);
  if (max_side <= 0 || longer <= max_side) return {height, width};
  const double scale = double(max_side) / double(longer);
  return {std::max<int64_t>(1, std::llround(double(height) * scale)), std::max<int64_t>(1, std::llround(double(width) * scale))};
}

std::vector<uint8_t> resize_rgb(const uint8_t* rgb, int64_t height, int64_t width, Size2D to) {
  std::vector<uint8_t> out(size_t(to.height * to.width * 3));
  const cv::Mat src(int(height), int(width), CV_8UC3, const_cast<uint8_t*>(rgb));
  cv::Mat dst(int(to.height), int(to.width), CV_8UC3, out.data());
  const bool shrink = to.height * to.width < height * width;
  cv::resize(src, dst, dst.size(), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

LabelMap resize_labels(const LabelMap& labels, Size2D to) {
  LabelMap out(1, to.height, to.width);
  std::vector<int64_t> source_x(size_t(to.width));
  for (int64_t x = 0; x < to.width; ++x)
    source_x[size_t(x)] = std::min(labels.w - 1, int64_t((double(x) + 0.5) * double(labels.w) / double(to.width)));
  for (int64_t y = 0; y < to.height; ++y) {
    const int64_t sy = std::min(labels.h - 1, int64_t((double(y) + 0.5) * double(labels.h) / double(to.height)));
    const uint8_t* row = &labels.data[size_t(sy * labels.w)];
    uint8_t* dst = &out.data[size_t(y * to.width)];
    for (int64_t x = 0; x < to.width; ++x) dst[x] = row[source_x[size_t(x)]];
  }
  return out;
}

Stride8Probabilities network_probabilities(Scorer& scorer, const data::Sample& sample, const Resolution& resolution) {
  const Size2D size = working_size(sample.height, sample.width, resolution.max_side);
  Tensor scores;
  if (size == Size2D{sample.height, sample.width}) {
    scores = scorer.scores(data::to_network_input(sample));
  } else {
    data::Sample scaled{sample.name, size.height, size.width, resize_rgb(sample.rgb.data(), sample.height, sample.width, size), {}};
    scores = scorer.scores(data::to_network_input(scaled));
  }
  for (int64_t i = 0; i < scores.numel(); ++i)
    if (!std::isfinite(scores.data()[i]))
      fail("image '", sample.name, "': the network's scores are not finite (a damaged or diverged model?)");
  const Tensor p = nn::softmax_forward(scores);
  Stride8Probabilities out{p.dim(1), p.dim(2), p.dim(3), std::vector<uint16_t>(size_t(p.numel()))};
  for (int64_t i = 0; i < p.numel(); ++i) out.bits[size_t(i)] = float_to_half(p.data()[i]);
  return out;
}

Tensor upsample(const Tensor& map, int64_t height, int64_t width, double stride_y, double stride_x) {
  DEEPLAB_CHECK(map.ndim() == 3, "upsample of ", shape_str(map.shape()));
  const int64_t c = map.dim(0), h = map.dim(1), w = map.dim(2);
  // Source row/column and weight per output row/column, computed once.
  auto taps = [](int64_t out, int64_t in, double stride, std::vector<int64_t>& lo, std::vector<float>& frac) {
    lo.resize(size_t(out));
    frac.resize(size_t(out));
    for (int64_t i = 0; i < out; ++i) {
      const float s = std::min(float(double(i) / stride), float(in - 1));
      lo[size_t(i)] = std::min<int64_t>(int64_t(s), std::max<int64_t>(in - 2, 0));
      frac[size_t(i)] = in > 1 ? s - float(lo[size_t(i)]) : 0.0f;
    }
  };
  std::vector<int64_t> y0, x0;
  std::vector<float> fy, fx;
  taps(height, h, stride_y, y0, fy);
  taps(width, w, stride_x, x0, fx);
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

namespace {

// Labels at the size the probabilities were made for: step 3 and 4 above.
LabelMap labels_at(const Tensor& logp, const uint8_t* rgb, int64_t height, int64_t width, double stride_y,
                   double stride_x, const crf::CrfParams* crf, crf::CrfRunner* runner) {
  Tensor up = upsample(logp, height, width, stride_y, stride_x);
  if (crf) {
    float* u = up.data();
    for (int64_t i = 0; i < up.numel(); ++i) u[i] = -u[i];  // unary = -log p
    if (runner) return runner->run(rgb, height, width, *crf, up).labels;
    return crf::DenseCrf(rgb, height, width, *crf).infer(up).labels;
  }
  const int64_t classes = logp.dim(0), plane = height * width;
  LabelMap labels(1, height, width);
  for (int64_t i = 0; i < plane; ++i) {
    int64_t best = 0;
    for (int64_t k = 1; k < classes; ++k)
      if (up.data()[k * plane + i] > up.data()[best * plane + i]) best = k;
    labels.data[size_t(i)] = uint8_t(best);
  }
  return labels;
}

}  // namespace

void require_fit(const Stride8Probabilities& probs, int64_t height, int64_t width, const Resolution& resolution,
                 const std::string& what) {
  // Score i sits on pixel 8i of the working image; Caffe's rounded-up pooling gives ceil(H/8) or one more.
  const Size2D size = working_size(height, width, resolution.max_side);
  const auto fits = [](int64_t grid, int64_t pixels) { return grid >= (pixels + 7) / 8 && grid <= (pixels + 7) / 8 + 1; };
  if (!fits(probs.height, size.height) || !fits(probs.width, size.width))
    fail(what, ": probabilities of ", probs.width, "x", probs.height, " do not fit a ", size.width, "x", size.height,
         " image at stride 8");
}

LabelMap labels_from_probabilities(const Stride8Probabilities& probs, const uint8_t* rgb, int64_t height,
                                   int64_t width, const crf::CrfParams* crf, crf::CrfRunner* runner,
                                   const Resolution& resolution) {
  require_fit(probs, height, width, resolution, "labels");
  const Size2D size = working_size(height, width, resolution.max_side);
  Tensor logp({probs.classes, probs.height, probs.width});
  for (size_t i = 0; i < probs.bits.size(); ++i)
    logp.data()[i] = std::log(std::max(half_to_float(probs.bits[i]), kMinProbability));
  if (size == Size2D{height, width}) return labels_at(logp, rgb, height, width, 8, 8, crf, runner);
  if (crf && resolution.crf_full_res)  // the scores straight to the whole image, the CRF there
    return labels_at(logp, rgb, height, width, 8.0 * double(height) / double(size.height),
                     8.0 * double(width) / double(size.width), crf, runner);
  const std::vector<uint8_t> small = crf ? resize_rgb(rgb, height, width, size) : std::vector<uint8_t>{};
  const LabelMap labels = labels_at(logp, small.data(), size.height, size.width, 8, 8, crf, runner);
  return resize_labels(labels, {height, width});
}

int64_t segment_memory_bytes(int64_t height, int64_t width, int classes, bool crf, const Resolution& resolution,
                             int64_t network_bytes) {
  const Size2D size = working_size(height, width, resolution.max_side);
  const int64_t pixels = height * width, working = size.height * size.width;
  // The network keeps its planned buffers between images, so they are held while the scores
  // are upsampled and the CRF runs: the parts add up.
  const int64_t network = network_bytes + working * 3 * int64_t(sizeof(float));  // the planned buffers, the input
  // After the network: the upsampled scores, and for the CRF its unary and marginals (classes
  // padded to a multiple of 8) and the two lattices (about 64 bytes a pixel).
  const int64_t post_pixels = crf && resolution.crf_full_res ? pixels : working;
  const int64_t padded = (classes + 7) / 8 * 8;
  const int64_t post = post_pixels * (int64_t(classes) * 4 + (crf ? 2 * padded * 4 + 64 : 0));
  const int64_t parts = network + post + pixels * 4;  // and the image with its labels
  // Measured peaks (a 4032x3024 photograph: full size and --max-side 1000 and 2000, with and
  // without the CRF) came to 1.19-1.36x these parts (allocator slack, HDF5 and PNG buffers,
  // oneDNN's own), over a baseline of about 40 MB: the estimate errs on the safe side.
  return parts * 7 / 5 + (int64_t(64) << 20);
}

}  // namespace deeplab::segment
