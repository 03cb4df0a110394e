#include "nn/conv.h"

#include <string>
#include <unordered_map>
#include <utility>

#include "core/error.h"

namespace deeplab::nn {

using dnnl::algorithm;
using dnnl::prop_kind;

namespace {
// False for oneDNN's reference kernels ("ref:any"): correct, but orders of magnitude slower.
bool optimised(const dnnl::primitive_desc_base& pd) {
  return std::string(pd.impl_info_str()).rfind("ref", 0) != 0;
}
}  // namespace

int conv_out_size(int in, int kernel, int stride, int pad, int dilation) {
  const int span = in + 2 * pad - (dilation * (kernel - 1) + 1);
  return span < 0 ? 0 : span / stride + 1;  // no window fits: 0, which setup reports
}

Convolution::Convolution(std::string name, ConvSpec spec, ConvAlgorithm algorithm)
    : Layer(std::move(name)), spec_(spec), algorithm_(algorithm) {
  DEEPLAB_CHECK(spec.in_channels > 0 && spec.out_channels > 0 && spec.kernel > 0 && spec.stride > 0 &&
                    spec.dilation > 0 && spec.pad >= 0,
                "bad convolution spec for ", this->name());
  weight_.name = this->name() + "/weight";
  weight_.value = Tensor({spec.out_channels, spec.in_channels, spec.kernel, spec.kernel});
  if (spec.bias) {
    bias_.name = this->name() + "/bias";
    bias_.value = Tensor({spec.out_channels});
    bias_.lr_mult = 2.0f;  // Caffe convention for biases: twice the learning rate, no decay
    bias_.decay_mult = 0.0f;
  }
}

std::vector<Param*> Convolution::params() {
  if (spec_.bias) return {&weight_, &bias_};
  return {&weight_};
}

std::vector<Desc> Convolution::setup(const std::vector<Desc>& inputs, Phase phase) {
  DEEPLAB_CHECK(inputs.size() == 1, name());
  DEEPLAB_CHECK(phase == Phase::test || precision_ == Precision::f32, "layer ", name(), ": training is fp32 only");
  phase_ = phase;
  Shape in = desc_shape(inputs[0]);
  if (in.size() != 4 || in[1] != spec_.in_channels)
    fail("layer ", name(), ": expects N x ", spec_.in_channels, " x H x W input, got ", shape_str(in));
  const int oh = conv_out_size(int(in[2]), spec_.kernel, spec_.stride, spec_.pad, spec_.dilation);
  const int ow = conv_out_size(int(in[3]), spec_.kernel, spec_.stride, spec_.pad, spec_.dilation);
  if (oh < 1 || ow < 1) fail("layer ", name(), ": input ", shape_str(in), " is smaller than the kernel");
  const memory::dims src_dims = {in[0], in[1], in[2], in[3]}, dst_dims = {in[0], spec_.out_channels, oh, ow};

  choose_forward(src_dims, dst_dims, phase);
  workspace_bytes_ = scratchpad_bytes_ = 0;
  if (phase == Phase::test) {
    auto round64 = [](size_t b) { return (b + 63) / 64 * 64; };
    scratchpad_bytes_ = round64(fwd_pd_.scratchpad_desc().get_size());
    workspace_bytes_ = scratchpad_bytes_ + (weights_lent() ? round64(fwd_pd_.weights_desc().get_size()) : 0);
  }
  if (phase == Phase::train) choose_backward(src_dims, dst_dims);
  flops_ = 2.0 * in[0] * spec_.out_channels * oh * ow * spec_.in_channels * spec_.kernel * spec_.kernel;
  return {fwd_pd_.dst_desc()};
}

void Convolution::choose_forward(const memory::dims& src_dims, const memory::dims& dst_dims, Phase phase) {
  using tag = memory::format_tag;
  using type = memory::data_type;
  const bool winograd_fits = algorithm_ == ConvAlgorithm::winograd && spec_.kernel == 3 && spec_.stride == 1 &&
                             spec_.dilation == 1 && src_dims[1] % 16 == 0 && spec_.out_channels % 16 == 0;
  // A wide layer asked for Winograd runs it in fp32 even under bf16: oneDNN has no bf16
  // Winograd, and on the paper's conv3_x (128-256 channels) fp32 Winograd beats bf16 direct
  // (bench forward at 513: 78 against 109 ms for the three layers; the whole forward 0.56 ->
  // 0.54 of fp32's time). Its input is converted from bf16 on the way in, and its fp32 output
  // on the way into the next bf16 layer. Narrower layers stay bf16: at half width (64-128
  // channels, where conv3_2 and conv3_3 pass the bar) the forward took the same time either
  // way; at the demo's width (16-32) fp32 Winograd lost (4.4 -> 7-8 ms).
  const bool bf16 = precision_ == Precision::bf16;
  const bool try_winograd = winograd_fits && (!bf16 || src_dims[1] >= 128);
  dnnl::primitive_attr attr;
  if (spec_.relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  auto kind = phase == Phase::train ? prop_kind::forward_training : prop_kind::forward_inference;
  // Inference passes oneDNN's scratchpad explicitly, inside the lent workspace.
  if (phase == Phase::test) attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

  // Candidates, best first; the first that oneDNN runs with an optimised kernel wins.
  // Activations in nChw16c (channels in blocks of 16) suit its direct AVX-512 kernels; a
  // 3-channel input stays plain (blocking would pad it to 16), or goes channels-last below.
  // Where the direct kernel does not apply (fc6's dilation 12 on a small map), let oneDNN choose
  // the layout. Each candidate computes in the net's precision, but Winograd always in fp32.
  struct Candidate {
    algorithm alg;
    tag src, dst;
  };
  const tag blocked_src = src_dims[1] % 16 == 0 ? tag::nChw16c : tag::any;
  std::vector<Candidate> candidates;
  // An input of fewer than 16 channels (the first layers of narrow networks) would be padded to
  // a block of 16, and so would a narrow output, up to 4x the arithmetic: channels-last instead
  // (oneDNN's brgconv kernels). Not for a wide input into few outputs (fc8): there the padding
  // is cheap and channels-last would cost a reorder of the wide input.
  if (src_dims[1] < 16 && (src_dims[1] > 4 || spec_.out_channels < 16))
    candidates.push_back({algorithm::convolution_direct, tag::nhwc, tag::nhwc});
  if (try_winograd) candidates.push_back({algorithm::convolution_winograd, tag::nChw16c, tag::nChw16c});
  candidates.push_back({algorithm::convolution_direct, blocked_src, tag::nChw16c});
  candidates.push_back({algorithm::convolution_direct, tag::any, tag::any});
  for (const Candidate& c : candidates) {
    const bool last = &c == &candidates.back();  // takes oneDNN's reference kernel if need be
    // bf16: activations and weights in bf16; a layer without a fused ReLU gives scores: fp32.
    const bool in_bf16 = bf16 && c.alg != algorithm::convolution_winograd;
    const type act = in_bf16 ? type::bf16 : type::f32, out = in_bf16 && spec_.relu ? type::bf16 : type::f32;
    try {
      dnnl::convolution_forward::desc fd(kind, c.alg, Desc(src_dims, act, c.src), Desc(weight_dims(), act, tag::any),
                                         bias_desc(), Desc(dst_dims, out, c.dst), strides(), gaps(), padding(),
                                         padding());
      auto pd = dnnl::convolution_forward::primitive_desc(fd, attr, cpu_engine());
      if (!last && !optimised(pd)) continue;
      fwd_pd_ = pd;
      algorithm_used_ = c.alg;
      break;
    } catch (const dnnl::error&) {
      if (last) throw;  // this combination is not implemented here: try the next
    }
  }
  fwd_ = dnnl::convolution_forward(fwd_pd_);
  fwd_weights_version_ = UINT64_MAX;
}

void Convolution::choose_backward(const memory::dims& src_dims, const memory::dims& dst_dims) {
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  const Desc w_any(weight_dims(), f32, tag::any);
  // Gradients exist only where backward runs: inference keeps one copy of the weights.
  if (weight_.grad.empty()) weight_.grad = Tensor(weight_.value.shape());
  if (spec_.bias && bias_.grad.empty()) bias_.grad = Tensor(bias_.value.shape());
  // The forward's algorithm and layouts first, then whatever oneDNN prefers; never its
  // reference kernel when an optimised one exists.
  const Desc src_any = fwd_pd_.src_desc(), dst_any = fwd_pd_.dst_desc();
  const std::pair<algorithm, bool> tries[] = {{algorithm_used_, true}, {algorithm::convolution_direct, true},
                                              {algorithm::convolution_direct, false}};
  bool have_data = false, have_weights = false;
  for (auto [alg, same_layouts] : tries) {
    const Desc s = same_layouts ? src_any : Desc(src_dims, f32, tag::any);
    const Desc d = same_layouts ? dst_any : Desc(dst_dims, f32, tag::any);
    const bool last = alg == algorithm::convolution_direct && !same_layouts;
    try {
      if (!have_data) {
        dnnl::convolution_backward_data::desc bd(alg, s, w_any, d, strides(), gaps(), padding(), padding());
        auto pd = dnnl::convolution_backward_data::primitive_desc(bd, cpu_engine(), fwd_pd_);
        if (last || optimised(pd)) bwd_data_pd_ = pd, have_data = true;
      }
      if (!have_weights) {
        dnnl::convolution_backward_weights::desc wd(alg, s, w_any, bias_desc(), d, strides(), gaps(), padding(),
                                                    padding());
        auto pd = dnnl::convolution_backward_weights::primitive_desc(wd, cpu_engine(), fwd_pd_);
        if (last || optimised(pd)) bwd_weights_pd_ = pd, have_weights = true;
      }
    } catch (const dnnl::error&) {
      if (last) throw;
    }
  }
  bwd_data_ = dnnl::convolution_backward_data(bwd_data_pd_);
  bwd_weights_ = dnnl::convolution_backward_weights(bwd_weights_pd_);
  diff_weights_ = make_memory(bwd_weights_pd_.diff_weights_desc());
  if (spec_.bias) diff_bias_ = make_memory(bwd_weights_pd_.diff_bias_desc());
  bwd_weights_version_ = UINT64_MAX;
}

Desc Convolution::bias_desc() const {
  return spec_.bias ? Desc({spec_.out_channels}, memory::data_type::f32, memory::format_tag::x) : Desc();
}

bool Convolution::weights_lent() const {
  return phase_ == Phase::test && precision_ == Precision::f32 && algorithm_used_ != algorithm::convolution_winograd &&
         fwd_pd_.weights_desc() != plain_desc(weight_.value.shape());
}

const memory& Convolution::weights_in(const Desc& want, memory& cache, uint64_t& cached_version) {
  memory plain(plain_desc(weight_.value.shape()), cpu_engine(), weight_.value.data());
  if (plain.get_desc() == want) {
    cache = plain;
    return cache;
  }
  // fp32 inference reorders the weights into the lent workspace just before use, so the
  // network holds its weights once. Winograd's weight transform is slow (tens of ms a layer),
  // and bf16 weights take half the room: those are kept instead, converted once.
  if (weights_lent() && want == fwd_pd_.weights_desc()) {
    DEEPLAB_CHECK(workspace_, "layer ", name(), ": no workspace set (run it inside a Net)");
    cache = memory(want, cpu_engine(), workspace_ + scratchpad_bytes_);
    reorder(plain, cache);
    return cache;
  }
  if (cached_version != weight_.version || !cache || cache.get_desc() != want) {
    if (!cache || cache.get_desc() != want) cache = make_memory(want);
    reorder(plain, cache);
    cached_version = weight_.version;
  }
  return cache;
}

void Convolution::forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) {
  const memory& src = src_cache_.get(in[0]->data, fwd_pd_.src_desc());
  const memory& w = weights_in(fwd_pd_.weights_desc(), fwd_weights_, fwd_weights_version_);
  const memory& dst = dst_cache_.buffer_for(out[0]->data, fwd_pd_.dst_desc());
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}};
  if (spec_.bias)
    args[DNNL_ARG_BIAS] = memory(bias_desc(), cpu_engine(), bias_.value.data());
  if (phase_ == Phase::test && scratchpad_bytes_ > 0)
    args[DNNL_ARG_SCRATCHPAD] = memory(fwd_pd_.scratchpad_desc(), cpu_engine(), workspace_);
  fwd_.execute(cpu_stream(), args);
  cpu_stream().wait();
  dst_cache_.copy_to(out[0]->data);
}

