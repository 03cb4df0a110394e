// `deeplab crf-sweep`: the fully connected CRF's parameters searched the paper's way (mean IoU on a
// subset of val images, coarse to fine), spread over MPI ranks.
//   - Every rank reads the chosen images' stride-8 probabilities (from `segment --save-probs`),
//     pixels and labels once and keeps them in memory (or reads them per unit when they would not
//     fit in memory_limit_mb).
//   - A unit of work is one grid point on one block of images. Ranks take units from a shared
//     counter (dist::WorkCounter): whoever is free takes the next one.
//   - Each finished unit is appended, with its confusion matrix, to OUT/units/rank-R.log, so a
//     killed sweep rerun with resume skips every unit already done and loses none.
//   - After each round rank 0 sums the units per point; --refine adds rounds on a finer grid
//     around the best point. Rank 0 writes results.csv, best.ini and heatmap.png.
// The labels come from segment::labels_from_probabilities, as `segment --crf` makes them, so a
// grid point's scores equal segment --crf + evaluate with those parameters on those images.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/device.h"
#include "dist/mpi.h"
#include "sweep/grid.h"

namespace deeplab::sweep {

struct SweepOptions {
  std::string probs_path, data_path, out_dir;
  Grid grid;
  std::string grid_text;  // the grid file as read, for the resume check
  int64_t images = 100;   // evenly spaced over the data set; 0: all
  int refine = 0;         // rounds after the first
  int64_t block_images = 0;  // images per unit; 0: all of them (one unit per point)
  bool resume = false;
  int64_t memory_limit_mb = 4096;
  bool baseline = true;   // also score the DeepLab-LargeFOV defaults, for comparison
  DeviceChoice device = DeviceChoice::cpu;  // the CRF on this rank's GPU with cuda
};

struct PointResult {
  int round = 0;
  Point point{};
  int iterations = 10;
  double mean_iou = 0, pixel_accuracy = 0, seconds = 0;
  bool baseline_only = false;  // the defaults, scored for comparison outside the grid
};

struct SweepSummary {
  std::vector<PointResult> results;  // every point, in order
  PointResult best, baseline;  // best: of the grid and its refinements (the baseline compared only)
  bool has_baseline = false;
  int64_t units_computed = 0, units_reused = 0;
  int64_t lattices_reused = 0;  // CRFs run on lattices an earlier point built for the same image
  double seconds = 0;
  double idle_fraction = 0;  // of rank time: waiting for the others at the end of each round
};

SweepSummary run_sweep(const SweepOptions& options, dist::Mpi& mpi);

}  // namespace deeplab::sweep
