#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "core/h5.h"
#include "core/log.h"
#include "core/output_lock.h"
#include "core/signals.h"
#include "core/text_file.h"
#include "models/model_file.h"
#include "models/msc_from_largefov.h"
#include "models/vgg16_conversion.h"
#include "nn/softmax.h"
#include "train/checkpoint.h"
#include "train/train_log.h"

namespace deeplab::train {

namespace fs = std::filesystem;

namespace {
using Clock = std::chrono::steady_clock;

std::vector<nn::Param*> in_backward_order(Model& model) {
  std::vector<nn::Param*> params = model.params();
  std::reverse(params.begin(), params.end());
  return params;
}

std::string format_duration(double seconds) {
  char s[32];
  const long t = long(seconds + 0.5);
  if (t >= 3600) std::snprintf(s, sizeof s, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60) std::snprintf(s, sizeof s, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(s, sizeof s, "%lds", t);
  return s;
}
}  // namespace

std::vector<uint64_t> dropout_keys(const data::Batch& b) {
  std::vector<uint64_t> keys;
  for (int64_t index : b.indices) keys.push_back((uint64_t(b.epoch) << 40) ^ uint64_t(index));
  return keys;
}

StepStats global_stats(double sums[4], const SolverOptions& options, dist::Mpi& mpi, int64_t iteration) {
  mpi.allreduce_sum(sums, 4);
  StepStats s;
  s.images = int64_t(sums[3]);
  s.normaliser = options.loss_normalization == nn::LossNormalization::per_pixel ? std::max(sums[1], 1.0) : sums[3];
  s.loss = sums[0] / s.normaliser;
  s.pixel_accuracy = sums[1] > 0 ? sums[2] / sums[1] : 0;
  if (!std::isfinite(s.loss))
    fail("iteration ", iteration + 1, ": the loss is ", s.loss,
         "; training stopped before this update (lower solver.base_lr?)");
  return s;
}

TrainStep::TrainStep(Model& model, Sgd& sgd, const SolverOptions& options, dist::Mpi& mpi)
    : model_(model), sgd_(sgd), options_(options), mpi_(mpi), reducer_(mpi, in_backward_order(model)) {}

StepStats TrainStep::run(int64_t iteration, const std::function<data::Batch()>& next_batch) {
  const auto t0 = Clock::now();
  nn::Net& net = model_.net();
  net.zero_grads();
  reducer_.begin();
  // Summed over this rank's batches: loss, labelled pixels, correct pixels, images.
  double sums[4] = {0, 0, 0, 0};
  const auto reduce_as_ready = [&](nn::Layer& layer) {
    for (nn::Param* p : layer.params()) reducer_.ready(p);
    reducer_.progress();
  };
  for (int k = 0; k < options_.iter_size; ++k) {
    const data::Batch batch = next_batch();
    model_.set_dropout_keys(dropout_keys(batch));
    const Tensor scores = model_.forward(batch.images);
    const LabelMap labels = nn::shrink_labels(batch.labels, scores.dim(2), scores.dim(3));
    // Unnormalised here; divided below by a count summed over every rank and batch.
    const nn::LossResult r = nn::softmax_cross_entropy(scores, labels, nn::LossNormalization::none);
    const bool last = k + 1 == options_.iter_size;
    net.backward({r.grad}, last ? std::function<void(nn::Layer&)>(reduce_as_ready) : nullptr);
    sums[0] += r.loss;
    sums[1] += double(r.labelled);
    sums[2] += double(r.correct);
    sums[3] += double(batch.images.dim(0));
  }
  reducer_.finish();
  StepStats s = global_stats(sums, options_, mpi_, iteration);
  const int64_t number = iteration + 1;
  for (nn::Param* p : sgd_.params()) {
    const float* g = p->grad.data();
    const int64_t n = p->grad.numel();
    int bad = 0;
#pragma omp parallel for reduction(| : bad)
    for (int64_t i = 0; i < n; ++i) bad |= !std::isfinite(g[i]);
    if (bad) fail("iteration ", number, ": the gradient of ", p->name, " is not finite; training stopped before this update");
  }
  sgd_.update(iteration, s.normaliser);
  s.allreduce_wait_seconds = reducer_.wait_seconds();
  s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return s;
}

namespace {
DeviceStepMaker device_step_maker = nullptr;
}  // namespace

void register_device_step(DeviceStepMaker maker) { device_step_maker = maker; }

std::unique_ptr<Step> make_step(Model& model, Sgd& sgd, const SolverOptions& options, dist::Mpi& mpi,
                                const DeviceSelection& device, bool tf32) {
  if (device.device == Device::cpu) return std::make_unique<TrainStep>(model, sgd, options, mpi);
  if (!device_step_maker) fail(no_gpu_backend_reason());
  return device_step_maker(model, sgd, options, mpi, tf32);
}

void broadcast_state(Model& model, Sgd& sgd, dist::Mpi& mpi) {
  for (nn::Param* p : model.params()) {
    mpi.broadcast(p->value.data(), p->value.numel());
    ++p->version;
  }
  for (Tensor& h : sgd.history()) mpi.broadcast(h.data(), h.numel());
}

uint32_t check_replicas_identical(Model& model, dist::Mpi& mpi) {
  const uint32_t crc = parameters_crc(model);
  int64_t range[2] = {int64_t(crc), -int64_t(crc)};  // max and -min over the ranks
  mpi.allreduce_max(range, 2);
  if (range[0] != -range[1])
    fail("the ", mpi.size(), " ranks hold different parameters (CRC-32 from ", -range[1], " to ", range[0],
         "): data-parallel replicas diverged");
  return crc;
}

namespace {

// Rank 0 reads the starting point (a checkpoint to resume, or --init weights); the caller
// broadcasts it. Returns the state to continue from (iteration 0 for a fresh start).
TrainState load_start(const TrainOptions& o, Model& model, Sgd& sgd, const TrainState& fresh) {
  std::vector<std::string> candidates;
  if (o.resume == "auto") candidates = list_checkpoints(o.out_dir);
  else if (!o.resume.empty()) candidates = {o.resume};
  for (const std::string& path : candidates) {
    // A checkpoint of another network is another run's, never one to skip: a fresh start in its
    // folder would prune both runs' checkpoints. Only damaged ones are passed over.
    if (o.resume == "auto") {
      std::optional<h5::File> f;
      try {
        f.emplace(h5::File::open_read(path));
        read_model_spec(*f);
      } catch (const Error& e) {
        log_warn(std::string("skipping unreadable checkpoint: ") + e.what());
        continue;
      }
      require_same_network(*f, model.spec());
    }
    try {
      TrainState s = load_checkpoint(path, model, sgd);
      log_info("resuming from " + path + " at iteration " + std::to_string(s.iteration));
      return s;
    } catch (const Error& e) {
      if (o.resume != "auto") throw;
      log_warn(std::string("skipping unreadable checkpoint: ") + e.what());
    }
  }
  if (o.resume == "auto") log_info("no checkpoint in " + o.out_dir + ": starting from the beginning");
  if (!o.init.empty()) {
    h5::File f = h5::File::open_read(o.init);
    const ModelKind from = read_model_spec(f).kind, to = model.spec().kind;
    auto report = [&](const WeightsReport& r, const std::string& how) {
      std::string loaded;
      for (const std::string& l : r.loaded) loaded += (loaded.empty() ? "" : "; ") + l;
      log_info("initial weights " + how + " " + o.init + ": " + loaded);
      for (const std::string& w : r.warnings) log_warn(w);
    };
    if (is_classifier(from) && !is_classifier(to)) {
      report(init_from_vgg16_file(o.init, model), "converted from the VGG-16 classifier");
    } else if (from == ModelKind::largefov && to == ModelKind::msc_largefov) {
      report(init_msc_from_largefov_file(o.init, model), "of the multi-scale network from the LargeFOV");
    } else {
      require_same_network(f, model.spec());
      read_params(f, model);
      log_info("initial weights from " + o.init);
    }
  }
  return fresh;
}

// What makes a run the run it is, written beside its checkpoints: a run resumed with other
// settings would silently become a different experiment. Left out: the length and the
// reporting (max_iter, snapshot, display, threads, device), which may change between the parts
// of a run, and what the checkpoint itself is checked against with a message of its own (the
// network, the global batch, however split over ranks, and the seed).
std::string run_settings(const TrainOptions& o, const data::ExampleSource& examples) {
  std::ostringstream s;
  const SolverOptions& v = o.solver;
  // The examples by what they are (a data set's content, not its path), the convolution
  // algorithm because it changes the rounding, so that a resumed run ends where a straight one would.
  s << "data = " << examples.identity() << "\ninit = " << o.init << "\ndropout = " << o.model.dropout
    << "\nconv = " << conv_policy_name(o.model.conv_policy) << "\nsolver = base_lr " << v.base_lr << " lr_policy "
    << lr_policy_name(v.lr_policy) << " gamma " << v.gamma << " stepsize " << v.stepsize << " power " << v.power
    << " warmup " << v.warmup << " momentum " << v.momentum << " weight_decay " << v.weight_decay << " loss "
    << loss_normalization_name(v.loss_normalization) << "\n";
  if (!v.freeze.empty()) {  // absent when empty: the settings of runs from before the option stay valid
    s << "freeze =";
    for (const std::string& prefix : v.freeze) s << " " << prefix;
    s << "\n";
  }
  return s.str();
}

void save_snapshot(const TrainOptions& o, Model& model, Sgd& sgd, const TrainState& s, TrainLog& log) {
  const std::string path = o.out_dir + "/" + checkpoint_name(s.iteration);
  save_checkpoint(path, model, sgd, s);
  prune_checkpoints(o.out_dir, o.solver.snapshot_keep);
  log.write_curve();
  log_info("checkpoint " + path);
}

// Rank 0, holding the folder's lock: a fresh run does not start over another run's checkpoints;
// a resumed one must keep the settings it was started with.
void check_output_folder(const TrainOptions& o, const data::ExampleSource& examples) {
  const bool earlier = !list_checkpoints(o.out_dir).empty();
  if (earlier && o.resume.empty())
    fail(o.out_dir, ": holds the checkpoints of an earlier run; pass --resume auto to continue it, or choose "
         "another --out");
  const std::string settings = o.out_dir + "/settings";
  if (!earlier) fs::remove(settings);  // this run starts the folder afresh
  // A resume from a named checkpoint is held to the folder's settings too.
  if (!o.resume.empty())
    require_settings(settings, run_settings(o, examples), "continue it with those settings, or choose another --out");
  else
    write_file(settings, run_settings(o, examples));
}

data::LoaderOptions loader_options(const TrainOptions& o, const dist::Mpi& mpi) {
  data::LoaderOptions lo;
  lo.batch = o.solver.batch;
  lo.iter_size = o.solver.iter_size;
  lo.augment = o.augment;
  lo.seed = o.solver.seed;
  lo.rank = mpi.rank();
  lo.ranks = mpi.size();
  lo.threads = o.loader_threads;
  return lo;
}

// Where every rank starts: rank 0 reads the checkpoint (or the initial weights) and hands the
// iteration, the parameters and the solver's state to the others; a checkpoint of another
// global batch or seed is refused.
TrainState start_state(const TrainOptions& o, Model& model, Sgd& sgd, const TrainState& fresh, dist::Mpi& mpi) {
  TrainState state = mpi.rank() == 0 ? load_start(o, model, sgd, fresh) : fresh;
  int64_t header[3] = {state.iteration, state.global_batch, int64_t(state.seed)};
  mpi.broadcast(header, 3);
  state.iteration = header[0];
  if (header[1] != fresh.global_batch)
    fail("the checkpoint was trained with a global batch of ", header[1], "; this run has ", fresh.global_batch,
         " (batch x iter_size x ranks): keep the global batch to resume");
  if (uint64_t(header[2]) != o.solver.seed)
    fail("the checkpoint was trained with solver.seed ", header[2], ", this run has ", o.solver.seed);
  broadcast_state(model, sgd, mpi);
  if (state.iteration > o.solver.max_iter)
    fail("the checkpoint is at iteration ", state.iteration, ", past solver.max_iter ", o.solver.max_iter);
  return state;
}

// The examples a run learns from, checked against the model and the global batch.
struct TrainData {
  std::shared_ptr<data::ExampleSource> examples;
  int64_t per_epoch = 0, global_batch = 0;
};

TrainData open_train_data(const TrainOptions& o, const data::LoaderOptions& lo) {
  TrainData d;
  d.examples = o.examples ? o.examples : std::make_shared<data::DatasetExamples>(o.data_path, o.augment);
  const data::ExampleSource& e = *d.examples;
  if (e.num_classes() > o.model.num_classes)
    fail(e.name(), ": labels have ", e.num_classes(), " classes, the model (model.num_classes) only ", o.model.num_classes);
  d.per_epoch = data::batches_per_epoch(e.size(), lo);
  d.global_batch = int64_t(o.solver.batch) * o.solver.iter_size * lo.ranks;
  if (d.per_epoch < 1)
    fail(e.name(), ": ", e.size(), " images are fewer than one global batch of ", d.global_batch, " (batch ",
         o.solver.batch, " x iter_size ", o.solver.iter_size, " x ", lo.ranks, " ranks)");
  return d;
}

// Rank 0 at the end: the last checkpoint (unless the run did nothing and one is there), the model.
void write_final(const TrainOptions& o, Model& model, Sgd& sgd, const TrainState& state, bool trained, uint32_t crc,
                 int ranks, TrainLog& log) {
  if (trained || list_checkpoints(o.out_dir).empty()) save_snapshot(o, model, sgd, state, log);
  save_model(o.out_dir + "/final.h5", model);
  char line[160];
  std::snprintf(line, sizeof line, "finished %lld iterations; replicas identical on %d rank(s) (CRC-32 %08x); model %s",
                (long long)state.iteration, ranks, crc, (o.out_dir + "/final.h5").c_str());
  log_info(line);
}

// Rank 0's account of the run as it goes: a log row and the progress line per iteration, a
// display line (averages since the last one) every solver.display iterations, the loss curve.
class RunReport {
 public:
  RunReport(const TrainOptions& o, int64_t start, int64_t global_batch)
      : o_(o), start_(start), global_batch_(global_batch), log_(o.out_dir, start),
        progress_("train", long(o.solver.max_iter), long(start)) {
    // A resumed run's clock goes on from its last logged row.
    if (!log_.rows().empty()) run_seconds_ = log_.rows().back().seconds;
  }

