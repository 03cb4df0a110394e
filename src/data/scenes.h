// The built-in data set: scenes of Fashion-MNIST garments, so the whole system runs on a fresh
// machine. Each scene is a canvas (default 160 x 160, any width x height) with a textured,
// coloured background and 1 to 4 garments, each scaled up 2-4x, tinted a colour and laid on top
// of the earlier ones.
// Labels: the garment's class + 1 where its ink is above a threshold, 0 (background) elsewhere,
// and 255 (ignore) on the band where two regions meet, as VOC marks object boundaries.
// 11 classes. Scene i of a split depends only on (seed, split, i).
// With background photographs, each scene's canvas is instead a random crop of one of them, of
// the scene's shape (a third to all of the largest that fits, resized to the scene's size):
// garments pasted onto real photographs, a harder and more realistic set.
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/fashion_mnist.h"
#include "image/image_io.h"

namespace deeplab::data {

inline constexpr int kSceneClasses = 11;
std::vector<std::string> scene_class_names();  // "background", then Fashion-MNIST's ten

struct SceneOptions {
  int width = 160, height = 160;
  uint64_t seed = 1;
  float ink_threshold = 0.15f;  // of full ink: fainter garment pixels count as background
  std::vector<RgbImage> backgrounds;  // photographs to crop canvases from; empty: textured canvases
};

// Scene `index` of a split ("train" draws on the training garments, "val" on the test ones).
Sample make_scene(const FashionMnist& garments, const std::string& split, int64_t index, const SceneOptions& options);

// Scenes 0 .. count-1 of a split as a dataset file at `path` (made in parallel, written in order).
void write_scenes(const std::string& path, const FashionMnist& garments, const std::string& split, int64_t count,
                  const SceneOptions& options);

}  // namespace deeplab::data
