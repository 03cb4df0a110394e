#include "sweep/sweep.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "core/error.h"
#include "image/image_io.h"
#include "core/log.h"
#include "core/output_lock.h"
#include "core/text_file.h"
#include "data/dataset.h"
#include "dist/work_counter.h"
#include "eval/confusion.h"
#include "segment/predict.h"
#include "segment/predictions_file.h"

namespace deeplab::sweep {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Image {
  int64_t index = 0, height = 0, width = 0;
  segment::Stride8Probabilities probs;
  std::vector<uint8_t> rgb, labels;
};

// The chosen images, in memory or read when needed.
class ImageStore {
 public:
  explicit ImageStore(const SweepOptions& o) : pred_(o.probs_path), data_(o.data_path) {
    data_.require_labels("crf-sweep");
    if (!pred_.info().probs) fail(o.probs_path, ": holds no probabilities (segment with --save-probs)");
    if (pred_.info().num_classes != data_.num_classes())
      fail(o.probs_path, " has ", pred_.info().num_classes, " classes, ", o.data_path, " has ", data_.num_classes());
    if (pred_.info().count != data_.size())
      fail(o.probs_path, " holds ", pred_.info().count, " images, ", o.data_path, " ", data_.size());
    const int64_t n = data_.size(), k = o.images <= 0 ? n : std::min(o.images, n);
    if (k == 0) fail(o.data_path, ": holds no images, so there is nothing to score the CRF on");
    for (int64_t i = 0; i < k; ++i) indices_.push_back(i * n / k);  // evenly spaced, the same every time
    // Keep them all, unless they grow past the limit: then each unit reads what it needs.
    int64_t bytes = 0;
    cached_ = true;
    for (int64_t i : indices_) {
      cache_.push_back(load(i));
      const Image& im = cache_.back();
      bytes += int64_t(im.rgb.size() + im.labels.size() + 2 * im.probs.bits.size());
      if (bytes > o.memory_limit_mb * (int64_t(1) << 20)) {
        cached_ = false;
        cache_.clear();
        break;
      }
    }
    // Read per unit, the images are still checked now, before the sweep writes anything: a bad
    // one would otherwise stop it halfway.
    if (!cached_)
      for (int64_t i : indices_) check(i, pred_.probabilities(i), data_.info(i));
  }
  int64_t size() const { return int64_t(indices_.size()); }
  int classes() const { return data_.num_classes(); }
  const segment::Resolution& resolution() const { return pred_.info().resolution; }
  Image get(int64_t k) const { return cached_ ? cache_[size_t(k)] : load(indices_[size_t(k)]); }
  bool cached() const { return cached_; }
  std::string data_stamp() const { return data_.content_stamp(); }

