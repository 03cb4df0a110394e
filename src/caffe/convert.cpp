#include "caffe/convert.h"

#include <cmath>
#include <map>
#include <sstream>

#include "core/error.h"
#include "nn/conv.h"
#include "nn/pool.h"

namespace deeplab::caffe {

namespace {

std::string names_of(const CaffeNet& net) {
  std::string s;
  for (const CaffeLayer& l : net.layers)
    if (!l.blobs.empty()) s += (s.empty() ? "" : ", ") + l.name;
  return s.empty() ? "none" : s;
}

// The Caffe layer that fills our layer `name`: the same name, or for fc8 a lone fc8_* layer.
const CaffeLayer* find_layer(const CaffeNet& net, const std::string& name, const std::string& path) {
  for (const CaffeLayer& l : net.layers)
    if (l.name == name && !l.blobs.empty()) return &l;
  if (name != "fc8") return nullptr;
  const CaffeLayer* found = nullptr;
  for (const CaffeLayer& l : net.layers)
    if (l.name.rfind("fc8_", 0) == 0 && !l.blobs.empty()) {
      if (found) fail(path, ": several classifier layers (", found->name, ", ", l.name, "): which is fc8 is ambiguous");
      found = &l;
    }
  return found;
}

void copy_into(nn::Param& p, const CaffeBlob& b) {
  std::copy(b.data.begin(), b.data.end(), p.value.data());
  ++p.version;
}

// Why a Caffe layer does not fit ours, or "" when it does.
std::string mismatch(const CaffeLayer& src, const LayerParams& dst) {
  const size_t want = dst.bias ? 2 : 1;
  if (src.blobs.size() < want) return "has " + std::to_string(src.blobs.size()) + " blobs, needs " + std::to_string(want);
  if (squeezed(src.blobs[0].shape) != squeezed(dst.weight->value.shape()))
    return "weights are " + shape_str(src.blobs[0].shape) + ", the model's are " + shape_str(dst.weight->value.shape());
  if (dst.bias && squeezed(src.blobs[1].shape) != squeezed(dst.bias->value.shape()))
    return "bias is " + shape_str(src.blobs[1].shape) + ", the model's is " + shape_str(dst.bias->value.shape());
  return "";
}

void report_unused(const CaffeNet& net, const std::vector<std::string>& used, ImportReport& report) {
  for (const CaffeLayer& l : net.layers) {
    if (l.blobs.empty()) continue;
    bool taken = false;
    for (const std::string& u : used) taken |= u == l.name;
    if (!taken) report.unused.push_back(l.name);
  }
}

}  // namespace

ImportReport import_weights(const CaffeNet& net, Model& model, const ImportOptions& o, const std::string& path) {
  ImportReport report;
  std::vector<std::string> used;
  for (const LayerParams& layer : parameter_layers(model)) {
    const CaffeLayer* src = find_layer(net, layer.name, path);
    const bool may_skip = o.allow_missing.count(layer.name) > 0;
    if (!src) {
      if (may_skip) {
        report.kept.push_back(layer.name + " (not in the file)");
        continue;
      }
      fail(path, ": layer '", layer.name, "' is missing (layers with weights in the file: ", names_of(net), ")");
    }
    used.push_back(src->name);
    const std::string why = mismatch(*src, layer);
    if (!why.empty()) {
      if (may_skip) {
        report.kept.push_back(layer.name + " (" + src->name + " " + why + ")");
        continue;
      }
      fail(path, ": layer '", src->name, "' ", why);
    }
    copy_into(*layer.weight, src->blobs[0]);
    if (layer.bias) copy_into(*layer.bias, src->blobs[1]);
    report.loaded.push_back(layer.name);
  }
  report_unused(net, used, report);
  if (o.strict && !report.unused.empty()) {
    std::string list;
    for (const std::string& u : report.unused) list += (list.empty() ? "" : ", ") + u;
    fail(path, ": layers the model has no place for: ", list, " (drop --strict to ignore them)");
  }
  return report;
}

ImportReport import_vgg16(const CaffeNet& net, Model& model, const std::string& path) {
  std::vector<VggLayer> layers;
  for (const CaffeLayer& l : net.layers) {
    if (l.blobs.empty()) continue;
    VggLayer v{l.name, l.blobs[0].shape, l.blobs[0].data.data(), int64_t(l.blobs[0].data.size())};
    if (l.blobs.size() > 1) v.bias = l.blobs[1].data.data(), v.bias_size = int64_t(l.blobs[1].data.size());
    layers.push_back(v);
  }
  return init_from_vgg16(layers, model, path);
}

ModelSpec with_recorded_fc6_dilation(const CaffeNet& net, ModelSpec spec, const std::string& path) {
  if (!has_fc6_dilation(spec.kind)) return spec;
  for (const CaffeLayer& l : net.layers) {
    if (l.name != "fc6" || l.dilation == 0) continue;
    if (spec.fc6_dilation == 0) spec.fc6_dilation = l.dilation;
    else if (spec.fc6_dilation != l.dilation)
      fail(path, ": fc6 has dilation ", l.dilation, " in the file, but --model.fc6_dilation asks for ", spec.fc6_dilation);
  }
  return spec;
}

CaffeNet export_weights(Model& model) {
  CaffeNet net;
  net.name = std::string("deeplab-") + model_kind_name(model.spec().kind);
  std::map<std::string, int> dilation;
  for (const auto& node : model.net().nodes())
    if (const auto* c = nn::layer_as<nn::Convolution>(*node.layer)) dilation[c->name()] = c->spec().dilation;
  for (const LayerParams& layer : parameter_layers(model)) {
    CaffeLayer l{layer.name, "Convolution", {}};
    if (dilation.count(layer.name) && dilation[layer.name] > 1) l.dilation = dilation[layer.name];
    for (nn::Param* p : {layer.weight, layer.bias}) {
      if (!p) continue;
      l.blobs.push_back({p->value.shape(), std::vector<float>(p->value.data(), p->value.data() + p->value.numel())});
    }
    net.layers.push_back(std::move(l));
  }
  return net;
}

std::string deploy_prototxt(const Model& model, int64_t height, int64_t width) {
  const nn::Net& net = model.net();
  if (net.phase() != nn::Phase::test) fail("deploy prototxt: needs a test-phase model");
  std::ostringstream p;
  p << "name: \"deeplab-" << model_kind_name(model.spec().kind) << "\"\n"
    << "input: \"data\"\ninput_shape { dim: 1 dim: 3 dim: " << height << " dim: " << width << " }\n";
  for (const auto& node : net.nodes()) {
    const nn::Layer& layer = *node.layer;
    const std::string top = net.blob(node.outputs.at(0)).name;
    p << "layer {\n  name: \"" << layer.name() << "\"\n";
    for (int b : node.inputs) p << "  bottom: \"" << net.blob(b).name << "\"\n";
    p << "  top: \"" << top << "\"\n";
    if (const auto* c = nn::layer_as<nn::Convolution>(layer)) {
      const nn::ConvSpec& s = c->spec();
      p << "  type: \"Convolution\"\n  convolution_param {\n    num_output: " << s.out_channels
        << "\n    kernel_size: " << s.kernel << "\n    stride: " << s.stride << "\n    pad: " << s.pad
        << "\n    dilation: " << s.dilation << "\n    bias_term: " << (s.bias ? "true" : "false") << "\n  }\n}\n";
      if (s.relu)
        p << "layer {\n  name: \"" << layer.name() << "_relu\"\n  type: \"ReLU\"\n  bottom: \"" << top << "\"\n  top: \""
          << top << "\"\n}\n";
    } else if (const auto* pool = nn::layer_as<nn::Pooling>(layer)) {
      const nn::PoolSpec& s = pool->spec();
      p << "  type: \"Pooling\"\n  pooling_param {\n    pool: " << (s.kind == nn::PoolKind::max ? "MAX" : "AVE")
        << "\n    kernel_size: " << s.kernel << "\n    stride: " << s.stride << "\n    pad: " << s.pad << "\n  }\n}\n";
    } else if (layer.kind() == nn::OpKind::concat) {
      p << "  type: \"Concat\"\n  concat_param { axis: 1 }\n}\n";
    } else {
      fail("deploy prototxt: no Caffe equivalent written for layer '", layer.name(), "' (", layer.type(), ")");
    }
  }
  return p.str();
}

}  // namespace deeplab::caffe
