#include "segment/segment_dataset.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include "core/output_lock.h"
#include "core/error.h"
#include "image/image_io.h"
#include "core/log.h"
#include "core/text_file.h"
#include "data/dataset.h"
#include "models/model_file.h"
#include "segment/predict.h"
#include "segment/predictions_file.h"

namespace deeplab::segment {

namespace fs = std::filesystem;

namespace {

// Where a run keeps its pieces until they are assembled into the output.
std::string parts_path(const SegmentOptions& o) { return o.out_path + ".parts"; }

std::string piece_path(const std::string& parts, int64_t block) {
  char name[32];
  std::snprintf(name, sizeof name, "/piece-%06lld.h5", (long long)block);
  return parts + name;
}

// What the pieces depend on, one "key = value" line each.
// What the model and the data hold (content stamps, no paths or times: the same inputs written
// again are the same inputs). Recorded in the settings and in the output.
std::string inputs_text(Model& model, const data::DatasetReader& reader) {
  return "model: " + content_stamp(model) + "\ndata: " + reader.content_stamp() + "\n";
}

std::string settings_text(const SegmentOptions& o, int64_t images, const std::string& inputs) {
  std::ostringstream s;
  s << "model = " << fs::absolute(o.model_path).string() << "\n"
    << "data = " << fs::absolute(o.data_path).string() << "\n"
    << inputs
    << "images = " << images << "\n"
    << "piece_images = " << o.piece_images << "\n"
    << "save_probs = " << o.save_probs << "\n"
    << "crf = " << o.crf << "\n";
  if (o.precision != nn::Precision::f32) s << "precision = " << nn::precision_name(o.precision) << "\n";
  if (o.resolution.max_side > 0)
    s << "max_side = " << o.resolution.max_side << "\ncrf_full_res = " << o.resolution.crf_full_res << "\n";
  if (o.crf) {
    const crf::CrfParams& p = o.crf_params;
    s << "crf = " << p.bi_w << " " << p.bi_xy_std << " " << p.bi_rgb_std << " " << p.pos_w << " " << p.pos_xy_std << " "
      << p.iterations << " " << int(p.normalization) << "\n";
  }
  return s.str();
}

// A file name from an image name ("2007_000032"; any '/' becomes '_').
std::string file_stem(std::string name) {
  for (char& c : name)
    if (c == '/' || c == '\\') c = '_';
  return name;
}

// image | prediction | ground truth (when labelled), side by side, 4 pixels of white between.
void write_overlay(const std::string& path, const data::Sample& s, const LabelMap& labels) {
  const int64_t h = s.height, w = s.width, gap = 4, panels = s.labelled() ? 3 : 2;
  const int64_t total_w = panels * w + (panels - 1) * gap;
  RgbImage o{h, total_w, std::vector<uint8_t>(size_t(h * total_w * 3), 255)};
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const int64_t i = y * w + x;
      uint8_t* row = &o.rgb[size_t(y * total_w * 3)];
      for (int k = 0; k < 3; ++k) row[x * 3 + k] = s.rgb[size_t(i * 3 + k)];
      const auto p = voc_colour(labels.data[size_t(i)]);
      for (int k = 0; k < 3; ++k) row[(w + gap + x) * 3 + k] = p[size_t(k)];
      if (!s.labelled()) continue;
      const auto t = voc_colour(s.labels[size_t(i)]);
      for (int k = 0; k < 3; ++k) row[(2 * (w + gap) + x) * 3 + k] = t[size_t(k)];
    }
  write_rgb_png(path, o);
}

// Where an image's overlay goes. The server's folder must hold masks only: its overlays go
// beside the results folder.
std::string overlay_path(const SegmentOptions& o, const std::string& name) {
  if (o.png_layout == PngLayout::voc_server) return o.png_dir + "/overlays/" + file_stem(name) + "_overlay.png";
  const std::string mask = png_path(o.png_dir, o.png_layout, name);
  return mask.substr(0, mask.size() - 4) + "_overlay.png";
}

void write_pictures(const SegmentOptions& o, const data::Sample& s, const LabelMap& labels) {
  const std::string mask = png_path(o.png_dir, o.png_layout, s.name);
  fs::create_directories(fs::path(mask).parent_path());
  write_label_png(mask, labels, LabelPalette::voc);
  if (!o.overlays) return;
  const std::string overlay = overlay_path(o, s.name);
  fs::create_directories(fs::path(overlay).parent_path());
  write_overlay(overlay, s, labels);
}

// Refuses, before any work, names whose pictures would land on one file (two entries of one name;
// "a/b" and "a_b" in the flat layout; with --overlays, an image named "a_overlay" beside "a": the
// second would overwrite the first) or outside DIR.
void check_png_paths(const SegmentOptions& o, const data::DatasetReader& reader) {
  std::map<std::string, std::string> taken;  // picture path -> the image name that takes it
  for (int64_t i = 0; i < reader.size(); ++i) {
    const std::string name = reader.info(i).name;
    std::vector<std::string> pictures;
    try {
      pictures.push_back(png_path(o.png_dir, o.png_layout, name));
      if (o.overlays) pictures.push_back(overlay_path(o, name));
    } catch (const Error& e) {
      fail(o.data_path, ": entry ", i, ": ", e.what());
    }
    for (const std::string& picture : pictures) {
      const auto [at, fresh] = taken.emplace(picture, name);
      if (!fresh)
        fail(o.data_path, ": images '", at->second, "' and '", name, "' (entry ", i, ") would both be written to ",
             picture, "; rename one, or choose another --png-layout");
    }
  }
}

// The memory segmenting one image takes, in MB (segment_memory_bytes with the network's own plan).
int64_t memory_mb(const SegmentOptions& o, Model& model, const data::EntryInfo& e, int classes, int max_side) {
  Resolution resolution = o.resolution;
  resolution.max_side = max_side;
  const Size2D size = working_size(e.height, e.width, max_side);
  // The planned buffers, and the weights (held once, plus Winograd's transformed copies).
  const ModelKind kind = model.spec().kind;
  const int64_t network = int64_t(model.net().plan_bytes(
                              {{1, 3, network_side(kind, size.height), network_side(kind, size.width)}})) +
                          model.param_count() * int64_t(sizeof(float)) * 3 / 2;
  return segment_memory_bytes(e.height, e.width, classes, o.crf, resolution, network) >> 20;
}

// Refuses, before any work, a data set whose largest image would not fit the memory budget.
// The estimate grows with the pixels, so the images with the largest working size and the
// largest full size are the ones to check. The message offers the largest --max-side (a
// multiple of 64) that fits, found by bisection.
void check_memory(const SegmentOptions& o, Model& model, const data::DatasetReader& reader, int classes) {
  int64_t most_working = -1, most_pixels = -1, largest_working = 0, largest_pixels = 0;
  for (int64_t i = 0; i < reader.size(); ++i) {
    const data::EntryInfo e = reader.info(i);
    const Size2D size = working_size(e.height, e.width, o.resolution.max_side);
    if (size.height * size.width > largest_working) largest_working = size.height * size.width, most_working = i;
    if (e.height * e.width > largest_pixels) largest_pixels = e.height * e.width, most_pixels = i;
  }
  for (const int64_t i : {most_working, most_pixels}) {
    if (i < 0) continue;
    const data::EntryInfo e = reader.info(i);
    const int64_t need = memory_mb(o, model, e, classes, o.resolution.max_side);
    if (need <= o.memory_mb) continue;
    const Size2D size = working_size(e.height, e.width, o.resolution.max_side);
    int64_t lo = 0, hi = (std::max(size.height, size.width) - 1) / 64;  // in steps of 64 pixels
    while (lo < hi) {
      const int64_t mid = (lo + hi + 1) / 2;
      if (memory_mb(o, model, e, classes, int(mid * 64)) <= o.memory_mb) lo = mid;
      else hi = mid - 1;
    }
    const std::string remedy = lo > 0 ? "pass --max-side " + std::to_string(lo * 64) +
                                            " (or smaller) to segment it scaled down, or raise --memory-mb"
                                      : "raise --memory-mb (the image itself does not fit at any --max-side)";
    fail(o.data_path, ": image '", e.name, "' (", e.width, "x", e.height, ") would take about ", need,
         " MB to segment", o.resolution.max_side > 0 ? " at --max-side " + std::to_string(o.resolution.max_side) : "",
         ", over --memory-mb ", o.memory_mb, "; ", remedy);
  }
}

// Rank 0 decides whether there is anything to do; the others learn it by broadcast.
bool output_already_complete(const SegmentOptions& o, const std::string& parts, const data::DatasetReader& reader,
                             const std::string& inputs) {
  const int64_t images = reader.size();
  if (fs::exists(o.out_path)) {
    if (o.resume && !o.overwrite) {
      const PredictionsReader done(o.out_path);
      if (done.info().count != images)
        fail(o.out_path, ": holds ", done.info().count, " images, ", o.data_path, " has ", images,
             "; use --overwrite to replace it");
      if (done.info().crf != o.crf || done.info().probs != o.save_probs)
        fail(o.out_path, ": is complete but was made ", done.info().crf ? "with" : "without", " the CRF and ",
             done.info().probs ? "with" : "without", " probabilities; use --overwrite to replace it");
      if (!done.info().inputs.empty() && done.info().inputs != inputs)
        fail(o.out_path, ": is complete but was made from other inputs:\n", done.info().inputs, "this run's:\n", inputs,
             "use --overwrite to replace it");
      for (int64_t i = 0; i < images; ++i)
        if (!done.has(i) || done.name(i) != reader.info(i).name)
          fail(o.out_path, ": is complete but not for ", o.data_path, ": its entry ", i, " is not image '",
               reader.info(i).name, "'; use --overwrite to replace it");
      return true;
    }
    if (!o.overwrite)
      fail(o.out_path, ": exists; pass --resume to finish an interrupted run, or --overwrite to replace it");
  }
  if (fs::exists(parts) && !o.resume) {
    // A run that failed before its first piece left only its settings: nothing to keep.
    bool pieces = false;
    for (const auto& e : fs::directory_iterator(parts)) pieces |= e.path().filename() != "settings";
    if (pieces && !o.overwrite)
      fail(parts, ": holds the pieces of an interrupted run; pass --resume to finish it, or --overwrite to start over");
    fs::remove_all(parts);
  }
  return false;
}

// Images [b * per_piece, ...) of the data set make piece b, the unit of distribution and resuming.
struct Pieces {
  int64_t images = 0, per_piece = 1;
  int64_t count() const { return (images + per_piece - 1) / per_piece; }
  std::pair<int64_t, int64_t> range(int64_t b) const { return {b * per_piece, std::min(images, (b + 1) * per_piece)}; }
};

// What every piece and the assembled file say about themselves.
PredictionsInfo predictions_info(const SegmentOptions& o, const data::DatasetReader& reader, int classes,
                                 const std::string& inputs) {
  PredictionsInfo info;
  info.num_classes = classes;
  info.class_names = reader.class_names();
  for (int c = int(info.class_names.size()); c < classes; ++c) info.class_names.push_back("class" + std::to_string(c));
  info.resolution = o.resolution;
  info.crf = o.crf;
  info.crf_params = o.crf_params;
  info.probs = o.save_probs;
  info.model = o.model_path;
  info.data = o.data_path;
  info.inputs = inputs;
  return info;
}

std::unique_ptr<Model> load_segmenter(const SegmentOptions& o) {
  auto model = load_model(o.model_path, nn::Phase::test);
  if (is_classifier(model->spec().kind))
    fail(o.model_path, ": a ", model_kind_name(model->spec().kind),
         " classifier does not segment; turn it into DeepLab with train --init ", o.model_path);
  model->net().set_precision(o.precision);
  return model;
}

// Why a finished piece of an interrupted run cannot be kept ("" when it can): each of its entries
// must be the data set's image (name and size) with labels of its classes. The settings already
// hold the inputs' stamps, so this catches a damaged piece rather than another run's.
std::string piece_problem(const PredictionsReader& piece, const data::DatasetReader& reader, int64_t first,
                          int64_t last, int classes) {
  if (piece.info().count != last - first) return "incomplete piece";
  if (piece.info().num_classes != classes) return "made for " + std::to_string(piece.info().num_classes) + " classes";
  for (int64_t i = first; i < last; ++i) {
    const data::EntryInfo e = reader.info(i);
    const std::string entry = "entry " + std::to_string(i);
    if (!piece.has(i)) return entry + " is missing";
    if (piece.name(i) != e.name) return entry + " is '" + piece.name(i) + "', the data set's is '" + e.name + "'";
    const LabelMap labels = piece.labels(i);
    if (labels.h != e.height || labels.w != e.width)
      return entry + " is " + std::to_string(labels.w) + "x" + std::to_string(labels.h) + ", the image " +
             std::to_string(e.width) + "x" + std::to_string(e.height);
    for (uint8_t l : labels.data)
      if (l >= classes) return entry + " holds label " + std::to_string(l) + " of " + std::to_string(classes) + " classes";
  }
  return "";
}

// This rank's pieces (b = rank, rank + ranks, ...): a complete piece left by an interrupted run is
// kept, any other computed. Returns {computed, reused} images.
std::pair<int64_t, int64_t> segment_my_pieces(const SegmentOptions& o, const data::DatasetReader& reader,
                                              const Pieces& pieces, const PredictionsInfo& info, Scorer& scorer,
                                              crf::CrfRunner& crf_runner, dist::Mpi& mpi) {
  const std::string parts = parts_path(o);
  int64_t mine = 0;
  for (int64_t b = mpi.rank(); b < pieces.count(); b += mpi.size()) mine += pieces.range(b).second - pieces.range(b).first;
  Progress progress("segment" + std::string(o.crf ? " + CRF" : "") + (mpi.size() > 1 ? " (rank 0's share)" : ""),
                    long(mine));
  const bool root = mpi.rank() == 0;
  int64_t computed = 0, reused = 0;
  long done = 0;
  for (int64_t b = mpi.rank(); b < pieces.count(); b += mpi.size()) {
    const auto [first, last] = pieces.range(b);
    const std::string piece = piece_path(parts, b);
    if (fs::exists(piece)) {
      try {
        const std::string problem = piece_problem(PredictionsReader(piece), reader, first, last, info.num_classes);
        if (problem.empty()) {
          reused += last - first;
          done += long(last - first);
          continue;
        }
        log_warn(piece + ": " + problem + ": computed again");
      } catch (const Error& e) {
        log_warn(std::string("unreadable piece, computed again: ") + e.what());
      }
    }
    PredictionsInfo piece_info = info;
    piece_info.count = last - first;
    PredictionsWriter writer(piece, piece_info);
    for (int64_t i = first; i < last; ++i) {
      const data::Sample s = reader.read(i);
      const Stride8Probabilities probs = network_probabilities(scorer, s, o.resolution);
      const LabelMap labels = labels_from_probabilities(probs, s.rgb.data(), s.height, s.width,
                                                        o.crf ? &o.crf_params : nullptr, &crf_runner, o.resolution);
      writer.add(i, s.name, labels, o.save_probs ? &probs : nullptr);
      if (!o.png_dir.empty()) write_pictures(o, s, labels);
      ++computed;
      if (root) progress.update(++done);
    }
    writer.commit();
  }
  if (root) progress.finish();
  return {computed, reused};
}

// Rank 0, once every piece is on disk: the pieces copied into the output in order, then removed.
void assemble_pieces(const SegmentOptions& o, const Pieces& pieces, const PredictionsInfo& info) {
  const std::string parts = parts_path(o);
  // The assembled file is about the size of its pieces. HDF5's object copy crashes when the
  // disk fills under it, so the room is checked first.
  uintmax_t needed = 64 << 10;  // the file's own structure
  for (int64_t b = 0; b < pieces.count(); ++b) needed += fs::file_size(piece_path(parts, b));
  const fs::path out_dir = fs::absolute(o.out_path).parent_path();
  const uintmax_t available = fs::space(out_dir).available;
  if (available < needed) {
    char sizes[96];
    std::snprintf(sizes, sizeof sizes, "%.2f MB needed, %.2f MB free", double(needed) / (1 << 20),
                  double(available) / (1 << 20));
    fail(o.out_path, ": no space left on device to assemble it (", sizes, " in ", out_dir.string(),
         "); the pieces stay in ", parts, ": free some space and pass --resume");
  }
  PredictionsInfo whole = info;
  whole.count = pieces.images;
  PredictionsWriter out(o.out_path, whole);
  for (int64_t b = 0; b < pieces.count(); ++b) {
    const auto [first, last] = pieces.range(b);
    std::vector<int64_t> indices;
    for (int64_t i = first; i < last; ++i) indices.push_back(i);
    out.copy_entries(piece_path(parts, b), indices);
  }
  out.commit();
  fs::remove_all(parts);
}

}  // namespace

