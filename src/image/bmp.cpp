// Windows bitmaps, uncompressed: 1, 4 and 8 bits with a palette, 16 and 32 bits (default or
// bit-field masks), 24 bits; bottom-up or top-down. RLE-compressed files are refused by name.
#include "core/error.h"
#include "image/codecs.h"

namespace deeplab::codecs {

namespace {

uint32_t u32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
uint16_t u16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }

// A channel from a pixel by its mask, scaled to 0..255.
struct Field {
  uint32_t mask = 0;
  int shift = 0;
  uint32_t max = 0;
  explicit Field(uint32_t m = 0) : mask(m) {
    if (!m) return;
    while (!((m >> shift) & 1)) ++shift;
    max = m >> shift;
  }
  uint8_t operator()(uint32_t pixel) const {
    return max ? uint8_t((uint64_t((pixel & mask) >> shift) * 255 + max / 2) / max) : 0;
  }
};

}  // namespace

RgbImage decode_bmp(const uint8_t* data, size_t size, const std::string& what) {
  if (size < 26 || data[0] != 'B' || data[1] != 'M') fail(what, ": damaged BMP (no header)");
  const uint32_t pixels_at = u32(data + 10), header = u32(data + 14);
  const bool core = header == 12;
  if (!core && (header < 40 || header > 124)) fail(what, ": BMP header of ", header, " bytes is not supported");
  if (size < 14 + size_t(header)) fail(what, ": truncated BMP (header)");
  const uint8_t* h = data + 14;
  const int64_t width = core ? u16(h + 4) : int32_t(u32(h + 4));
  const int64_t raw_height = core ? u16(h + 6) : int32_t(u32(h + 8));
  const int bits = core ? u16(h + 10) : u16(h + 14);
  const uint32_t compression = core ? 0 : u32(h + 16);
  const bool top_down = raw_height < 0;
  const int64_t height = top_down ? -raw_height : raw_height;
  check_size(width, height, what);
  if (compression == 1 || compression == 2) fail(what, ": RLE-compressed BMP is not supported");
  if (compression != 0 && compression != 3 && compression != 6) fail(what, ": BMP compression ", compression, " is not supported");
  if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32)
    fail(what, ": BMP with ", bits, " bits per pixel is not supported");
  if ((compression == 3 || compression == 6) && bits != 16 && bits != 32) fail(what, ": damaged BMP (bit fields at ", bits, " bits)");

  // Channel masks: after a 40-byte header or inside the larger ones; defaults otherwise.
  Field red(bits == 16 ? 0x7C00 : 0xFF0000), green(bits == 16 ? 0x03E0 : 0xFF00), blue(bits == 16 ? 0x001F : 0xFF);
  if (compression == 3 || compression == 6) {
    if (size < 14 + 40 + 12) fail(what, ": truncated BMP (bit fields)");
    const uint8_t* m = h + 40;
    red = Field(u32(m)), green = Field(u32(m + 4)), blue = Field(u32(m + 8));
  }
  // The palette follows the header (and the masks, for a 40-byte header with bit fields).
  std::vector<std::array<uint8_t, 3>> palette;
  if (bits <= 8) {
    const size_t entry = core ? 3 : 4;
    const uint32_t used = core ? 0 : u32(h + 32);
    const size_t count = used ? used : size_t(1) << bits;
    if (count > 256) fail(what, ": damaged BMP (", count, " palette entries)");
    const size_t at = 14 + header + (compression == 3 && header == 40 ? 12 : 0);
    if (size < at + count * entry) fail(what, ": truncated BMP (palette)");
    for (size_t k = 0; k < count; ++k) {
      const uint8_t* p = data + at + k * entry;
      palette.push_back({p[2], p[1], p[0]});
    }
  }
  const size_t stride = (size_t(width) * size_t(bits) + 31) / 32 * 4;
  if (pixels_at > size || size - pixels_at < stride * size_t(height)) fail(what, ": truncated BMP (pixel rows)");
  RgbImage image{height, width, std::vector<uint8_t>(size_t(width * height * 3))};
  for (int64_t y = 0; y < height; ++y) {
    const uint8_t* row = data + pixels_at + stride * size_t(top_down ? y : height - 1 - y);
    uint8_t* out = &image.rgb[size_t(y * width * 3)];
    for (int64_t x = 0; x < width; ++x, out += 3) {
      if (bits <= 8) {
        const int per_byte = 8 / bits, shift = 8 - bits * (1 + int(x % per_byte));
        const size_t k = (row[x / per_byte] >> shift) & ((1 << bits) - 1);
        if (k >= palette.size()) fail(what, ": damaged BMP (palette index ", k, " at x ", x, ", y ", y, ")");
        out[0] = palette[k][0], out[1] = palette[k][1], out[2] = palette[k][2];
      } else if (bits == 24) {
        const uint8_t* p = row + x * 3;
        out[0] = p[2], out[1] = p[1], out[2] = p[0];
      } else {
        const uint32_t v = bits == 16 ? u16(row + x * 2) : u32(row + x * 4);
        out[0] = red(v), out[1] = green(v), out[2] = blue(v);
      }
    }
  }
  return image;
}

}  // namespace deeplab::codecs
