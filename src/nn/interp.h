// Bilinear resize with the semantics of Caffe's Interp layer (DeepLab's fork): corners aligned,
// source coordinate = out_index * (in_size - 1) / (out_size - 1). Forward and its adjoint.
#pragma once
#include "core/tensor.h"

namespace deeplab::nn {

Tensor interp_forward(const Tensor& x, int64_t out_h, int64_t out_w);
// Gradient with respect to x (of shape N x C x in_h x in_w) given the output's gradient.
Tensor interp_backward(const Tensor& dy, int64_t in_h, int64_t in_w);

}  // namespace deeplab::nn
