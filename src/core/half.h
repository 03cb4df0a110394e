// IEEE 754 half precision (float16) to and from float, rounding to nearest even: how prediction
// files store class probabilities, and how .npy float16 arrays are read.
#pragma once
#include <bit>
#include <cstdint>

namespace deeplab {

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      uint32_t m = mant;
      do {
        ++e;
        m <<= 1;
      } while (!(m & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  return std::bit_cast<float>(bits);
}

inline uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return uint16_t(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0));  // inf, nan
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00);  // rounds above 65504: infinity
  if (abs < 0x38800000u) {  // below 2^-14: a subnormal half (or zero)
    const float scaled = std::bit_cast<float>(abs) * 16777216.0f;  // x 2^24: units of the smallest subnormal
    const uint32_t units = uint32_t(scaled);
    const float rest = scaled - float(units);
    const uint32_t rounded = units + (rest > 0.5f || (rest == 0.5f && (units & 1)));
    return uint16_t(sign | rounded);
  }
  // Normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even.
  const uint32_t rebased = abs - ((127 - 15) << 23);
  const uint32_t dropped = rebased & 0x1fff;
  uint32_t h = rebased >> 13;
  if (dropped > 0x1000 || (dropped == 0x1000 && (h & 1))) ++h;
  return uint16_t(sign | h);
}

}  // namespace deeplab
