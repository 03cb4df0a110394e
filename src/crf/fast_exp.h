// exp(x) for float in branch-free arithmetic that compilers vectorise: x = n ln2 + r with
// |r| <= ln2 / 2, exp(r) by its Taylor series to r^6 (relative error below 2e-7), times 2^n
// built in the exponent bits. Inputs below -87 give 0 (exactly the mean-field's need: a label
// e^-87 times less likely than the best is absent).
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>

namespace deeplab::crf {

inline float fast_exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float round_magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504f + round_magic) - round_magic;
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;  // ln2 split in two for precision
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float scale = std::bit_cast<float>(int32_t(n + 127.0f) << 23);
  return x <= -87.0f ? 0.0f : p * scale;
}

}  // namespace deeplab::crf
