// Images are read as stored: a JPEG's EXIF orientation tag must not turn it (its label PNG would
// no longer line up), and files that are not PNG, JPEG, PPM/PGM or BMP are refused unopened.
#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <iterator>

#include "core/image_io.h"
#include "test_support.h"

namespace deeplab {
namespace {

using ImageTest = testing::ScratchDirTest;

TEST_F(ImageTest, ExifOrientationIsIgnored) {
  // 64 x 48, white top-left corner, black elsewhere.
  cv::Mat bgr(48, 64, CV_8UC3, cv::Scalar(0, 0, 0));
  bgr(cv::Rect(0, 0, 16, 12)).setTo(cv::Scalar(255, 255, 255));
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", bgr, jpeg, {cv::IMWRITE_JPEG_QUALITY, 100});
  // An APP1 Exif segment, little-endian TIFF, one IFD entry: Orientation (0x0112) = 3 (180 degrees).
  const unsigned char app1[] = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,  'I', 'I', 0x2A, 0x00, 0x08, 0x00,
                                0x00, 0x00, 0x01, 0x00, 0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00,
                                0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  std::vector<uchar> tagged(jpeg.begin(), jpeg.begin() + 2);
  tagged.insert(tagged.end(), std::begin(app1), std::end(app1));
  tagged.insert(tagged.end(), jpeg.begin() + 2, jpeg.end());
  std::ofstream(path("turned.jpg"), std::ios::binary).write(reinterpret_cast<const char*>(tagged.data()), std::streamsize(tagged.size()));
  // OpenCV itself would turn it (this is what the test guards against).
  cv::Mat turned = cv::imread(path("turned.jpg"), cv::IMREAD_COLOR);
  ASSERT_FALSE(turned.empty());
  EXPECT_LT(turned.at<cv::Vec3b>(0, 0)[0], 100) << "the tag was not understood: the test proves nothing";
  RgbImage img = read_rgb_image(path("turned.jpg"));
  ASSERT_EQ(img.height, 48);
  ASSERT_EQ(img.width, 64);
  EXPECT_GT(img.rgb[0], 200);                        // top-left still white
  EXPECT_LT(img.rgb[(47 * 64 + 63) * 3], 50);        // bottom-right still black
}

TEST_F(ImageTest, UnknownFormatsAreRefusedUnopened) {
  std::ofstream(path("x.png"), std::ios::binary) << "DICM not really an image";
  testing::expect_error([&] { read_rgb_image(path("x.png")); }, {"x.png", "not a PNG, JPEG, PPM/PGM or BMP"});
  testing::expect_error([&] { read_rgb_image(path("absent.png")); }, {"absent.png", "no such file"});
}

}  // namespace
}  // namespace deeplab
