#include "core/text_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_path.h"
#include "core/error.h"

namespace deeplab {

std::string read_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) fail(path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  if (!in) fail(path, ": cannot read");
  return content.str();
}

void write_file(const std::string& path, const std::string& content) {
  AtomicPath out(path);
  {
    std::ofstream f(out.temp(), std::ios::binary);
    f << content;
    f.close();
    if (!f) fail(path, ": cannot write");
  }
  out.commit();
}

void require_settings(const std::string& path, const std::string& text, const std::string& remedy) {
  if (!std::filesystem::exists(path)) {
    write_file(path, text);
    return;
  }
  const std::string old = read_file(path);
  if (old != text) fail(path, ": the interrupted run used other settings:\n", old, "this run:\n", text, remedy);
}

}  // namespace deeplab
