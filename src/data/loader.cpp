#include "data/loader.h"

#include <algorithm>
#include <sstream>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "core/rng.h"
#include "models/deeplab.h"

namespace deeplab::data {

std::vector<int64_t> epoch_shard(int64_t size, uint64_t seed, int64_t epoch, int rank, int ranks, int batch,
                                 int iter_size) {
  if (ranks < 1 || rank < 0 || rank >= ranks) fail("loader: rank ", rank, " of ", ranks);
  if (batch < 1 || iter_size < 1) fail("loader: batch ", batch, " and iter_size ", iter_size, " must be positive");
  std::vector<int64_t> order(size);
  for (int64_t i = 0; i < size; ++i) order[i] = i;
  Rng rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch) * 0xBF58476D1CE4E5B9ull + 17);
  for (int64_t i = size - 1; i > 0; --i) std::swap(order[i], order[rng.below(uint64_t(i + 1))]);
  const int64_t per_iteration = int64_t(batch) * ranks * iter_size;
  const int64_t batches = size / per_iteration * iter_size;  // this rank's batches this epoch
  std::vector<int64_t> shard;
  shard.reserve(size_t(batches * batch));
  for (int64_t j = 0; j < batches; ++j) {
    const int64_t first = (j * ranks + rank) * batch;
    shard.insert(shard.end(), order.begin() + first, order.begin() + first + batch);
  }
  return shard;
}

void augment(const Sample& s, const AugmentOptions& o, uint64_t seed, float* image, uint8_t* labels) {
  Rng rng(seed);
  const float scale = o.scale_min == o.scale_max ? o.scale_min : rng.uniform(o.scale_min, o.scale_max);
  cv::Mat rgb(int(s.height), int(s.width), CV_8UC3, const_cast<uint8_t*>(s.rgb.data()));
  cv::Mat lab(int(s.height), int(s.width), CV_8UC1, const_cast<uint8_t*>(s.labels.data()));
  cv::Mat rgb_s = rgb, lab_s = lab;
  if (scale != 1.0f) {
    const cv::Size size(std::max(1, int(std::lround(s.width * scale))), std::max(1, int(std::lround(s.height * scale))));
    cv::resize(rgb, rgb_s, size, 0, 0, cv::INTER_LINEAR);
    cv::resize(lab, lab_s, size, 0, 0, cv::INTER_NEAREST);  // labels are never blended
  }
  const int c = o.crop_size, h = rgb_s.rows, w = rgb_s.cols;
  // Crop origin in the (conceptually) padded image: padding goes right and bottom, as Caffe's
  // DeepLab data layer pads, and the crop is drawn uniformly over what fits.
  const int oy = h > c ? int(rng.below(uint64_t(h - c + 1))) : 0;
  const int ox = w > c ? int(rng.below(uint64_t(w - c + 1))) : 0;
  const bool flip = o.mirror && rng.below(2) == 1;
  const int64_t plane = int64_t(c) * c;
  for (int y = 0; y < c; ++y)
    for (int x = 0; x < c; ++x) {
      const int sy = oy + y, sx = ox + (flip ? c - 1 - x : x);
      const int64_t at = int64_t(y) * c + x;
      if (sy < h && sx < w) {
        const uint8_t* p = rgb_s.ptr<uint8_t>(sy) + sx * 3;
        for (int k = 0; k < 3; ++k) image[k * plane + at] = float(p[2 - k]) - kVggMeanBgr[k];  // RGB -> BGR
        labels[at] = lab_s.ptr<uint8_t>(sy)[sx];
      } else {
        for (int k = 0; k < 3; ++k) image[k * plane + at] = 0.0f;  // the mean, after subtraction
        labels[at] = kIgnoreLabel;
      }
    }
}

Tensor to_network_input(const Sample& s) {
  Tensor t({1, 3, s.height, s.width});
  const int64_t plane = s.height * s.width;
  for (int64_t i = 0; i < plane; ++i)
    for (int k = 0; k < 3; ++k) t.data()[k * plane + i] = float(s.rgb[i * 3 + 2 - k]) - kVggMeanBgr[k];
  return t;
}

int64_t batches_per_epoch(int64_t size, const LoaderOptions& o) {
  return size / (int64_t(o.batch) * o.ranks * o.iter_size) * o.iter_size;
}

void validate(const AugmentOptions& augment) {
  if (augment.crop_size < 1 || augment.crop_size > 4096)
    fail("data: crop_size ", augment.crop_size, " outside 1..4096 pixels");
  // Written so that NaN fails each comparison.
  if (!(augment.scale_min > 0 && augment.scale_min <= augment.scale_max && augment.scale_max <= 16))
    fail("data: scale range ", augment.scale_min, "..", augment.scale_max, ": expected 0 < scale_min <= scale_max <= 16");
}

DatasetExamples::DatasetExamples(const std::string& path, const AugmentOptions& augment)
    : reader_(path), augment_(augment) {
  validate(augment);
  reader_.require_labels("training");
}

