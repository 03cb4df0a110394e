// Writes small files for the end-to-end scripts:
//   make_test_files model OUT.h5 KIND CLASSES WIDTH   a randomly initialised model
//   make_test_files foreign OUT.h5                    an HDF5 file deeplab did not write
//   make_test_files anno-probs ANNO.png OUT.npy        class probabilities from a rough annotation,
//       as the densecrf demo makes its unary: colours numbered by first appearance (row-major),
//       p = 0.5 on the annotated label and 0.025 on the other 20 of 21; 1/21 where black
//   make_test_files poison IN.npy OUT.npy             the array with one value made NaN
//   make_test_files compare-models A.h5 B.h5 RTOL     the largest relative difference between two
//       models' parameters (per parameter: max |a - b| / max |a|); exit 1 above RTOL (0: bitwise)
//   make_test_files compare-predictions A.h5 B.h5 MIN   the share of pixels whose labels agree
//       between two predictions files of the same images, and where both saved the network's
//       probabilities, the largest difference; exit 1 below MIN or above 2e-3
//   make_test_files agreement LABELS.png ANNO.png      of the annotated pixels, the share whose
//       label (index PNG) is the annotation's; and the largest label used vs the colours there
//   make_test_files reference-agreement OURS.png REF.png MIN [ANNO.png]   the share of pixels
//       whose labels equal a reference CRF program's (index PNG, or RGB in ANNO's colours); exit 1
//       below MIN
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <vector>
#include <string>

#include "core/error.h"
#include "core/h5.h"
#include "core/half.h"
#include "image/image_io.h"
#include "core/npy.h"
#include "data/dataset.h"
#include "data/voc.h"
#include <filesystem>
#include "models/model_file.h"
#include "segment/predictions_file.h"

