// deeplab bench forward: the network's speed on this machine (median of repeated runs),
// inference or a training step (--backward), with GFLOP/s and peak memory.
#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "core/label_map.h"
#include "core/rng.h"
#include "core/timing.h"
#include "jobs.h"
#include "models/deeplab.h"
#include "nn/softmax.h"
#include "options.h"

namespace deeplab::jobs {
namespace {

// "321" or "HxW".
std::pair<int64_t, int64_t> parse_size(const std::string& s) {
  size_t x = s.find('x');
  try {
    if (x == std::string::npos) return {std::stoll(s), std::stoll(s)};
    return {std::stoll(s.substr(0, x)), std::stoll(s.substr(x + 1))};
  } catch (const std::exception&) {
    fail("--size '", s, "': expected N or HxW");
  }
}

int bench_forward(int argc, char** argv) {
  CommandLine cl;
  cl.command = "bench forward";
  cl.usage = "bench forward --model largefov --size 321 [--batch B] [--threads N] [--backward] [--json] [--config C.ini]";
  cl.about =
      "Times the network on random input: forward in the test phase, or with --backward a training\n"
      "step (forward, softmax loss, backward). Prints median ms, GFLOP, GFLOP/s and peak RSS.";
  cl.options.add_options()
      ("model", po::value<std::string>()->default_value("largefov"), "largefov | deeplab | msc-largefov")
      ("size", po::value<std::string>()->default_value("321"), "input size, N or HxW")
      ("batch", po::value<int>()->default_value(1), "images per run")
      ("classes", po::value<int>()->default_value(21), "number of classes")
      ("width", po::value<double>()->default_value(1.0), "channel width multiplier")
      ("threads", po::value<int>()->default_value(0), "CPU threads (0: all cores)")
      ("conv", po::value<std::string>()->default_value("auto"), "convolution policy: auto | direct | winograd")
      ("backward", po::bool_switch(), "time a training step instead of inference")
      ("warmup", po::value<int>()->default_value(2), "untimed runs first")
      ("repeats", po::value<int>()->default_value(10), "timed runs")
      ("json", po::bool_switch(), "print one JSON object");
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  auto [h, w] = parse_size(v["size"].as<std::string>());
  const int batch = v["batch"].as<int>(), repeats = v["repeats"].as<int>(), warmup = v["warmup"].as<int>();
  if (h < 1 || w < 1 || batch < 1 || repeats < 1 || warmup < 0) fail("bench forward: sizes, batch and repeats must be positive");
  const bool backward = v["backward"].as<bool>();
  set_cpu_threads(v["threads"].as<int>());

  ModelSpec spec;
  spec.kind = parse_model_kind(v["model"].as<std::string>());
  spec.num_classes = v["classes"].as<int>();
  spec.width = v["width"].as<double>();
  spec.conv_policy = parse_conv_policy(v["conv"].as<std::string>());
  Model model(spec, backward ? nn::Phase::train : nn::Phase::test);

  Rng rng(7);
  Tensor input({batch, 3, h, w});
  for (int64_t i = 0; i < input.numel(); ++i) input.data()[i] = rng.uniform(-120.0f, 130.0f);
  Tensor scores = model.forward(input);  // sizes the network
  LabelMap labels(batch, scores.dim(2), scores.dim(3));
  for (auto& l : labels.data) l = uint8_t(rng.below(spec.num_classes));
  const double gflop = (backward ? model.net().train_flops() : model.net().flops()) / 1e9;

  Timing t = measure(
      [&] {
        Tensor s = model.forward(input);
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
        "{\"benchmark\": \"%s\", \"model\": \"%s\", \"height\": %lld, \"width\": %lld, \"batch\": %d, "
        "\"threads\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, \"gflop\": %.3f, \"gflops_per_s\": %.1f, "
        "\"peak_rss_mb\": %.1f, \"repeats\": %d}\n",
        backward ? "train_step" : "forward", model_kind_name(spec.kind), (long long)h, (long long)w, batch,
        cpu_threads(), median, t.min_ms(), gflop, gflop / (median / 1e3), rss, repeats);
  } else {
    std::printf("%s %s %lldx%lld batch %d, %d threads: median %.1f ms (min %.1f), %.1f GFLOP, %.0f GFLOP/s, "
                "peak RSS %.0f MB, scores %s\n",
                backward ? "train step" : "forward", model_kind_name(spec.kind), (long long)h, (long long)w, batch,
                cpu_threads(), median, t.min_ms(), gflop, gflop / (median / 1e3), rss,
                shape_str(scores.shape()).c_str());
  }
  return 0;
}

}  // namespace

int run_bench(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::cout << "usage: deeplab bench forward [options]   (deeplab bench forward --help)\n"
                 "benchmarks: forward (network inference, or a training step with --backward)\n";
    return argc < 2 ? 2 : 0;
  }
  const std::string which = argv[1];
  if (which == "forward") return bench_forward(argc - 1, argv + 1);
  fail("unknown benchmark '", which, "' (available: forward)");
}

}  // namespace deeplab::jobs
