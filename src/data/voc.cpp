#include "data/voc.h"

#include <array>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <unordered_map>

#include "core/error.h"
#include "core/image_io.h"

namespace deeplab::data {

std::vector<std::string> voc_class_names() {
  return {"background", "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",
          "car",        "cat",       "chair",   "cow",   "diningtable", "dog",    "horse",
          "motorbike",  "person",    "pottedplant", "sheep", "sofa",    "train",  "tvmonitor"};
}

std::vector<std::string> read_name_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot read the list file");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos) continue;
    const size_t end = line.find_first_of(" \t\r", start);
    std::string name = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
    // SBD-style lists give paths ("/JPEGImages/2007_000032.jpg"): keep the bare name.
    name = std::filesystem::path(name).stem().string();
    names.push_back(name);
  }
  if (names.empty()) fail(path, ": the list is empty");
  return names;
}

namespace {

// OpenCV decodes a truncated JPEG without failing (it warns and fills grey): a complete one
// ends with the end-of-image marker, give or take trailing padding.
void check_jpeg_complete(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = in.tellg();
  if (size < 4) fail(path, ": truncated JPEG");
  const std::streamoff tail = std::min<std::streamoff>(size, 4096);
  std::vector<unsigned char> end(static_cast<size_t>(tail));
  in.seekg(size - tail);
  in.read(reinterpret_cast<char*>(end.data()), tail);
  size_t last = end.size();
  while (last > 0 && (end[last - 1] == 0 || end[last - 1] == '\n' || end[last - 1] == '\r' || end[last - 1] == ' ')) --last;
  if (last < 2 || end[last - 2] != 0xFF || end[last - 1] != 0xD9) fail(path, ": truncated JPEG (no end-of-image marker)");
}

}  // namespace

std::vector<uint8_t> read_label_png(const std::string& path, int64_t& height, int64_t& width) {
  require_format(path, ImageFormat::png, "PNG");
  cv::Mat m = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (m.empty()) fail(path, ": not an image OpenCV can read (or damaged)");
  if (m.depth() != CV_8U) fail(path, ": label PNGs must have 8-bit channels");
  height = m.rows;
  width = m.cols;
  std::vector<uint8_t> labels(size_t(height * width));
  if (m.channels() == 1) {
    for (int y = 0; y < m.rows; ++y) std::copy_n(m.ptr<uint8_t>(y), m.cols, &labels[size_t(y) * m.cols]);
    return labels;
  }
  if (m.channels() != 3) fail(path, ": label PNG has ", m.channels(), " channels (expected grey indices or VOC colours)");
  std::unordered_map<uint32_t, uint8_t> index;
  for (int k = 0; k < 256; ++k) {
    auto c = voc_colour(k);
    index[uint32_t(c[0]) << 16 | c[1] << 8 | c[2]] = uint8_t(k);
  }
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x) {
      const uint8_t* bgr = m.ptr<uint8_t>(y) + x * 3;
      auto it = index.find(uint32_t(bgr[2]) << 16 | bgr[1] << 8 | bgr[0]);
      if (it == index.end())
        fail(path, ": colour (", int(bgr[2]), ", ", int(bgr[1]), ", ", int(bgr[0]), ") at y ", y, ", x ", x,
             " is not in the VOC palette");
      labels[size_t(y) * m.cols + x] = it->second;
    }
  return labels;
}

Sample read_voc_sample(const std::string& root, const std::string& label_dir, const std::string& name, int num_classes) {
  const std::string jpeg = root + "/JPEGImages/" + name + ".jpg", png = root + "/" + label_dir + "/" + name + ".png";
  if (!std::filesystem::exists(jpeg)) fail(jpeg, ": no such file (listed as '", name, "')");
  require_format(jpeg, ImageFormat::jpeg, "JPEG");
  check_jpeg_complete(jpeg);
  RgbImage img = read_rgb_image(jpeg);
  Sample s;
  s.name = name;
  s.height = img.height;
  s.width = img.width;
  s.rgb = std::move(img.rgb);
  int64_t lh = 0, lw = 0;
  s.labels = read_label_png(png, lh, lw);
  if (lh != s.height || lw != s.width)
    fail(png, ": label map is ", lh, " x ", lw, " but the image is ", s.height, " x ", s.width);
  validate_sample(s, num_classes, png);
  return s;
}

void write_voc_sample(const std::string& root, const Sample& s, int jpeg_quality) {
  std::filesystem::create_directories(root + "/JPEGImages");
  std::filesystem::create_directories(root + "/SegmentationClass");
  cv::Mat rgb(int(s.height), int(s.width), CV_8UC3, const_cast<uint8_t*>(s.rgb.data())), bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const std::string jpeg = root + "/JPEGImages/" + s.name + ".jpg";
  if (!cv::imwrite(jpeg, bgr, {cv::IMWRITE_JPEG_QUALITY, jpeg_quality})) fail(jpeg, ": cannot write");
  LabelMap labels(1, s.height, s.width);
  labels.data = s.labels;
  write_label_png(root + "/SegmentationClass/" + s.name + ".png", labels, LabelPalette::voc);
}

}  // namespace deeplab::data
