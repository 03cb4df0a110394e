#include "data/scenes.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/garment_canvas.h"

namespace deeplab::data {

std::vector<std::string> scene_class_names() {
  std::vector<std::string> names = {"background"};
  for (const char* c : kFashionMnistClasses) names.push_back(c);
  return names;
}

namespace {

// A random crop of a random photograph, of the canvas's shape, resized onto the canvas; returns
// its mean colour.
Colour paste_photo_crop(Canvas& canvas, const std::vector<RgbImage>& photos, Rng& rng) {
  const RgbImage& photo = photos[rng.below(photos.size())];
  const double aspect = double(canvas.width) / double(canvas.height);  // crop width per crop height
  const int tallest = int(std::min(double(photo.height), std::floor(double(photo.width) / aspect)));
  const int ch = std::max(1, int(float(tallest) * rng.uniform(1.0f / 3, 1.0f)));
  const int cw = std::clamp(int(std::lround(ch * aspect)), 1, int(photo.width));
  const int top = int(rng.below(uint64_t(photo.height - ch + 1))), left = int(rng.below(uint64_t(photo.width - cw + 1)));
  cv::Mat whole(int(photo.height), int(photo.width), CV_8UC3, const_cast<uint8_t*>(photo.rgb.data()));
  cv::Mat resized;
  cv::resize(whole(cv::Rect(left, top, cw, ch)), resized, cv::Size(canvas.width, canvas.height), 0, 0,
             cw > canvas.width ? cv::INTER_AREA : cv::INTER_LINEAR);
  Colour mean{0, 0, 0};
  for (int y = 0; y < canvas.height; ++y)
    for (int x = 0; x < canvas.width; ++x) {
      const uint8_t* p = resized.ptr<uint8_t>(y) + x * 3;
      float* q = &canvas.rgb[(size_t(y) * canvas.width + x) * 3];
      for (int k = 0; k < 3; ++k) q[k] = float(p[k]);
      mean.r += p[0], mean.g += p[1], mean.b += p[2];
    }
  const float n = float(canvas.height) * float(canvas.width);
  return {mean.r / n, mean.g / n, mean.b / n};
}

}  // namespace

Sample make_scene(const FashionMnist& garments, const std::string& split, int64_t index, const SceneOptions& o) {
  if (o.width < 32 || o.height < 32) fail("make-scenes: a scene of ", o.width, "x", o.height, " is below 32 pixels");
  if (garments.count < 1) fail("make-scenes: no garments to draw from");
  // One generator per scene, from (seed, split, index): scenes do not depend on how many are made.
  Rng rng(o.seed * 0x9E3779B97F4A7C15ull ^ (split == "train" ? 0x1111ull : 0x2222ull) ^ uint64_t(index) * 0xD6E8FEB86659FD93ull);
  const int w = o.width, h = o.height;
  Sample out;
  out.name = split + "_" + std::to_string(index);
  out.height = h, out.width = w;
  out.labels.assign(size_t(w) * h, 0);

  Canvas canvas(h, w);
  const Colour base = o.backgrounds.empty() ? paint_background(canvas, rng) : paste_photo_crop(canvas, o.backgrounds, rng);
  // Garments, each over the earlier ones.
  const int count = 1 + int(rng.below(4));
  for (int g = 0; g < count; ++g) {
    GarmentPlacement p;
    p.which = int64_t(rng.below(uint64_t(garments.count)));
    const int cls = garments.labels[p.which] + 1;
    const int scale = 2 + int(rng.below(3));  // 2, 3 or 4
    const int gh = int(garments.rows) * scale, gw = int(garments.cols) * scale;
    p.scale = float(scale);
    p.top = int(rng.below(uint64_t(std::max(1, h - gh + 1))));
    p.left = int(rng.below(uint64_t(std::max(1, w - gw + 1))));
    p.tint = garment_tint(rng, base);
    draw_garment(canvas, garments, p, out.labels.data(), uint8_t(cls), o.ink_threshold);
  }
  out.rgb = canvas.to_bytes();

  // The boundary band: a pixel whose 4-neighbour has another label becomes 255 (both sides).
  std::vector<uint8_t> band(out.labels.size(), 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const uint8_t l = out.labels[size_t(y) * w + x];
      const bool edge = (x > 0 && out.labels[size_t(y) * w + x - 1] != l) ||
                        (x + 1 < w && out.labels[size_t(y) * w + x + 1] != l) ||
                        (y > 0 && out.labels[size_t(y - 1) * w + x] != l) ||
                        (y + 1 < h && out.labels[size_t(y + 1) * w + x] != l);
      band[size_t(y) * w + x] = edge;
    }
  for (size_t i = 0; i < band.size(); ++i)
    if (band[i]) out.labels[i] = kIgnoreLabel;
  return out;
}

void write_scenes(const std::string& path, const FashionMnist& garments, const std::string& split, int64_t count,
                  const SceneOptions& options) {
  DatasetWriter writer(path, kSceneClasses, scene_class_names());
  Progress progress("make-scenes " + split, count);
  // Scenes are independent: make a batch in parallel, then write it in order.
  constexpr int64_t kBatch = 64;
  std::vector<Sample> batch(kBatch);
  for (int64_t start = 0; start < count; start += kBatch) {
    const int64_t n = std::min(kBatch, count - start);
#pragma omp parallel for schedule(dynamic)
    for (int64_t i = 0; i < n; ++i) batch[i] = make_scene(garments, split, start + i, options);
    for (int64_t i = 0; i < n; ++i) writer.add(batch[i]);
    progress.update(start + n);
  }
  progress.finish();
  writer.commit();
}

}  // namespace deeplab::data
