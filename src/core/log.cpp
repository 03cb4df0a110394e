#include "core/log.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace deeplab {
namespace {
LogLevel g_level = LogLevel::info;
std::string g_prefix;

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "?";
}
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
void set_log_prefix(const std::string& prefix) { g_prefix = prefix; }

void log(LogLevel level, const std::string& message) {
  if (level < g_level) return;
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::localtime(&now));
  // On a terminal a progress line may be showing: clear it, the next update redraws it below.
  static const bool tty = isatty(STDERR_FILENO);
  std::fprintf(stderr, "%s[%s %s] %s%s\n", tty ? "\r\033[K" : "", stamp, level_name(level), g_prefix.c_str(),
               message.c_str());
}

Progress::Progress(std::string what, long total, long start)
    : what_(std::move(what)), total_(total), start_count_(start), tty_(isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

void Progress::update(long done, const std::string& extra) {
  auto now = std::chrono::steady_clock::now();
  double since_last = std::chrono::duration<double>(now - last_).count();
  // A terminal gets a redraw at most 10 times a second; a log file a line every 10 seconds.
  if (since_last < (tty_ ? 0.1 : 10.0) && done < total_) return;
  last_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? (done - start_count_) / elapsed : 0;
  double eta = rate > 0 ? (total_ - done) / rate : 0;
  char line[256];
  std::snprintf(line, sizeof line, "%s %ld/%ld (%.1f%%) %.2f/s ETA %.0fs %s", what_.c_str(), done,
                total_, total_ > 0 ? 100.0 * done / total_ : 100.0, rate, eta, extra.c_str());
  if (tty_) {
    std::fprintf(stderr, "\r%s%s\033[K", g_prefix.c_str(), line);
    std::fflush(stderr);
  } else {
    log_info(line);
  }
}

void Progress::finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace deeplab
