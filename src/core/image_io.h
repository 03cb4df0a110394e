// Images in and out through OpenCV: photographs as RGB bytes, label maps as PNG (the label
// index as grey, or the PASCAL VOC colour palette). Writes are atomic; errors name the file.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/label_map.h"

namespace cv {
class Mat;
}

namespace deeplab {

struct RgbImage {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> rgb;  // H x W x 3
};

// Only PNG, JPEG, PPM/PGM and BMP files are opened, by their first bytes: OpenCV would otherwise
// hand unknown bytes to every decoder it links (GDAL, DICOM, JPEG 2000), and a fuzzer found those
// crash on malformed input.
enum class ImageFormat { png, jpeg, pnm, bmp };
ImageFormat check_image_format(const std::string& path);  // throws Error for anything else
void require_format(const std::string& path, ImageFormat format, const char* name);
RgbImage read_rgb_image(const std::string& path);
// The VOC palette: label k's colour from the bits of k (the devkit's colour map); 255 (the
// boundary) is (224, 224, 192).
std::array<uint8_t, 3> voc_colour(int label);
// A colour picture (plots, overlays) as a PNG.
void write_rgb_png(const std::string& path, const RgbImage& image);
// A picture drawn with OpenCV (8-bit, BGR or grey) as a PNG: plots, the confusion matrix.
void write_png(const std::string& path, const cv::Mat& image);
enum class LabelPalette { index, voc };
void write_label_png(const std::string& path, const LabelMap& labels, LabelPalette palette, int image = 0);

}  // namespace deeplab
