// Caffe's split, in oneDNN terms: a Blob is an activation (data and its gradient, in one
// layout chosen by the layer that produces it); a Param is a learnable array in its canonical
// layout (OIHW, O); a Layer maps input blobs to output blobs, forward and backward.
#pragma once
#include <cassert>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/dnnl_util.h"
#include "nn/precision.h"

namespace deeplab::nn {

enum class Phase { train, test };

struct Blob {
  std::string name;
  Desc desc;      // logical NCHW dims; physical layout may be blocked (nChw16c ...)
  memory data;
  memory diff;    // same layout as data; only in the train phase
  bool needs_diff = false;
};

struct Param {
  std::string name;  // Caffe-style: "conv1_1/weight", "fc8/bias"
  Tensor value;
  Tensor grad;       // accumulated by backward; the solver clears it
  float lr_mult = 1.0f;
  float decay_mult = 1.0f;
  uint64_t version = 0;  // bump after changing value, so layers refresh cached copies
};

// How a layer moves the sampling grid, for receptive field and output stride.
struct GridStep {
  int kernel = 1;  // effective extent, dilation included
  int stride = 1;
};

// What a layer computes. Code outside the CPU layers (the GPU executor, the Caffe writer)
// dispatches on this rather than on C++ types, and a backend states which kinds it runs.
enum class OpKind { convolution, pooling, dropout, concat, split };
const char* op_kind_name(OpKind kind);

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return name_; }
  virtual OpKind kind() const = 0;
  // The kind with its variant, for messages and listings ("Convolution+ReLU", "MaxPool").
  virtual const char* type() const = 0;
  virtual int num_outputs() const { return 1; }

  // Choose output layouts and build primitives for these input layouts. Called again
  // whenever the input shape changes.
  virtual std::vector<Desc> setup(const std::vector<Desc>& inputs, Phase phase) = 0;
  virtual void forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) = 0;
  // Reads out[i]->diff; overwrites in[i]->diff where in[i]->needs_diff; adds to param grads.
  virtual void backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) = 0;

  virtual std::vector<Param*> params() { return {}; }
  // Test phase: the arithmetic to compute in, before setup. Layers that compute (convolutions)
  // take it; the others pass on the data type their input has (oneDNN pooling, concat), or
  // compute in fp32 and refuse another type in setup.
  virtual void set_precision(Precision) {}
  // The outputs share the input's data (no buffer of their own).
  virtual bool aliases_input() const { return false; }
  // Test phase: bytes of temporary memory forward needs (oneDNN scratchpad, reordered
  // weights). The net places it in activation memory that is free during this layer's step and
  // hands it over with set_workspace() before forward.
  virtual size_t workspace_bytes() const { return 0; }
  virtual void set_workspace(void* /*buffer*/) {}
  // Multiply-adds x 2 of the last setup, for GFLOP figures.
  virtual double flops() const { return 0; }
  virtual GridStep grid_step() const { return {}; }

 private:
  std::string name_;
};

// The layer as its concrete class when it is of that class's kind (L::kKind), else nullptr.
// One class per kind: the assert guards that in debug builds.
template <class L>
L* layer_as(Layer& layer) {
  if (layer.kind() != L::kKind) return nullptr;
  assert(dynamic_cast<L*>(&layer) != nullptr);
  return static_cast<L*>(&layer);
}
template <class L>
const L* layer_as(const Layer& layer) {
  return layer_as<L>(const_cast<Layer&>(layer));
}

}  // namespace deeplab::nn
