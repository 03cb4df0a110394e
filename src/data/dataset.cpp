#include "data/dataset.h"

#include <zlib.h>

#include <cstdio>

#include "core/error.h"

namespace deeplab::data {

namespace {
// CRC-32 of the pixels then the labels: checked on every read, so damage that HDF5 itself would
// pass over (a broken chunk index reads as zeros) is caught.
int64_t sample_crc(const Sample& s) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, s.rgb.data(), uInt(s.rgb.size()));
  crc = crc32(crc, s.labels.data(), uInt(s.labels.size()));
  return int64_t(crc);
}
}  // namespace

std::string entry_name(int64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "images/%06lld", (long long)index);
  return buf;
}

void validate_sample(const Sample& s, int num_classes, const std::string& where) {
  if (s.height < 1 || s.width < 1) fail(where, ": image '", s.name, "' is empty");
  if (s.rgb.size() != size_t(s.height * s.width * 3))
    fail(where, ": image '", s.name, "' has ", s.rgb.size(), " bytes for ", s.height, " x ", s.width, " x 3");
  if (s.labels.size() != size_t(s.height * s.width))
    fail(where, ": label map of '", s.name, "' is not ", s.height, " x ", s.width);
  for (size_t i = 0; i < s.labels.size(); ++i) {
    const int l = s.labels[i];
    if (l >= num_classes && l != kIgnoreLabel)
      fail(where, ": label map of '", s.name, "' has value ", l, " at y ", i / s.width, ", x ", i % s.width,
           " (classes are 0..", num_classes - 1, ", 255 = ignore)");
  }
}

DatasetWriter::DatasetWriter(const std::string& path, int num_classes, const std::vector<std::string>& class_names)
    : path_(path), num_classes_(num_classes), target_(std::make_unique<AtomicPath>(path)) {
  if (num_classes < 1 || num_classes > 255) fail(path, ": num_classes ", num_classes, " outside 1..255");
  if (!class_names.empty() && int(class_names.size()) != num_classes)
    fail(path, ": ", class_names.size(), " class names for ", num_classes, " classes");
  file_ = std::make_unique<h5::File>(h5::File::create(target_->temp()));
  file_->set_attr("/", "format", std::string(kDatasetFormat));
  file_->set_attr("/", "version", int64_t(kDatasetVersion));
  file_->set_attr("/", "num_classes", int64_t(num_classes));
  file_->set_attr("/", "ignore_label", int64_t(kIgnoreLabel));
  std::vector<std::string> names = class_names;
  for (int c = int(names.size()); c < num_classes; ++c) names.push_back("class" + std::to_string(c));
  file_->set_attr("/", "class_names", names);
}

void DatasetWriter::add(const Sample& s) {
  validate_sample(s, num_classes_, path_);
  const std::string entry = entry_name(count_);
  file_->write_bytes_compressed(entry + "/rgb", s.rgb.data(), {s.height, s.width, 3});
  file_->write_bytes_compressed(entry + "/label", s.labels.data(), {s.height, s.width});
  file_->set_attr(entry, "name", s.name);
  file_->set_attr(entry, "crc32", sample_crc(s));
  ++count_;
}

void DatasetWriter::commit() {
  file_->set_attr("/", "count", count_);
  file_->flush();
  file_.reset();
  target_->commit();
}

DatasetReader::DatasetReader(const std::string& path) : file_(h5::File::open_read(path)) {
  auto format = file_.attr_string("/", "format");
  if (!format || *format != kDatasetFormat)
    fail(path, ": not a deeplab dataset (attribute 'format' is ", format ? "'" + *format + "'" : std::string("missing"),
         ", expected '", kDatasetFormat, "')");
  auto version = file_.attr_int("/", "version");
  if (!version || *version > kDatasetVersion)
    fail(path, ": dataset format version ", version ? std::to_string(*version) : "missing", " is not supported");
  auto count = file_.attr_int("/", "count");
  auto classes = file_.attr_int("/", "num_classes");
  if (!count || *count < 0) fail(path, ": attribute 'count' is missing (an unfinished conversion?)");
  if (!classes || *classes < 1 || *classes > 255) fail(path, ": attribute 'num_classes' is missing or out of range");
  count_ = *count;
  num_classes_ = int(*classes);
  class_names_ = file_.attr_strings("/", "class_names").value_or(std::vector<std::string>{});
  if (int(class_names_.size()) != num_classes_)
    fail(path, ": ", class_names_.size(), " class names for ", num_classes_, " classes");
}

Sample DatasetReader::read(int64_t index) const {
  if (index < 0 || index >= count_) fail(path(), ": entry ", index, " out of range (", count_, " images)");
  const std::string entry = entry_name(index);
  Sample s;
  auto name = file_.attr_string(entry, "name");
  if (!name) fail(path(), ": entry '", entry, "' has no name");
  s.name = *name;
  // Shapes first: a damaged header must not make us allocate whatever it claims.
  const Shape rgb_shape = file_.shape_of(entry + "/rgb"), label_shape = file_.shape_of(entry + "/label");
  if (rgb_shape.size() != 3 || rgb_shape[2] != 3 || rgb_shape[0] < 1 || rgb_shape[1] < 1 || rgb_shape[0] > 65535 ||
      rgb_shape[1] > 65535)
    fail(path(), ": '", entry, "/rgb' is ", shape_str(rgb_shape), ", not H x W x 3 (H, W up to 65535)");
  if (label_shape != Shape{rgb_shape[0], rgb_shape[1]})
    fail(path(), ": '", entry, "/label' is ", shape_str(label_shape), " but the image is ", rgb_shape[0], " x ", rgb_shape[1]);
  s.rgb = file_.read_bytes(entry + "/rgb");
  s.labels = file_.read_bytes(entry + "/label");
  s.height = rgb_shape[0];
  s.width = rgb_shape[1];
  auto crc = file_.attr_int(entry, "crc32");
  if (!crc || *crc != sample_crc(s)) fail(path(), ": entry '", entry, "' (", s.name, ") fails its checksum: damaged file");
  validate_sample(s, num_classes_, path());
  return s;
}

}  // namespace deeplab::data
