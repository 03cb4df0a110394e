// The image codecs: every format we open decodes to the pixels that were written, damaged files
// are errors that name them, a JPEG's EXIF orientation tag does not turn it (its label PNG would
// no longer line up), and files that are not PNG, JPEG, PPM/PGM or BMP are refused unopened.
#include <turbojpeg.h>

#include <fstream>
#include <iterator>

#include "core/text_file.h"
#include "image/image_io.h"
#include "test_support.h"

namespace deeplab {
namespace {

using ImageTest = testing::ScratchDirTest;

// A picture with structure in every channel, so a swapped channel or a flipped row shows.
RgbImage gradient(int64_t h, int64_t w) {
  RgbImage img{h, w, std::vector<uint8_t>(size_t(h * w * 3))};
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* p = &img.rgb[size_t((y * w + x) * 3)];
      p[0] = uint8_t(x * 255 / std::max<int64_t>(w - 1, 1));
      p[1] = uint8_t(y * 255 / std::max<int64_t>(h - 1, 1));
      p[2] = uint8_t((x + 2 * y) % 256);
    }
  return img;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) { write_file(path, bytes.data(), bytes.size()); }

TEST_F(ImageTest, PngRoundTripsExactly) {
  const RgbImage img = gradient(37, 53);
  write_rgb_png(path("a.png"), img);
  const RgbImage back = read_rgb_image(path("a.png"));
  EXPECT_EQ(back.height, 37);
  EXPECT_EQ(back.width, 53);
  EXPECT_EQ(back.rgb, img.rgb);
}

TEST_F(ImageTest, JpegDecodesCloseToWhatWasEncoded) {
  const RgbImage img = gradient(40, 64);
  write_bytes(path("a.jpg"), encode_jpeg(img, 98, "a.jpg"));
  const RgbImage back = read_rgb_image(path("a.jpg"));
  ASSERT_EQ(back.rgb.size(), img.rgb.size());
  double diff = 0;
  for (size_t i = 0; i < img.rgb.size(); ++i) diff += std::abs(int(back.rgb[i]) - int(img.rgb[i]));
  EXPECT_LT(diff / double(img.rgb.size()), 4.0) << "a channel swapped or the rows flipped?";
}

TEST_F(ImageTest, PpmPgmAndBmpDecode) {
  // P6 with a comment, P5 (grey), P3 (text), and a 24-bit bottom-up BMP of the same 2 x 3 pixels.
  const std::vector<uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90};
  std::string p6 = "P6\n# made by hand\n3 2\n255\n";
  p6.append(rgb.begin(), rgb.end());
  write_file(path("a.ppm"), p6);
  EXPECT_EQ(read_rgb_image(path("a.ppm")).rgb, rgb);
  write_file(path("t.ppm"), "P3 3 2 255 255 0 0 0 255 0 0 0 255 10 20 30 40 50 60 70 80 90\n");
  EXPECT_EQ(read_rgb_image(path("t.ppm")).rgb, rgb);
  write_file(path("g.pgm"), std::string("P5 2 1 255\n") + char(7) + char(200));
  EXPECT_EQ(read_rgb_image(path("g.pgm")).rgb, (std::vector<uint8_t>{7, 7, 7, 200, 200, 200}));

  std::vector<uint8_t> bmp = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0,
                              1, 0, 24, 0, 0, 0, 0, 0};
  bmp.resize(54, 0);
  for (int y = 1; y >= 0; --y) {  // bottom row first, BGR, rows padded to 4 bytes
    for (int x = 0; x < 3; ++x)
      for (int c = 2; c >= 0; --c) bmp.push_back(rgb[size_t((y * 3 + x) * 3 + c)]);
    bmp.resize(bmp.size() + 3, 0);
  }
  write_bytes(path("a.bmp"), bmp);
  const RgbImage b = read_rgb_image(path("a.bmp"));
  EXPECT_EQ(b.width, 3);
  EXPECT_EQ(b.height, 2);
  EXPECT_EQ(b.rgb, rgb);
}

