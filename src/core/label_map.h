// Per-pixel class labels for a batch: N x H x W uint8, 255 = ignore (VOC boundaries).
#pragma once
#include <cstdint>
#include <vector>

namespace deeplab {

constexpr uint8_t kIgnoreLabel = 255;

struct LabelMap {
  int64_t n = 0, h = 0, w = 0;
  std::vector<uint8_t> data;

  LabelMap() = default;
  LabelMap(int64_t n_, int64_t h_, int64_t w_, uint8_t fill = 0) : n(n_), h(h_), w(w_), data(n_ * h_ * w_, fill) {}
  uint8_t& at(int64_t b, int64_t y, int64_t x) { return data[(b * h + y) * w + x]; }
  uint8_t at(int64_t b, int64_t y, int64_t x) const { return data[(b * h + y) * w + x]; }
};

}  // namespace deeplab
