#include "core/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/atomic_path.h"
#include "core/error.h"
#include "core/log.h"
#include "core/temporary_files.h"

namespace deeplab {

namespace {
// Whether the open file is still the one the path names: a holder removes the lock file while
// it holds it, so a run that opened the old file just before and locks it after holds a lock
// nobody else will ever look at.
bool still_named(int fd, const std::string& path) {
  struct stat held, named;
  return fstat(fd, &held) == 0 && stat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
         held.st_ino == named.st_ino;
}
}  // namespace

OutputLock::OutputLock(const std::string& output) {
  std::string name = output;
  while (name.size() > 1 && name.back() == '/') name.pop_back();  // a folder given as "DIR/"
  path_ = name + ".lock";
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  // Registered before the file exists, so that no instant is left when it exists unregistered.
  slot_ = register_lock_file(path_);
  // A dead run's janitor (temporary_files.h) takes the lock for an instant to remove the file:
  // a lock held that briefly is waited for, one held for a second is another run's.
  int busy_waits = 0, replaced = 0;
  while (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      const int why = errno;
      release_temporary(slot_);
      fail(path_, ": cannot create the lock file for ", output, " (", std::strerror(why), ")");
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int why = errno;
      ::close(fd_);
      fd_ = -1;
      if (why == EWOULDBLOCK && ++busy_waits <= 100) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      release_temporary(slot_);
      if (why == EWOULDBLOCK)
        fail(output, ": another run is writing it now (it holds ", path_, "); wait for it, or choose another output");
      if (why == ENOLCK || why == EOPNOTSUPP || why == ENOSYS) {  // a file system without locks (some NFS)
        ::unlink(path_.c_str());
        log_warn(path_ + ": the file system takes no locks (" + std::strerror(why) +
                 "): nothing stops a second run writing " + output + " at the same time");
        return;
      }
      fail(path_, ": cannot lock (", std::strerror(why), ")");
    }
    if (still_named(fd_, path_)) break;
    ::close(fd_);  // removed by its last holder meanwhile: lock the file the path names now
    fd_ = -1;
    if (++replaced > 100) {
      release_temporary(slot_);
      fail(path_, ": the lock file keeps being replaced by other runs");
    }
  }
  lock_taken(slot_);
  remove_stale_temporaries(output);  // the output is ours now: what dead writers left goes
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still held, so the next run starts from a fresh file
  release_temporary(slot_);
  ::close(fd_);
}

}  // namespace deeplab
