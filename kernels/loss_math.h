// The training loss per pixel: softmax cross-entropy against a label, with an ignore label, and
// DeepLab's label shrinking (nearest sampling with corners aligned).
#pragma once
#include <cmath>
#include <cstdint>

#include "hd.h"

namespace deeplab::kernels {

constexpr int kIgnore = 255;

// The source index for output index i when sampling `in` pixels down to `out`, rounded to the
// nearest: every 8th pixel (0, 8, ..., 320) for 321 -> 41.
DL_HD int64_t shrink_source(int64_t i, int64_t in, int64_t out) {
  return out > 1 ? (2 * i * (in - 1) + (out - 1)) / (2 * (out - 1)) : 0;
}

struct PixelLoss {
  double loss;  // -log p(label); 0 when ignored
  bool labelled, correct;
};

// One pixel: scores s[k x stride] for k < classes. Writes p - onehot(label) to g[k x stride]
// (zeros when the label is ignored; the caller scales by the normaliser). -log p(label) comes from
// the scores themselves (log-sum-exp in double), exact even where p underflows. The caller checks
// label < classes.
DL_HD PixelLoss softmax_cross_entropy_pixel(const float* s, float* g, int64_t stride, int classes, int label) {
  if (label == kIgnore) {
    for (int k = 0; k < classes; ++k) g[k * stride] = 0.0f;
    return {0.0, false, false};
  }
  int best = 0;
  for (int k = 1; k < classes; ++k)
    if (s[k * stride] > s[best * stride]) best = k;
  const float m = s[best * stride];
  double sum = 0, sum_exact = 0;
  for (int k = 0; k < classes; ++k) {
    const float e = expf(s[k * stride] - m);
    g[k * stride] = e;
    sum += e;
    sum_exact += exp(double(s[k * stride] - m));
  }
  const float inv = float(1.0 / sum);
  for (int k = 0; k < classes; ++k) g[k * stride] *= inv;
  g[label * stride] -= 1.0f;
  return {log(sum_exact) + m - s[label * stride], true, best == label};
}

}  // namespace deeplab::kernels
