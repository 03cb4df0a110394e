#include "models/scorer.h"

#include <algorithm>

#include "core/error.h"

namespace deeplab {

namespace {
DeviceNetworkMaker device_network_maker = nullptr;

// The batch at the bottom right of a zero (mean-colour) canvas of height x width.
Tensor pad_bottom_right(const Tensor& images, int64_t height, int64_t width) {
  const int64_t n = images.dim(0), c = images.dim(1), h = images.dim(2), w = images.dim(3);
  Tensor out({n, c, height, width});
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t y = 0; y < h; ++y)
      std::copy_n(images.data() + (p * h + y) * w, w, out.data() + (p * height + y) * width);
  return out;
}
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
  // A multi-scale model takes only 8k + 1 pixels a side (DeepLab's Caffe nets padded every test
  // image to 513). Other sizes are padded at the bottom and right with the mean colour (0 after
  // mean subtraction). The scores then have the shape LargeFOV's have for the unpadded image (its
  // rounded-up poolings give 8k + 1 and 8k + 1 - j the same), each cell at the same pixel.
  if (image_bgr.ndim() == 4) {
    const ModelKind kind = model_.spec().kind;
    const int64_t h = image_bgr.dim(2), w = image_bgr.dim(3);
    if (network_side(kind, h) != h || network_side(kind, w) != w)
      return scores_as_given(pad_bottom_right(image_bgr, network_side(kind, h), network_side(kind, w)));
  }
  return scores_as_given(image_bgr);
}

Tensor Scorer::scores_as_given(const Tensor& image_bgr) {
  if (!gpu_) return model_.forward(image_bgr);
  const Tensor& scores = gpu_->forward(image_bgr);
  gpu_->synchronize();  // the copy below runs on another stream
  return scores.to(Device::cpu);
}

}  // namespace deeplab