TEST_F(ImageTest, DamagedFilesAreErrorsNamingThem) {
  std::vector<uint8_t> jpeg = encode_jpeg(gradient(64, 64), 90, "a.jpg");
  jpeg.resize(jpeg.size() * 2 / 3);
  write_bytes(path("cut.jpg"), jpeg);
  testing::expect_error([&] { read_rgb_image(path("cut.jpg")); }, {"cut.jpg", "damaged JPEG"});
  write_rgb_png(path("a.png"), gradient(20, 20));
  std::vector<uint8_t> png = read_file_bytes(path("a.png"));
  png.resize(png.size() / 2);
  write_bytes(path("cut.png"), png);
  testing::expect_error([&] { read_rgb_image(path("cut.png")); }, {"cut.png", "damaged PNG"});
  write_file(path("cut.ppm"), "P6 4 4 255\nabc");
  testing::expect_error([&] { read_rgb_image(path("cut.ppm")); }, {"cut.ppm", "truncated PPM/PGM"});
  write_file(path("cut.bmp"), "BM");
  testing::expect_error([&] { read_rgb_image(path("cut.bmp")); }, {"cut.bmp", "BMP"});
  // Headers that ask for gigabytes (found by fuzzing) are refused before anything is allocated.
  write_file(path("huge.ppm"), "P3\n\n40000\n44000\n\r4000\xfa" "3");
  testing::expect_error([&] { read_rgb_image(path("huge.ppm")); }, {"huge.ppm", "more than 256 megapixels"});
  write_file(path("big.pgm"), "P2\n12000\n12000\n3\n\n");
  testing::expect_error([&] { read_rgb_image(path("big.pgm")); }, {"big.pgm", "truncated PPM/PGM"});
  // A sound PNG header of a picture wider than the limit: said so, not "damaged".
  const uint8_t wide[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                            0, 1, 0x11, 0x70, 0, 0, 0, 10, 8, 2, 0, 0, 0, 0, 0, 0, 0};  // 70000 x 10, RGB
  write_bytes(path("wide.png"), std::vector<uint8_t>(std::begin(wide), std::end(wide)));
  testing::expect_error([&] { read_rgb_image(path("wide.png")); }, {"wide.png", "70000x10 is larger than 65535 pixels a side"});
}

TEST_F(ImageTest, ExifOrientationIsIgnored) {
  // 64 x 48, white top-left corner, black elsewhere.
  RgbImage img{48, 64, std::vector<uint8_t>(48 * 64 * 3, 0)};
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 16; ++x)
      for (int c = 0; c < 3; ++c) img.rgb[size_t((y * 64 + x) * 3 + c)] = 255;
  const std::vector<uint8_t> jpeg = encode_jpeg(img, 100, "turned.jpg");
  // An APP1 Exif segment, little-endian TIFF, one IFD entry: Orientation (0x0112) = 3 (180
  // degrees); OpenCV's imread and PIL's exif_transpose turn a file with it.
  const unsigned char app1[] = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,  'I', 'I', 0x2A, 0x00, 0x08, 0x00,
                                0x00, 0x00, 0x01, 0x00, 0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00,
                                0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  std::vector<uint8_t> tagged(jpeg.begin(), jpeg.begin() + 2);
  tagged.insert(tagged.end(), std::begin(app1), std::end(app1));
  tagged.insert(tagged.end(), jpeg.begin() + 2, jpeg.end());
  write_bytes(path("turned.jpg"), tagged);
  const RgbImage back = read_rgb_image(path("turned.jpg"));
  ASSERT_EQ(back.height, 48);
  ASSERT_EQ(back.width, 64);
  EXPECT_GT(back.rgb[0], 200);                   // top-left still white
  EXPECT_LT(back.rgb[(47 * 64 + 63) * 3], 50);   // bottom-right still black
}

