// The CUDA executor's operator table: which op kinds it runs, and on what conditions. Plain C++
// (no CUDA), so that a net can be checked where it is built, before anything reaches a device,
// and so that the check itself is tested on machines without a GPU.
#pragma once
#include <string>
#include <vector>

#include "nn/net.h"

namespace deeplab::gpu {

// Whether the executor has CUDA forward and backward code for this op kind (gpu_network.cpp).
bool has_cuda_code(nn::OpKind kind);

// Why the executor cannot run this layer ("" when it can).
std::string unsupported_reason(const nn::Layer& layer);

// Every reason the executor cannot run this net: each layer it cannot run, by name, and a graph
// that is not one input to one output. Empty when it can.
std::vector<std::string> unsupported_parts(const nn::Net& net);

// Throws an Error listing unsupported_parts(net), if there are any.
void check_supported(const nn::Net& net);

}  // namespace deeplab::gpu
