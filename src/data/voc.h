// PASCAL VOC's folder layout: ROOT/JPEGImages/NAME.jpg with ROOT/SegmentationClass/NAME.png (the
// palette PNG: index = class, 255 = boundary) or a folder of grey PNGs holding class indices
// (SegmentationClassAug), and list files of names (ImageSets/Segmentation).
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

// Writes a sample in the layout (JPEG at the given quality, palette label PNG when labelled).
void write_voc_sample(const std::string& root, const Sample& sample, int jpeg_quality = 95);

// Every sample of a dataset file in the layout, and their names as ROOT/ImageSets/Segmentation/LIST.txt.
void write_voc_folder(const std::string& dataset_path, const std::string& root, const std::string& list);

}  // namespace deeplab::data
