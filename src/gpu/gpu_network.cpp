#include "gpu/gpu_network.h"

#include <map>

#include "gpu/op_support.h"
#include "kernels.h"
#include "nn/dropout.h"
#include "nn/pool.h"

namespace deeplab::gpu {

struct GpuNetwork::Layer {
  nn::OpKind kind;
  std::vector<int> in, out;
  std::unique_ptr<CudnnConvolution> convolution;
  nn::ConvSpec conv_spec;
  size_t bias_slot = 0, weight_slot = 0;  // bias_slot + 1 == weight_slot (backward order)
  nn::PoolSpec pool_spec;
  float ratio = 0;
  uint64_t seed = 0;
  Tensor mask;
};

namespace {
int64_t plane_size(const Shape& s) { return s[2] * s[3]; }
}  // namespace

GpuNetwork::GpuNetwork(nn::Net& net, const GpuOptions& options)
    : options_(options), training_(net.phase() == nn::Phase::train) {
  // The graph the CPU runs, splits and gradient marks included: this executor adds none. It
  // only supplies each op kind's CUDA code, and refuses a net it cannot run before it starts.
  net.compile();
  check_supported(net);
  // A blocking stream: ordered with the legacy default stream both ways, so device tensors made
  // or filled there (Tensor::to, zeroed allocations) are safe to hand to forward and backward.
  check(cudaStreamCreate(stream_.receive()), "cudaStreamCreate");
  check(cudnnCreate(cudnn_.receive()), "cudnnCreate");
  check(cudnnSetStream(cudnn_.get(), stream_.get()), "cudnnSetStream");

  // Parameters in backward order, one slice each of the value and gradient arrays.
  std::vector<nn::Param*> params = net.params();
  std::map<const nn::Param*, size_t> slot_of;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    slot_of[*it] = slots_.size();
    slots_.push_back({*it, total_, size_t((*it)->value.numel())});
    total_ += size_t((*it)->value.numel());
  }
  values_.reserve(total_);
  grads_.reserve(total_);
  upload_params();
  zero_grads();

  blobs_.resize(net.blob_count());
  input_blob_ = net.input_blobs().at(0);
  output_blob_ = net.output_blobs().at(0);
  blobs_[size_t(input_blob_)].needs_diff = training_ && net.blob(input_blob_).needs_diff;
  for (const nn::Net::Node& node : net.nodes()) {
    auto layer = std::make_unique<Layer>();
    layer->kind = node.layer->kind();
    layer->in = node.inputs;
    layer->out = node.outputs;
    if (auto* c = nn::layer_as<nn::Convolution>(*node.layer)) {
      layer->conv_spec = c->spec();
      if (layers_.empty()) input_channels_ = c->spec().in_channels;
      layer->convolution = std::make_unique<CudnnConvolution>(cudnn_.get(), c->spec(), options.tf32, options.workspace_limit,
                                                             options.measure_algorithms);
      layer->weight_slot = slot_of.at(&c->weight());
      layer->bias_slot = slot_of.at(&c->bias());
      if (layer->bias_slot + 1 != layer->weight_slot) fail("GPU network: ", c->name(), "'s parameters are not adjacent");
    } else if (const auto* p = nn::layer_as<nn::Pooling>(*node.layer)) {
      layer->pool_spec = p->spec();
    } else if (const auto* d = nn::layer_as<nn::Dropout>(*node.layer)) {
      layer->ratio = d->ratio();
      layer->seed = d->seed();
    } else if (layer->kind == nn::OpKind::split) {
      for (int b : node.outputs) blobs_[b].alias_of = layer->in[0];
    }
    for (int b : node.outputs) blobs_[size_t(b)].needs_diff = training_ && net.blob(b).needs_diff;
    layers_.push_back(std::move(layer));
  }
}

// The layers' cuDNN descriptors go first, then the cuDNN handle, then the stream: members are
// destroyed in the reverse of their order in the class.
GpuNetwork::~GpuNetwork() = default;

void GpuNetwork::upload_params() {
  for (const Slot& s : slots_)
    check(cudaMemcpyAsync(values_.get() + s.offset, s.host->value.data(), s.count * sizeof(float),
                          cudaMemcpyHostToDevice, stream_.get()),
          "cudaMemcpyAsync (parameters to the GPU)");
  synchronize();  // the host arrays may change as soon as this returns
}

void GpuNetwork::download_params() {
  check(cudaStreamSynchronize(stream_.get()), "cudaStreamSynchronize");
  for (const Slot& s : slots_) {
    check(cudaMemcpy(s.host->value.data(), values_.get() + s.offset, s.count * sizeof(float), cudaMemcpyDeviceToHost),
          "cudaMemcpy (parameters to the host)");
    ++s.host->version;
  }
}

void GpuNetwork::zero_grads() {
  check(cudaMemsetAsync(grads_.get(), 0, total_ * sizeof(float), stream_.get()), "cudaMemsetAsync");
}

void GpuNetwork::set_dropout_keys(const std::vector<uint64_t>& keys) { host_keys_ = keys; }

