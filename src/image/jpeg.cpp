// JPEG through libjpeg-turbo's TurboJPEG interface: the accurate integer DCT and smooth chroma
// upsampling (its defaults, and libjpeg's), so our pixels are what a plain decode gives.
#include <turbojpeg.h>

#include <cstring>
#include <memory>

#include "core/error.h"
#include "image/codecs.h"

namespace deeplab::codecs {

namespace {

struct HandleCloser {
  void operator()(void* h) const { tjDestroy(h); }
};
using Handle = std::unique_ptr<void, HandleCloser>;

// Of libjpeg's warnings, only stray bytes before a marker leave the picture whole (cameras and
// editors write them, and every viewer shows such files); a premature end or a damaged segment
// leaves part of it grey, and is an error.
bool harmless(const char* warning) { return std::strstr(warning, "extraneous bytes") != nullptr; }

}  // namespace

RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& what) {
  Handle h(tjInitDecompress());
  if (!h) fail(what, ": cannot start the JPEG decoder: ", tjGetErrorStr2(nullptr));
  int width = 0, height = 0, subsampling = 0, colourspace = 0;
  if (tjDecompressHeader3(h.get(), data, static_cast<unsigned long>(size), &width, &height, &subsampling, &colourspace) != 0) {
    // Stray bytes before the scan are met while reading the header, too.
    const char* message = tjGetErrorStr2(h.get());
    if (tjGetErrorCode(h.get()) != TJERR_WARNING || !harmless(message) || width < 1 || height < 1)
      fail(what, ": damaged JPEG: ", message);
  }
  if (colourspace == TJCS_CMYK || colourspace == TJCS_YCCK)
    fail(what, ": a CMYK JPEG (for print): its colours need a colour-managed conversion to RGB, which this program "
         "does not make; convert it first (for example ImageMagick's `convert IN -colorspace sRGB OUT.jpg`)");
  check_size(width, height, what);
  RgbImage image{height, width, std::vector<uint8_t>(size_t(width) * size_t(height) * 3)};
  // Progressive files with absurdly many scans are refused (TJFLAG_LIMITSCANS): they take
  // minutes to decode, a known way to stall a decoder.
  if (tjDecompress2(h.get(), data, static_cast<unsigned long>(size), image.rgb.data(), width, 0, height, TJPF_RGB,
                    TJFLAG_LIMITSCANS) != 0) {
    const char* message = tjGetErrorStr2(h.get());
    if (tjGetErrorCode(h.get()) != TJERR_WARNING || !harmless(message)) fail(what, ": damaged JPEG: ", message);
  }
  return image;
}

std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, const std::string& what) {
  check_size(image.width, image.height, what);
  if (image.rgb.size() != size_t(image.width * image.height * 3))
    fail(what, ": cannot encode a ", image.width, "x", image.height, " image from ", image.rgb.size(), " bytes");
  Handle h(tjInitCompress());
  if (!h) fail(what, ": cannot start the JPEG encoder: ", tjGetErrorStr2(nullptr));
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  if (tjCompress2(h.get(), image.rgb.data(), int(image.width), 0, int(image.height), TJPF_RGB, &out, &out_size,
                  TJSAMP_420, quality, 0) != 0) {
    tjFree(out);
    fail(what, ": cannot encode JPEG: ", tjGetErrorStr2(h.get()));
  }
  std::vector<uint8_t> bytes(out, out + out_size);
  tjFree(out);
  return bytes;
}

}  // namespace deeplab::codecs
