// The VOC converter: a list of names in a VOC-layout folder into one dataset file. Under MPI,
// rank r decodes entries r, r + size, ... and hands them to rank 0, which writes them in list
// order: the output is the same whatever the number of ranks. All or nothing: a bad entry stops
// the job with an error naming the file (or, with skip_bad, is left out and reported).
#pragma once
#include <string>
#include <vector>

namespace deeplab::data {

struct ConvertOptions {
  std::string voc_root, list, out;
  std::string label_dir = "SegmentationClass";
  int num_classes = 21;
  std::vector<std::string> class_names;  // empty: VOC's for 21 classes, else class0, class1, ...
  bool skip_bad = false;
};

struct ConvertReport {
  int64_t listed = 0, converted = 0;
  std::vector<std::string> skipped;  // "NAME: reason", rank 0 only
};

ConvertReport convert_voc(const ConvertOptions& options);

}  // namespace deeplab::data
