// The loader: epoch shards, augmentation that keeps image and label aligned and never labels
// padding, batches independent of the number of worker threads, resuming from a position.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "data/garment_photos.h"
#include "data/loader.h"
#include "image/image_io.h"
#include "models/deeplab.h"
#include "test_support.h"

namespace deeplab::data {
namespace {

namespace fs = std::filesystem;

// Blocks of 8 x 8 pixels, each of a random class whose colour is a function of the class: the
// label of any pixel can be told from its colour.
std::array<uint8_t, 3> colour_of(int label) { return {uint8_t(30 + 40 * label), uint8_t(220 - 35 * label), uint8_t(60 + 20 * label)}; }

Sample block_sample(int64_t h, int64_t w, uint64_t seed) {
  Sample s{"blocks", h, w, std::vector<uint8_t>(h * w * 3), std::vector<uint8_t>(h * w)};
  Rng rng(seed);
  std::vector<int> block((h / 8 + 1) * (w / 8 + 1));
  for (int& b : block) b = int(rng.below(5));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const int l = block[(y / 8) * (w / 8 + 1) + x / 8];
      s.labels[y * w + x] = uint8_t(l);
      auto c = colour_of(l);
      for (int k = 0; k < 3; ++k) s.rgb[(y * w + x) * 3 + k] = c[k];
    }
  return s;
}

TEST(Loader, EpochShardsAreDisjointEqualAndDeterministic) {
  for (int ranks : {1, 2, 3, 4}) {
    std::set<int64_t> seen;
    for (int r = 0; r < ranks; ++r) {
      auto shard = epoch_shard(103, 5, 2, r, ranks);
      EXPECT_EQ(shard.size(), size_t(103 / ranks));
      EXPECT_EQ(shard, epoch_shard(103, 5, 2, r, ranks));
      for (int64_t i : shard) {
        EXPECT_TRUE(i >= 0 && i < 103);
        EXPECT_TRUE(seen.insert(i).second) << "image " << i << " in two shards";
      }
    }
    EXPECT_EQ(seen.size(), size_t(103 / ranks * ranks));
  }
  EXPECT_NE(epoch_shard(103, 5, 0, 0, 1), epoch_shard(103, 5, 1, 0, 1));  // reshuffled each epoch
  EXPECT_THROW(epoch_shard(10, 1, 0, 3, 3), Error);
}

// Undo the mean subtraction and BGR order of one pixel of an augmented image.
std::array<int, 3> pixel_rgb(const float* image, int64_t plane, int64_t at) {
  std::array<int, 3> rgb;
  for (int k = 0; k < 3; ++k) rgb[2 - k] = int(std::lround(image[k * plane + at] + kVggMeanBgr[k]));
  return rgb;
}

TEST(Loader, AugmentationKeepsImageAndLabelAlignedAndNeverLabelsPadding) {
  Sample s = block_sample(60, 44, 1);
  for (float scale : {1.0f, 1.5f, 0.7f}) {
    AugmentOptions o;
    o.crop_size = 56;
    o.scale_min = o.scale_max = scale;
    for (uint64_t seed = 0; seed < 12; ++seed) {  // crops at different places, mirrored or not
      std::vector<float> image(3 * 56 * 56);
      std::vector<uint8_t> labels(56 * 56);
      augment(s, o, seed, image.data(), labels.data());
      // Wherever a pixel has exactly a class's colour (block interiors; resampling blends only
      // at block edges), its label must be that class. A crop, flip or scale applied differently
      // to image and labels would break this along every edge.
      int64_t pure = 0, agreeing = 0, labelled = 0;
      for (int64_t at = 0; at < 56 * 56; ++at) {
        auto rgb = pixel_rgb(image.data(), 56 * 56, at);
        labelled += labels[at] != kIgnoreLabel;
        for (int c = 0; c < 5; ++c) {
          auto want = colour_of(c);
          if (std::abs(rgb[0] - want[0]) <= 1 && std::abs(rgb[1] - want[1]) <= 1 && std::abs(rgb[2] - want[2]) <= 1) {
            ++pure;
            agreeing += labels[at] == c;
          }
        }
      }
      EXPECT_GT(labelled, 0);
      EXPECT_GT(pure, labelled / 2) << "scale " << scale << " seed " << seed;
      if (scale == 1.0f)
        EXPECT_EQ(agreeing, pure) << "seed " << seed;
      else  // nearest-neighbour labels and bilinear pixels may pick neighbours at a block edge
        EXPECT_GT(double(agreeing) / pure, 0.98) << "scale " << scale << " seed " << seed;
      // Padding: the image at 0.7x is smaller than the crop on both sides.
      if (scale == 0.7f) {
        const int h = int(std::lround(60 * 0.7)), w = int(std::lround(44 * 0.7));
        for (int y = 0; y < 56; ++y)
          for (int x = 0; x < 56; ++x)
            if (y >= h || (x >= w && x < 56 - w)) {  // outside the image, whichever way it was mirrored
              const bool left_aligned = x >= w, right_aligned = x < 56 - w;
              if (y >= h || (left_aligned && right_aligned)) {
                EXPECT_EQ(labels[y * 56 + x], kIgnoreLabel);
                EXPECT_EQ(image[y * 56 + x], 0.0f);
              }
            }
      }
    }
  }
}

class LoaderFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() / ("deeplab_loader_" + std::to_string(::getpid()) + ".h5")).string();
    DatasetWriter w(path_, 5, {});
    for (int i = 0; i < 23; ++i) {
      Sample s = block_sample(40 + i % 3 * 8, 36 + i % 2 * 12, i);
      s.name = "img" + std::to_string(i);
      w.add(s);
    }
    w.commit();
  }
  void TearDown() override { fs::remove(path_); }
  std::string path_;
};

