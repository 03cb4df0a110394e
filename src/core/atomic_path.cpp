#include "core/atomic_path.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace deeplab {

namespace {
// Temporary files in progress, removed if the process is stopped by SIGTERM (mpirun's abort of
// a job whose other rank failed, Slurm's cancel) or SIGINT (Ctrl-C): a stopped job leaves
// neither a half-written output nor its temporary. Fixed slots, so the handler only reads them.
constexpr int kSlots = 16;
char g_temp_paths[kSlots][4096];
volatile sig_atomic_t g_temp_used[kSlots];

extern "C" void remove_temporaries(int sig) {
  for (int i = 0; i < kSlots; ++i)
    if (g_temp_used[i]) unlink(g_temp_paths[i]);
  signal(sig, SIG_DFL);
  raise(sig);
}

int register_temporary(const std::string& path) {
  static bool installed = false;
  if (!installed) {
    signal(SIGTERM, remove_temporaries);
    signal(SIGINT, remove_temporaries);
    installed = true;
  }
  if (path.size() >= sizeof g_temp_paths[0]) return -1;
  for (int i = 0; i < kSlots; ++i)
    if (!g_temp_used[i]) {
      std::memcpy(g_temp_paths[i], path.c_str(), path.size() + 1);
      g_temp_used[i] = 1;
      return i;
    }
  return -1;
}
}  // namespace

AtomicPath::AtomicPath(std::string final_path, const std::string& suffix)
    : final_(std::move(final_path)), temp_(final_ + ".tmp." + std::to_string(getpid()) + suffix) {
  slot_ = register_temporary(temp_);
}

AtomicPath::~AtomicPath() {
  if (!committed_) std::remove(temp_.c_str());
  if (slot_ >= 0) g_temp_used[slot_] = 0;
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

}  // namespace deeplab
