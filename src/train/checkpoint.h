// Training checkpoints: a model file (models/model_file.h) plus the solver's state under
// "/solver": the iteration, the momentum of every trainable parameter ("/solver/momentum/fc6/
// weight" ...), and what fixes the data stream: the seed, the global batch and the loader's
// position. Every random draw in training (data order, crops, mirroring, dropout masks) is a
// function of (seed, epoch, image), so these few numbers are the whole random state and a resumed
// run continues exactly. Files are "checkpoint-NNNNNNN.h5" in the output folder, written
// atomically; the newest few are kept.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/deeplab.h"
#include "train/solver.h"

namespace deeplab::train {

struct TrainState {
  int64_t iteration = 0;     // updates done
  int64_t global_batch = 0;  // batch x iter_size x ranks
  uint64_t seed = 1;
  int64_t epoch = 0, epoch_step = 0;  // the loader's position (batches of this rank's size)
  int ranks = 1;             // when saved; a resume may use another split of the same global batch
};

std::string checkpoint_name(int64_t iteration);  // "checkpoint-0000600.h5"
void save_checkpoint(const std::string& path, Model& model, Sgd& sgd, const TrainState& state);
// Loads parameters and momentum into a model and solver of the same spec; returns the state.
// A file that is not a checkpoint of this model is a clear error naming the file and entry.
TrainState load_checkpoint(const std::string& path, Model& model, Sgd& sgd);
// Checkpoints in a folder, newest first (by the iteration in the name).
std::vector<std::string> list_checkpoints(const std::string& dir);
// Removes all but the newest `keep` checkpoints.
void prune_checkpoints(const std::string& dir, int keep);

}  // namespace deeplab::train