TEST_F(LoaderFileTest, BatchesDoNotDependOnTheThreadCount) {
  LoaderOptions o;
  o.batch = 3;
  o.augment.crop_size = 32;
  o.augment.scale_min = 0.8f;
  o.augment.scale_max = 1.2f;
  o.threads = 1;
  Loader one(path_, o);
  o.threads = 3;
  o.queue_depth = 2;
  Loader three(path_, o);
  EXPECT_EQ(one.steps_per_epoch(), 23 / 3);
  for (int k = 0; k < 17; ++k) {  // more than two epochs
    Batch a = one.next(), b = three.next();
    ASSERT_EQ(a.indices, b.indices);
    EXPECT_EQ(a.epoch, k / 7);
    EXPECT_EQ(a.labels.data, b.labels.data);
    for (int64_t i = 0; i < a.images.numel(); ++i) ASSERT_EQ(a.images.data()[i], b.images.data()[i]);
  }
}

// A data set that keeps its photographs as JPEG files (pack --encoding source) trains on exactly
// the pixels of its raw twin; the loader's threads decode them outside the HDF5 lock.
TEST_F(LoaderFileTest, JpegEntriesGiveTheBatchesOfTheirDecodedPixels) {
  const std::string jpeg_path = path_ + ".jpeg.h5", raw_path = path_ + ".raw.h5";
  {
    DatasetReader source(path_);
    DatasetWriter jpeg(jpeg_path, 5, {}), raw(raw_path, 5, {});
    for (int64_t i = 0; i < source.size(); ++i) {
      Sample s = source.read(i);
      EncodedSample e{s.name, s.height, s.width, true, encode_jpeg(RgbImage{s.height, s.width, s.rgb}, 90, s.name), s.labels};
      jpeg.add(e);
      raw.add(decode(e, "test"));
    }
    jpeg.commit();
    raw.commit();
  }
  LoaderOptions o;
  o.batch = 4;
  o.augment.crop_size = 32;
  o.threads = 2;
  Loader from_jpeg(jpeg_path, o), from_raw(raw_path, o);
  for (int k = 0; k < 8; ++k) {
    Batch a = from_jpeg.next(), b = from_raw.next();
    ASSERT_EQ(a.indices, b.indices);
    EXPECT_EQ(a.labels.data, b.labels.data);
    for (int64_t i = 0; i < a.images.numel(); ++i) ASSERT_EQ(a.images.data()[i], b.images.data()[i]);
  }
  fs::remove(jpeg_path);
  fs::remove(raw_path);
}

