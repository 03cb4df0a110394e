// deeplab pretrain: the ImageNet step of the paper on the built-in world. Trains a VGG-16
// classifier on photographs of single Fashion-MNIST garments (data/garment_photos.h) with the
// same trainer as `train` (MPI, checkpoints, resume, signals, log, loss curve), then reports its
// top-1 accuracy on the 10,000 test garments. `train --init OUT/final.h5` turns it into DeepLab.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/log.h"
#include "core/text_file.h"
#include "data/example_sheet.h"
#include "data/fashion_mnist.h"
#include "data/garment_photos.h"
#include "dist/mpi.h"
#include "eval/classification.h"
#include "jobs.h"
#include "models/model_file.h"
#include "options.h"
#include "train/trainer.h"

namespace deeplab::jobs {

int run_pretrain(int argc, char** argv) {
  CommandLine cl;
  cl.command = "pretrain";
  cl.usage = "pretrain --config C.ini --out DIR [--resume auto|CKPT] [--test-images N]";
  cl.about =
      "Trains a VGG-16 classifier (model.kind vgg16, any width, input model.input_size) on photographs of\n"
      "Fashion-MNIST garments: each training garment drawn as the scenes draw them (tinted, 2-4x, on a\n"
      "textured background), anew every epoch. Alone or data-parallel under mpirun/srun, with train's\n"
      "checkpoints, signals and log. Then classifies the test garments and writes DIR/accuracy.txt,\n"
      "DIR/accuracy.json and DIR/confusion.png. DIR/final.h5 initialises DeepLab: train --init DIR/final.h5.";
  cl.options.add_options()
      ("out", po::value<std::string>()->required(), "output folder")
      ("fashion-mnist", po::value<std::string>()->default_value(data::kFashionMnistDir), "Fashion-MNIST folder")
      ("resume", po::value<std::string>()->default_value(""),
       "continue a run: 'auto' (the newest good checkpoint in --out, or a fresh start) or a checkpoint file")
      ("init", po::value<std::string>()->default_value(""), "start from this vgg16 model or checkpoint's weights")
      ("data.scale_min", po::value<float>()->default_value(2.0f), "smallest garment, times its 28 pixels")
      ("data.scale_max", po::value<float>()->default_value(4.0f), "largest garment, times its 28 pixels")
      ("data.loader_threads", po::value<int>()->default_value(2), "threads drawing photographs per rank")
      ("test-images", po::value<int64_t>()->default_value(0), "test garments to classify at the end (0: all 10,000)");
  add_model_options(cl.options, "vgg16");
  add_solver_options(cl.options);
  add_device_options(cl);
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  dist::Mpi& mpi = dist::Mpi::get();

  train::TrainOptions o;
  o.out_dir = v["out"].as<std::string>();
  o.init = v["init"].as<std::string>();
  o.resume = v["resume"].as<std::string>();
  o.model = model_spec_from(v);
  if (o.model.kind != ModelKind::vgg16) fail("pretrain trains a classifier: --model.kind must be vgg16");
  o.solver = solver_options_from(v);
  o.loader_threads = v["data.loader_threads"].as<int>();
  o.device = device_choice(cl);
  o.tf32 = v["tf32"].as<bool>();
  data::GarmentPhotoOptions photos;
  photos.side = o.model.input_size;
  photos.scale_min = v["data.scale_min"].as<float>();
  photos.scale_max = v["data.scale_max"].as<float>();
  const std::string dir = v["fashion-mnist"].as<std::string>();
  const int64_t test_images = v["test-images"].as<int64_t>();
  if (test_images < 0) fail("--test-images ", test_images, " must not be negative");
  data::validate(photos);
  check_loader_threads(o.loader_threads);
  if (!v["model.num_classes"].defaulted() && o.model.num_classes != data::kFashionMnistClassCount)
    fail("--model.num_classes ", o.model.num_classes, ": pretrain's classes are Fashion-MNIST's ",
         data::kFashionMnistClassCount);
  train::validate(o.solver);
  train::check_freeze(o.model, o.solver.freeze);
  command_line_accepted();
  auto train_set = std::make_shared<const data::FashionMnist>(data::load_fashion_mnist(dir, "train"));
  auto test_set = std::make_shared<const data::FashionMnist>(data::load_fashion_mnist(dir, "t10k"));
  o.examples = std::make_shared<data::GarmentPhotos>(train_set, "garment photographs (" + dir + ", train)", photos);
  o.model.num_classes = o.examples->num_classes();

  if (mpi.rank() == 0) {
    std::filesystem::create_directories(o.out_dir);
    data::write_example_sheet(o.out_dir + "/examples.png", *o.examples, 8, 4);
    log_info("what it learns from: " + o.out_dir + "/examples.png");
  }
  const train::TrainSummary s = train::train(o, mpi);
  if (!s.finished) return 128 + s.stop_signal;

  mpi.barrier();  // rank 0 wrote final.h5
  const std::string final_path = o.out_dir + "/final.h5";
  auto model = load_model(final_path, nn::Phase::test);
  data::GarmentPhotos test(test_set, "test garments", photos);
  std::vector<std::string> names(std::begin(data::kFashionMnistClasses), std::end(data::kFashionMnistClasses));
  const eval::Evaluation e = eval::classify(*model, test, test_images, 32, mpi, names);
  if (e.stopped_by) {  // the classifier is saved; its accuracy was not finished
    if (mpi.rank() == 0)
      log_info("stopped by signal " + std::to_string(e.stopped_by) + " while classifying the test garments; " +
               final_path + " is saved: rerun with --resume auto for its accuracy");
    return 128 + e.stopped_by;
  }
  if (mpi.rank() == 0) {
    const std::string table = eval::format_accuracy_table(e);
    write_file(o.out_dir + "/accuracy.txt", table);
    write_file(o.out_dir + "/accuracy.json", eval::accuracy_json(e));
    eval::write_confusion_png(o.out_dir + "/confusion.png", e);
    std::printf("%s", table.c_str());
    char line[160];
    std::snprintf(line, sizeof line, "top-1 accuracy %.2f%% on %lld test garments; classifier %s", 100 * e.confusion.pixel_accuracy(),
                  (long long)e.confusion.total(), final_path.c_str());
    log_info(line);
  }
  return 0;
}

}  // namespace deeplab::jobs
