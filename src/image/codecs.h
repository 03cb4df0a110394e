// The decoders and encoders behind image_io.h, one file per format. Each takes the file's bytes
// and a name for messages (the path, or the dataset entry), and throws Error naming it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "image/image_io.h"

namespace deeplab::codecs {

// The largest side any decoder accepts (the dataset's limit), and the most pixels: 2^28, 268
// megapixels, beyond any camera (805 MB of RGB), so a header cannot ask for gigabytes.
inline constexpr int64_t kMaxSide = kMaxImageSide;
inline constexpr int64_t kMaxPixels = int64_t(1) << 28;
// Throws when a header's sizes are empty or beyond those limits (before anything is allocated).
void check_size(int64_t width, int64_t height, const std::string& what);

RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& what);
std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, const std::string& what);

RgbImage decode_png(const uint8_t* data, size_t size, const std::string& what);
// A PNG's samples as stored, for label maps: palette indices for an indexed PNG, the grey value
// for a grey one, RGB for a colour one (channels 1 or 3). Bit depths above 8 and alpha are refused.
struct PngSamples {
  int64_t height = 0, width = 0;
  int channels = 0;
  bool indexed = false;
  std::vector<uint8_t> bytes;  // H x W x channels
};
PngSamples decode_png_samples(const uint8_t* data, size_t size, const std::string& what);
enum class PngKind { grey, rgb, voc_indexed };
// grey and voc_indexed take one byte per pixel, rgb three.
std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t height, int64_t width, PngKind kind,
                                const std::string& what);

RgbImage decode_pnm(const uint8_t* data, size_t size, const std::string& what);
RgbImage decode_bmp(const uint8_t* data, size_t size, const std::string& what);

}  // namespace deeplab::codecs
