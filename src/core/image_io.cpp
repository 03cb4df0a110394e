#include "core/image_io.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/atomic_path.h"
#include "core/error.h"

namespace deeplab {
// cv::imwrite picks the format from the extension, so the temporary name keeps ".png".
void write_png(const std::string& path, const cv::Mat& image) {
  AtomicPath target(path, ".png");
  bool ok = false;
  try {
    ok = cv::imwrite(target.temp(), image);
  } catch (const cv::Exception& e) {
    fail(path, ": cannot write PNG: ", e.what());
  }
  if (!ok) fail(path, ": cannot write PNG");
  target.commit();
}

void write_rgb_png(const std::string& path, const RgbImage& image) {
  if (image.height < 1 || image.width < 1 || image.rgb.size() != size_t(image.height * image.width * 3))
    fail(path, ": cannot write a ", image.width, "x", image.height, " image from ", image.rgb.size(), " bytes");
  cv::Mat rgb(int(image.height), int(image.width), CV_8UC3, const_cast<uint8_t*>(image.rgb.data())), bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  write_png(path, bgr);
}

ImageFormat check_image_format(const std::string& path) {
  if (!std::filesystem::exists(path)) fail(path, ": no such file");
  unsigned char head[8] = {0};
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, ": cannot open");
  const size_t n = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 8 && std::memcmp(head, png, 8) == 0) return ImageFormat::png;
  if (n >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return ImageFormat::jpeg;
  if (n >= 2 && head[0] == 'P' && (head[1] == '5' || head[1] == '6' || head[1] == '2' || head[1] == '3')) return ImageFormat::pnm;
  if (n >= 2 && head[0] == 'B' && head[1] == 'M') return ImageFormat::bmp;
  fail(path, ": not a PNG, JPEG, PPM/PGM or BMP file");
}

void require_format(const std::string& path, ImageFormat format, const char* name) {
  if (check_image_format(path) != format) fail(path, ": not a ", name, " file");
}

RgbImage read_rgb_image(const std::string& path) {
  check_image_format(path);
  // Pixels as stored: OpenCV would turn a JPEG by its EXIF orientation tag, and the label map
  // (a PNG, never turned) would then no longer line up with the image.
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  if (bgr.empty()) fail(path, ": not an image OpenCV can read (or damaged)");
  RgbImage img;
  img.height = bgr.rows;
  img.width = bgr.cols;
  img.rgb.resize(img.height * img.width * 3);
  cv::Mat rgb(bgr.rows, bgr.cols, CV_8UC3, img.rgb.data());
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return img;
}

std::array<uint8_t, 3> voc_colour(int label) {
  std::array<uint8_t, 3> c{0, 0, 0};  // 255 (ignore) comes out (224, 224, 192), as in VOC's PNGs
  for (int bit = 7, k = label; k > 0; --bit, k >>= 3)
    for (int ch = 0; ch < 3; ++ch) c[ch] |= uint8_t(((k >> ch) & 1) << bit);
  return c;
}

void write_label_png(const std::string& path, const LabelMap& labels, LabelPalette palette, int image) {
  const uint8_t* src = &labels.data[size_t(image) * labels.h * labels.w];
  if (palette == LabelPalette::index) {
    cv::Mat grey(int(labels.h), int(labels.w), CV_8UC1, const_cast<uint8_t*>(src));
    write_png(path, grey);
    return;
  }
  cv::Mat bgr(int(labels.h), int(labels.w), CV_8UC3);
  for (int64_t i = 0; i < labels.h * labels.w; ++i) {
    auto c = voc_colour(src[i]);
    uint8_t* px = bgr.data + i * 3;
    px[0] = c[2], px[1] = c[1], px[2] = c[0];
  }
  write_png(path, bgr);
}

}  // namespace deeplab
