#include "core/h5_file_format.h"

#include "core/error.h"

namespace deeplab::h5 {

NewFile::NewFile(const std::string& path, const std::string& format, int64_t version) : target_(path) {
  file_.emplace(File::create(target_.temp()));
  file_->set_attr("/", "format", format);
  file_->set_attr("/", "version", version);
}

void NewFile::commit() {
  file_->flush();
  file_.reset();
  target_.commit();
}

int64_t check_format(const File& file, const std::string& format, const std::string& what, int64_t max_version) {
  const auto found = file.attr_string("/", "format");
  if (!found || *found != format)
    fail(file.path(), ": not a deeplab ", what, " (attribute 'format' is ",
         found ? "'" + *found + "'" : std::string("missing"), ", expected '", format, "')");
  const auto version = file.attr_int("/", "version");
  if (!version || *version < 1 || *version > max_version)
    fail(file.path(), ": ", what, " format version ", version ? std::to_string(*version) : "missing",
         " is not supported (this program reads 1 to ", max_version, ")");
  return *version;
}

}  // namespace deeplab::h5
