// A model's network run on the device a job chose: class scores for a batch of images, back on
// the host. On the CPU that is Model::forward; on a GPU, a DeviceNetwork that the GPU backend
// makes (gpu::GpuNetwork), once the program has registered that backend (gpu/backend.h): models/
// knows the interface only, so it never includes the GPU code.
#pragma once
#include <memory>

#include "core/device.h"
#include "models/deeplab.h"

namespace deeplab {

// A network on a device: scores stay there until synchronize() says they are complete.
class DeviceNetwork {
 public:
  virtual ~DeviceNetwork() = default;
  virtual const Tensor& forward(const Tensor& image_bgr) = 0;  // scores, on the device
  virtual void synchronize() const = 0;
};
using DeviceNetworkMaker = std::unique_ptr<DeviceNetwork> (*)(Model& model, bool tf32, bool measure_algorithms);
// The GPU backend's maker (none in a build without CUDA, or before registration).
void register_device_network(DeviceNetworkMaker maker);

class Scorer {
 public:
  // The model must outlive the scorer; its weights are read now (the GPU keeps a copy).
  // measure_algorithms: time cuDNN's algorithms per input size (for a fixed size, as in bench);
  // false takes its heuristics, for data sets whose images differ in size.
  Scorer(Model& model, const DeviceSelection& device, bool tf32 = false, bool measure_algorithms = false);
  ~Scorer();
  Scorer(const Scorer&) = delete;
  Scorer& operator=(const Scorer&) = delete;

  // Mean-subtracted BGR batch (N x 3 x H x W, host) -> scores (N x classes x h x w, host),
  // h = ceil((H - 1) / 8) + 1 for the segmentation models, for any H and W (multi-scale models
  // included: padded, see scores()).
  Tensor scores(const Tensor& image_bgr);
  const DeviceSelection& device() const { return device_; }

 private:
  Tensor scores_as_given(const Tensor& image_bgr);

  Model& model_;
  DeviceSelection device_;
  std::unique_ptr<DeviceNetwork> gpu_;
};

}  // namespace deeplab
