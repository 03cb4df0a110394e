// The CRF on the device a job chose: crf::DenseCrf on the CPU, the CUDA CRF (kernels/crf.cu)
// on a GPU, with the same parameters and answers. A GPU runner keeps its device buffers between
// images; one runner per thread.
#pragma once
#include <memory>

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

 private:
  DeviceSelection device_;
  std::unique_ptr<cuda::CudaCrf> gpu_;
};

}  // namespace deeplab::crf
