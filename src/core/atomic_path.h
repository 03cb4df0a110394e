// Writes go to "PATH.tmp.PID[SUFFIX]"; commit() flushes to disk and renames over PATH, so readers
// see the old file or the whole new one, never half of it. Without commit() the temporary is
// removed, also when the process is stopped or killed (core/temporary_files.h). Every output file of the
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
  int slot_ = -1;  // in the table of temporaries removed however the process ends
};

// For a job's single-file outputs, before its work: fails, naming OUTPUT, when it could not be
// written (it is a folder; its folder cannot be made, or no file can be made in it: a file is
// made there and removed to find out), so that an unwritable report is found before the hour of
// work it reports, not after. Makes nothing that stays: AtomicPath makes missing folders when
// the output is written.
void check_output_file(const std::string& output);

// Removes OUTPUT.tmp.PID* (and, when OUTPUT is a folder, its own NAME.tmp.PID*) left by writers
// of this machine that no longer run and whose janitor could not clean up (killed with them, a
// machine that went down): they would otherwise stay for good beside a finished output. Called
// by whoever holds the output's lock (core/output_lock.h), so no live run writes them.
void remove_stale_temporaries(const std::string& output);

}  // namespace deeplab
