#include "nn/net.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/host_memory.h"
#include "nn/split.h"

namespace deeplab::nn {

int Net::add_input(const std::string& name, bool needs_grad) {
  DEEPLAB_CHECK(!compiled_, "net already compiled");
  blobs_.push_back(Blob{name, {}, {}, {}, needs_grad && phase_ == Phase::train});
  inputs_.push_back(int(blobs_.size()) - 1);
  return inputs_.back();
}

std::vector<int> Net::add(std::unique_ptr<Layer> layer, const std::vector<int>& inputs) {
  DEEPLAB_CHECK(!compiled_, "net already compiled");
  for (int b : inputs) DEEPLAB_CHECK(b >= 0 && b < int(blobs_.size()), "bad blob id for ", layer->name());
  Node node{std::move(layer), inputs, {}};
  for (int k = 0; k < node.layer->num_outputs(); ++k) {
    std::string name = node.layer->name();
    if (node.layer->num_outputs() > 1) name += '_' + std::to_string(k);
    blobs_.push_back(Blob{name, {}, {}, {}, false});
    node.outputs.push_back(int(blobs_.size()) - 1);
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().outputs;
}

void Net::mark_output(int blob) { outputs_.push_back(blob); }

void Net::set_precision(Precision precision) {
  if (precision != Precision::f32 && phase_ != Phase::test) fail("net: training computes in fp32 only");
  precision_ = precision;
  for (auto& n : nodes_) n.layer->set_precision(precision);
  input_shapes_.clear();  // set up and planned again at the next forward
  arena_.reset();
}

void Net::compile() {
  if (compiled_) return;
  compiled_ = true;
  if (phase_ == Phase::train) {
    // Give every blob read more than once a Split, so each reader gets its own gradient.
    std::vector<Node> nodes;
    std::vector<int> readers(blobs_.size(), 0);
    for (auto& n : nodes_)
      for (int b : n.inputs) ++readers[b];
    for (int b : outputs_) ++readers[b];
    std::map<int, std::vector<int>> split_outputs;  // blob -> split output blobs not yet handed out
    auto make_split = [&](int b) {
      auto split = std::make_unique<Split>(blobs_[b].name + "_split", readers[b]);
      Node node{std::move(split), {b}, {}};
      for (int k = 0; k < readers[b]; ++k) {
        blobs_.push_back(Blob{blobs_[b].name + "_split_" + std::to_string(k), {}, {}, {}, false});
        node.outputs.push_back(int(blobs_.size()) - 1);
      }
      split_outputs[b] = node.outputs;
      nodes.push_back(std::move(node));
    };
    auto take = [&](int b) {
      auto it = split_outputs.find(b);
      if (it == split_outputs.end()) return b;
      int out = it->second.front();
      it->second.erase(it->second.begin());
      return out;
    };
    for (int b : inputs_)
      if (readers[b] > 1) make_split(b);
    for (auto& n : nodes_) {
      for (int& b : n.inputs) b = take(b);
      nodes.push_back(std::move(n));
      for (int b : nodes.back().outputs)
        if (readers[b] > 1) make_split(b);
    }
    for (int& b : outputs_) b = take(b);
    nodes_ = std::move(nodes);
    // A blob needs a gradient when something trainable, or an input that asked for its
    // gradient, lies upstream of it.
    for (auto& n : nodes_) {
      bool needs = false;
      for (Param* p : n.layer->params()) needs |= p->lr_mult != 0.0f;
      for (int b : n.inputs) needs |= blobs_[b].needs_diff;
      for (int b : n.outputs) blobs_[b].needs_diff = needs;
    }
  }
}

void Net::setup_layers(const std::vector<Shape>& input_shapes) {
  compile();
  if (input_shapes.size() != inputs_.size())
    fail("net: expects ", inputs_.size(), " inputs, got ", input_shapes.size());
  if (input_shapes == input_shapes_) return;
  arena_.reset();  // planned for other shapes
  input_shapes_ = input_shapes;
  for (size_t i = 0; i < inputs_.size(); ++i) blobs_[inputs_[i]].desc = plain_desc(input_shapes[i]);
  for (auto& n : nodes_) {
    std::vector<Desc> in;
    for (int b : n.inputs) in.push_back(blobs_[b].desc);
    std::vector<Desc> out = n.layer->setup(in, phase_);
    DEEPLAB_CHECK(out.size() == n.outputs.size(), n.layer->name());
    for (size_t k = 0; k < out.size(); ++k) blobs_[n.outputs[k]].desc = out[k];
  }
}

size_t Net::plan_bytes(const std::vector<Shape>& input_shapes) {
  DEEPLAB_CHECK(phase_ == Phase::test, "plan_bytes is for the test phase");
  setup_layers(input_shapes);
  return arena_ ? planned_bytes_ : plan_test_memory(false);
}

void Net::reshape(const std::vector<Shape>& input_shapes) {
  const bool same = compiled_ && input_shapes == input_shapes_;
  if (same && (phase_ == Phase::train || arena_)) return;
  setup_layers(input_shapes);
  if (phase_ == Phase::test) {
    plan_test_memory(true);
    return;
  }
  for (int b : inputs_) {
    blobs_[b].data = make_memory(blobs_[b].desc);
    blobs_[b].diff = make_memory(blobs_[b].desc);
  }
  for (auto& n : nodes_)
    for (int b : n.outputs) {
      Blob& blob = blobs_[b];
      blob.data = n.layer->aliases_input() ? blobs_[n.inputs[0]].data : make_memory(blob.desc);
      blob.diff = make_memory(blob.desc);
    }
}

size_t Net::plan_test_memory(bool allocate) {
  // Buffers to place: every blob (ids 0..B-1) and each step's workspace (ids B + step).
  // A blob lives from the step that writes it to the last step that reads it; a workspace
  // lives during its step only. Each buffer goes at the lowest offset of one arena where it
  // does not overlap a live buffer; the arena is as large as the highest end used.
  const int forever = std::numeric_limits<int>::max();
  const size_t nblobs = blobs_.size();
  std::vector<int> last_read(nblobs, -1);
  for (size_t i = 0; i < nodes_.size(); ++i)
    for (int b : nodes_[i].inputs) last_read[b] = int(i);
  for (int b : outputs_) last_read[b] = forever;

  auto round64 = [](size_t b) { return (b + 63) / 64 * 64; };
  std::vector<size_t> offset(nblobs + nodes_.size(), SIZE_MAX), size(offset.size(), 0);
  std::vector<size_t> live;  // ids of placed buffers still in use
  size_t arena = 0;
  auto place = [&](size_t id, size_t bytes) {
    bytes = round64(bytes);
    std::sort(live.begin(), live.end(), [&](size_t a, size_t b) { return offset[a] < offset[b]; });
    size_t at = 0;
    for (size_t other : live) {
      if (offset[other] >= at + bytes) break;  // the gap before this buffer is enough
      at = std::max(at, offset[other] + size[other]);
    }
    offset[id] = at;
    size[id] = bytes;
    live.push_back(id);
    arena = std::max(arena, at + bytes);
  };
  auto release = [&](size_t id) {  // a node may read one blob twice: release it once
    auto it = std::find(live.begin(), live.end(), id);
    if (it != live.end()) live.erase(it);
  };

  for (int b : inputs_) place(b, blobs_[b].desc.get_size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (int b : nodes_[i].outputs) place(b, blobs_[b].desc.get_size());
    const size_t ws = nodes_[i].layer->workspace_bytes();
    if (ws > 0) {
      place(nblobs + i, ws);
      release(nblobs + i);
    }
    for (int b : nodes_[i].inputs)
      if (last_read[b] == int(i)) release(b);
    for (int b : nodes_[i].outputs)
      if (last_read[b] < 0) release(b);  // produced but never read
  }
  if (!allocate) return arena;
  void* p = host_alloc(std::max<size_t>(arena, 64));
  std::memset(p, 0, std::max<size_t>(arena, 64));
  arena_.reset(p, host_free);
  planned_bytes_ = arena;
  char* base = static_cast<char*>(arena_.get());
  for (size_t b = 0; b < nblobs; ++b)
    if (offset[b] != SIZE_MAX) blobs_[b].data = memory(blobs_[b].desc, cpu_engine(), base + offset[b]);
  for (size_t i = 0; i < nodes_.size(); ++i)
    nodes_[i].layer->set_workspace(offset[nblobs + i] != SIZE_MAX ? base + offset[nblobs + i] : nullptr);
  return arena;
}

void Net::forward(const std::vector<Tensor>& inputs) {
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) shapes.push_back(t.shape());
  reshape(shapes);
  for (size_t i = 0; i < inputs.size(); ++i) tensor_to_memory(inputs[i], blobs_[inputs_[i]].data);
  std::vector<Blob*> in, out;
  for (auto& n : nodes_) {
    in.clear();
    out.clear();
    for (int b : n.inputs) in.push_back(&blobs_[b]);
    for (int b : n.outputs) out.push_back(&blobs_[b]);
    n.layer->forward(in, out);
  }
}

void Net::backward(const std::vector<Tensor>& output_diffs, const std::function<void(Layer&)>& after_layer) {
  if (phase_ != Phase::train) fail("net: backward needs a net built for the train phase");
  if (output_diffs.size() != outputs_.size()) fail("net: expects ", outputs_.size(), " output gradients");
  for (size_t i = 0; i < outputs_.size(); ++i) tensor_to_memory(output_diffs[i], blobs_[outputs_[i]].diff);
  std::vector<Blob*> in, out;
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    bool any_need = false;
    for (int b : it->outputs) any_need |= blobs_[b].needs_diff;
    if (!any_need) continue;
    in.clear();
    out.clear();
    for (int b : it->inputs) in.push_back(&blobs_[b]);
    for (int b : it->outputs) out.push_back(&blobs_[b]);
    it->layer->backward(out, in);
    if (after_layer) after_layer(*it->layer);
  }
}

