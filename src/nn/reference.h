// Plain loop implementations of convolution and pooling on NCHW tensors: slow, obviously
// correct, and the yardstick the oneDNN operators are tested against.
#pragma once
#include "core/tensor.h"
#include "nn/conv.h"
#include "nn/pool.h"

namespace deeplab::nn {

// bias may be empty.
Tensor conv_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvSpec& spec);
Tensor pool_reference(const Tensor& x, const PoolSpec& spec);
// Gradient of pool_reference with respect to x; max routes to the first maximum in the window.
Tensor pool_reference_backward(const Tensor& x, const Tensor& dy, const PoolSpec& spec);

}  // namespace deeplab::nn
