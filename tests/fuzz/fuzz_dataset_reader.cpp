// libFuzzer target: arbitrary bytes as a dataset file, opened and every entry read. A clear
// Error is the expected answer to garbage; a crash, a hang or a sanitizer report is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "data/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/deeplab_fuzz_dataset_" + std::to_string(getpid()) + ".h5";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    deeplab::data::DatasetReader reader(path);
    for (int64_t i = 0; i < std::min<int64_t>(reader.size(), 64); ++i) reader.read(i);
  } catch (const deeplab::Error&) {
  }
  return 0;
}
