// NumPy .npy files (format versions 1-3): read float32 or float16 arrays in C order, any shape,
// into a float32 Tensor; write float32. Anything else is an error naming the file.
#pragma once
#include <string>

#include "core/tensor.h"

namespace deeplab {

Tensor read_npy(const std::string& path);
// Written atomically (temporary file, then rename).
void write_npy(const std::string& path, const Tensor& t);

}  // namespace deeplab
