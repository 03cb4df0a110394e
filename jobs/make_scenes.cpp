// deeplab make-scenes: the built-in data set (Fashion-MNIST garments on textured backgrounds)
// as DIR/train.h5 and DIR/val.h5.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/atomic_path.h"
#include "core/error.h"
#include "core/log.h"
#include "data/image_sources.h"
#include "data/scenes.h"
#include "data/voc.h"
#include "jobs.h"
#include "options.h"

namespace deeplab::jobs {

int run_make_scenes(int argc, char** argv) {
  CommandLine cl;
  cl.command = "make-scenes";
  cl.usage = "make-scenes --out DIR [--train N --val N --size S|WxH --seed K] [--backgrounds PHOTOS] [--voc-layout]";
  cl.about =
      "Makes the built-in segmentation data set from Debian's Fashion-MNIST: each scene is a textured,\n"
      "coloured canvas with 1 to 4 garments scaled 2-4x and tinted; 11 classes (background + 10 garments);\n"
      "255 marks the band along region boundaries. Train scenes use the training garments, val scenes the\n"
      "test garments. Deterministic for a seed. Writes DIR/train.h5 and DIR/val.h5.";
  cl.options.add_options()
      ("out", po::value<std::string>()->required(), "output folder")
      ("train", po::value<int64_t>()->default_value(400), "training scenes")
      ("val", po::value<int64_t>()->default_value(100), "validation scenes")
      ("size", po::value<std::string>()->default_value("160"), "canvas size in pixels: N (square) or WxH")
      ("seed", po::value<std::string>()->default_value("1"), "random seed")
      ("fashion-mnist", po::value<std::string>()->default_value(data::kFashionMnistDir), "Fashion-MNIST folder")
      ("backgrounds", po::value<std::string>()->default_value(""),
       "a folder or list of photographs: canvases are random crops of them (garments pasted onto real photographs)")
      ("voc-layout", po::bool_switch(), "also write DIR/voc: JPEGImages, SegmentationClass (VOC palette), ImageSets lists");
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  const std::string out = v["out"].as<std::string>();
  data::SceneOptions options;
  const ImageSize size = parse_size_option(v["size"].as<std::string>());
  options.width = int(size.width), options.height = int(size.height);
  options.seed = seed_option(v, "seed");
  const int64_t counts[2] = {v["train"].as<int64_t>(), v["val"].as<int64_t>()};
  if (counts[0] < 0 || counts[1] < 0) fail("make-scenes: scene counts must not be negative");
  if (std::min(size.width, size.height) < 32 || std::max(size.width, size.height) > 4096)
    fail("make-scenes: --size ", v["size"].as<std::string>(), ": each side must be in 32..4096");
  command_line_accepted();
  const std::string backgrounds = v["backgrounds"].as<std::string>();
  if (!backgrounds.empty()) {
    const data::ImageSources found = data::find_images(backgrounds, "");
    if (!found.bad.empty()) fail("--backgrounds: ", found.bad.front());
    if (found.items.empty()) fail("--backgrounds ", backgrounds, ": no photographs there");
    for (const data::PackItem& item : found.items) {
      RgbImage photo = read_rgb_image(item.image);
      if (photo.height < 8 || photo.width < 8) fail(item.image, ": ", photo.width, "x", photo.height, " is too small for a background");
      options.backgrounds.push_back(std::move(photo));
    }
    log_info("backgrounds: " + std::to_string(options.backgrounds.size()) + " photographs from " + backgrounds);
  }
  // Everything read and every output checked before anything is written: a missing half of
  // Fashion-MNIST, or val.h5 a folder, had left train.h5 written and reported.
  const char* splits[2] = {"train", "val"};
  const char* sources[2] = {"train", "t10k"};
  const data::FashionMnist garments[2] = {data::load_fashion_mnist(v["fashion-mnist"].as<std::string>(), sources[0]),
                                          data::load_fashion_mnist(v["fashion-mnist"].as<std::string>(), sources[1])};
  for (const char* split : splits) check_output_file(out + "/" + split + ".h5");
  std::filesystem::create_directories(out);
  // A VOC folder is made afresh: scenes of an earlier, larger run would linger beside the lists.
  if (v["voc-layout"].as<bool>()) std::filesystem::remove_all(out + "/voc");

  for (int k = 0; k < 2; ++k) {
    const std::string path = out + "/" + splits[k] + ".h5";
    data::write_scenes(path, garments[k], splits[k], counts[k], options);
    // The same scenes as a VOC folder, so convert-voc and pack can be tried on them.
    if (v["voc-layout"].as<bool>()) data::write_voc_folder(path, out + "/voc", splits[k]);
    std::printf("%s: %lld scenes of %dx%d, %d classes\n", path.c_str(), (long long)counts[k], options.width,
                options.height, data::kSceneClasses);
  }
  return 0;
}

}  // namespace deeplab::jobs
