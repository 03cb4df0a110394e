// deeplab train: data-parallel SGD on a dataset file, alone or as N MPI ranks.
#include <csignal>

#include "core/error.h"
#include "dist/mpi.h"
#include "jobs.h"
#include "options.h"
#include "train/trainer.h"

namespace deeplab::jobs {

void add_model_options(po::options_description& options, const std::string& kind) {
  const ModelSpec d;
  options.add_options()
      ("model.kind", po::value<std::string>()->default_value(kind), "largefov | deeplab | msc-largefov | vgg16")
      ("model.num_classes", po::value<int>()->default_value(d.num_classes), "classes, background included")
      ("model.width", po::value<double>()->default_value(d.width), "channel width multiplier (1: the paper's network)")
      ("model.dropout", po::value<float>()->default_value(d.dropout), "dropout ratio after fc6 and fc7")
      ("model.conv", po::value<std::string>()->default_value("auto"), "convolution algorithm: auto | direct | winograd")
      ("model.input_size", po::value<int>()->default_value(96), "vgg16: the square input its fc6 covers (multiple of 32)");
}

ModelSpec model_spec_from(const po::variables_map& v) {
  ModelSpec s;
  s.kind = parse_model_kind(v["model.kind"].as<std::string>());
  s.num_classes = v["model.num_classes"].as<int>();
  s.width = v["model.width"].as<double>();
  s.dropout = v["model.dropout"].as<float>();
  s.conv_policy = parse_conv_policy(v["model.conv"].as<std::string>());
  if (s.kind == ModelKind::vgg16) s.input_size = v["model.input_size"].as<int>();
  if (!(s.dropout >= 0 && s.dropout < 1)) fail("--model.dropout ", s.dropout, " must be in [0, 1)");
  return s;
}

void add_solver_options(po::options_description& options) {
  const train::SolverOptions d;
  options.add_options()
      ("solver.base_lr", po::value<double>()->default_value(d.base_lr), "learning rate")
      ("solver.momentum", po::value<double>()->default_value(d.momentum), "momentum")
      ("solver.weight_decay", po::value<double>()->default_value(d.weight_decay), "L2 weight decay")
      ("solver.lr_policy", po::value<std::string>()->default_value("step"), "fixed | step | poly")
      ("solver.stepsize", po::value<int64_t>()->default_value(d.stepsize), "step: iterations between lr drops")
      ("solver.gamma", po::value<double>()->default_value(d.gamma), "step: lr factor at each drop")
      ("solver.power", po::value<double>()->default_value(d.power), "poly: exponent")
      ("solver.warmup", po::value<int64_t>()->default_value(d.warmup), "iterations ramping the rate linearly up from 0")
      ("solver.max_iter", po::value<int64_t>()->default_value(d.max_iter), "iterations (updates) in all (0: write the starting point as final.h5)")
      ("solver.batch", po::value<int>()->default_value(d.batch), "images per rank per pass")
      ("solver.iter_size", po::value<int>()->default_value(d.iter_size), "passes accumulated per update")
      ("solver.snapshot", po::value<int64_t>()->default_value(d.snapshot), "checkpoint every N iterations (0: none)")
      ("solver.snapshot_keep", po::value<int>()->default_value(d.snapshot_keep), "checkpoints kept")
      ("solver.display", po::value<int64_t>()->default_value(d.display), "iterations per log line")
      ("solver.seed", po::value<uint64_t>()->default_value(d.seed), "seed of weights, data order, crops, dropout")
      ("solver.loss_normalization", po::value<std::string>()->default_value("per-pixel"),
       "divide the summed loss by the images (per-image) or labelled pixels (per-pixel) of the global batch");
}

train::SolverOptions solver_options_from(const po::variables_map& v) {
  train::SolverOptions s;
  s.base_lr = v["solver.base_lr"].as<double>();
  s.momentum = v["solver.momentum"].as<double>();
  s.weight_decay = v["solver.weight_decay"].as<double>();
  s.lr_policy = train::parse_lr_policy(v["solver.lr_policy"].as<std::string>());
  s.stepsize = v["solver.stepsize"].as<int64_t>();
  s.gamma = v["solver.gamma"].as<double>();
  s.power = v["solver.power"].as<double>();
  s.warmup = v["solver.warmup"].as<int64_t>();
  s.max_iter = v["solver.max_iter"].as<int64_t>();
  s.batch = v["solver.batch"].as<int>();
  s.iter_size = v["solver.iter_size"].as<int>();
  s.snapshot = v["solver.snapshot"].as<int64_t>();
  s.snapshot_keep = v["solver.snapshot_keep"].as<int>();
  s.display = v["solver.display"].as<int64_t>();
  s.seed = v["solver.seed"].as<uint64_t>();
  s.loss_normalization = train::parse_loss_normalization(v["solver.loss_normalization"].as<std::string>());
  train::validate(s);
  return s;
}

int run_train(int argc, char** argv) {
  CommandLine cl;
  cl.command = "train";
  cl.usage = "train --config C.ini --data train.h5 --out DIR [--init M.h5|VGG16.h5] [--resume auto|CKPT]";
  cl.about =
      "Trains a DeepLab network with SGD, alone or data-parallel under mpirun/srun (the global batch is\n"
      "batch x iter_size x ranks; the result does not depend on how it is split). Writes checkpoints\n"
      "(every solver.snapshot iterations, on SIGUSR1, and on SIGTERM/SIGINT, which then stop training),\n"
      "train_log.csv, loss.png and, at the end, DIR/final.h5.";
  cl.options.add_options()
      ("data", po::value<std::string>()->required(), "training dataset (.h5, see make-scenes, convert-voc)")
      ("out", po::value<std::string>()->required(), "output folder")
      ("init", po::value<std::string>()->default_value(""),
       "start from this model or checkpoint's weights, or from a vgg16 classifier (deeplab pretrain) converted by the paper's rule")
      ("resume", po::value<std::string>()->default_value(""),
       "continue a run: 'auto' (the newest good checkpoint in --out, or a fresh start) or a checkpoint file")
      ("data.crop_size", po::value<int>()->default_value(321), "training crop (pixels)")
      ("data.scale_min", po::value<float>()->default_value(1.0f), "random rescaling, lower bound")
      ("data.scale_max", po::value<float>()->default_value(1.0f), "random rescaling, upper bound")
      ("data.mirror", po::value<bool>()->default_value(true), "random left-right flips")
      ("data.loader_threads", po::value<int>()->default_value(2), "threads preparing batches per rank");
  add_model_options(cl.options, "largefov");
  add_solver_options(cl.options);
  add_device_options(cl);
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;

  train::TrainOptions o;
  o.data_path = v["data"].as<std::string>();
  o.out_dir = v["out"].as<std::string>();
  o.init = v["init"].as<std::string>();
  o.resume = v["resume"].as<std::string>();
  o.model = model_spec_from(v);
  if (is_classifier(o.model.kind)) fail("--model.kind vgg16 is a classifier: train it with deeplab pretrain");
  o.solver = solver_options_from(v);
  o.augment.crop_size = v["data.crop_size"].as<int>();
  o.augment.scale_min = v["data.scale_min"].as<float>();
  o.augment.scale_max = v["data.scale_max"].as<float>();
  o.augment.mirror = v["data.mirror"].as<bool>();
  o.loader_threads = v["data.loader_threads"].as<int>();
  o.device = device_choice(cl);
  o.tf32 = v["tf32"].as<bool>();
  train::validate(o.solver);
  command_line_accepted();
  const train::TrainSummary s = train::train(o, dist::Mpi::get());
  // Stopped by a signal after its checkpoint: the conventional 128 + signal, so schedulers and
  // `afterok` dependencies do not mistake it for a finished run.
  return s.finished ? 0 : 128 + s.stop_signal;
}

}  // namespace deeplab::jobs
