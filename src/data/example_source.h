// Where training examples come from, for the loader: a segmentation data set file (each image
// augmented into a labelled crop), or a classification set rendered on the fly (one class per
// image; see garment_photos.h). The loader deals indices to ranks and threads; a source makes
// the example for an index, with its augmentation drawn from the seed it is given.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>

#include "data/dataset.h"

namespace deeplab::data {

struct AugmentOptions {
  int crop_size = 321;
  float scale_min = 1.0f, scale_max = 1.0f;  // random rescaling before the crop
  bool mirror = true;
};
// Fails naming the setting: a crop of 1..4096 pixels, finite scales with 0 < min <= max <= 16.
void validate(const AugmentOptions& augment);

class ExampleSource {
 public:
  virtual ~ExampleSource() = default;
  virtual int64_t size() const = 0;
  virtual int image_side() const = 0;  // examples are square: 3 x side x side
  virtual int label_side() const = 0;  // labels per side: image_side for maps, 1 for a class per image
  virtual int num_classes() const = 0;  // labels are 0 .. num_classes - 1 (or 255: ignore)
  virtual std::string name() const = 0;  // for messages: the file, or what is rendered
  // What the examples are, for a run's settings: a resumed run must learn from the same ones.
  virtual std::string identity() const = 0;
  // Writes example `index` (mean-subtracted BGR planes, and labels). Called from several
  // threads at once; the result depends only on (index, seed).
  virtual void make(int64_t index, uint64_t seed, float* image_chw, uint8_t* labels) = 0;
};

// The seed of example `index` in a fixed test set (the same photograph in every run).
inline uint64_t test_seed(int64_t index) { return 0x7e57ull ^ (uint64_t(index) * 0x9E3779B97F4A7C15ull); }

// A labelled data set file, augmented as `augment` says.
class DatasetExamples : public ExampleSource {
 public:
  DatasetExamples(const std::string& path, const AugmentOptions& augment);
  int64_t size() const override { return reader_.size(); }
  int image_side() const override { return augment_.crop_size; }
  int label_side() const override { return augment_.crop_size; }
  int num_classes() const override { return reader_.num_classes(); }
  std::string name() const override { return reader_.path(); }
  // The file's content stamp (not its path or time) and the augmentation.
  std::string identity() const override;
  void make(int64_t index, uint64_t seed, float* image_chw, uint8_t* labels) override;
  const DatasetReader& reader() const { return reader_; }

 private:
  DatasetReader reader_;
  AugmentOptions augment_;
  std::mutex read_mutex_;  // Debian's HDF5 is not built thread-safe
};

}  // namespace deeplab::data
