#include "core/atomic_path.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

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

}  // namespace deeplab
