// PNG through libpng's classic interface. libpng reports errors by longjmp, so each call runs
// in a plain function whose state lives in a struct on the caller's side (nothing with a
// destructor is left between setjmp and the jump), and the caller turns a failure into an Error.
#include <png.h>

#include <csetjmp>
#include <cstring>

#include "core/error.h"
#include "image/codecs.h"

namespace deeplab::codecs {

namespace {

struct ReadJob {
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  bool samples = false;  // true: indices / grey / RGB as stored (labels); false: RGB pixels
  // Out:
  int64_t height = 0, width = 0;
  int channels = 0;
  bool indexed = false;
  std::vector<uint8_t> bytes;
  std::vector<png_bytep> rows;
  std::string error;
};

void on_error(png_structp png, png_const_charp message) {
  auto* error = static_cast<std::string*>(png_get_error_ptr(png));
  *error = message;
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}  // benign (an unknown chunk, an sRGB profile)

void read_from_memory(png_structp png, png_bytep out, size_t n) {
  auto* job = static_cast<ReadJob*>(png_get_io_ptr(png));
  if (job->size - job->pos < n) png_error(png, "the file ends early (truncated)");
  std::memcpy(out, job->data + job->pos, n);
  job->pos += n;
}

// Sets the transforms for the wanted output; returns false (with job.error) for what we refuse.
bool choose_transforms(png_structp png, png_infop info, ReadJob& job) {
  const int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (!job.samples) {
    png_set_expand(png);       // palette -> RGB, grey below 8 bits -> 8, transparency -> alpha
    png_set_strip_16(png);     // 16-bit samples: the high byte
    png_set_strip_alpha(png);  // alpha dropped, as photographs are read
    png_set_gray_to_rgb(png);
    job.channels = 3;
    return true;
  }
  if (depth > 8) return job.error = "label PNGs must have at most 8 bits per sample, this one has " + std::to_string(depth), false;
  if (type & PNG_COLOR_MASK_ALPHA) return job.error = "label PNGs must not have an alpha channel", false;
  if (depth < 8) png_set_packing(png);  // one byte per index or grey value, not scaled
  job.indexed = type == PNG_COLOR_TYPE_PALETTE;
  job.channels = type == PNG_COLOR_TYPE_RGB ? 3 : 1;
  return true;
}

// Returns false with job.error set when libpng fails or the image is refused.
bool read_png(ReadJob& job) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job.error, on_error, on_warning);
  if (!png) return job.error = "out of memory", false;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return job.error = "out of memory", false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &job, read_from_memory);
  png_set_user_limits(png, uint32_t(kMaxSide), uint32_t(kMaxSide));
  png_read_info(png, info);
  job.width = png_get_image_width(png, info);
  job.height = png_get_image_height(png, info);
  if (!choose_transforms(png, info, job)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const size_t stride = size_t(job.width) * size_t(job.channels);
  if (png_get_rowbytes(png, info) != stride) png_error(png, "unexpected row size after conversion");
  job.bytes.resize(stride * size_t(job.height));
  job.rows.resize(size_t(job.height));
  for (int64_t y = 0; y < job.height; ++y) job.rows[size_t(y)] = job.bytes.data() + size_t(y) * stride;
  png_read_image(png, job.rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

ReadJob decode(const uint8_t* data, size_t size, bool samples, const std::string& what) {
  ReadJob job;
  job.data = data;
  job.size = size;
  job.samples = samples;
  // The size from the header first: past the limit libpng would call a sound file damaged.
  if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0) {
    const auto be32 = [&](size_t at) { return int64_t(data[at]) << 24 | data[at + 1] << 16 | data[at + 2] << 8 | data[at + 3]; };
    check_size(be32(16), be32(20), what);
  }
  if (!read_png(job)) fail(what, ": damaged PNG: ", job.error);
  return job;
}

struct WriteJob {
  const uint8_t* pixels = nullptr;
  int64_t height = 0, width = 0;
  PngKind kind = PngKind::grey;
  std::vector<uint8_t> out;
  std::string error;
};

void write_to_memory(png_structp png, png_bytep data, size_t n) {
  auto* job = static_cast<WriteJob*>(png_get_io_ptr(png));
  job->out.insert(job->out.end(), data, data + n);
}

void no_flush(png_structp) {}

bool write_png(WriteJob& job) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job.error, on_error, on_warning);
  if (!png) return job.error = "out of memory", false;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    return job.error = "out of memory", false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, &job, write_to_memory, no_flush);
  const int type = job.kind == PngKind::rgb ? PNG_COLOR_TYPE_RGB
                   : job.kind == PngKind::grey ? PNG_COLOR_TYPE_GRAY
                                               : PNG_COLOR_TYPE_PALETTE;
  png_set_IHDR(png, info, uint32_t(job.width), uint32_t(job.height), 8, type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_color palette[256];
  if (job.kind == PngKind::voc_indexed) {
    for (int k = 0; k < 256; ++k) {
      const auto c = voc_colour(k);
      palette[k] = png_color{c[0], c[1], c[2]};
    }
    png_set_PLTE(png, info, palette, 256);
  }
  png_write_info(png, info);
  const size_t stride = size_t(job.width) * (job.kind == PngKind::rgb ? 3 : 1);
  for (int64_t y = 0; y < job.height; ++y) png_write_row(png, job.pixels + size_t(y) * stride);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

RgbImage decode_png(const uint8_t* data, size_t size, const std::string& what) {
  ReadJob job = decode(data, size, false, what);
  return RgbImage{job.height, job.width, std::move(job.bytes)};
}

PngSamples decode_png_samples(const uint8_t* data, size_t size, const std::string& what) {
  ReadJob job = decode(data, size, true, what);
  return PngSamples{job.height, job.width, job.channels, job.indexed, std::move(job.bytes)};
}

std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t height, int64_t width, PngKind kind,
                                const std::string& what) {
  check_size(width, height, what);
  WriteJob job;
  job.pixels = pixels;
  job.height = height;
  job.width = width;
  job.kind = kind;
  if (!write_png(job)) fail(what, ": cannot encode PNG: ", job.error);
  return std::move(job.out);
}

}  // namespace deeplab::codecs
