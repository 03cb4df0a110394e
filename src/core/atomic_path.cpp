#include "core/atomic_path.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/temporary_files.h"

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

void remove_stale_temporaries(const std::string& output) {
  namespace fs = std::filesystem;
  const fs::path target(output);
  std::error_code ec;
  // NAME.tmp.PID[SUFFIX] of a writer that no longer runs on this machine.
  auto remove_if_stale = [&](const fs::path& entry, const std::string& name_prefix) {
    const std::string name = entry.filename().string();
    if (name.compare(0, name_prefix.size(), name_prefix) != 0) return;
    const long pid = std::strtol(name.c_str() + name_prefix.size(), nullptr, 10);
    if (pid <= 0 || pid == long(getpid())) return;
    if (kill(pid_t(pid), 0) != 0 && errno == ESRCH) fs::remove(entry, ec);
  };
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string siblings = target.filename().string() + ".tmp.";
  for (const auto& e : fs::directory_iterator(dir, ec)) remove_if_stale(e.path(), siblings);
  if (!fs::is_directory(target, ec)) return;
  for (const auto& e : fs::directory_iterator(target, ec)) {  // a folder output's own files
    const std::string name = e.path().filename().string();
    const size_t tmp = name.find(".tmp.");
    if (tmp != std::string::npos) remove_if_stale(e.path(), name.substr(0, tmp + 5));
  }
}

}  // namespace deeplab
