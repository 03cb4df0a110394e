// The VOC converter: a list of names in a VOC-layout folder (JPEGImages/NAME.jpg with
// LABEL_DIR/NAME.png) into one dataset file, every entry labelled. A thin layer on pack
// (data/pack.h): the same parallel decoding, the same file whatever the number of ranks, all or
// nothing unless skip_bad.
#pragma once
#include <string>
#include <vector>

#include "data/pack.h"

namespace deeplab::data {

struct ConvertOptions {
  std::string voc_root, list, out;
  std::string label_dir = "SegmentationClass";
  int num_classes = 21;
  std::vector<std::string> class_names;  // empty: VOC's for 21 classes, else class0, class1, ...
  PixelStorage storage = PixelStorage::raw;
  bool skip_bad = false;
  bool overwrite = false;
};

// The entries of a VOC list: NAME with ROOT/JPEGImages/NAME.jpg and ROOT/LABEL_DIR/NAME.png.
ImageSources voc_sources(const std::string& voc_root, const std::string& label_dir, const std::string& list);

PackReport convert_voc(const ConvertOptions& options);

}  // namespace deeplab::data
