#include "nn/dropout.h"

#include <cstring>

#include "core/error.h"

namespace deeplab::nn {

Dropout::Dropout(std::string name, float ratio, uint64_t seed) : Layer(std::move(name)), ratio_(ratio), seed_(seed), rng_(seed) {
  DEEPLAB_CHECK(ratio >= 0.0f && ratio < 1.0f, "dropout ratio ", ratio);
}

std::vector<Desc> Dropout::setup(const std::vector<Desc>& inputs, Phase phase) {
  DEEPLAB_CHECK(inputs.size() == 1, name());
  phase_ = phase;
  mask_.assign(phase == Phase::train ? physical_size(inputs[0]) : 0, 0.0f);
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
  const float scale = 1.0f / (1.0f - ratio_);
  const int64_t images = in[0]->desc.dims()[0];
  if (keys_.empty()) {
    for (int64_t i = 0; i < n; ++i) mask_[i] = rng_.uniform() >= ratio_ ? scale : 0.0f;
  } else {
    if (int64_t(keys_.size()) != images) fail(name(), ": ", keys_.size(), " sample keys for a batch of ", images);
    const int64_t per_image = n / images;  // the batch is the outermost dimension in every layout
#pragma omp parallel for
    for (int64_t b = 0; b < images; ++b) {
      Rng rng(seed_ ^ (keys_[b] * 0x9E3779B97F4A7C15ull));
      float* m = mask_.data() + b * per_image;
      for (int64_t i = 0; i < per_image; ++i) m[i] = rng.uniform() >= ratio_ ? scale : 0.0f;
    }
  }
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * mask_[i];
}

void Dropout::backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) {
  if (!in[0]->needs_diff) return;
  const float* dy = static_cast<const float*>(out[0]->diff.get_data_handle());
  float* dx = static_cast<float*>(in[0]->diff.get_data_handle());
  const int64_t n = int64_t(physical_size(in[0]->desc));
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * mask_[i];
}

}  // namespace deeplab::nn
