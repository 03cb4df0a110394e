#include "gpu/cudnn_conv.h"

#include <vector>

#include "gpu/cuda_check.h"

namespace deeplab::gpu {

namespace {
constexpr int kMaxResults = 16;    // cuDNN has fewer algorithms per direction than this
constexpr size_t kMaxCandidates = 4;  // kept per direction as fallbacks
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

template <typename WorkspaceFn>
std::vector<ConvCandidate> CudnnConvolution::keep_fitting(std::vector<ConvCandidate> candidates, const char* what,
                                                          WorkspaceFn workspace) {
  std::vector<ConvCandidate> kept;
  for (ConvCandidate c : candidates) {
    check(cudnnSetConvolutionMathType(conv_desc_, c.math), "cudnnSetConvolutionMathType");
    size_t bytes = 0;
    if (workspace(c, &bytes) != CUDNN_STATUS_SUCCESS || bytes > workspace_limit_) continue;
    c.workspace = bytes;
    kept.push_back(c);
    if (kept.size() == kMaxCandidates) break;
  }
  if (kept.empty())
    fail("cuDNN: no ", what, " algorithm for input ", shape_str(input_), " fits a workspace of ", workspace_limit_ >> 20,
         " MB", tf32_ ? "" : " in deterministic strict fp32 (try allowing TF32)");
  return kept;
}

ConvAlgorithms CudnnConvolution::choose(bool training) {
  // Strict fp32 takes cuDNN's heuristics even where measuring was asked for: timings vary from
  // run to run, so measured choices would too, and with them the bits of a training run and
  // whether a resumed run equals a straight one. TF32 promises no such thing and measures.
  const bool measure = measure_ && tf32_;
  // Under TENSOR_OP cuDNN offers tensor-core and FMA algorithms alike (DEFAULT offered FMA-type
  // ones only on an H200); under FMA (strict), FMA ones only.
  const cudnnMathType_t asked = tf32_ ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  check(cudnnSetConvolutionMathType(conv_desc_, asked), "cudnnSetConvolutionMathType");
  int found = 0;
  ConvAlgorithms a;
  std::vector<cudnnConvolutionFwdAlgoPerf_t> fwd(kMaxResults);
  if (measure)
    check(cudnnFindConvolutionForwardAlgorithm(handle_, x_desc_, w_desc_, conv_desc_, y_desc_, kMaxResults, &found,
                                               fwd.data()),
          "cudnnFindConvolutionForwardAlgorithm");
  else
    check(cudnnGetConvolutionForwardAlgorithm_v7(handle_, x_desc_, w_desc_, conv_desc_, y_desc_, kMaxResults, &found,
                                                 fwd.data()),
          "cudnnGetConvolutionForwardAlgorithm_v7");
  a.forward = keep_fitting(conv_candidates(fwd.data(), found, workspace_limit_, tf32_), "forward",
                           [&](const ConvCandidate& c, size_t* bytes) {
                             return cudnnGetConvolutionForwardWorkspaceSize(handle_, x_desc_, w_desc_, conv_desc_, y_desc_,
                                                                            cudnnConvolutionFwdAlgo_t(c.algo), bytes);
                           });
  if (training) {
    check(cudnnSetConvolutionMathType(conv_desc_, asked), "cudnnSetConvolutionMathType");
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> data(kMaxResults);
    if (measure)
      check(cudnnFindConvolutionBackwardDataAlgorithm(handle_, w_desc_, y_desc_, conv_desc_, x_desc_, kMaxResults, &found,
                                                      data.data()),
            "cudnnFindConvolutionBackwardDataAlgorithm");
    else
      check(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle_, w_desc_, y_desc_, conv_desc_, x_desc_, kMaxResults,
                                                        &found, data.data()),
            "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    a.backward_data = keep_fitting(conv_candidates(data.data(), found, workspace_limit_, tf32_), "backward-data",
                                   [&](const ConvCandidate& c, size_t* bytes) {
                                     return cudnnGetConvolutionBackwardDataWorkspaceSize(
                                         handle_, w_desc_, y_desc_, conv_desc_, x_desc_,
                                         cudnnConvolutionBwdDataAlgo_t(c.algo), bytes);
                                   });
    check(cudnnSetConvolutionMathType(conv_desc_, asked), "cudnnSetConvolutionMathType");
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> filter(kMaxResults);
    if (measure)
      check(cudnnFindConvolutionBackwardFilterAlgorithm(handle_, x_desc_, y_desc_, conv_desc_, w_desc_, kMaxResults,
                                                        &found, filter.data()),
            "cudnnFindConvolutionBackwardFilterAlgorithm");
    else
      check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle_, x_desc_, y_desc_, conv_desc_, w_desc_, kMaxResults,
                                                          &found, filter.data()),
            "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    a.backward_filter = keep_fitting(conv_candidates(filter.data(), found, workspace_limit_, tf32_), "backward-filter",
                                     [&](const ConvCandidate& c, size_t* bytes) {
                                       return cudnnGetConvolutionBackwardFilterWorkspaceSize(
                                           handle_, x_desc_, y_desc_, conv_desc_, w_desc_,
                                           cudnnConvolutionBwdFilterAlgo_t(c.algo), bytes);
                                     });
  }
  for (const auto* list : {&a.forward, &a.backward_data, &a.backward_filter})
    for (const ConvCandidate& c : *list) a.workspace_bytes = std::max(a.workspace_bytes, c.workspace);
  return a;
}