  void add(int64_t it, int64_t epoch, const StepStats& s) {
    loss_ += s.loss, acc_ += s.pixel_accuracy, seconds_ += s.seconds, wait_ += s.allreduce_wait_seconds;
    run_seconds_ += s.seconds, session_seconds_ += s.seconds, ++count_;
    const double lr = learning_rate(o_.solver, it - 1);
    log_.add({it, epoch, s.loss, s.pixel_accuracy, lr, double(s.images) / s.seconds, 1e3 * s.allreduce_wait_seconds,
              run_seconds_});
    char extra[96];
    std::snprintf(extra, sizeof extra, "loss %.4f acc %.3f", s.loss, s.pixel_accuracy);
    progress_.update(long(it), extra);
    if (it % o_.solver.display != 0 && it != o_.solver.max_iter) return;
    const double per_iteration = session_seconds_ / double(it - start_);
    char line[256];
    // A classifier's "pixels" are its photographs' single labels.
    const char* accuracy = is_classifier(o_.model.kind) ? "accuracy" : "pixel accuracy";
    std::snprintf(line, sizeof line,
                  "iteration %lld/%lld  loss %.4f  %s %.3f  lr %.3g  %.2f images/s  allreduce wait "
                  "%.1f%%  ETA %s",
                  (long long)it, (long long)o_.solver.max_iter, loss_ / count_, accuracy, acc_ / count_, lr,
                  double(global_batch_) * count_ / seconds_, 100.0 * wait_ / seconds_,
                  format_duration(per_iteration * double(o_.solver.max_iter - it)).c_str());
    log_info(line);
    log_.write_curve();
    loss_ = acc_ = seconds_ = wait_ = 0;
    count_ = 0;
  }
  TrainLog& log() { return log_; }
  void finish() { progress_.finish(); }

