#include "core/tensor.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/device.h"
#include "core/error.h"
#include "core/host_memory.h"

namespace deeplab {

const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "x" : "") << s[i];
  return o.str();
}

Shape squeezed(const Shape& s) {
  Shape out;
  for (int64_t d : s)
    if (d != 1) out.push_back(d);
  return out;
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Tensor::Tensor(Shape shape, Device device) : shape_(std::move(shape)), device_(device) {
  for (int64_t d : shape_)
    if (d < 0) fail("tensor: negative dimension in shape ", shape_str(shape_));
  size_t n = static_cast<size_t>(numel());
  float* p = device_alloc(device, n == 0 ? 1 : n);
  storage_ = std::shared_ptr<float>(p, [device](float* q) { device_free(device, q); });
  device_fill(p, device, n, 0.0f);
}

Tensor Tensor::uninitialized_large(Shape shape) {
  Tensor t;
  t.shape_ = std::move(shape);
  const size_t n = size_t(std::max<int64_t>(t.numel(), 1));
  t.storage_ = std::shared_ptr<float>(static_cast<float*>(host_alloc(n * sizeof(float), true)), host_free);
  return t;
}

Tensor Tensor::clone() const { return to(device_); }

Tensor Tensor::to(Device device) const {
  Tensor out(shape_, device);
  out.copy_from(*this);
  return out;
}

void Tensor::fill(float value) { device_fill(data(), device_, numel(), value); }

void Tensor::copy_from(const Tensor& other) {
  if (other.numel() != numel())
    fail("tensor: copy of ", shape_str(other.shape()), " into ", shape_str(shape_));
  device_copy(data(), device_, other.data(), other.device_, numel());
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel())
    fail("tensor: cannot reshape ", shape_str(shape_), " to ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

int64_t first_non_finite(const float* values, int64_t n) {
  bool finite = true;
#pragma omp parallel for simd reduction(&& : finite)
  for (int64_t i = 0; i < n; ++i) finite = finite && std::isfinite(values[i]);
  if (finite) return -1;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(values[i])) return i;
  return -1;
}

void require_finite(const float* values, int64_t n, const std::string& what) {
  const int64_t i = first_non_finite(values, n);
  if (i >= 0) fail(what, ": value ", i, " is not finite (", values[i], ")");
}

Tensor hwc_to_chw(const Tensor& hwc) {
  DEEPLAB_CHECK(hwc.ndim() == 3 && hwc.device() == Device::cpu, "hwc_to_chw: ", shape_str(hwc.shape()));
  const int64_t h = hwc.dim(0), w = hwc.dim(1), c = hwc.dim(2);
  Tensor out = Tensor::uninitialized_large({c, h, w});  // every value written below
  const float* in = hwc.data();
  float* o = out.data();
  // Rows of pixels, one per task: reads run along memory, each channel's writes along its plane.
#pragma omp parallel for schedule(static)
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < c; ++k) o[(k * h + y) * w + x] = in[(y * w + x) * c + k];
  return out;
}

}  // namespace deeplab
