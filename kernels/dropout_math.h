// Dropout masks from a counter-based hash: element i of an image with key k survives when
// hash(seed, k, i) >= ratio. No generator state is carried from element to element, so a GPU
// thread computes its element alone, and the CPU and the GPU draw the same masks.
#pragma once
#include <cstdint>

#include "hd.h"

namespace deeplab::kernels {

// splitmix64's finaliser: a bijection that scatters nearby inputs.
DL_HD uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// 0 or 1 / (1 - ratio) for element `index` (NCHW order within the image) of image `key`.
DL_HD float dropout_scale(uint64_t seed, uint64_t key, uint64_t index, float ratio) {
  const uint64_t h = mix64(mix64(seed ^ mix64(key + 0x9E3779B97F4A7C15ull)) + index);
  const float u = float(h >> 40) * (1.0f / 16777216.0f);  // uniform in [0, 1), 24 bits
  return u >= ratio ? 1.0f / (1.0f - ratio) : 0.0f;
}

}  // namespace deeplab::kernels