void Convolution::backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) {
  DEEPLAB_CHECK(phase_ == Phase::train, "backward of ", name(), " in the test phase");
  Blob& y = *out[0];
  if (spec_.relu) {
    // The fused ReLU's gradient: zero where the output was clipped. Done in place on dy, written
    // as a select rather than a conditional store so that it vectorises.
    float* dy = static_cast<float*>(y.diff.get_data_handle());
    const float* yv = static_cast<const float*>(y.data.get_data_handle());
    const int64_t n = static_cast<int64_t>(physical_size(y.desc));
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i)
      dy[i] = yv[i] <= 0.0f ? 0.0f : dy[i];  // a NaN output passes its gradient, as on the GPU
  }
  const bool train_w = weight_.lr_mult != 0.0f || (spec_.bias && bias_.lr_mult != 0.0f);
  if (train_w) {
    const memory& src = bwd_src_cache_.get(in[0]->data, bwd_weights_pd_.src_desc());
    const memory& dy = diff_dst_cache_.get(y.diff, bwd_weights_pd_.diff_dst_desc());
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_DIFF_WEIGHTS, diff_weights_}};
    if (spec_.bias) args[DNNL_ARG_DIFF_BIAS] = diff_bias_;
    bwd_weights_.execute(cpu_stream(), args);
    cpu_stream().wait();
    // Accumulate into the canonical (OIHW) gradients, as Caffe does for iter_size.
    const memory& dw = grad_cache_.get(diff_weights_, plain_desc(weight_.grad.shape()));
    const float* g = static_cast<const float*>(dw.get_data_handle());
    float* acc = weight_.grad.data();
    const int64_t n = weight_.grad.numel();
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i) acc[i] += g[i];
    if (spec_.bias) {
      const float* gb = static_cast<const float*>(diff_bias_.get_data_handle());
      for (int64_t i = 0; i < spec_.out_channels; ++i) bias_.grad.data()[i] += gb[i];
    }
  }
  if (in[0]->needs_diff) {
    const memory& dy = diff_dst_cache_.get(y.diff, bwd_data_pd_.diff_dst_desc());
    const memory& w = weights_in(bwd_data_pd_.weights_desc(), bwd_weights_copy_, bwd_weights_version_);
    const memory& dx = diff_src_cache_.buffer_for(in[0]->diff, bwd_data_pd_.diff_src_desc());
    bwd_data_.execute(cpu_stream(), {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, dx}});
    cpu_stream().wait();
    diff_src_cache_.copy_to(in[0]->diff);
  }
}

}  // namespace deeplab::nn