void GpuNetwork::reshape(const Shape& input) {
  check(cudaStreamSynchronize(stream_.get()), "cudaStreamSynchronize");  // old buffers may still be in use
  input_shape_.clear();  // set again once every layer is planned: a failed plan is redone next time
  blobs_[input_blob_].shape = input;
  blobs_[input_blob_].data = Tensor(input, Device::cuda);
  blobs_[input_blob_].diff = blobs_[input_blob_].needs_diff ? Tensor(input, Device::cuda) : Tensor();
  size_t workspace = 0;
  for (auto& layer : layers_) {
    const Shape& x = blobs_[layer->in[0]].shape;
    Shape y;
    switch (layer->kind) {
      case nn::OpKind::convolution:
        y = layer->convolution->plan(x, training_);
        workspace = std::max(workspace, layer->convolution->workspace_bytes());
        break;
      case nn::OpKind::pooling: {
        const nn::PoolSpec& p = layer->pool_spec;
        y = {x[0], x[1], nn::pool_out_size(int(x[2]), p.kernel, p.stride, p.pad),
             nn::pool_out_size(int(x[3]), p.kernel, p.stride, p.pad)};
        break;
      }
      case nn::OpKind::concat: {
        y = x;
        y[1] = 0;
        for (int b : layer->in) {
          const Shape& s = blobs_[b].shape;
          if (s[0] != x[0] || s[2] != x[2] || s[3] != x[3])
            fail("GPU network: concat inputs differ in size: ", shape_str(x), " and ", shape_str(s));
          y[1] += s[1];
        }
        break;
      }
      case nn::OpKind::dropout:
      case nn::OpKind::split:
        y = x;
        break;
    }
    if (layer->kind == nn::OpKind::dropout && training_) layer->mask = Tensor(y, Device::cuda);
    for (int b : layer->out) {
      Blob& blob = blobs_[b];
      blob.shape = y;
      blob.data = blob.alias_of >= 0 ? blobs_[blob.alias_of].data : Tensor(y, Device::cuda);
      blob.diff = blob.needs_diff ? Tensor(y, Device::cuda) : Tensor();
    }
  }
  workspace_.reserve(std::max<size_t>(workspace, 1));
  // New tensors were zeroed on the legacy default stream, which this stream does not wait for.
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  input_shape_ = input;
}

const Tensor& GpuNetwork::forward(const Tensor& image) {
  if (image.ndim() != 4 || (input_channels_ > 0 && image.dim(1) != input_channels_))
    fail("GPU network: expects an N x ", input_channels_ > 0 ? std::to_string(input_channels_) : std::string("C"),
         " x H x W batch, got ", shape_str(image.shape()));
  if (image.shape() != input_shape_) reshape(image.shape());
  Blob& input = blobs_[input_blob_];
  check(cudaMemcpyAsync(input.data.data(), image.data(), image.numel() * sizeof(float), cudaMemcpyDefault, stream_.get()),
        "cudaMemcpyAsync (images to the GPU)");
  const int64_t images = image.dim(0);
  if (training_) {
    const std::vector<uint64_t>& keys = host_keys_;
    if (int64_t(keys.size()) != images)
      fail("GPU network: training needs a dropout key per image (set_dropout_keys): ", keys.size(), " for a batch of ",
           images);
    keys_.reserve(keys.size());
    // Synchronous for pageable memory: the keys are on the device before this returns.
    check(cudaMemcpyAsync(keys_.get(), keys.data(), keys.size() * sizeof(uint64_t), cudaMemcpyHostToDevice, stream_.get()),
          "cudaMemcpyAsync (dropout keys)");
    check(cudaStreamSynchronize(stream_.get()), "cudaStreamSynchronize");
  }
  for (auto& layer : layers_) {
    Blob& x = blobs_[layer->in[0]];
    Blob& y = blobs_[layer->out[0]];
    switch (layer->kind) {
      case nn::OpKind::convolution:
        layer->convolution->forward(x.data.data(), values_.get() + slots_[layer->weight_slot].offset,
                                    values_.get() + slots_[layer->bias_slot].offset, y.data.data(), workspace_.get());
        break;
      case nn::OpKind::pooling: {
        const nn::PoolSpec& p = layer->pool_spec;
        auto run = p.kind == nn::PoolKind::max ? cuda::max_pool_forward : cuda::avg_pool_forward;
        run(x.data.data(), y.data.data(), x.shape[0] * x.shape[1], x.shape[2], x.shape[3], y.shape[2], y.shape[3],
            p.kernel, p.stride, p.pad, stream_.get());
        break;
      }
      case nn::OpKind::dropout:
        if (training_)
          cuda::dropout_forward(x.data.data(), y.data.data(), layer->mask.data(), keys_.get(), x.shape[0],
                                x.data.numel() / x.shape[0], layer->seed, layer->ratio, stream_.get());
        else
          check(cudaMemcpyAsync(y.data.data(), x.data.data(), x.data.numel() * sizeof(float), cudaMemcpyDeviceToDevice,
                                stream_.get()),
                "cudaMemcpyAsync");
        break;
      case nn::OpKind::concat: {
        const size_t out_image = size_t(y.shape[1] * plane_size(y.shape)) * sizeof(float);
        size_t offset = 0;
        for (int b : layer->in) {
          const Blob& part = blobs_[b];
          const size_t part_image = size_t(part.shape[1] * plane_size(part.shape)) * sizeof(float);
          check(cudaMemcpy2DAsync(reinterpret_cast<char*>(y.data.data()) + offset, out_image, part.data.data(),
                                  part_image, part_image, size_t(part.shape[0]), cudaMemcpyDeviceToDevice, stream_.get()),
                "cudaMemcpy2DAsync (concat)");
          offset += part_image;
        }
        break;
      }
      case nn::OpKind::split:
        break;  // the outputs share the input's data
    }
  }
  return blobs_[output_blob_].data;
}

