#include "data/garment_canvas.h"

#include <algorithm>
#include <cmath>

namespace deeplab::data {

namespace {
Colour random_colour(Rng& rng) { return {rng.uniform(20, 235), rng.uniform(20, 235), rng.uniform(20, 235)}; }
}  // namespace

std::vector<uint8_t> Canvas::to_bytes() const {
  std::vector<uint8_t> out(rgb.size());
  for (size_t i = 0; i < rgb.size(); ++i) out[i] = uint8_t(std::clamp(std::lround(rgb[i]), 0L, 255L));
  return out;
}

Colour paint_background(Canvas& canvas, Rng& rng) {
  const Colour base = random_colour(rng);
  const float angle = rng.uniform(0, 3.14159f), period = rng.uniform(6, 20), stripe = rng.uniform(10, 35);
  const float gx = rng.uniform(-0.3f, 0.3f), gy = rng.uniform(-0.3f, 0.3f);
  const int h = canvas.height, w = canvas.width;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const float t = std::sin((x * std::cos(angle) + y * std::sin(angle)) * 6.2832f / period) * stripe;
      const float shade = gx * (x - w / 2) + gy * (y - h / 2);
      float* p = &canvas.rgb[(size_t(y) * w + x) * 3];
      p[0] = base.r + t + shade + rng.uniform(-6, 6);
      p[1] = base.g + t * 0.7f + shade + rng.uniform(-6, 6);
      p[2] = base.b - t * 0.5f + shade + rng.uniform(-6, 6);
    }
  return base;
}

Colour garment_tint(Rng& rng, const Colour& base) {
  Colour tint = random_colour(rng);
  for (int tries = 0; tries < 16 && std::abs(tint.r - base.r) + std::abs(tint.g - base.g) + std::abs(tint.b - base.b) < 150;
       ++tries)
    tint = random_colour(rng);
  return tint;
}

void draw_garment(Canvas& canvas, const FashionMnist& garments, const GarmentPlacement& g, uint8_t* labels,
                  uint8_t label, float ink_threshold) {
  const int gh = int(std::lround(float(garments.rows) * g.scale)), gw = int(std::lround(float(garments.cols) * g.scale));
  const uint8_t* ink = garments.image(g.which);
  for (int y = std::max(0, -g.top); y < gh; ++y)
    for (int x = std::max(0, -g.left); x < gw; ++x) {
      const int cy = g.top + y, cx = g.left + x;
      if (cy >= canvas.height || cx >= canvas.width) continue;
      // Bilinear sampling of the 28 x 28 ink, so scaled garments have smooth edges.
      const float sy = std::clamp((y + 0.5f) / g.scale - 0.5f, 0.0f, float(garments.rows - 1));
      const float sx = std::clamp((x + 0.5f) / g.scale - 0.5f, 0.0f, float(garments.cols - 1));
      const int y0 = int(sy), x0 = int(sx);
      const int y1 = std::min(y0 + 1, int(garments.rows) - 1), x1 = std::min(x0 + 1, int(garments.cols) - 1);
      const float fy = sy - y0, fx = sx - x0;
      auto at = [&](int yy, int xx) { return float(ink[yy * garments.cols + xx]); };
      const float ink_level =
          ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1))) / 255.0f;
      // Tinted cloth over what is there: opaque wherever there is some ink, with the garment's
      // own grey levels as shading.
      const float a = std::min(1.0f, 3.0f * ink_level), shade = 0.55f + 0.45f * ink_level;
      float* p = &canvas.rgb[(size_t(cy) * canvas.width + cx) * 3];
      p[0] = p[0] * (1 - a) + g.tint.r * shade * a;
      p[1] = p[1] * (1 - a) + g.tint.g * shade * a;
      p[2] = p[2] * (1 - a) + g.tint.b * shade * a;
      if (labels && ink_level > ink_threshold) labels[size_t(cy) * canvas.width + cx] = label;
    }
}

}  // namespace deeplab::data
