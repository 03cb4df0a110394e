// libFuzzer target: arbitrary bytes as an image file (JPEG, PNG, PPM/PGM, BMP: whatever the first
// bytes say), decoded in memory as pack and the dataset reader do. A clear Error is the expected
// answer to garbage; a crash, a hang or a sanitizer report is a finding. Our own PPM/PGM and BMP
// readers are the new code here; libjpeg-turbo and libpng get the same bytes.
#include <cstdint>

#include "core/error.h"
#include "image/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    deeplab::decode_image(data, size, "fuzz input");
  } catch (const deeplab::Error&) {
  }
  return 0;
}