void validate(const SegmentOptions& o) {
  if (o.out_path.empty()) fail("segment: the output file name is empty");
  if (o.piece_images < 1) fail("--piece-images ", o.piece_images, " must be at least 1");
  if (o.memory_mb < 1) fail("--memory-mb ", o.memory_mb, " must be positive");
  if (o.resolution.max_side < 0) fail("--max-side ", o.resolution.max_side, " must not be negative");
  if (o.crf) crf::validate(o.crf_params);
}

SegmentSummary segment_dataset(const SegmentOptions& o, dist::Mpi& mpi) {
  const auto start = std::chrono::steady_clock::now();
  validate(o);
  const bool root = mpi.rank() == 0;
  const std::string parts = parts_path(o);
  const data::DatasetReader reader(o.data_path);
  const int64_t n = reader.size();
  SegmentSummary summary;
  summary.images = n;

  // Set-up: the model, the output's lock, whether anything is left to do, the checks.
  const std::unique_ptr<Model> model = load_segmenter(o);
  const std::string inputs = inputs_text(*model, reader);
  std::optional<OutputLock> lock;  // rank 0 writes the output; held until the end
  if (root) lock.emplace(o.out_path);
  int64_t complete = root ? int64_t(output_already_complete(o, parts, reader, inputs)) : 0;
  mpi.broadcast(&complete, 1);
  if (complete) {
    summary.already_complete = true;
    return summary;
  }
  const DeviceSelection device = use_device(o.device, mpi.local_rank());
  Scorer scorer(*model, device, o.tf32);
  crf::CrfRunner crf_runner(o.crf ? device : DeviceSelection{});
  // A collection packed without classes takes the model's.
  const int classes = reader.num_classes() > 0 ? reader.num_classes() : model->spec().num_classes;
  if (model->spec().num_classes != classes)
    fail(o.model_path, ": the model has ", model->spec().num_classes, " classes, ", o.data_path, " has ", classes);
  if (root) {
    if (!o.png_dir.empty()) check_png_paths(o, reader);
    check_memory(o, *model, reader, classes);
    fs::create_directories(parts);
    require_settings(parts + "/settings", settings_text(o, n, inputs),
                     "finish it with those settings, or pass --overwrite to start over");
    if (!o.png_dir.empty()) fs::create_directories(o.png_dir);
  }
  mpi.barrier();

  // The work, then the assembly.
  const Pieces pieces{n, o.piece_images};
  const PredictionsInfo info = predictions_info(o, reader, classes, inputs);
  const auto [computed, reused] = segment_my_pieces(o, reader, pieces, info, scorer, crf_runner, mpi);
  int64_t counts[2] = {computed, reused};
  mpi.allreduce_sum(counts, 2);
  mpi.barrier();  // every piece is on disk
  if (root) assemble_pieces(o, pieces, info);
  mpi.barrier();
  summary.computed = counts[0];
  summary.reused = counts[1];
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

PngLayout parse_png_layout(const std::string& name) {
  if (name == "flat") return PngLayout::flat;
  if (name == "voc-server") return PngLayout::voc_server;
  if (name == "tree") return PngLayout::tree;
  fail("--png-layout must be flat, voc-server or tree, not '", name, "'");
}

std::string png_path(const std::string& dir, PngLayout layout, const std::string& name) {
  switch (layout) {
    case PngLayout::flat: return dir + "/" + file_stem(name) + ".png";
    case PngLayout::voc_server: return dir + "/results/VOC2012/Segmentation/comp6_test_cls/" + file_stem(name) + ".png";
    case PngLayout::tree: {
      const fs::path relative = fs::path(name).lexically_normal();
      if (relative.empty() || relative.is_absolute() || *relative.begin() == "..")
        fail("image name '", name, "' would leave ", dir, " in the tree layout");
      return dir + "/" + relative.generic_string() + ".png";
    }
  }
  fail("unknown PNG layout");
}

int64_t default_memory_mb(int ranks_on_node) {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  const int64_t total_mb = pages > 0 && page > 0 ? int64_t(pages) * page >> 20 : 4096;
  return std::max<int64_t>(256, total_mb * 3 / 4 / std::max(1, ranks_on_node));
}

}  // namespace deeplab::segment
