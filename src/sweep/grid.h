// The CRF parameter grid of `deeplab crf-sweep`: per parameter a list ("30,50,70") or an inclusive
// range ("3:6:1"), read from an INI file's [crf] section; the points are every combination, in a
// fixed order. Refining puts a finer grid (half the step) around a point.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "crf/dense_crf.h"

namespace deeplab::sweep {

// bi_w, bi_xy_std, bi_rgb_std, pos_w, pos_xy_std: the parameters a grid varies.
inline constexpr int kParams = 5;
extern const std::array<const char*, kParams> kParamNames;

struct Grid {
  std::array<std::vector<double>, kParams> values;
  int iterations = 10;
  crf::Normalization normalization = crf::Normalization::per_pixel;
};

// Parses "3:6:1" (inclusive range) or "3,4.5,6" (list) or "3"; errors name the file and key.
std::vector<double> parse_values(const std::string& text, const std::string& where);
// Parses a grid file's text: [crf] bi_w = ..., bi_xy_std = ..., ... (unset keys: the
// DeepLab-LargeFOV defaults), iterations = N, normalization; errors name `path` and the line.
Grid parse_grid(const std::string& text, const std::string& path);

using Point = std::array<double, kParams>;
std::vector<Point> grid_points(const Grid& grid);
crf::CrfParams to_params(const Point& p, const Grid& grid);
// A grid of 3 values per varying parameter around `best`: best - step/2, best, best + step/2,
// where step was that parameter's spacing in `grid` (kept above 0).
Grid refine(const Grid& grid, const Point& best);

}  // namespace deeplab::sweep
