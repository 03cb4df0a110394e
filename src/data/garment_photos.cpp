#include "data/garment_photos.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"
#include "data/garment_canvas.h"
#include "models/deeplab.h"

namespace deeplab::data {

void validate(const GarmentPhotoOptions& options) {
  if (options.side < 28 || options.side > 1024) fail("garment photographs: side ", options.side, " outside 28..1024");
  // Written so that NaN fails each comparison.
  if (!(options.scale_min > 0 && options.scale_min <= options.scale_max && options.scale_max <= 64))
    fail("garment photographs: scale range ", options.scale_min, "..", options.scale_max,
         ": expected 0 < scale_min <= scale_max <= 64");
}

GarmentPhotos::GarmentPhotos(std::shared_ptr<const FashionMnist> garments, std::string name,
                             const GarmentPhotoOptions& options)
    : garments_(std::move(garments)), name_(std::move(name)), options_(options) {
  if (garments_->count < 1) fail(name_, ": no garments");
  validate(options);
}

std::string GarmentPhotos::identity() const {
  std::ostringstream s;
  s << name_ << ": " << garments_->count << " garments, " << options_.side << " px, scale " << options_.scale_min
    << ".." << options_.scale_max;
  return s.str();
}

void GarmentPhotos::make(int64_t index, uint64_t seed, float* image, uint8_t* label) {
  Rng rng(seed * 0xD1B54A32D192ED03ull + 0x6a09e667ull);
  const int side = options_.side;
  Canvas canvas(side, side);
  const Colour base = paint_background(canvas, rng);
  GarmentPlacement g;
  g.which = index;
  g.scale = rng.uniform(options_.scale_min, options_.scale_max);
  const int extent = int(float(garments_->rows) * g.scale);
  // Anywhere it fits; a garment bigger than the photograph is cropped around its middle part.
  const auto origin = [&](int free) {
    return free >= 0 ? int(rng.below(uint64_t(free + 1))) : free * 3 / 4 + int(rng.below(uint64_t(-free / 2 + 1)));
  };
  g.top = origin(side - extent);
  g.left = origin(side - extent);
  g.tint = garment_tint(rng, base);
  draw_garment(canvas, *garments_, g);
  const bool flip = rng.below(2) == 1;
  const std::vector<uint8_t> rgb = canvas.to_bytes();
  const int64_t plane = int64_t(side) * side;
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      const uint8_t* p = &rgb[(size_t(y) * side + (flip ? side - 1 - x : x)) * 3];
      for (int k = 0; k < 3; ++k) image[k * plane + int64_t(y) * side + x] = float(p[2 - k]) - kVggMeanBgr[k];  // RGB -> BGR
    }
  label[0] = garments_->labels[size_t(index)];
}

}  // namespace deeplab::data