void GpuNetwork::backward(const Tensor& score_grad, const std::function<void(size_t, size_t)>& after_layer) {
  if (!training_) fail("GPU network: backward needs a model built for training");
  Blob& output = blobs_[output_blob_];
  if (score_grad.shape() != output.shape)
    fail("GPU network: score gradient ", shape_str(score_grad.shape()), " for scores ", shape_str(output.shape));
  check(cudaMemcpyAsync(output.diff.data(), score_grad.data(), score_grad.numel() * sizeof(float), cudaMemcpyDefault,
                        stream_.get()),
        "cudaMemcpyAsync (score gradient)");
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    Layer& layer = **it;
    Blob& y = blobs_[layer.out[0]];
    if (!y.needs_diff) {
      // Nothing trainable upstream (nn::Net's marks): no gradient to compute. Its parameters'
      // gradients stay zero, and are still handed on, so that every bucket of the sum completes.
      if (layer.kind == nn::OpKind::convolution && after_layer) after_layer(layer.bias_slot, 2);
      continue;
    }
    Blob& x = blobs_[layer.in[0]];
    float* dx = x.needs_diff ? x.diff.data() : nullptr;
    switch (layer.kind) {
      case nn::OpKind::convolution: {
        if (layer.conv_spec.relu)  // through the fused ReLU, in place: nobody else reads this gradient
          cuda::relu_backward(y.data.data(), y.diff.data(), y.diff.data(), size_t(y.diff.numel()), stream_.get());
        const Slot& w = slots_[layer.weight_slot];
        const Slot& b = slots_[layer.bias_slot];
        layer.convolution->backward(x.data.data(), values_.get() + w.offset, y.diff.data(), grads_.get() + w.offset,
                                    grads_.get() + b.offset, dx, workspace_.get());
        if (after_layer) after_layer(layer.bias_slot, 2);
        break;
      }
      case nn::OpKind::pooling: {
        if (!dx) break;
        const nn::PoolSpec& p = layer.pool_spec;
        const int64_t planes = x.shape[0] * x.shape[1];  // dx is overwritten, every element
        if (p.kind == nn::PoolKind::max)
          cuda::max_pool_backward(x.data.data(), y.diff.data(), dx, planes, x.shape[2], x.shape[3], y.shape[2],
                                  y.shape[3], p.kernel, p.stride, p.pad, stream_.get());
        else
          cuda::avg_pool_backward(y.diff.data(), dx, planes, x.shape[2], x.shape[3], y.shape[2], y.shape[3], p.kernel,
                                  p.stride, p.pad, stream_.get());
        break;
      }
      case nn::OpKind::dropout:
        if (dx) cuda::multiply(y.diff.data(), layer.mask.data(), dx, size_t(x.diff.numel()), stream_.get());
        break;
      case nn::OpKind::concat: {
        const size_t out_image = size_t(y.shape[1] * plane_size(y.shape)) * sizeof(float);
        size_t offset = 0;
        for (int b : layer.in) {
          Blob& part = blobs_[b];
          const size_t part_image = size_t(part.shape[1] * plane_size(part.shape)) * sizeof(float);
          if (part.needs_diff)
            check(cudaMemcpy2DAsync(part.diff.data(), part_image, reinterpret_cast<const char*>(y.diff.data()) + offset,
                                    out_image, part_image, size_t(part.shape[0]), cudaMemcpyDeviceToDevice, stream_.get()),
                  "cudaMemcpy2DAsync (concat gradient)");
          offset += part_image;
        }
        break;
      }
      case nn::OpKind::split: {
        if (!dx) break;
        const size_t n = size_t(x.diff.numel());
        check(cudaMemcpyAsync(dx, y.diff.data(), n * sizeof(float), cudaMemcpyDeviceToDevice, stream_.get()), "cudaMemcpyAsync");
        for (size_t k = 1; k < layer.out.size(); ++k) cuda::axpy(1.0f, blobs_[layer.out[k]].diff.data(), dx, n, stream_.get());
        break;
      }
    }
  }
}

}  // namespace deeplab::gpu
