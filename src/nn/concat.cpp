#include "nn/concat.h"

#include <unordered_map>

#include "core/error.h"

namespace deeplab::nn {

std::vector<Desc> Concat::setup(const std::vector<Desc>& inputs, Phase) {
  DEEPLAB_CHECK(!inputs.empty(), name());
  Shape first = desc_shape(inputs[0]);
  for (const Desc& d : inputs) {
    Shape s = desc_shape(d);
    if (s.size() != 4 || s[0] != first[0] || s[2] != first[2] || s[3] != first[3])
      fail("layer ", name(), ": inputs differ in size: ", shape_str(first), " and ", shape_str(s),
           " (for multi-scale models use an input size of 8k+1, such as 321 or 513)");
  }
  inputs_ = inputs;
  pd_ = dnnl::concat::primitive_desc(1, inputs, cpu_engine());
  fwd_ = dnnl::concat(pd_);
  return {pd_.dst_desc()};
}

void Concat::forward(const std::vector<Blob*>& in, const std::vector<Blob*>& out) {
  std::unordered_map<int, memory> args = {{DNNL_ARG_DST, out[0]->data}};
  for (size_t i = 0; i < in.size(); ++i) args[DNNL_ARG_MULTIPLE_SRC + int(i)] = in[i]->data;
  fwd_.execute(cpu_stream(), args);
  cpu_stream().wait();
}

void Concat::backward(const std::vector<Blob*>& out, const std::vector<Blob*>& in) {
  // Each input's gradient is a channel slice of the output's: read it through a view of the
  // gradient in plain NCHW, where any channel offset is a valid view.
  Shape os = desc_shape(out[0]->desc);
  memory plain = make_memory(plain_desc(os));
  reorder(out[0]->diff, plain);
  int64_t offset = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    Shape s = desc_shape(inputs_[i]);
    if (in[i]->needs_diff) {
      Desc view = plain.get_desc().submemory_desc({s[0], s[1], s[2], s[3]}, {0, offset, 0, 0});
      memory slice(view, cpu_engine(), plain.get_data_handle());
      reorder(slice, in[i]->diff);
    }
    offset += s[1];
  }
}

}  // namespace deeplab::nn
