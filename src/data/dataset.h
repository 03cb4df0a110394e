// The dataset file (HDF5): one file per split, one entry per image, read by index without
// touching the rest.
//   attributes   format = "deeplab-dataset", version = 1, count, num_classes,
//                class_names (list of strings), ignore_label = 255
//   /images/000000/rgb     H x W x 3 uint8 (RGB), chunked, deflate, fletcher32
//   /images/000000/label   H x W uint8 (class index; 255 = ignore), same storage
//   /images/000000         attributes name (the image's name, e.g. "2007_000032") and crc32
//                          (CRC-32 of the rgb bytes then the label bytes, checked on read)
// Writes go to a temporary file renamed into place by commit(): a failed or interrupted
// conversion leaves nothing behind.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/h5.h"
#include "core/label_map.h"

namespace deeplab::data {

inline constexpr const char* kDatasetFormat = "deeplab-dataset";
inline constexpr int kDatasetVersion = 1;

struct Sample {
  std::string name;
  int64_t height = 0, width = 0;
  std::vector<uint8_t> rgb;     // H x W x 3
  std::vector<uint8_t> labels;  // H x W
};

// Throws Error naming the sample when its sizes disagree or a label is neither a class nor 255.
void validate_sample(const Sample& s, int num_classes, const std::string& where);

class DatasetWriter {
 public:
  DatasetWriter(const std::string& path, int num_classes, const std::vector<std::string>& class_names);
  void add(const Sample& sample);
  int64_t count() const { return count_; }
  // Writes the count, flushes, fsyncs and renames into place.
  void commit();

 private:
  std::string path_;
  int num_classes_;
  std::unique_ptr<AtomicPath> target_;
  std::unique_ptr<h5::File> file_;
  int64_t count_ = 0;
};

class DatasetReader {
 public:
  explicit DatasetReader(const std::string& path);  // a foreign or damaged file is a clear error
  int64_t size() const { return count_; }
  int num_classes() const { return num_classes_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::string& path() const { return file_.path(); }
  Sample read(int64_t index) const;

 private:
  h5::File file_;
  int64_t count_ = 0;
  int num_classes_ = 0;
  std::vector<std::string> class_names_;
};

// The HDF5 group of entry i: "images/000042".
std::string entry_name(int64_t index);

}  // namespace deeplab::data
