// Between Caffe files and deeplab models.
//
// Import maps Caffe layer names to ours: conv1_1 ... conv5_3, fc6, fc7 and fc8 (a release's
// suffixed classifier, like fc8_voc12, counts as fc8 when it is the only fc8_* layer). Blob 0
// is the weight, blob 1 the bias. Inner-product weights (O x I, or V1's 1 x 1 x O x I) fill a
// 1x1 convolution of the same sizes. Every shape is checked.
//
// From ImageNet VGG-16 (`from_vgg16`), as the paper initialised DeepLab-LargeFOV:
//   conv1_1 ... conv5_3   copied
//   fc6  VGG's 4096 x 25088 inner product is a 4096 x 512 x 7 x 7 convolution; keep every 4th
//        filter (0, 4, ..., 4092) and the taps 0, 3, 6 in each direction: 1024 x 512 x 3 x 3
//        (the DeepLab model keeps all 4096 filters and taps 0, 2, 4, 6: 4096 x 512 x 4 x 4)
//   fc7  4096 x 4096: every 4th output and every 4th input, 1024 x 1024 (DeepLab: all)
//   fc8  VGG's 1000-class classifier is dropped; fc8 keeps its fresh initialisation
// A narrower model (width w) takes every (VGG filters / its filters)-th filter likewise.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "caffe/caffemodel.h"
#include "models/deeplab.h"

namespace deeplab::caffe {

struct ImportOptions {
  bool strict = false;                // Caffe layers with weights that the model does not use are errors
  std::set<std::string> allow_missing;  // layers (e.g. "fc8") that may be missing or misshaped: kept as initialised
};

struct ImportReport {
  std::vector<std::string> loaded;   // our layer names filled from the file
  std::vector<std::string> kept;     // allowed missing or misshaped: left as initialised, with the reason
  std::vector<std::string> unused;   // Caffe layers with weights the model has no place for
};

ImportReport import_weights(const CaffeNet& net, Model& model, const ImportOptions& options, const std::string& path);
ImportReport import_vgg16(const CaffeNet& net, Model& model, const std::string& path);

// Every parameterised layer of the model, weights then bias, in forward order.
CaffeNet export_weights(Model& model);
// A deploy prototxt of the model's test-phase network for an N x 3 x H x W input (OpenCV's dnn
// module and Caffe read it with the exported weights).
std::string deploy_prototxt(const Model& model, int64_t height, int64_t width);

}  // namespace deeplab::caffe
