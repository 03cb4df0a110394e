#include "core/h5.h"

#include <cerrno>

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace deeplab::h5 {

namespace {
// Why a write failed, when the system said so (HDF5's own message does not): a full or
// read-only disk names itself; anything else adds nothing.
std::string write_cause() {
  switch (errno) {
    case ENOSPC: return ": no space left on device";
    case EDQUOT: return ": disk quota exceeded";
    case EROFS: return ": read-only file system";
    case EFBIG: return ": file too large for the file system";
    case EIO: return ": input/output error";
    default: return "";
  }
}
}  // namespace

namespace {

// HDF5 prints its error stack to stderr by default; we report our own messages instead. And at
// exit it closes whatever is still open, where a file whose last flush failed (a full disk)
// crashed it (SIGSEGV in H5F__close_cb): every file here is closed by its owner, so that
// clean-up is switched off (before the library starts, as H5dont_atexit requires).
struct Hdf5Settings {
  Hdf5Settings() {
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
};
const Hdf5Settings settings_once;

std::vector<std::string> split_path(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string::npos) slash = name.size();
    if (slash > start) parts.push_back(name.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

}  // namespace

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0 && close_) close_(id_);
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
  }
  return *this;
}

Handle::~Handle() {
  if (id_ >= 0 && close_) close_(id_);
}

File File::open_read(const std::string& path) {
  (void)settings_once;
  if (!std::filesystem::exists(path)) fail(path, ": no such file");
  if (std::filesystem::is_directory(path)) fail(path, ": is a folder, not an HDF5 file");
  // HDF5 reads by seeking: a pipe or device would block or fail deep inside the library.
  if (!std::filesystem::is_regular_file(path)) fail(path, ": not a regular file (a pipe or device?): HDF5 needs a file");
  if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, ": not an HDF5 file (or truncated)");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) fail(path, ": cannot open as HDF5 (truncated or damaged?)");
  return File(path, Handle(id, H5Fclose));
}

File File::create(const std::string& path) {
  // HDF5 1.10's file format: an array stored as one chunk needs no B-tree (the 1.8 format gave
  // each a 2 kB index node, as much as a small JPEG entry itself), and object headers carry
  // checksums. Fixed bounds, so the same content gives the same bytes.
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose), fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_V110);
  H5Pset_obj_track_times(fcpl.get(), 0);  // the root group's header, too, without timestamps
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get());
  if (id < 0) fail(path, ": cannot create HDF5 file", write_cause());
  return File(path, Handle(id, H5Fclose));
}

void File::flush() {
  if (H5Fflush(id(), H5F_SCOPE_GLOBAL) < 0) fail(path_, ": flush failed", write_cause());
}