 private:
  Image load(int64_t i) const {
    const data::Sample s = data_.read(i);
    Image im{i, s.height, s.width, pred_.probabilities(i), s.rgb, s.labels};
    check(i, im.probs, data_.info(i));
    return im;
  }
  // The stored probabilities fit the image they were made for (probabilities() has checked
  // their values).
  void check(int64_t i, const segment::Stride8Probabilities& probs, const data::EntryInfo& e) const {
    if (pred_.name(i) != e.name)
      fail(pred_.path(), ": entry ", i, " is '", pred_.name(i), "', ", data_.path(), " has '", e.name, "'");
    segment::require_fit(probs, e.height, e.width, pred_.info().resolution,
                         pred_.path() + ": entry " + std::to_string(i) + " ('" + e.name + "')");
  }
  segment::PredictionsReader pred_;
  data::DatasetReader data_;
  std::vector<int64_t> indices_;
  std::vector<Image> cache_;
  bool cached_ = false;
};

std::string point_key(const Point& p, int iterations, int64_t block) {
  char key[256];
  std::snprintf(key, sizeof key, "%.17g %.17g %.17g %.17g %.17g %d %lld", p[0], p[1], p[2], p[3], p[4], iterations,
                (long long)block);
  return key;
}

struct UnitRecord {
  int round = 0;
  Point point{};
  int iterations = 0;
  int64_t block = 0;
  double seconds = 0;
  std::vector<int64_t> counts;
};

// One finished unit per line; a line cut short by a kill has no "end" and is ignored.
std::string format_record(const UnitRecord& r) {
  std::ostringstream s;
  s.precision(17);
  s << "unit " << r.round;
  for (double v : r.point) s << " " << v;
  s << " " << r.iterations << " " << r.block << " " << r.seconds << " " << r.counts.size();
  for (int64_t c : r.counts) s << " " << c;
  s << " end\n";
  return s.str();
}

bool parse_record(const std::string& line, UnitRecord& r) {
  std::istringstream s(line);
  std::string word;
  size_t n = 0;
  if (!(s >> word) || word != "unit" || !(s >> r.round)) return false;
  for (double& v : r.point)
    if (!(s >> v)) return false;
  if (!(s >> r.iterations >> r.block >> r.seconds >> n) || n > 65536) return false;
  r.counts.assign(n, 0);
  for (int64_t& c : r.counts)
    if (!(s >> c)) return false;
  return bool(s >> word) && word == "end";
}

std::vector<UnitRecord> read_records(const std::string& dir) {
  std::vector<UnitRecord> records;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    std::ifstream in(f);
    std::string line;
    UnitRecord r;
    while (std::getline(in, line))
      if (parse_record(line, r)) records.push_back(r);
  }
  return records;
}

// Appends records to OUT/units/rank-R.log, each flushed to disk before the next unit starts.
class UnitLog {
 public:
  explicit UnitLog(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "a")) {
    if (!file_) fail(path, ": cannot open for appending");
  }
  ~UnitLog() { std::fclose(file_); }
  void append(const UnitRecord& r) {
    const std::string line = format_record(r);
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0 ||
        fsync(fileno(file_)) != 0)
      fail(path_, ": cannot write");
  }

 private:
  std::string path_;
  FILE* file_;
};

// The data by what it holds (a pipeline rerun writes the same scenes again); the probabilities,
// which nothing rewrites once complete, by size and time.
std::string settings_text(const SweepOptions& o, const std::string& data_stamp, int64_t images, int64_t block) {
  std::ostringstream s;
  s << "probs = " << file_stamp(o.probs_path) << "\ndata = " << fs::absolute(o.data_path).string() << " ("
    << data_stamp << ")"
    << "\nimages = " << images << "\nblock_images = " << block << "\nrefine = " << o.refine
    << "\nbaseline = " << o.baseline << "\ngrid:\n" << o.grid_text;
  return s.str();
}