TEST_F(LoaderFileTest, ResumingFromAPositionGivesTheSameBatches) {
  LoaderOptions o;
  o.batch = 2;
  o.augment.crop_size = 24;
  Loader fresh(path_, o);
  std::vector<Batch> all;
  for (int k = 0; k < 15; ++k) all.push_back(fresh.next());
  Loader again(path_, o, LoaderPosition{1, 3});  // 11 steps an epoch: batch 14 of the fresh run
  for (int k = 14; k < 15; ++k) {
    Batch b = again.next();
    EXPECT_EQ(b.indices, all[k].indices);
    EXPECT_EQ(b.labels.data, all[k].labels.data);
  }
  EXPECT_EQ(fresh.position().epoch, 1);
  EXPECT_EQ(fresh.position().step, 4);
}

TEST_F(LoaderFileTest, RanksReadDisjointSharesOfAnEpoch) {
  std::set<int64_t> seen;
  for (int r = 0; r < 3; ++r) {
    LoaderOptions o;
    o.batch = 2;
    o.augment.crop_size = 16;
    o.rank = r;
    o.ranks = 3;
    Loader l(path_, o);
    for (int64_t k = 0; k < l.steps_per_epoch(); ++k)
      for (int64_t i : l.next().indices) EXPECT_TRUE(seen.insert(i).second);
  }
  EXPECT_EQ(seen.size(), size_t(23 / 3 / 2 * 2 * 3));
}

TEST_F(LoaderFileTest, AFailedBatchSurfacesExactlyWhenItIsDue) {
  // Damage one entry's checksum: every batch before it must still come, then its batch fails.
  LoaderOptions o;
  o.batch = 2;
  o.augment.crop_size = 16;
  o.threads = 3;
  const std::vector<int64_t> shard = epoch_shard(23, o.seed, 0, 0, 1);
  const int64_t due = 5, victim = shard[due * 2 + 1];
  {
    hid_t id = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(id, 0);
    hid_t g = H5Oopen(id, entry_name(victim).c_str(), H5P_DEFAULT);
    hid_t a = H5Aopen(g, "crc32", H5P_DEFAULT);
    const int64_t wrong = 1;
    H5Awrite(a, H5T_NATIVE_INT64, &wrong);
    H5Aclose(a), H5Oclose(g), H5Fclose(id);
  }
  for (int round = 0; round < 5; ++round) {  // thread timing differs from run to run
    Loader l(path_, o);
    for (int64_t k = 0; k < due; ++k) EXPECT_NO_THROW(l.next()) << "batch " << k;
    testing::expect_error([&] { l.next(); }, {"checksum"});
  }
}

TEST_F(LoaderFileTest, TooSmallOrBadSettingsAreClearErrors) {
  LoaderOptions none;
  none.ranks = 0;
  EXPECT_THROW(Loader(path_, none), Error);
  LoaderOptions o2;
  EXPECT_THROW(Loader(path_, o2, LoaderPosition{0, -1}), Error);
  EXPECT_THROW(Loader(path_, o2, LoaderPosition{-1, 0}), Error);
  EXPECT_THROW(Loader(path_, o2, LoaderPosition{0, 23}), Error);  // 23 steps an epoch: 0..22
  LoaderOptions o;
  o.batch = 12;
  o.ranks = 2;
  EXPECT_THROW(Loader(path_, o), Error);
  LoaderOptions bad;
  bad.augment.scale_min = 2;
  bad.augment.scale_max = 1;
  EXPECT_THROW(Loader(path_, bad), Error);
}

