// The dataset file (HDF5): one file per split or collection, one entry per image, read by index
// without touching the rest.
//   attributes   format = "deeplab-dataset", version = 2, count, labelled (entries with a label
//                map), num_classes (0: not given, allowed only when no entry is labelled),
//                class_names (list of strings, when num_classes > 0), ignore_label = 255
//   /images/000000/rgb     H x W x 3 uint8 (RGB), chunked, deflate, fletcher32     -- or --
//   /images/000000/jpeg    the source JPEG file's bytes, chunked, fletcher32 (not deflated)
//   /images/000000/label   H x W uint8 (class index; 255 = ignore), like rgb; absent: unlabelled
//   /images/000000         attributes name (e.g. "2007_000032" or "survey/site4/img_0012"),
//                          crc32 (CRC-32 of the rgb or jpeg bytes, then the label bytes, checked
//                          on read); height and width (jpeg entries)
// Version 1 files (every entry labelled, pixels raw) read as they are.
// Writes go to a temporary file renamed into place by commit(): a failed or interrupted
// conversion leaves nothing behind.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/h5_file_format.h"
#include "core/output_lock.h"
#include "core/label_map.h"

namespace deeplab::data {

inline constexpr const char* kDatasetFormat = "deeplab-dataset";
inline constexpr int kDatasetVersion = 2;

// An image with its label map, decoded.
struct Sample {
  std::string name;
  int64_t height = 0, width = 0;
  std::vector<uint8_t> rgb;     // H x W x 3
  std::vector<uint8_t> labels;  // H x W, or empty: the image is unlabelled
  bool labelled() const { return !labels.empty(); }
};

// An entry as stored: raw pixels, or the bytes of the JPEG file it came from.
struct EncodedSample {
  std::string name;
  int64_t height = 0, width = 0;
  bool jpeg = false;            // pixels: a JPEG file's bytes; otherwise H x W x 3 RGB
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;  // H x W, or empty
};

EncodedSample encode_raw(Sample sample);
// The pixels of a JPEG entry decoded; an entry whose JPEG does not decode to its recorded size
// is an error naming `where` and the entry.
Sample decode(EncodedSample sample, const std::string& where);

// Throws Error naming the sample when its sizes disagree or a label is neither a class nor 255.
// num_classes 0 (classes not given) admits no label map.
void validate_sample(const Sample& s, int num_classes, const std::string& where);
void validate_labels(const std::string& name, const std::vector<uint8_t>& labels, int64_t height, int64_t width,
                     int num_classes, const std::string& where);

// An entry ready for the file: checked, its arrays filtered as the file stores them
// (h5::filter_bytes) and its checksum taken. Deflating is the costly part of writing, so the
// rank that decoded an image prepares it, and the rank that writes the file only copies.
struct PreparedSample {
  std::string name;
  int64_t height = 0, width = 0;
  bool jpeg = false, labelled = false;
  int64_t jpeg_size = 0;  // bytes of the JPEG file, for jpeg entries
  int64_t crc = 0;
  h5::FilteredChunk pixels, labels;
};
PreparedSample prepare(const EncodedSample& sample, int num_classes, const std::string& where);

class DatasetWriter {
 public:
  // num_classes 0: an unlabelled collection whose classes are not known (the model's count is
  // taken when it is segmented).
  DatasetWriter(const std::string& path, int num_classes, const std::vector<std::string>& class_names);
  void add(const Sample& sample) { add(encode_raw(sample)); }
  void add(const EncodedSample& sample) { add(prepare(sample, num_classes_, path_)); }
  void add(const PreparedSample& sample);  // prepared for this writer's class count
  int64_t count() const { return count_; }
  // Writes the counts, flushes, fsyncs and renames into place.
  void commit();

 private:
  std::string path_;
  int num_classes_;
  OutputLock lock_;  // first: no second writer of this path starts its work
  std::unique_ptr<h5::NewFile> out_;
  int64_t count_ = 0, labelled_ = 0;
};

// What an entry is, without reading its pixels.
struct EntryInfo {
  std::string name;
  int64_t height = 0, width = 0;
  bool labelled = false, jpeg = false;
};

class DatasetReader {
 public:
  explicit DatasetReader(const std::string& path);  // a foreign or damaged file is a clear error
  int64_t size() const { return count_; }
  int64_t labelled() const { return labelled_; }
  int num_classes() const { return num_classes_; }  // 0: not given (no entry is labelled)
  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::string& path() const { return file_.path(); }
  int version() const { return version_; }
  // For the jobs that score against the truth (evaluate, train, crf-sweep): an error naming the
  // file, `job` and the first entry without a label map, unless every entry has one.
  void require_labels(const std::string& job) const;

  EntryInfo info(int64_t index) const;
  // What the file holds, without reading its pixels: "N images, CRC-32 XXXXXXXX of their names
  // and checksums". The same content rewritten (make-scenes run again) gives the same stamp; other
  // scenes copied to the same path do not. For the settings of resumable jobs.
  std::string content_stamp() const;
  Sample read(int64_t index) const { return decode(read_encoded(index), path()); }
  // The entry as stored, checksum checked; decode() makes a Sample of it. Readers that share
  // the file between threads hold a lock for this part only (HDF5 is not thread-safe here).
  EncodedSample read_encoded(int64_t index) const;

 private:
  h5::File file_;
  int version_ = 0;
  int64_t count_ = 0, labelled_ = 0;
  int num_classes_ = 0;
  std::vector<std::string> class_names_;
};

// The HDF5 group of entry i: "images/000042".
std::string entry_name(int64_t index);

}  // namespace deeplab::data
