// Inverted dropout: in training each element is kept with probability 1 - ratio and scaled
// by 1 / (1 - ratio), so the test phase is the identity. The mask comes from a seeded
// generator whose state a checkpoint can save.
#pragma once
#include <vector>

#include "core/rng.h"
#include "nn/layer.h"

namespace deeplab::nn {

class Dropout : public Layer {
 public:
  Dropout(std::string name, float ratio, uint64_t seed);
  const char* type() const override { return "Dropout"; }
  std::vector<Desc> setup(const std::vector<Desc>& inputs, Phase phase) override;
  void forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) override;
  void backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) override;
  Rng& rng() { return rng_; }

 private:
  float ratio_;
  Phase phase_ = Phase::test;
  Rng rng_;
  std::vector<float> mask_;  // 0 or 1 / (1 - ratio), per physical element
};

}  // namespace deeplab::nn
