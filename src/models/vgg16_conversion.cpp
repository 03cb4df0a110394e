#include "models/vgg16_conversion.h"

#include <cmath>

#include "core/error.h"
#include "models/model_file.h"

namespace deeplab {

namespace {

const VggLayer* find(const std::vector<VggLayer>& vgg, const std::string& name) {
  for (const VggLayer& l : vgg)
    if (l.name == name) return &l;
  return nullptr;
}

std::string names_of(const std::vector<VggLayer>& vgg) {
  std::string s;
  for (const VggLayer& l : vgg) s += (s.empty() ? "" : ", ") + l.name;
  return s.empty() ? "none" : s;
}

void copy_trunk(const VggLayer& src, const LayerParams& dst, const std::string& path) {
  const Tensor &w = dst.weight->value, &b = dst.bias->value;
  if (src.weight_size != w.numel() || src.bias_size != b.numel() || squeezed(src.weight_shape) != squeezed(w.shape()))
    fail(path, ": layer '", src.name, "' has weights ", shape_str(src.weight_shape), " (", src.weight_size,
         " values) and ", src.bias_size, " biases; the model's are ", shape_str(w.shape()), " and ", b.numel(),
         " (is the width the same?)");
  std::copy(src.weight, src.weight + src.weight_size, dst.weight->value.data());
  std::copy(src.bias, src.bias + src.bias_size, dst.bias->value.data());
}

// The paper's dilation follows from the taps it keeps: they stay where VGG-16's were, 32 pixels
// a cell of pool5's grid, at the model's stride 8 (3 of 7 taps, every 3rd cell: 96 pixels,
// dilation 12). Says so when the model's dilation places them elsewhere.
void check_fc6_geometry(int64_t taps, int64_t k, const ModelSpec& spec, WeightsReport& report) {
  // (A classifier whose pool5 grid is a single cell has no geometry to keep.)
  if (!has_fc6_dilation(spec.kind) || k < 2 || taps < 2 || (taps - 1) % (k - 1)) return;
  const int64_t step = (taps - 1) / (k - 1), keeps = 4 * step, dilation = fc6_dilation(spec);
  if (dilation == keeps) return;
  report.warnings.push_back("fc6: the classifier's kept taps are " + std::to_string(32 * step) +
                            " pixels apart, the model's dilation " + std::to_string(dilation) + " puts them " +
                            std::to_string(8 * dilation) + " pixels apart; model.fc6_dilation = " +
                            std::to_string(keeps) + " keeps the classifier's geometry");
}

// fc6 / fc7: every filter_step-th filter, every input_step-th input, and k of the T taps.
std::string subsample(const VggLayer& src, const LayerParams& dst, const std::string& path, const ModelSpec& spec,
                      WeightsReport& report) {
  const Shape& ws = dst.weight->value.shape();  // O x I x k x k
  const int64_t out = ws[0], in = ws[1], k = ws[2];
  const int64_t vgg_out = src.bias_size;
  if (vgg_out < out || vgg_out % out)
    fail(path, ": layer '", src.name, "' has ", vgg_out, " filters, not a multiple of the model's ", out);
  const int64_t per_filter = src.weight_size / vgg_out;
  int64_t taps = 1, vgg_in = per_filter;
  if (src.name == "fc6") {
    // fc6 reads pool5, whose channels the trunk fixes: the rest of each filter is a T x T grid.
    taps = int64_t(std::lround(std::sqrt(double(per_filter) / double(in))));
    vgg_in = in;
  }
  if (per_filter * vgg_out != src.weight_size || taps < 1 || vgg_in * taps * taps != per_filter || vgg_in % in)
    fail(path, ": layer '", src.name, "' weights ", shape_str(src.weight_shape), " do not subsample to ", shape_str(ws));
  const int64_t filter_step = vgg_out / out, input_step = vgg_in / in;
  std::vector<int64_t> tap(size_t(k), 0);
  for (int64_t t = 0; t < k; ++t) tap[size_t(t)] = k > 1 ? int64_t(std::lround(double(t) * double(taps - 1) / double(k - 1))) : 0;
  float* w = dst.weight->value.data();
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t y = 0; y < k; ++y)
        for (int64_t x = 0; x < k; ++x) {
          const int64_t from = (((o * filter_step) * vgg_in + i * input_step) * taps + tap[size_t(y)]) * taps + tap[size_t(x)];
          w[((o * in + i) * k + y) * k + x] = src.weight[from];
        }
  for (int64_t o = 0; o < out; ++o) dst.bias->value.data()[o] = src.bias[o * filter_step];
  if (src.name == "fc6") check_fc6_geometry(taps, k, spec, report);
  std::string how = "every " + std::to_string(filter_step) + "th filter";
  if (taps > 1) how += ", taps of " + std::to_string(taps) + "x" + std::to_string(taps) + " subsampled to " + std::to_string(k) + "x" + std::to_string(k);
  return how;
}

}  // namespace

WeightsReport init_from_vgg16(const std::vector<VggLayer>& vgg, Model& model, const std::string& path) {
  if (is_classifier(model.spec().kind))
    fail(path, ": converts VGG-16 into a segmentation network; the model to fill is a ",
         model_kind_name(model.spec().kind), " classifier");
  WeightsReport report;
  std::vector<std::string> used;
  for (const LayerParams& layer : parameter_layers(model)) {
    const bool trunk = layer.name.rfind("conv", 0) == 0;
    if (!trunk && layer.name != "fc6" && layer.name != "fc7") {
      report.kept.push_back(layer.name + " (freshly initialised)");
      continue;
    }
    const VggLayer* src = find(vgg, layer.name);
    if (!src) fail(path, ": layer '", layer.name, "' is missing: not a VGG-16 model (layers: ", names_of(vgg), ")");
    if (!src->bias) fail(path, ": layer '", src->name, "' has no bias");
    used.push_back(src->name);
    if (trunk) {
      copy_trunk(*src, layer, path);
      report.loaded.push_back(layer.name);
    } else {
      report.loaded.push_back(layer.name + " (" + subsample(*src, layer, path, model.spec(), report) + ")");
    }
    ++layer.weight->version;
    ++layer.bias->version;
  }
  for (const VggLayer& l : vgg) {
    bool taken = false;
    for (const std::string& u : used) taken |= u == l.name;
    if (!taken) report.unused.push_back(l.name);
  }
  return report;
}

std::vector<VggLayer> vgg_layers(Model& vgg) {
  std::vector<VggLayer> layers;
  for (const LayerParams& t : parameter_layers(vgg)) {
    VggLayer l{t.name, t.weight->value.shape(), t.weight->value.data(), t.weight->value.numel()};
    if (t.bias) l.bias = t.bias->value.data(), l.bias_size = t.bias->value.numel();
    layers.push_back(l);
  }
  return layers;
}

WeightsReport init_from_vgg16_file(const std::string& path, Model& model) {
  std::unique_ptr<Model> vgg = load_model(path, nn::Phase::test);
  if (vgg->spec().kind != ModelKind::vgg16)
    fail(path, ": holds a ", model_kind_name(vgg->spec().kind), ", not a vgg16 classifier");
  return init_from_vgg16(vgg_layers(*vgg), model, path);
}

}  // namespace deeplab
