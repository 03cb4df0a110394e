// Netpbm grey and colour maps: P5 / P6 (binary) and P2 / P3 (text), any maxval up to 65535
// (samples scaled to 0..255), comments in the header.
#include <cctype>

#include "core/error.h"
#include "image/codecs.h"

namespace deeplab::codecs {

namespace {

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& what) : data_(data), size_(size), what_(what) {}

  // A decimal number after whitespace and comments.
  int64_t number(const char* field) {
    skip_space();
    if (pos_ >= size_ || !std::isdigit(data_[pos_])) fail(what_, ": damaged PPM/PGM: no ", field);
    int64_t v = 0;
    while (pos_ < size_ && std::isdigit(data_[pos_])) {
      v = v * 10 + (data_[pos_++] - '0');
      if (v > 1 << 20) fail(what_, ": damaged PPM/PGM: ", field, " is too large");
    }
    return v;
  }
  // The one whitespace byte between the header and binary samples.
  void end_of_header() {
    if (pos_ >= size_ || !std::isspace(data_[pos_])) fail(what_, ": damaged PPM/PGM: no space after the header");
    ++pos_;
  }
  int binary_sample(bool wide) {
    if (pos_ + (wide ? 2 : 1) > size_) fail(what_, ": truncated PPM/PGM (the samples end early)");
    const int v = wide ? data_[pos_] << 8 | data_[pos_ + 1] : data_[pos_];
    pos_ += wide ? 2 : 1;
    return v;
  }
  size_t pos() const { return pos_; }

 private:
  void skip_space() {
    while (pos_ < size_) {
      if (data_[pos_] == '#') {
        while (pos_ < size_ && data_[pos_] != '\n') ++pos_;
      } else if (std::isspace(data_[pos_])) {
        ++pos_;
      } else {
        break;
      }
    }
  }
  const uint8_t* data_;
  size_t size_, pos_ = 2;  // after the magic
  const std::string& what_;
};

}  // namespace

RgbImage decode_pnm(const uint8_t* data, size_t size, const std::string& what) {
  if (size < 2 || data[0] != 'P') fail(what, ": not a PPM/PGM file");
  const char kind = char(data[1]);
  const bool text = kind == '2' || kind == '3', colour = kind == '3' || kind == '6';
  if (!text && kind != '5' && kind != '6') fail(what, ": not a PPM/PGM file (P", kind, ")");
  Reader in(data, size, what);
  const int64_t width = in.number("width"), height = in.number("height"), maxval = in.number("maxval");
  check_size(width, height, what);
  if (maxval < 1 || maxval > 65535) fail(what, ": damaged PPM/PGM: maxval ", maxval, " outside 1..65535");
  if (!text) in.end_of_header();
  const int channels = colour ? 3 : 1;
  const bool wide = maxval > 255;
  // Samples take at least 2 bytes each in binary with maxval > 255, 1 otherwise (a digit, in text).
  if (size - in.pos() < size_t(width * height * channels) * (wide && !text ? 2 : 1))
    fail(what, ": truncated PPM/PGM (", size - in.pos(), " bytes of samples for ", width, "x", height, ")");
  RgbImage image{height, width, std::vector<uint8_t>(size_t(width * height * 3))};
  for (int64_t i = 0; i < width * height; ++i)
    for (int c = 0; c < channels; ++c) {
      const int64_t v = text ? in.number("sample") : in.binary_sample(wide);
      if (v > maxval) fail(what, ": damaged PPM/PGM: sample ", v, " above maxval ", maxval);
      const uint8_t byte = maxval == 255 ? uint8_t(v) : uint8_t((v * 255 + maxval / 2) / maxval);
      if (colour) image.rgb[size_t(i * 3 + c)] = byte;
      else image.rgb[size_t(i * 3)] = image.rgb[size_t(i * 3 + 1)] = image.rgb[size_t(i * 3 + 2)] = byte;
    }
  return image;
}

}  // namespace deeplab::codecs
