#include "nn/precision.h"

#include <dnnl.hpp>

namespace deeplab::nn {

const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "f32"; }

bool cpu_computes_bf16() {
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

}  // namespace deeplab::nn