// mIoU over bi_w (rows) and bi_xy_std (columns): for each cell the best over the other parameters.
void write_heatmap(const std::string& path, const std::vector<PointResult>& results) {
  std::vector<double> ws, xs;
  for (const PointResult& r : results) ws.push_back(r.point[0]), xs.push_back(r.point[1]);
  std::sort(ws.begin(), ws.end());
  ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
  std::sort(xs.begin(), xs.end());
  xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
  std::map<std::pair<size_t, size_t>, double> cell;
  double lo = 1, hi = 0;
  for (const PointResult& r : results) {
    const size_t i = size_t(std::lower_bound(ws.begin(), ws.end(), r.point[0]) - ws.begin());
    const size_t j = size_t(std::lower_bound(xs.begin(), xs.end(), r.point[1]) - xs.begin());
    auto [it, fresh] = cell.emplace(std::make_pair(i, j), r.mean_iou);
    if (!fresh) it->second = std::max(it->second, r.mean_iou);
    lo = std::min(lo, r.mean_iou), hi = std::max(hi, r.mean_iou);
  }
  const int cw = std::max(40, 640 / int(std::max<size_t>(xs.size(), 1))), ch = std::max(28, 420 / int(std::max<size_t>(ws.size(), 1)));
  const int left = 80, top = 40, width = left + cw * int(xs.size()) + 20, height = top + ch * int(ws.size()) + 50;
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  for (const auto& [ij, v] : cell) {
    const double t = hi > lo ? (v - lo) / (hi - lo) : 1.0;
    const cv::Scalar colour(255 * (1 - t), 60 + 120 * t, 255 * t);  // BGR: blue (low) to red (high)
    const cv::Point a(left + int(ij.second) * cw, top + int(ij.first) * ch);
    cv::rectangle(img, a, a + cv::Point(cw - 1, ch - 1), colour, cv::FILLED);
    char label[16];
    std::snprintf(label, sizeof label, "%.1f", 100 * v);
    cv::putText(img, label, a + cv::Point(3, ch / 2 + 4), cv::FONT_HERSHEY_SIMPLEX, 0.35, {255, 255, 255});
  }
  char label[32];
  for (size_t i = 0; i < ws.size(); ++i) {
    std::snprintf(label, sizeof label, "%g", ws[i]);
    cv::putText(img, label, {5, top + int(i) * ch + ch / 2 + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.4, {0, 0, 0});
  }
  for (size_t j = 0; j < xs.size(); ++j) {
    std::snprintf(label, sizeof label, "%g", xs[j]);
    cv::putText(img, label, {left + int(j) * cw + 3, top + int(ws.size()) * ch + 16}, cv::FONT_HERSHEY_SIMPLEX, 0.4, {0, 0, 0});
  }
  cv::putText(img, "mean IoU (%): bi_w (rows) x bi_xy_std (columns), best over the others", {5, 20},
              cv::FONT_HERSHEY_SIMPLEX, 0.45, {0, 0, 0});
  write_png(path, img);
}

std::string format_point(const Point& p, int iterations) {
  char s[160];
  std::snprintf(s, sizeof s, "bi_w %g, bi_xy_std %g, bi_rgb_std %g, pos_w %g, pos_xy_std %g, %d iterations", p[0], p[1],
                p[2], p[3], p[4], iterations);
  return s;
}

// The release's CRF parameters as a point of the grid.
Point default_point() {
  const crf::CrfParams d;
  return Point{d.bi_w, d.bi_xy_std, d.bi_rgb_std, d.pos_w, d.pos_xy_std};
}

// What the rounds of one sweep share.
struct SweepRun {
  const SweepOptions& o;
  const ImageStore& store;
  crf::CrfRunner& crf_runner;
  int64_t images = 0, block = 0, blocks = 0;
  std::string units_dir;
  std::map<std::string, UnitRecord> done;  // by point and block: this run's and earlier runs'
};

// Whether round `round` scores the release's defaults as a baseline outside the grid: in the
// first round, when the grid does not hold them. One rule for adding them and for keeping them
// out of the best point.
bool baseline_outside_grid(const Grid& grid, int round) {
  const std::vector<Point> in_grid = grid_points(grid);
  return round == 0 && std::find(in_grid.begin(), in_grid.end(), default_point()) == in_grid.end();
}

// A round's points: the grid's, less those scored in earlier rounds; the release's defaults too
// in the first round when asked (the baseline).
std::vector<Point> round_points(const Grid& grid, const std::vector<std::string>& scored, int round, bool baseline) {
  std::vector<Point> points;
  for (const Point& p : grid_points(grid))
    if (std::find(scored.begin(), scored.end(), point_key(p, grid.iterations, -1)) == scored.end()) points.push_back(p);
  if (baseline && baseline_outside_grid(grid, round)) points.push_back(default_point());
  return points;
}

// The round's points in groups whose CRFs share their lattices (crf::same_lattices: only
// their weights differ), in the order the points come.
std::vector<std::vector<size_t>> lattice_groups(const std::vector<Point>& points, const Grid& grid) {
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < points.size(); ++i) {
    const crf::CrfParams p = to_params(points[i], grid);
    auto g = std::find_if(groups.begin(), groups.end(), [&](const std::vector<size_t>& group) {
      return crf::same_lattices(p, to_params(points[group.front()], grid));
    });
    if (g == groups.end()) g = groups.emplace(groups.end());
    g->push_back(i);
  }
  return groups;
}

