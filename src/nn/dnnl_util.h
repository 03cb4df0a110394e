// The oneDNN engine and stream shared by every CPU operator, and small helpers to move data
// between plain NCHW tensors and oneDNN memories in whatever layout a primitive chose.
#pragma once
#include <dnnl.hpp>

#include "core/tensor.h"

namespace deeplab::nn {

using dnnl::memory;
using Desc = dnnl::memory::desc;

dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();

// f32 descriptor in plain row-major order for a 1-D to 4-D shape (x, nc, nchw...).
Desc plain_desc(const Shape& shape);
Shape desc_shape(const Desc& d);
// Elements in the physical buffer, padding of blocked layouts included.
size_t physical_size(const Desc& d);

// Memory that owns its buffer (zero-filled, so blocked-layout padding stays zero).
memory make_memory(const Desc& d);
// Reorder src into dst (any layouts, same logical shape) and wait for it.
void reorder(const memory& src, const memory& dst);
void tensor_to_memory(const Tensor& t, const memory& m);
Tensor memory_to_tensor(const memory& m);

// Gives a primitive the layout it asked for: the source itself when layouts agree,
// otherwise a reordered copy in a buffer kept between calls.
class LayoutCache {
 public:
  const memory& get(const memory& src, const Desc& want);
  // A buffer of layout want for a primitive to write; copy_to() moves it to the real target.
  const memory& buffer_for(const memory& target, const Desc& want);
  void copy_to(const memory& target);

 private:
  memory buffer_;
  bool used_ = false;
};

}  // namespace deeplab::nn
