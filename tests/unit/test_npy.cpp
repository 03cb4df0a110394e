#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/npy.h"
#include "test_support.h"

namespace deeplab {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()))).string();
}

// A version-1 .npy file with this header dict and payload, by hand.
void write_raw_npy(const std::string& path, const std::string& dict, const std::string& payload) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(char(header.size() & 0xff)).put(char(header.size() >> 8));
  out << header << payload;
}

TEST(Npy, Float32RoundTrip) {
  Tensor t({2, 3, 4});
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = float(i) * 0.25f - 1.0f;
  const std::string p = temp_path("npy32_");
  write_npy(p, t);
  Tensor back = read_npy(p);
  EXPECT_TRUE(testing::same_bits(back, t));
  std::filesystem::remove(p);
}

TEST(Npy, Float16IsWidened) {
  // 1.0, -2.5, 65504 (largest half), 2^-24 (smallest subnormal), 0, -inf
  const uint16_t halves[6] = {0x3c00, 0xc100, 0x7bff, 0x0001, 0x0000, 0xfc00};
  const std::string p = temp_path("npy16_");
  write_raw_npy(p, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }",
                std::string(reinterpret_cast<const char*>(halves), sizeof halves));
  Tensor t = read_npy(p);
  ASSERT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.data()[0], 1.0f);
  EXPECT_EQ(t.data()[1], -2.5f);
  EXPECT_EQ(t.data()[2], 65504.0f);
  EXPECT_EQ(t.data()[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(t.data()[4], 0.0f);
  EXPECT_TRUE(std::isinf(t.data()[5]) && t.data()[5] < 0);
  std::filesystem::remove(p);
}

TEST(Npy, UnsupportedOrDamagedFilesAreClearErrors) {
  const std::string p = temp_path("npybad_");
  auto expect = [&](const std::string& fragment) {
    try {
      read_npy(p);
      FAIL() << "expected an error with " << fragment;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  };
  write_raw_npy(p, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", std::string(16, '\0'));
  expect("'<f8' is not supported");
  write_raw_npy(p, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", std::string(16, '\0'));
  expect("Fortran");
  write_raw_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 10), }", std::string(16, '\0'));
  expect("truncated");
  // Shapes a damaged header may claim: refused before any memory is taken for them.
  const std::string f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
  write_raw_npy(p, f4 + "(3, 4611686018427387905, 4), }", std::string(48, '\0'));  // 2^62 + 1: the product wraps
  expect("is too large");
  write_raw_npy(p, f4 + "(3, 1048576, 1048576), }", std::string(48, '\0'));  // 2^42 values
  expect("is too large");
  write_raw_npy(p, f4 + "(3, 100000, 100000), }", std::string(100, '\0'));
  expect("truncated");
  write_raw_npy(p, f4 + "(3, -5, 4), }", std::string(48, '\0'));
  expect("not a list of sizes");
  write_raw_npy(p, f4 + "(3, 0, 4), }", "");
  expect("empty dimension");
  write_raw_npy(p, f4 + "(2, 2), }", std::string(20, '\0'));
  expect("4 bytes more");
  write_raw_npy(p, f4 + "(5,), }", std::string(20, '\0'));  // a one-dimensional shape is fine
  EXPECT_EQ(read_npy(p).shape(), (Shape{5}));
  std::ofstream(p) << "hello";
  expect("not a NumPy .npy file");
  std::filesystem::remove(p);
}

}  // namespace
}  // namespace deeplab
