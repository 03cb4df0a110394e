// Timestamped log lines on stderr; a progress line that redraws itself on a terminal and
// falls back to periodic log lines when stderr is a file (batch jobs).
#pragma once
#include <chrono>
#include <string>

namespace deeplab {

enum class LogLevel { debug, info, warn, error };
void set_log_level(LogLevel level);
void set_log_prefix(const std::string& prefix);  // for example "rank 1/4 "
void log(LogLevel level, const std::string& message);
inline void log_info(const std::string& m) { log(LogLevel::info, m); }
inline void log_warn(const std::string& m) { log(LogLevel::warn, m); }

class Progress {
 public:
  // start: work already done before (a resumed job), left out of the rate.
  Progress(std::string what, long total, long start = 0);
  void update(long done, const std::string& extra = "");
  void finish();

 private:
  std::string what_;
  long total_, start_count_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace deeplab
