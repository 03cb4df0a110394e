// Whole files in and out: reading one (text or bytes), writing one atomically (through an
// AtomicPath), and the settings file a resumable job keeps beside its pieces.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace deeplab {

// The file's whole content; an error naming it when it is missing, a folder, unreadable, or over
// max_bytes (then "over N KiB, not a WHAT": a file that cannot be what the caller expects, and
// /dev/zero, are refused without reading them whole). Pipes work (--config <(...)).
std::string read_file(const std::string& path, size_t max_bytes = SIZE_MAX, const char* what = "file");
std::vector<uint8_t> read_file_bytes(const std::string& path);
void write_file(const std::string& path, const std::string& content);
void write_file(const std::string& path, const void* bytes, size_t size);
// A resumable job's record of what its partial results depend on: written when absent; when
// present and different, an error that shows both and ends with `remedy`.
void require_settings(const std::string& path, const std::string& text, const std::string& remedy);
// An input as a settings file records it: "PATH (N bytes, modified YYYY-MM-DD HH:MM:SS.NNNNNNNNN
// UTC)", PATH made absolute. Another file copied to the same path then no longer matches, so a
// resumed job does not mix results from two inputs.
std::string file_stamp(const std::string& path);

}  // namespace deeplab
