#include "nn/relu.h"

#include "core/error.h"

namespace deeplab::nn {

// Elementwise layers work on the physical buffer: input and output share one layout.
std::vector<Desc> ReLU::setup(const std::vector<Desc>& inputs, Phase) {
  DEEPLAB_CHECK(inputs.size() == 1, name());
  DEEPLAB_CHECK(inputs[0].data_type() == memory::data_type::f32, "layer ", name(), ": computes in fp32 only");
  return {inputs[0]};
}

void ReLU::forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) {
  const float* x = static_cast<const float*>(in[0]->data.get_data_handle());
  float* y = static_cast<float*>(out[0]->data.get_data_handle());
  const int64_t n = int64_t(physical_size(in[0]->desc));
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void ReLU::backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) {
  if (!in[0]->needs_diff) return;
  const float* x = static_cast<const float*>(in[0]->data.get_data_handle());
  const float* dy = static_cast<const float*>(out[0]->diff.get_data_handle());
  float* dx = static_cast<float*>(in[0]->diff.get_data_handle());
  const int64_t n = int64_t(physical_size(in[0]->desc));
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

}  // namespace deeplab::nn
