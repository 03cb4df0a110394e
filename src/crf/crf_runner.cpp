#include "crf/crf_runner.h"

#include <cstring>

#include "core/error.h"
#ifdef DEEPLAB_WITH_CUDA
#include "crf_cuda.h"
#else
namespace deeplab::cuda {
class CudaCrf {};  // never made without CUDA; complete, so that the runner can own one
}  // namespace deeplab::cuda
#endif

namespace deeplab::crf {

CrfRunner::CrfRunner(const DeviceSelection& device) : device_(device) {
  if (device.device != Device::cuda) return;
#ifdef DEEPLAB_WITH_CUDA
  gpu_ = std::make_unique<cuda::CudaCrf>(device.index);
#else
  fail(cuda_unavailable_reason());
#endif
}

CrfRunner::~CrfRunner() = default;

CrfResult CrfRunner::run(const uint8_t* rgb, int64_t height, int64_t width, const CrfParams& params,
                         const Tensor& unary) {
  if (!gpu_) {
    if (!keep_) return DenseCrf(rgb, height, width, params).infer(unary);
    const size_t bytes = size_t(height) * size_t(width) * 3;
    const bool same_pixels = kept_ && kept_height_ == height && kept_width_ == width &&
                             std::memcmp(kept_rgb_.data(), rgb, bytes) == 0;
    if (same_pixels && kept_->retune(params)) {
      ++reused_;
      return kept_->infer(unary);
    }
    kept_.reset();  // before the next image's lattices are built: one image's at a time
    kept_ = std::make_unique<DenseCrf>(rgb, height, width, params);
    kept_rgb_.assign(rgb, rgb + bytes);
    kept_height_ = height, kept_width_ = width;
    return kept_->infer(unary);
  }
#ifdef DEEPLAB_WITH_CUDA
  validate(params);
  if (unary.ndim() != 3 || unary.dim(1) != height || unary.dim(2) != width)
    fail("CRF: unary ", shape_str(unary.shape()), " for a ", height, " x ", width, " image");
  const cuda::CrfKernelParams p{params.bi_w,      params.bi_xy_std, params.bi_rgb_std, params.pos_w,
                                params.pos_xy_std, params.iterations,
                                params.normalization == Normalization::symmetric};
  CrfResult r{LabelMap(1, height, width), Tensor(unary.shape())};
  gpu_->infer(rgb, int(height), int(width), unary.data(), int(unary.dim(0)), p, r.marginals.data(), r.labels.data.data());
  return r;
#else
  fail(cuda_unavailable_reason());
#endif
}

}  // namespace deeplab::crf
