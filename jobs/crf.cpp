// deeplab crf: the fully connected CRF on one image, from class probabilities or raw scores.
#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "core/npy.h"
#include "core/timing.h"
#include "crf/crf_runner.h"
#include "crf/dense_crf.h"
#include "jobs.h"
#include "options.h"

namespace deeplab::jobs {

int run_crf(int argc, char** argv) {
  CommandLine cl;
  cl.command = "crf";
  cl.usage = "crf --image IMG --probs P.npy|F.h5:/path [--layout chw|hwc] --out LABELS.png [--marginals Q.npy]";
  cl.about =
      "Runs the fully connected CRF on one image. The class map is L x H x W (or H x W x L with\n"
      "--layout hwc), float32 or float16, at the image's size: probabilities with --probs, raw scores\n"
      "with --scores. Writes the labels as PNG (the label index per pixel, or VOC colours) and, with\n"
      "--marginals, the final marginals as float32 L x H x W. Defaults: the DeepLab-LargeFOV release.";
  add_crf_input_options(cl.options);
  cl.options.add_options()
      ("out", po::value<std::string>()->required(), "label map PNG to write")
      ("palette", po::value<std::string>()->default_value("index"), "index (grey = label) or voc (colours)")
      ("marginals", po::value<std::string>(), "also write the final marginals (.npy, L x H x W)")
      ("threads", po::value<int>()->default_value(0), "CPU threads (0: all cores)");
  add_crf_options(cl.options);
  add_device_options(cl);
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  check_crf_input_options(v);
  const std::string palette = v["palette"].as<std::string>();
  if (palette != "index" && palette != "voc") fail("--palette '", palette, "': expected index or voc");
  crf::CrfParams params = crf_params_from(v);
  set_threads_option(v["threads"].as<int>());
  command_line_accepted();
  check_output_files(v, {"out", "marginals"});

  const CrfInput in = read_crf_input(v);
  const RgbImage& image = in.image;
  crf::CrfRunner runner(use_device(device_choice(cl), 0));
  auto start = std::chrono::steady_clock::now();
  crf::CrfResult result = runner.run(image.rgb.data(), image.height, image.width, params, in.unary);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  write_label_png(v["out"].as<std::string>(), result.labels, palette == "voc" ? LabelPalette::voc : LabelPalette::index);
  if (v.count("marginals")) write_npy(v["marginals"].as<std::string>(), result.marginals);
  std::vector<int64_t> histogram(in.unary.dim(0), 0);
  for (uint8_t l : result.labels.data) ++histogram[l];
  std::printf("crf %s: %lldx%lld, %lld labels, %d iterations, %.1f ms on %s; pixels per label:",
              v["image"].as<std::string>().c_str(), (long long)image.width, (long long)image.height,
              (long long)in.unary.dim(0), params.iterations, ms, runner.device().describe().c_str());
  for (size_t l = 0; l < histogram.size(); ++l)
    if (histogram[l]) std::printf(" %zu:%lld", l, (long long)histogram[l]);
  std::printf("\n");
  return 0;
}

}  // namespace deeplab::jobs
