// A dense float32 tensor in row-major order (NCHW for images) that knows the device its
// memory lives on. Copies share storage; clone() makes a deep copy; to() moves across devices.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace deeplab {

enum class Device { cpu, cuda };
const char* device_name(Device d);

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
// The shape without its 1s: how Caffe blobs (1 x 1 x O x I) and our O x I x 1 x 1 are compared.
Shape squeezed(const Shape& s);

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor of this shape on this device.
  explicit Tensor(Shape shape, Device device = Device::cpu);
  // A CPU tensor, not zero-filled, in huge pages: for large outputs made afresh per image.
  static Tensor uninitialized_large(Shape shape);

  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_.at(i < 0 ? i + ndim() : i); }
  int64_t numel() const { return shape_numel(shape_); }
  bool empty() const { return !storage_; }
  Device device() const { return device_; }

  float* data() { return storage_.get(); }
  const float* data() const { return storage_.get(); }

  // Element of a 4-D CPU tensor; for tests and small loops, not for hot paths.
  float& at(int64_t n, int64_t c, int64_t h, int64_t w) {
    return storage_.get()[((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w];
  }
  float at(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return storage_.get()[((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w];
  }

  Tensor clone() const;
  Tensor to(Device device) const;
  void fill(float value);
  void copy_from(const Tensor& other);  // same numel; any devices
  // Same storage, new shape with the same element count.
  Tensor reshaped(Shape shape) const;

 private:
  Shape shape_;
  Device device_ = Device::cpu;
  std::shared_ptr<float> storage_;
};

// H x W x C (channels interleaved, as most tools write arrays) to C x H x W, in parallel rows.
Tensor hwc_to_chw(const Tensor& hwc);

// The index of the first NaN or infinity of n floats (-1: none), and the same as an error, "WHAT:
// value I is not finite (V)": for weights read from a file, whose checksum a writer of NaN would
// have computed over the NaN.
int64_t first_non_finite(const float* values, int64_t n);
void require_finite(const float* values, int64_t n, const std::string& what);

}  // namespace deeplab
