#include "train/train_log.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "core/error.h"
#include "image/image_io.h"
#include "core/text_file.h"

namespace deeplab::train {

namespace {
const char* kHeader = "iteration,epoch,loss,pixel_accuracy,lr,images_per_s,allreduce_wait_ms,seconds";

std::string format_row(const LogRow& r) {
  char line[256];
  std::snprintf(line, sizeof line, "%lld,%lld,%.6g,%.6f,%.6g,%.3f,%.2f,%.3f", (long long)r.iteration,
                (long long)r.epoch, r.loss, r.pixel_accuracy, r.lr, r.images_per_s, r.allreduce_wait_ms, r.seconds);
  return line;
}

bool parse_row(const std::string& line, LogRow& r) {
  long long it = 0, epoch = 0;
  return std::sscanf(line.c_str(), "%lld,%lld,%lf,%lf,%lf,%lf,%lf,%lf", &it, &epoch, &r.loss, &r.pixel_accuracy,
                     &r.lr, &r.images_per_s, &r.allreduce_wait_ms, &r.seconds) == 8 &&
         (r.iteration = it, r.epoch = epoch, true);
}
}  // namespace

TrainLog::TrainLog(const std::string& dir, int64_t resume_iteration)
    : csv_path_(dir + "/train_log.csv"), curve_path_(dir + "/loss.png") {
  if (resume_iteration > 0) {
    std::ifstream old(csv_path_);
    std::string line;
    std::getline(old, line);  // header
    LogRow r;
    while (std::getline(old, line))
      if (parse_row(line, r) && r.iteration <= resume_iteration) rows_.push_back(r);
  }
  std::string kept = std::string(kHeader) + "\n";  // rewritten atomically, then appended to
  for (const LogRow& r : rows_) kept += format_row(r) + "\n";
  write_file(csv_path_, kept);
  csv_.open(csv_path_, std::ios::app);
  if (!csv_) fail(csv_path_, ": cannot open for appending");
}

void TrainLog::add(const LogRow& row) {
  rows_.push_back(row);
  csv_ << format_row(row) << "\n";
  csv_.flush();
  if (!csv_) fail(csv_path_, ": cannot write");
}

void TrainLog::write_curve() const { write_loss_curve_png(curve_path_, rows_); }

void write_loss_curve_png(const std::string& path, const std::vector<LogRow>& rows) {
  const int width = 800, height = 480, left = 70, right = 20, top = 30, bottom = 50;
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Scalar axis(0, 0, 0), raw(230, 190, 150), mean(180, 90, 20);
  const int64_t first = rows.empty() ? 0 : rows.front().iteration - 1;
  const int64_t last = rows.empty() ? 1 : std::max<int64_t>(rows.back().iteration, first + 1);
  double top_loss = 0;
  for (const LogRow& r : rows)
    if (std::isfinite(r.loss)) top_loss = std::max(top_loss, r.loss);
  if (top_loss <= 0) top_loss = 1;
  auto px = [&](double it) { return left + int((it - first) / double(last - first) * (width - left - right)); };
  auto py = [&](double loss) { return height - bottom - int(std::min(loss, top_loss) / top_loss * (height - top - bottom)); };
  cv::line(img, {left, height - bottom}, {width - right, height - bottom}, axis);
  cv::line(img, {left, top}, {left, height - bottom}, axis);
  for (int k = 0; k <= 4; ++k) {  // ticks: loss on the left, iterations below
    char label[32];
    std::snprintf(label, sizeof label, "%.3g", top_loss * k / 4);
    cv::putText(img, label, {5, py(top_loss * k / 4) + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.4, axis);
    std::snprintf(label, sizeof label, "%lld", (long long)(first + (last - first) * k / 4));
    cv::putText(img, label, {px(double(first + (last - first) * k / 4.0)) - 10, height - bottom + 18},
                cv::FONT_HERSHEY_SIMPLEX, 0.4, axis);
  }
  cv::putText(img, "iteration", {width / 2 - 30, height - 12}, cv::FONT_HERSHEY_SIMPLEX, 0.5, axis);
  cv::putText(img, "training loss (thin: per iteration, thick: running mean)", {left, 20}, cv::FONT_HERSHEY_SIMPLEX,
              0.5, axis);
  const double smoothing = rows.size() > 50 ? 0.95 : 0.7;
  double running = rows.empty() ? 0 : rows.front().loss;
  for (size_t i = 1; i < rows.size(); ++i) {
    if (!std::isfinite(rows[i].loss) || !std::isfinite(rows[i - 1].loss)) continue;
    cv::line(img, {px(double(rows[i - 1].iteration)), py(rows[i - 1].loss)},
             {px(double(rows[i].iteration)), py(rows[i].loss)}, raw, 1, cv::LINE_AA);
    const double next = smoothing * running + (1 - smoothing) * rows[i].loss;
    cv::line(img, {px(double(rows[i - 1].iteration)), py(running)}, {px(double(rows[i].iteration)), py(next)}, mean, 2,
             cv::LINE_AA);
    running = next;
  }
  write_png(path, img);
}

}  // namespace deeplab::train
