#include "data/example_sheet.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "image/image_io.h"
#include "models/deeplab.h"

namespace deeplab::data {

void write_example_sheet(const std::string& path, ExampleSource& examples, int columns, int rows) {
  const int side = examples.image_side(), gap = 2;
  RgbImage sheet;
  sheet.width = columns * (side + gap), sheet.height = rows * (side + gap);
  sheet.rgb.assign(size_t(sheet.width * sheet.height * 3), 255);
  std::vector<float> chw(size_t(3) * side * side);
  uint8_t label = 0;
  for (int k = 0; k < columns * rows && k < examples.size(); ++k) {
    examples.make(k, test_seed(k), chw.data(), &label);
    const int64_t oy = k / columns * (side + gap), ox = k % columns * (side + gap);
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x)
        for (int c = 0; c < 3; ++c) {  // BGR planes, mean subtracted -> RGB bytes
          const float v = chw[size_t(2 - c) * side * side + size_t(y) * side + x] + kVggMeanBgr[2 - c];
          sheet.rgb[size_t(((oy + y) * sheet.width + ox + x) * 3 + c)] = uint8_t(std::clamp(std::lround(v), 0L, 255L));
        }
  }
  write_rgb_png(path, sheet);
}

}  // namespace deeplab::data
