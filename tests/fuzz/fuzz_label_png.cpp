// libFuzzer target: arbitrary bytes as a label PNG (grey indices or VOC palette colours).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "image/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/deeplab_fuzz_label_" + std::to_string(getpid()) + ".png";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    deeplab::read_label_png(path);
  } catch (const deeplab::Error&) {
  }
  return 0;
}
