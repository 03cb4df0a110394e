// Bilinear resize with corners aligned (Caffe's Interp layer in the DeepLab fork): output index
// i reads source coordinate i x (in - 1) / (out - 1), between pixels lo and lo + step.
#pragma once
#include <cstdint>

#include "hd.h"

namespace deeplab::kernels {

struct BilinearTap {
  int64_t lo, step;  // step is 0 at the last source pixel
  float frac;        // the weight of lo + step
};

DL_HD BilinearTap bilinear_tap(int64_t i, int64_t in, int64_t out) {
  const float ratio = out > 1 ? float(in - 1) / float(out - 1) : 0.0f;
  const float source = ratio * float(i);
  const int64_t lo = int64_t(source);
  return {lo, lo < in - 1 ? 1 : 0, source - float(lo)};
}

}  // namespace deeplab::kernels
