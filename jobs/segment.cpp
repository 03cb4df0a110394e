// deeplab segment: a trained model over a whole data set, with or without the CRF, on any number
// of MPI ranks, resumable; deeplab evaluate: the predictions scored against the ground truth.
#include <cstdio>

#include "core/error.h"
#include "core/log.h"
#include "core/text_file.h"
#include "data/dataset.h"
#include "dist/mpi.h"
#include "eval/evaluate.h"
#include "jobs.h"
#include "options.h"
#include "segment/segment_dataset.h"

namespace deeplab::jobs {

namespace {

void add_report_options(po::options_description& options) {
  options.add_options()
      ("json", po::value<std::string>()->default_value(""), "also write the scores as one JSON object to this file")
      ("confusion-png", po::value<std::string>()->default_value(""), "also draw the confusion matrix into this PNG");
}

// Rank 0 prints the table and writes what was asked for.
void report(const eval::Evaluation& e, const po::variables_map& v, const std::string& title) {
  if (dist::Mpi::get().rank() != 0) return;
  std::printf("%s\n%s", title.c_str(), eval::format_table(e).c_str());
  std::fflush(stdout);
  const std::string json = v["json"].as<std::string>(), png = v["confusion-png"].as<std::string>();
  if (!json.empty()) write_file(json, eval::to_json(e));
  if (!png.empty()) eval::write_confusion_png(png, e);
}

// The options as the library takes them (checked afterwards, in run_segment).
segment::SegmentOptions segment_options_from(const CommandLine& cl) {
  const auto& v = cl.values;
  segment::SegmentOptions o;
  o.device = device_choice(cl);
  o.tf32 = v["tf32"].as<bool>();
  o.model_path = v["model"].as<std::string>();
  o.data_path = v["data"].as<std::string>();
  o.out_path = v["out"].as<std::string>();
  o.crf = v["crf"].as<bool>();
  o.crf_params = crf_params_from(v);
  o.save_probs = v["save-probs"].as<bool>();
  o.png_dir = v["png"].as<std::string>();
  o.png_layout = segment::parse_png_layout(v["png-layout"].as<std::string>());
  o.overlays = v["overlays"].as<bool>();
  o.resolution.max_side = v["max-side"].as<int>();
  o.resolution.crf_full_res = v["crf-full-res"].as<bool>();
  o.memory_mb = v.count("memory-mb") ? v["memory-mb"].as<int64_t>()
                                     : segment::default_memory_mb(dist::Mpi::get().local_size());
  o.resume = v["resume"].as<bool>();
  o.overwrite = v["overwrite"].as<bool>();
  o.piece_images = v["piece-images"].as<int>();
  return o;
}

void log_summary(const segment::SegmentSummary& s, const std::string& out, int ranks) {
  char line[256];
  if (s.already_complete)
    std::snprintf(line, sizeof line, "%s is complete (%lld images): nothing to do", out.c_str(), (long long)s.images);
  else
    std::snprintf(line, sizeof line, "%s: %lld images (%lld computed, %lld from an interrupted run) in %.1f s, %.2f images/s on %d rank(s)",
                  out.c_str(), (long long)s.images, (long long)s.computed, (long long)s.reused, s.seconds,
                  double(s.computed) / s.seconds, ranks);
  log_info(line);
}

}  // namespace

int run_segment(int argc, char** argv) {
  CommandLine cl;
  cl.command = "segment";
  cl.usage =
      "segment --model M.h5 --data D.h5 --out P.h5 [--crf] [--save-probs] [--png DIR [--png-layout flat|voc-server|tree]\n"
      "        [--overlays]] [--max-side N [--crf-full-res]] [--memory-mb MB] [--resume] [--evaluate]";
  cl.about =
      "Segments every image of a data set, labelled or not: the network at full size (or scaled down to\n"
      "--max-side), bilinear upsampling, argmax, and with --crf the fully connected CRF ([crf] section).\n"
      "Splits the images across MPI ranks; each rank writes its results in pieces (P.h5.parts), assembled\n"
      "into P.h5 at the end. A killed run rerun with --resume computes only what is missing. The result\n"
      "does not depend on the number of ranks.";
  cl.options.add_options()
      ("model", po::value<std::string>()->required(), "trained model (final.h5 or a checkpoint)")
      ("data", po::value<std::string>()->required(), "data set to segment (.h5)")
      ("out", po::value<std::string>()->required(), "predictions file to write (.h5)")
      ("crf", po::bool_switch(), "refine the network's output with the fully connected CRF")
      ("save-probs", po::bool_switch(), "keep the stride-8 class probabilities (float16), the input of crf-sweep")
      ("png", po::value<std::string>()->default_value(""), "write a mask per image here (palette PNG, VOC colours)")
      ("png-layout", po::value<std::string>()->default_value("flat"),
       "flat: DIR/NAME.png ('/' in names made '_'); voc-server: DIR/results/VOC2012/Segmentation/"
       "comp6_test_cls/NAME.png, for PASCAL VOC's evaluation server; tree: the input's folders mirrored")
      ("overlays", po::bool_switch(), "also write NAME_overlay.png: image | prediction (| truth)")
      ("max-side", po::value<int>()->default_value(0),
       "run the network (and the CRF) on images scaled so their longer side is at most this; labels are "
       "scaled back (nearest). 0: full size")
      ("crf-full-res", po::bool_switch(), "with --max-side: the CRF on the whole image, not the scaled one")
      ("memory-mb", po::value<int64_t>(),
       "refuse, before trying, an image whose segmentation would need more (default: 3/4 of the node's "
       "memory, shared by its ranks)")
      ("resume", po::bool_switch(), "finish an interrupted run from its pieces")
      ("overwrite", po::bool_switch(), "replace an existing output (and any pieces)")
      ("piece-images", po::value<int>()->default_value(8), "images per piece file (the unit of resuming)")
      ("evaluate", po::bool_switch(), "score the result against the data set's labels afterwards");
  add_report_options(cl.options);
  add_crf_options(cl.options);
  add_device_options(cl);
  add_precision_option(cl);
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  check_precision_word(cl);
  segment::SegmentOptions o = segment_options_from(cl);
  dist::Mpi& mpi = dist::Mpi::get();
  const bool evaluate = v["evaluate"].as<bool>();
  if (o.overlays && o.png_dir.empty()) fail("--overlays needs --png DIR");
  if (!v["png-layout"].defaulted() && o.png_dir.empty()) fail("--png-layout needs --png DIR");
  if (!evaluate && !(v["json"].as<std::string>().empty() && v["confusion-png"].as<std::string>().empty()))
    fail("--json and --confusion-png report the scores of --evaluate: add --evaluate");
  if (o.resume && o.overwrite) fail("--resume and --overwrite exclude each other: finish the run, or start it afresh");
  if (o.resolution.crf_full_res && (o.resolution.max_side == 0 || !o.crf))
    fail("--crf-full-res needs --crf and --max-side");
  segment::validate(o);
  command_line_accepted();
  if (dist::Mpi::get().rank() == 0) check_output_files(v, {"json", "confusion-png"});  // only rank 0 writes them
  // Where the network runs decides the precision: --device auto on a GPU host computes f32 there
  // (or TF32), whatever --precision auto would pick for its CPU.
  o.precision = precision_from(cl, use_device(o.device, mpi.local_rank()).device == Device::cuda);
  if (evaluate) data::DatasetReader(o.data_path).require_labels("segment --evaluate");  // before the work
  const segment::SegmentSummary s = segment::segment_dataset(o, mpi);
  if (mpi.rank() == 0) log_summary(s, o.out_path, mpi.size());
  if (evaluate)
    report(eval::evaluate_predictions(o.out_path, o.data_path, mpi), v,
           std::string("network") + (o.crf ? " + CRF" : "") + ": " + o.out_path);
  return 0;
}

int run_evaluate(int argc, char** argv) {
  CommandLine cl;
  cl.command = "evaluate";
  cl.usage = "evaluate --pred P.h5 --data D.h5 [--json OUT.json] [--confusion-png C.png]";
  cl.about =
      "Scores predictions against the data set they were made from, as the VOC devkit does: IoU per\n"
      "class, mean IoU, pixel accuracy; ground truth 255 is not counted. Images are split across MPI\n"
      "ranks and the confusion matrices summed.";
  cl.options.add_options()
      ("pred", po::value<std::string>()->required(), "predictions file (deeplab segment)")
      ("data", po::value<std::string>()->required(), "the data set with the ground truth");
  add_report_options(cl.options);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  command_line_accepted();
  if (dist::Mpi::get().rank() == 0) check_output_files(v, {"json", "confusion-png"});  // only rank 0 writes them
  const std::string pred = v["pred"].as<std::string>();
  report(eval::evaluate_predictions(pred, v["data"].as<std::string>(), dist::Mpi::get()), v, pred);
  return 0;
}

}  // namespace deeplab::jobs
