// Helpers for tests of layers: a net around one layer, convolution weights drawn for a check,
// and comparisons relative to the largest value.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "nn/conv.h"
#include "nn/net.h"

namespace deeplab::testing {

// A net holding one layer; its inputs ask for gradients and all its outputs are the net's.
inline std::unique_ptr<nn::Net> one_layer(std::unique_ptr<nn::Layer> layer, int inputs, nn::Phase phase) {
  auto net = std::make_unique<nn::Net>(phase);
  std::vector<int> in;
  for (int i = 0; i < inputs; ++i) in.push_back(net->add_input(std::string(1, char('a' + i)), true));
  for (int out : net->add(std::move(layer), in)) net->mark_output(out);
  return net;
}

inline void randomise(nn::Convolution& conv, uint64_t seed) {
  conv.weight().value = random_tensor(conv.weight().value.shape(), seed, -0.5f, 0.5f);
  if (conv.spec().bias) conv.bias().value = random_tensor(conv.bias().value.shape(), seed + 1, -0.5f, 0.5f);
  ++conv.weight().version;
}

// Every element within rel x max(1, largest |want|).
inline void expect_close(const Tensor& got, const Tensor& want, double rel, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  double max_abs = 0;
  for (int64_t i = 0; i < want.numel(); ++i) max_abs = std::max(max_abs, double(std::abs(want.data()[i])));
  for (int64_t i = 0; i < want.numel(); ++i)
    ASSERT_NEAR(got.data()[i], want.data()[i], rel * std::max(1.0, max_abs)) << what << " element " << i;
}

// Largest |got - want| relative to the largest |want| (so near-zero elements do not dominate).
inline double relative_difference(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  double diff = 0, scale = 1e-12;
  for (int64_t i = 0; i < want.numel(); ++i) {
    diff = std::max(diff, double(std::fabs(got.data()[i] - want.data()[i])));
    scale = std::max(scale, double(std::fabs(want.data()[i])));
  }
  return diff / scale;
}

}  // namespace deeplab::testing
