// Training: learning-rate policies, Caffe's SGD update, accumulation equivalence, keyed dropout,
// checkpoints (round trip, pruning, damaged files), the log, and a non-finite loss stopping
// training. The MPI side (ranks, kill -9 and resume) is in tests/e2e/train.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/signals.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "dist/buckets.h"
#include "dist/mpi.h"
#include "gradcheck.h"
#include "models/model_file.h"
#include "models/scorer.h"
#include "nn/dropout.h"
#include "test_support.h"
#include "train/checkpoint.h"
#include "train/solver.h"
#include "train/train_log.h"
#include "train/trainer.h"

namespace deeplab::train {
namespace {

namespace fs = std::filesystem;
using deeplab::testing::expect_error;
using TrainTest = deeplab::testing::ScratchDirTest;

// The MPI and NCCL reducers share this plan: a bucket closes once it reaches the size, and the
// last one takes whatever is left.
TEST(GradientBuckets, CloseAtTheSizeInBackwardOrder) {
  const size_t mb = size_t(1) << 20;  // floats per MB / 4
  // 4 MB, 3 MB, 2 MB, 8 MB, 1 KB with 8 MB buckets: {4+3+2}, {8}, {the rest}.
  EXPECT_EQ(dist::plan_buckets({mb, 3 * mb / 4, mb / 2, 2 * mb, 256}, 8 * mb), (std::vector<int>{0, 0, 0, 1, 2}));
  EXPECT_EQ(dist::plan_buckets({2 * mb, 2 * mb}, 8 * mb), (std::vector<int>{0, 1}));  // no empty bucket at the end
  EXPECT_EQ(dist::plan_buckets({10, 10, 10}, 1 * mb), (std::vector<int>{0, 0, 0}));
  EXPECT_TRUE(dist::plan_buckets({}, mb).empty());
}

// Sets environment variables for one test and puts back what was there.
class ScopedEnv {
 public:
  void set(const char* name, const char* value) {
    const char* was = std::getenv(name);
    saved_.push_back({name, was ? std::optional<std::string>(was) : std::nullopt});
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) setenv(it->first.c_str(), it->second->c_str(), 1);
      else unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// srun -n N with no MPI plugin gives N unconnected processes: refused, naming the fix. A batch
// script (no step task count), srun -n 1, mpirun and srun --mpi=pmix are sound, and so are tasks
// that say they run alone on purpose.
TEST(Launch, SrunTasksWithoutMpiAreRefused) {
  ScopedEnv env;
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_STEP_NUM_TASKS", "DEEPLAB_TASKS_ALONE"})
    env.set(v, nullptr);
  EXPECT_EQ(dist::launch_problem(), "");
  env.set("SLURM_STEP_NUM_TASKS", "1");
  EXPECT_EQ(dist::launch_problem(), "");
  env.set("SLURM_STEP_NUM_TASKS", "4");
  EXPECT_NE(dist::launch_problem().find("srun started 4 tasks without MPI"), std::string::npos);
  EXPECT_NE(dist::launch_problem().find("--mpi=pmix"), std::string::npos);
  EXPECT_NE(dist::launch_problem().find("DEEPLAB_TASKS_ALONE=1"), std::string::npos);
  env.set("DEEPLAB_TASKS_ALONE", "1");  // each task meant to run alone
  EXPECT_EQ(dist::launch_problem(), "");
  env.set("DEEPLAB_TASKS_ALONE", "yes");  // only 1 says so
  EXPECT_NE(dist::launch_problem(), "");
  env.set("DEEPLAB_TASKS_ALONE", nullptr);
  env.set("PMIX_RANK", "2");
  EXPECT_EQ(dist::launch_problem(), "");
}

// solver.freeze: the named layers get no gradient and no update; the rest train. A name that
// matches nothing, or freezing everything, is an error.
TEST(Sgd, FrozenLayersStayAsTheyAre) {
  ModelSpec spec{ModelKind::largefov, 3, 0.0625};
  spec.dropout = 0.0f;
  Model model(spec, nn::Phase::train, 2);
  freeze_params(model.params(), {"conv", "fc6"});
  SolverOptions o;
  o.base_lr = 0.1;
  Sgd sgd(o, model.params());
  ASSERT_EQ(sgd.params().size(), 4u);  // fc7 and fc8, weights and biases
  EXPECT_EQ(sgd.params()[0]->name, "fc7/weight");
  const Tensor conv_before = model.net().find_param("conv3_2/weight")->value.clone();
  const Tensor fc8_before = model.net().find_param("fc8/weight")->value.clone();
  const Tensor x = deeplab::testing::random_tensor({1, 3, 41, 41}, 1, -100, 100);
  const Tensor scores = model.forward(x);
  model.backward(deeplab::testing::random_tensor(scores.shape(), 2, -1, 1));
  sgd.update(0, 1.0);
  EXPECT_TRUE(testing::same_bits(conv_before, model.net().find_param("conv3_2/weight")->value));
  EXPECT_FALSE(testing::same_bits(fc8_before, model.net().find_param("fc8/weight")->value));
  // No gradient for the frozen layers (not only no update: Sgd skips them anyway), and backward
  // stops at fc7's input: no layer before it has a parameter that trains.
  auto nonzero = [](const Tensor& g) {
    for (int64_t i = 0; i < g.numel(); ++i)
      if (g.data()[i] != 0.0f) return true;
    return false;
  };
  for (const char* name : {"conv1_1/weight", "conv3_2/weight", "fc6/weight", "fc6/bias"}) {
    const Tensor& g = model.net().find_param(name)->grad;
    EXPECT_TRUE(g.empty() || !nonzero(g)) << name;
  }
  EXPECT_TRUE(nonzero(model.net().find_param("fc7/weight")->grad));
  int upstream = 0;  // the layers before fc7, in the net's (topological) order
  for (const auto& node : model.net().nodes()) {
    if (node.layer->name() == "fc7") break;
    for (int out : node.outputs) EXPECT_FALSE(model.net().blob(out).needs_diff) << node.layer->name();
    ++upstream;
  }
  EXPECT_GE(upstream, 20);
  Model other(spec, nn::Phase::train, 2);
  expect_error([&] { freeze_params(other.params(), {"fc9"}); }, {"solver.freeze", "'fc9'", "conv1_1, conv1_2", "fc8"});
  expect_error([&] { freeze_params(other.params(), {"conv", "fc"}); }, {"nothing left to train"});
}

TEST(LearningRate, WarmupRampsLinearlyThenFollowsThePolicy) {
  SolverOptions o;
  o.base_lr = 0.02;
  o.lr_policy = LrPolicy::poly;
  o.max_iter = 1000;
  o.power = 0.9;
  o.warmup = 100;
  EXPECT_DOUBLE_EQ(learning_rate(o, 0), 0.02 * 1 / 100);  // never 0: the first update moves
  EXPECT_NEAR(learning_rate(o, 49), 0.02 * std::pow(1 - 0.049, 0.9) * 50 / 100, 1e-15);
  EXPECT_NEAR(learning_rate(o, 99), 0.02 * std::pow(1 - 0.099, 0.9), 1e-15);
  EXPECT_NEAR(learning_rate(o, 500), 0.02 * std::pow(0.5, 0.9), 1e-15);
  o.warmup = -1;
  EXPECT_THROW(validate(o), Error);
  o.warmup = 0;
  o.max_iter = 0;  // trains nothing: final.h5 is the starting point
  EXPECT_NO_THROW(validate(o));
  o.max_iter = -1;
  EXPECT_THROW(validate(o), Error);
}

TEST(LearningRate, StepPolyAndFixedFollowCaffe) {
  SolverOptions o;
  o.base_lr = 0.001;
  o.lr_policy = LrPolicy::step;
  o.stepsize = 2000;
  o.gamma = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate(o, 0), 0.001);
  EXPECT_DOUBLE_EQ(learning_rate(o, 1999), 0.001);
  EXPECT_NEAR(learning_rate(o, 2000), 1e-4, 1e-18);
  EXPECT_NEAR(learning_rate(o, 5999), 1e-5, 1e-18);
  o.lr_policy = LrPolicy::poly;
  o.max_iter = 100;
  o.power = 0.9;
  EXPECT_DOUBLE_EQ(learning_rate(o, 0), 0.001);
  EXPECT_NEAR(learning_rate(o, 50), 0.001 * std::pow(0.5, 0.9), 1e-15);
  o.lr_policy = LrPolicy::fixed;
  EXPECT_DOUBLE_EQ(learning_rate(o, 12345), 0.001);
  expect_error([] { parse_lr_policy("cosine"); }, {"solver.lr_policy", "cosine"});
  SolverOptions bad;
  bad.iter_size = 0;
  expect_error([&] { validate(bad); }, {"solver.iter_size"});
}

TEST(Sgd, MatchesCaffesUpdateWithMultipliersMomentumAndDecay) {
  nn::Param w{"conv/weight", Tensor({3}), Tensor({3})}, b{"conv/bias", Tensor({1}), Tensor({1})};
  b.lr_mult = 2.0f;
  b.decay_mult = 0.0f;
  const float w0[3] = {1.0f, -2.0f, 0.5f}, gw[3] = {0.3f, 0.1f, -0.4f};
  for (int i = 0; i < 3; ++i) w.value.data()[i] = w0[i], w.grad.data()[i] = gw[i];
  b.value.data()[0] = 0.25f, b.grad.data()[0] = 0.6f;
  SolverOptions o;
  o.base_lr = 0.1;
  o.momentum = 0.9;
  o.weight_decay = 0.01;
  o.lr_policy = LrPolicy::fixed;
  Sgd sgd(o, {&w, &b});
  sgd.update(0, 2.0);  // gradients are sums over 2 images
  sgd.update(1, 2.0);  // same gradients again: momentum carries the first step
  for (int i = 0; i < 3; ++i) {
    double v = 0, x = w0[i];
    for (int step = 0; step < 2; ++step) {
      v = 0.9 * v + 0.1 * (gw[i] / 2.0 + 0.01 * x);
      x -= v;
    }
    EXPECT_NEAR(w.value.data()[i], x, 1e-6) << i;
  }
  double v = 0, x = 0.25;
  for (int step = 0; step < 2; ++step) v = 0.9 * v + 0.2 * (0.6 / 2.0), x -= v;  // 2x lr, no decay
  EXPECT_NEAR(b.value.data()[0], x, 1e-6);
}

TEST(KeyedDropout, AnImagesMaskDependsOnItsKeyNotItsPlaceInTheBatch) {
  nn::Net net(nn::Phase::train);
  const int in = net.add_input("data", true);
  net.mark_output(net.add1(std::make_unique<nn::Dropout>("drop", 0.5f, 9), {in}));
  auto* drop = dynamic_cast<nn::Dropout*>(net.nodes()[0].layer.get());
  Tensor two({2, 4, 5, 5}), one({1, 4, 5, 5});
  two.fill(1.0f);
  one.fill(1.0f);
  drop->set_sample_keys({11, 22});
  net.forward({two});
  const Tensor a = net.output();
  drop->set_sample_keys({22});
  net.forward({one});
  const Tensor b = net.output();
  int kept = 0;
  for (int64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(a.data()[100 + i], b.data()[i]) << i;  // image with key 22, second then alone
    kept += b.data()[i] != 0.0f;
  }
  EXPECT_GT(kept, 25);
  EXPECT_LT(kept, 75);
  drop->set_sample_keys({1, 2, 3});
  expect_error([&] { net.forward({two}); }, {"drop", "3 sample keys", "batch of 2"});
}

// A small data set of random scenes for the trainer.
void write_dataset(const std::string& path, int images, int size, int classes) {
  data::DatasetWriter w(path, classes, {});
  Rng rng(5);
  for (int i = 0; i < images; ++i) {
    data::Sample s{"img" + std::to_string(i), size, size, std::vector<uint8_t>(size_t(size) * size * 3),
                   std::vector<uint8_t>(size_t(size) * size)};
    for (int p = 0; p < size * size; ++p) {
      const int label = (p % size) * classes / size;  // vertical stripes, coloured by class
      s.labels[size_t(p)] = uint8_t(rng.below(20) == 0 ? 255 : label);
      for (int k = 0; k < 3; ++k) s.rgb[size_t(p) * 3 + k] = uint8_t(40 * label + 20 * k + rng.below(30));
    }
    w.add(s);
  }
  w.commit();
}

ModelSpec tiny_model() { return ModelSpec{ModelKind::largefov, 3, 0.0625, 0.5f, ConvPolicy::direct}; }

// Runs `iterations` training steps with one process and returns the final parameters.
std::vector<Tensor> train_steps(const std::string& data, int batch, int iter_size, int iterations) {
  SolverOptions o;
  o.base_lr = 0.01;
  o.batch = batch;
  o.iter_size = iter_size;
  o.loss_normalization = nn::LossNormalization::per_pixel;
  Model model(tiny_model(), nn::Phase::train, 3);
  Sgd sgd(o, model.params());
  data::LoaderOptions lo;
  lo.batch = batch;
  lo.iter_size = iter_size;
  lo.augment.crop_size = 33;
  lo.threads = 1;
  data::Loader loader(data, lo);
  TrainStep step(model, sgd, o, dist::Mpi::get());
  for (int it = 0; it < iterations; ++it) step.run(it, [&] { return loader.next(); });
  std::vector<Tensor> params;
  for (nn::Param* p : model.params()) params.push_back(p->value.clone());
  return params;
}

double max_relative_difference(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double worst = 0;
  for (size_t k = 0; k < a.size(); ++k) {
    double diff = 0, scale = 1e-12;
    for (int64_t i = 0; i < a[k].numel(); ++i) {
      diff = std::max(diff, double(std::fabs(a[k].data()[i] - b[k].data()[i])));
      scale = std::max(scale, double(std::fabs(a[k].data()[i])));
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

TEST_F(TrainTest, AccumulatedBatchesGiveTheSameUpdateAsOneBatch) {
  write_dataset(path("d.h5"), 12, 40, 3);
  const auto whole = train_steps(path("d.h5"), 4, 1, 3);
  const auto accumulated = train_steps(path("d.h5"), 2, 2, 3);
  EXPECT_LT(max_relative_difference(whole, accumulated), 1e-5);
  Model fresh(tiny_model(), nn::Phase::train, 3);
  std::vector<Tensor> initial;
  for (nn::Param* p : fresh.params()) initial.push_back(p->value.clone());
  EXPECT_GT(max_relative_difference(whole, initial), 1e-3);  // training did move them
}

TEST_F(TrainTest, CheckpointRoundTripsParametersMomentumAndState) {
  SolverOptions o;
  Model a(tiny_model(), nn::Phase::train, 4);
  Sgd sa(o, a.params());
  for (Tensor& h : sa.history()) h.fill(0.125f);
  TrainState s;
  s.iteration = 42;
  s.global_batch = 6;
  s.seed = 9;
  s.epoch = 3;
  s.epoch_step = 2;
  s.ranks = 2;
  save_checkpoint(path(checkpoint_name(42)), a, sa, s);
  Model b(tiny_model(), nn::Phase::train, 5);
  Sgd sb(o, b.params());
  const TrainState r = load_checkpoint(path(checkpoint_name(42)), b, sb);
  EXPECT_EQ(r.iteration, 42);
  EXPECT_EQ(r.global_batch, 6);
  EXPECT_EQ(r.seed, 9u);
  EXPECT_EQ(r.epoch, 3);
  EXPECT_EQ(r.epoch_step, 2);
  EXPECT_EQ(r.ranks, 2);
  for (size_t i = 0; i < a.params().size(); ++i)
    EXPECT_TRUE(testing::same_bits(a.params()[i]->value, b.params()[i]->value)) << a.params()[i]->name;
  for (const Tensor& h : sb.history()) EXPECT_EQ(h.data()[0], 0.125f);
  // A checkpoint of another network, and a bare model file, are refused by name.
  Model other(ModelSpec{ModelKind::largefov, 5, 0.0625}, nn::Phase::train, 1);
  Sgd so(o, other.params());
  expect_error([&] { load_checkpoint(path(checkpoint_name(42)), other, so); }, {checkpoint_name(42), "3 classes", "5 classes"});
  save_model(path("model.h5"), a);
  expect_error([&] { load_checkpoint(path("model.h5"), b, sb); }, {"model.h5", "not a training checkpoint"});
}

TEST_F(TrainTest, CheckpointsAreListedNewestFirstAndPruned) {
  SolverOptions o;
  Model m(tiny_model(), nn::Phase::train, 1);
  Sgd sgd(o, m.params());
  for (int64_t it : {5, 20, 10, 15}) save_checkpoint(path(checkpoint_name(it)), m, sgd, TrainState{it, 1});
  std::ofstream(path("checkpoint-0000099.h5.tmp.123")) << "a temporary";
  std::ofstream(path("notes.txt")) << "other";
  const auto all = list_checkpoints(dir_.string());
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(fs::path(all[0]).filename(), checkpoint_name(20));
  EXPECT_EQ(fs::path(all[3]).filename(), checkpoint_name(5));
  prune_checkpoints(dir_.string(), 2);
  const auto kept = list_checkpoints(dir_.string());
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(fs::path(kept[1]).filename(), checkpoint_name(15));
}

TEST_F(TrainTest, ResumedLogKeepsRowsUpToTheCheckpointAndDrawsTheCurve) {
  {
    TrainLog log(dir_.string(), 0);
    for (int64_t it = 1; it <= 8; ++it) log.add({it, 0, 3.0 / double(it), 0.5, 0.001, 10, 0, double(it)});
    log.write_curve();
  }
  EXPECT_TRUE(fs::file_size(path("loss.png")) > 1000);
  TrainLog resumed(dir_.string(), 6);  // a run killed after iteration 8, last checkpoint at 6
  ASSERT_EQ(resumed.rows().size(), 6u);
  EXPECT_EQ(resumed.rows().back().iteration, 6);
  EXPECT_NEAR(resumed.rows()[1].loss, 1.5, 1e-9);
  resumed.add({7, 0, 0.4, 0.6, 0.001, 10, 0, 7});
  std::ifstream csv(path("train_log.csv"));
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 8);  // header, 6 kept, 1 new
}

TEST_F(TrainTest, NonFiniteLossStopsBeforeTheUpdateNamingTheIteration) {
  write_dataset(path("d.h5"), 4, 40, 3);
  SolverOptions o;
  o.batch = 2;
  Model model(tiny_model(), nn::Phase::train, 3);
  Sgd sgd(o, model.params());
  data::LoaderOptions lo;
  lo.batch = 2;
  lo.augment.crop_size = 33;
  data::Loader loader(path("d.h5"), lo);
  TrainStep step(model, sgd, o, dist::Mpi::get());
  step.run(0, [&] { return loader.next(); });
  const Tensor before = model.params()[0]->value.clone();
  expect_error([&] {
    step.run(1, [&] {
      data::Batch b = loader.next();
      b.images.data()[7] = std::nanf("");
      return b;
    });
  }, {"iteration 2", "not finite"});
  EXPECT_TRUE(testing::same_bits(before, model.params()[0]->value));
}

TEST_F(TrainTest, StopSignalWritesACheckpointAndResumeFinishesIdentically) {
  write_dataset(path("d.h5"), 8, 40, 3);
  TrainOptions o;
  o.data_path = path("d.h5");
  o.model = tiny_model();
  o.solver.batch = 2;
  o.solver.max_iter = 6;
  o.solver.snapshot = 0;
  o.solver.base_lr = 0.001;
  o.solver.loss_normalization = nn::LossNormalization::per_pixel;
  o.augment.crop_size = 33;
  o.loader_threads = 1;
  o.out_dir = path("straight");
  ASSERT_TRUE(train(o, dist::Mpi::get()).finished);

  o.out_dir = path("stopped");
  request_stop(SIGTERM);  // as if SIGTERM arrived during the first iteration
  const TrainSummary s = train(o, dist::Mpi::get());
  EXPECT_FALSE(s.finished);
  EXPECT_EQ(s.stop_signal, SIGTERM);
  EXPECT_EQ(s.iterations_done, 1);
  request_stop(0);
  ASSERT_EQ(list_checkpoints(o.out_dir).size(), 1u);
  EXPECT_FALSE(fs::exists(o.out_dir + "/final.h5"));
  o.resume = "auto";
  const TrainSummary r = train(o, dist::Mpi::get());
  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.start_iteration, 1);
  auto a = load_model(path("straight/final.h5"), nn::Phase::test);
  auto b = load_model(path("stopped/final.h5"), nn::Phase::test);
  for (size_t i = 0; i < a->params().size(); ++i)
    EXPECT_TRUE(testing::same_bits(a->params()[i]->value, b->params()[i]->value)) << a->params()[i]->name;
}

// A GPU is reached only through what the GPU backend registers (gpu/backend.h): the layers that
// pick a device know the interfaces, and route every GPU request to the registered maker.
int fake_steps_made = 0;
std::unique_ptr<Step> fake_device_step(Model& model, Sgd& sgd, const SolverOptions& options, dist::Mpi& mpi, bool) {
  ++fake_steps_made;
  return std::make_unique<TrainStep>(model, sgd, options, mpi);
}

struct FakeDeviceNetwork : DeviceNetwork {
  explicit FakeDeviceNetwork(Model& m) : model(m) {}
  const Tensor& forward(const Tensor& image) override { return scores = model.forward(image); }
  void synchronize() const override {}
  Model& model;
  Tensor scores;
};
int fake_networks_made = 0;
std::unique_ptr<DeviceNetwork> fake_device_network(Model& model, bool, bool) {
  ++fake_networks_made;
  return std::make_unique<FakeDeviceNetwork>(model);
}

TEST(Backend, TheGpuIsReachedOnlyThroughWhatIsRegistered) {
  SolverOptions o;
  Model model(tiny_model(), nn::Phase::train, 3);
  Sgd sgd(o, model.params());
  const DeviceSelection gpu{Device::cuda, 0};
  testing::expect_error([&] { make_step(model, sgd, o, dist::Mpi::get(), gpu, false); }, {"--device cuda"});
  register_device_step(fake_device_step);
  EXPECT_NE(make_step(model, sgd, o, dist::Mpi::get(), gpu, false), nullptr);
  EXPECT_EQ(fake_steps_made, 1);
  register_device_step(nullptr);

  Model test_model(tiny_model(), nn::Phase::test, 3);
  testing::expect_error([&] { Scorer s(test_model, gpu); }, {"--device cuda"});
  register_device_network(fake_device_network);
  Scorer scorer(test_model, gpu);
  const Tensor input = testing::random_tensor({1, 3, 33, 33}, 5);
  const Tensor through_backend = scorer.scores(input), direct = test_model.forward(input);
  EXPECT_EQ(fake_networks_made, 1);
  ASSERT_EQ(through_backend.shape(), direct.shape());
  for (int64_t i = 0; i < direct.numel(); ++i) ASSERT_EQ(through_backend.data()[i], direct.data()[i]);
  register_device_network(nullptr);
}

}  // namespace
}  // namespace deeplab::train
