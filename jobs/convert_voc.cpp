// deeplab convert-voc: a PASCAL VOC folder (JPEGImages + SegmentationClass) and a list of names
// into one dataset file; in parallel under mpirun.
#include <cstdio>

#include "core/error.h"
#include "data/convert_voc.h"
#include "dist/mpi.h"
#include "jobs.h"
#include "options.h"

namespace deeplab::jobs {

int run_convert_voc(int argc, char** argv) {
  CommandLine cl;
  cl.command = "convert-voc";
  cl.usage = "convert-voc --voc-root DIR --list LIST.txt --out F.h5 [--label-dir SegmentationClass] [--num-classes 21]";
  cl.about =
      "Converts VOC-layout images and labels into a dataset file: JPEGImages/NAME.jpg with\n"
      "LABEL_DIR/NAME.png (VOC palette PNGs, or grey index PNGs such as SegmentationClassAug).\n"
      "Parallel across MPI ranks under mpirun; the output does not depend on the rank count.\n"
      "All or nothing: a bad entry is an error naming the file, unless --skip-bad (then it is\n"
      "left out and listed at the end).";
  cl.options.add_options()
      ("voc-root", po::value<std::string>()->required(), "the VOC folder (holding JPEGImages)")
      ("list", po::value<std::string>()->required(), "names to convert, one per line")
      ("out", po::value<std::string>()->required(), "dataset file to write")
      ("label-dir", po::value<std::string>()->default_value("SegmentationClass"), "label folder under --voc-root")
      ("num-classes", po::value<int>()->default_value(21), "number of classes (VOC: 21)")
      ("skip-bad", po::bool_switch(), "leave out entries that cannot be read, and list them");
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  data::ConvertOptions o;
  o.voc_root = v["voc-root"].as<std::string>();
  o.list = v["list"].as<std::string>();
  o.out = v["out"].as<std::string>();
  o.label_dir = v["label-dir"].as<std::string>();
  o.num_classes = v["num-classes"].as<int>();
  o.skip_bad = v["skip-bad"].as<bool>();
  data::ConvertReport r = data::convert_voc(o);
  if (dist::Mpi::get().rank() == 0) {
    std::printf("%s: %lld of %lld listed images converted (%d ranks)\n", o.out.c_str(), (long long)r.converted,
                (long long)r.listed, dist::Mpi::get().size());
    for (const std::string& s : r.skipped) std::printf("  skipped %s\n", s.c_str());
  }
  return 0;
}

}  // namespace deeplab::jobs
