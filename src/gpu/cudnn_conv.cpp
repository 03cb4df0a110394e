#include "gpu/cudnn_conv.h"

#include <vector>

#include "gpu/cuda_check.h"

namespace deeplab::gpu {

namespace {
// The first measured result that succeeded, fits the workspace limit and uses an allowed math
// type (strict fp32 unless TF32 is allowed). Results come sorted fastest first.
template <typename Perf>
const Perf* pick(const std::vector<Perf>& results, int count, size_t limit, bool tf32, const char* what) {
  for (int i = 0; i < count; ++i) {
    const Perf& r = results[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > limit) continue;
    if (!tf32 && (r.mathType == CUDNN_TENSOR_OP_MATH || r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)) continue;
    return &r;
  }
  fail("cuDNN: no ", what, " algorithm fits a workspace of ", limit >> 20, " MB",
       tf32 ? "" : " in strict fp32 (try allowing TF32)");
}
}  // namespace

CudnnConvolution::CudnnConvolution(cudnnHandle_t handle, const nn::ConvSpec& spec, bool tf32, size_t workspace_limit,
                                   bool measure)
    : handle_(handle), spec_(spec), tf32_(tf32), measure_(measure), workspace_limit_(workspace_limit) {
  check(cudnnCreateTensorDescriptor(&x_desc_), "cudnnCreateTensorDescriptor");
  check(cudnnCreateTensorDescriptor(&y_desc_), "cudnnCreateTensorDescriptor");
  check(cudnnCreateTensorDescriptor(&bias_desc_), "cudnnCreateTensorDescriptor");
  check(cudnnCreateFilterDescriptor(&w_desc_), "cudnnCreateFilterDescriptor");
  check(cudnnCreateConvolutionDescriptor(&conv_desc_), "cudnnCreateConvolutionDescriptor");
  check(cudnnCreateActivationDescriptor(&relu_desc_), "cudnnCreateActivationDescriptor");
  check(cudnnSetActivationDescriptor(relu_desc_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0),
        "cudnnSetActivationDescriptor");
  check(cudnnSetFilter4dDescriptor(w_desc_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, spec.out_channels, spec.in_channels,
                                   spec.kernel, spec.kernel),
        "cudnnSetFilter4dDescriptor");
  check(cudnnSetTensor4dDescriptor(bias_desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, spec.out_channels, 1, 1),
        "cudnnSetTensor4dDescriptor");
  // Cross-correlation, as Caffe and oneDNN compute it.
  check(cudnnSetConvolution2dDescriptor(conv_desc_, spec.pad, spec.pad, spec.stride, spec.stride, spec.dilation,
                                        spec.dilation, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
        "cudnnSetConvolution2dDescriptor");
}

CudnnConvolution::~CudnnConvolution() {
  cudnnDestroyTensorDescriptor(x_desc_);
  cudnnDestroyTensorDescriptor(y_desc_);
  cudnnDestroyTensorDescriptor(bias_desc_);
  cudnnDestroyFilterDescriptor(w_desc_);
  cudnnDestroyConvolutionDescriptor(conv_desc_);
  cudnnDestroyActivationDescriptor(relu_desc_);
}

void CudnnConvolution::set_shapes(const Shape& input) {
  if (input.size() != 4 || input[1] != spec_.in_channels)
    fail("cuDNN convolution: input ", shape_str(input), " for ", spec_.in_channels, " channels");
  const int n = int(input[0]), h = int(input[2]), w = int(input[3]);
  check(cudnnSetTensor4dDescriptor(x_desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, spec_.in_channels, h, w),
        "cudnnSetTensor4dDescriptor");
  const int oh = nn::conv_out_size(h, spec_.kernel, spec_.stride, spec_.pad, spec_.dilation);
  const int ow = nn::conv_out_size(w, spec_.kernel, spec_.stride, spec_.pad, spec_.dilation);
  if (oh < 1 || ow < 1) fail("cuDNN convolution: input ", shape_str(input), " is smaller than the kernel's extent");
  check(cudnnSetTensor4dDescriptor(y_desc_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, spec_.out_channels, oh, ow),
        "cudnnSetTensor4dDescriptor");
  input_ = input;
  output_ = {n, spec_.out_channels, oh, ow};
}

ConvAlgorithms CudnnConvolution::choose(bool training) {
  // Let cuDNN try every math type; pick() keeps the allowed ones.
  check(cudnnSetConvolutionMathType(conv_desc_, tf32_ ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");
  constexpr int kMax = 16;
  ConvAlgorithms a{};
  int found = 0;
  std::vector<cudnnConvolutionFwdAlgoPerf_t> fwd(kMax);
  if (measure_)
    check(cudnnFindConvolutionForwardAlgorithm(handle_, x_desc_, w_desc_, conv_desc_, y_desc_, kMax, &found, fwd.data()),
          "cudnnFindConvolutionForwardAlgorithm");
  else
    check(cudnnGetConvolutionForwardAlgorithm_v7(handle_, x_desc_, w_desc_, conv_desc_, y_desc_, kMax, &found, fwd.data()),
          "cudnnGetConvolutionForwardAlgorithm_v7");
  const auto* f = pick(fwd, found, workspace_limit_, tf32_, "forward");
  // Strict fp32 runs every algorithm with FMA math, whatever type cuDNN reported it under.
  const auto math = [&](cudnnMathType_t reported) { return tf32_ ? reported : CUDNN_FMA_MATH; };
  a.forward = f->algo, a.forward_math = math(f->mathType), a.workspace_bytes = f->memory;
  if (training) {
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> data(kMax);
    if (measure_)
      check(cudnnFindConvolutionBackwardDataAlgorithm(handle_, w_desc_, y_desc_, conv_desc_, x_desc_, kMax, &found,
                                                      data.data()),
            "cudnnFindConvolutionBackwardDataAlgorithm");
    else
      check(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle_, w_desc_, y_desc_, conv_desc_, x_desc_, kMax, &found,
                                                        data.data()),
            "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    const auto* d = pick(data, found, workspace_limit_, tf32_, "backward-data");
    a.backward_data = d->algo, a.backward_data_math = math(d->mathType);
    a.workspace_bytes = std::max(a.workspace_bytes, d->memory);
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> filter(kMax);
    if (measure_)
      check(cudnnFindConvolutionBackwardFilterAlgorithm(handle_, x_desc_, y_desc_, conv_desc_, w_desc_, kMax, &found,
                                                        filter.data()),
            "cudnnFindConvolutionBackwardFilterAlgorithm");
    else
      check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle_, x_desc_, y_desc_, conv_desc_, w_desc_, kMax, &found,
                                                          filter.data()),
            "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    const auto* g = pick(filter, found, workspace_limit_, tf32_, "backward-filter");
    a.backward_filter = g->algo, a.backward_filter_math = math(g->mathType);
    a.workspace_bytes = std::max(a.workspace_bytes, g->memory);
  }
  return a;
}

Shape CudnnConvolution::plan(const Shape& input, bool training) {
  set_shapes(input);
  auto key = std::make_pair(input, training);
  auto it = cache_.find(key);
  if (it == cache_.end()) it = cache_.emplace(key, choose(training)).first;
  algorithms_ = &it->second;
  return output_;
}

void CudnnConvolution::forward(const float* x, const float* w, const float* b, float* y, void* workspace) {
  const float one = 1.0f, zero = 0.0f;
  check(cudnnSetConvolutionMathType(conv_desc_, algorithms_->forward_math), "cudnnSetConvolutionMathType");
  check(cudnnConvolutionForward(handle_, &one, x_desc_, x, w_desc_, w, conv_desc_, algorithms_->forward, workspace,
                                algorithms_->workspace_bytes, &zero, y_desc_, y),
        "cudnnConvolutionForward");
  if (spec_.bias) check(cudnnAddTensor(handle_, &one, bias_desc_, b, &one, y_desc_, y), "cudnnAddTensor");
  if (spec_.relu)
    check(cudnnActivationForward(handle_, relu_desc_, &one, y_desc_, y, &zero, y_desc_, y), "cudnnActivationForward");
}

void CudnnConvolution::backward(const float* x, const float* w, const float* dy, float* dw, float* db, float* dx,
                                void* workspace) {
  const float one = 1.0f, zero = 0.0f;
  if (spec_.bias)
    check(cudnnConvolutionBackwardBias(handle_, &one, y_desc_, dy, &one, bias_desc_, db), "cudnnConvolutionBackwardBias");
  check(cudnnSetConvolutionMathType(conv_desc_, algorithms_->backward_filter_math), "cudnnSetConvolutionMathType");
  check(cudnnConvolutionBackwardFilter(handle_, &one, x_desc_, x, y_desc_, dy, conv_desc_, algorithms_->backward_filter,
                                       workspace, algorithms_->workspace_bytes, &one, w_desc_, dw),
        "cudnnConvolutionBackwardFilter");
  if (!dx) return;
  check(cudnnSetConvolutionMathType(conv_desc_, algorithms_->backward_data_math), "cudnnSetConvolutionMathType");
  check(cudnnConvolutionBackwardData(handle_, &one, w_desc_, w, y_desc_, dy, conv_desc_, algorithms_->backward_data,
                                     workspace, algorithms_->workspace_bytes, &zero, x_desc_, dx),
        "cudnnConvolutionBackwardData");
}

}  // namespace deeplab::gpu
