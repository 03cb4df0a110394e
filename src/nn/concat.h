// Concatenation along channels (the multi-scale heads of DeepLab-MSc meet fc7 here).
#pragma once
#include "nn/layer.h"

namespace deeplab::nn {

class Concat : public Layer {
 public:
  using Layer::Layer;
  static constexpr OpKind kKind = OpKind::concat;
  OpKind kind() const override { return kKind; }
  const char* type() const override { return "Concat"; }
  std::vector<Desc> setup(const std::vector<Desc>& inputs, Phase phase) override;
  void forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) override;
  void backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) override;

 private:
  dnnl::concat::primitive_desc pd_;
  dnnl::primitive fwd_;
  std::vector<Desc> inputs_;
};

}  // namespace deeplab::nn