Tensor Net::output(int index) const { return memory_to_tensor(blobs_.at(outputs_.at(index)).data); }

Tensor Net::input_diff(int index) const {
  const Blob& b = blobs_.at(inputs_.at(index));
  if (!b.diff) fail("net: no input gradient (train phase only)");
  return memory_to_tensor(b.diff);
}

std::vector<Param*> Net::params() {
  std::vector<Param*> all;
  for (auto& n : nodes_)
    for (Param* p : n.layer->params()) all.push_back(p);
  return all;
}

Param* Net::find_param(const std::string& name) {
  for (Param* p : params())
    if (p->name == name) return p;
  return nullptr;
}

void Net::zero_grads() {
  for (Param* p : params())
    if (!p->grad.empty()) p->grad.fill(0.0f);
}

double Net::flops() const {
  double total = 0;
  for (auto& n : nodes_) total += n.layer->flops();
  return total;
}

size_t Net::planned_bytes() const { return phase_ == Phase::test ? planned_bytes_ : 0; }

double Net::train_flops() const {
  double total = 0;
  for (auto& n : nodes_) {
    const double f = n.layer->flops();
    bool trainable = false, input_grad = false;
    for (Param* p : n.layer->params()) trainable |= p->lr_mult != 0.0f;
    for (int b : n.inputs) input_grad |= blobs_[b].needs_diff;
    total += f * (1 + trainable + input_grad);
  }
  return total;
}

GridStep Net::output_grid(int output_index) const {
  // Receptive field r and jump j per blob: r_out = r_in + (k - 1) j_in, j_out = j_in s.
  std::vector<GridStep> grid(blobs_.size(), GridStep{1, 1});
  for (auto& n : nodes_) {
    GridStep g = n.layer->grid_step();
    GridStep out{0, 1};
    for (int b : n.inputs) {
      out.kernel = std::max(out.kernel, grid[b].kernel + (g.kernel - 1) * grid[b].stride);
      out.stride = std::max(out.stride, grid[b].stride * g.stride);
    }
    for (int b : n.outputs) grid[b] = out;
  }
  return grid.at(outputs_.at(output_index));
}

}  // namespace deeplab::nn
