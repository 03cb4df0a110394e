// deeplab bench forward|train|crf|loader: speed on this machine (median of repeated runs) with
// peak memory: the network (inference, or forward + backward), a whole training iteration over
// MPI ranks, the CRF, the training loader.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "core/label_map.h"
#include "core/rng.h"
#include "core/timing.h"
#include "crf/crf_runner.h"
#include "crf/dense_crf.h"
#include "data/loader.h"
#include "dist/mpi.h"
#include "eval/confusion.h"
#include "jobs.h"
#include "models/deeplab.h"
#include "models/scorer.h"
#include "nn/softmax.h"
#include "options.h"
#include "train/trainer.h"

namespace deeplab::jobs {
namespace {

// The options every network benchmark takes, and what they say.
void add_network_options(po::options_description& options, int repeats) {
  options.add_options()
      ("size", po::value<std::string>()->default_value("321"), "input size, N (square) or WxH")
      ("batch", po::value<int>()->default_value(1), "images per run (per rank)")
      ("threads", po::value<int>()->default_value(0), "CPU threads (0: all cores, shared among the ranks on a node)")
      ("warmup", po::value<int>()->default_value(2), "untimed runs first")
      ("repeats", po::value<int>()->default_value(repeats), "timed runs")
      ("json", po::bool_switch(), "print one JSON object");
  add_model_options(options, "largefov");  // the network as train and the config files name it
}

struct NetworkBench {
  ModelSpec spec;
  int64_t height = 0, width = 0;
  int batch = 1, warmup = 0, repeats = 1;
};

NetworkBench network_bench_from(const po::variables_map& v, const char* name) {
  NetworkBench b;
  const ImageSize size = parse_size_option(v["size"].as<std::string>());
  b.height = size.height, b.width = size.width;
  b.batch = v["batch"].as<int>(), b.repeats = v["repeats"].as<int>(), b.warmup = v["warmup"].as<int>();
  if (b.batch < 1 || b.repeats < 1 || b.warmup < 0)
    fail(name, ": --batch ", b.batch, ", --repeats ", b.repeats, ", --warmup ", b.warmup,
         ": expected a positive batch and repeats, and warm-up runs of 0 or more");
  b.spec = model_spec_from(v);
  set_threads_option(v["threads"].as<int>());
  return b;
}

int bench_forward(int argc, char** argv) {
  CommandLine cl;
  cl.command = "bench forward";
  cl.usage = "bench forward --model.kind largefov --size 321 [--batch B] [--threads N] [--backward] [--json] [--config C.ini]";
  cl.about =
      "Times the network on random input: forward in the test phase, or with --backward a training\n"
      "step (forward, softmax loss, backward). Prints median ms, GFLOP, GFLOP/s and peak RSS.";
  add_network_options(cl.options, 10);
  cl.options.add_options()("backward", po::bool_switch(), "time a training step instead of inference");
  add_device_options(cl);
  add_precision_option(cl);
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  check_precision_word(cl);
  const NetworkBench nb = network_bench_from(v, "bench forward");
  const int64_t h = nb.height, w = nb.width;
  const int batch = nb.batch, repeats = nb.repeats, warmup = nb.warmup;
  const bool backward = v["backward"].as<bool>();
  const ModelSpec& spec = nb.spec;
  command_line_accepted();
  Model model(spec, backward ? nn::Phase::train : nn::Phase::test);
  const DeviceSelection device = use_device(device_choice(cl), dist::Mpi::get().local_rank());
  if (backward && device.device == Device::cuda)
    fail("bench forward --backward runs on the CPU; time GPU training with bench train --device cuda");
  const nn::Precision precision = precision_from(cl, device.device == Device::cuda);
  if (backward && precision != nn::Precision::f32) fail("bench forward --backward: training computes in f32 only");
  model.net().set_precision(precision);
  Scorer scorer(model, device, v["tf32"].as<bool>(), /*measure_algorithms=*/true);  // on a GPU: images in and scores out included

  Rng rng(7);
  Tensor input({batch, 3, h, w});
  for (int64_t i = 0; i < input.numel(); ++i) input.data()[i] = rng.uniform(-120.0f, 130.0f);
  Tensor scores = scorer.scores(input);  // sizes the network
  LabelMap labels(batch, scores.dim(2), scores.dim(3));
  for (auto& l : labels.data) l = uint8_t(rng.below(spec.num_classes));
  const double gflop = (backward ? model.net().train_flops() : model.net().flops()) / 1e9;

  Timing t = measure(
      [&] {
        Tensor s = scorer.scores(input);
        if (!backward) return;
        nn::LossResult loss = nn::softmax_cross_entropy(s, labels);
        model.net().zero_grads();
        model.backward(loss.grad);
      },
      warmup, repeats);
  const double median = t.median_ms();
  const double rss = peak_rss_mb();
  if (v["json"].as<bool>()) {
    std::printf(
        "{\"benchmark\": \"%s\", \"device\": \"%s\", \"precision\": \"%s\", \"model\": \"%s\", \"width_multiplier\": %g, "
        "\"num_classes\": %d, \"conv\": \"%s\", \"height\": %lld, \"width\": %lld, \"batch\": %d, "
        "\"threads\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, \"gflop\": %.3f, \"gflops_per_s\": %.1f, "
        "\"peak_rss_mb\": %.1f, \"repeats\": %d, \"warmup\": %d}\n",
        backward ? "train_step" : "forward", device.describe().c_str(), nn::precision_name(precision), model_kind_name(spec.kind),
        spec.width, spec.num_classes, conv_policy_name(spec.conv_policy), (long long)h, (long long)w, batch,
        cpu_threads(), median, t.min_ms(), gflop, gflop / (median / 1e3), rss, repeats, warmup);
  } else {
    std::printf("%s %s %lldx%lld on %s, batch %d, %d threads, %s: median %.1f ms (min %.1f), %.1f GFLOP, %.0f GFLOP/s, "
                "peak RSS %.0f MB, scores %s\n",
                backward ? "train step" : "forward", model_kind_name(spec.kind), (long long)w, (long long)h,
                device.describe().c_str(), batch, cpu_threads(), nn::precision_name(precision), median, t.min_ms(), gflop, gflop / (median / 1e3), rss,
                shape_str(scores.shape()).c_str());
  }
  return 0;
}

// A synthetic photograph-like scene: smooth colour gradients, a few solid shapes, sensor noise;
// and a noisy unary that roughly follows the shapes, as a network's coarse output would.
void synthetic_scene(int64_t h, int64_t w, int64_t labels, std::vector<uint8_t>& rgb, Tensor& unary) {
  Rng rng(11);
  rgb.assign(h * w * 3, 0);
  unary = Tensor({labels, h, w});
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const int64_t i = y * w + x;
      int64_t shape = (x * 3 / w) + 3 * (y * 2 / h);  // six blocks
      if ((x - w / 2) * (x - w / 2) + (y - h / 2) * (y - h / 2) < h * h / 16) shape = 6;  // a disc
      const int64_t label = shape % labels;
      for (int c = 0; c < 3; ++c) {
        float v = float((shape * 37 + c * 91) % 200) + 0.1f * float(x + y) + rng.uniform(-8, 8);
        rgb[i * 3 + c] = uint8_t(std::clamp(v, 0.0f, 255.0f));
      }
      for (int64_t l = 0; l < labels; ++l)
        unary.data()[l * h * w + i] = (l == label ? 0.7f : 2.5f) + rng.uniform(0, 1.5f);
    }
}

// A CRF input to time: the image, its unary, and how to run and report.
struct CrfScene {
  std::vector<uint8_t> rgb;
  Tensor unary;
  int64_t height, width;
  int labels;
  crf::CrfParams params;
  int warmup, repeats;
  bool json;
  std::string name;  // the image's path, or "synthetic"
  std::string what() const { return name == "synthetic" ? std::string() : name + " "; }  // in the text line
};

// The whole call on the GPU: image and unary to the device, lattices, iterations, marginals back.
void time_crf_on_gpu(const CrfScene& c, const DeviceSelection& device) {
  crf::CrfRunner runner(device);
  const Timing t = measure([&] { runner.run(c.rgb.data(), c.height, c.width, c.params, c.unary); }, std::max(c.warmup, 1), c.repeats);
  if (c.json)
    std::printf("{\"benchmark\": \"crf\", \"device\": \"%s\", \"width\": %lld, \"height\": %lld, \"labels\": %d, "
                "\"iterations\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, \"repeats\": %d}\n",
                device.describe().c_str(), (long long)c.width, (long long)c.height, c.labels, c.params.iterations, t.median_ms(),
                t.min_ms(), c.repeats);
  else
    std::printf("crf %s%lldx%lld, %d labels, %d iterations on %s: median %.2f ms (min %.2f), host copies included\n",
                c.what().c_str(), (long long)c.width, (long long)c.height, c.labels, c.params.iterations,
                device.describe().c_str(), t.median_ms(), t.min_ms());
}

// The first run in the process (cold), then warm setup, inference and both, medians.
void time_crf_on_cpu(const CrfScene& c) {
  const Timing first = measure([&] { crf::DenseCrf(c.rgb.data(), c.height, c.width, c.params).infer(c.unary); }, 0, 1);
  const Timing setup = measure([&] { crf::DenseCrf built(c.rgb.data(), c.height, c.width, c.params); }, c.warmup, c.repeats);
  crf::DenseCrf crf(c.rgb.data(), c.height, c.width, c.params);
  const Timing infer = measure([&] { crf.infer(c.unary); }, c.warmup, c.repeats);
  const Timing total = measure([&] { crf::DenseCrf(c.rgb.data(), c.height, c.width, c.params).infer(c.unary); }, c.warmup, c.repeats);
  const double units = double(c.height * c.width) / 1e6 * c.labels * std::max(1, c.params.iterations);
  const double per_unit = infer.median_ms() / units;
  if (c.json) {
    std::printf(
        "{\"benchmark\": \"crf\", \"image\": %s, \"width\": %lld, \"height\": %lld, \"labels\": %d, "
        "\"iterations\": %d, \"threads\": %d, \"first_ms\": %.3f, \"median_ms\": %.3f, \"setup_ms\": %.3f, "
        "\"inference_ms\": %.3f, \"ms_per_mpixel_label_iteration\": %.3f, \"peak_rss_mb\": %.1f, \"repeats\": %d}\n",
        eval::json_string(c.name).c_str(), (long long)c.width, (long long)c.height, c.labels, c.params.iterations,
        cpu_threads(), first.median_ms(), total.median_ms(), setup.median_ms(), infer.median_ms(), per_unit,
        peak_rss_mb(), c.repeats);
  } else {
    std::printf("crf %s%lldx%lld, %d labels, %d iterations, %d threads: first run %.1f ms, then median %.1f ms "
                "(medians of its parts: setup %.1f, inference %.1f), %.2f ms per megapixel x label x iteration, peak RSS %.0f MB\n",
                c.what().c_str(), (long long)c.width, (long long)c.height, c.labels, c.params.iterations, cpu_threads(), first.median_ms(),
                total.median_ms(), setup.median_ms(), infer.median_ms(), per_unit, peak_rss_mb());
  }
}

int bench_crf(int argc, char** argv) {
  CommandLine cl;
  cl.command = "bench crf";
  cl.usage = "bench crf [--size 500x375 --labels 21 | --image IMG --probs P.npy [--layout hwc]] [--crf.iterations 10] "
             "[--config CRF.ini] [--threads N] [--json]";
  cl.about =
      "Times the fully connected CRF (DeepLab-LargeFOV's parameters, or the [crf] settings given) on a\n"
      "synthetic scene, or on a real image and class map: the first run in this process (cold: fresh\n"
      "memory, threads starting), then warm runs: setup (lattice construction) and inference, median ms,\n"
      "and ms per megapixel x label x iteration.";
  cl.options.add_options()
      ("size", po::value<std::string>()->default_value("500x375"), "synthetic scene's size, N (square) or WxH")
      ("labels", po::value<int>()->default_value(21), "synthetic scene's number of labels")
      ("threads", po::value<int>()->default_value(0), "CPU threads (0: all cores)")
      ("warmup", po::value<int>()->default_value(1), "untimed runs after the first")
      ("repeats", po::value<int>()->default_value(10), "timed runs")
      ("json", po::bool_switch(), "print one JSON object");
  add_crf_options(cl.options);
  add_crf_input_options(cl.options);
  add_device_options(cl);
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  const bool real = crf_input_given(v);
  if (real) check_crf_input_options(v);
  const ImageSize size = parse_size_option(v["size"].as<std::string>());
  int64_t w = size.width, h = size.height;
  int labels = v["labels"].as<int>();
  const int repeats = v["repeats"].as<int>(), warmup = v["warmup"].as<int>();
  if (labels < 1 || labels > 255 || repeats < 1 || warmup < 0)
    fail("bench crf: --labels ", labels, ", --repeats ", repeats, ", --warmup ", warmup,
         ": expected 1 to 255 labels, a positive repeat count and warm-up runs of 0 or more");
  set_threads_option(v["threads"].as<int>());
  const crf::CrfParams params = crf_params_from(v);
  command_line_accepted();
  CrfScene scene{{}, {}, h, w, labels, params, warmup, repeats, v["json"].as<bool>(), "synthetic"};
  if (real) {
    CrfInput in = read_crf_input(v);
    scene.height = in.image.height, scene.width = in.image.width, scene.labels = int(in.unary.dim(0));
    scene.rgb = std::move(in.image.rgb);
    scene.unary = std::move(in.unary);
    scene.name = v["image"].as<std::string>();
  } else {
    synthetic_scene(h, w, labels, scene.rgb, scene.unary);
  }

  const DeviceSelection device = use_device(device_choice(cl), dist::Mpi::get().local_rank());
  if (device.device == Device::cuda)
    time_crf_on_gpu(scene, device);
  else
    time_crf_on_cpu(scene);
  return 0;
}

int bench_loader(int argc, char** argv) {
  CommandLine cl;
  cl.command = "bench loader";
  cl.usage = "bench loader --data D.h5 [--data.crop_size 321] [--batch 10] [--data.loader_threads 2] [--batches 30] [--json]";
  cl.about = "Times the training loader: images per second delivered, read, augmented and batched.";
  cl.options.add_options()
      ("data", po::value<std::string>()->required(), "dataset file")
      ("data.crop_size", po::value<int>()->default_value(321), "crop size")
      ("batch", po::value<int>()->default_value(10), "images per batch")
      ("data.loader_threads", po::value<int>()->default_value(2), "loader worker threads")
      ("data.scale_min", po::value<float>()->default_value(0.5f), "random scale, lower bound")
      ("data.scale_max", po::value<float>()->default_value(1.5f), "random scale, upper bound")
      ("batches", po::value<int>()->default_value(30), "batches to time")
      ("json", po::bool_switch(), "print one JSON object");
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  data::LoaderOptions o;
  o.batch = v["batch"].as<int>();
  o.threads = v["data.loader_threads"].as<int>();
  o.augment.crop_size = v["data.crop_size"].as<int>();
  o.augment.scale_min = v["data.scale_min"].as<float>();
  o.augment.scale_max = v["data.scale_max"].as<float>();
  const int batches = v["batches"].as<int>();
  if (batches < 1) fail("bench loader: --batches must be positive");
  if (o.batch < 1) fail("bench loader: --batch ", o.batch, " must be positive");
  check_loader_threads(o.threads);
  data::validate(o.augment);
  command_line_accepted();
  data::Loader loader(v["data"].as<std::string>(), o);
  loader.next();  // threads started, first batch made
  auto start = std::chrono::steady_clock::now();
  for (int k = 0; k < batches; ++k) loader.next();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double rate = batches * o.batch / seconds;
  if (v["json"].as<bool>())
    std::printf("{\"benchmark\": \"loader\", \"crop\": %d, \"batch\": %d, \"threads\": %d, \"images_per_s\": %.1f, "
                "\"peak_rss_mb\": %.1f}\n", o.augment.crop_size, o.batch, o.threads, rate, peak_rss_mb());
  else
    std::printf("loader %s: %dx%d crops, batch %d, %d threads: %.1f images/s (scale %.2f..%.2f), peak RSS %.0f MB\n",
                v["data"].as<std::string>().c_str(), o.augment.crop_size, o.augment.crop_size, o.batch, o.threads, rate,
                o.augment.scale_min, o.augment.scale_max, peak_rss_mb());
  return 0;
}

// The training iteration `deeplab train` runs (forward, loss, backward with the bucketed gradient
// sum over ranks, SGD update) on synthetic batches, under mpirun for several ranks.
int bench_train(int argc, char** argv) {
  CommandLine cl;
  cl.command = "bench train";
  cl.usage = "bench train --model.kind largefov --size 321 [--batch B] [--repeats N] [--json]   (mpirun -np R ...)";
  cl.about =
      "Times full training iterations (forward, softmax loss, backward, gradient sum over MPI ranks,\n"
      "SGD update) on random data: median ms per iteration, images/s over all ranks, and the share of an\n"
      "iteration spent waiting for the gradient all-reduce after backward.";
  add_network_options(cl.options, 6);
  add_device_options(cl);
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  const NetworkBench nb = network_bench_from(v, "bench train");
  const std::pair<int64_t, int64_t> hw{nb.height, nb.width};
  const int batch = nb.batch, repeats = nb.repeats, warmup = nb.warmup;
  const ModelSpec& spec = nb.spec;
  command_line_accepted();
  dist::Mpi& mpi = dist::Mpi::get();
  Model model(spec, nn::Phase::train);
  train::SolverOptions so;
  so.batch = batch;
  train::Sgd sgd(so, model.params());
  const DeviceSelection device = use_device(device_choice(cl), mpi.local_rank());
  std::unique_ptr<train::Step> step = train::make_step(model, sgd, so, mpi, device, v["tf32"].as<bool>());
  Rng rng(7 + uint64_t(mpi.rank()));
  data::Batch b;
  b.images = Tensor({batch, 3, hw.first, hw.second});
  for (int64_t i = 0; i < b.images.numel(); ++i) b.images.data()[i] = rng.uniform(-120.0f, 130.0f);
  b.labels = LabelMap(batch, hw.first, hw.second);
  for (auto& l : b.labels.data) l = uint8_t(rng.below(uint64_t(spec.num_classes)));
  for (int i = 0; i < batch; ++i) b.indices.push_back(int64_t(mpi.rank()) * batch + i);

  std::vector<double> ms, wait;
  for (int it = 0; it < warmup + repeats; ++it) {
    mpi.barrier();  // every rank starts the iteration together
    const train::StepStats s = step->run(it, [&] { return b; });
    if (it >= warmup) ms.push_back(1e3 * s.seconds), wait.push_back(s.allreduce_wait_seconds / s.seconds);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(wait.begin(), wait.end());
  const double median = ms[ms.size() / 2], wait_share = wait[wait.size() / 2];
  const double images_per_s = double(batch) * mpi.size() / (median / 1e3);
  if (mpi.rank() != 0) return 0;
  if (v["json"].as<bool>()) {
    std::printf("{\"benchmark\": \"train_iteration\", \"device\": \"%s\", \"model\": \"%s\", \"height\": %lld, \"width\": %lld, "
                "\"batch\": %d, \"ranks\": %d, \"threads\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, "
                "\"images_per_s\": %.3f, \"allreduce_wait_share\": %.4f, \"peak_rss_mb\": %.1f, \"repeats\": %d}\n",
                device.describe().c_str(), model_kind_name(spec.kind), (long long)hw.first, (long long)hw.second, batch,
                mpi.size(), cpu_threads(), median, ms.front(), images_per_s, wait_share, peak_rss_mb(), repeats);
  } else {
    std::printf("train iteration %s %lldx%lld on %s, batch %d on each of %d rank(s), %d threads each: median %.1f ms "
                "(min %.1f), %.2f images/s, all-reduce wait %.1f%% of an iteration, peak RSS %.0f MB (rank 0)\n",
                model_kind_name(spec.kind), (long long)hw.second, (long long)hw.first, device.describe().c_str(), batch,
                mpi.size(), cpu_threads(), median, ms.front(), images_per_s, 100 * wait_share, peak_rss_mb());
  }
  return 0;
}

}  // namespace

int run_bench(int argc, char** argv) {
  const bool help = argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h");
  if (argc < 2 || help) {
    std::cout << "usage: deeplab bench forward|train|crf|loader [options]   (deeplab bench forward --help)\n"
                 "benchmarks: forward (network inference, or forward + backward with --backward), train (a whole\n"
                 "training iteration, over MPI ranks), crf, loader\n";
    return help ? 0 : 2;
  }
  const std::string which = argv[1];
  if (which == "forward") return bench_forward(argc - 1, argv + 1);
  if (which == "crf") return bench_crf(argc - 1, argv + 1);
  if (which == "loader") return bench_loader(argc - 1, argv + 1);
  if (which == "train") return bench_train(argc - 1, argv + 1);
  fail("unknown benchmark '", which, "' (available: forward, train, crf, loader)");
}

}  // namespace deeplab::jobs
