// A model's network on one GPU. It runs the graph nn::Net compiles (models/deeplab.h builds it
// and owns the parameters' canonical copy), dispatching on each layer's op kind: cuDNN
// convolutions, kernels/ for pooling, dropout, concat and the rest. What it can run is the
// table of gpu/op_support.h, checked before any device work. Activations, parameters and gradients stay on the device for a
// whole step; parameters cross to the host only when asked (checkpoints, the end of training).
// Every operation runs on the network's stream.
#pragma once
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <functional>
#include <memory>
#include <vector>

#include "gpu/cuda_check.h"
#include "gpu/cudnn_conv.h"
#include "models/deeplab.h"
#include "models/scorer.h"

namespace deeplab::gpu {

struct GpuOptions {
  bool tf32 = false;                          // allow TF32 tensor cores in convolutions
  size_t workspace_limit = size_t(1) << 30;   // cuDNN workspace per convolution, bytes
  // Time cuDNN's candidate algorithms per input shape (cudnnFind); false: its heuristics, for
  // inputs whose size changes from image to image.
  bool measure_algorithms = true;
};

class GpuNetwork : public DeviceNetwork {
 public:
  // The model's phase decides whether backward is possible. Uploads the parameters.
  GpuNetwork(Model& model, const GpuOptions& options) : GpuNetwork(model.net(), options) {}
  // Any net of one input and one output whose layers have CUDA versions (the operator table
  // runs single layers this way); the net keeps the parameters' canonical copy.
  GpuNetwork(nn::Net& net, const GpuOptions& options);
  ~GpuNetwork();
  GpuNetwork(const GpuNetwork&) = delete;
  GpuNetwork& operator=(const GpuNetwork&) = delete;

  // Mean-subtracted BGR batch (N x 3 x H x W, on the host or the device) -> class scores, on the
  // device (N x classes x h x w), valid until the next forward.
  const Tensor& forward(const Tensor& image_bgr) override;
  // The gradient of the scores (device) -> parameter gradients, added to what is there.
  // after_layer(first, count): the gradients of params [first, first + count) (backward order,
  // see grads()) are final, so their all-reduce can start.
  void backward(const Tensor& score_grad, const std::function<void(size_t first, size_t count)>& after_layer = {});
  void zero_grads();
  // The gradient of the input (device), when the net's input asked for one (add_input(.., true)).
  const Tensor& input_diff() const { return blobs_[size_t(input_blob_)].diff; }
  // One key per image of the next batches (training needs them): dropout masks as on the CPU.
  void set_dropout_keys(const std::vector<uint64_t>& keys);

  // Parameters in backward order (the reverse of the model's), each a slice of one contiguous
  // device array of values and one of gradients, so all-reduce buckets are plain ranges.
  struct Slot {
    nn::Param* host;
    size_t offset, count;
  };
  const std::vector<Slot>& slots() const { return slots_; }
  float* values() { return values_.get(); }
  float* grads() { return grads_.get(); }
  size_t param_floats() const { return total_; }
  void upload_params();    // host model -> device
  void download_params();  // device -> host model (bumps each Param's version)

  cudaStream_t stream() const { return stream_.get(); }
  void synchronize() const override { check(cudaStreamSynchronize(stream_.get()), "cudaStreamSynchronize"); }
  cudnnHandle_t cudnn() const { return cudnn_.get(); }

 private:
  struct Layer;
  void reshape(const Shape& input);

  GpuOptions options_;
  bool training_;
  CudaStream stream_;
  CudnnHandle cudnn_;
  std::vector<std::unique_ptr<Layer>> layers_;
  struct Blob {
    Shape shape;
    Tensor data, diff;
    bool needs_diff = false;
    int alias_of = -1;  // a Split output shares its input's data
  };
  std::vector<Blob> blobs_;
  int input_blob_ = 0, output_blob_ = 0;
  int input_channels_ = 0;  // of the first layer when it is a convolution (3 for a model); 0: any
  Shape input_shape_;
  std::vector<Slot> slots_;
  DeviceArray<float> values_, grads_;
  size_t total_ = 0;
  DeviceArray<char> workspace_;
  DeviceArray<uint64_t> keys_;
  std::vector<uint64_t> host_keys_;
};

}  // namespace deeplab::gpu
