#include "nn/split.h"

#include "core/error.h"

namespace deeplab::nn {

std::vector<Desc> Split::setup(const std::vector<Desc>& inputs, Phase) {
  DEEPLAB_CHECK(inputs.size() == 1, name());
  return std::vector<Desc>(outputs_, inputs[0]);
}

void Split::backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) {
  if (!in[0]->needs_diff) return;
  float* dx = static_cast<float*>(in[0]->diff.get_data_handle());
  const int64_t n = int64_t(physical_size(in[0]->desc));
  for (size_t k = 0; k < out.size(); ++k) {
    const float* dy = static_cast<const float*>(out[k]->diff.get_data_handle());
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i) dx[i] = (k == 0 ? 0.0f : dx[i]) + dy[i];
  }
}

}  // namespace deeplab::nn
