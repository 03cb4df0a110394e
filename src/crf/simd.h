// Eight-float vectors in GCC's portable vector extension (no intrinsics): the CRF's per-pixel
// work on rows of labels, written so each row of 8k labels is k vector operations whatever the
// compiler would have guessed. Loads and stores are unaligned.
#pragma once
#include <cstdint>
#include <cstring>

namespace deeplab::crf::simd {

typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));

inline f8 load(const float* p) {
  f8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, f8 v) { std::memcpy(p, &v, sizeof v); }
inline f8 splat(float x) { return f8{} + x; }
inline f8 max(f8 a, f8 b) { return a > b ? a : b; }
inline f8 min(f8 a, f8 b) { return a < b ? a : b; }
inline i8 min(i8 a, i8 b) { return a < b ? a : b; }
// Horizontal sum and max by halving (shuffles stay in registers; v[i] would go through memory).
inline float hsum(f8 v) {
  v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
  v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5);
  v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6);
  return v[0];
}
inline float hmax(f8 v) {
  v = max(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3));
  v = max(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5));
  v = max(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6));
  return v[0];
}
inline int32_t hmin(i8 v) {
  v = min(v, __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3));
  v = min(v, __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5));
  v = min(v, __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6));
  return v[0];
}

// exp(x) in branch-free arithmetic: x = n ln2 + r with |r| <= ln2 / 2, exp(r) by its Taylor
// series to r^6 (relative error below 2e-7), times 2^n built in the exponent bits. Inputs below
// -87 give 0 (exactly what mean field needs: a label e^-87 times less likely than the best is absent).
inline f8 exp(f8 x) {
  x = min(max(x, splat(-87.0f)), splat(88.0f));
  const f8 magic = splat(12582912.0f);
  const f8 n = (x * 1.44269504f + magic) - magic;
  const f8 r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
  f8 p = splat(1.0f / 720.0f);
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const i8 bits = (__builtin_convertvector(n, i8) + 127) << 23;
  f8 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x <= -87.0f ? splat(0.0f) : p * scale;
}

}  // namespace deeplab::crf::simd
