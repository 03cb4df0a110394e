#include "models/model_file.h"

#include <zlib.h>

#include <cstdio>

#include <algorithm>

#include "core/error.h"

namespace deeplab {

namespace {
// CRC-32 of a parameter's float bytes, stored beside it and checked on load.
int64_t tensor_crc(const Tensor& t) {
  return int64_t(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(t.data()), uInt(t.numel() * sizeof(float))));
}
}  // namespace

void write_model(h5::File& file, Model& model) {
  const ModelSpec& s = model.spec();
  file.set_attr("/", "kind", std::string(model_kind_name(s.kind)));
  file.set_attr("/", "num_classes", int64_t(s.num_classes));
  file.set_attr("/", "width", s.width);
  if (is_classifier(s.kind)) file.set_attr("/", "input_size", int64_t(s.input_size));
  if (has_fc6_dilation(s.kind)) file.set_attr("/", "fc6_dilation", int64_t(fc6_dilation(s)));
  for (nn::Param* p : model.params()) write_checked_tensor(file, p->name, p->value);
}

void save_model(const std::string& path, Model& model) {
  h5::NewFile out(path, kModelFormat, kModelFormatVersion);
  write_model(out.file(), model);
  out.commit();
}

ModelSpec read_model_spec(const h5::File& file) {
  h5::check_format(file, kModelFormat, "model file", kModelFormatVersion);
  auto kind = file.attr_string("/", "kind");
  auto classes = file.attr_int("/", "num_classes");
  auto width = file.attr_double("/", "width");
  if (!kind) fail(file.path(), ": attribute 'kind' is missing");
  if (!classes) fail(file.path(), ": attribute 'num_classes' is missing");
  if (!width) fail(file.path(), ": attribute 'width' is missing");
  ModelSpec spec;
  try {
    spec.kind = parse_model_kind(*kind);
  } catch (const Error& e) {
    fail(file.path(), ": attribute 'kind': ", e.what());
  }
  spec.num_classes = int(*classes);
  spec.width = *width;
  if (is_classifier(spec.kind)) {
    auto input_size = file.attr_int("/", "input_size");
    if (!input_size) fail(file.path(), ": attribute 'input_size' is missing (a ", *kind, " classifier needs it)");
    spec.input_size = int(std::clamp<int64_t>(*input_size, 0, 1 << 20));
  }
  if (has_fc6_dilation(spec.kind)) {
    // Files written before the attribute existed hold the paper's network (dilation 12).
    const int64_t dilation = file.attr_int("/", "fc6_dilation").value_or(12);
    if (dilation < 1 || dilation > kMaxFc6Dilation)
      fail(file.path(), ": attribute 'fc6_dilation' is ", dilation, " (1..", kMaxFc6Dilation, ")");
    spec.fc6_dilation = int(dilation);
  }
  return spec;
}

void require_same_network(const h5::File& file, const ModelSpec& want) {
  const ModelSpec spec = read_model_spec(file);
  if (spec.kind != want.kind || spec.num_classes != want.num_classes || spec.width != want.width ||
      spec.input_size != want.input_size)
    fail(file.path(), ": holds a ", model_kind_name(spec.kind), " with ", spec.num_classes, " classes at width ",
         spec.width, is_classifier(spec.kind) ? " for " + std::to_string(spec.input_size) + "-pixel inputs" : "",
         ", the configuration asks for a ", model_kind_name(want.kind), " with ", want.num_classes, " classes at width ",
         want.width, is_classifier(want.kind) ? " for " + std::to_string(want.input_size) + "-pixel inputs" : "");
  if (fc6_dilation(spec) != fc6_dilation(want))
    fail(file.path(), ": its fc6 has dilation ", fc6_dilation(spec), ", the configuration asks for ", fc6_dilation(want),
         " (model.fc6_dilation)");
}

void write_checked_tensor(h5::File& file, const std::string& name, const Tensor& value) {
  file.write_tensor(name, value);
  file.set_attr(name, "crc32", tensor_crc(value));
}

std::string stored_tensor_problem(const h5::File& file, const std::string& name, const Shape& expected, Tensor* value) {
  if (!file.exists(name)) return "is missing";
  const Shape shape = file.shape_of(name);
  if (shape != expected) return "has shape " + shape_str(shape) + ", expected " + shape_str(expected);
  *value = file.read_tensor(name);
  const auto crc = file.attr_int(name, "crc32");
  if (crc && *crc != tensor_crc(*value)) return "fails its checksum: damaged file";
  const int64_t bad = first_non_finite(value->data(), value->numel());
  if (bad >= 0) return "value " + std::to_string(bad) + " is not finite (" + std::to_string(value->data()[bad]) + ")";
  return "";
}

void read_params(const h5::File& file, Model& model) {
  for (nn::Param* p : model.params()) {
    Tensor value;
    const std::string problem = stored_tensor_problem(file, p->name, p->value.shape(), &value);
    if (!problem.empty()) fail(file.path(), ": entry '", p->name, "' ", problem);
    p->value.copy_from(value);
    ++p->version;
  }
}

uint32_t parameters_crc(Model& model) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (nn::Param* p : model.params())
    crc = crc32(crc, reinterpret_cast<const Bytef*>(p->value.data()), uInt(p->value.numel() * sizeof(float)));
  return uint32_t(crc);
}

std::string content_stamp(Model& model) {
  const ModelSpec& s = model.spec();
  char stamp[200];
  std::snprintf(stamp, sizeof stamp, "%s, %d classes, width %g%s, parameters' CRC-32 %08x", model_kind_name(s.kind),
                s.num_classes, s.width,
                has_fc6_dilation(s.kind) ? (", fc6 dilation " + std::to_string(fc6_dilation(s))).c_str() : "",
                parameters_crc(model));
  return stamp;
}

std::unique_ptr<Model> load_model(const std::string& path, nn::Phase phase) {
  h5::File file = h5::File::open_read(path);
  ModelSpec spec = read_model_spec(file);
  std::unique_ptr<Model> model;
  try {
    model = std::make_unique<Model>(spec, phase);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  read_params(file, *model);
  return model;
}

}  // namespace deeplab
