#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/h5_file_format.h"
#include "models/model_file.h"

namespace deeplab::train {

namespace fs = std::filesystem;

namespace {
const std::string kMomentum = "solver/momentum/";

// The iteration in a checkpoint's file name, or -1 for any other name.
int64_t iteration_of(const std::string& filename) {
  long long it = -1;
  char rest = 0;
  if (std::sscanf(filename.c_str(), "checkpoint-%lld.h%c", &it, &rest) != 2 || rest != '5') return -1;
  if (filename != checkpoint_name(it)) return -1;  // temporaries and look-alikes
  return it;
}

int64_t required_int(const h5::File& f, const std::string& key) {
  auto v = f.attr_int("solver", key);
  if (!v) fail(f.path(), ": attribute 'solver/", key, "' is missing: not a training checkpoint");
  return *v;
}
}  // namespace

std::string checkpoint_name(int64_t iteration) {
  char name[64];
  std::snprintf(name, sizeof name, "checkpoint-%07lld.h5", (long long)iteration);
  return name;
}

void save_checkpoint(const std::string& path, Model& model, Sgd& sgd, const TrainState& s) {
  h5::NewFile out(path, kModelFormat, kModelFormatVersion);
  h5::File& f = out.file();
  write_model(f, model);
  for (size_t i = 0; i < sgd.params().size(); ++i)
    write_checked_tensor(f, kMomentum + sgd.params()[i]->name, sgd.history()[i]);
  f.set_attr("solver", "iteration", s.iteration);
  f.set_attr("solver", "global_batch", s.global_batch);
  f.set_attr("solver", "seed", int64_t(s.seed));
  f.set_attr("solver", "epoch", s.epoch);
  f.set_attr("solver", "epoch_step", s.epoch_step);
  f.set_attr("solver", "ranks", int64_t(s.ranks));
  out.commit();
}

TrainState load_checkpoint(const std::string& path, Model& model, Sgd& sgd) {
  h5::File f = h5::File::open_read(path);
  require_same_network(f, model.spec());
  if (!f.exists("solver")) fail(path, ": no 'solver' group: a model file, not a training checkpoint");
  TrainState s;
  s.iteration = required_int(f, "iteration");
  s.global_batch = required_int(f, "global_batch");
  s.seed = uint64_t(required_int(f, "seed"));
  s.epoch = required_int(f, "epoch");
  s.epoch_step = required_int(f, "epoch_step");
  s.ranks = int(required_int(f, "ranks"));
  if (s.iteration < 0 || s.global_batch < 1 || s.epoch < 0 || s.epoch_step < 0)
    fail(path, ": solver state out of range (iteration ", s.iteration, ", global batch ", s.global_batch, ", epoch ",
         s.epoch, ", epoch step ", s.epoch_step, ")");
  read_params(f, model);
  for (size_t i = 0; i < sgd.params().size(); ++i) {
    // Checkpoints written before momentum had a checksum are read without one.
    const std::string name = kMomentum + sgd.params()[i]->name;
    Tensor momentum;
    const std::string problem = stored_tensor_problem(f, name, sgd.history()[i].shape(), &momentum);
    if (!problem.empty()) fail(path, ": entry '", name, "' ", problem);
    sgd.history()[i].copy_from(momentum);
  }
  return s;
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const int64_t it = iteration_of(entry.path().filename().string());
    if (it >= 0 && entry.is_regular_file()) found.emplace_back(it, entry.path().string());
  }
  std::sort(found.rbegin(), found.rend());
  std::vector<std::string> paths;
  for (auto& f : found) paths.push_back(f.second);
  return paths;
}

void prune_checkpoints(const std::string& dir, int keep) {
  const std::vector<std::string> all = list_checkpoints(dir);
  for (size_t i = size_t(std::max(keep, 0)); i < all.size(); ++i) fs::remove(all[i]);
}

}  // namespace deeplab::train