 private:
  const TrainOptions& o_;
  int64_t start_, global_batch_;
  TrainLog log_;
  Progress progress_;
  double loss_ = 0, acc_ = 0, seconds_ = 0, wait_ = 0;
  double run_seconds_ = 0, session_seconds_ = 0;  // the run's (the log's column), this process's (the ETA)
  int count_ = 0;
};

void make_output_folder(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) fail(dir, ": cannot create the output folder");
}

// What is trained on what, where, from where to where: the run's first log line.
void log_start(const TrainOptions& o, Model& model, const TrainData& d, int64_t start, const DeviceSelection& device,
               int ranks) {
  log_info("training " + std::string(model_kind_name(o.model.kind)) + " (" + std::to_string(model.param_count()) +
           " parameters) on " + d.examples->name() + ": " + std::to_string(d.examples->size()) +
           " images, global batch " + std::to_string(d.global_batch) + " = " + std::to_string(o.solver.batch) +
           " x iter_size " + std::to_string(o.solver.iter_size) + " x " + std::to_string(ranks) + " ranks, iterations " +
           std::to_string(start) + " -> " + std::to_string(o.solver.max_iter) + " on " + device.describe() +
           (ranks > 1 ? " (rank 0)" : ""));
}

}  // namespace

void check_freeze(const ModelSpec& spec, const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return;
  Model model(spec, nn::Phase::test);
  freeze_params(model.params(), prefixes);
}

TrainSummary train(const TrainOptions& o, dist::Mpi& mpi) {
  validate(o.solver);
  catch_stop_signals();
  const bool root = mpi.rank() == 0;

  // Set-up: the inputs (a mistyped path leaves no folder behind), the folder, the network and
  // where it starts.
  const data::LoaderOptions lo = loader_options(o, mpi);
  const TrainData d = open_train_data(o, lo);
  for (const std::string& input : {o.init, o.resume == "auto" ? std::string() : o.resume})
    if (!input.empty()) read_model_spec(h5::File::open_read(input));
  std::optional<OutputLock> lock;  // rank 0 writes the folder; held until the end
  if (root) {
    make_output_folder(o.out_dir);
    lock.emplace(o.out_dir);
    check_output_folder(o, *d.examples);
  }
  Model model(o.model, nn::Phase::train, o.solver.seed);
  freeze_params(model.params(), o.solver.freeze);
  Sgd sgd(o.solver, model.params());
  TrainState fresh;
  fresh.global_batch = d.global_batch;
  fresh.seed = o.solver.seed;
  fresh.ranks = mpi.size();
  const int64_t start = start_state(o, model, sgd, fresh, mpi).iteration, max_iter = o.solver.max_iter;
  const int64_t absolute = start * o.solver.iter_size;
  data::Loader loader(d.examples, lo, data::LoaderPosition{absolute / d.per_epoch, absolute % d.per_epoch});
  const DeviceSelection device = use_device(o.device, mpi.local_rank());
  std::unique_ptr<Step> step = make_step(model, sgd, o.solver, mpi, device, o.tf32);
  std::unique_ptr<RunReport> report;
  if (root) {
    report = std::make_unique<RunReport>(o, start, d.global_batch);
    log_start(o, model, d, start, device, mpi.size());
  }
  auto state_at = [&](int64_t iteration) {
    TrainState s = fresh;
    s.iteration = iteration;
    const data::LoaderPosition p = loader.position();
    s.epoch = p.epoch;
    s.epoch_step = p.step;
    return s;
  };

  // The loop: a step, its report, then checkpoints and stop signals, decided alike on every rank.
  TrainSummary summary;
  summary.start_iteration = start;
  int64_t it = start;
  while (it < max_iter) {
    const StepStats s = step->run(it, [&] { return loader.next(); });
    ++it;
    summary.last_loss = s.loss;
    summary.last_pixel_accuracy = s.pixel_accuracy;
    if (root) report->add(it, loader.position().epoch, s);
    // Every rank takes the same decision: signals may reach only some of them.
    int64_t flags[2] = {stop_signal(), take_checkpoint_request() ? 1 : 0};
    mpi.allreduce_max(flags, 2);
    const bool snapshot_due = o.solver.snapshot > 0 && it % o.solver.snapshot == 0;
    if (it < max_iter && (snapshot_due || flags[0] || flags[1])) {
      step->sync_to_host();
      check_replicas_identical(model, mpi);
      if (root) save_snapshot(o, model, sgd, state_at(it), report->log());
    }
    if (flags[0] && it < max_iter) {
      if (root) {
        report->finish();
        log_info("stopped by " + std::string(flags[0] == SIGINT ? "SIGINT" : "SIGTERM") + " after iteration " +
                 std::to_string(it) + "; continue with --resume auto");
      }
      summary.stop_signal = int(flags[0]);
      summary.iterations_done = it;
      return summary;
    }
  }

  // The end: the last checkpoint and the model, once the replicas are checked equal.
  if (root) report->finish();
  step->sync_to_host();
  const uint32_t crc = check_replicas_identical(model, mpi);
  if (root) write_final(o, model, sgd, state_at(it), it > start, crc, mpi.size(), report->log());
  summary.finished = true;
  summary.iterations_done = it;
  return summary;
}

}  // namespace deeplab::train
