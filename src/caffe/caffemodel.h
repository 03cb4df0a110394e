// Caffe's binary model files (.caffemodel: a NetParameter message), read and written without
// Caffe. Both layouts in use are read: the old `layers` field (V1LayerParameter, as in the 2015
// DeepLab release and the original VGG_ILSVRC_16_layers.caffemodel) and the newer `layer` field
// (LayerParameter); blob shapes from `shape` or from num/channels/height/width. Field numbers
// are Caffe's (src/caffe/proto/caffe.proto).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace deeplab::caffe {

struct CaffeBlob {
  Shape shape;             // as stored: V1 blobs are always 4-D (num, channels, height, width)
  std::vector<float> data;
};

struct CaffeLayer {
  std::string name;
  std::string type;  // "Convolution", "InnerProduct", ... (V1 enum values by their V2 names)
  std::vector<CaffeBlob> blobs;
  // convolution_param.dilation, read and written in the `layer` layout only (0: not recorded).
  // The old `layers` layout is left alone: DeepLab's 2015 Caffe numbered its `hole` setting
  // differently from the later Caffe's `dilation`, so a number there would be ambiguous.
  int dilation = 0;
};

struct CaffeNet {
  std::string name;
  std::vector<CaffeLayer> layers;
};

enum class CaffeLayout { v1_layers, v2_layer };

// A file that is not a caffemodel, or a truncated one, is an error naming the file and, where it
// can, the layer.
CaffeNet read_caffemodel(const std::string& path);
// Written atomically. V1 writes num/channels/height/width (shapes padded to 4-D on the left).
void write_caffemodel(const std::string& path, const CaffeNet& net, CaffeLayout layout = CaffeLayout::v2_layer);

}  // namespace deeplab::caffe
