// The dataset file: exact round trip, atomic writes, clear errors for bad samples and damaged or
// foreign files; and the built-in scenes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "core/rng.h"
#include "image/image_io.h"
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

class DamagedDatasetTest : public testing::ScratchDirTest, public ::testing::WithParamInterface<bool> {};

TEST_P(DamagedDatasetTest, DamagedBytesNeverCrashOrPassUnnoticed) {
  // Flipped bytes anywhere: opening or reading fails with an Error, or the data read back is
  // exactly what was written (the flip hit something unused). Checksums make the difference.
  // Raw pixels, and JPEG entries (--encoding source), one of them unlabelled.
  const bool jpeg = GetParam();
  std::vector<Sample> samples;
  DatasetWriter w(path("ok.h5"), 3, {});
  for (int i = 0; i < 3; ++i) {
    samples.push_back(random_sample("s" + std::to_string(i), 30, 30, 3, 10 + i));
    if (jpeg) {
      EncodedSample e{samples.back().name, 30, 30, true, encode_jpeg(RgbImage{30, 30, samples.back().rgb}, 90, "s"), {}};
      if (i != 1) e.labels = samples.back().labels;
      samples.back() = decode(e, "s");
      w.add(e);
    } else {
      w.add(samples.back());
    }
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

INSTANTIATE_TEST_SUITE_P(RawAndJpeg, DamagedDatasetTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "jpeg" : "raw"; });

// write_bytes_compressed and write_bytes_stored filter their chunk themselves (so that any rank
// can do it): the file must be byte for byte what HDF5's own filter pipeline writes, odd sizes
// and long runs (Fletcher-32's folding every 360 words) included.
TEST_F(DatasetTest, FilteredChunksAreWhatHdf5sPipelineWrites) {
  for (const size_t n : {size_t(1), size_t(721), size_t(100003)}) {
    for (const bool deflate : {true, false}) {
      std::vector<uint8_t> bytes(n);
      Rng rng(n);
      for (auto& b : bytes) b = rng.below(4) ? uint8_t(rng.below(256)) : 0;
      {
        h5::File ours = h5::File::create(path("ours.h5"));
        if (deflate) ours.write_bytes_compressed("a/x", bytes.data(), {int64_t(n)});
        else ours.write_bytes_stored("a/x", bytes.data(), {int64_t(n)});
      }
      {
        h5::File theirs = h5::File::create(path("theirs.h5"));
        theirs.make_group("a");
        const hsize_t dims[1] = {n};
        hid_t space = H5Screate_simple(1, dims, nullptr), plist = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_chunk(plist, 1, dims);
        H5Pset_fletcher32(plist);
        if (deflate) H5Pset_deflate(plist, h5::kDeflateLevel);
        H5Pset_obj_track_times(plist, 0);
        hid_t ds = H5Dcreate2(theirs.id(), "a/x", H5T_STD_U8LE, space, H5P_DEFAULT, plist, H5P_DEFAULT);
        ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()), 0);
        H5Dclose(ds), H5Pclose(plist), H5Sclose(space);
      }
      std::ifstream a(path("ours.h5"), std::ios::binary), b(path("theirs.h5"), std::ios::binary);
      const std::string ours((std::istreambuf_iterator<char>(a)), {}), theirs((std::istreambuf_iterator<char>(b)), {});
      EXPECT_EQ(ours, theirs) << n << " bytes, deflate " << deflate;
      EXPECT_EQ(h5::File::open_read(path("ours.h5")).read_bytes("a/x"), bytes);
    }
  }
}

// A JPEG entry as pack stores it with --encoding source: the file's bytes.
EncodedSample jpeg_sample(const std::string& name, int64_t h, int64_t w, bool labelled, uint64_t seed) {
  Sample raw = random_sample(name, h, w, 5, seed);
  EncodedSample e{name, h, w, true, encode_jpeg(RgbImage{h, w, raw.rgb}, 90, name), {}};
  if (labelled) e.labels = raw.labels;
  return e;
}

TEST_F(DatasetTest, UnlabelledAndJpegEntriesRoundTrip) {
  Sample plain = random_sample("plain", 6, 8, 5, 1), bare = random_sample("dir/bare", 5, 7, 5, 2);
  bare.labels.clear();
  const EncodedSample photo = jpeg_sample("photos/a", 24, 40, true, 3), unlabelled_photo = jpeg_sample("b", 17, 9, false, 4);
  DatasetWriter w(path("d.h5"), 5, {});
  w.add(plain);
  w.add(bare);
  w.add(photo);
  w.add(unlabelled_photo);
  w.commit();
  DatasetReader r(path("d.h5"));
  EXPECT_EQ(r.version(), 2);
  EXPECT_EQ(r.size(), 4);
  EXPECT_EQ(r.labelled(), 2);
  const EntryInfo i2 = r.info(2), i3 = r.info(3), i1 = r.info(1);
  EXPECT_TRUE(i2.jpeg && i2.labelled && i2.height == 24 && i2.width == 40 && i2.name == "photos/a");
  EXPECT_TRUE(i3.jpeg && !i3.labelled && i3.height == 17 && i3.width == 9);
  EXPECT_TRUE(!i1.jpeg && !i1.labelled && i1.name == "dir/bare");
  EXPECT_EQ(r.read(0).labels, plain.labels);
  EXPECT_FALSE(r.read(1).labelled());
  EXPECT_EQ(r.read(1).rgb, bare.rgb);
  // A JPEG entry reads back as its bytes decoded: the same pixels a direct decode gives.
  for (const auto& [index, e] : {std::pair{2, &photo}, std::pair{3, &unlabelled_photo}}) {
    const Sample s = r.read(index);
    EXPECT_EQ(s.rgb, decode_image(e->pixels.data(), e->pixels.size(), "direct").rgb);
    EXPECT_EQ(s.labels, e->labels);
    EXPECT_EQ(r.read_encoded(index).pixels, e->pixels);  // stored as they were
  }
  expect_error([&] { r.require_labels("evaluate"); },
               {"d.h5", "entry 1 ('dir/bare') has no label map", "evaluate needs one", "2 of 4 are labelled"});
}

