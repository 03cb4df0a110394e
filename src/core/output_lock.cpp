#include "core/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "core/signals.h"

namespace deeplab {

OutputLock::OutputLock(const std::string& output) {
  std::string name = output;
  while (name.size() > 1 && name.back() == '/') name.pop_back();  // a folder given as "DIR/"
  path_ = name + ".lock";
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(path_, ": cannot create the lock file for ", output, " (", std::strerror(errno), ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int why = errno;
    ::close(fd_);
    fd_ = -1;
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
  slot_ = register_temporary(path_);
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still held, so the next run starts from a fresh file
  release_temporary(slot_);
  ::close(fd_);
}

}  // namespace deeplab
