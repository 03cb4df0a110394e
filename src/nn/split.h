// Lets one blob feed several layers in training: the outputs share the input's data, and
// backward sums their gradients (Caffe inserts the same layer automatically; so does Net).
#pragma once
#include "nn/layer.h"

namespace deeplab::nn {

class Split : public Layer {
 public:
  Split(std::string name, int outputs) : Layer(std::move(name)), outputs_(outputs) {}
  static constexpr OpKind kKind = OpKind::split;
  OpKind kind() const override { return kKind; }
  const char* type() const override { return "Split"; }
  int num_outputs() const override { return outputs_; }
  bool aliases_input() const override { return true; }
  std::vector<Desc> setup(const std::vector<Desc>& inputs, Phase phase) override;
  void forward(const std::vector<Blob*>&, const std::vector<Blob*>&) override {}
  void backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) override;

 private:
  int outputs_;
};

}  // namespace deeplab::nn