// The groups cut into the pieces ranks take: whole groups build each image's lattices once,
// smaller pieces keep more ranks busy to the end of the round. Each group is cut into parts of
// at most c points, for the c that minimises the round's estimated time, ceil(pieces / ranks)
// times a piece's cost, where building the lattices costs about a fifth of a CRF (bench crf:
// setup 16 of 82 ms at 500x375, 2.2 of 10.2 ms at 160x160).
std::vector<std::vector<size_t>> sweep_pieces(const std::vector<std::vector<size_t>>& groups, int64_t blocks,
                                              int ranks) {
  constexpr double kLatticeShare = 0.2;
  const auto parts = [](size_t size, size_t c) { return (size + c - 1) / c; };
  size_t largest = 1;
  for (const auto& g : groups) largest = std::max(largest, g.size());
  size_t best_c = 1;
  double best_time = 0;
  for (size_t c = 1; c <= largest; ++c) {
    int64_t pieces = 0;
    size_t widest = 0;  // the most points one piece holds when cut this way
    for (const auto& g : groups) {
      const size_t n = parts(g.size(), c);  // cut into n parts of near-equal size
      pieces += int64_t(n) * blocks;
      widest = std::max(widest, parts(g.size(), n));
    }
    const double time = double((pieces + ranks - 1) / ranks) * (kLatticeShare + double(widest) * (1 - kLatticeShare));
    if (c == 1 || time < best_time) best_c = c, best_time = time;
  }
  std::vector<std::vector<size_t>> pieces;
  for (const auto& g : groups) {
    const size_t n = parts(g.size(), best_c);
    for (size_t k = 0; k < n; ++k)  // n parts of near-equal size
      pieces.emplace_back(g.begin() + ptrdiff_t(g.size() * k / n), g.begin() + ptrdiff_t(g.size() * (k + 1) / n));
  }
  return pieces;
}

// This rank's share of the round's work, taken from the shared counter in pieces: points that
// share their lattices (sweep_pieces) on one block of images. Within a piece each image is
// scored with every point in turn, so its lattices are built once (crf::CrfRunner::keep_lattices).
// Each unit (point x block) is appended to the rank's log as its piece is done. Returns the
// seconds spent scoring.
double score_units(SweepRun& run, const std::vector<Point>& points, const Grid& grid, int round, UnitLog& log,
                   dist::WorkCounter& counter, SweepSummary& summary, bool root, int ranks) {
  const std::vector<std::vector<size_t>> piece_points = sweep_pieces(lattice_groups(points, grid), run.blocks, ranks);
  const int64_t pieces = int64_t(piece_points.size()) * run.blocks;
  counter.reset();
  double busy = 0;
  Progress progress("crf-sweep round " + std::to_string(round) + " (pieces: points x image blocks)", long(pieces));
  for (int64_t u = counter.next(); u < pieces; u = counter.next()) {
    const int64_t b = u % run.blocks;
    std::vector<size_t> todo;  // the piece's points not yet scored on this block
    for (size_t i : piece_points[size_t(u / run.blocks)]) {
      if (run.done.count(point_key(points[i], grid.iterations, b))) ++summary.units_reused;
      else todo.push_back(i);
    }
    if (todo.empty()) continue;
    std::vector<crf::CrfParams> params;
    for (size_t i : todo) params.push_back(to_params(points[i], grid));
    std::vector<eval::ConfusionMatrix> matrices(todo.size(), eval::ConfusionMatrix(run.store.classes()));
    std::vector<double> seconds(todo.size(), 0.0);
    for (int64_t k = b * run.block; k < std::min(run.images, (b + 1) * run.block); ++k) {
      auto t0 = Clock::now();
      const Image im = run.store.get(k);
      const double reading = std::chrono::duration<double>(Clock::now() - t0).count();
      for (size_t j = 0; j < todo.size(); ++j) {
        t0 = Clock::now();
        const LabelMap labels = segment::labels_from_probabilities(im.probs, im.rgb.data(), im.height, im.width,
                                                                   &params[j], &run.crf_runner, run.store.resolution());
        matrices[j].add(labels.data.data(), im.labels.data(), im.height * im.width, run.o.data_path);
        seconds[j] += std::chrono::duration<double>(Clock::now() - t0).count() + reading / double(todo.size());
      }
    }
    for (size_t j = 0; j < todo.size(); ++j) {
      UnitRecord r{round, points[todo[j]], grid.iterations, b, seconds[j], matrices[j].counts()};
      log.append(r);
      run.done[point_key(r.point, r.iterations, b)] = r;
      busy += r.seconds;
      ++summary.units_computed;
    }
    if (root) progress.update(long(u + 1));
  }
  if (root) progress.finish();
  return busy;
}

