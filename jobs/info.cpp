// deeplab info FILE.h5: what a file holds, without loading more than its headers and shapes.
#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "core/h5.h"
#include "jobs.h"
#include "models/model_file.h"
#include "options.h"

namespace deeplab::jobs {

int run_info(int argc, char** argv) {
  CommandLine cl;
  cl.command = "info";
  cl.usage = "info FILE.h5";
  cl.about = "Describes a deeplab model or checkpoint file: network, classes, parameters and their shapes.";
  cl.options.add_options()("file", po::value<std::string>()->required(), "the HDF5 file");
  cl.positional.add("file", 1);
  if (!parse(cl, argc, argv)) return 0;
  const std::string path = cl.values["file"].as<std::string>();

  h5::File file = h5::File::open_read(path);
  auto format = file.attr_string("/", "format");
  if (!format) fail(path, ": an HDF5 file, but not one deeplab wrote (no 'format' attribute)");
  if (*format != kModelFormat) fail(path, ": format '", *format, "' is not one this version describes");

  ModelSpec spec = read_model_spec(file);
  Model model(spec, nn::Phase::test);
  std::printf("%s: deeplab model (format version %lld)\n", path.c_str(), (long long)*file.attr_int("/", "version"));
  std::printf("  kind             %s\n", model_kind_name(spec.kind));
  std::printf("  classes          %d\n", spec.num_classes);
  std::printf("  width            %g\n", spec.width);
  std::printf("  parameters       %lld\n", (long long)model.param_count());
  std::printf("  output stride    %d\n", model.output_stride());
  std::printf("  receptive field  %d px\n", model.receptive_field());
  if (file.exists("solver")) {
    auto iter = file.attr_int("solver", "iteration");
    std::printf("  solver state     iteration %lld\n", iter ? (long long)*iter : -1LL);
  }
  std::printf("  %-18s %-16s %s\n", "parameter", "shape", "status");
  for (nn::Param* p : model.params()) {
    std::string status = "ok";
    Shape shape;
    if (!file.exists(p->name)) {
      status = "MISSING";
    } else {
      shape = file.shape_of(p->name);
      if (shape != p->value.shape()) status = "WRONG SHAPE, expected " + shape_str(p->value.shape());
    }
    std::printf("  %-18s %-16s %s\n", p->name.c_str(), shape_str(shape).c_str(), status.c_str());
  }
  return 0;
}

}  // namespace deeplab::jobs
