#include "data/scenes.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"

namespace deeplab::data {

std::vector<std::string> scene_class_names() {
  std::vector<std::string> names = {"background"};
  for (const char* c : kFashionMnistClasses) names.push_back(c);
  return names;
}

namespace {

struct Colour {
  float r, g, b;
};

Colour random_colour(Rng& rng) { return {rng.uniform(20, 235), rng.uniform(20, 235), rng.uniform(20, 235)}; }

}  // namespace

Sample make_scene(const FashionMnist& garments, const std::string& split, int64_t index, const SceneOptions& o) {
  if (o.size < 32) fail("make-scenes: size ", o.size, " is below 32 pixels");
  if (garments.count < 1) fail("make-scenes: no garments to draw from");
  // One generator per scene, from (seed, split, index): scenes do not depend on how many are made.
  Rng rng(o.seed * 0x9E3779B97F4A7C15ull ^ (split == "train" ? 0x1111ull : 0x2222ull) ^ uint64_t(index) * 0xD6E8FEB86659FD93ull);
  const int s = o.size;
  Sample out;
  out.name = split + "_" + std::to_string(index);
  out.height = out.width = s;
  out.rgb.assign(size_t(s) * s * 3, 0);
  out.labels.assign(size_t(s) * s, 0);

  // Background: a base colour, a gentle gradient, stripes at a random angle, and pixel noise.
  const Colour base = random_colour(rng);
  const float angle = rng.uniform(0, 3.14159f), period = rng.uniform(6, 20), stripe = rng.uniform(10, 35);
  const float gx = rng.uniform(-0.3f, 0.3f), gy = rng.uniform(-0.3f, 0.3f);
  std::vector<float> img(size_t(s) * s * 3);
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x) {
      const float t = std::sin((x * std::cos(angle) + y * std::sin(angle)) * 6.2832f / period) * stripe;
      const float shade = gx * (x - s / 2) + gy * (y - s / 2);
      float* p = &img[(size_t(y) * s + x) * 3];
      p[0] = base.r + t + shade + rng.uniform(-6, 6);
      p[1] = base.g + t * 0.7f + shade + rng.uniform(-6, 6);
      p[2] = base.b - t * 0.5f + shade + rng.uniform(-6, 6);
    }

  // Garments, each over the earlier ones.
  const int count = 1 + int(rng.below(4));
  for (int g = 0; g < count; ++g) {
    const int64_t which = int64_t(rng.below(uint64_t(garments.count)));
    const int cls = garments.labels[which] + 1;
    const int scale = 2 + int(rng.below(3));  // 2, 3 or 4
    const int gh = int(garments.rows) * scale, gw = int(garments.cols) * scale;
    const int oy = int(rng.below(uint64_t(std::max(1, s - gh + 1)))), ox = int(rng.below(uint64_t(std::max(1, s - gw + 1))));
    // A tint that stands out from the background, so the garment's edges are visible ones.
    Colour tint = random_colour(rng);
    for (int tries = 0; tries < 16 && std::abs(tint.r - base.r) + std::abs(tint.g - base.g) + std::abs(tint.b - base.b) < 150;
         ++tries)
      tint = random_colour(rng);
    const uint8_t* ink = garments.image(which);
    for (int y = 0; y < gh; ++y)
      for (int x = 0; x < gw; ++x) {
        const int cy = oy + y, cx = ox + x;
        if (cy >= s || cx >= s) continue;
        // Bilinear sampling of the 28 x 28 ink, so scaled garments have smooth edges.
        const float sy = std::clamp((y + 0.5f) / scale - 0.5f, 0.0f, float(garments.rows - 1));
        const float sx = std::clamp((x + 0.5f) / scale - 0.5f, 0.0f, float(garments.cols - 1));
        const int y0 = int(sy), x0 = int(sx);
        const int y1 = std::min(y0 + 1, int(garments.rows) - 1), x1 = std::min(x0 + 1, int(garments.cols) - 1);
        const float fy = sy - y0, fx = sx - x0;
        auto at = [&](int yy, int xx) { return float(ink[yy * garments.cols + xx]); };
        const float ink_level = ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
                                 fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1))) / 255.0f;
        // Tinted cloth over what is there: opaque wherever there is some ink, with the
        // garment's own grey levels as shading.
        const float a = std::min(1.0f, 3.0f * ink_level), shade = 0.55f + 0.45f * ink_level;
        float* p = &img[(size_t(cy) * s + cx) * 3];
        p[0] = p[0] * (1 - a) + tint.r * shade * a;
        p[1] = p[1] * (1 - a) + tint.g * shade * a;
        p[2] = p[2] * (1 - a) + tint.b * shade * a;
        if (ink_level > o.ink_threshold) out.labels[size_t(cy) * s + cx] = uint8_t(cls);
      }
  }
  for (size_t i = 0; i < img.size(); ++i) out.rgb[i] = uint8_t(std::clamp(std::lround(img[i]), 0L, 255L));

  // The boundary band: a pixel whose 4-neighbour has another label becomes 255 (both sides).
  std::vector<uint8_t> band(out.labels.size(), 0);
  for (int y = 0; y < s; ++y)
    for (int x = 0; x < s; ++x) {
      const uint8_t l = out.labels[size_t(y) * s + x];
      const bool edge = (x > 0 && out.labels[size_t(y) * s + x - 1] != l) ||
                        (x + 1 < s && out.labels[size_t(y) * s + x + 1] != l) ||
                        (y > 0 && out.labels[size_t(y - 1) * s + x] != l) ||
                        (y + 1 < s && out.labels[size_t(y + 1) * s + x] != l);
      band[size_t(y) * s + x] = edge;
    }
  for (size_t i = 0; i < band.size(); ++i)
    if (band[i]) out.labels[i] = kIgnoreLabel;
  return out;
}

}  // namespace deeplab::data
