// Pictures in and out: photographs decoded to RGB bytes (JPEG through libjpeg-turbo, PNG through
// libpng, PPM/PGM and BMP by our own readers), label maps as PNG (class indices as grey, or the
// PASCAL VOC palette), and pictures written as PNG. Writes are atomic; errors name the file.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/label_map.h"

namespace cv {
class Mat;
}

namespace deeplab {

struct RgbImage {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> rgb;  // H x W x 3
};

// Images are recognised by their first bytes, never by their name, and only these formats are
// opened: a decoder handed arbitrary bytes is an attack surface (a fuzzer once found OpenCV
// passing them to its DICOM decoder, which crashed).
enum class ImageFormat { png, jpeg, pnm, bmp };
std::optional<ImageFormat> sniff_image_format(const uint8_t* head, size_t size);
const char* format_name(ImageFormat format);  // "JPEG", "PNG", "PPM/PGM", "BMP"
// Why bytes that are none of those cannot be read, for the error message: "a TIFF image, which is
// not read here ...: convert it" for pictures in other formats (TIFF, GIF, WebP, HEIC, AVIF, 1-bit
// PBM) by their first 12 bytes, else "not a PNG, JPEG, PPM/PGM or BMP file (by its first bytes)".
std::string not_readable_reason(const uint8_t* head, size_t size);
// What a file is by its first bytes: a format read here, or a picture in another format, or
// neither (then `reason` says so). A file that cannot be opened is an Error.
struct ImageFileKind {
  std::optional<ImageFormat> format;
  bool other_picture = false;  // a picture in a format not read here
  std::string reason;          // why it cannot be read ("" when format is set)
};
ImageFileKind sniff_image_file(const std::string& path);
// The format of a file; anything else is an Error naming the file.
ImageFormat check_image_format(const std::string& path);
// The largest side an image may have, here and in a dataset file.
inline constexpr int64_t kMaxImageSide = 65535;

// Pixels as stored: a JPEG's EXIF orientation is not applied, so a label map drawn on the stored
// pixels stays aligned. Grey images become RGB; alpha is dropped; 16-bit samples keep their high
// byte. A truncated or damaged file is an Error naming `what`.
RgbImage decode_image(const uint8_t* bytes, size_t size, const std::string& what);
RgbImage read_rgb_image(const std::string& path);
std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, const std::string& what);

// A label map from a PNG: grey values and palette indices are class indices as they are (how
// VOC's palette PNGs are meant to be read); RGB pixels are mapped back through the VOC palette,
// (224, 224, 192) being 255. Errors name the file and, for a foreign colour, the pixel.
LabelMap read_label_png(const std::string& path);

// The VOC palette: label k's colour from the bits of k (the devkit's colour map); 255 (the
// boundary) is (224, 224, 192).
std::array<uint8_t, 3> voc_colour(int label);

// A colour picture (plots, overlays) as a PNG.
void write_rgb_png(const std::string& path, const RgbImage& image);
// A picture drawn with OpenCV (8-bit, BGR or grey) as a PNG: plots, the confusion matrix.
void write_png(const std::string& path, const cv::Mat& image);
// index: one grey byte per pixel, the class index. voc: an indexed-colour PNG whose palette is
// VOC's, so that the stored values are the class indices and viewers show VOC's colours: the
// form of VOC's own SegmentationClass files and what its evaluation server takes.
enum class LabelPalette { index, voc };
void write_label_png(const std::string& path, const LabelMap& labels, LabelPalette palette, int image = 0);

}  // namespace deeplab
