// The training loader: which examples a rank reads each epoch, and worker threads that prepare
// batches ahead of the network (the examples themselves come from an ExampleSource).
//
// Every epoch is a permutation of the data set drawn from (seed, epoch), dealt out to the ranks a
// batch at a time in turn: rank 0 takes the first batch, rank 1 the next, and so on. One training
// iteration (iter_size batches on each rank) therefore reads the next batch x ranks x iter_size
// entries of the permutation, the same images however the global batch is split across ranks
// and accumulation steps. The few images that do not fill an iteration are skipped that epoch.
// Each image's augmentation draws from (seed, epoch, image index): the batches do not depend on
// how many worker threads made them, only on the seed and the ranks.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/label_map.h"
#include "core/tensor.h"
#include "data/dataset.h"
#include "data/example_source.h"

namespace deeplab::data {

// The image indices a rank reads in an epoch, in order (a whole number of iterations).
std::vector<int64_t> epoch_shard(int64_t dataset_size, uint64_t seed, int64_t epoch, int rank, int ranks,
                                 int batch = 1, int iter_size = 1);

// One training example: mean-subtracted BGR planes (3 x crop x crop) and labels (crop x crop),
// scaled, cropped (padding: the mean for pixels, 255 for labels) and mirrored at random.
void augment(const Sample& sample, const AugmentOptions& options, uint64_t seed, float* image_chw, uint8_t* labels);
// Test time: the whole image, mean-subtracted BGR, no augmentation.
Tensor to_network_input(const Sample& sample);

struct LoaderOptions {
  int batch = 1;
  AugmentOptions augment;  // for a data set file (the path constructor)
  uint64_t seed = 1;
  int rank = 0, ranks = 1;
  int iter_size = 1;     // batches per rank in one training iteration (gradient accumulation)
  int threads = 2;       // worker threads preparing batches
  int queue_depth = 4;   // batches prepared ahead at most
};

// Batches each rank takes in an epoch (a whole number of iterations; 0 when one does not fit).
int64_t batches_per_epoch(int64_t dataset_size, const LoaderOptions& options);

struct Batch {
  Tensor images;                 // batch x 3 x side x side
  LabelMap labels;               // batch x label side x label side (1 x 1: a class per image)
  std::vector<int64_t> indices;  // data set entries, in order
  int64_t epoch = 0;
};

// Where a loader stands, for checkpoints: resuming there gives the same batches again.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t step = 0;  // batches already taken this epoch
};

class Loader {
 public:
  // A labelled data set file, augmented as options.augment says.
  Loader(const std::string& path, const LoaderOptions& options, LoaderPosition start = {});
  Loader(std::shared_ptr<ExampleSource> source, const LoaderOptions& options, LoaderPosition start = {});
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  Batch next();  // blocks until the next batch is ready; epochs roll over
  LoaderPosition position() const { return position_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

 private:
  void work(int worker);
  void stop_workers();
  Batch make(int64_t sequence);

  std::shared_ptr<ExampleSource> source_;
  LoaderOptions options_;
  int64_t steps_per_epoch_ = 0;
  LoaderPosition start_, position_;
  int64_t taken_ = 0;  // batches handed out since start_
  std::mutex mutex_;
  std::condition_variable ready_, room_;
  std::map<int64_t, Batch> done_;
  std::string error_;            // the first failure, and the batch it was making
  int64_t error_sequence_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace deeplab::data
