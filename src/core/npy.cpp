#include "core/npy.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <vector>

#include "core/atomic_path.h"
#include "core/error.h"
#include "core/half.h"

namespace deeplab {

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open");
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) fail(path, ": not a NumPy .npy file");
  const int major = uint8_t(magic[6]);
  uint32_t header_len = 0;
  if (major == 1) {
    uint8_t b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | b[1] << 8;
  } else if (major == 2 || major == 3) {
    uint8_t b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | b[1] << 8 | b[2] << 16 | uint32_t(b[3]) << 24;
  } else {
    fail(path, ": .npy format version ", major, " is not supported");
  }
  if (!in || header_len > (1u << 20)) fail(path, ": damaged .npy header");
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) fail(path, ": truncated .npy header");

  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([^']*)'"))) fail(path, ": .npy header has no 'descr'");
  const std::string descr = m[1];
  if (std::regex_search(header, std::regex("'fortran_order'\\s*:\\s*True")))
    fail(path, ": Fortran-ordered arrays are not supported (save with numpy.ascontiguousarray)");
  if (!std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)"))) fail(path, ": .npy header has no 'shape'");
  // Dimensions: decimal numbers separated by commas ("(3, 4)", "(5,)"), each and their product
  // below 2^40 (a terabyte of floats: a header that claims more is damaged, not an array).
  Shape shape;
  const std::string dims = m[1];
  const std::regex dimension("\\s*([0-9]+)\\s*(,|$)");
  int64_t n = 1;
  constexpr int64_t kMost = int64_t(1) << 40;
  auto bad_shape = [&](const std::string& why) { fail(path, ": .npy header's shape (", dims, ") ", why); };
  size_t at = 0;
  for (std::smatch d; at < dims.size() && !std::all_of(dims.begin() + long(at), dims.end(), ::isspace); at += size_t(d.length(0))) {
    if (!std::regex_search(dims.cbegin() + long(at), dims.cend(), d, dimension, std::regex_constants::match_continuous))
      bad_shape("is not a list of sizes");
    if (d[1].length() > 13) bad_shape("is too large");
    const int64_t size = std::stoll(d[1].str());
    if (size == 0) bad_shape("has an empty dimension");
    if (size >= kMost || n > kMost / size) bad_shape("is too large");
    n *= size;
    shape.push_back(size);
  }
  if (shape.empty()) fail(path, ": a scalar, not an array");
  int bytes;
  if (descr == "<f4" || descr == "=f4" || descr == "f4")
    bytes = 4;
  else if (descr == "<f2" || descr == "=f2" || descr == "f2")
    bytes = 2;
  else
    fail(path, ": dtype '", descr, "' is not supported (float32 or float16, little-endian)");

  // The data must fill the rest of the file exactly: checked before memory is taken for it.
  auto truncated = [&] { fail(path, ": truncated: expected ", n, " values of ", bytes, " bytes for shape ", shape_str(shape)); };
  const std::streampos data_start = in.tellg();
  if (data_start != std::streampos(-1) && in.seekg(0, std::ios::end)) {  // a pipe cannot tell
    const int64_t data_bytes = int64_t(in.tellg() - data_start);
    in.seekg(data_start);
    if (data_bytes < n * bytes) truncated();
    if (data_bytes > n * bytes)
      fail(path, ": holds ", data_bytes - n * bytes, " bytes more than its shape ", shape_str(shape), " of ", bytes,
           "-byte values needs (a damaged header?)");
  }
  in.clear();
  Tensor t = Tensor::uninitialized_large(shape);  // every value read below
  if (bytes == 4) {  // straight into the tensor: no second copy of a class map of tens of MB
    if (!in.read(reinterpret_cast<char*>(t.data()), std::streamsize(n) * 4)) truncated();
    return t;
  }
  std::vector<uint16_t> raw(static_cast<size_t>(n));
  if (!in.read(reinterpret_cast<char*>(raw.data()), std::streamsize(n) * 2)) truncated();
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) t.data()[i] = half_to_float(raw[size_t(i)]);
  return t;
}

void write_npy(const std::string& path, const Tensor& t) {
  std::string shape = "(";
  for (int64_t d : t.shape()) shape += std::to_string(d) + ", ";
  if (t.ndim() > 1) shape.resize(shape.size() - 2);
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so the data starts on a 64-byte boundary; the header ends with a newline.
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  AtomicPath target(path);
  {
    std::ofstream out(target.temp(), std::ios::binary);
    const uint16_t len = uint16_t(header.size());
    out.write("\x93NUMPY\x01\x00", 8);
    out.put(char(len & 0xff)).put(char(len >> 8));
    out.write(header.data(), std::streamsize(header.size()));
    out.write(reinterpret_cast<const char*>(t.data()), std::streamsize(t.numel() * sizeof(float)));
    out.close();  // the last buffered bytes reach the file here: check after closing
    if (!out) fail(path, ": write failed");
  }
  target.commit();
}

}  // namespace deeplab
