// deeplab crf: the fully connected CRF on one image, from class probabilities or raw scores.
#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "core/h5.h"
#include "image/image_io.h"
#include "core/npy.h"
#include "core/timing.h"
#include "crf/crf_runner.h"
#include "crf/dense_crf.h"
#include "jobs.h"
#include "options.h"

namespace deeplab::jobs {
namespace {

// "P.npy", or "F.h5:/path/in/file".
Tensor read_array(const std::string& spec) {
  const size_t colon = spec.find(".h5:");
  if (colon != std::string::npos) {
    const std::string file = spec.substr(0, colon + 3), entry = spec.substr(colon + 4);
    return h5::File::open_read(file).read_tensor(entry);
  }
  return read_npy(spec);
}

Tensor hwc_to_chw(const Tensor& t, const std::string& name) {
  if (t.ndim() != 3) fail(name, ": expected 3 dimensions (H x W x L), got ", shape_str(t.shape()));
  const int64_t h = t.dim(0), w = t.dim(1), l = t.dim(2);
  Tensor out({l, h, w});
  // Rows of pixels, one per task: reads run along memory, each label's writes along its plane.
#pragma omp parallel for schedule(static)
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < l; ++k) out.data()[(k * h + y) * w + x] = t.data()[(y * w + x) * l + k];
  return out;
}

}  // namespace

void add_crf_options(po::options_description& options) {
  const crf::CrfParams d;
  options.add_options()
      ("crf.bi_w", po::value<float>()->default_value(d.bi_w), "appearance kernel weight (w1)")
      ("crf.bi_xy_std", po::value<float>()->default_value(d.bi_xy_std), "appearance kernel position std (theta_alpha)")
      ("crf.bi_rgb_std", po::value<float>()->default_value(d.bi_rgb_std), "appearance kernel colour std (theta_beta)")
      ("crf.pos_w", po::value<float>()->default_value(d.pos_w), "smoothness kernel weight (w2)")
      ("crf.pos_xy_std", po::value<float>()->default_value(d.pos_xy_std), "smoothness kernel std (theta_gamma)")
      ("crf.iterations", po::value<int>()->default_value(d.iterations), "mean-field iterations")
      ("crf.normalization", po::value<std::string>()->default_value("per-pixel"),
       "per-pixel (the 2011 code DeepLab used) | symmetric");
}

crf::CrfParams crf_params_from(const po::variables_map& v) {
  crf::CrfParams p;
  p.bi_w = v["crf.bi_w"].as<float>();
  p.bi_xy_std = v["crf.bi_xy_std"].as<float>();
  p.bi_rgb_std = v["crf.bi_rgb_std"].as<float>();
  p.pos_w = v["crf.pos_w"].as<float>();
  p.pos_xy_std = v["crf.pos_xy_std"].as<float>();
  p.iterations = v["crf.iterations"].as<int>();
  const std::string norm = v["crf.normalization"].as<std::string>();
  if (norm == "per-pixel")
    p.normalization = crf::Normalization::per_pixel;
  else if (norm == "symmetric")
    p.normalization = crf::Normalization::symmetric;
  else
    fail("--crf.normalization '", norm, "': expected per-pixel or symmetric");
  crf::validate(p);
  return p;
}

void add_crf_input_options(po::options_description& options) {
  options.add_options()
      ("image", po::value<std::string>(), "the photograph (PNG, JPEG, PPM, ...)")
      ("probs", po::value<std::string>(), "class probabilities: P.npy or F.h5:/dataset")
      ("scores", po::value<std::string>(), "raw class scores instead (softmax applied)")
      ("layout", po::value<std::string>()->default_value("chw"), "chw (L x H x W) or hwc (H x W x L)");
}

bool crf_input_given(const po::variables_map& v) { return v.count("image") || v.count("probs") || v.count("scores"); }

void check_crf_input_options(const po::variables_map& v) {
  if (!v.count("image")) fail("the option '--image' is required");
  if (v.count("probs") == v.count("scores")) fail("crf: give exactly one of --probs and --scores");
  const std::string layout = v["layout"].as<std::string>();
  if (layout != "chw" && layout != "hwc") fail("--layout '", layout, "': expected chw or hwc");
}

CrfInput read_crf_input(const po::variables_map& v) {
  const std::string image_path = v["image"].as<std::string>();
  CrfInput in{read_rgb_image(image_path), {}};
  const bool from_scores = v.count("scores") > 0;
  const std::string array_path = v[from_scores ? "scores" : "probs"].as<std::string>();
  const std::string layout = v["layout"].as<std::string>();
  Tensor classes = read_array(array_path);
  const bool hwc = layout == "hwc";
  if (classes.ndim() != 3)
    fail(array_path, ": expected 3 dimensions (", hwc ? "H x W x L" : "L x H x W", "), got ", shape_str(classes.shape()));
  const int64_t h = classes.dim(hwc ? 0 : 1), w = classes.dim(hwc ? 1 : 2);
  if (h != in.image.height || w != in.image.width)
    fail(array_path, ": ", h, " x ", w, " (H x W) but ", image_path, " is ", in.image.height, " x ", in.image.width,
         (hwc ? "" : " (for H x W x L arrays pass --layout hwc)"));
  try {
    if (from_scores)
      in.unary = crf::unary_from_scores(hwc ? hwc_to_chw(classes, array_path) : classes);
    else  // the common case, a class map of tens of MB: straight from H x W x L, in one pass
      in.unary = hwc ? crf::unary_from_probabilities_hwc(classes) : crf::unary_from_probabilities(classes);
  } catch (const Error& e) {
    fail(array_path, ": ", e.what());
  }
  return in;
}

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
