#include "core/atomic_path.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/signals.h"

namespace deeplab {

AtomicPath::AtomicPath(std::string final_path, const std::string& suffix)
    : final_(std::move(final_path)), temp_(final_ + ".tmp." + std::to_string(getpid()) + suffix) {
  slot_ = register_temporary(temp_);
}

AtomicPath::~AtomicPath() {
  if (!committed_) std::remove(temp_.c_str());
  release_temporary(slot_);
}

void AtomicPath::commit() {
  int fd = ::open(temp_.c_str(), O_RDONLY);
  if (fd < 0) fail(temp_, ": cannot reopen to sync");
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail(temp_, ": fsync failed");
  if (std::rename(temp_.c_str(), final_.c_str()) != 0) fail(final_, ": cannot rename ", temp_, " into place");
  committed_ = true;
}

void remove_stale_temporaries(const std::string& final_path) {
  namespace fs = std::filesystem;
  const fs::path target(final_path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid <= 0 || pid == long(getpid())) continue;
    if (kill(pid_t(pid), 0) != 0 && errno == ESRCH) fs::remove(e.path(), ec);  // its writer is gone
  }
}

}  // namespace deeplab
