#include "core/atomic_path.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/temporary_files.h"

namespace deeplab {

AtomicPath::AtomicPath(std::string final_path, const std::string& suffix)
    : final_(std::move(final_path)), temp_(final_ + ".tmp." + std::to_string(getpid()) + suffix) {
  slot_ = register_temporary(temp_);
  // Missing folders are made (a writer that cannot open its file then says so, naming it).
  const std::filesystem::path folder = std::filesystem::path(final_).parent_path();
  std::error_code ec;
  if (!folder.empty()) std::filesystem::create_directories(folder, ec);
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

void check_output_file(const std::string& output) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (output.empty()) fail("an output file name is empty");
  if (fs::is_directory(output, ec)) fail(output, ": is a folder; give a file name");
  // The nearest folder that exists: the output's own, or the one its missing folders go in.
  fs::path folder = fs::path(output).parent_path();
  while (!folder.empty() && !fs::exists(folder, ec)) folder = folder.parent_path();
  if (folder.empty()) folder = ".";
  if (!fs::is_directory(folder, ec)) fail(output, ": cannot make its folder: ", folder.string(), " is not a folder");
  const std::string probe = (folder / (".deeplab-probe." + std::to_string(getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail(output, ": cannot write in ", folder.string(), " (", std::strerror(errno), ")");
  ::close(fd);
  ::unlink(probe.c_str());
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
