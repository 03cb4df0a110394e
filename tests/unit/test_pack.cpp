// Packing a folder or a list of images: which files count (by content), their order and names,
// label maps paired by name, both pixel encodings read back to what a direct decode gives, and
// bad entries either stopping the job with nothing left behind or, with skip_bad, reported.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/text_file.h"
#include "data/dataset.h"
#include "data/pack.h"
#include "image/image_io.h"
#include "test_support.h"

namespace deeplab::data {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;

class PackTest : public testing::ScratchDirTest {
 protected:
  RgbImage picture(int64_t h, int64_t w, int seed) const {
    RgbImage img{h, w, std::vector<uint8_t>(size_t(h * w * 3))};
    for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = uint8_t((i * 7 + size_t(seed) * 31) % 251);
    return img;
  }
  void jpeg(const std::string& rel, int64_t h, int64_t w, int seed = 0) {
    fs::create_directories(fs::path(path(rel)).parent_path());
    const auto bytes = encode_jpeg(picture(h, w, seed), 90, rel);
    write_file(path(rel), bytes.data(), bytes.size());
  }
  void png(const std::string& rel, int64_t h, int64_t w, int seed = 0) {
    fs::create_directories(fs::path(path(rel)).parent_path());
    write_rgb_png(path(rel), picture(h, w, seed));
  }
  void labels(const std::string& rel, int64_t h, int64_t w, uint8_t value) {
    fs::create_directories(fs::path(path(rel)).parent_path());
    write_label_png(path(rel), LabelMap(1, h, w, value), LabelPalette::voc);
  }
  std::vector<std::string> names(const ImageSources& s) const {
    std::vector<std::string> out;
    for (const PackItem& i : s.items) out.push_back(i.name);
    return out;
  }
};

TEST_F(PackTest, AFolderIsWalkedByContentSortedAndNamedByRelativePath) {
  jpeg("photos/b/2.jpg", 8, 8);
  jpeg("photos/a.jpg", 8, 8);
  png("photos/b/1", 8, 8);                  // no extension: an image by its content
  jpeg("photos/B.JPG", 8, 8);
  write_file(path("photos/notes.txt"), "not an image");
  jpeg("photos/.cache/hidden.jpg", 8, 8);  // hidden folders are passed over
  jpeg("photos/.hidden.jpg", 8, 8);
  const ImageSources s = find_images(path("photos"), "");
  EXPECT_EQ(names(s), (std::vector<std::string>{"B", "a", "b/1", "b/2"}));  // bytewise order
  EXPECT_EQ(s.ignored, 1);
  EXPECT_TRUE(s.bad.empty());
  EXPECT_EQ(find_images(path("photos") + "/", "").items.size(), 4u);  // a trailing slash changes nothing
}

TEST_F(PackTest, FilesNamedLikeImagesThatAreNotAreBadAndTwoFilesMayNotShareAName) {
  jpeg("p/ok.jpg", 8, 8);
  write_file(path("p/fake.png"), "this is text");
  write_file(path("p/empty.jpg"), "");
  const ImageSources s = find_images(path("p"), "");
  ASSERT_EQ(s.bad.size(), 2u);
  EXPECT_NE(s.bad[0].find("empty.jpg: empty file"), std::string::npos) << s.bad[0];
  EXPECT_NE(s.bad[1].find("fake.png: not a PNG, JPEG, PPM/PGM or BMP file"), std::string::npos) << s.bad[1];
  png("p/ok.png", 8, 8);
  expect_error([&] { find_images(path("p"), ""); }, {"ok.jpg", "ok.png", "would both be entry 'ok'"});
  fs::create_directories(path("none/sub"));
  write_file(path("none/sub/readme"), "text");
  expect_error([&] { find_images(path("none"), ""); }, {"none: no images found"});
  expect_error([&] { find_images(path("absent"), ""); }, {"absent: no such folder or list file"});
}

TEST_F(PackTest, AListKeepsItsOrderAndNamesRelativeToTheCommonFolder) {
  jpeg("data/voc/2008_000002.jpg", 8, 8);
  jpeg("data/voc/sub/2008_000001.jpg", 8, 8);
  write_file(path("data/list.txt"), "voc/2008_000002.jpg\n# a comment\n\n  voc/sub/2008_000001.jpg  \n");
  EXPECT_EQ(names(find_images(path("data/list.txt"), "")), (std::vector<std::string>{"2008_000002", "sub/2008_000001"}));
  write_file(path("data/bad.txt"), "voc/2008_000002.jpg\nvoc/absent.jpg\n");
  expect_error([&] { find_images(path("data/bad.txt"), ""); }, {"bad.txt: line 2", "absent.jpg: no such file"});
}

TEST_F(PackTest, LabelMapsArePairedByNameAndTheRestAreUnlabelled) {
  jpeg("img/x/a.jpg", 6, 9);
  jpeg("img/b.jpg", 6, 9);
  labels("lab/x/a.png", 6, 9, 2);
  labels("lab/stray.png", 6, 9, 1);
  const ImageSources s = find_images(path("img"), path("lab"));
  ASSERT_EQ(s.items.size(), 2u);
  EXPECT_EQ(s.items[0].label, "");  // b
  EXPECT_NE(s.items[1].label.find("lab/x/a.png"), std::string::npos);
  EXPECT_EQ(s.unpaired_labels, 1);
  PackOptions o;
  o.out = path("d.h5");
  o.num_classes = 3;
  const PackReport r = pack_dataset(s, o);
  EXPECT_EQ(r.packed, 2);
  EXPECT_EQ(r.labelled, 1);
  DatasetReader d(path("d.h5"));
  EXPECT_EQ(d.labelled(), 1);
  EXPECT_FALSE(d.read(0).labelled());
  EXPECT_EQ(d.read(1).labels, std::vector<uint8_t>(54, 2));
}

TEST_F(PackTest, SourceAndRawEncodingsReadBackToTheDirectDecode) {
  jpeg("in/photo.jpg", 30, 41, 1);
  png("in/drawing.png", 12, 10, 2);
  const ImageSources s = find_images(path("in"), "");
  PackOptions o;
  o.out = path("raw.h5");
  pack_dataset(s, o);
  o.out = path("source.h5");
  o.storage = PixelStorage::source;
  const PackReport r = pack_dataset(s, o);
  EXPECT_EQ(r.jpeg_bytes, int64_t(fs::file_size(path("in/photo.jpg"))));
  DatasetReader raw(path("raw.h5")), source(path("source.h5"));
  EXPECT_TRUE(source.info(1).jpeg);   // photo: its JPEG bytes
  EXPECT_FALSE(source.info(0).jpeg);  // drawing: PNG, stored raw
  EXPECT_FALSE(raw.info(1).jpeg);
  for (int64_t i = 0; i < 2; ++i) {
    const std::string file = i == 0 ? "in/drawing.png" : "in/photo.jpg";
    EXPECT_EQ(raw.read(i).rgb, read_rgb_image(path(file)).rgb) << file;
    EXPECT_EQ(source.read(i).rgb, raw.read(i).rgb) << file;
  }
  EXPECT_EQ(source.read_encoded(1).pixels, read_file_bytes(path("in/photo.jpg")));
}

TEST_F(PackTest, ABadEntryStopsThePackWithNothingLeftUnlessSkipped) {
  jpeg("in/a.jpg", 8, 8);
  jpeg("in/b.jpg", 8, 8);
  jpeg("in/c.jpg", 16, 16);
  labels("lab/a.png", 8, 9, 0);  // the wrong size
  labels("lab/b.png", 8, 8, 7);  // a class outside 0..4
  std::vector<uint8_t> cut = read_file_bytes(path("in/c.jpg"));
  cut.resize(cut.size() / 2);
  write_file(path("in/c.jpg"), cut.data(), cut.size());
  PackOptions o;
  o.out = path("out/d.h5");
  o.num_classes = 5;
  fs::create_directories(path("out"));
  const ImageSources s = find_images(path("in"), path("lab"));
  expect_error([&] { pack_dataset(s, o); }, {"lab/a.png", "the label map is 9x8 but its image", "a.jpg is 8x8"});
  EXPECT_TRUE(fs::is_empty(path("out")));
  o.skip_bad = true;
  expect_error([&] { pack_dataset(s, o); }, {"d.h5", "none of the 3 images could be packed"});
  EXPECT_TRUE(fs::is_empty(path("out")));
  jpeg("in/d.jpg", 8, 8);
  const PackReport r = pack_dataset(find_images(path("in"), path("lab")), o);
  EXPECT_EQ(r.packed, 1);
  ASSERT_EQ(r.skipped.size(), 3u);
  EXPECT_NE(r.skipped[0].find("a.png: the label map is 9x8"), std::string::npos) << r.skipped[0];
  EXPECT_NE(r.skipped[1].find("b.png: label map of 'b' has value 7 at y 0, x 0"), std::string::npos) << r.skipped[1];
  EXPECT_NE(r.skipped[2].find("c.jpg: damaged JPEG"), std::string::npos) << r.skipped[2];
  EXPECT_EQ(DatasetReader(path("out/d.h5")).info(0).name, "d");
  o.skip_bad = false;
  o.labels_required = true;  // convert-voc: every image needs its label map
  o.out = path("out/e.h5");
  ImageSources only_d;
  only_d.items.push_back({"d", path("in/d.jpg"), ""});
  expect_error([&] { pack_dataset(only_d, o); }, {"d.jpg", "has no label map"});
}

}  // namespace
}  // namespace deeplab::data
