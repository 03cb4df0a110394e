#include "data/voc.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/text_file.h"
#include "image/image_io.h"

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

void write_voc_sample(const std::string& root, const Sample& s, int jpeg_quality) {
  std::filesystem::create_directories(root + "/JPEGImages");
  const std::string jpeg = root + "/JPEGImages/" + s.name + ".jpg";
  const std::vector<uint8_t> bytes = encode_jpeg(RgbImage{s.height, s.width, s.rgb}, jpeg_quality, jpeg);
  write_file(jpeg, bytes.data(), bytes.size());
  if (!s.labelled()) return;
  std::filesystem::create_directories(root + "/SegmentationClass");
  LabelMap labels(1, s.height, s.width);
  labels.data = s.labels;
  write_label_png(root + "/SegmentationClass/" + s.name + ".png", labels, LabelPalette::voc);
}

void write_voc_folder(const std::string& dataset_path, const std::string& root, const std::string& list) {
  std::filesystem::create_directories(root + "/ImageSets/Segmentation");
  DatasetReader dataset(dataset_path);
  std::string names;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    const Sample sample = dataset.read(i);
    write_voc_sample(root, sample);
    names += sample.name + "\n";
  }
  write_file(root + "/ImageSets/Segmentation/" + list + ".txt", names);  // whole or not at all
}

}  // namespace deeplab::data
