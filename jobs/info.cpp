// deeplab info FILE.h5: what a file holds, without loading more than its headers and shapes.
#include <algorithm>
#include <climits>
#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "core/h5.h"
#include "core/log.h"
#include "jobs.h"
#include "data/dataset.h"
#include "models/model_file.h"
#include "segment/predictions_file.h"
#include "options.h"

namespace deeplab::jobs {

namespace {

int describe_dataset(const std::string& path) {
  data::DatasetReader reader(path);
  const int classes = reader.num_classes();
  std::vector<int64_t> histogram(256, 0);
  int64_t min_h = INT64_MAX, max_h = 0, min_w = INT64_MAX, max_w = 0, jpeg = 0;
  Progress progress("reading " + path, reader.size());
  for (int64_t i = 0; i < reader.size(); ++i) {
    const data::EntryInfo e = reader.info(i);
    min_h = std::min(min_h, e.height), max_h = std::max(max_h, e.height);
    min_w = std::min(min_w, e.width), max_w = std::max(max_w, e.width);
    jpeg += e.jpeg;
    if (e.labelled)  // read (and checksum) the entry; its pixels are not decoded
      for (uint8_t l : reader.read_encoded(i).labels) ++histogram[l];
    if (reader.size() > 200) progress.update(i + 1);
  }
  if (reader.size() > 200) progress.finish();
  int64_t pixels = 0;
  for (int64_t c : histogram) pixels += c;
  std::printf("%s: deeplab dataset (format version %d)\n", path.c_str(), reader.version());
  std::printf("  images           %lld\n", (long long)reader.size());
  std::printf("  labelled         %lld\n", (long long)reader.labelled());
  if (reader.size() > 0)
    std::printf("  size             %lld..%lld x %lld..%lld (H x W)\n", (long long)min_h, (long long)max_h,
                (long long)min_w, (long long)max_w);
  std::printf("  stored as        %lld raw, %lld JPEG\n", (long long)(reader.size() - jpeg), (long long)jpeg);
  if (classes == 0) {
    std::printf("  classes          not given (segment takes the model's)\n");
    return 0;
  }
  std::printf("  classes          %d\n", classes);
  std::printf("  %-4s %-20s %12s %8s\n", "id", "class", "pixels", "share");
  for (int c = 0; c < classes; ++c)
    std::printf("  %-4d %-20s %12lld %7.2f%%\n", c, reader.class_names()[c].c_str(), (long long)histogram[c],
                pixels ? 100.0 * histogram[c] / pixels : 0.0);
  std::printf("  %-4d %-20s %12lld %7.2f%%\n", 255, "(ignore)", (long long)histogram[255],
              pixels ? 100.0 * histogram[255] / pixels : 0.0);
  return 0;
}

int describe_predictions(const std::string& path) {
  const segment::PredictionsReader r(path);
  const segment::PredictionsInfo& i = r.info();
  std::printf("%s: deeplab predictions\n", path.c_str());
  std::printf("  images           %lld\n", (long long)i.count);
  std::printf("  classes          %d\n", i.num_classes);
  if (i.crf) {
    const crf::CrfParams& p = i.crf_params;
    std::printf("  CRF              bi_w %g, bi_xy_std %g, bi_rgb_std %g, pos_w %g, pos_xy_std %g, %d iterations\n",
                p.bi_w, p.bi_xy_std, p.bi_rgb_std, p.pos_w, p.pos_xy_std, p.iterations);
  } else {
    std::printf("  CRF              no (network alone)\n");
  }
  if (i.resolution.max_side > 0)
    std::printf("  network input    scaled to at most %d pixels a side%s\n", i.resolution.max_side,
                i.crf ? (i.resolution.crf_full_res ? "; the CRF at full size" : "; the CRF too") : "");
  std::printf("  probabilities    %s\n", i.probs ? "yes (stride 8, float16)" : "no");
  std::printf("  made from        model %s, data %s\n", i.model.c_str(), i.data.c_str());
  return 0;
}

}  // namespace

int run_info(int argc, char** argv) {
  CommandLine cl;
  cl.command = "info";
  cl.usage = "info FILE.h5 | info --devices";
  cl.about = "Describes a deeplab file: a model or checkpoint (network, classes, parameters, training state),\n"
             "a data set (images, sizes, classes) or predictions (images, CRF settings). With --devices:\n"
             "the CUDA devices this process sees (what --device auto would use).";
  cl.options.add_options()("file", po::value<std::string>(), "the HDF5 file")(
      "devices", po::bool_switch(), "list the CUDA devices instead");
  cl.positional.add("file", 1);
  if (!parse(cl, argc, argv)) return 0;
  if (cl.values["devices"].as<bool>()) {
    const std::vector<std::string> devices = cuda_device_descriptions();
    if (devices.empty()) std::printf("cpu only: %s\n", cuda_unavailable_reason().c_str());
    for (size_t i = 0; i < devices.size(); ++i) std::printf("cuda:%zu  %s\n", i, devices[i].c_str());
    return 0;
  }
  if (!cl.values.count("file")) fail("give a FILE.h5 or --devices (see deeplab info --help)");
  const std::string path = cl.values["file"].as<std::string>();
  command_line_accepted();

  h5::File file = h5::File::open_read(path);
  auto format = file.attr_string("/", "format");
  if (!format) fail(path, ": an HDF5 file, but not one deeplab wrote (no 'format' attribute)");
  if (*format == data::kDatasetFormat) return describe_dataset(path);
  if (*format == segment::kPredictionsFormat) return describe_predictions(path);
  if (*format != kModelFormat) fail(path, ": format '", *format, "' is not one this version describes");

  ModelSpec spec = read_model_spec(file);
  std::unique_ptr<Model> built;
  try {
    built = std::make_unique<Model>(spec, nn::Phase::test);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  Model& model = *built;
  std::printf("%s: deeplab model (format version %lld)\n", path.c_str(), (long long)*file.attr_int("/", "version"));
  std::printf("  kind             %s\n", model_kind_name(spec.kind));
  std::printf("  classes          %d\n", spec.num_classes);
  std::printf("  width            %g\n", spec.width);
  if (has_fc6_dilation(spec.kind)) std::printf("  fc6 dilation     %d\n", fc6_dilation(spec));
  std::printf("  parameters       %lld\n", (long long)model.param_count());
  std::printf("  output stride    %d\n", model.output_stride());
  std::printf("  receptive field  %d px\n", model.receptive_field());
  if (file.exists("solver")) {
    // A training checkpoint: where training stands.
    auto value = [&](const char* key) {
      auto v = file.attr_int("solver", key);
      return v ? (long long)*v : -1LL;
    };
    std::printf("  solver state     iteration %lld, global batch %lld (saved by %lld rank(s)), seed %lld, "
                "epoch %lld step %lld\n", value("iteration"), value("global_batch"), value("ranks"), value("seed"),
                value("epoch"), value("epoch_step"));
  }
  std::printf("  %-18s %-16s %s\n", "parameter", "shape", "status");
  int bad = 0;
  for (nn::Param* p : model.params()) {
    Tensor value;
    const std::string problem = stored_tensor_problem(file, p->name, p->value.shape(), &value);
    const Shape shape = file.exists(p->name) ? file.shape_of(p->name) : Shape{};
    bad += !problem.empty();
    std::printf("  %-18s %-16s %s\n", p->name.c_str(), shape_str(shape).c_str(), problem.empty() ? "ok" : problem.c_str());
  }
  // The whole table first, so every bad entry is seen; then bad input's status.
  std::fflush(stdout);
  if (bad) fail(path, ": ", bad, " parameter(s) missing, misshaped or damaged (listed above): not a usable model");
  return 0;
}

}  // namespace deeplab::jobs
