// Writes small files for the end-to-end scripts:
//   make_test_files model OUT.h5 KIND CLASSES WIDTH   a randomly initialised model
//   make_test_files foreign OUT.h5                    an HDF5 file deeplab did not write
//   make_test_files anno-probs ANNO.png OUT.npy        class probabilities from a rough annotation,
//       as the densecrf demo makes its unary: colours numbered by first appearance (row-major),
//       p = 0.5 on the annotated label and 0.025 on the other 20 of 21; 1/21 where black
//   make_test_files poison IN.npy OUT.npy             the array with one value made NaN
//   make_test_files agreement LABELS.png ANNO.png      of the annotated pixels, the share whose
//       label (index PNG) is the annotation's; and the largest label used vs the colours there
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include <opencv2/imgcodecs.hpp>

#include "core/error.h"
#include "core/h5.h"
#include "core/image_io.h"
#include "core/npy.h"
#include "models/model_file.h"

int main(int argc, char** argv) {
  using namespace deeplab;
  try {
    const std::string what = argc > 2 ? argv[1] : "";
    if (what == "model" && argc == 6) {
      ModelSpec spec{parse_model_kind(argv[3]), std::stoi(argv[4]), std::stod(argv[5])};
      Model m(spec, nn::Phase::test, 1);
      save_model(argv[2], m);
      return 0;
    }
    if (what == "foreign") {
      h5::File f = h5::File::create(argv[2]);
      f.write_tensor("data/x", Tensor({3, 3}));
      return 0;
    }
    if (what == "anno-probs" && argc == 4) {
      RgbImage anno = read_rgb_image(argv[2]);
      const int64_t n = anno.height * anno.width, labels = 21;
      Tensor p({labels, anno.height, anno.width});
      std::map<uint32_t, int> number;  // colour -> label, by first appearance
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t c = anno.rgb[i * 3] << 16 | anno.rgb[i * 3 + 1] << 8 | anno.rgb[i * 3 + 2];
        if (c != 0 && !number.count(c)) number[c] = int(number.size());
        for (int64_t l = 0; l < labels; ++l)
          p.data()[l * n + i] = c == 0 ? 1.0f / labels : (l == number[c] ? 0.5f : 0.5f / (labels - 1));
      }
      write_npy(argv[3], p);
      return 0;
    }
    if (what == "poison" && argc == 4) {  // a copy of an array with one NaN
      Tensor t = read_npy(argv[2]);
      t.data()[t.numel() / 2] = std::nanf("");
      write_npy(argv[3], t);
      return 0;
    }
    if (what == "agreement" && argc == 4) {
      cv::Mat labels = cv::imread(argv[2], cv::IMREAD_UNCHANGED);
      RgbImage anno = read_rgb_image(argv[3]);
      if (labels.empty() || labels.type() != CV_8UC1 || labels.rows != anno.height || labels.cols != anno.width)
        fail(argv[2], ": not a grey label PNG of the annotation's size");
      std::map<uint32_t, int> number;
      int64_t annotated = 0, same = 0, max_label = 0;
      for (int64_t i = 0; i < anno.height * anno.width; ++i) {
        const uint32_t c = anno.rgb[i * 3] << 16 | anno.rgb[i * 3 + 1] << 8 | anno.rgb[i * 3 + 2];
        max_label = std::max<int64_t>(max_label, labels.data[i]);
        if (c == 0) continue;
        if (!number.count(c)) number[c] = int(number.size());
        ++annotated;
        same += labels.data[i] == number[c];
      }
      std::printf("agreement %.4f of %lld annotated pixels; labels used up to %lld; annotation colours %zu\n",
                  double(same) / double(annotated), (long long)annotated, (long long)max_label, number.size());
      return 0;
    }
    std::fprintf(stderr, "usage: make_test_files model OUT.h5 KIND CLASSES WIDTH | foreign OUT.h5 | "
                 "anno-probs ANNO.png OUT.npy | agreement LABELS.png ANNO.png\n");
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "make_test_files: %s\n", e.what());
    return 1;
  }
}
