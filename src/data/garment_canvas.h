// Drawing Fashion-MNIST garments as photographs: a textured, coloured background and tinted
// garments scaled up with smooth edges. The built-in scenes (scenes.h) and the classification
// photographs that pretraining sees (garment_photos.h) are both drawn this way, so the network
// meets the same kind of object in both.
#pragma once
#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "data/fashion_mnist.h"

namespace deeplab::data {

struct Colour {
  float r, g, b;
};

// An RGB canvas (height x width x 3 floats, 0..255 before rounding).
struct Canvas {
  int height = 0, width = 0;
  std::vector<float> rgb;
  Canvas(int h, int w) : height(h), width(w), rgb(size_t(h) * w * 3) {}
  std::vector<uint8_t> to_bytes() const;  // rounded and clamped to 0..255
};

// Paints a base colour, a gentle gradient, stripes at a random angle and pixel noise; returns
// the base colour.
Colour paint_background(Canvas& canvas, Rng& rng);

// A colour that stands out from `background`, so the garment's edges are visible ones.
Colour garment_tint(Rng& rng, const Colour& background);

struct GarmentPlacement {
  int64_t which = 0;    // garment index in the set
  float scale = 2;      // times the 28 x 28 original
  int top = 0, left = 0;  // may be negative: the canvas then shows part of the garment
  Colour tint{128, 128, 128};
};

// Draws the garment over what is there. Where `labels` is given (height x width), pixels whose
// ink is above ink_threshold get `label`.
void draw_garment(Canvas& canvas, const FashionMnist& garments, const GarmentPlacement& g, uint8_t* labels = nullptr,
                  uint8_t label = 0, float ink_threshold = 0);

}  // namespace deeplab::data
