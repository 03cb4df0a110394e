#include "data/dataset.h"

#include <zlib.h>

#include <cstdio>

#include "core/error.h"
#include "image/image_io.h"

namespace deeplab::data {

namespace {
// CRC-32 of the stored pixels (raw or JPEG) then the labels: checked on every read, so damage
// that HDF5 itself would pass over (a broken chunk index reads as zeros) is caught.
int64_t sample_crc(const EncodedSample& s) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, s.pixels.data(), uInt(s.pixels.size()));
  crc = crc32(crc, s.labels.data(), uInt(s.labels.size()));
  return int64_t(crc);
}

void check_side(int64_t side, const std::string& where, const std::string& entry, const char* what) {
  if (side < 1 || side > kMaxImageSide)
    fail(where, ": '", entry, "' has ", what, " ", side, " (1..", kMaxImageSide, " expected)");
}
}  // namespace

std::string entry_name(int64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "images/%06lld", (long long)index);
  return buf;
}

EncodedSample encode_raw(Sample s) {
  return EncodedSample{std::move(s.name), s.height, s.width, false, std::move(s.rgb), std::move(s.labels)};
}

Sample decode(EncodedSample e, const std::string& where) {
  Sample s{std::move(e.name), e.height, e.width, {}, std::move(e.labels)};
  if (!e.jpeg) {
    s.rgb = std::move(e.pixels);
    return s;
  }
  RgbImage image = decode_image(e.pixels.data(), e.pixels.size(), where + ": image '" + s.name + "'");
  if (image.height != s.height || image.width != s.width)
    fail(where, ": image '", s.name, "' decodes to ", image.width, "x", image.height, " but is recorded as ", s.width,
         "x", s.height, " (damaged file?)");
  s.rgb = std::move(image.rgb);
  return s;
}

void validate_labels(const std::string& name, const std::vector<uint8_t>& labels, int64_t height, int64_t width,
                     int num_classes, const std::string& where) {
  if (labels.empty()) return;
  if (num_classes == 0) fail(where, ": image '", name, "' has a label map but the data set's classes are not given");
  if (labels.size() != size_t(height * width)) fail(where, ": label map of '", name, "' is not ", height, " x ", width);
  for (size_t i = 0; i < labels.size(); ++i) {
    const int l = labels[i];
    if (l >= num_classes && l != kIgnoreLabel)
      fail(where, ": label map of '", name, "' has value ", l, " at y ", i / width, ", x ", i % width,
           " (classes are 0..", num_classes - 1, ", 255 = ignore)");
  }
}

void validate_sample(const Sample& s, int num_classes, const std::string& where) {
  if (s.height < 1 || s.width < 1) fail(where, ": image '", s.name, "' is empty");
  if (s.rgb.size() != size_t(s.height * s.width * 3))
    fail(where, ": image '", s.name, "' has ", s.rgb.size(), " bytes for ", s.height, " x ", s.width, " x 3");
  validate_labels(s.name, s.labels, s.height, s.width, num_classes, where);
}

DatasetWriter::DatasetWriter(const std::string& path, int num_classes, const std::vector<std::string>& class_names)
    : path_(path), num_classes_(num_classes), lock_(path) {
  if (num_classes < 0 || num_classes > 255) fail(path, ": num_classes ", num_classes, " outside 0..255");
  if (!class_names.empty() && int(class_names.size()) != num_classes)
    fail(path, ": ", class_names.size(), " class names for ", num_classes, " classes");
  out_ = std::make_unique<h5::NewFile>(path, kDatasetFormat, kDatasetVersion);
  out_->file().set_attr("/", "num_classes", int64_t(num_classes));
  out_->file().set_attr("/", "ignore_label", int64_t(kIgnoreLabel));
  std::vector<std::string> names = class_names;
  for (int c = int(names.size()); c < num_classes; ++c) names.push_back("class" + std::to_string(c));
  if (num_classes > 0) out_->file().set_attr("/", "class_names", names);
}

