// The ImageNet of the built-in world: one Fashion-MNIST garment per photograph, drawn the way
// the scenes draw them (tinted, on a textured background, 2-4x its 28 x 28 size), labelled
// with its class (0..9). `deeplab pretrain` trains the VGG-16 classifier on these, as the paper's
// network was trained on ImageNet before it learnt to segment.
//
// Example `index` is garment `index` of the set. Its scale, place, tint, background and mirror
// image are drawn from the seed the loader gives (a new photograph of the same garment every
// epoch); a test set draws them from data::test_seed(index), so it is the same in every run.
#pragma once
#include <memory>
#include <string>

#include "data/example_source.h"
#include "data/fashion_mnist.h"

namespace deeplab::data {

struct GarmentPhotoOptions {
  int side = 96;                             // square photographs
  float scale_min = 2.0f, scale_max = 4.0f;  // garment size, times 28 pixels (the scenes' range)
};

// Fails naming the setting: a side of 28..1024 pixels, finite scales with 0 < min <= max <= 64.
void validate(const GarmentPhotoOptions& options);

class GarmentPhotos : public ExampleSource {
 public:
  // garments: a split of Fashion-MNIST (its name goes into messages).
  GarmentPhotos(std::shared_ptr<const FashionMnist> garments, std::string name, const GarmentPhotoOptions& options);
  int64_t size() const override { return garments_->count; }
  int image_side() const override { return options_.side; }
  int label_side() const override { return 1; }
  int num_classes() const override { return 10; }
  std::string name() const override { return name_; }
  std::string identity() const override;  // the garments' split and count, the side, the scales
  void make(int64_t index, uint64_t seed, float* image_chw, uint8_t* labels) override;

 private:
  std::shared_ptr<const FashionMnist> garments_;
  std::string name_;
  GarmentPhotoOptions options_;
};

}  // namespace deeplab::data
