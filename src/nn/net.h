// A directed acyclic graph of layers run in the order they were added. The net carries
// activations between layers in the layouts the layers chose (blocked, for oneDNN), and turns
// them into plain NCHW tensors only at its inputs and outputs.
//
// In the test phase, activation buffers are planned once per input shape and reused as soon as
// their last reader has run, so peak memory is a few layers' worth, not the whole network's.
// In the train phase every activation is kept for backward, and a blob read by several layers
// gets a Split so their gradients add up.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/layer.h"

namespace deeplab::nn {

class Net {
 public:
  explicit Net(Phase phase) : phase_(phase) {}
  Phase phase() const { return phase_; }

  // needs_grad: backward also computes the gradient of this input (tests, attribution).
  int add_input(const std::string& name, bool needs_grad = false);
  // Adds a layer reading the given blobs; returns its output blobs (named after the layer).
  std::vector<int> add(std::unique_ptr<Layer> layer, const std::vector<int>& inputs);
  int add1(std::unique_ptr<Layer> layer, const std::vector<int>& inputs) { return add(std::move(layer), inputs)[0]; }
  void mark_output(int blob);
  // Test phase: compute in bf16 where the layers can (nn/precision.h); outputs stay fp32 tensors.
  void set_precision(Precision precision);
  Precision precision() const { return precision_; }

  // Runs the net on NCHW inputs (one per add_input, in order). Re-plans when a shape changes.
  void forward(const std::vector<Tensor>& inputs);
  // Output gradients (NCHW, one per marked output) flow back to param grads and input diffs.
  // after_layer runs once each layer is done: its parameter gradients are then final, which is
  // when data-parallel training can start summing them across ranks.
  void backward(const std::vector<Tensor>& output_diffs, const std::function<void(Layer&)>& after_layer = {});

  Tensor output(int index = 0) const;
  Tensor input_diff(int index = 0) const;

  std::vector<Param*> params();
  Param* find_param(const std::string& name);
  void zero_grads();

  // Available after the first forward (or reshape).
  void reshape(const std::vector<Shape>& input_shapes);
  double flops() const;
  // Bytes the test phase's planned activation and workspace buffers take (0 in the train phase).
  size_t planned_bytes() const;
  // What planned_bytes would be for these input shapes (test phase), found without allocating
  // the buffers: a job can refuse an input too large for its memory before it tries. The next
  // forward at these shapes allocates them.
  size_t plan_bytes(const std::vector<Shape>& input_shapes);
  // Forward, plus the weight and input gradients that backward computes (train phase).
  double train_flops() const;
  Shape blob_shape(int blob) const { return desc_shape(blobs_.at(blob).desc); }
  // Receptive field (pixels) and stride of an output blob relative to the input.
  GridStep output_grid(int output_index = 0) const;

  // The graph as it runs: in the train phase, a Split for every blob read more than once (net
  // outputs count as readers) and needs_diff on every blob downstream of something trainable.
  // Forward calls it; a backend that runs the same graph (gpu::GpuNetwork) calls it first.
  void compile();

  struct Node {
    std::unique_ptr<Layer> layer;
    std::vector<int> inputs, outputs;
  };
  const std::vector<Node>& nodes() const { return nodes_; }
  const Blob& blob(int id) const { return blobs_.at(id); }
  const std::vector<int>& input_blobs() const { return inputs_; }
  const std::vector<int>& output_blobs() const { return outputs_; }
  size_t blob_count() const { return blobs_.size(); }

 private:
  void setup_layers(const std::vector<Shape>& input_shapes);
  // Places every buffer in one arena; returns its size, and allocates it when asked.
  size_t plan_test_memory(bool allocate);

  Phase phase_;
  Precision precision_ = Precision::f32;
  bool compiled_ = false;
  std::vector<Blob> blobs_;
  std::vector<Node> nodes_;
  std::vector<int> inputs_, outputs_;
  std::vector<Shape> input_shapes_;
  std::shared_ptr<void> arena_;  // test phase: every activation and workspace, planned
  size_t planned_bytes_ = 0;
};

}  // namespace deeplab::nn
