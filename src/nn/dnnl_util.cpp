#include "nn/dnnl_util.h"

#include <cstring>

#include "core/error.h"

namespace deeplab::nn {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

Desc plain_desc(const Shape& shape) {
  using tag = memory::format_tag;
  static const tag tags[] = {tag::undef, tag::a, tag::ab, tag::abc, tag::abcd, tag::abcde};
  DEEPLAB_CHECK(shape.size() >= 1 && shape.size() <= 5, "rank ", shape.size());
  memory::dims dims(shape.begin(), shape.end());
  return Desc(dims, memory::data_type::f32, tags[shape.size()]);
}

Shape desc_shape(const Desc& d) {
  memory::dims dims = d.dims();
  return Shape(dims.begin(), dims.end());
}

size_t physical_size(const Desc& d) { return d.get_size() / sizeof(float); }

memory make_memory(const Desc& d) {
  memory m(d, cpu_engine());
  std::memset(m.get_data_handle(), 0, d.get_size());
  return m;
}

void reorder(const memory& src, const memory& dst) {
  dnnl::reorder(src, dst).execute(cpu_stream(), const_cast<memory&>(src), const_cast<memory&>(dst));
  cpu_stream().wait();
}

void tensor_to_memory(const Tensor& t, const memory& m) {
  DEEPLAB_CHECK(t.device() == Device::cpu, "tensor on ", device_name(t.device()));
  Desc d = m.get_desc();
  DEEPLAB_CHECK(desc_shape(d) == t.shape(), "shape ", shape_str(t.shape()), " vs ", shape_str(desc_shape(d)));
  memory src(plain_desc(t.shape()), cpu_engine(), const_cast<float*>(t.data()));
  reorder(src, m);
}

Tensor memory_to_tensor(const memory& m) {
  Tensor t(desc_shape(m.get_desc()));
  memory dst(plain_desc(t.shape()), cpu_engine(), t.data());
  reorder(m, dst);
  return t;
}

const memory& LayoutCache::get(const memory& src, const Desc& want) {
  if (src.get_desc() == want) return src;
  if (!buffer_ || buffer_.get_desc() != want) buffer_ = make_memory(want);
  reorder(src, buffer_);
  return buffer_;
}

const memory& LayoutCache::buffer_for(const memory& target, const Desc& want) {
  used_ = target.get_desc() != want;
  if (!used_) return target;
  if (!buffer_ || buffer_.get_desc() != want) buffer_ = make_memory(want);
  return buffer_;
}

void LayoutCache::copy_to(const memory& target) {
  if (used_) reorder(buffer_, target);
}

}  // namespace deeplab::nn
