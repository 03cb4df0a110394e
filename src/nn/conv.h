// 2-D convolution (kernel, stride, pad, dilation, bias, optional fused ReLU) through oneDNN.
// Output size as Caffe: (H + 2 pad - dilation (k - 1) - 1) / stride + 1, rounded down.
#pragma once
#include "nn/layer.h"

namespace deeplab::nn {

struct ConvSpec {
  int in_channels = 0;
  int out_channels = 0;
  int kernel = 3;
  int stride = 1;
  int pad = 0;
  int dilation = 1;
  bool bias = true;
  bool relu = false;  // fused: y = max(0, conv(x))
};

// Winograd (F(4x4, 3x3) in oneDNN) cuts the multiplications of 3x3 stride-1 layers by more than
// half, at a small cost in rounding; direct is exact to float rounding. Winograd applies only to
// 3x3, stride 1, undilated layers with channels in multiples of 16; elsewhere direct is used.
enum class ConvAlgorithm { direct, winograd };

class Convolution : public Layer {
 public:
  Convolution(std::string name, ConvSpec spec, ConvAlgorithm algorithm = ConvAlgorithm::direct);
  static constexpr OpKind kKind = OpKind::convolution;
  OpKind kind() const override { return kKind; }
  const char* type() const override { return spec_.relu ? "Convolution+ReLU" : "Convolution"; }
  std::vector<Desc> setup(const std::vector<Desc>& inputs, Phase phase) override;
  void forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) override;
  void backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) override;
  std::vector<Param*> params() override;
  void set_precision(Precision p) override { precision_ = p; }
  size_t workspace_bytes() const override { return workspace_bytes_; }
  void set_workspace(void* buffer) override { workspace_ = static_cast<char*>(buffer); }
  double flops() const override { return flops_; }
  GridStep grid_step() const override { return {spec_.dilation * (spec_.kernel - 1) + 1, spec_.stride}; }
  const ConvSpec& spec() const { return spec_; }
  // oneDNN's kernel for the forward of the last setup ("jit:avx512_core_bf16", ...).
  const char* implementation() const { return fwd_pd_.impl_info_str(); }
  Param& weight() { return weight_; }
  Param& bias() { return bias_; }

 private:
  void choose_forward(const memory::dims& src, const memory::dims& dst, Phase phase);
  void choose_backward(const memory::dims& src, const memory::dims& dst);
  // Test phase, fp32, reordered weights: they live in the lent workspace, not beside the net.
  bool weights_lent() const;
  // The window as oneDNN takes it, for forward and both backward primitives alike.
  memory::dims weight_dims() const { return {spec_.out_channels, spec_.in_channels, spec_.kernel, spec_.kernel}; }
  memory::dims strides() const { return {spec_.stride, spec_.stride}; }
  memory::dims gaps() const { return {spec_.dilation - 1, spec_.dilation - 1}; }  // oneDNN's dilation
  memory::dims padding() const { return {spec_.pad, spec_.pad}; }
  Desc bias_desc() const;  // fp32 in every precision; empty without a bias
  const memory& weights_in(const Desc& want, memory& cache, uint64_t& cached_version);

  ConvSpec spec_;
  ConvAlgorithm algorithm_;
  dnnl::algorithm algorithm_used_ = dnnl::algorithm::convolution_direct;
  Param weight_, bias_;
  Phase phase_ = Phase::test;
  Precision precision_ = Precision::f32;
  double flops_ = 0;
  dnnl::convolution_forward::primitive_desc fwd_pd_;
  dnnl::convolution_backward_data::primitive_desc bwd_data_pd_;
  dnnl::convolution_backward_weights::primitive_desc bwd_weights_pd_;
  dnnl::primitive fwd_, bwd_data_, bwd_weights_;
  memory fwd_weights_, bwd_weights_copy_, diff_weights_, diff_bias_;
  uint64_t fwd_weights_version_ = UINT64_MAX, bwd_weights_version_ = UINT64_MAX;
  // Test phase: [scratchpad | reordered weights] in memory the net lends for this step.
  size_t workspace_bytes_ = 0, scratchpad_bytes_ = 0;
  char* workspace_ = nullptr;
  LayoutCache src_cache_, dst_cache_, diff_dst_cache_, diff_src_cache_, bwd_src_cache_, grad_cache_;
};

// Output extent of a convolution or pooling window along one axis, rounded down (Caffe conv).
int conv_out_size(int in, int kernel, int stride, int pad, int dilation);

}  // namespace deeplab::nn