namespace {
uint32_t colour_at(const deeplab::RgbImage& image, int64_t i) {
  return uint32_t(image.rgb[i * 3]) << 16 | uint32_t(image.rgb[i * 3 + 1]) << 8 | image.rgb[i * 3 + 2];
}
// The densecrf demo's numbering of an annotation: colours by first appearance in a row-major
// scan, black (unannotated) left out.
std::map<uint32_t, int> annotation_numbering(const deeplab::RgbImage& anno) {
  std::map<uint32_t, int> number;
  for (int64_t i = 0; i < anno.height * anno.width; ++i) {
    const uint32_t c = colour_at(anno, i);
    if (c != 0 && !number.count(c)) number.emplace(c, int(number.size()));
  }
  return number;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace deeplab;
  try {
    const std::string what = argc > 2 ? argv[1] : "";
    if (what == "model" && argc == 6) {
      ModelSpec spec{parse_model_kind(argv[3]), std::stoi(argv[4]), std::stod(argv[5])};
      Model m(spec, nn::Phase::test, 1);
      save_model(argv[2], m);
      return 0;
    }
    if (what == "compare-models" && argc == 5) {
      auto a = load_model(argv[2], nn::Phase::test), b = load_model(argv[3], nn::Phase::test);
      const double rtol = std::stod(argv[4]);
      double worst = 0;
      std::string worst_name;
      bool identical = true;
      for (nn::Param* p : a->params()) {
        nn::Param* q = b->net().find_param(p->name);
        if (!q || q->value.shape() != p->value.shape()) fail(argv[3], ": no parameter like ", p->name);
        double diff = 0, scale = 1e-30;
        for (int64_t i = 0; i < p->value.numel(); ++i) {
          diff = std::max(diff, double(std::fabs(p->value.data()[i] - q->value.data()[i])));
          scale = std::max(scale, double(std::fabs(p->value.data()[i])));
          identical &= p->value.data()[i] == q->value.data()[i];
        }
        if (diff / scale >= worst) worst = diff / scale, worst_name = p->name;
      }
      std::printf("max relative difference %.3g (%s)%s\n", worst, worst_name.c_str(), identical ? ", bitwise identical" : "");
      return (rtol == 0 ? identical : worst <= rtol) ? 0 : 1;
    }
    if (what == "compare-predictions" && argc == 5) {
      const segment::PredictionsReader a(argv[2]), b(argv[3]);
      if (a.info().count != b.info().count) fail(argv[3], ": ", b.info().count, " images, ", argv[2], " has ", a.info().count);
      int64_t same = 0, total = 0;
      bool used[256] = {};
      // Where both kept the network's probabilities, those must agree too (to two steps of their
      // 16-bit storage): labels alone agree even between garbage scores when one class wins
      // everywhere.
      const bool probs = a.info().probs && b.info().probs;
      double worst = 0;
      for (int64_t i = 0; i < a.info().count; ++i) {
        const LabelMap la = a.labels(i), lb = b.labels(i);
        if (la.data.size() != lb.data.size()) fail("image ", i, ": sizes differ");
        for (size_t k = 0; k < la.data.size(); ++k) same += la.data[k] == lb.data[k], used[la.data[k]] = true;
        total += int64_t(la.data.size());
        if (!probs) continue;
        const segment::Stride8Probabilities pa = a.probabilities(i), pb = b.probabilities(i);
        if (pa.bits.size() != pb.bits.size()) fail("image ", i, ": probability maps differ in size");
        for (size_t k = 0; k < pa.bits.size(); ++k) {
          const double d = std::fabs(double(half_to_float(pa.bits[k])) - double(half_to_float(pb.bits[k])));
          worst = std::isnan(d) ? INFINITY : std::max(worst, d);
        }
      }
      const double share = double(same) / double(std::max<int64_t>(total, 1));
      std::printf("labels agree on %.4f%% of %lld pixels (%d classes in the first)", 100 * share, (long long)total,
                  int(std::count(used, used + 256, true)));
      if (probs) std::printf("; probabilities within %.2g", worst);
      std::printf("\n");
      return share >= std::stod(argv[4]) && (!probs || worst <= 2e-3) ? 0 : 1;
    }
    if (what == "foreign") {
      h5::File f = h5::File::create(argv[2]);
      f.write_tensor("data/x", Tensor({3, 3}));
      return 0;
    }
    if (what == "anno-probs" && argc == 4) {
      RgbImage anno = read_rgb_image(argv[2]);
      const int64_t n = anno.height * anno.width, labels = 21;
      Tensor p({labels, anno.height, anno.width});
      std::map<uint32_t, int> number = annotation_numbering(anno);
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t c = colour_at(anno, i);
        for (int64_t l = 0; l < labels; ++l)
          p.data()[l * n + i] = c == 0 ? 1.0f / labels : (l == number[c] ? 0.5f : 0.5f / (labels - 1));
      }
      write_npy(argv[3], p);
      return 0;
    }
    if (what == "poison" && argc == 4) {  // a copy of an array with one NaN
      Tensor t = read_npy(argv[2]);
      t.data()[t.numel() / 2] = std::nanf("");
      write_npy(argv[3], t);
      return 0;
    }
    if (what == "voc-matches" && argc == 6) {  // ROOT LABEL_DIR LIST F.h5: decoded once, identical?
      data::DatasetReader r(argv[5]);
      auto names = data::read_name_list(argv[4]);
      if (int64_t(names.size()) != r.size()) fail(argv[5], ": ", r.size(), " images for ", names.size(), " names");
      for (int64_t i = 0; i < r.size(); ++i) {
        const std::string root = argv[2];
        const RgbImage image = read_rgb_image(root + "/JPEGImages/" + names[i] + ".jpg");
        const LabelMap labels = read_label_png(root + "/" + argv[3] + "/" + names[i] + ".png");
        const data::Sample b = r.read(i);
        if (names[i] != b.name || image.rgb != b.rgb || labels.data != b.labels)
          fail(argv[5], ": entry ", i, " differs from ", names[i]);
      }
      std::printf("identical: %lld images\n", (long long)r.size());
      return 0;
    }
    if (what == "same-dataset" && argc == 4) {  // A.h5 B.h5: same entries, same order?
      data::DatasetReader a(argv[2]), b(argv[3]);
      if (a.size() != b.size()) fail("sizes differ: ", a.size(), " and ", b.size());
      for (int64_t i = 0; i < a.size(); ++i) {
        data::Sample x = a.read(i), y = b.read(i);
        if (x.name != y.name || x.rgb != y.rgb || x.labels != y.labels) fail("entry ", i, " differs");
      }
      std::printf("same: %lld images\n", (long long)a.size());
      return 0;
    }
    if (what == "voc-defect" && argc == 5) {  // ROOT NAME KIND: damage one entry of a VOC folder
      const std::string root = argv[2], name = argv[3], kind = argv[4];
      const std::string jpeg = root + "/JPEGImages/" + name + ".jpg", png = root + "/SegmentationClass/" + name + ".png";
      if (kind == "truncate-jpeg") {
        std::filesystem::resize_file(jpeg, std::filesystem::file_size(jpeg) * 2 / 3);
      } else if (kind == "label-size" || kind == "label-37") {
        const LabelMap labels = read_label_png(png);
        const int64_t h = labels.h, w = labels.w;
        LabelMap m(1, kind == "label-size" ? h + 1 : h, w);
        for (int64_t y = 0; y < std::min(h, m.h); ++y)
          for (int64_t x = 0; x < w; ++x) m.at(0, y, x) = labels.at(0, y, x);
        if (kind == "label-37") m.at(0, h / 2, w / 2) = 37;
        write_label_png(png, m, LabelPalette::voc);
      } else {
        fail("unknown defect ", kind);
      }
      return 0;
    }
    if (what == "agreement" && argc == 4) {
      const LabelMap labels = read_label_png(argv[2]);
      RgbImage anno = read_rgb_image(argv[3]);
      if (labels.h != anno.height || labels.w != anno.width) fail(argv[2], ": not a label PNG of the annotation's size");
      std::map<uint32_t, int> number = annotation_numbering(anno);
      int64_t annotated = 0, same = 0, max_label = 0;
      for (int64_t i = 0; i < anno.height * anno.width; ++i) {
        const uint32_t c = colour_at(anno, i);
        max_label = std::max<int64_t>(max_label, labels.data[size_t(i)]);
        if (c == 0) continue;
        ++annotated;
        same += labels.data[size_t(i)] == number[c];
      }
      std::printf("agreement %.4f of %lld annotated pixels; labels used up to %lld; annotation colours %zu\n",
                  double(same) / double(annotated), (long long)annotated, (long long)max_label, number.size());
      return 0;
    }
    if (what == "reference-agreement" && (argc == 5 || argc == 6)) {
      // OURS.png (label indices) against a reference program's REF.png: label indices, or, with
      // ANNO.png, RGB in the annotation's colours (the densecrf demo's output). Exit 1 below MIN.
      const LabelMap ours = read_label_png(argv[2]);
      std::vector<int> reference;
      if (argc == 6) {
        const RgbImage ref = read_rgb_image(argv[3]);
        const std::map<uint32_t, int> number = annotation_numbering(read_rgb_image(argv[5]));
        for (int64_t i = 0; i < ref.height * ref.width; ++i) {
          auto it = number.find(colour_at(ref, i));
          reference.push_back(it == number.end() ? -1 : it->second);  // a colour not in the palette
        }
      } else {
        const LabelMap ref = read_label_png(argv[3]);
        reference.assign(ref.data.begin(), ref.data.end());
      }
      if (reference.size() != ours.data.size()) fail(argv[3], ": ", reference.size(), " pixels, ", argv[2], " has ", ours.data.size());
      int64_t same = 0;
      for (size_t i = 0; i < reference.size(); ++i) same += reference[i] == int(ours.data[i]);
      const double share = double(same) / double(std::max<size_t>(reference.size(), 1));
      std::printf("labels agree with the reference on %.4f%% of %zu pixels\n", 100 * share, reference.size());
      return share >= std::stod(argv[4]) ? 0 : 1;
    }
    std::fprintf(stderr, "usage: make_test_files model OUT.h5 KIND CLASSES WIDTH | foreign OUT.h5 | "
                 "anno-probs ANNO.png OUT.npy | agreement LABELS.png ANNO.png | "
                 "reference-agreement OURS.png REF.png MIN [ANNO.png]\n");
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "make_test_files: %s\n", e.what());
    return 1;
  }
}
