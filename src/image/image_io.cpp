#include "image/image_io.h"

#include <cstring>
#include <opencv2/core.hpp>

#include "core/error.h"
#include "core/text_file.h"
#include "image/codecs.h"

namespace deeplab {

namespace codecs {
void check_size(int64_t width, int64_t height, const std::string& what) {
  if (width < 1 || height < 1) fail(what, ": the image is empty (", width, "x", height, ")");
  if (width > kMaxSide || height > kMaxSide)
    fail(what, ": ", width, "x", height, " is larger than ", kMaxSide, " pixels a side");
  if (width * height > kMaxPixels)
    fail(what, ": ", width, "x", height, " is more than ", kMaxPixels >> 20, " megapixels (damaged header?)");
}
}  // namespace codecs

std::optional<ImageFormat> sniff_image_format(const uint8_t* head, size_t n) {
  static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 8 && std::memcmp(head, png, 8) == 0) return ImageFormat::png;
  if (n >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return ImageFormat::jpeg;
  if (n >= 3 && head[0] == 'P' && (head[1] == '2' || head[1] == '3' || head[1] == '5' || head[1] == '6') &&
      (head[2] == ' ' || head[2] == '\n' || head[2] == '\r' || head[2] == '\t' || head[2] == '#'))
    return ImageFormat::pnm;
  if (n >= 2 && head[0] == 'B' && head[1] == 'M') return ImageFormat::bmp;
  return std::nullopt;
}

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::png: return "PNG";
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::pnm: return "PPM/PGM";
    case ImageFormat::bmp: return "BMP";
  }
  return "?";
}

namespace {
constexpr size_t kHead = 12;  // enough for every signature sniffed here

size_t read_head(const std::string& path, uint8_t* head) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, ": no such file (or it cannot be opened)");
  const size_t n = std::fread(head, 1, kHead, f);
  std::fclose(f);
  return n;
}

// The name of a picture format not read here ("TIFF", ...), by its signature, or "".
std::string other_picture_format(const uint8_t* head, size_t n) {
  const auto starts = [&](const char* magic, size_t at = 0) {
    const size_t len = std::strlen(magic);
    return n >= at + len && std::memcmp(head + at, magic, len) == 0;
  };
  std::string other;
  if (starts("II*") || (n >= 4 && head[0] == 'M' && head[1] == 'M' && head[2] == 0 && head[3] == '*')) other = "TIFF";
  else if (starts("GIF8")) other = "GIF";
  else if (starts("RIFF") && starts("WEBP", 8)) other = "WebP";
  else if (starts("ftypheic", 4) || starts("ftypheix", 4) || starts("ftypmif1", 4)) other = "HEIC";
  else if (starts("ftypavif", 4)) other = "AVIF";
  else if ((starts("P1") || starts("P4")) && n >= 3 && std::strchr(" \n\r\t#", head[2]) && head[2] != 0) other = "1-bit PBM";
  return other;
}
}  // namespace

std::string not_readable_reason(const uint8_t* head, size_t n) {
  const std::string other = other_picture_format(head, n);
  if (!other.empty()) return "a " + other + " image, which is not read here (JPEG, PNG, PPM/PGM, BMP): convert it, e.g. to PNG";
  return "not a PNG, JPEG, PPM/PGM or BMP file (by its first bytes)";
}

ImageFileKind sniff_image_file(const std::string& path) {
  uint8_t head[kHead] = {0};
  const size_t n = read_head(path, head);
  ImageFileKind kind;
  kind.format = sniff_image_format(head, n);
  if (kind.format) return kind;
  kind.other_picture = !other_picture_format(head, n).empty();
  kind.reason = not_readable_reason(head, n);
  return kind;
}

ImageFormat check_image_format(const std::string& path) {
  const ImageFileKind kind = sniff_image_file(path);
  if (!kind.format) fail(path, ": ", kind.reason);
  return *kind.format;
}

RgbImage decode_image(const uint8_t* bytes, size_t size, const std::string& what) {
  const auto format = sniff_image_format(bytes, size);
  if (!format) fail(what, ": ", not_readable_reason(bytes, size));
  switch (*format) {
    case ImageFormat::jpeg: return codecs::decode_jpeg(bytes, size, what);
    case ImageFormat::png: return codecs::decode_png(bytes, size, what);
    case ImageFormat::pnm: return codecs::decode_pnm(bytes, size, what);
    case ImageFormat::bmp: return codecs::decode_bmp(bytes, size, what);
  }
  fail(what, ": unknown image format");
}

