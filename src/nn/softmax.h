// Softmax over the channel axis of an N x C x H x W score map, its gradient, and the
// training loss: softmax cross-entropy against a label map with ignore label 255.
#pragma once
#include "core/label_map.h"
#include "core/tensor.h"

namespace deeplab::nn {

Tensor softmax_forward(const Tensor& scores);
// Gradient with respect to the scores, given the softmax output y and its gradient dy.
Tensor softmax_backward(const Tensor& y, const Tensor& dy);

// Labels brought to the score map's size by nearest sampling with corners aligned: for a
// 321 x 321 label map and 41 x 41 scores, every 8th pixel (0, 8, ..., 320), as DeepLab does.
LabelMap shrink_labels(const LabelMap& labels, int64_t h, int64_t w);

// How the summed loss is divided: by the number of images (Caffe's normalize: false), by the
// number of labelled pixels (normalize: true, Caffe's default, for which DeepLab's lr 1e-3 is
// set), or not at all, for callers that divide later by a count summed over ranks (training).
enum class LossNormalization { per_image, per_pixel, none };

struct LossResult {
  double loss = 0;        // normalised
  int64_t labelled = 0;   // pixels not ignored
  int64_t correct = 0;    // labelled pixels whose argmax is the label
  Tensor grad;            // d loss / d scores, same normalisation
};

// labels must already be at the score map's size (see shrink_labels).
LossResult softmax_cross_entropy(const Tensor& scores, const LabelMap& labels,
                                 LossNormalization norm = LossNormalization::per_image);

}  // namespace deeplab::nn
