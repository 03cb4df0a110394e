#include "sweep/grid.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"

namespace deeplab::sweep {

const std::array<const char*, kParams> kParamNames = {"bi_w", "bi_xy_std", "bi_rgb_std", "pos_w", "pos_xy_std"};

namespace {
double parse_number(const std::string& s, const std::string& where) {
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v)) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    fail(where, ": '", s, "' is not a number");
  }
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}
}  // namespace

std::vector<double> parse_values(const std::string& text, const std::string& where) {
  std::vector<double> out;
  const std::string t = trim(text);
  if (t.find(':') != std::string::npos) {
    std::vector<double> parts;
    std::stringstream ss(t);
    std::string item;
    while (std::getline(ss, item, ':')) parts.push_back(parse_number(trim(item), where));
    if (parts.size() != 3 || !(parts[2] > 0) || parts[1] < parts[0])
      fail(where, ": range '", t, "' must be FROM:TO:STEP with FROM <= TO and STEP > 0");
    const int64_t n = int64_t(std::floor((parts[1] - parts[0]) / parts[2] + 1e-9)) + 1;
    if (n > 1000) fail(where, ": range '", t, "' has ", n, " values (at most 1000)");
    for (int64_t i = 0; i < n; ++i) out.push_back(parts[0] + double(i) * parts[2]);
  } else {
    std::stringstream ss(t);
    std::string item;
    while (std::getline(ss, item, ',')) out.push_back(parse_number(trim(item), where));
  }
  if (out.empty()) fail(where, ": no values");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Grid parse_grid(const std::string& text, const std::string& path) {
  std::istringstream in(text);
  Grid g;
  const crf::CrfParams d;
  const double defaults[kParams] = {d.bi_w, d.bi_xy_std, d.bi_rgb_std, d.pos_w, d.pos_xy_std};
  for (int k = 0; k < kParams; ++k) g.values[size_t(k)] = {defaults[k]};
  g.iterations = d.iterations;
  std::string line, section;
  std::vector<std::string> seen;  // keys given so far: a second one would silently win
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    const std::string where = path + " line " + std::to_string(number);
    if (line.front() == '[') {
      section = trim(line.substr(1, line.find(']') - 1));
      if (section != "crf") fail(where, ": unknown section [", section, "] (a grid has one [crf] section)");
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) fail(where, ": expected KEY = VALUES");
    const std::string key = trim(line.substr(0, eq)), value = line.substr(eq + 1);
    if (section.empty()) fail(where, ": '", key, "' before the [crf] section");
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) fail(where, ": ", key, " is given twice");
    seen.push_back(key);
    bool known = false;
    for (int k = 0; k < kParams; ++k)
      if (key == kParamNames[size_t(k)]) {
        g.values[size_t(k)] = parse_values(value, where + " (" + key + ")");
        for (double v : g.values[size_t(k)])
          if (v < 0 || (k != 0 && k != 3 && v <= 0)) fail(where, ": ", key, " ", v, " out of range");
        known = true;
      }
    if (key == "iterations") {
      const double n = parse_number(trim(value), where);
      if (n != std::floor(n) || n < 0 || n > 100) fail(where, ": iterations ", trim(value), ": expected a whole number, 0..100");
      g.iterations = int(n);
      known = true;
    }
    if (key == "normalization") {
      const std::string n = trim(value);
      if (n == "per-pixel") g.normalization = crf::Normalization::per_pixel;
      else if (n == "symmetric") g.normalization = crf::Normalization::symmetric;
      else fail(where, ": normalization '", n, "' (per-pixel or symmetric)");
      known = true;
    }
    if (!known)
      fail(where, ": unknown key '", key, "' (bi_w, bi_xy_std, bi_rgb_std, pos_w, pos_xy_std, iterations, normalization)");
  }
  return g;
}

std::vector<Point> grid_points(const Grid& grid) {
  std::vector<Point> points(1);
  for (int k = 0; k < kParams; ++k) {
    std::vector<Point> next;
    for (const Point& p : points)
      for (double v : grid.values[size_t(k)]) {
        Point q = p;
        q[size_t(k)] = v;
        next.push_back(q);
      }
    points = std::move(next);
  }
  return points;
}

crf::CrfParams to_params(const Point& p, const Grid& grid) {
  crf::CrfParams c;
  c.bi_w = float(p[0]);
  c.bi_xy_std = float(p[1]);
  c.bi_rgb_std = float(p[2]);
  c.pos_w = float(p[3]);
  c.pos_xy_std = float(p[4]);
  c.iterations = grid.iterations;
  c.normalization = grid.normalization;
  return c;
}

Grid refine(const Grid& grid, const Point& best) {
  Grid g = grid;
  for (int k = 0; k < kParams; ++k) {
    const std::vector<double>& v = grid.values[size_t(k)];
    if (v.size() < 2) {
      g.values[size_t(k)] = {best[size_t(k)]};
      continue;
    }
    double step = v.back() - v.front();
    for (size_t i = 1; i < v.size(); ++i) step = std::min(step, v[i] - v[i - 1]);
    const double half = step / 2, b = best[size_t(k)];
    std::vector<double> around = {b, b + half};
    if (b - half > 0) around.insert(around.begin(), b - half);
    g.values[size_t(k)] = around;
  }
  return g;
}

}  // namespace deeplab::sweep
