// One exception type for every user-facing failure: the message names the file, the entry
// and what is wrong, so a job can print it and exit non-zero.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace deeplab {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Builds a message from any streamable parts: fail("file ", path, ": entry '", name, "' missing").
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  throw Error(s.str());
}

// For conditions that are bugs in the caller, not bad input.
#define DEEPLAB_CHECK(cond, ...)                                                     \
  do {                                                                                \
    if (!(cond)) ::deeplab::fail(__FILE__, ":", __LINE__, ": check failed: " #cond ": ", \
                                 ##__VA_ARGS__);                                      \
  } while (0)

}  // namespace deeplab
