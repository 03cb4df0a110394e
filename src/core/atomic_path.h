// Writes go to "PATH.tmp.PID[SUFFIX]"; commit() flushes to disk and renames over PATH, so readers
// see the old file or the whole new one, never half of it. Without commit() the temporary is
// removed, also when the process is stopped by SIGTERM or SIGINT (core/signals.h). Every output file of the
// program (models, datasets, .npy, PNG) is written this way.
#pragma once
#include <string>

namespace deeplab {

class AtomicPath {
 public:
  // suffix: for writers that choose the format by the name's extension (".png").
  explicit AtomicPath(std::string final_path, const std::string& suffix = "");
  ~AtomicPath();
  AtomicPath(const AtomicPath&) = delete;
  AtomicPath& operator=(const AtomicPath&) = delete;
  const std::string& temp() const { return temp_; }
  void commit();

 private:
  std::string final_, temp_;
  bool committed_ = false;
  int slot_ = -1;  // in the list of temporaries removed on SIGTERM / SIGINT
};

// Removes PATH.tmp.PID* left by processes of this machine that no longer run (killed with -9,
// or crashed): they would otherwise stay for good beside a finished output.
void remove_stale_temporaries(const std::string& final_path);

}  // namespace deeplab
