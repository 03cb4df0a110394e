// A model's network run on the device a job chose: class scores for a batch of images, back on
// the host. On the CPU that is Model::forward; on a GPU a gpu::GpuNetwork mirrors the model.
#pragma once
#include <memory>

#include "core/device.h"
#include "models/deeplab.h"

namespace deeplab {

namespace gpu {
class GpuNetwork;
}

class Scorer {
 public:
  // The model must outlive the scorer; its weights are read now (the GPU keeps a copy).
  // measure_algorithms: time cuDNN's algorithms per input size (for a fixed size, as in bench);
  // false takes its heuristics, for data sets whose images differ in size.
  Scorer(Model& model, const DeviceSelection& device, bool tf32 = false, bool measure_algorithms = false);
  ~Scorer();
  Scorer(const Scorer&) = delete;
  Scorer& operator=(const Scorer&) = delete;

  // Mean-subtracted BGR batch (N x 3 x H x W, host) -> scores (N x classes x h x w, host).
  Tensor scores(const Tensor& image_bgr);
  const DeviceSelection& device() const { return device_; }

 private:
  Model& model_;
  DeviceSelection device_;
  std::unique_ptr<gpu::GpuNetwork> gpu_;
};

}  // namespace deeplab
