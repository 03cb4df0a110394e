// Raw memory on a device. The CUDA side exists only when built with CUDA; otherwise asking
// for it is a clear error, and cuda_device_count() is 0.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace deeplab {

bool built_with_cuda();
// Number of CUDA devices this process can see (0 without CUDA or without a driver).
int cuda_device_count();
// "NVIDIA H100 80GB HBM3, 79.1 GiB, compute 9.0" per visible device.
std::vector<std::string> cuda_device_descriptions();
// A number that names CUDA device `index` across processes and nodes (a hash of its UUID), so
// that ranks can tell whether two of them drive the same GPU whatever each one sees as its
// device 0. Without CUDA: an error.
int64_t cuda_device_identity(int index);
// Why a GPU was asked for and cannot be had from the GPU backend: a build without CUDA says so;
// a CUDA build whose program did not register the backend (gpu/backend.h) names that bug.
std::string no_gpu_backend_reason();
// Why no CUDA device is usable, for test skips and `deeplab info --devices`.
std::string cuda_unavailable_reason();

// What the user asked for with --device: cpu, cuda, or auto (a GPU when one is visible).
enum class DeviceChoice { cpu, cuda, automatic };
DeviceChoice parse_device_choice(const std::string& name);  // "cpu", "cuda", "auto"

struct DeviceSelection {
  Device device = Device::cpu;
  int index = -1;  // the CUDA device, or -1 on the CPU
  std::string describe() const;  // "cpu" or "cuda:1"
};
// Rank r of a node uses GPU r mod (GPUs visible), so ranks spread over a node's GPUs and, with
// more ranks than GPUs, share them. Asking for cuda with none visible is an error saying why.
DeviceSelection select_device(DeviceChoice choice, int visible_gpus, int local_rank,
                              const std::string& why_none = "no CUDA device visible");
// select_device on this process's GPUs, then makes the chosen one current (cudaSetDevice).
DeviceSelection use_device(DeviceChoice choice, int local_rank);

float* device_alloc(Device device, size_t count);
void device_free(Device device, float* ptr);
void device_copy(float* dst, Device dst_device, const float* src, Device src_device, size_t count);
void device_fill(float* dst, Device device, size_t count, float value);

}  // namespace deeplab
