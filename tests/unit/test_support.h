// Shared by the unit tests: a fixture with a scratch folder of its own, a check that an action
// fails with an Error whose message names what it should, and bitwise equality of tensors.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <string>

#include "core/error.h"
#include "core/tensor.h"

namespace deeplab::testing {

class ScratchDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("deeplab_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  int regular_files() const {
    int n = 0;
    for (auto& e : std::filesystem::directory_iterator(dir_)) n += e.is_regular_file();
    return n;
  }
  std::filesystem::path dir_;
};

// f must throw Error, and its message must contain every fragment.
template <typename F>
void expect_error(F f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const std::string& frag : fragments) EXPECT_NE(std::string(e.what()).find(frag), std::string::npos) << e.what();
  }
}

// The same shape and the same values to the bit (what resumes, reloads and reused state promise).
inline bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), size_t(a.numel()) * sizeof(float)) == 0;
}

// GPU tests skip where no CUDA device (or their data) is there, saying why. The prepared GPU run
// (tests/gpu/on-device.sh) sets DEEPLAB_REQUIRE_GPU=1: there a skip would hide that the GPU code
// never ran, so it is a failure.
inline bool gpu_required() {
  const char* v = std::getenv("DEEPLAB_REQUIRE_GPU");
  return v != nullptr && std::string(v) == "1";
}

}  // namespace deeplab::testing

#define SKIP_GPU_TEST(why)                                                         \
  do {                                                                             \
    if (::deeplab::testing::gpu_required()) FAIL() << "DEEPLAB_REQUIRE_GPU=1, yet " << why; \
    GTEST_SKIP() << why;                                                           \
  } while (0)

#define SKIP_WITHOUT_GPU()                                                  \
  do {                                                                      \
    if (::deeplab::cuda_device_count() == 0) SKIP_GPU_TEST(::deeplab::cuda_unavailable_reason()); \
  } while (0)