TEST(Loader, TestTimeInputIsTheWholeImageMeanSubtractedInBgr) {
  Sample s = block_sample(10, 12, 3);
  Tensor t = to_network_input(s);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 10, 12}));
  for (int64_t i = 0; i < 120; ++i)
    for (int k = 0; k < 3; ++k) EXPECT_FLOAT_EQ(t.data()[k * 120 + i], float(s.rgb[i * 3 + 2 - k]) - kVggMeanBgr[k]);
}

}  // namespace
}  // namespace deeplab::data

namespace deeplab::data {
namespace {

// Three 28 x 28 "garments": a filled square of class 4, a bar of class 1, nothing of class 7.
std::shared_ptr<const FashionMnist> toy_garments() {
  auto g = std::make_shared<FashionMnist>();
  g->count = 3, g->rows = 28, g->cols = 28;
  g->images.assign(3 * 28 * 28, 0);
  for (int y = 6; y < 22; ++y)
    for (int x = 6; x < 22; ++x) g->images[size_t(y * 28 + x)] = 255;
  for (int y = 2; y < 26; ++y)
    for (int x = 12; x < 16; ++x) g->images[size_t(28 * 28 + y * 28 + x)] = 255;
  g->labels = {4, 1, 7};
  return g;
}

TEST(GarmentPhotos, OneGarmentPerPhotographLabelledWithItsClass) {
  GarmentPhotos photos(toy_garments(), "toy", GarmentPhotoOptions{48, 1.0f, 1.5f});
  EXPECT_EQ(photos.size(), 3);
  EXPECT_EQ(photos.image_side(), 48);
  EXPECT_EQ(photos.label_side(), 1);
  std::vector<float> a(3 * 48 * 48), b(a.size()), c(a.size());
  uint8_t la = 0, lb = 0, lc = 0;
  photos.make(0, 11, a.data(), &la);
  photos.make(0, 11, b.data(), &lb);
  photos.make(0, 12, c.data(), &lc);
  EXPECT_EQ(la, 4);
  EXPECT_EQ(a, b);  // the seed decides everything
  EXPECT_NE(a, c);  // another seed, another photograph of the same garment
  EXPECT_EQ(lc, 4);
  photos.make(2, 11, c.data(), &lc);
  EXPECT_EQ(lc, 7);
  // The square stands out from the background: a 16 x 16 ink square at 1-1.5x covers at least
  // 256 pixels that differ from an empty garment's photograph drawn with the same seed.
  std::vector<float> empty(a.size());
  uint8_t le = 0;
  GarmentPhotos blank(std::make_shared<FashionMnist>(FashionMnist{1, 28, 28, std::vector<uint8_t>(28 * 28, 0), {7}}),
                      "blank", GarmentPhotoOptions{48, 1.0f, 1.5f});
  blank.make(0, 11, empty.data(), &le);
  int differ = 0;
  for (int64_t i = 0; i < 48 * 48; ++i) differ += std::fabs(a[size_t(i)] - empty[size_t(i)]) > 1;
  EXPECT_GE(differ, 256);
  EXPECT_LE(differ, int(16 * 1.5 * 16 * 1.5) + 100);
}

TEST(GarmentPhotos, TheLoaderDealsThemWithOneClassPerImage) {
  LoaderOptions o;
  o.batch = 3;
  o.threads = 2;
  Loader loader(std::make_shared<GarmentPhotos>(toy_garments(), "toy", GarmentPhotoOptions{32, 1.0f, 1.1f}), o);
  for (int k = 0; k < 2; ++k) {
    const Batch b = loader.next();
    EXPECT_EQ(b.images.shape(), (Shape{3, 3, 32, 32}));
    ASSERT_EQ(b.labels.h, 1);
    ASSERT_EQ(b.labels.w, 1);
    const uint8_t classes[3] = {4, 1, 7};
    for (int i = 0; i < 3; ++i) EXPECT_EQ(b.labels.at(i, 0, 0), classes[b.indices[size_t(i)]]);
  }
  EXPECT_EQ(loader.position().epoch, 2);
}

}  // namespace
}  // namespace deeplab::data
