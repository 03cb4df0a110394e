#include "models/scorer.h"

#include "core/error.h"

namespace deeplab {

namespace {
DeviceNetworkMaker device_network_maker = nullptr;
}  // namespace

void register_device_network(DeviceNetworkMaker maker) { device_network_maker = maker; }

Scorer::Scorer(Model& model, const DeviceSelection& device, bool tf32, bool measure_algorithms)
    : model_(model), device_(device) {
  if (device.device != Device::cuda) return;
  if (model.net().precision() != nn::Precision::f32) fail("bf16 inference is a CPU path; on a GPU see --tf32");
  if (!device_network_maker) fail(no_gpu_backend_reason());
  gpu_ = device_network_maker(model, tf32, measure_algorithms);
}

Scorer::~Scorer() = default;

Tensor Scorer::scores(const Tensor& image_bgr) {
  if (!gpu_) return model_.forward(image_bgr);
  const Tensor& scores = gpu_->forward(image_bgr);
  gpu_->synchronize();  // the copy below runs on another stream
  return scores.to(Device::cpu);
}

}  // namespace deeplab
