// deeplab crf-sweep: the CRF's parameters searched by mean IoU over MPI ranks, resumable.
#include <cstdio>

#include "core/error.h"
#include "core/log.h"
#include "core/text_file.h"
#include "dist/mpi.h"
#include "jobs.h"
#include "options.h"
#include "sweep/sweep.h"

namespace deeplab::jobs {

int run_crf_sweep(int argc, char** argv) {
  CommandLine cl;
  cl.command = "crf-sweep";
  cl.usage = "crf-sweep --probs P.h5 --data D.h5 --grid G.ini --out DIR [--images 100] [--refine K] [--resume]";
  cl.about =
      "Searches the fully connected CRF's parameters the paper's way: mean IoU of segment --crf on a\n"
      "subset of images, for every point of a grid (G.ini: [crf] bi_w = 3:6:1, bi_xy_std = 30,50,70, ...),\n"
      "then --refine rounds of a finer grid around the best point. P.h5 comes from segment --save-probs.\n"
      "Ranks take grid points as they become free; finished points are recorded as they finish, and\n"
      "--resume skips them. Writes DIR/results.csv, DIR/best.ini ([crf] for segment) and DIR/heatmap.png.";
  cl.options.add_options()
      ("probs", po::value<std::string>()->required(), "predictions with probabilities (segment --save-probs)")
      ("data", po::value<std::string>()->required(), "the data set they were made from (ground truth)")
      ("grid", po::value<std::string>()->required(), "grid file (INI, [crf] section)")
      ("out", po::value<std::string>()->required(), "output folder")
      ("images", po::value<int64_t>()->default_value(100), "images used, evenly spaced over the data set (0: all)")
      ("refine", po::value<int>()->default_value(0), "finer rounds around the best point")
      ("block-images", po::value<int64_t>()->default_value(0), "images per unit of work (0: all: one unit per point)")
      ("memory-mb", po::value<int64_t>()->default_value(4096), "keep the images in memory up to this much")
      ("no-baseline", po::bool_switch(), "do not also score the DeepLab-LargeFOV default parameters")
      ("resume", po::bool_switch(), "finish an interrupted sweep in --out");
  add_device_options(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  sweep::SweepOptions o;
  o.probs_path = v["probs"].as<std::string>();
  o.data_path = v["data"].as<std::string>();
  o.out_dir = v["out"].as<std::string>();
  while (o.out_dir.size() > 1 && o.out_dir.back() == '/') o.out_dir.pop_back();  // "sweep/": files in sweep/
  const std::string grid_path = v["grid"].as<std::string>();
  o.images = v["images"].as<int64_t>();
  o.refine = v["refine"].as<int>();
  o.block_images = v["block-images"].as<int64_t>();
  o.memory_limit_mb = v["memory-mb"].as<int64_t>();
  o.device = device_choice(cl);
  o.baseline = !v["no-baseline"].as<bool>();
  o.resume = v["resume"].as<bool>();
  if (o.refine < 0 || o.refine > 10) fail("--refine ", o.refine, " outside 0..10");
  // 0 means "all" (images) or "automatic" (blocks, memory); a negative count means nothing.
  if (o.images < 0) fail("--images ", o.images, ": expected 0 (all) or a positive count");
  if (o.block_images < 0) fail("--block-images ", o.block_images, ": expected 0 (automatic) or a positive count");
  if (o.memory_limit_mb < 0) fail("--memory-mb ", o.memory_limit_mb, ": expected 0 (automatic) or a positive size");
  command_line_accepted();
  o.grid_text = read_file(grid_path, size_t(1) << 20, "grid file");  // a grid is a few lines
  o.grid = sweep::parse_grid(o.grid_text, grid_path);
  dist::Mpi& mpi = dist::Mpi::get();
  const sweep::SweepSummary s = sweep::run_sweep(o, mpi);
  if (mpi.rank() != 0) return 0;
  const auto show = [](const char* what, const sweep::PointResult& r) {
    std::printf("%-10s bi_w %-6g bi_xy_std %-6g bi_rgb_std %-6g pos_w %-4g pos_xy_std %-4g  mean IoU %6.2f%%  pixel accuracy %6.2f%%\n",
                what, r.point[0], r.point[1], r.point[2], r.point[3], r.point[4], 100 * r.mean_iou, 100 * r.pixel_accuracy);
  };
  show("best", s.best);
  if (s.has_baseline) show("default", s.baseline);
  if (s.has_baseline && s.baseline.baseline_only && s.baseline.mean_iou > s.best.mean_iou)
    log_info("the defaults (outside the grid) score higher than every point of it: best.ini is the grid's best");
  char line[256];
  std::snprintf(line, sizeof line,
                "%zu grid points in %.1f s (%.2f points/s; %lld units computed, %lld from an earlier run; %lld CRFs "
                "on lattices built for an earlier point) on %d rank(s), idle %.1f%% of rank time; %s/results.csv, "
                "best.ini, heatmap.png",
                s.results.size(), s.seconds, double(s.results.size()) / s.seconds, (long long)s.units_computed,
                (long long)s.units_reused, (long long)s.lattices_reused, mpi.size(), 100 * s.idle_fraction,
                o.out_dir.c_str());
  log_info(line);
  return 0;
}

}  // namespace deeplab::jobs