std::string DatasetExamples::identity() const {
  std::ostringstream s;
  s << reader_.content_stamp() << "; crop " << augment_.crop_size << " scale " << augment_.scale_min << ".."
    << augment_.scale_max << " mirror " << augment_.mirror;
  return s.str();
}

void DatasetExamples::make(int64_t index, uint64_t seed, float* image_chw, uint8_t* labels) {
  EncodedSample stored;
  {
    std::lock_guard<std::mutex> lock(read_mutex_);
    stored = reader_.read_encoded(index);
  }
  const Sample s = decode(std::move(stored), reader_.path());  // a JPEG entry, in parallel
  augment(s, augment_, seed, image_chw, labels);
}

Loader::Loader(const std::string& path, const LoaderOptions& o, LoaderPosition start)
    : Loader(std::make_shared<DatasetExamples>(path, o.augment), o, start) {}

Loader::Loader(std::shared_ptr<ExampleSource> source, const LoaderOptions& o, LoaderPosition start)
    : source_(std::move(source)), options_(o), start_(start), position_(start) {
  const std::string path = source_->name();
  if (o.batch < 1 || o.threads < 1 || o.queue_depth < 1) fail("loader: batch, threads and queue depth must be positive");
  if (o.ranks < 1 || o.rank < 0 || o.rank >= o.ranks) fail("loader: rank ", o.rank, " of ", o.ranks);
  if (o.iter_size < 1) fail("loader: iter_size ", o.iter_size, " must be positive");
  steps_per_epoch_ = batches_per_epoch(source_->size(), o);
  if (steps_per_epoch_ < 1)
    fail(path, ": ", source_->size(), " images cannot make one iteration of ", o.batch, " x ", o.iter_size,
         " images on each of ", o.ranks, " ranks");
  if (start.epoch < 0 || start.step < 0 || start.step >= steps_per_epoch_)
    fail(path, ": cannot resume at epoch ", start.epoch, " step ", start.step, " (an epoch has ", steps_per_epoch_,
         " steps with batch ", o.batch, " on ", o.ranks, " ranks)");
  try {
    for (int w = 0; w < o.threads; ++w) workers_.emplace_back([this, w] { work(w); });
  } catch (...) {
    stop_workers();  // the threads already started must not be left running
    throw;
  }
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  room_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
}

Loader::~Loader() { stop_workers(); }

Batch Loader::make(int64_t sequence) {
  // Batch `sequence` after the start position: its epoch and step follow from the counts.
  const int64_t absolute = start_.epoch * steps_per_epoch_ + start_.step + sequence;
  const int64_t epoch = absolute / steps_per_epoch_, step = absolute % steps_per_epoch_;
  const std::vector<int64_t> shard = epoch_shard(source_->size(), options_.seed, epoch, options_.rank, options_.ranks, options_.batch, options_.iter_size);
  const int c = source_->image_side(), l = source_->label_side(), n = options_.batch;
  Batch b;
  b.epoch = epoch;
  b.images = Tensor({n, 3, c, c});
  b.labels = LabelMap(n, l, l);
  for (int i = 0; i < n; ++i) {
    const int64_t index = shard[step * n + i];
    const uint64_t seed = options_.seed ^ (uint64_t(epoch) * 0x9E3779B97F4A7C15ull) ^ (uint64_t(index) * 0xD6E8FEB86659FD93ull);
    source_->make(index, seed, b.images.data() + int64_t(i) * 3 * c * c, &b.labels.data[size_t(i) * l * l]);
    b.indices.push_back(index);
  }
  return b;
}

void Loader::work(int worker) {
  for (int64_t sequence = worker;; sequence += options_.threads) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      room_.wait(lock, [&] { return stop_ || sequence < taken_ + options_.queue_depth; });
      if (stop_) return;
    }
    // Nothing may escape a thread (that would end the program): failures go to next().
    try {
      Batch b = make(sequence);
      std::lock_guard<std::mutex> lock(mutex_);
      done_[sequence] = std::move(b);
      ready_.notify_all();
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error_.empty() || sequence < error_sequence_) error_ = e.what(), error_sequence_ = sequence;
      ready_.notify_all();
      return;
    }
  }
}

Batch Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  // Batches before a failed one still come (other workers make them); the failure surfaces
  // exactly when its batch is due, whatever the threads' timing.
  ready_.wait(lock, [&] { return done_.count(taken_) > 0 || (!error_.empty() && taken_ >= error_sequence_); });
  if (done_.count(taken_) == 0) fail(error_);
  Batch b = std::move(done_[taken_]);
  done_.erase(taken_);
  ++taken_;
  position_.step = (start_.step + taken_) % steps_per_epoch_;
  position_.epoch = (start_.epoch * steps_per_epoch_ + start_.step + taken_) / steps_per_epoch_;
  room_.notify_all();
  return b;
}

}  // namespace deeplab::data
