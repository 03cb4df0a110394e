// PASCAL VOC's folder layout: ROOT/JPEGImages/NAME.jpg with ROOT/SegmentationClass/NAME.png (the
// palette PNG: colour = class, (224, 224, 192) = boundary, read as 255) or a folder of grey PNGs
// holding class indices (SegmentationClassAug), and list files of names (ImageSets/Segmentation).
#pragma once
#include <string>
#include <vector>

#include "data/dataset.h"

namespace deeplab::data {

// VOC 2012's 21 class names, background first.
std::vector<std::string> voc_class_names();

// Names from a list file, one per line (blank lines skipped; a second column is ignored, as in
// SBD-style "image label" lists). Errors name the file.
std::vector<std::string> read_name_list(const std::string& path);

// One entry: the JPEG and its label PNG. Errors name the file and what is wrong (missing,
// truncated or unreadable image, sizes that differ, colours outside the palette, classes
// outside [0, num_classes) other than 255).
Sample read_voc_sample(const std::string& root, const std::string& label_dir, const std::string& name, int num_classes);

// The label PNG alone: grey = indices; colour = the VOC palette, inverted.
std::vector<uint8_t> read_label_png(const std::string& path, int64_t& height, int64_t& width);

// Writes a sample in the layout (JPEG at the given quality, palette-coloured label PNG).
void write_voc_sample(const std::string& root, const Sample& sample, int jpeg_quality = 95);

}  // namespace deeplab::data
