// deeplab train: data-parallel SGD on a dataset file, alone or as N MPI ranks.
#include <csignal>

#include "core/error.h"
#include "data/example_source.h"
#include "dist/mpi.h"
#include "jobs.h"
#include "options.h"
#include "train/trainer.h"

namespace deeplab::jobs {

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
  data::validate(o.augment);
  check_loader_threads(o.loader_threads);
  train::validate(o.solver);
  train::check_freeze(o.model, o.solver.freeze);
  command_line_accepted();
  const train::TrainSummary s = train::train(o, dist::Mpi::get());
  // Stopped by a signal after its checkpoint: the conventional 128 + signal, so schedulers and
  // `afterok` dependencies do not mistake it for a finished run.
  return s.finished ? 0 : 128 + s.stop_signal;
}

}  // namespace deeplab::jobs
