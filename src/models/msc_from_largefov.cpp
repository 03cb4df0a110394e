#include "models/msc_from_largefov.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "models/model_file.h"

namespace deeplab {

WeightsReport init_msc_from_largefov_file(const std::string& path, Model& msc) {
  if (msc.spec().kind != ModelKind::msc_largefov)
    fail(path, ": a largefov model initialises an msc-largefov one, not a ", model_kind_name(msc.spec().kind));
  std::unique_ptr<Model> largefov = load_model(path, nn::Phase::test);
  const ModelSpec& from = largefov->spec();
  const ModelSpec& to = msc.spec();
  if (from.kind != ModelKind::largefov)
    fail(path, ": holds a ", model_kind_name(from.kind), "; an msc-largefov starts from a largefov model");
  if (from.num_classes != to.num_classes || from.width != to.width || fc6_dilation(from) != fc6_dilation(to))
    fail(path, ": its largefov has ", from.num_classes, " classes at width ", from.width, " with fc6 dilation ",
         fc6_dilation(from), "; the msc-largefov to train has ", to.num_classes, " at width ", to.width,
         " with dilation ", fc6_dilation(to));
  std::map<std::string, nn::Param*> source;
  for (nn::Param* p : largefov->params()) source[p->name] = p;
  WeightsReport report;
  for (const LayerParams& layer : parameter_layers(msc)) {
    const bool has_source = source.count(layer.weight->name) > 0;
    if (!has_source) {
      report.kept.push_back(layer.name + " (new: freshly initialised)");
      continue;
    }
    const Tensor& w = source.at(layer.weight->name)->value;
    Tensor& into = layer.weight->value;
    if (layer.name == "fc8") {
      // C x (fc7 + heads) x 1 x 1 from C x fc7 x 1 x 1: fc7's columns copied, the heads' zero.
      const int64_t classes = into.dim(0), in_to = into.dim(1), in_from = w.dim(1);
      std::fill_n(into.data(), into.numel(), 0.0f);
      for (int64_t c = 0; c < classes; ++c) std::copy_n(w.data() + c * in_from, in_from, into.data() + c * in_to);
      report.loaded.push_back("fc8 (LargeFOV's for fc7's channels, zero for the heads')");
    } else {
      into.copy_from(w);
      report.loaded.push_back(layer.name);
    }
    ++layer.weight->version;
    if (layer.bias) {
      layer.bias->value.copy_from(source.at(layer.bias->name)->value);
      ++layer.bias->version;
    }
  }
  return report;
}

}  // namespace deeplab
