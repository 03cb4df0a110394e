#include "nn/pool.h"

#include <unordered_map>

#include "core/error.h"
#include "nn/reference.h"

namespace deeplab::nn {

using dnnl::algorithm;
using dnnl::prop_kind;

int pool_out_size(int in, int kernel, int stride, int pad) {
  int span = in + 2 * pad - kernel;
  int out = (span + stride - 1) / stride + 1;  // ceil for span >= 0
  if (span < 0) out = 1;
  if (pad > 0 && (out - 1) * stride >= in + pad) --out;
  return out;
}

Pooling::Pooling(std::string name, PoolSpec spec) : Layer(std::move(name)), spec_(spec) {
  DEEPLAB_CHECK(spec.kernel > 0 && spec.stride > 0 && spec.pad >= 0 && spec.pad < spec.kernel,
                "bad pooling spec for ", this->name());
}

std::vector<Desc> Pooling::setup(const std::vector<Desc>& inputs, Phase phase) {
  DEEPLAB_CHECK(inputs.size() == 1, name());
  phase_ = phase;
  Shape in = desc_shape(inputs[0]);
  if (in.size() != 4) fail("layer ", name(), ": expects an N x C x H x W input, got ", shape_str(in));
  const int h = int(in[2]), w = int(in[3]);
  if (h + 2 * spec_.pad < spec_.kernel || w + 2 * spec_.pad < spec_.kernel)
    fail("layer ", name(), ": input ", shape_str(in), " is smaller than the pooling window");
  const int oh = pool_out_size(h, spec_.kernel, spec_.stride, spec_.pad);
  const int ow = pool_out_size(w, spec_.kernel, spec_.stride, spec_.pad);
  // Right/bottom padding that makes oneDNN produce Caffe's rounded-up size.
  const int pad_b = (oh - 1) * spec_.stride + spec_.kernel - h - spec_.pad;
  const int pad_r = (ow - 1) * spec_.stride + spec_.kernel - w - spec_.pad;
  memory::dims dst_dims = {in[0], in[1], oh, ow};
  use_reference_ = spec_.kind == PoolKind::avg && (pad_b > spec_.pad || pad_r > spec_.pad);
  if (use_reference_) {
    DEEPLAB_CHECK(inputs[0].data_type() == memory::data_type::f32, "layer ", name(), ": this window needs fp32 input");
    return {plain_desc({in[0], in[1], oh, ow})};
  }

  auto alg = spec_.kind == PoolKind::max ? algorithm::pooling_max : algorithm::pooling_avg_include_padding;
  auto kind = phase == Phase::train ? prop_kind::forward_training : prop_kind::forward_inference;
  Desc dst_any(dst_dims, inputs[0].data_type(), memory::format_tag::any);  // bf16 stays bf16
  dnnl::pooling_forward::desc fd(kind, alg, inputs[0], dst_any, {spec_.stride, spec_.stride},
                                 {spec_.kernel, spec_.kernel}, {spec_.pad, spec_.pad}, {pad_b, pad_r});
  fwd_pd_ = dnnl::pooling_forward::primitive_desc(fd, cpu_engine());
  fwd_ = dnnl::pooling_forward(fwd_pd_);
  workspace_ = memory();
  if (phase == Phase::train) {
    if (spec_.kind == PoolKind::max) workspace_ = make_memory(fwd_pd_.workspace_desc());
    dnnl::pooling_backward::desc bd(alg, inputs[0], fwd_pd_.dst_desc(), {spec_.stride, spec_.stride},
                                    {spec_.kernel, spec_.kernel}, {spec_.pad, spec_.pad}, {pad_b, pad_r});
    bwd_pd_ = dnnl::pooling_backward::primitive_desc(bd, cpu_engine(), fwd_pd_);
    bwd_ = dnnl::pooling_backward(bwd_pd_);
  }
  return {fwd_pd_.dst_desc()};
}

void Pooling::forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) {
  if (use_reference_) {
    tensor_to_memory(pool_reference(memory_to_tensor(in[0]->data), spec_), out[0]->data);
    return;
  }
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, in[0]->data}, {DNNL_ARG_DST, out[0]->data}};
  if (workspace_) args[DNNL_ARG_WORKSPACE] = workspace_;
  fwd_.execute(cpu_stream(), args);
  cpu_stream().wait();
}

void Pooling::backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) {
  DEEPLAB_CHECK(phase_ == Phase::train, "backward of ", name(), " in the test phase");
  if (!in[0]->needs_diff) return;
  if (use_reference_) {
    Tensor dx = pool_reference_backward(memory_to_tensor(in[0]->data), memory_to_tensor(out[0]->diff), spec_);
    tensor_to_memory(dx, in[0]->diff);
    return;
  }
  const memory& dy = diff_dst_cache_.get(out[0]->diff, bwd_pd_.diff_dst_desc());
  const memory& dx = diff_src_cache_.buffer_for(in[0]->diff, bwd_pd_.diff_src_desc());
  std::unordered_map<int, memory> args = {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_SRC, dx}};
  if (workspace_) args[DNNL_ARG_WORKSPACE] = workspace_;
  bwd_.execute(cpu_stream(), args);
  cpu_stream().wait();
  diff_src_cache_.copy_to(in[0]->diff);
}

}  // namespace deeplab::nn
