#include "nn/layer.h"

namespace deeplab::nn {

const char* op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::convolution: return "convolution";
    case OpKind::pooling: return "pooling";
    case OpKind::dropout: return "dropout";
    case OpKind::concat: return "concat";
    case OpKind::split: return "split";
  }
  return "unknown";
}

}  // namespace deeplab::nn
