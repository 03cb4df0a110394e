// The DeepLab networks of the paper, built from nn layers with the Caffe release's parameter
// names (conv1_1 ... conv5_3, fc6, fc7, fc8):
//   largefov      VGG-16, atrous conv5 (dilation 2), pool5a, fc6 3x3 dilation 12 (1024), fc7 1024
//   deeplab       the same trunk without pool5a, fc6 4x4 dilation 4 (4096), fc7 4096
//   msc-largefov  largefov plus five 2-layer heads (on the image and pool1..pool4, 128 + 128
//                 channels each, at stride 8), concatenated with fc7 before fc8
// and the ImageNet classifier they start from:
//   vgg16         the released VGG-16 for a square input of `input_size` (a multiple of 32): five
//                 2x2 stride-2 max pools, fc6 an inner product over pool5's (input_size / 32)^2
//                 grid (4096), fc7 4096, fc8 the classes; one score vector per image
// A width multiplier scales every channel count, for small networks of the same shape.
#pragma once
#include <memory>
#include <string>

#include "core/tensor.h"
#include "nn/conv.h"
#include "nn/net.h"

namespace deeplab {

enum class ModelKind { largefov, deeplab, msc_largefov, vgg16 };
ModelKind parse_model_kind(const std::string& name);  // "largefov", "deeplab", "msc-largefov", "vgg16"
const char* model_kind_name(ModelKind kind);

// Which convolutions use Winograd. Measured on a 2-core Zen 4 (deeplab bench forward, 321x321):
// Winograd runs conv3_x and conv4_x 2.7x faster than direct, ties on conv2_x, and at full
// resolution (conv1_2) its transform buffers take ~120 MB; conv4's transformed weights would
// take 95 MB. So `automatic` uses it on conv3_x only; `winograd` on every layer it applies to.
enum class ConvPolicy { direct, automatic, winograd };
ConvPolicy parse_conv_policy(const std::string& name);  // "direct", "auto", "winograd"
const char* conv_policy_name(ConvPolicy policy);

struct ModelSpec {
  ModelKind kind = ModelKind::largefov;
  int num_classes = 21;
  double width = 1.0;  // channel multiplier; 1 is the paper's network
  float dropout = 0.5f;
  // Not stored in model files: how this process computes, not what the model is.
  ConvPolicy conv_policy = ConvPolicy::automatic;
  int input_size = 0;  // vgg16 only: the square input its fc6 covers (224 for the released model)
  // largefov and msc-largefov: fc6's dilation, 0 for the paper's 12. The paper's 12 keeps the
  // taps where VGG-16's were: 3 of its 7 x 7 grid, every 3rd cell at stride 32 = 96 pixels = 12
  // at stride 8. A classifier whose fc6 grid is 3 x 3 (96-pixel inputs) keeps every cell: 4.
  int fc6_dilation = 0;
};

// Fails naming the setting when the spec cannot be built: class count, width, a classifier's input
// size. Model's constructor calls it, and the jobs before they accept a command line.
void validate(const ModelSpec& spec);

// fc6's dilation in a model of this spec (the kind's own when the spec leaves it at 0); only
// largefov and msc-largefov let the spec choose it.
int fc6_dilation(const ModelSpec& spec);
inline bool has_fc6_dilation(ModelKind kind) { return kind == ModelKind::largefov || kind == ModelKind::msc_largefov; }
inline constexpr int kMaxFc6Dilation = 64;

// Multi-scale models concatenate branches whose sizes agree only for inputs of 8k + 1 pixels:
// the side an image of this side is padded to for the network (Scorer pads it).
inline int64_t network_side(ModelKind kind, int64_t side) {
  return kind == ModelKind::msc_largefov ? (side + 6) / 8 * 8 + 1 : side;
}

// A classifier (one score vector per image) rather than a segmentation network.
inline bool is_classifier(ModelKind kind) { return kind == ModelKind::vgg16; }

// VGG-16's ImageNet mean in the network's BGR channel order (Caffe convention).
constexpr float kVggMeanBgr[3] = {104.008f, 116.669f, 122.675f};

class Model {
 public:
  // Builds the network for a phase, with weights initialised from seed (He for convolutions,
  // Gaussian 0.01 for the classifier, zero biases).
  Model(const ModelSpec& spec, nn::Phase phase, uint64_t seed = 1);

  const ModelSpec& spec() const { return spec_; }
  nn::Net& net() { return net_; }
  const nn::Net& net() const { return net_; }

  // Mean-subtracted BGR batch (N x 3 x H x W) -> class scores (N x classes x h x w), h = ceil((H - 1) / 8) + 1
  Tensor forward(const Tensor& image_bgr);
  // Gradient of the scores -> parameter gradients (train phase).
  void backward(const Tensor& score_grad);

  int output_stride() const;
  int receptive_field() const;
  int64_t param_count();
  double gflops(int64_t height, int64_t width, int64_t batch = 1);
  std::vector<nn::Param*> params() { return net_.params(); }
  // Dropout masks per image drawn from these keys (one per image of the next batches), so training
  // does not depend on the split of a batch across ranks; see nn::Dropout.
  void set_dropout_keys(const std::vector<uint64_t>& keys);
  // Copies parameter values from another model of the same spec (any phase).
  void copy_params_from(Model& other);

 private:
  ModelSpec spec_;
  nn::Net net_;
};

// A layer's parameters: "fc6/weight" and "fc6/bias" are layer "fc6".
struct LayerParams {
  std::string name;
  nn::Param* weight = nullptr;
  nn::Param* bias = nullptr;
};
// The model's parameterised layers in forward order.
std::vector<LayerParams> parameter_layers(Model& model);

// Channel count after the width multiplier (at least 1).
int scaled_channels(int channels, double width);

}  // namespace deeplab
