// Max and average pooling with Caffe's output size: rounded up, and the last window must
// start inside the image (or its left padding). Max ignores padding; average divides by the
// window clipped to the padded image, as Caffe does.
#pragma once
#include "nn/layer.h"

namespace deeplab::nn {

enum class PoolKind { max, avg };

struct PoolSpec {
  PoolKind kind = PoolKind::max;
  int kernel = 3;
  int stride = 2;
  int pad = 1;
};

// Caffe's pooled size along one axis.
int pool_out_size(int in, int kernel, int stride, int pad);

class Pooling : public Layer {
 public:
  Pooling(std::string name, PoolSpec spec);
  static constexpr OpKind kKind = OpKind::pooling;
  OpKind kind() const override { return kKind; }
  const char* type() const override { return spec_.kind == PoolKind::max ? "MaxPool" : "AvgPool"; }
  std::vector<Desc> setup(const std::vector<Desc>& inputs, Phase phase) override;
  void forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) override;
  void backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) override;
  GridStep grid_step() const override { return {spec_.kernel, spec_.stride}; }
  const PoolSpec& spec() const { return spec_; }

 private:
  PoolSpec spec_;
  Phase phase_ = Phase::test;
  // Average windows clipped by the rounded-up size are not oneDNN's semantics: loop instead.
  bool use_reference_ = false;
  dnnl::pooling_forward::primitive_desc fwd_pd_;
  dnnl::pooling_backward::primitive_desc bwd_pd_;
  dnnl::primitive fwd_, bwd_;
  memory workspace_;
  LayoutCache diff_dst_cache_, diff_src_cache_;
};

}  // namespace deeplab::nn
