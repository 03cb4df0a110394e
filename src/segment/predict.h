// One image through the network and, optionally, the CRF, as DeepLab tests:
//   1. the whole image, mean-subtracted BGR, through the network at full size (any size works:
//      pooling rounds up, so the scores are ceil(H/8) or one more a side);
//   2. softmax over the classes on the stride-8 grid, stored as float16 (what --save-probs keeps
//      and what the CRF sweep reads);
//   3. log-probabilities bilinearly upsampled to the image, score pixel i sitting on image pixel
//      8i (DeepLab's zoom-8 Interp of a padded input, then the crop);
//   4. argmax, or the fully connected CRF with unary -log p.
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

Stride8Probabilities network_probabilities(Scorer& scorer, const data::Sample& sample);

// A C x h x w map bilinearly resampled to C x H x W with source coordinate y / stride (clamped
// to the last row and column).
Tensor upsample(const Tensor& map, int64_t height, int64_t width, int stride = 8);

// Labels (H x W) from stored probabilities: argmax of the upsampled log-probabilities, or, with
// crf non-null, the CRF's labels on the image (rgb H x W x 3), on the runner's device (the CPU
// when runner is null).
LabelMap labels_from_probabilities(const Stride8Probabilities& probs, const uint8_t* rgb, int64_t height,
                                   int64_t width, const crf::CrfParams* crf, crf::CrfRunner* runner = nullptr);

}  // namespace deeplab::segment