PreparedSample prepare(const EncodedSample& s, int num_classes, const std::string& where) {
  if (s.height < 1 || s.width < 1 || s.height > kMaxImageSide || s.width > kMaxImageSide)
    fail(where, ": image '", s.name, "' is ", s.width, "x", s.height, " (1..", kMaxImageSide, " a side)");
  if (!s.jpeg && s.pixels.size() != size_t(s.height * s.width * 3))
    fail(where, ": image '", s.name, "' has ", s.pixels.size(), " bytes for ", s.height, " x ", s.width, " x 3");
  if (s.jpeg && s.pixels.empty()) fail(where, ": image '", s.name, "' has no JPEG bytes");
  validate_labels(s.name, s.labels, s.height, s.width, num_classes, where);
  PreparedSample p{s.name, s.height, s.width, s.jpeg, !s.labels.empty(), s.jpeg ? int64_t(s.pixels.size()) : 0,
                   sample_crc(s), h5::filter_bytes(s.pixels.data(), s.pixels.size(), !s.jpeg), {}};
  if (p.labelled) p.labels = h5::filter_bytes(s.labels.data(), s.labels.size(), true);
  return p;
}

void DatasetWriter::add(const PreparedSample& s) {
  if (s.height < 1 || s.width < 1 || (s.labelled && num_classes_ == 0))
    fail(path_, ": image '", s.name, "' was prepared for another data set");
  const std::string entry = entry_name(count_);
  if (s.jpeg) {
    out_->file().write_filtered(entry + "/jpeg", s.pixels, {s.jpeg_size});
    out_->file().set_attr(entry, "height", s.height);
    out_->file().set_attr(entry, "width", s.width);
  } else {
    out_->file().write_filtered(entry + "/rgb", s.pixels, {s.height, s.width, 3});
  }
  if (s.labelled) out_->file().write_filtered(entry + "/label", s.labels, {s.height, s.width});
  out_->file().set_attr(entry, "name", s.name);
  out_->file().set_attr(entry, "crc32", s.crc);
  ++count_;
  labelled_ += s.labelled;
}

void DatasetWriter::commit() {
  out_->file().set_attr("/", "labelled", labelled_);
  out_->file().set_attr("/", "count", count_);
  out_->commit();
}

DatasetReader::DatasetReader(const std::string& path) : file_(h5::File::open_read(path)) {
  version_ = int(h5::check_format(file_, kDatasetFormat, "dataset", kDatasetVersion));
  auto count = file_.attr_int("/", "count");
  auto classes = file_.attr_int("/", "num_classes");
  if (!count || *count < 0) fail(path, ": attribute 'count' is missing (an unfinished conversion?)");
  const int min_classes = version_ == 1 ? 1 : 0;
  if (!classes || *classes < min_classes || *classes > 255) fail(path, ": attribute 'num_classes' is missing or out of range");
  count_ = *count;
  num_classes_ = int(*classes);
  // Version 1 had no unlabelled entries.
  auto labelled = version_ == 1 ? count : file_.attr_int("/", "labelled");
  if (!labelled || *labelled < 0 || *labelled > count_) fail(path, ": attribute 'labelled' is missing or out of range");
  labelled_ = *labelled;
  if (num_classes_ == 0 && labelled_ > 0) fail(path, ": ", labelled_, " labelled entries but no classes");
  if (num_classes_ > 0) {
    class_names_ = file_.attr_strings("/", "class_names").value_or(std::vector<std::string>{});
    if (int(class_names_.size()) != num_classes_)
      fail(path, ": ", class_names_.size(), " class names for ", num_classes_, " classes");
  }
}

