// One writer per output. A lock file beside it (OUT.lock), held with flock for the life of the
// run: a second run writing the same output at the same time is refused, naming the output,
// instead of both doing all the work and racing over each other's files. The kernel drops the
// lock when its process ends, however it ends, so a killed run never blocks the next one; the
// file itself is removed by the run, or after a kill by its janitor (core/temporary_files.h),
// and one left all the same is taken over by the next run, which also removes the temporaries
// that dead writers left beside the output or in it. On a file system that takes no locks
// (some NFS mounts) it warns and goes on without.
#pragma once
#include <string>

namespace deeplab {

class OutputLock {
 public:
  explicit OutputLock(const std::string& output);  // an Error if another process holds it
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  std::string path_;
  int fd_ = -1;
  int slot_ = -1;  // the lock file is removed, like a temporary, however the process ends
};

}  // namespace deeplab
