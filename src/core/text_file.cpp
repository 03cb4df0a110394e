#include "core/text_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/atomic_path.h"
#include "core/error.h"

namespace deeplab {

std::string read_file(const std::string& path, size_t max_bytes, const char* what) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) fail(path, ": no such file");
  if (std::filesystem::is_directory(status)) fail(path, ": is a folder, not a ", what);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot read (", std::strerror(errno), ")");
  std::string content;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    content.append(chunk, size_t(in.gcount()));
    if (content.size() > max_bytes) fail(path, ": over ", max_bytes >> 10, " KiB, not a ", what);
  }
  if (in.bad()) fail(path, ": cannot read (", std::strerror(errno), ")");
  return content;
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) fail(path, ": no such file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail(path, ": cannot open");
  std::vector<uint8_t> bytes(size_t(in.tellg()));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!in) fail(path, ": cannot read");
  return bytes;
}

void write_file(const std::string& path, const void* bytes, size_t size) {
  AtomicPath out(path);
  {
    std::ofstream f(out.temp(), std::ios::binary);
    f.write(static_cast<const char*>(bytes), std::streamsize(size));
    f.close();
    if (!f) fail(path, ": cannot write");
  }
  out.commit();
}

void write_file(const std::string& path, const std::string& content) { write_file(path, content.data(), content.size()); }

std::string file_stamp(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) fail(path, ": cannot read its size and time (", std::strerror(errno), ")");
  std::tm utc{};
  gmtime_r(&st.st_mtim.tv_sec, &utc);
  char when[64];
  std::snprintf(when, sizeof when, "%04d-%02d-%02d %02d:%02d:%02d.%09ld UTC", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, long(st.st_mtim.tv_nsec));
  return std::filesystem::absolute(path).string() + " (" + std::to_string(st.st_size) + " bytes, modified " + when + ")";
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
