#include "models/deeplab.h"

#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "nn/concat.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/pool.h"

namespace deeplab {

using nn::ConvSpec;
using nn::PoolKind;
using nn::PoolSpec;

ModelKind parse_model_kind(const std::string& name) {
  if (name == "largefov") return ModelKind::largefov;
  if (name == "deeplab") return ModelKind::deeplab;
  if (name == "msc-largefov") return ModelKind::msc_largefov;
  if (name == "vgg16") return ModelKind::vgg16;
  fail("unknown model kind '", name, "' (expected largefov, deeplab, msc-largefov or vgg16)");
}

const char* model_kind_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::largefov: return "largefov";
    case ModelKind::deeplab: return "deeplab";
    case ModelKind::msc_largefov: return "msc-largefov";
    case ModelKind::vgg16: return "vgg16";
  }
  return "?";
}

ConvPolicy parse_conv_policy(const std::string& name) {
  if (name == "direct") return ConvPolicy::direct;
  if (name == "auto") return ConvPolicy::automatic;
  if (name == "winograd") return ConvPolicy::winograd;
  fail("unknown convolution policy '", name, "' (expected direct, auto or winograd)");
}

const char* conv_policy_name(ConvPolicy policy) {
  switch (policy) {
    case ConvPolicy::direct: return "direct";
    case ConvPolicy::automatic: return "auto";
    case ConvPolicy::winograd: return "winograd";
  }
  return "auto";
}

int scaled_channels(int channels, double width) {
  return std::max(1, int(std::lround(channels * width)));
}

namespace {

// Builds the layer graph; remembers the blobs the multi-scale heads read.
class Builder {
 public:
  Builder(nn::Net& net, const ModelSpec& spec, uint64_t seed) : net_(net), spec_(spec), seed_(seed) {}

  int conv(const std::string& name, int x, int in, int out, int kernel, int pad, int dilation, bool relu,
           int stride = 1) {
    ConvSpec s{in, out, kernel, stride, pad, dilation, true, relu};
    const bool winograd = spec_.conv_policy == ConvPolicy::winograd ||
                          (spec_.conv_policy == ConvPolicy::automatic && name.rfind("conv3_", 0) == 0);
    auto algorithm = winograd ? nn::ConvAlgorithm::winograd : nn::ConvAlgorithm::direct;
    return net_.add1(std::make_unique<nn::Convolution>(name, s, algorithm), {x});
  }
  int pool(const std::string& name, int x, PoolKind kind, int stride) {
    return net_.add1(std::make_unique<nn::Pooling>(name, PoolSpec{kind, 3, stride, 1}), {x});
  }
  int vgg_pool(const std::string& name, int x) {  // VGG-16's own: 2x2, stride 2
    return net_.add1(std::make_unique<nn::Pooling>(name, PoolSpec{PoolKind::max, 2, 2, 0}), {x});
  }
  int dropout(const std::string& name, int x) {
    if (net_.phase() == nn::Phase::test) return x;  // identity at test time: leave it out
    return net_.add1(std::make_unique<nn::Dropout>(name, spec_.dropout, seed_ + dropouts_++ * 7919), {x});
  }
  int ch(int c) const { return scaled_channels(c, spec_.width); }