RgbImage read_rgb_image(const std::string& path) {
  check_image_format(path);  // before reading a large file that is not an image at all
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, const std::string& what) {
  return codecs::encode_jpeg(image, quality, what);
}

std::array<uint8_t, 3> voc_colour(int label) {
  std::array<uint8_t, 3> c{0, 0, 0};  // 255 (ignore) comes out (224, 224, 192), as in VOC's PNGs
  for (int bit = 7, k = label; k > 0; --bit, k >>= 3)
    for (int ch = 0; ch < 3; ++ch) c[ch] |= uint8_t(((k >> ch) & 1) << bit);
  return c;
}

LabelMap read_label_png(const std::string& path) {
  if (check_image_format(path) != ImageFormat::png) fail(path, ": not a PNG file (label maps are PNG)");
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  codecs::PngSamples png = codecs::decode_png_samples(bytes.data(), bytes.size(), path);
  LabelMap labels(1, png.height, png.width);
  if (png.channels == 1) {
    labels.data = std::move(png.bytes);
    return labels;
  }
  // Colour: back through the VOC palette, by inverting its bit pattern.
  const auto lookup = [](const uint8_t* rgb) -> int {
    // voc_colour puts bit j of the label's 3-bit groups at bit 7 - j of each channel, so the
    // label comes back from the channels' top bits, and the low bits must then be zero.
    int label = 0;
    for (int bit = 7, shift = 0; bit >= 0; --bit, shift += 3)
      for (int ch = 0; ch < 3; ++ch) label |= ((rgb[ch] >> bit) & 1) << (shift + ch);
    if (label > 255) return -1;
    const auto c = voc_colour(label);
    return c[0] == rgb[0] && c[1] == rgb[1] && c[2] == rgb[2] ? label : -1;
  };
  for (int64_t i = 0; i < png.height * png.width; ++i) {
    const int label = lookup(&png.bytes[size_t(i * 3)]);
    if (label < 0) {
      const uint8_t* c = &png.bytes[size_t(i * 3)];
      fail(path, ": colour (", int(c[0]), ", ", int(c[1]), ", ", int(c[2]), ") at y ", i / png.width, ", x ",
           i % png.width, " is not in the VOC palette");
    }
    labels.data[size_t(i)] = uint8_t(label);
  }
  return labels;
}

void write_rgb_png(const std::string& path, const RgbImage& image) {
  if (image.height < 1 || image.width < 1 || image.rgb.size() != size_t(image.height * image.width * 3))
    fail(path, ": cannot write a ", image.width, "x", image.height, " image from ", image.rgb.size(), " bytes");
  const auto png = codecs::encode_png(image.rgb.data(), image.height, image.width, codecs::PngKind::rgb, path);
  write_file(path, png.data(), png.size());
}

void write_png(const std::string& path, const cv::Mat& image) {
  if (image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3))
    fail(path, ": cannot write a picture of depth ", image.depth(), " with ", image.channels(), " channels");
  const bool grey = image.channels() == 1;
  std::vector<uint8_t> pixels(size_t(image.rows) * image.cols * image.channels());
  for (int y = 0; y < image.rows; ++y) {
    const uint8_t* row = image.ptr<uint8_t>(y);
    uint8_t* out = &pixels[size_t(y) * image.cols * image.channels()];
    if (grey) std::memcpy(out, row, size_t(image.cols));
    else
      for (int x = 0; x < image.cols; ++x) out[x * 3] = row[x * 3 + 2], out[x * 3 + 1] = row[x * 3 + 1], out[x * 3 + 2] = row[x * 3];
  }
  const auto png = codecs::encode_png(pixels.data(), image.rows, image.cols,
                                      grey ? codecs::PngKind::grey : codecs::PngKind::rgb, path);
  write_file(path, png.data(), png.size());
}

void write_label_png(const std::string& path, const LabelMap& labels, LabelPalette palette, int image) {
  const uint8_t* src = &labels.data[size_t(image) * labels.h * labels.w];
  const auto kind = palette == LabelPalette::index ? codecs::PngKind::grey : codecs::PngKind::voc_indexed;
  const auto png = codecs::encode_png(src, labels.h, labels.w, kind, path);
  write_file(path, png.data(), png.size());
}

}  // namespace deeplab
