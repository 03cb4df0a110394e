// DeepLab from an ImageNet VGG-16 classifier, the paper's way (Chen et al. 2015, Sec. 4.1):
//   conv1_1 ... conv5_3   copied (the shapes must agree)
//   fc6  VGG's inner product over pool5's T x T grid (7 x 7 at 224 pixels) is a T x T convolution;
//        keep every (VGG filters / model filters)-th filter and, in each direction, the taps
//        nearest to evenly spaced ones: 0, 3, 6 of 7 for LargeFOV's 3 x 3 (1024 x 512 x 3 x 3 from
//        4096 x 512 x 7 x 7), 0, 2, 4, 6 for DeepLab's 4 x 4 (all 4096 filters)
//   fc7  every (VGG filters / model filters)-th output and input (1024 x 1024 from 4096 x 4096)
//   fc8  VGG's classifier of ImageNet classes is dropped: fc8 keeps its fresh initialisation, as
//        do the multi-scale heads
// One implementation for both ways in: `import --from-vgg16` (the released caffemodel) and
// `train --init` with a vgg16 model file (what `deeplab pretrain` writes).
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/deeplab.h"

namespace deeplab {

// A layer of the classifier: weights (any shape holding O x I x T x T values in that order:
// Caffe's O x (I*T*T) inner product, or our O x I x T x T convolution) and the bias.
struct VggLayer {
  std::string name;
  Shape weight_shape;
  const float* weight = nullptr;
  int64_t weight_size = 0;
  const float* bias = nullptr;
  int64_t bias_size = 0;
};

struct WeightsReport {
  std::vector<std::string> loaded;  // our layer names filled from the file
  std::vector<std::string> kept;    // left as initialised, with the reason
  std::vector<std::string> unused;  // source layers with weights the model has no place for
  std::vector<std::string> warnings;  // a conversion that runs but is unlikely to be meant
};

// Fills `model` (largefov, deeplab or msc-largefov) from the classifier's layers; `path` names
// the source in errors.
WeightsReport init_from_vgg16(const std::vector<VggLayer>& vgg, Model& model, const std::string& path);

// A vgg16 model's parameters as VggLayers (they point into the model).
std::vector<VggLayer> vgg_layers(Model& vgg);

// `train --init FILE` where FILE holds a vgg16 classifier.
WeightsReport init_from_vgg16_file(const std::string& path, Model& model);

}  // namespace deeplab
