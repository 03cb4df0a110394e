// Inverted dropout: in training each element is kept with probability 1 - ratio and scaled
// by 1 / (1 - ratio), so the test phase is the identity. With sample keys (one per image of the
// batch, for example from the data set entry and epoch) each image's mask is drawn from its own
// key alone, so a training run does not depend on how its batch is split across ranks, and a
// resumed run draws the same masks. Without keys, each image's key comes from one seeded
// generator. Masks are a hash of (seed, key, NCHW index) (kernels/dropout_math.h): the GPU draws
// the same ones.
#pragma once
#include <vector>

#include "core/rng.h"
#include "nn/layer.h"

namespace deeplab::nn {

class Dropout : public Layer {
 public:
  Dropout(std::string name, float ratio, uint64_t seed);
  static constexpr OpKind kKind = OpKind::dropout;
  OpKind kind() const override { return kKind; }
  const char* type() const override { return "Dropout"; }
  std::vector<Desc> setup(const std::vector<Desc>& inputs, Phase phase) override;
  void forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) override;
  void backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) override;
  Rng& rng() { return rng_; }
  float ratio() const { return ratio_; }
  uint64_t seed() const { return seed_; }
  // One key per image of the next forward passes' batches; empty: the sequential generator.
  void set_sample_keys(std::vector<uint64_t> keys) { keys_ = std::move(keys); }

 private:
  float ratio_;
  Phase phase_ = Phase::test;
  uint64_t seed_;
  Rng rng_;
  std::vector<uint64_t> keys_;
  memory mask_;  // 0 or 1 / (1 - ratio), in the blob's layout
  Tensor plain_mask_;  // the same in NCHW order, as drawn
};

}  // namespace deeplab::nn
