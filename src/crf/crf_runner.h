// The CRF on the device a job chose: crf::DenseCrf on the CPU, the CUDA CRF (kernels/crf.cu)
// on a GPU, with the same parameters and answers. A GPU runner keeps its device buffers between
// images; one runner per thread.
#pragma once
#include <memory>
#include <vector>

#include "core/device.h"
#include "crf/dense_crf.h"

namespace deeplab::cuda {
class CudaCrf;
}

namespace deeplab::crf {

class CrfRunner {
 public:
  explicit CrfRunner(const DeviceSelection& device = {});
  ~CrfRunner();
  CrfRunner(const CrfRunner&) = delete;
  CrfRunner& operator=(const CrfRunner&) = delete;

  // rgb: H x W x 3 bytes; unary: L x H x W energies.
  CrfResult run(const uint8_t* rgb, int64_t height, int64_t width, const CrfParams& params, const Tensor& unary);
  const DeviceSelection& device() const { return device_; }
  // On the CPU, keep the last image's lattices: the next run on the same pixels with parameters
  // that keep them (DenseCrf::retune) skips building them, and answers the same. For callers
  // that run one image with several parameters in turn (crf-sweep).
  void keep_lattices(bool on) { keep_ = on; }
  int64_t lattices_reused() const { return reused_; }

 private:
  DeviceSelection device_;
  std::unique_ptr<cuda::CudaCrf> gpu_;
  bool keep_ = false;
  std::unique_ptr<DenseCrf> kept_;
  std::vector<uint8_t> kept_rgb_;  // the pixels kept_ was built on
  int64_t kept_height_ = 0, kept_width_ = 0, reused_ = 0;
};

}  // namespace deeplab::crf