TEST_F(DatasetTest, ClassesNotGivenAdmitNoLabels) {
  Sample s = random_sample("x", 4, 4, 3, 1);
  {
    DatasetWriter w(path("bad.h5"), 0, {});
    expect_error([&] { w.add(s); }, {"bad.h5", "'x' has a label map but the data set's classes are not given"});
  }
  DatasetWriter w(path("none.h5"), 0, {});
  s.labels.clear();
  w.add(s);
  w.commit();
  DatasetReader r(path("none.h5"));
  EXPECT_EQ(r.num_classes(), 0);
  EXPECT_TRUE(r.class_names().empty());
  EXPECT_EQ(r.labelled(), 0);
  EXPECT_EQ(r.read(0).rgb, s.rgb);
}

TEST_F(DatasetTest, VersionOneFilesStillRead) {
  // Written as format version 1 did: no 'labelled' attribute, every entry labelled, raw pixels.
  const Sample s = random_sample("2007_000032", 5, 6, 4, 7);
  {
    h5::File f = h5::File::create(path("v1.h5"));
    f.set_attr("/", "format", std::string(kDatasetFormat));
    f.set_attr("/", "version", int64_t(1));
    f.set_attr("/", "num_classes", int64_t(4));
    f.set_attr("/", "ignore_label", int64_t(255));
    f.set_attr("/", "class_names", std::vector<std::string>{"a", "b", "c", "d"});
    f.write_bytes_compressed("images/000000/rgb", s.rgb.data(), {5, 6, 3});
    f.write_bytes_compressed("images/000000/label", s.labels.data(), {5, 6});
    f.set_attr("images/000000", "name", s.name);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, s.rgb.data(), uInt(s.rgb.size()));
    crc = crc32(crc, s.labels.data(), uInt(s.labels.size()));
    f.set_attr("images/000000", "crc32", int64_t(crc));
    f.set_attr("/", "count", int64_t(1));
  }
  DatasetReader r(path("v1.h5"));
  EXPECT_EQ(r.version(), 1);
  EXPECT_EQ(r.labelled(), 1);
  r.require_labels("training");
  const Sample got = r.read(0);
  EXPECT_EQ(got.rgb, s.rgb);
  EXPECT_EQ(got.labels, s.labels);
}

TEST_F(DatasetTest, AJpegThatDoesNotDecodeToItsRecordedSizeIsAnError) {
  EncodedSample e = jpeg_sample("liar", 16, 16, false, 1);
  e.height = 15;  // the header says 16
  DatasetWriter w(path("d.h5"), 3, {});
  w.add(e);
  w.commit();
  DatasetReader r(path("d.h5"));
  expect_error([&] { r.read(0); }, {"d.h5", "'liar' decodes to 16x16 but is recorded as 16x15"});
}

TEST(Scenes, DeterministicValidAndFromTheRightSplit) {
  if (!fs::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (./run.sh setup installs it)";
  FashionMnist test = load_fashion_mnist(kFashionMnistDir, "t10k");
  EXPECT_EQ(test.count, 10000);
  EXPECT_EQ(test.rows, 28);
  SceneOptions o;
  o.width = o.height = 96;
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
  EXPECT_NE(make_scene(test, "val", 0, o).rgb, make_scene(test, "val", 0, SceneOptions{96, 96, 1, 0.15f, {}}).rgb);
  EXPECT_EQ(scene_class_names().size(), size_t(kSceneClasses));
  EXPECT_THROW(load_fashion_mnist("/nonexistent", "train"), Error);
}

TEST(FashionMnist, ADamagedHeaderIsAClearErrorNotAnAllocation) {
  // An IDX header claiming 2^31 images of 28 x 28, then a few bytes: refused by its size; one
  // claiming 100 images with fewer stored: truncated.
  const auto dir = std::filesystem::temp_directory_path() / ("fmnist_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write_idx = [&](uint32_t count) {
    const std::string path = (dir / "t10k-images-idx3-ubyte.gz").string();
    gzFile f = gzopen(path.c_str(), "wb");
    const uint8_t header[16] = {0, 0, 8, 3, uint8_t(count >> 24), uint8_t(count >> 16), uint8_t(count >> 8),
                                uint8_t(count), 0, 0, 0, 28, 0, 0, 0, 28};
    gzwrite(f, header, sizeof header);
    gzwrite(f, std::string(1000, '\x7f').data(), 1000);
    gzclose(f);
  };
  write_idx(0x80000000u);
  testing::expect_error([&] { load_fashion_mnist(dir.string(), "t10k"); }, {"t10k-images-idx3-ubyte.gz", "claims more than"});
  write_idx(100);
  testing::expect_error([&] { load_fashion_mnist(dir.string(), "t10k"); }, {"t10k-images-idx3-ubyte.gz", "truncated"});
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace deeplab::data
