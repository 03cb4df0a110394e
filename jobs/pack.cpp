// deeplab pack: any folder (or list) of images, with label maps where there are any, into one
// dataset file; deeplab convert-voc: the same from a VOC folder and list. Both in parallel under
// mpirun; the file does not depend on the number of ranks.
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "data/convert_voc.h"
#include "data/pack.h"
#include "data/voc.h"
#include "dist/mpi.h"
#include "jobs.h"
#include "options.h"

namespace deeplab::jobs {

namespace {

void add_storage_option(po::options_description& options, const char* default_storage) {
  options.add_options()
      ("encoding", po::value<std::string>()->default_value(default_storage),
       "source: keep each JPEG's own bytes (decoded when read; about the size of the JPEGs); raw: "
       "decoded pixels, deflated")
      ("skip-bad", po::bool_switch(), "leave out entries that cannot be read, and list them")
      ("overwrite", po::bool_switch(), "replace an existing output (else it is refused)");
}

data::PixelStorage storage_from(const po::variables_map& v) {
  const std::string s = v["encoding"].as<std::string>();
  if (s == "raw") return data::PixelStorage::raw;
  if (s == "source") return data::PixelStorage::source;
  fail("--encoding must be raw or source, not '", s, "'");
}

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> names;
  std::stringstream in(list);
  for (std::string name; std::getline(in, name, ',');) {
    if (name.empty()) fail("--class-names has an empty name: '", list, "'");
    names.push_back(name);
  }
  return names;
}

void print_report(const data::PackReport& r, const std::string& out, const char* verb, int64_t ignored,
                  int64_t unpaired) {
  if (dist::Mpi::get().rank() != 0) return;
  const double mb = double(std::filesystem::file_size(out)) / 1e6;
  std::printf("%s: %lld of %lld images %s, %lld labelled; %.1f MB", out.c_str(), (long long)r.packed,
              (long long)r.found, verb, (long long)r.labelled, mb);
  if (r.jpeg_bytes > 0) std::printf(" (%.1f MB of it JPEG files kept as they are)", double(r.jpeg_bytes) / 1e6);
  std::printf("; %d rank(s)\n", dist::Mpi::get().size());
  if (ignored > 0) std::printf("  %lld other files ignored (not images by their content)\n", (long long)ignored);
  if (unpaired > 0) std::printf("  %lld label maps match no image\n", (long long)unpaired);
  for (const std::string& s : r.skipped) std::printf("  skipped %s\n", s.c_str());
}

}  // namespace

int run_pack(int argc, char** argv) {
  CommandLine cl;
  cl.command = "pack";
  cl.usage =
      "pack --images DIR|LIST.txt --out D.h5 [--labels DIR] [--num-classes N] [--class-names a,b,...]\n"
      "       [--encoding source|raw] [--skip-bad] [--overwrite]";
  cl.about =
      "Packs images into a dataset file. DIR is walked recursively; images are recognised by their\n"
      "content (JPEG, PNG, PPM/PGM, BMP), sorted by relative path, and named by it without the\n"
      "extension. A list names one image path per line (relative to the list's folder). With\n"
      "--labels, LABELS/NAME.png (class indices, 255 = ignore, or VOC colours) is the label map of\n"
      "NAME where it exists; other entries are unlabelled, which segment takes and evaluate, train\n"
      "and crf-sweep refuse. Parallel across MPI ranks; the file does not depend on the rank count.\n"
      "All or nothing: a bad image or label map is an error naming it, unless --skip-bad.";
  cl.options.add_options()
      ("images", po::value<std::string>()->required(), "folder of images, or a list file of image paths")
      ("out", po::value<std::string>()->required(), "dataset file to write (.h5)")
      ("labels", po::value<std::string>()->default_value(""), "folder of label maps, NAME.png")
      ("num-classes", po::value<int>(), "class count (default: 21 with --labels, else not given)")
      ("class-names", po::value<std::string>()->default_value(""), "class names, comma-separated (sets the count)");
  add_storage_option(cl.options, "source");
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  data::PackOptions o;
  o.out = v["out"].as<std::string>();
  o.storage = storage_from(v);
  o.skip_bad = v["skip-bad"].as<bool>();
  o.overwrite = v["overwrite"].as<bool>();
  const std::string labels = v["labels"].as<std::string>(), names = v["class-names"].as<std::string>();
  if (!names.empty()) o.class_names = split_names(names);
  if (v.count("num-classes")) o.num_classes = v["num-classes"].as<int>();
  else if (!o.class_names.empty()) o.num_classes = int(o.class_names.size());
  else if (!labels.empty()) o.num_classes = 21, o.class_names = data::voc_class_names();
  if (v.count("num-classes") ? (o.num_classes < 1 || o.num_classes > 255) : o.num_classes > 255)
    fail("--num-classes ", o.num_classes, " outside 1..255");
  if (!o.class_names.empty() && int(o.class_names.size()) != o.num_classes)
    fail(o.class_names.size(), " class names for --num-classes ", o.num_classes);
  command_line_accepted();
  const data::ImageSources sources = data::find_images_on_rank0(v["images"].as<std::string>(), labels);
  const data::PackReport r = data::pack_dataset(sources, o);
  print_report(r, o.out, "packed", sources.ignored, sources.unpaired_labels);
  return 0;
}

int run_convert_voc(int argc, char** argv) {
  CommandLine cl;
  cl.command = "convert-voc";
  cl.usage =
      "convert-voc --voc-root DIR --list LIST.txt --out F.h5 [--label-dir SegmentationClass] [--num-classes 21]\n"
      "            [--class-names a,b,...]";
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
      ("class-names", po::value<std::string>()->default_value(""),
       "class names, comma-separated (sets the count; default: VOC's for 21 classes, else class0, class1, ...)");
  add_storage_option(cl.options, "raw");
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  data::ConvertOptions o;
  o.voc_root = v["voc-root"].as<std::string>();
  o.list = v["list"].as<std::string>();
  o.out = v["out"].as<std::string>();
  o.label_dir = v["label-dir"].as<std::string>();
  o.num_classes = v["num-classes"].as<int>();
  const std::string names = v["class-names"].as<std::string>();
  if (!names.empty()) o.class_names = split_names(names);
  if (!o.class_names.empty() && v["num-classes"].defaulted()) o.num_classes = int(o.class_names.size());
  o.storage = storage_from(v);
  o.skip_bad = v["skip-bad"].as<bool>();
  o.overwrite = v["overwrite"].as<bool>();
  if (o.num_classes < 1 || o.num_classes > 255)
    fail("--num-classes ", o.num_classes, " outside 1..255");
  if (!o.class_names.empty() && int(o.class_names.size()) != o.num_classes)
    fail(o.class_names.size(), " class names for --num-classes ", o.num_classes);
  command_line_accepted();
  print_report(data::convert_voc(o), o.out, "converted", 0, 0);
  return 0;
}

}  // namespace deeplab::jobs
