// The predictions file (HDF5), one entry per image of the data set it was made from, in its order:
//   attributes   format = "deeplab-predictions", version = 1, count, num_classes, class_names,
//                crf (0/1) and, when 1, crf.bi_w ... crf.iterations, crf.normalization;
//                probs (0/1); model and data (the paths it was made from); max_side and
//                crf_full_res when the network ran on images scaled down
//   /images/000000/labels  H x W uint8 label map (chunked, deflate, fletcher32)
//   /images/000000/probs   C x ceil(H/8) x ceil(W/8) float16 class probabilities (with probs = 1)
//   /images/000000         attribute name (the data set entry's name)
// `deeplab segment` writes pieces of this format (a block of entries each) and assembles them.
// Written atomically; files carry no timestamps, so the same predictions give the same bytes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/h5_file_format.h"
#include "core/label_map.h"
#include "crf/dense_crf.h"
#include "segment/predict.h"

namespace deeplab::segment {

inline constexpr const char* kPredictionsFormat = "deeplab-predictions";
inline constexpr int kPredictionsVersion = 1;

struct PredictionsInfo {
  int num_classes = 0;
  std::vector<std::string> class_names;
  bool crf = false;
  crf::CrfParams crf_params;
  bool probs = false;
  Resolution resolution;  // what the network ran on (max_side 0: the images as they are)
  std::string model, data;
  std::string inputs;  // what the model and data held (content stamps; "" in files written before)
  int64_t count = 0;  // images in the file
};

class PredictionsWriter {
 public:
  PredictionsWriter(const std::string& path, const PredictionsInfo& info);
  // Entry `index` (its data set index): name, labels (1 x H x W), probabilities when info.probs.
  void add(int64_t index, const std::string& name, const LabelMap& labels, const Stride8Probabilities* probs);
  // Copies entries as they are stored from another predictions file (pieces into the whole).
  void copy_entries(const std::string& source_path, const std::vector<int64_t>& indices);
  void commit();  // writes count, fsyncs, renames into place

 private:
  std::string path_;
  PredictionsInfo info_;
  std::unique_ptr<h5::NewFile> out_;
  int64_t added_ = 0;
};

class PredictionsReader {
 public:
  explicit PredictionsReader(const std::string& path);  // a foreign or damaged file is a clear error
  const PredictionsInfo& info() const { return info_; }
  const std::string& path() const { return file_.path(); }
  bool has(int64_t index) const;
  std::string name(int64_t index) const;
  LabelMap labels(int64_t index) const;                 // 1 x H x W
  Stride8Probabilities probabilities(int64_t index) const;  // needs info().probs

 private:
  h5::File file_;
  PredictionsInfo info_;
};

}  // namespace deeplab::segment
