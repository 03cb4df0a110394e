// The per-point steps of Permutohedral, inline for the CRF's hot loops. Include only from
// sources compiled with the CRF's vector flags (src/crf/*.cpp).
#pragma once
#include "crf/permutohedral.h"
#include "crf/simd.h"

namespace deeplab::crf {

// Strides are multiples of 8 (the CRF pads its labels), so rows are whole 8-float vectors.
template <int S>
inline void Permutohedral::splat_add(int thread, int64_t i, const float* v, float scale) {
  const int corners = d_ + 1, stride = S > 0 ? S : stride_, vectors = stride / 8;
  const int32_t* vert = &vertex_[i * corners];
  const float* w = &weight_[i * corners];
  float* acc = partial_[thread];
  simd::f8 value[kMaxStride / 8];
  for (int j = 0; j < vectors; ++j) value[j] = simd::load(v + 8 * j);
  for (int k = 0; k < corners; ++k) {
    float* dst = acc + int64_t(vert[k]) * stride;
    const float s = scale * w[k];
    for (int j = 0; j < vectors; ++j) simd::store(dst + 8 * j, simd::load(dst + 8 * j) + s * value[j]);
  }
}

template <int S>
inline void Permutohedral::slice_add(int64_t i, float scale, float* out) const {
  const int corners = d_ + 1, stride = S > 0 ? S : stride_, vectors = stride / 8;
  const int32_t* v = &vertex_[i * corners];
  const float* w = &weight_[i * corners];
  simd::f8 sum[kMaxStride / 8];
  for (int j = 0; j < vectors; ++j) sum[j] = simd::load(out + 8 * j);
  for (int k = 0; k < corners; ++k) {
    const float* src = blurred_ + int64_t(v[k]) * stride;
    const float s = scale * w[k];
    for (int j = 0; j < vectors; ++j) sum[j] += s * simd::load(src + 8 * j);
  }
  for (int j = 0; j < vectors; ++j) simd::store(out + 8 * j, sum[j]);
}

}  // namespace deeplab::crf