void DatasetReader::require_labels(const std::string& job) const {
  if (labelled_ == count_) return;
  for (int64_t i = 0; i < count_; ++i)
    if (!file_.exists(entry_name(i) + "/label"))
      fail(path(), ": entry ", i, " ('", info(i).name, "') has no label map, and ", job, " needs one for every image (",
           labelled_, " of ", count_, " are labelled)");
  fail(path(), ": ", count_ - labelled_, " entries are recorded as unlabelled, but all have label maps (damaged file?)");
}

std::string DatasetReader::content_stamp() const {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (int64_t i = 0; i < count_; ++i) {
    const std::string entry = entry_name(i);
    const std::string name = file_.attr_string(entry, "name").value_or("");
    const int64_t checksum = file_.attr_int(entry, "crc32").value_or(-1);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(name.data()), uInt(name.size() + 1));  // with its terminator
    crc = crc32(crc, reinterpret_cast<const Bytef*>(&checksum), sizeof checksum);
  }
  char stamp[96];
  std::snprintf(stamp, sizeof stamp, "%lld images, CRC-32 %08lx of their names and checksums", (long long)count_,
                (unsigned long)crc);
  return stamp;
}

EntryInfo DatasetReader::info(int64_t index) const {
  if (index < 0 || index >= count_) fail(path(), ": entry ", index, " out of range (", count_, " images)");
  const std::string entry = entry_name(index);
  EntryInfo e;
  auto name = file_.attr_string(entry, "name");
  if (!name) fail(path(), ": entry '", entry, "' has no name");
  e.name = *name;
  e.jpeg = version_ >= 2 && file_.exists(entry + "/jpeg");
  if (e.jpeg) {
    const auto h = file_.attr_int(entry, "height"), w = file_.attr_int(entry, "width");
    if (!h || !w) fail(path(), ": entry '", entry, "' (", e.name, ") has no height or width");
    e.height = *h, e.width = *w;
    check_side(e.height, path(), entry, "height"), check_side(e.width, path(), entry, "width");
  } else {
    const Shape rgb = file_.shape_of(entry + "/rgb");
    if (rgb.size() != 3 || rgb[2] != 3) fail(path(), ": '", entry, "/rgb' is ", shape_str(rgb), ", not H x W x 3");
    e.height = rgb[0], e.width = rgb[1];
    check_side(e.height, path(), entry + "/rgb", "height"), check_side(e.width, path(), entry + "/rgb", "width");
  }
  e.labelled = version_ == 1 || file_.exists(entry + "/label");
  return e;
}

EncodedSample DatasetReader::read_encoded(int64_t index) const {
  // Shapes first: a damaged header must not make us allocate whatever it claims.
  const EntryInfo e = info(index);
  const std::string entry = entry_name(index);
  EncodedSample s{e.name, e.height, e.width, e.jpeg, {}, {}};
  if (e.labelled) {
    const Shape label_shape = file_.shape_of(entry + "/label");
    if (label_shape != Shape{e.height, e.width})
      fail(path(), ": '", entry, "/label' is ", shape_str(label_shape), " but the image is ", e.height, " x ", e.width);
  }
  if (e.jpeg) {
    const Shape jpeg_shape = file_.shape_of(entry + "/jpeg");
    if (jpeg_shape.size() != 1 || jpeg_shape[0] < 1 || jpeg_shape[0] > e.height * e.width * 3 + (int64_t(64) << 20))
      fail(path(), ": '", entry, "/jpeg' is ", shape_str(jpeg_shape), ", not the bytes of a ", e.width, "x", e.height, " JPEG");
  }
  s.pixels = file_.read_bytes(entry + (e.jpeg ? "/jpeg" : "/rgb"));
  if (e.labelled) s.labels = file_.read_bytes(entry + "/label");
  auto crc = file_.attr_int(entry, "crc32");
  if (!crc || *crc != sample_crc(s)) fail(path(), ": entry '", entry, "' (", s.name, ") fails its checksum: damaged file");
  validate_labels(s.name, s.labels, s.height, s.width, num_classes_, path());
  return s;
}

}  // namespace deeplab::data
