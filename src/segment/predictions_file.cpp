#include "segment/predictions_file.h"

#include <cmath>

#include "core/error.h"
#include "core/half.h"
#include "data/dataset.h"

namespace deeplab::segment {

namespace {
const char* normalization_name(crf::Normalization n) {
  return n == crf::Normalization::symmetric ? "symmetric" : "per-pixel";
}
}  // namespace

PredictionsWriter::PredictionsWriter(const std::string& path, const PredictionsInfo& info)
    : path_(path), info_(info), out_(std::make_unique<h5::NewFile>(path, kPredictionsFormat, kPredictionsVersion)) {
  h5::File& f = out_->file();
  f.set_attr("/", "num_classes", int64_t(info.num_classes));
  f.set_attr("/", "class_names", info.class_names);
  f.set_attr("/", "crf", int64_t(info.crf));
  if (info.crf) {
    const crf::CrfParams& p = info.crf_params;
    f.set_attr("/", "crf.bi_w", double(p.bi_w));
    f.set_attr("/", "crf.bi_xy_std", double(p.bi_xy_std));
    f.set_attr("/", "crf.bi_rgb_std", double(p.bi_rgb_std));
    f.set_attr("/", "crf.pos_w", double(p.pos_w));
    f.set_attr("/", "crf.pos_xy_std", double(p.pos_xy_std));
    f.set_attr("/", "crf.iterations", int64_t(p.iterations));
    f.set_attr("/", "crf.normalization", std::string(normalization_name(p.normalization)));
  }
  f.set_attr("/", "probs", int64_t(info.probs));
  if (info.resolution.max_side > 0) {  // probabilities and labels made on images scaled down
    f.set_attr("/", "max_side", int64_t(info.resolution.max_side));
    f.set_attr("/", "crf_full_res", int64_t(info.resolution.crf_full_res));
  }
  f.set_attr("/", "model", info.model);
  f.set_attr("/", "data", info.data);
  if (!info.inputs.empty()) f.set_attr("/", "inputs", info.inputs);
}

void PredictionsWriter::add(int64_t index, const std::string& name, const LabelMap& labels,
                            const Stride8Probabilities* probs) {
  const std::string entry = data::entry_name(index);
  out_->file().write_bytes_compressed(entry + "/labels", labels.data.data(), {labels.h, labels.w});
  if (info_.probs) {
    if (!probs) fail(path_, ": entry ", index, " has no probabilities");
    out_->file().write_half_compressed(entry + "/probs", probs->bits.data(), probs->shape());
  }
  out_->file().set_attr(entry, "name", name);
  ++added_;
}

void PredictionsWriter::copy_entries(const std::string& source_path, const std::vector<int64_t>& indices) {
  const h5::File source = h5::File::open_read(source_path);
  out_->file().make_group("images");
  h5::Handle ocpypl(H5Pcreate(H5P_OBJECT_COPY), H5Pclose);
  for (int64_t index : indices) {
    const std::string entry = data::entry_name(index);
    if (!source.exists(entry + "/labels")) fail(source_path, ": entry '", entry, "' is missing");
    if (H5Ocopy(source.id(), entry.c_str(), out_->file().id(), entry.c_str(), ocpypl.get(), H5P_DEFAULT) < 0)
      fail(path_, ": cannot copy entry '", entry, "' from ", source_path);
    ++added_;
  }
}

void PredictionsWriter::commit() {
  out_->file().set_attr("/", "count", added_);
  if (info_.count != 0 && added_ != info_.count) fail(path_, ": ", added_, " entries written, expected ", info_.count);
  out_->commit();
}

PredictionsReader::PredictionsReader(const std::string& path) : file_(h5::File::open_read(path)) {
  h5::check_format(file_, kPredictionsFormat, "predictions file", kPredictionsVersion);
  auto count = file_.attr_int("/", "count");
  auto classes = file_.attr_int("/", "num_classes");
  auto names = file_.attr_strings("/", "class_names");
  if (!count || *count < 0) fail(path, ": attribute 'count' is missing or negative (an unfinished file?)");
  if (!classes || *classes < 1 || *classes > 255) fail(path, ": attribute 'num_classes' is missing or out of range");
  info_.count = *count;
  info_.num_classes = int(*classes);
  if (names) info_.class_names = *names;
  info_.crf = file_.attr_int("/", "crf").value_or(0) != 0;
  info_.probs = file_.attr_int("/", "probs").value_or(0) != 0;
  info_.resolution.max_side = int(file_.attr_int("/", "max_side").value_or(0));
  info_.resolution.crf_full_res = file_.attr_int("/", "crf_full_res").value_or(0) != 0;
  if (info_.resolution.max_side < 0) fail(path, ": attribute 'max_side' is negative");
  info_.model = file_.attr_string("/", "model").value_or("");
  info_.data = file_.attr_string("/", "data").value_or("");
  info_.inputs = file_.attr_string("/", "inputs").value_or("");
  if (info_.crf) {
    crf::CrfParams& p = info_.crf_params;
    p.bi_w = float(file_.attr_double("/", "crf.bi_w").value_or(p.bi_w));
    p.bi_xy_std = float(file_.attr_double("/", "crf.bi_xy_std").value_or(p.bi_xy_std));
    p.bi_rgb_std = float(file_.attr_double("/", "crf.bi_rgb_std").value_or(p.bi_rgb_std));
    p.pos_w = float(file_.attr_double("/", "crf.pos_w").value_or(p.pos_w));
    p.pos_xy_std = float(file_.attr_double("/", "crf.pos_xy_std").value_or(p.pos_xy_std));
    p.iterations = int(file_.attr_int("/", "crf.iterations").value_or(p.iterations));
    if (file_.attr_string("/", "crf.normalization").value_or("") == "symmetric")
      p.normalization = crf::Normalization::symmetric;
  }
}

bool PredictionsReader::has(int64_t index) const { return file_.exists(data::entry_name(index) + "/labels"); }

std::string PredictionsReader::name(int64_t index) const {
  auto n = file_.attr_string(data::entry_name(index), "name");
  if (!n) fail(path(), ": entry ", data::entry_name(index), " has no name");
  return *n;
}

LabelMap PredictionsReader::labels(int64_t index) const {
  Shape shape;
  std::vector<uint8_t> bytes = file_.read_bytes(data::entry_name(index) + "/labels", &shape);
  if (shape.size() != 2) fail(path(), ": entry ", data::entry_name(index), "/labels is not a 2-D label map");
  LabelMap m(1, shape[0], shape[1]);
  m.data = std::move(bytes);
  return m;
}

Stride8Probabilities PredictionsReader::probabilities(int64_t index) const {
  if (!info_.probs) fail(path(), ": holds no probabilities (segment with --save-probs)");
  const std::string entry = data::entry_name(index) + "/probs";
  const Tensor t = file_.read_tensor(entry);
  if (t.ndim() != 3 || t.dim(0) != info_.num_classes)
    fail(path(), ": entry ", entry, " has shape ", shape_str(t.shape()), ", expected ", info_.num_classes, " x h x w");
  Stride8Probabilities p{t.dim(0), t.dim(1), t.dim(2), std::vector<uint16_t>(size_t(t.numel()))};
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (!std::isfinite(t.data()[i])) fail(path(), ": entry ", entry, " holds a non-finite value at ", i);
    if (t.data()[i] < 0) fail(path(), ": entry ", entry, " holds a negative probability at ", i, " (", t.data()[i], ")");
    p.bits[size_t(i)] = float_to_half(t.data()[i]);  // exact: the values are float16 already
  }
  return p;
}

}  // namespace deeplab::segment
