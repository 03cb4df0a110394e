// The training log a person reads: one CSV row per iteration (OUT/train_log.csv) and the loss
// curve as a PNG (OUT/loss.png), redrawn as training goes. A resumed run keeps the rows up to
// the iteration it resumes from and drops any a killed run wrote after its last checkpoint.
#pragma once
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace deeplab::train {

struct LogRow {
  int64_t iteration = 0;  // updates done, counting this one
  int64_t epoch = 0;
  double loss = 0, pixel_accuracy = 0, lr = 0, images_per_s = 0, allreduce_wait_ms = 0, seconds = 0;
};

class TrainLog {
 public:
  // resume_iteration 0: a fresh log.
  TrainLog(const std::string& dir, int64_t resume_iteration);
  void add(const LogRow& row);  // appended and flushed
  void write_curve() const;
  const std::vector<LogRow>& rows() const { return rows_; }
  const std::string& csv_path() const { return csv_path_; }
  const std::string& curve_path() const { return curve_path_; }

 private:
  std::string csv_path_, curve_path_;
  std::vector<LogRow> rows_;
  std::ofstream csv_;
};

// Loss per iteration (thin) and its running mean (thick) against the iteration, with axes.
void write_loss_curve_png(const std::string& path, const std::vector<LogRow>& rows);

}  // namespace deeplab::train