 private:
  nn::Net& net_;
  const ModelSpec& spec_;
  uint64_t seed_;
  int dropouts_ = 0;
};

constexpr int kVggWidths[5] = {64, 128, 256, 512, 512};
constexpr int kVggConvs[5] = {2, 2, 3, 3, 3};

// The released VGG-16 classifier: the same 13 convolutions, then fc6 as a convolution whose
// kernel covers pool5 (7x7 at 224), fc7 and fc8 as 1x1 convolutions.
void build_vgg16(Builder& b, nn::Net& net, const ModelSpec& spec) {
  int x = net.add_input("data"), in = 3;
  for (int block = 1; block <= 5; ++block) {
    const int out = b.ch(kVggWidths[block - 1]);
    for (int i = 1; i <= kVggConvs[block - 1]; ++i) {
      x = b.conv("conv" + std::to_string(block) + "_" + std::to_string(i), x, in, out, 3, 1, 1, true);
      in = out;
    }
    x = b.vgg_pool("pool" + std::to_string(block), x);
  }
  const int fc = b.ch(4096);
  x = b.conv("fc6", x, in, fc, spec.input_size / 32, 0, 1, true);
  x = b.dropout("drop6", x);
  x = b.conv("fc7", x, fc, fc, 1, 0, 1, true);
  x = b.dropout("drop7", x);
  net.mark_output(b.conv("fc8", x, fc, spec.num_classes, 1, 0, 1, false));
}

void build(nn::Net& net, const ModelSpec& spec, uint64_t seed) {
  Builder b(net, spec, seed);
  if (spec.kind == ModelKind::vgg16) return build_vgg16(b, net, spec);
  const int data = net.add_input("data");
  // VGG-16 trunk. pool1..3 halve the resolution; pool4 and pool5 keep it (stride 1), and
  // conv5 is dilated by 2 to see what it would have seen at stride 16: output stride 8.
  int x = data, in = 3;
  std::vector<int> pools;  // pool1..pool4 for the multi-scale heads
  for (int block = 1; block <= 5; ++block) {
    const int out = b.ch(kVggWidths[block - 1]), dilation = block == 5 ? 2 : 1;
    for (int i = 1; i <= kVggConvs[block - 1]; ++i) {
      x = b.conv("conv" + std::to_string(block) + "_" + std::to_string(i), x, in, out, 3, dilation, dilation, true);
      in = out;
    }
    x = b.pool("pool" + std::to_string(block), x, PoolKind::max, block <= 3 ? 2 : 1);
    if (block <= 4) pools.push_back(x);
  }
  int fc;
  if (spec.kind == ModelKind::deeplab) {
    fc = b.ch(4096);
    x = b.conv("fc6", x, in, fc, 4, 6, 4, true);  // 4x4, dilation 4: extent 13, pad 6
  } else {
    fc = b.ch(1024);
    x = b.pool("pool5a", x, PoolKind::avg, 1);
    const int dilation = fc6_dilation(spec);  // the paper's 12: the large field of view
    x = b.conv("fc6", x, in, fc, 3, dilation, dilation, true);
  }
  x = b.dropout("drop6", x);
  x = b.conv("fc7", x, fc, fc, 1, 0, 1, true);
  x = b.dropout("drop7", x);
  int classifier_in = fc;
  if (spec.kind == ModelKind::msc_largefov) {
    // Heads on the image (stride 8 conv) and on pool1..pool4 (strides 4, 2, 1, 1) all land on
    // the stride-8 grid of fc7.
    const int head = b.ch(128);
    const int sources[5] = {data, pools[0], pools[1], pools[2], pools[3]};
    const int source_ch[5] = {3, b.ch(64), b.ch(128), b.ch(256), b.ch(512)};
    const int strides[5] = {8, 4, 2, 1, 1};
    const char* names[5] = {"data", "pool1", "pool2", "pool3", "pool4"};
    std::vector<int> parts = {x};
    for (int k = 0; k < 5; ++k) {
      std::string n = names[k];
      int h = b.conv(n + "_ms1", sources[k], source_ch[k], head, 3, 1, 1, true, strides[k]);
      h = b.conv(n + "_ms2", h, head, head, 1, 0, 1, true);
      parts.push_back(b.dropout(n + "_ms_drop", h));
      classifier_in += head;
    }
    x = net.add1(std::make_unique<nn::Concat>("fc7_ms_concat"), parts);
  }
  x = b.conv("fc8", x, classifier_in, spec.num_classes, 1, 0, 1, false);
  net.mark_output(x);
}

// Rough standard deviation of mean-subtracted 8-bit pixels in photographs.
constexpr float kPixelStd = 60.0f;

void initialise(nn::Net& net, const ModelSpec& spec, uint64_t seed) {
  Rng rng(seed ^ 0x5eedull);
  for (nn::Param* p : net.params()) {
    if (p->value.ndim() != 4) continue;  // biases stay zero
    const Shape& s = p->value.shape();
    const bool classifier = p->name.rfind("fc8", 0) == 0;
    // He's rule assumes unit-variance inputs; layers reading the image see mean-subtracted
    // pixels whose spread is about kPixelStd, so they start that much smaller.
    const bool reads_image = p->name == "conv1_1/weight" || p->name == "data_ms1/weight";
    const float std = classifier ? 0.01f : std::sqrt(2.0f / float(s[1] * s[2] * s[3])) / (reads_image ? kPixelStd : 1.0f);
    for (int64_t i = 0; i < p->value.numel(); ++i) p->value.data()[i] = std * rng.normal();
    ++p->version;
  }
  // Caffe's classifier multipliers when fine-tuning a segmentation network: fc8 learns 10x
  // (weights) and 20x (biases) faster. A classifier trained from scratch learns evenly.
  if (is_classifier(spec.kind)) return;
  for (nn::Param* p : net.params())
    if (p->name.rfind("fc8", 0) == 0) p->lr_mult *= 10.0f;
}

}  // namespace

