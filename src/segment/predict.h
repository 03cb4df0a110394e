// One image through the network and, optionally, the CRF, as DeepLab tests:
//   1. the whole image, mean-subtracted BGR, through the network at full size (any size works:
//      pooling rounds up, so the scores are ceil(H/8) or one more a side);
//   2. softmax over the classes on the stride-8 grid, stored as float16 (what --save-probs keeps
//      and what the CRF sweep reads);
//   3. log-probabilities bilinearly upsampled to the image, score pixel i sitting on image pixel
//      8i (DeepLab's zoom-8 Interp of a padded input, then the crop);
//   4. argmax, or the fully connected CRF with unary -log p.
// Very large photographs can be segmented scaled down (Resolution::max_side): the network (and
// the CRF, unless crf_full_res) runs on the image scaled so its longer side is max_side, and the
// labels are scaled back to the image (nearest).
// Steps 3-4 are one function of the float16 probabilities, so `segment --crf` and `crf-sweep`
// give the same labels from the same stored probabilities.
#pragma once
#include <cstdint>
#include <vector>

#include "core/label_map.h"
#include "core/tensor.h"
#include "crf/crf_runner.h"
#include "crf/dense_crf.h"
#include "data/dataset.h"
#include "models/deeplab.h"
#include "models/scorer.h"

namespace deeplab::segment {

// Class probabilities on the stride-8 grid, as float16 bits (C x h x w).
struct Stride8Probabilities {
  int64_t classes = 0, height = 0, width = 0;
  std::vector<uint16_t> bits;
  Shape shape() const { return {classes, height, width}; }
};

// Where the network runs: the whole image, or scaled so its longer side is at most max_side.
struct Resolution {
  int max_side = 0;           // 0: the image's own size
  bool crf_full_res = false;  // the CRF on the whole image even when the network ran scaled
};
struct Size2D {
  int64_t height = 0, width = 0;
  bool operator==(const Size2D&) const = default;
};
// The image scaled so its longer side is at most max_side (rounded, at least 1 pixel a side).
Size2D working_size(int64_t height, int64_t width, int max_side);
// An RGB image resized (area averaging when shrinking, bilinear when growing).
std::vector<uint8_t> resize_rgb(const uint8_t* rgb, int64_t height, int64_t width, Size2D to);
// A label map resized by nearest neighbour (pixel centres aligned).
LabelMap resize_labels(const LabelMap& labels, Size2D to);

Stride8Probabilities network_probabilities(Scorer& scorer, const data::Sample& sample, const Resolution& resolution = {});

// A C x h x w map bilinearly resampled to C x H x W with source coordinate y / stride_y and
// x / stride_x (clamped to the last row and column).
Tensor upsample(const Tensor& map, int64_t height, int64_t width, double stride_y = 8, double stride_x = 8);

// Fails, naming `what`, when stored probabilities are not the stride-8 grid of an image of this
// size (at this resolution): ceil(side / 8) scores per side, or one more.
void require_fit(const Stride8Probabilities& probs, int64_t height, int64_t width, const Resolution& resolution,
                 const std::string& what);

// Labels (H x W) from stored probabilities: argmax of the upsampled log-probabilities, or, with
// crf non-null, the CRF's labels on the image (rgb H x W x 3), on the runner's device (the CPU
// when runner is null). resolution must be what the probabilities were made with.
LabelMap labels_from_probabilities(const Stride8Probabilities& probs, const uint8_t* rgb, int64_t height,
                                   int64_t width, const crf::CrfParams* crf, crf::CrfRunner* runner = nullptr,
                                   const Resolution& resolution = {});

// About how many bytes segmenting one H x W image takes at its peak, on the safe side: the
// network's planned buffers at the working size (`network_bytes`, from nn::Net::plan_bytes), its
// input, the upsampled scores, the CRF's unary, marginals and lattices, and the image itself.
int64_t segment_memory_bytes(int64_t height, int64_t width, int classes, bool crf, const Resolution& resolution,
                             int64_t network_bytes);

}  // namespace deeplab::segment
