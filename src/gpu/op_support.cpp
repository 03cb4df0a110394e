#include "gpu/op_support.h"

#include "core/error.h"
#include "nn/conv.h"

namespace deeplab::gpu {

bool has_cuda_code(nn::OpKind kind) {
  // No default: a new kind is a compiler warning here, as in gpu_network.cpp's switches.
  switch (kind) {
    case nn::OpKind::convolution:
    case nn::OpKind::pooling:
    case nn::OpKind::dropout:
    case nn::OpKind::concat:
    case nn::OpKind::split:
      return true;
  }
  return false;
}

std::string unsupported_reason(const nn::Layer& layer) {
  if (!has_cuda_code(layer.kind())) return std::string("no CUDA version of ") + nn::op_kind_name(layer.kind());
  if (const auto* conv = nn::layer_as<nn::Convolution>(layer); conv && !conv->spec().bias)
    return "a convolution without a bias (the cuDNN path adds one)";
  return "";
}

std::vector<std::string> unsupported_parts(const nn::Net& net) {
  std::vector<std::string> parts;
  if (net.input_blobs().size() != 1 || net.output_blobs().size() != 1)
    parts.push_back("the net has " + std::to_string(net.input_blobs().size()) + " inputs and " +
                    std::to_string(net.output_blobs().size()) + " outputs; the GPU runs one input to one output");
  for (const nn::Net::Node& node : net.nodes()) {
    const std::string reason = unsupported_reason(*node.layer);
    if (!reason.empty()) parts.push_back("layer " + node.layer->name() + " (" + node.layer->type() + "): " + reason);
  }
  return parts;
}

void check_supported(const nn::Net& net) {
  const std::vector<std::string> parts = unsupported_parts(net);
  if (parts.empty()) return;
  std::string list;
  for (const std::string& part : parts) list += "\n  " + part;
  fail("GPU network: cannot run this net on the GPU:", list);
}

}  // namespace deeplab::gpu
