// One element of Caffe's SGD step (see src/train/solver.h):
//   v <- momentum v + lr (g scale + decay w),  w <- w - v
#pragma once
#include "hd.h"

namespace deeplab::kernels {

DL_HD void sgd_step(float& w, float& v, float g, float scale, float lr, float decay, float momentum) {
  v = momentum * v + lr * (g * scale + decay * w);
  w -= v;
}

}  // namespace deeplab::kernels
