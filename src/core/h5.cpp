#include "core/h5.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"

namespace deeplab::h5 {
namespace {

// HDF5 prints its error stack to stderr by default; we report our own messages instead.
struct SilenceHdf5 {
  SilenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const SilenceHdf5 silence_once;

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
  (void)silence_once;
  if (!std::filesystem::exists(path)) fail(path, ": no such file");
  if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, ": not an HDF5 file (or truncated)");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) fail(path, ": cannot open as HDF5 (truncated or damaged?)");
  return File(path, Handle(id, H5Fclose));
}

File File::create(const std::string& path) {
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) fail(path, ": cannot create HDF5 file");
  return File(path, Handle(id, H5Fclose));
}

void File::flush() {
  if (H5Fflush(id(), H5F_SCOPE_GLOBAL) < 0) fail(path_, ": flush failed");
}

bool File::exists(const std::string& name) const {
  std::string so_far;
  for (const std::string& part : split_path(name)) {
    so_far += "/" + part;
    if (H5Lexists(id(), so_far.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

std::vector<std::string> File::children(const std::string& group) const {
  Handle g(H5Gopen2(id(), group.c_str(), H5P_DEFAULT), H5Gclose);
  if (g.get() < 0) fail(path_, ": no group '", group, "'");
  std::vector<std::string> names;
  H5Literate(
      g.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->push_back(name);
        return 0;
      },
      &names);
  return names;
}

void File::make_parents(const std::string& name) {
  auto parts = split_path(name);
  std::string so_far;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    so_far += "/" + parts[i];
    if (H5Lexists(id(), so_far.c_str(), H5P_DEFAULT) > 0) continue;
    Handle g(H5Gcreate2(id(), so_far.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (g.get() < 0) fail(path_, ": cannot create group '", so_far, "'");
  }
}

namespace {
Handle make_space(const Shape& shape) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  return Handle(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
}
}  // namespace

void File::write_tensor(const std::string& name, const Tensor& t) {
  make_parents(name);
  Tensor host = t.device() == Device::cpu ? t : t.to(Device::cpu);
  Handle space = make_space(host.shape());
  Handle ds(H5Dcreate2(id(), name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose);
  if (ds.get() < 0) fail(path_, ": cannot create dataset '", name, "'");
  if (H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host.data()) < 0)
    fail(path_, ": cannot write dataset '", name, "'");
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
  return Shape(dims.begin(), dims.end());
}

Tensor File::read_tensor(const std::string& name) const {
  Tensor t(shape_of(name));
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_FLOAT) fail(path_, ": entry '", name, "' is not floating point");
  if (H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data()) < 0)
    fail(path_, ": entry '", name, "': read failed (truncated or damaged file?)");
  return t;
}

void File::write_bytes(const std::string& name, const std::vector<uint8_t>& bytes, const Shape& shape) {
  make_parents(name);
  Handle space = make_space(shape);
  Handle ds(H5Dcreate2(id(), name.c_str(), H5T_STD_U8LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            H5Dclose);
  if (ds.get() < 0 || H5Dwrite(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()) < 0)
    fail(path_, ": cannot write dataset '", name, "'");
}

std::vector<uint8_t> File::read_bytes(const std::string& name, Shape* shape) const {
  Shape s = shape_of(name);
  std::vector<uint8_t> bytes(shape_numel(s));
  Handle ds(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), H5Dclose);
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
  // Variable-length UTF-8, as h5py writes strings: h5py then reads them back as str.
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (H5Aexists(o.get(), key.c_str()) > 0) H5Adelete(o.get(), key.c_str());
  Handle a(H5Acreate2(o.get(), key.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* text = value.c_str();
  if (a.get() < 0 || H5Awrite(a.get(), type.get(), &text) < 0)
    fail(path_, ": cannot write attribute '", key, "' on '", object, "'");
}

namespace {
template <typename T>
void write_scalar_attr(hid_t obj, const std::string& path, const std::string& object, const std::string& key,
                       hid_t file_type, hid_t mem_type, T value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (H5Aexists(obj, key.c_str()) > 0) H5Adelete(obj, key.c_str());
  Handle a(H5Acreate2(obj, key.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (a.get() < 0 || H5Awrite(a.get(), mem_type, &value) < 0)
    fail(path, ": cannot write attribute '", key, "' on '", object, "'");
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

AtomicPath::AtomicPath(std::string final_path)
    : final_(std::move(final_path)), temp_(final_ + ".tmp." + std::to_string(getpid())) {}

AtomicPath::~AtomicPath() {
  if (!committed_) std::remove(temp_.c_str());
}

void AtomicPath::commit() {
  int fd = ::open(temp_.c_str(), O_RDONLY);
  if (fd < 0) fail(temp_, ": cannot reopen to sync");
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail(temp_, ": fsync failed");
  if (std::rename(temp_.c_str(), final_.c_str()) != 0) fail(final_, ": cannot rename ", temp_, " into place");
  committed_ = true;
}

}  // namespace deeplab::h5
