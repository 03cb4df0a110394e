// Raw memory on a device. The CUDA side exists only when built with CUDA; otherwise asking
// for it is a clear error, and cuda_device_count() is 0.
#pragma once
#include <cstddef>
#include <string>

#include "core/tensor.h"

namespace deeplab {

bool built_with_cuda();
// Number of CUDA devices this process can see (0 without CUDA or without a driver).
int cuda_device_count();
// Why no CUDA device is usable, for test skips and `deeplab info --devices`.
std::string cuda_unavailable_reason();

float* device_alloc(Device device, size_t count);
void device_free(Device device, float* ptr);
void device_copy(float* dst, Device dst_device, const float* src, Device src_device, size_t count);
void device_fill(float* dst, Device device, size_t count, float value);

}  // namespace deeplab
