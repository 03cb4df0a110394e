// One convolution on the GPU through cuDNN: forward with bias (and the ReLU the CPU layer fuses),
// and both backward passes plus the bias gradient. For each input shape the algorithms are chosen
// once and cached: measured (cudnnFind*, best for training's fixed crop; TF32 only) or taken from
// cuDNN's heuristics (cudnnGet*_v7) without running anything (strict fp32, which must choose the
// same in every run, and segmentation, where every image has its own size). Which results may be used, and in what order, is cudnn_candidates.h's rule (strict
// fp32 and deterministic by default; TF32 tensor cores only when allowed). Each direction keeps
// its candidates: when one does not run for a shape, the next is tried and the choice remembered.
#pragma once
#include <cudnn.h>

#include <map>
#include <vector>

#include "core/tensor.h"
#include "gpu/cudnn_candidates.h"
#include "nn/conv.h"

namespace deeplab::gpu {

struct ConvAlgorithms {
  std::vector<ConvCandidate> forward, backward_data, backward_filter;  // in the order to try
  size_t workspace_bytes = 0;  // the most any kept candidate needs
};

class CudnnConvolution {
 public:
  CudnnConvolution(cudnnHandle_t handle, const nn::ConvSpec& spec, bool tf32, size_t workspace_limit, bool measure);
  ~CudnnConvolution();
  CudnnConvolution(const CudnnConvolution&) = delete;
  CudnnConvolution& operator=(const CudnnConvolution&) = delete;

  // Output shape for this input shape; chooses (or recalls) the algorithms for it.
  Shape plan(const Shape& input, bool training);
  size_t workspace_bytes() const { return algorithms_->workspace_bytes; }

  // y = relu?(conv(x, w) + b)
  void forward(const float* x, const float* w, const float* b, float* y, void* workspace);
  // dy is the gradient of y (already through the ReLU). Adds to dw and db (accumulation over
  // iter_size); overwrites dx when it is not null.
  void backward(const float* x, const float* w, const float* dy, float* dw, float* db, float* dx, void* workspace);

 private:
  void set_shapes(const Shape& input);
  ConvAlgorithms choose(bool training);
  // The candidates whose workspace, asked for the math type they will run with, fits the limit.
  template <typename WorkspaceFn>
  std::vector<ConvCandidate> keep_fitting(std::vector<ConvCandidate> candidates, const char* what,
                                          WorkspaceFn workspace);
  // Runs the first candidate that works; those that do not are dropped for this shape.
  template <typename RunFn>
  void run_first_that_works(std::vector<ConvCandidate>& candidates, const char* what, RunFn run);

  cudnnHandle_t handle_;
  nn::ConvSpec spec_;
  bool tf32_, measure_;
  size_t workspace_limit_;
  cudnnTensorDescriptor_t x_desc_, y_desc_, bias_desc_;
  cudnnFilterDescriptor_t w_desc_;
  cudnnConvolutionDescriptor_t conv_desc_;
  cudnnActivationDescriptor_t relu_desc_;
  std::map<std::pair<Shape, bool>, ConvAlgorithms> cache_;
  ConvAlgorithms* algorithms_ = nullptr;
  Shape input_, output_;
};

}  // namespace deeplab::gpu