int fc6_dilation(const ModelSpec& spec) {
  if (spec.kind == ModelKind::deeplab) return 4;
  if (spec.kind == ModelKind::vgg16) return 1;
  return spec.fc6_dilation > 0 ? spec.fc6_dilation : 12;
}

void validate(const ModelSpec& spec) {
  // Label maps are bytes (255: ignore); a classifier may have ImageNet's 1000 classes.
  const int max_classes = is_classifier(spec.kind) ? 1000 : 255;
  if (spec.num_classes < 1 || spec.num_classes > max_classes)
    fail("model: num_classes ", spec.num_classes, " outside 1..", max_classes);
  if (!(spec.width > 0 && spec.width <= 4)) fail("model: width ", spec.width, " outside (0, 4]");
  if (spec.kind == ModelKind::vgg16 && (spec.input_size < 32 || spec.input_size % 32 || spec.input_size > 1024))
    fail("model: a vgg16 classifier needs an input size that is a multiple of 32 (32..1024), not ", spec.input_size);
}

Model::Model(const ModelSpec& spec, nn::Phase phase, uint64_t seed) : spec_(spec), net_(phase) {
  validate(spec);
  if (spec.kind != ModelKind::vgg16) spec_.input_size = 0;
  build(net_, spec_, seed);
  initialise(net_, spec_, seed);
}

Tensor Model::forward(const Tensor& image_bgr) {
  if (image_bgr.ndim() != 4 || image_bgr.dim(1) != 3)
    fail("model: expects an N x 3 x H x W image batch, got ", shape_str(image_bgr.shape()));
  net_.forward({image_bgr});
  return net_.output();
}

void Model::backward(const Tensor& score_grad) { net_.backward({score_grad}); }

int Model::output_stride() const { return net_.output_grid().stride; }
int Model::receptive_field() const { return net_.output_grid().kernel; }

int64_t Model::param_count() {
  int64_t n = 0;
  for (nn::Param* p : net_.params()) n += p->value.numel();
  return n;
}

double Model::gflops(int64_t height, int64_t width, int64_t batch) {
  net_.reshape({{batch, 3, height, width}});
  return net_.flops() / 1e9;
}

void Model::set_dropout_keys(const std::vector<uint64_t>& keys) {
  for (const auto& node : net_.nodes())
    if (auto* d = nn::layer_as<nn::Dropout>(*node.layer)) d->set_sample_keys(keys);
}

std::vector<LayerParams> parameter_layers(Model& model) {
  std::vector<LayerParams> layers;
  for (nn::Param* p : model.params()) {
    const size_t slash = p->name.find('/');
    const std::string layer = p->name.substr(0, slash), role = p->name.substr(slash + 1);
    if (layers.empty() || layers.back().name != layer) layers.push_back({layer});
    (role == "bias" ? layers.back().bias : layers.back().weight) = p;
  }
  return layers;
}

void Model::copy_params_from(Model& other) {
  for (nn::Param* p : net_.params()) {
    nn::Param* q = other.net().find_param(p->name);
    if (!q || q->value.shape() != p->value.shape()) fail("model: no matching parameter for ", p->name);
    p->value.copy_from(q->value);
    ++p->version;
  }
}

}  // namespace deeplab
