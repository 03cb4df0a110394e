// Packing images (and label maps, where there are any) into one dataset file. Under MPI, rank r
// decodes and checks entries r, r + N, ... and hands them to rank 0, which writes them in order:
// the file is the same byte for byte whatever N is. All or nothing: a bad entry stops the job
// with an error naming the file, or, with skip_bad, is left out and reported.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_sources.h"

namespace deeplab::data {

// raw: decoded pixels, deflated (any format). source: a JPEG's own bytes, decoded when read, so
// a collection of photographs takes about the room of its JPEGs; other formats are stored raw.
enum class PixelStorage { raw, source };

struct PackOptions {
  std::string out;
  int num_classes = 0;                   // 0: not given (only without label maps)
  std::vector<std::string> class_names;  // empty: class0, class1, ...
  PixelStorage storage = PixelStorage::raw;
  bool skip_bad = false;
  bool overwrite = false;        // replace an existing output (else it is an error, before any work)
  bool labels_required = false;  // every entry must have a label map (convert-voc)
  std::string job = "pack";      // for messages
};

struct PackReport {
  int64_t found = 0, packed = 0, labelled = 0;
  int64_t jpeg_bytes = 0;            // source bytes of the JPEGs stored as they are
  std::vector<std::string> skipped;  // "PATH: reason", rank 0 only
};

// `sources` must be the same on every rank (rank 0's, broadcast by the caller or found alike).
PackReport pack_dataset(const ImageSources& sources, const PackOptions& options);

// Rank 0 finds the images; every rank gets the same list.
ImageSources find_images_on_rank0(const std::string& source, const std::string& labels);

}  // namespace deeplab::data
