// One convolution on the GPU through cuDNN: forward with bias (and the ReLU the CPU layer fuses),
// and both backward passes plus the bias gradient. For each input shape the algorithms are chosen
// once and cached: measured (cudnnFind*, best for training's fixed crop) or, where every image
// has its own size (segmentation), taken from cuDNN's heuristics (cudnnGet*_v7) without running
// anything. Only algorithms whose workspace fits the limit are taken. Strict fp32 by default
// (CUDNN_FMA_MATH); TF32 tensor cores only when allowed.
#pragma once
#include <cudnn.h>

#include <map>

#include "core/tensor.h"
#include "nn/conv.h"

namespace deeplab::gpu {

struct ConvAlgorithms {
  cudnnConvolutionFwdAlgo_t forward;
  cudnnConvolutionBwdDataAlgo_t backward_data;
  cudnnConvolutionBwdFilterAlgo_t backward_filter;
  cudnnMathType_t forward_math, backward_data_math, backward_filter_math;
  size_t workspace_bytes;  // the most any of the three needs
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

  cudnnHandle_t handle_;
  nn::ConvSpec spec_;
  bool tf32_, measure_;
  size_t workspace_limit_;
  cudnnTensorDescriptor_t x_desc_, y_desc_, bias_desc_;
  cudnnFilterDescriptor_t w_desc_;
  cudnnConvolutionDescriptor_t conv_desc_;
  cudnnActivationDescriptor_t relu_desc_;
  std::map<std::pair<Shape, bool>, ConvAlgorithms> cache_;
  const ConvAlgorithms* algorithms_ = nullptr;
  Shape input_, output_;
};

}  // namespace deeplab::gpu