// Rank 0, once every unit of the round is on disk: each point's blocks summed from every rank's
// log into its result; the best so far updated.
void sum_round(SweepRun& run, const std::vector<Point>& points, const Grid& grid, int round, SweepSummary& summary) {
  for (const UnitRecord& r : read_records(run.units_dir)) run.done[point_key(r.point, r.iterations, r.block)] = r;
  for (const Point& p : points) {
    eval::ConfusionMatrix m(run.store.classes());
    PointResult res{round, p, grid.iterations};
    for (int64_t b = 0; b < run.blocks; ++b) {
      const auto it = run.done.find(point_key(p, grid.iterations, b));
      if (it == run.done.end()) fail(run.units_dir, ": no record of ", format_point(p, grid.iterations), " block ", b);
      for (size_t c = 0; c < m.counts().size(); ++c) m.counts()[c] += it->second.counts.at(c);
      res.seconds += it->second.seconds;
    }
    res.mean_iou = m.mean_iou();
    res.pixel_accuracy = m.pixel_accuracy();
    if (p == default_point()) {
      res.baseline_only = baseline_outside_grid(grid, round);
      summary.baseline = res, summary.has_baseline = true;
    }
    summary.results.push_back(res);
  }
  // The best of what the user asked to search, so that refinement stays in it; the defaults,
  // when outside the grid, are a comparison.
  bool first = true;
  for (const PointResult& r : summary.results)
    if (!r.baseline_only && (first || r.mean_iou > summary.best.mean_iou)) summary.best = r, first = false;
  log_info("round " + std::to_string(round) + ": " + std::to_string(points.size()) + " points; best so far " +
           format_point(summary.best.point, summary.best.iterations) + ": mean IoU " +
           std::to_string(100 * summary.best.mean_iou) + "%");
}

// Rank 0 at the end: the table, the best point as a config, the heat map.
void write_results(const SweepOptions& o, int64_t images, const SweepSummary& summary) {
  std::ostringstream csv;
  csv << "round,bi_w,bi_xy_std,bi_rgb_std,pos_w,pos_xy_std,iterations,mean_iou,pixel_accuracy,seconds\n";
  for (const PointResult& r : summary.results) {
    char line[256];
    std::snprintf(line, sizeof line, "%d,%g,%g,%g,%g,%g,%d,%.6f,%.6f,%.3f\n", r.round, r.point[0], r.point[1],
                  r.point[2], r.point[3], r.point[4], r.iterations, r.mean_iou, r.pixel_accuracy, r.seconds);
    csv << line;
  }
  write_file(o.out_dir + "/results.csv", csv.str());
  const PointResult& b = summary.best;
  char ini[512];
  std::snprintf(ini, sizeof ini,
                "# The best point of deeplab crf-sweep on %lld images of %s: mean IoU %.2f%%, pixel accuracy %.2f%%.\n"
                "#   deeplab segment --crf --config best.ini ...\n[crf]\nbi_w = %g\nbi_xy_std = %g\nbi_rgb_std = %g\n"
                "pos_w = %g\npos_xy_std = %g\niterations = %d\n",
                (long long)images, o.data_path.c_str(), 100 * b.mean_iou, 100 * b.pixel_accuracy, b.point[0], b.point[1],
                b.point[2], b.point[3], b.point[4], b.iterations);
  write_file(o.out_dir + "/best.ini", ini);
  write_heatmap(o.out_dir + "/heatmap.png", summary.results);
}

}  // namespace

