// The dataset file: exact round trip, atomic writes, clear errors for bad samples and damaged or
// foreign files; and the built-in scenes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "data/scenes.h"
#include "test_support.h"

namespace deeplab::data {
namespace {

namespace fs = std::filesystem;

using DatasetTest = testing::ScratchDirTest;
using testing::expect_error;

Sample random_sample(const std::string& name, int64_t h, int64_t w, int classes, uint64_t seed) {
  Sample s{name, h, w, std::vector<uint8_t>(h * w * 3), std::vector<uint8_t>(h * w)};
  Rng rng(seed);
  for (auto& v : s.rgb) v = uint8_t(rng.below(256));
  for (auto& v : s.labels) v = rng.below(10) == 0 ? kIgnoreLabel : uint8_t(rng.below(classes));
  return s;
}

TEST_F(DatasetTest, RoundTripIsExact) {
  std::vector<Sample> samples = {random_sample("a", 7, 9, 21, 1), random_sample("2007_000032", 33, 20, 21, 2),
                                 random_sample("c", 1, 1, 21, 3)};
  DatasetWriter w(path("d.h5"), 21, {});
  for (const Sample& s : samples) w.add(s);
  EXPECT_FALSE(fs::exists(path("d.h5")));  // nothing visible before commit
  w.commit();
  DatasetReader r(path("d.h5"));
  ASSERT_EQ(r.size(), 3);
  EXPECT_EQ(r.num_classes(), 21);
  EXPECT_EQ(r.class_names().size(), 21u);
  for (int i : {2, 0, 1}) {  // random access, any order
    Sample got = r.read(i);
    EXPECT_EQ(got.name, samples[i].name);
    EXPECT_EQ(got.height, samples[i].height);
    EXPECT_EQ(got.width, samples[i].width);
    EXPECT_EQ(got.rgb, samples[i].rgb);
    EXPECT_EQ(got.labels, samples[i].labels);
  }
  expect_error([&] { r.read(3); }, {"d.h5", "out of range"});
}

TEST_F(DatasetTest, BadSampleIsNamedAndNothingIsLeftBehind) {
  {
    DatasetWriter w(path("bad.h5"), 21, {});
    w.add(random_sample("fine", 4, 4, 21, 1));
    Sample s = random_sample("2008_000123", 4, 5, 21, 2);
    s.labels[7] = 37;
    expect_error([&] { w.add(s); }, {"bad.h5", "2008_000123", "value 37", "y 1, x 2"});
    Sample wrong = random_sample("short", 4, 5, 21, 3);
    wrong.labels.resize(10);
    expect_error([&] { w.add(wrong); }, {"short", "not 4 x 5"});
  }  // destroyed without commit
  EXPECT_EQ(regular_files(), 0);
}

TEST_F(DatasetTest, ForeignTruncatedOrUnfinishedFilesAreClearErrors) {
  {
    h5::File f = h5::File::create(path("foreign.h5"));
    f.set_attr("/", "format", std::string("deeplab-model"));
  }
  expect_error([&] { DatasetReader r(path("foreign.h5")); }, {"foreign.h5", "not a deeplab dataset"});
  {
    h5::File f = h5::File::create(path("unfinished.h5"));
    f.set_attr("/", "format", std::string(kDatasetFormat));
    f.set_attr("/", "version", int64_t(1));
  }
  expect_error([&] { DatasetReader r(path("unfinished.h5")); }, {"unfinished.h5", "'count'"});
  DatasetWriter w(path("full.h5"), 5, {"a", "b", "c", "d", "e"});
  for (int i = 0; i < 4; ++i) w.add(random_sample("s" + std::to_string(i), 40, 40, 5, i));
  w.commit();
  fs::copy_file(path("full.h5"), path("cut.h5"));
  fs::resize_file(path("cut.h5"), fs::file_size(path("cut.h5")) / 2);
  expect_error(
      [&] {
        DatasetReader r(path("cut.h5"));
        for (int64_t i = 0; i < r.size(); ++i) r.read(i);
      },
      {"cut.h5"});
}

TEST_F(DatasetTest, DamagedBytesNeverCrashOrPassUnnoticed) {
  // Flipped bytes anywhere: opening or reading fails with an Error, or the data read back is
  // exactly what was written (the flip hit something unused). Checksums make the difference.
  std::vector<Sample> samples;
  DatasetWriter w(path("ok.h5"), 3, {});
  for (int i = 0; i < 3; ++i) {
    samples.push_back(random_sample("s" + std::to_string(i), 30, 30, 3, 10 + i));
    w.add(samples.back());
  }
  w.commit();
  const auto size = fs::file_size(path("ok.h5"));
  std::vector<char> original(size);
  std::ifstream(path("ok.h5"), std::ios::binary).read(original.data(), std::streamsize(size));
  int errors = 0;
  for (size_t offset = 0; offset < size; offset += size / 2000) {
    std::vector<char> damaged = original;
    damaged[offset] = char(damaged[offset] ^ 0x5a);
    std::ofstream(path("damaged.h5"), std::ios::binary).write(damaged.data(), std::streamsize(size));
    try {
      DatasetReader r(path("damaged.h5"));
      for (int64_t i = 0; i < r.size(); ++i) {
        Sample s = r.read(i);
        EXPECT_EQ(s.rgb, samples[i].rgb) << "offset " << offset;
        EXPECT_EQ(s.labels, samples[i].labels) << "offset " << offset;
      }
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(Scenes, DeterministicValidAndFromTheRightSplit) {
  if (!fs::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (./run.sh setup installs it)";
  FashionMnist test = load_fashion_mnist(kFashionMnistDir, "t10k");
  EXPECT_EQ(test.count, 10000);
  EXPECT_EQ(test.rows, 28);
  SceneOptions o;
  o.size = 96;
  int64_t garment_pixels = 0, band = 0;
  for (int64_t i = 0; i < 20; ++i) {
    Sample a = make_scene(test, "val", i, o), b = make_scene(test, "val", i, o);
    EXPECT_EQ(a.rgb, b.rgb);
    EXPECT_EQ(a.labels, b.labels);
    validate_sample(a, kSceneClasses, "scene");
    for (uint8_t l : a.labels) {
      garment_pixels += l >= 1 && l <= 10;
      band += l == kIgnoreLabel;
    }
  }
  EXPECT_GT(garment_pixels, 20 * 96 * 96 / 50);  // garments take a visible share
  EXPECT_GT(band, 0);
  o.seed = 2;
  EXPECT_NE(make_scene(test, "val", 0, o).rgb, make_scene(test, "val", 0, SceneOptions{96, 1}).rgb);
  EXPECT_EQ(scene_class_names().size(), size_t(kSceneClasses));
  EXPECT_THROW(load_fashion_mnist("/nonexistent", "train"), Error);
}

}  // namespace
}  // namespace deeplab::data
