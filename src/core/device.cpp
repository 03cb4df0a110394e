#include "core/device.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "core/error.h"
#include "core/host_memory.h"

#ifdef DEEPLAB_WITH_CUDA
#include "core/cuda_check.h"
#endif

namespace deeplab {

bool built_with_cuda() {
#ifdef DEEPLAB_WITH_CUDA
  return true;
#else
  return false;
#endif
}

#ifdef DEEPLAB_WITH_CUDA
namespace {
cudaMemcpyKind copy_kind(Device dst, Device src) {
  if (dst == Device::cpu) return src == Device::cpu ? cudaMemcpyHostToHost : cudaMemcpyDeviceToHost;
  return src == Device::cpu ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToDevice;
}
}  // namespace
#endif

int cuda_device_count() {
#ifdef DEEPLAB_WITH_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
#else
  return 0;
#endif
}

std::vector<std::string> cuda_device_descriptions() {
  std::vector<std::string> out;
#ifdef DEEPLAB_WITH_CUDA
  for (int i = 0; i < cuda_device_count(); ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    char line[320];
    std::snprintf(line, sizeof line, "%s, %.1f GiB, compute %d.%d", p.name, double(p.totalGlobalMem) / (1 << 30), p.major,
                  p.minor);
    out.push_back(line);
  }
#endif
  return out;
}

int64_t cuda_device_identity(int index) {
#ifdef DEEPLAB_WITH_CUDA
  cudaDeviceProp p;
  cuda_check(cudaGetDeviceProperties(&p, index), "cudaGetDeviceProperties");
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the 16 bytes of the UUID
  for (unsigned char byte : p.uuid.bytes) h = (h ^ byte) * 1099511628211ull;
  return int64_t(h);
#else
  (void)index;
  fail(cuda_unavailable_reason());
#endif
}

std::string no_gpu_backend_reason() {
  if (!built_with_cuda()) return "--device cuda: " + cuda_unavailable_reason();
  return "--device cuda: the GPU backend is not registered (gpu::register_gpu_backend, first thing in main)";
}

std::string cuda_unavailable_reason() {
#ifdef DEEPLAB_WITH_CUDA
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return std::string("no CUDA device: ") + cudaGetErrorString(e);
  if (n == 0) return "no CUDA device visible";
  return "";
#else
  return "no CUDA device: this build has CUDA switched off (DEEPLAB_CUDA=OFF)";
#endif
}

DeviceChoice parse_device_choice(const std::string& name) {
  if (name == "cpu") return DeviceChoice::cpu;
  if (name == "cuda") return DeviceChoice::cuda;
  if (name == "auto") return DeviceChoice::automatic;
  fail("unknown device '", name, "' (expected cpu, cuda or auto)");
}

std::string DeviceSelection::describe() const {
  return device == Device::cpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

DeviceSelection select_device(DeviceChoice choice, int visible_gpus, int local_rank, const std::string& why_none) {
  if (choice == DeviceChoice::cpu || (choice == DeviceChoice::automatic && visible_gpus <= 0)) return {};
  if (visible_gpus <= 0) fail("--device cuda: ", why_none, " (use --device cpu or auto)");
  if (local_rank < 0) fail("select_device: negative local rank ", local_rank);
  return {Device::cuda, local_rank % visible_gpus};
}

DeviceSelection use_device(DeviceChoice choice, int local_rank) {
  if (choice == DeviceChoice::cpu) return {};  // without touching the CUDA runtime
  const int visible = cuda_device_count();
  DeviceSelection s = select_device(choice, visible, local_rank, visible > 0 ? "" : cuda_unavailable_reason());
#ifdef DEEPLAB_WITH_CUDA
  if (s.device == Device::cuda) cuda_check(cudaSetDevice(s.index), "cudaSetDevice");
#endif
  return s;
}

float* device_alloc(Device device, size_t count) {
  if (device == Device::cpu) return static_cast<float*>(host_alloc(count * sizeof(float)));
#ifdef DEEPLAB_WITH_CUDA
  void* p = nullptr;
  cuda_check(cudaMalloc(&p, count * sizeof(float)), "cudaMalloc");
  return static_cast<float*>(p);
#else
  fail(cuda_unavailable_reason());
#endif
}

void device_free(Device device, float* ptr) {
  if (device == Device::cpu) {
    host_free(ptr);
    return;
  }
#ifdef DEEPLAB_WITH_CUDA
  cudaFree(ptr);
#endif
}

void device_copy(float* dst, Device dst_device, const float* src, Device src_device, size_t count) {
  if (count == 0) return;
  if (dst_device == Device::cpu && src_device == Device::cpu) {
    std::memcpy(dst, src, count * sizeof(float));
    return;
  }
#ifdef DEEPLAB_WITH_CUDA
  cuda_check(cudaMemcpy(dst, src, count * sizeof(float), copy_kind(dst_device, src_device)), "cudaMemcpy");
#else
  fail(cuda_unavailable_reason());
#endif
}

void device_fill(float* dst, Device device, size_t count, float value) {
  if (device == Device::cpu) {
    std::fill(dst, dst + count, value);
    return;
  }
#ifdef DEEPLAB_WITH_CUDA
  if (value == 0.0f) {
    cuda_check(cudaMemset(dst, 0, count * sizeof(float)), "cudaMemset");
    return;
  }
  // Other values are rare (tests): staged through the host, so core needs no kernel of its own.
  const std::vector<float> host(count, value);
  cuda_check(cudaMemcpy(dst, host.data(), count * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
#else
  fail(cuda_unavailable_reason());
#endif
}

}  // namespace deeplab
