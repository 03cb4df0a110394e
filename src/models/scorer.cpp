#include "models/scorer.h"

#include "core/error.h"
#ifdef DEEPLAB_WITH_CUDA
#include "gpu/gpu_network.h"
#else
namespace deeplab::gpu {
class GpuNetwork {};  // never made without CUDA; complete, so that the scorer can own one
}  // namespace deeplab::gpu
#endif

namespace deeplab {

Scorer::Scorer(Model& model, const DeviceSelection& device, bool tf32, bool measure_algorithms)
    : model_(model), device_(device) {
  if (device.device != Device::cuda) return;
#ifdef DEEPLAB_WITH_CUDA
  gpu::GpuOptions options;
  options.tf32 = tf32;
  options.measure_algorithms = measure_algorithms;
  gpu_ = std::make_unique<gpu::GpuNetwork>(model, options);
#else
  (void)tf32, (void)measure_algorithms;
  fail(cuda_unavailable_reason());
#endif
}

Scorer::~Scorer() = default;

Tensor Scorer::scores(const Tensor& image_bgr) {
#ifdef DEEPLAB_WITH_CUDA
  if (gpu_) {
    const Tensor& scores = gpu_->forward(image_bgr);
    gpu_->synchronize();  // the copy below runs on another stream
    return scores.to(Device::cpu);
  }
#endif
  return model_.forward(image_bgr);
}

}  // namespace deeplab