SweepSummary run_sweep(const SweepOptions& o, dist::Mpi& mpi) {
  crf::CrfRunner crf_runner(use_device(o.device, mpi.local_rank()));
  crf_runner.keep_lattices(true);  // each image's lattices serve every point of a group
  const auto start = Clock::now();
  const bool root = mpi.rank() == 0;
  const std::string units_dir = o.out_dir + "/units";

  // Set-up: the folder's lock, an earlier sweep resumed or refused, the inputs, the settings.
  std::optional<OutputLock> lock;  // rank 0 writes the folder; held until the end
  if (root) lock.emplace(o.out_dir);
  if (root) {
    // An earlier sweep is one that scored something; a run that failed before its first unit
    // left at most an empty units/ and its settings, which a new run replaces.
    const bool earlier = fs::exists(units_dir) && !fs::is_empty(units_dir);
    if (earlier && !o.resume)
      fail(o.out_dir, ": holds an earlier sweep; pass --resume to finish it, or choose another --out");
    if (!earlier) fs::remove(o.out_dir + "/settings");
  }
  const ImageStore store(o);  // opens the inputs: bad ones fail before anything is written
  if (root) fs::create_directories(units_dir);
  const int64_t images = store.size(), block = o.block_images <= 0 ? images : std::min(o.block_images, images);
  SweepRun run{o, store, crf_runner, images, block, (images + block - 1) / block, units_dir, {}};
  if (root) {
    require_settings(o.out_dir + "/settings", settings_text(o, store.data_stamp(), run.images, run.block), "choose another --out");
    log_info("crf-sweep: " + std::to_string(run.images) + " images (" + (store.cached() ? "in memory" : "read per unit") +
             "), " + std::to_string(run.blocks) + " block(s) per point, " + std::to_string(mpi.size()) + " rank(s)");
  }
  mpi.barrier();
  for (const UnitRecord& r : read_records(units_dir)) run.done[point_key(r.point, r.iterations, r.block)] = r;

  // The rounds: score the grid, then refine it around the best point.
  UnitLog log(units_dir + "/rank-" + std::to_string(mpi.rank()) + ".log");
  dist::WorkCounter counter(mpi);
  SweepSummary summary;
  std::vector<std::string> scored;  // point keys already in the results
  Grid grid = o.grid;
  double busy = 0, rank_time = 0;
  for (int round = 0; round <= o.refine; ++round) {
    const std::vector<Point> points = round_points(grid, scored, round, o.baseline);
    const auto round_start = Clock::now();
    busy += score_units(run, points, grid, round, log, counter, summary, root, mpi.size());
    mpi.barrier();  // every unit of this round is on disk
    rank_time += std::chrono::duration<double>(Clock::now() - round_start).count();
    std::vector<double> best(kParams, 0.0);
    if (root) {
      sum_round(run, points, grid, round, summary);
      for (int k = 0; k < kParams; ++k) best[size_t(k)] = summary.best.point[size_t(k)];
    }
    mpi.allreduce_sum(best.data(), kParams);  // rank 0's values; the others hold zeros
    Point b{};
    for (int k = 0; k < kParams; ++k) b[size_t(k)] = best[size_t(k)];
    for (const Point& p : points) scored.push_back(point_key(p, grid.iterations, -1));  // skipped next round
    grid = refine(grid, b);
  }

  // The totals over the ranks, and rank 0's files.
  double totals[2] = {busy, rank_time};
  mpi.allreduce_sum(totals, 2);
  int64_t counts[3] = {summary.units_computed, summary.units_reused, crf_runner.lattices_reused()};
  mpi.allreduce_sum(counts, 3);
  summary.units_computed = counts[0];
  summary.units_reused = counts[1];
  summary.lattices_reused = counts[2];
  summary.idle_fraction = totals[1] > 0 ? std::max(0.0, 1.0 - totals[0] / totals[1]) : 0.0;
  summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (root) write_results(o, run.images, summary);
  return summary;
}

}  // namespace deeplab::sweep