TEST_F(ImageTest, StrayBytesBeforeTheScanDecodeAndCmykIsRefusedByName) {
  // Two zero bytes before the start-of-scan marker, as some cameras write them: libjpeg warns
  // while reading the header, every viewer shows the picture; so do we, the same pixels.
  const std::vector<uint8_t> jpeg = encode_jpeg(gradient(32, 40), 95, "a.jpg");
  size_t at = 2;  // walk the segments (FF xx, then a big-endian length) to the scan
  while (at + 4 < jpeg.size() && !(jpeg[at] == 0xFF && jpeg[at + 1] == 0xDA)) at += 2 + (jpeg[at + 2] << 8 | jpeg[at + 3]);
  ASSERT_LT(at + 4, jpeg.size());
  std::vector<uint8_t> stray = jpeg;
  stray.insert(stray.begin() + long(at), {0, 0});
  write_bytes(path("clean.jpg"), jpeg);
  write_bytes(path("stray.jpg"), stray);
  EXPECT_EQ(read_rgb_image(path("stray.jpg")).rgb, read_rgb_image(path("clean.jpg")).rgb);
  // A CMYK JPEG: refused with what to do, not called damaged.
  tjhandle encoder = tjInitCompress();
  std::vector<uint8_t> cmyk(32 * 40 * 4, 90);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(encoder, cmyk.data(), 40, 0, 32, TJPF_CMYK, &out, &size, TJSAMP_444, 90, 0), 0);
  write_bytes(path("cmyk.jpg"), std::vector<uint8_t>(out, out + size));
  tjFree(out);
  tjDestroy(encoder);
  testing::expect_error([&] { read_rgb_image(path("cmyk.jpg")); }, {"cmyk.jpg", "a CMYK JPEG", "convert it first"});
}

TEST_F(ImageTest, UnknownFormatsAreRefusedUnopened) {
  std::ofstream(path("x.png"), std::ios::binary) << "DICM not really an image";
  testing::expect_error([&] { read_rgb_image(path("x.png")); }, {"x.png", "not a PNG, JPEG, PPM/PGM or BMP"});
  // Pictures in other formats are named as such, with what to do.
  std::ofstream(path("scan.tif"), std::ios::binary) << std::string("II*\0\x08\0\0\0", 8) << "rest of a TIFF";
  testing::expect_error([&] { read_rgb_image(path("scan.tif")); }, {"scan.tif", "a TIFF image", "convert it"});
  std::ofstream(path("anim.gif"), std::ios::binary) << "GIF89a....";
  testing::expect_error([&] { read_rgb_image(path("anim.gif")); }, {"anim.gif", "a GIF image"});
  std::ofstream(path("photo.webp"), std::ios::binary) << std::string("RIFF\x10\0\0\0WEBPVP8 ", 16);
  testing::expect_error([&] { read_rgb_image(path("photo.webp")); }, {"photo.webp", "a WebP image"});
  testing::expect_error([&] { read_rgb_image(path("absent.png")); }, {"absent.png", "no such file"});
}

TEST_F(ImageTest, LabelPngsKeepIndicesAndReadVocColours) {
  LabelMap labels(1, 3, 4);
  const uint8_t values[12] = {0, 1, 2, 3, 20, 255, 7, 0, 15, 15, 255, 1};
  std::copy(values, values + 12, labels.data.begin());
  // VOC palette PNG: indexed, with VOC's colours; read back as the indices.
  write_label_png(path("voc.png"), labels, LabelPalette::voc);
  EXPECT_EQ(read_label_png(path("voc.png")).data, labels.data);
  const RgbImage shown = read_rgb_image(path("voc.png"));  // what a viewer shows
  const auto c15 = voc_colour(15), c255 = voc_colour(255);
  EXPECT_EQ(shown.rgb[size_t(8 * 3)], c15[0]);
  EXPECT_EQ(shown.rgb[size_t(8 * 3 + 1)], c15[1]);
  EXPECT_EQ(shown.rgb[size_t(8 * 3 + 2)], c15[2]);
  EXPECT_EQ(c255, (std::array<uint8_t, 3>{224, 224, 192}));
  // The same colours as a plain RGB PNG map back through the palette.
  write_rgb_png(path("rgb.png"), shown);
  EXPECT_EQ(read_label_png(path("rgb.png")).data, labels.data);
  // Grey index PNG.
  write_label_png(path("grey.png"), labels, LabelPalette::index);
  EXPECT_EQ(read_label_png(path("grey.png")).data, labels.data);
  // A colour outside the palette is named with its pixel.
  RgbImage odd = shown;
  odd.rgb[size_t((1 * 4 + 2) * 3)] = 1;
  write_rgb_png(path("odd.png"), odd);
  testing::expect_error([&] { read_label_png(path("odd.png")); }, {"odd.png", "not in the VOC palette", "y 1, x 2"});
  // Label maps are PNG only.
  write_bytes(path("l.jpg"), encode_jpeg(shown, 90, "l.jpg"));
  testing::expect_error([&] { read_label_png(path("l.jpg")); }, {"l.jpg", "not a PNG"});
}

}  // namespace
}  // namespace deeplab
