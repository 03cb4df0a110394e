// ReLU as a layer of its own. Networks fuse it into the convolution before it; this layer
// serves graphs where nothing precedes it to fuse into.
#pragma once
#include "nn/layer.h"

namespace deeplab::nn {

class ReLU : public Layer {
 public:
  using Layer::Layer;
  const char* type() const override { return "ReLU"; }
  std::vector<Desc> setup(const std::vector<Desc>& inputs, Phase phase) override;
  void forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) override;
  void backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) override;
};

}  // namespace deeplab::nn
