#include "nn/dropout.h"

#include <cstring>

#include "core/error.h"
#include "kernels/dropout_math.h"

namespace deeplab::nn {

Dropout::Dropout(std::string name, float ratio, uint64_t seed) : Layer(std::move(name)), ratio_(ratio), seed_(seed), rng_(seed) {
  DEEPLAB_CHECK(ratio >= 0.0f && ratio < 1.0f, "dropout ratio ", ratio);
}

std::vector<Desc> Dropout::setup(const std::vector<Desc>& inputs, Phase phase) {
  DEEPLAB_CHECK(inputs.size() == 1, name());
  phase_ = phase;
  if (phase == Phase::train) {
    mask_ = make_memory(inputs[0]);
    plain_mask_ = Tensor(desc_shape(inputs[0]));
  }
  return {inputs[0]};
}

void Dropout::forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) {
  const float* x = static_cast<const float*>(in[0]->data.get_data_handle());
  float* y = static_cast<float*>(out[0]->data.get_data_handle());
  const int64_t n = int64_t(physical_size(in[0]->desc));
  if (phase_ == Phase::test) {
    std::memcpy(y, x, n * sizeof(float));
    return;
  }
  const int64_t images = plain_mask_.dim(0), per_image = plain_mask_.numel() / images;
  if (!keys_.empty() && int64_t(keys_.size()) != images)
    fail(name(), ": ", keys_.size(), " sample keys for a batch of ", images);
  std::vector<uint64_t> keys = keys_;
  if (keys.empty())
    for (int64_t b = 0; b < images; ++b) keys.push_back(rng_.next());
#pragma omp parallel for
  for (int64_t b = 0; b < images; ++b) {
    float* m = plain_mask_.data() + b * per_image;
    for (int64_t i = 0; i < per_image; ++i) m[i] = kernels::dropout_scale(seed_, keys[b], uint64_t(i), ratio_);
  }
  tensor_to_memory(plain_mask_, mask_);  // into the blob's (maybe blocked) layout
  const float* mask = static_cast<const float*>(mask_.get_data_handle());
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * mask[i];
}

void Dropout::backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) {
  if (!in[0]->needs_diff) return;
  const float* dy = static_cast<const float*>(out[0]->diff.get_data_handle());
  float* dx = static_cast<float*>(in[0]->diff.get_data_handle());
  const float* mask = static_cast<const float*>(mask_.get_data_handle());
  const int64_t n = int64_t(physical_size(in[0]->desc));
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * mask[i];
}

}  // namespace deeplab::nn
