// Thin RAII layer over the HDF5 C API. Every failure becomes an Error naming the file and the
// entry; HDF5's own error stack printing is switched off so users see one clear line.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/atomic_path.h"
#include "core/tensor.h"

namespace deeplab::h5 {

// Owns one hid_t and closes it with the matching H5?close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Handle& operator=(Handle&& o) noexcept;
  ~Handle();
  hid_t get() const { return id_; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

inline constexpr int kDeflateLevel = 4;

// One whole array as a chunk filtered the way write_bytes_compressed (deflated) or
// write_bytes_stored stores it: a Fletcher-32 sum appended, then deflate. Made wherever the data
// is (a rank that decodes images), written by the rank that owns the file, which then only copies.
struct FilteredChunk {
  std::vector<uint8_t> bytes;
  bool deflated = true;
};
FilteredChunk filter_bytes(const uint8_t* bytes, size_t size, bool deflate);

class File {
 public:
  // Opens an existing file; a missing, truncated or non-HDF5 file is a clear error.
  static File open_read(const std::string& path);
  // Creates (truncates) a file for writing.
  static File create(const std::string& path);

  const std::string& path() const { return path_; }
  hid_t id() const { return file_.get(); }
  void flush();
  void close() { file_ = Handle(); }

  bool exists(const std::string& name) const;  // a dataset or group at this path ("a/b/c")
  void make_group(const std::string& name);     // and its parents; nothing when it exists

  void write_tensor(const std::string& name, const Tensor& t);  // float32, parent groups made
  Tensor read_tensor(const std::string& name) const;
  Shape shape_of(const std::string& name) const;
  // uint8 arrays, chunked (one chunk per dataset: images are read whole), deflate-compressed and
  // fletcher32-checksummed, so a damaged file is detected on read.
  void write_bytes_compressed(const std::string& name, const uint8_t* bytes, const Shape& shape);
  // The same without deflate, for bytes that are compressed already (a JPEG file's).
  void write_bytes_stored(const std::string& name, const uint8_t* bytes, const Shape& shape);
  // A uint8 array of this shape from its filtered chunk (filter_bytes).
  void write_filtered(const std::string& name, const FilteredChunk& chunk, const Shape& shape);
  std::vector<uint8_t> read_bytes(const std::string& name, Shape* shape = nullptr) const;
  // IEEE float16 values (bits from float_to_half), chunked, compressed and checksummed alike;
  // read back as float32 by read_tensor (h5py: numpy.float16).
  void write_half_compressed(const std::string& name, const uint16_t* bits, const Shape& shape);

  // Attributes on an object ("/" for the file itself).
  void set_attr(const std::string& object, const std::string& key, const std::string& value);
  void set_attr(const std::string& object, const std::string& key, int64_t value);
  void set_attr(const std::string& object, const std::string& key, double value);
  std::optional<std::string> attr_string(const std::string& object, const std::string& key) const;
  std::optional<int64_t> attr_int(const std::string& object, const std::string& key) const;
  std::optional<double> attr_double(const std::string& object, const std::string& key) const;
  // A list of strings as a 1-D attribute of variable-length UTF-8 strings (h5py reads a list).
  void set_attr(const std::string& object, const std::string& key, const std::vector<std::string>& values);
  std::optional<std::vector<std::string>> attr_strings(const std::string& object, const std::string& key) const;

 private:
  File(std::string path, Handle file) : path_(std::move(path)), file_(std::move(file)) {}
  void make_parents(const std::string& name);
  Handle open_object(const std::string& object) const;
  Handle open_attr(const std::string& object, const std::string& key) const;

  std::string path_;
  Handle file_;
};

}  // namespace deeplab::h5
