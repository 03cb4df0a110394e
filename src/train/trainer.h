// Data-parallel training, as `deeplab train` runs it on every rank:
//   - every rank builds the same model; rank 0's parameters (fresh, --init, or a checkpoint)
//     are broadcast, so all replicas start equal;
//   - each iteration every rank runs iter_size batches of its share of the global batch
//     (data::Loader deals the images), gradients are summed over ranks in buckets while
//     backward runs (dist::GradientReducer), and every rank applies the same SGD update;
//   - rank 0 logs, writes checkpoints every `snapshot` iterations, on SIGUSR1, and on
//     SIGTERM/SIGINT (then training stops), and OUT/final.h5 at the end.
// A non-finite loss or gradient stops training before the update, naming the iteration; the
// checkpoints already written stay as they are.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "core/device.h"
#include "data/loader.h"
#include "dist/gradient_reducer.h"
#include "dist/mpi.h"
#include "models/deeplab.h"
#include "train/solver.h"

namespace deeplab::train {

struct TrainOptions {
  std::string data_path;  // training dataset (.h5), augmented as `augment` says
  // Or any other source of examples (pretraining's rendered garment photographs); when set,
  // data_path and augment are not used.
  std::shared_ptr<data::ExampleSource> examples;
  std::string out_dir;    // checkpoints, log, final.h5
  std::string init;       // model or checkpoint file to start from (the same network, or a vgg16
                          // classifier, converted by the paper's rule); empty: fresh from the seed
  std::string resume;     // empty: start afresh; "auto": newest good checkpoint in out_dir; or a path
  ModelSpec model;
  SolverOptions solver;
  data::AugmentOptions augment;
  int loader_threads = 2;
  DeviceChoice device = DeviceChoice::cpu;  // cuda: this rank's GPU (local rank mod GPUs visible)
  bool tf32 = false;                        // GPU convolutions may use TF32 tensor cores
};

struct StepStats {
  double loss = 0;            // over the global batch, normalised as the solver says
  double pixel_accuracy = 0;  // labelled pixels of the global batch whose argmax is right
  int64_t images = 0;         // global batch
  double normaliser = 0;
  double seconds = 0, allreduce_wait_seconds = 0;
};

// One training iteration on this rank's part of the global batch, on some device.
class Step {
 public:
  virtual ~Step() = default;
  // iteration: updates done before this one (it sets the learning rate).
  virtual StepStats run(int64_t iteration, const std::function<data::Batch()>& next_batch) = 0;
  // Brings the parameters and momentum into the host Model and Sgd (before checkpoints).
  virtual void sync_to_host() {}
};

// The global figures of a step from sums over this rank's batches {loss, labelled pixels,
// correct pixels, images}: summed over ranks, normalised. Fails on a non-finite loss.
StepStats global_stats(double sums[4], const SolverOptions& options, dist::Mpi& mpi, int64_t iteration);

// A key per training example: the same image in the same epoch gets the same dropout masks
// whichever rank and batch position it lands in.
std::vector<uint64_t> dropout_keys(const data::Batch& batch);

// The step on the CPU: oneDNN network, MPI gradient sums.
class TrainStep : public Step {
 public:
  TrainStep(Model& model, Sgd& sgd, const SolverOptions& options, dist::Mpi& mpi);
  StepStats run(int64_t iteration, const std::function<data::Batch()>& next_batch) override;

 private:
  Model& model_;
  Sgd& sgd_;
  SolverOptions options_;
  dist::Mpi& mpi_;
  dist::GradientReducer reducer_;
};

// The step for a device: TrainStep on the CPU; on a GPU (made current) the GPU backend's step
// (gpu::GpuTrainStep), once the program has registered that backend (gpu/backend.h): train/
// knows the Step interface only, so it never includes the GPU code.
std::unique_ptr<Step> make_step(Model& model, Sgd& sgd, const SolverOptions& options, dist::Mpi& mpi,
                                const DeviceSelection& device, bool tf32);
using DeviceStepMaker = std::unique_ptr<Step> (*)(Model& model, Sgd& sgd, const SolverOptions& options,
                                                  dist::Mpi& mpi, bool tf32);
void register_device_step(DeviceStepMaker maker);

// Sends rank 0's parameters (and momentum) to every rank.
void broadcast_state(Model& model, Sgd& sgd, dist::Mpi& mpi);
// CRC-32 over every parameter's bytes; fails when the ranks' replicas differ.
uint32_t check_replicas_identical(Model& model, dist::Mpi& mpi);

struct TrainSummary {
  int64_t start_iteration = 0, iterations_done = 0;
  bool finished = false;  // reached max_iter and wrote final.h5
  int stop_signal = 0;    // SIGTERM or SIGINT when stopped early (after a checkpoint)
  double last_loss = 0, last_pixel_accuracy = 0;
};

TrainSummary train(const TrainOptions& options, dist::Mpi& mpi);

// solver.freeze checked against the layers of a model of this spec (it builds one), so that a
// job can refuse a prefix that names no layer as a bad setting before it writes anything.
void check_freeze(const ModelSpec& spec, const std::vector<std::string>& prefixes);

}  // namespace deeplab::train