template <typename RunFn>
void CudnnConvolution::run_first_that_works(std::vector<ConvCandidate>& candidates, const char* what, RunFn run) {
  while (!candidates.empty()) {
    check(cudnnSetConvolutionMathType(conv_desc_, candidates.front().math), "cudnnSetConvolutionMathType");
    const cudnnStatus_t s = run(candidates.front());
    if (s == CUDNN_STATUS_SUCCESS) return;
    if (!try_next_candidate(s)) check(s, what);
    candidates.erase(candidates.begin());  // never tried again for this shape
  }
  fail("cuDNN ", what, ": none of the chosen algorithms runs for input ", shape_str(input_));
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
  const size_t bytes = algorithms_->workspace_bytes;
  run_first_that_works(algorithms_->forward, "cudnnConvolutionForward", [&](const ConvCandidate& c) {
    return cudnnConvolutionForward(handle_, &one, x_desc_, x, w_desc_, w, conv_desc_, cudnnConvolutionFwdAlgo_t(c.algo),
                                   workspace, bytes, &zero, y_desc_, y);
  });
  if (spec_.bias) check(cudnnAddTensor(handle_, &one, bias_desc_, b, &one, y_desc_, y), "cudnnAddTensor");
  if (spec_.relu)
    check(cudnnActivationForward(handle_, relu_desc_, &one, y_desc_, y, &zero, y_desc_, y), "cudnnActivationForward");
}

void CudnnConvolution::backward(const float* x, const float* w, const float* dy, float* dw, float* db, float* dx,
                                void* workspace) {
  const float one = 1.0f, zero = 0.0f;
  const size_t bytes = algorithms_->workspace_bytes;
  if (spec_.bias)
    check(cudnnConvolutionBackwardBias(handle_, &one, y_desc_, dy, &one, bias_desc_, db), "cudnnConvolutionBackwardBias");
  run_first_that_works(algorithms_->backward_filter, "cudnnConvolutionBackwardFilter", [&](const ConvCandidate& c) {
    return cudnnConvolutionBackwardFilter(handle_, &one, x_desc_, x, y_desc_, dy, conv_desc_,
                                          cudnnConvolutionBwdFilterAlgo_t(c.algo), workspace, bytes, &one, w_desc_, dw);
  });
  if (!dx) return;
  run_first_that_works(algorithms_->backward_data, "cudnnConvolutionBackwardData", [&](const ConvCandidate& c) {
    return cudnnConvolutionBackwardData(handle_, &one, w_desc_, w, y_desc_, dy, conv_desc_,
                                        cudnnConvolutionBwdDataAlgo_t(c.algo), workspace, bytes, &zero, x_desc_, dx);
  });
}

}  // namespace deeplab::gpu
