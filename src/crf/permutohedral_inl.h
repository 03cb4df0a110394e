// The per-point steps of Permutohedral, inline for the CRF's hot loops. Include only from
// sources compiled with the CRF's vector flags (src/crf/*.cpp).
#pragma once
#include "crf/permutohedral.h"
#include "crf/simd.h"

namespace deeplab::crf {

template <int S>
inline void Permutohedral::splat_add(int thread, int64_t i, const float* v, float scale) {
  const int corners = d_ + 1;
  const int32_t* vert = &vertex_[i * corners];
  const float* w = &weight_[i * corners];
  float* acc = partial_[thread].get();
  if constexpr (S > 0 && S % 8 == 0) {
    simd::f8 value[S / 8];
    for (int j = 0; j < S / 8; ++j) value[j] = simd::load(v + 8 * j);
    for (int k = 0; k < corners; ++k) {
      float* dst = acc + int64_t(vert[k]) * S;
      const float s = scale * w[k];
      for (int j = 0; j < S / 8; ++j) simd::store(dst + 8 * j, simd::load(dst + 8 * j) + s * value[j]);
    }
  } else {
    const int stride = stride_;
    for (int k = 0; k < corners; ++k) {
      float* dst = acc + int64_t(vert[k]) * stride;
      const float s = scale * w[k];
      for (int c = 0; c < stride; ++c) dst[c] += s * v[c];
    }
  }
}

template <int S>
inline void Permutohedral::slice_add(int64_t i, float scale, float* out) const {
  const int corners = d_ + 1;
  const int32_t* v = &vertex_[i * corners];
  const float* w = &weight_[i * corners];
  if constexpr (S > 0 && S % 8 == 0) {
    simd::f8 sum[S / 8];
    for (int j = 0; j < S / 8; ++j) sum[j] = simd::load(out + 8 * j);
    for (int k = 0; k < corners; ++k) {
      const float* src = blurred_.get() + int64_t(v[k]) * S;
      const float s = scale * w[k];
      for (int j = 0; j < S / 8; ++j) sum[j] += s * simd::load(src + 8 * j);
    }
    for (int j = 0; j < S / 8; ++j) simd::store(out + 8 * j, sum[j]);
  } else {
    const int stride = stride_;
    for (int k = 0; k < corners; ++k) {
      const float* src = blurred_.get() + int64_t(v[k]) * stride;
      const float s = scale * w[k];
      for (int c = 0; c < stride; ++c) out[c] += s * src[c];
    }
  }
}

}  // namespace deeplab::crf
