// Between Caffe files and deeplab models.
//
// Import maps Caffe layer names to ours: conv1_1 ... conv5_3, fc6, fc7 and fc8 (a release's
// suffixed classifier, like fc8_voc12, counts as fc8 when it is the only fc8_* layer). Blob 0
// is the weight, blob 1 the bias. Inner-product weights (O x I, or V1's 1 x 1 x O x I) fill a
// 1x1 convolution of the same sizes. Every shape is checked.
//
// From ImageNet VGG-16 (`import_vgg16`): the paper's initialisation of DeepLab, by the rule in
// models/vgg16_conversion.h (fc6 and fc7 subsampled, fc8 fresh).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "caffe/caffemodel.h"
#include "models/deeplab.h"
#include "models/vgg16_conversion.h"

namespace deeplab::caffe {

struct ImportOptions {
  bool strict = false;                // Caffe layers with weights that the model does not use are errors
  std::set<std::string> allow_missing;  // layers (e.g. "fc8") that may be missing or misshaped: kept as initialised
};

using ImportReport = WeightsReport;

ImportReport import_weights(const CaffeNet& net, Model& model, const ImportOptions& options, const std::string& path);
ImportReport import_vgg16(const CaffeNet& net, Model& model, const std::string& path);

// The spec with fc6's dilation as the file records it (export-caffe, and later Caffes, write it in
// the `layer` layout): taken where the spec leaves it open (0), an error naming the file where
// the spec asks for another. A file that records none leaves the spec as it is.
ModelSpec with_recorded_fc6_dilation(const CaffeNet& net, ModelSpec spec, const std::string& path);

// Every parameterised layer of the model, weights then bias, in forward order, with each
// convolution's dilation (where it is not 1).
CaffeNet export_weights(Model& model);
// A deploy prototxt of the model's test-phase network for an N x 3 x H x W input (OpenCV's dnn
// module and Caffe read it with the exported weights).
std::string deploy_prototxt(const Model& model, int64_t height, int64_t width);

}  // namespace deeplab::caffe
