// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017) from Debian's dataset-fashion-mnist: 28 x 28 grey
// garment images in gzipped IDX files, 60,000 for training and 10,000 for testing, 10 classes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace deeplab::data {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr int kFashionMnistClassCount = 10;
extern const char* const kFashionMnistClasses[kFashionMnistClassCount];

struct FashionMnist {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> images;  // count x rows x cols, ink 0..255
  std::vector<uint8_t> labels;  // count, 0..9
  const uint8_t* image(int64_t i) const { return &images[i * rows * cols]; }
};

// split: "train" or "t10k". Errors name the file.
FashionMnist load_fashion_mnist(const std::string& dir, const std::string& split);

}  // namespace deeplab::data