bool File::exists(const std::string& name) const {
  std::string so_far;
  for (const std::string& part : split_path(name)) {
    so_far += "/" + part;
    if (H5Lexists(id(), so_far.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

void File::make_group(const std::string& name) { make_parents(name + "/_"); }

void File::make_parents(const std::string& name) {
  auto parts = split_path(name);
  std::string so_far;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    so_far += "/" + parts[i];
    if (H5Lexists(id(), so_far.c_str(), H5P_DEFAULT) > 0) continue;
    Handle gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
    H5Pset_obj_track_times(gcpl.get(), 0);  // no timestamps: the same content gives the same bytes
    Handle g(H5Gcreate2(id(), so_far.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
    if (g.get() < 0) fail(path_, ": cannot create group '", so_far, "'", write_cause());
  }
}

namespace {
Handle make_space(const Shape& shape) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  return Handle(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
}
// HDF5 trusts a dataset's layout message; a damaged one (chunks larger than the data) makes
// its reader copy out of bounds. Check it before reading.
void check_layout(hid_t ds, const Shape& shape, const std::string& path, const std::string& name) {
  Handle plist(H5Dget_create_plist(ds), H5Pclose);
  if (plist.get() < 0) fail(path, ": entry '", name, "': unreadable storage properties");
  const H5D_layout_t layout = H5Pget_layout(plist.get());
  if (layout == H5D_CHUNKED) {
    std::vector<hsize_t> chunk(32);
    const int rank = H5Pget_chunk(plist.get(), int(chunk.size()), chunk.data());
    bool ok = rank == int(shape.size());
    for (int i = 0; ok && i < rank; ++i) ok = chunk[i] >= 1 && int64_t(chunk[i]) <= std::max<int64_t>(shape[i], 1);
    if (!ok) fail(path, ": entry '", name, "': chunk layout does not fit its shape (damaged file?)");
    // Each chunk records which of its filters were skipped; ours skip none. A damaged record
    // would have HDF5 hand back the stored bytes unchecked (checksum and decompression skipped).
    // Every chunk must be there (we write all of them) at a proper place: a damaged index
    // entry would otherwise read as the fill value, silently.
    Handle space(H5Dget_space(ds), H5Sclose);
    hsize_t chunks = 0, expected = 1;
    for (int i = 0; i < rank; ++i) expected *= (hsize_t(std::max<int64_t>(shape[i], 1)) + chunk[i] - 1) / chunk[i];
    if (H5Dget_num_chunks(ds, space.get(), &chunks) < 0 || (shape_numel(shape) > 0 && chunks != expected))
      fail(path, ": entry '", name, "': ", chunks, " chunks stored of ", expected, " (damaged file?)");
    for (hsize_t c = 0; c < chunks; ++c) {
      std::vector<hsize_t> origin(rank);
      unsigned mask = 0;
      haddr_t addr = 0;
      hsize_t size = 0;
      bool bad = H5Dget_chunk_info(ds, space.get(), c, origin.data(), &mask, &addr, &size) < 0 || mask != 0 || size == 0;
      for (int i = 0; !bad && i < rank; ++i) bad = origin[i] % chunk[i] != 0 || int64_t(origin[i]) >= shape[i];
      if (bad) fail(path, ": entry '", name, "': chunk ", c, " is damaged");
    }
  } else if (layout != H5D_CONTIGUOUS && layout != H5D_COMPACT) {
    fail(path, ": entry '", name, "': unsupported storage layout");
  }
  // Every array we write is stored in full. With its chunk index damaged, HDF5 would read a
  // never-written chunk as the fill value, without a word: refuse instead.
  if (shape_numel(shape) > 0 && H5Dget_storage_size(ds) == 0)
    fail(path, ": entry '", name, "' has no data stored (damaged file?)");
}

}  // namespace

void File::write_tensor(const std::string& name, const Tensor& t) {
  make_parents(name);
  Tensor host = t.device() == Device::cpu ? t : t.to(Device::cpu);
  Handle space = make_space(host.shape());
  Handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(plist.get(), 0);
  Handle ds(H5Dcreate2(id(), name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT),
            H5Dclose);
  if (ds.get() < 0) fail(path_, ": cannot create dataset '", name, "'", write_cause());
  if (H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host.data()) < 0)
    fail(path_, ": cannot write dataset '", name, "'", write_cause());
}

Shape File::shape_of(const std::string& name) const {
  if (!exists(name)) fail(path_, ": entry '", name, "' is missing");
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0) fail(path_, ": entry '", name, "' is not a dataset");
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(path_, ": entry '", name, "': unreadable shape");
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  // A damaged header can claim anything; refuse sizes no file of ours has (2^34 elements).
  double total = 1;
  for (hsize_t d : dims) total *= double(d);
  if (total > double(int64_t(1) << 34)) fail(path_, ": entry '", name, "' claims an implausible size (damaged file?)");
  return Shape(dims.begin(), dims.end());
}

Tensor File::read_tensor(const std::string& name) const {
  const Shape shape = shape_of(name);
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  check_layout(ds.get(), shape, path_, name);  // before allocating what the header claims
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  // IEEE float32 or float64 exactly, or a plain 16-bit float (as h5py writes numpy.float16).
  const bool plain16 = H5Tget_class(type.get()) == H5T_FLOAT && H5Tget_size(type.get()) == 2 &&
                       H5Tget_precision(type.get()) == 16 && H5Tget_offset(type.get()) == 0;
  if (H5Tequal(type.get(), H5T_IEEE_F32LE) <= 0 && H5Tequal(type.get(), H5T_IEEE_F64LE) <= 0 && !plain16)
    fail(path_, ": entry '", name, "' is not floating point (float16, float32 or float64)");
  Tensor t(shape);
  if (H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data()) < 0)
    fail(path_, ": entry '", name, "': read failed (truncated or damaged file?)");
  return t;
}

namespace {
// One chunk per dataset (entries are read whole), deflate (unless the data is compressed
// already), fletcher32, no timestamps.
Handle compressed_layout(const Shape& shape, bool deflate = true) {
  std::vector<hsize_t> chunk(shape.begin(), shape.end());
  for (hsize_t& c : chunk) c = std::max<hsize_t>(c, 1);
  Handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(plist.get(), int(chunk.size()), chunk.data());
  H5Pset_fletcher32(plist.get());
  if (deflate) H5Pset_deflate(plist.get(), kDeflateLevel);
  H5Pset_obj_track_times(plist.get(), 0);
  return plist;
}

// HDF5's Fletcher-32 (H5_checksum_fletcher32): 16-bit big-endian words, sums folded every 360
// words, a trailing odd byte as the high half of a word.
uint32_t fletcher32(const uint8_t* data, size_t size) {
  uint32_t sum1 = 0, sum2 = 0;
  for (size_t words = size / 2; words > 0;) {
    size_t n = std::min<size_t>(words, 360);
    words -= n;
    for (; n > 0; --n, data += 2) {
      sum1 += uint32_t(data[0]) << 8 | data[1];
      sum2 += sum1;
    }
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  if (size % 2) {
    sum1 += uint32_t(*data) << 8;
    sum2 += sum1;
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  return sum2 << 16 | sum1;
}
}  // namespace

FilteredChunk filter_bytes(const uint8_t* bytes, size_t size, bool deflate) {
  // The pipeline runs in the order the filters were set: Fletcher-32 (its sum appended, little
  // endian), then deflate.
  std::vector<uint8_t> summed(size + 4);
  if (size > 0) std::memcpy(summed.data(), bytes, size);
  const uint32_t sum = fletcher32(bytes, size);
  for (int k = 0; k < 4; ++k) summed[size + size_t(k)] = uint8_t(sum >> (8 * k));
  if (!deflate) return FilteredChunk{std::move(summed), false};
  uLongf packed_size = compressBound(uLong(summed.size()));
  std::vector<uint8_t> packed(packed_size);
  if (compress2(packed.data(), &packed_size, summed.data(), uLong(summed.size()), kDeflateLevel) != Z_OK)
    fail("deflate failed on ", size, " bytes");
  packed.resize(packed_size);
  return FilteredChunk{std::move(packed), true};
}

void File::write_filtered(const std::string& name, const FilteredChunk& chunk, const Shape& shape) {
  make_parents(name);
  Handle space = make_space(shape);
  Handle plist = compressed_layout(shape, chunk.deflated);
  Handle ds(H5Dcreate2(id(), name.c_str(), H5T_STD_U8LE, space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT), H5Dclose);
  const std::vector<hsize_t> origin(shape.size(), 0);
  if (ds.get() < 0 ||
      (shape_numel(shape) > 0 &&
       H5Dwrite_chunk(ds.get(), H5P_DEFAULT, 0, origin.data(), chunk.bytes.size(), chunk.bytes.data()) < 0))
    fail(path_, ": cannot write dataset '", name, "'", write_cause());
}

void File::write_bytes_compressed(const std::string& name, const uint8_t* bytes, const Shape& shape) {
  write_filtered(name, filter_bytes(bytes, size_t(shape_numel(shape)), true), shape);
}

void File::write_bytes_stored(const std::string& name, const uint8_t* bytes, const Shape& shape) {
  write_filtered(name, filter_bytes(bytes, size_t(shape_numel(shape)), false), shape);
}

void File::write_half_compressed(const std::string& name, const uint16_t* bits, const Shape& shape) {
  make_parents(name);
  Handle space = make_space(shape);
  Handle plist = compressed_layout(shape);
  // IEEE binary16, little-endian: sign bit 15, exponent bits 10-14 (bias 15), mantissa bits 0-9.
  Handle type(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
  H5Tset_fields(type.get(), 15, 10, 5, 0, 10);
  H5Tset_size(type.get(), 2);
  H5Tset_precision(type.get(), 16);
  H5Tset_ebias(type.get(), 15);
  Handle ds(H5Dcreate2(id(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0 || H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, bits) < 0)
    fail(path_, ": cannot write dataset '", name, "'", write_cause());
}

std::vector<uint8_t> File::read_bytes(const std::string& name, Shape* shape) const {
  Shape s = shape_of(name);
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  check_layout(ds.get(), s, path_, name);  // before allocating what the header claims
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  // Exactly the type we write: a damaged type (say, padding bits set) would be "converted".
  if (H5Tequal(type.get(), H5T_STD_U8LE) <= 0) fail(path_, ": entry '", name, "' is not an array of bytes");
  std::vector<uint8_t> bytes(shape_numel(s));
  if (H5Dread(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()) < 0)
    fail(path_, ": entry '", name, "': read failed (truncated or damaged file?)");
  if (shape) *shape = s;
  return bytes;
}

Handle File::open_object(const std::string& object) const {
  Handle o(H5Oopen(id(), object.c_str(), H5P_DEFAULT), H5Oclose);
  if (o.get() < 0) fail(path_, ": no object '", object, "'");
  return o;
}

void File::set_attr(const std::string& object, const std::string& key, const std::string& value) {
  Handle o = open_object(object);
  // Fixed-length UTF-8, stored inside the attribute itself. (Variable-length strings live in
  // HDF5's global heap, and a damaged heap crashes the library's reader. h5py reads these as
  // bytes: .decode().)
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<size_t>(value.size(), 1));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (H5Aexists(o.get(), key.c_str()) > 0) H5Adelete(o.get(), key.c_str());
  Handle a(H5Acreate2(o.get(), key.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::string padded = value;
  padded.resize(std::max<size_t>(value.size(), 1), '\0');
  if (a.get() < 0 || H5Awrite(a.get(), type.get(), padded.data()) < 0)
    fail(path_, ": cannot write attribute '", key, "' on '", object, "'", write_cause());
}

namespace {
template <typename T>
void write_scalar_attr(hid_t obj, const std::string& path, const std::string& object, const std::string& key,
                       hid_t file_type, hid_t mem_type, T value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (H5Aexists(obj, key.c_str()) > 0) H5Adelete(obj, key.c_str());
  Handle a(H5Acreate2(obj, key.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (a.get() < 0 || H5Awrite(a.get(), mem_type, &value) < 0)
    fail(path, ": cannot write attribute '", key, "' on '", object, "'", write_cause());
}
}  // namespace

void File::set_attr(const std::string& object, const std::string& key, int64_t value) {
  write_scalar_attr(open_object(object).get(), path_, object, key, H5T_STD_I64LE, H5T_NATIVE_INT64, value);
}

void File::set_attr(const std::string& object, const std::string& key, double value) {
  write_scalar_attr(open_object(object).get(), path_, object, key, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, value);
}

Handle File::open_attr(const std::string& object, const std::string& key) const {
  if (!exists(object) && object != "/") return Handle();
  Handle o = open_object(object);
  if (H5Aexists(o.get(), key.c_str()) <= 0) return Handle();
  Handle a(H5Aopen(o.get(), key.c_str(), H5P_DEFAULT), H5Aclose);
  // Every attribute we read is a single value; reading an array into one would overrun it.
  Handle space(H5Aget_space(a.get()), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    fail(path_, ": attribute '", key, "' on '", object, "' must be a single value, not an array");
  return a;
}

std::optional<std::string> File::attr_string(const std::string& object, const std::string& key) const {
  Handle a = open_attr(object, key);
  if (a.get() < 0) return std::nullopt;
  Handle type(H5Aget_type(a.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) fail(path_, ": attribute '", key, "' on '", object, "' is not a string");
  if (H5Tis_variable_str(type.get()) > 0) {
    char* s = nullptr;  // read with the file's own string type: no character set conversion
    if (H5Aread(a.get(), type.get(), &s) < 0 || !s) fail(path_, ": attribute '", key, "' unreadable");
    std::string out(s);
    H5free_memory(s);
    return out;
  }
  size_t size = H5Tget_size(type.get());
  if (size == 0 || size > (1u << 20)) fail(path_, ": attribute '", key, "' on '", object, "' has an implausible size");
  std::string out(size, '\0');
  if (H5Aread(a.get(), type.get(), out.data()) < 0) fail(path_, ": attribute '", key, "' unreadable");
  out.resize(out.find('\0') == std::string::npos ? size : out.find('\0'));
  return out;
}

namespace {
template <typename T>
std::optional<T> read_scalar_attr(hid_t attr, hid_t mem_type, const std::string& path, const std::string& object,
                                  const std::string& key, const char* expected) {
  if (attr < 0) return std::nullopt;
  T v{};
  if (H5Aread(attr, mem_type, &v) < 0) fail(path, ": attribute '", key, "' on '", object, "' is not ", expected);
  return v;
}
}  // namespace

std::optional<int64_t> File::attr_int(const std::string& object, const std::string& key) const {
  return read_scalar_attr<int64_t>(open_attr(object, key).get(), H5T_NATIVE_INT64, path_, object, key, "an integer");
}

std::optional<double> File::attr_double(const std::string& object, const std::string& key) const {
  return read_scalar_attr<double>(open_attr(object, key).get(), H5T_NATIVE_DOUBLE, path_, object, key, "a number");
}

void File::set_attr(const std::string& object, const std::string& key, const std::vector<std::string>& values) {
  // Fixed-length, like single strings (see above): padded to the longest.
  Handle o = open_object(object);
  size_t longest = 1;
  for (const std::string& v : values) longest = std::max(longest, v.size());
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), longest);
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  if (H5Aexists(o.get(), key.c_str()) > 0) H5Adelete(o.get(), key.c_str());
  Handle a(H5Acreate2(o.get(), key.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::string packed(values.size() * longest, '\0');
  for (size_t i = 0; i < values.size(); ++i) packed.replace(i * longest, values[i].size(), values[i]);
  if (a.get() < 0 || H5Awrite(a.get(), type.get(), packed.data()) < 0)
    fail(path_, ": cannot write attribute '", key, "' on '", object, "'", write_cause());
}

std::optional<std::vector<std::string>> File::attr_strings(const std::string& object, const std::string& key) const {
  if (!exists(object) && object != "/") return std::nullopt;
  Handle o = open_object(object);
  if (H5Aexists(o.get(), key.c_str()) <= 0) return std::nullopt;
  Handle a(H5Aopen(o.get(), key.c_str(), H5P_DEFAULT), H5Aclose);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  Handle space(H5Aget_space(a.get()), H5Sclose);
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  const size_t width = H5Tget_size(type.get());
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0 || n < 0 || n > 100000 ||
      width == 0 || width > 4096)
    fail(path_, ": attribute '", key, "' on '", object, "' is not a list of strings");
  std::string packed(size_t(n) * width, '\0');
  if (n > 0 && H5Aread(a.get(), type.get(), packed.data()) < 0) fail(path_, ": attribute '", key, "' unreadable");
  std::vector<std::string> out;
  for (hssize_t i = 0; i < n; ++i) {
    std::string v = packed.substr(size_t(i) * width, width);
    out.push_back(v.substr(0, v.find('\0')));
  }
  return out;
}

}  // namespace deeplab::h5
