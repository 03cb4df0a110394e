// Every HDF5 file deeplab writes (models, checkpoints, data sets, predictions) says what it is in
// two root attributes: 'format' (a name such as "deeplab-model") and 'version' (of that
// format's layout). Writers make the file under a temporary name with both attributes set and
// rename it into place when it is whole; readers check both before reading anything else, so a
// foreign or newer file is one clear message instead of a confusing missing entry.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "core/atomic_path.h"
#include "core/h5.h"

namespace deeplab::h5 {

// A file being written: created as PATH.tmp.PID with 'format' and 'version' set; commit()
// flushes, closes and renames it over PATH. Without commit() it is removed (core/atomic_path.h).
class NewFile {
 public:
  NewFile(const std::string& path, const std::string& format, int64_t version);
  File& file() { return *file_; }
  void commit();

 private:
  AtomicPath target_;
  std::optional<File> file_;
};

// Fails, naming the file, unless its 'format' is `format` and its 'version' is 1..max_version;
// `what` names the kind of file in the message ("model file", "dataset"). Returns the version.
int64_t check_format(const File& file, const std::string& format, const std::string& what, int64_t max_version);

}  // namespace deeplab::h5
