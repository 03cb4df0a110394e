// `deeplab segment` over a whole data set, on any number of MPI ranks, resumable:
//   - the images are cut into blocks of piece_images; rank r takes blocks r, r + N, ...;
//   - each block becomes a piece file OUT.parts/piece-NNNNNN.h5, written atomically, so a killed
//     job leaves only whole pieces; a rerun with resume keeps them and computes the rest;
//   - when every block is done, rank 0 copies the pieces' entries in order into OUT (atomically)
//     and removes OUT.parts. Each image's result depends on nothing but the image, so OUT does not
//     depend on the number of ranks.
// OUT.parts/settings records what the pieces were made with; resuming with other settings is
// refused. An existing OUT is kept unless overwrite is set (or resume finds it complete).
#pragma once
#include <cstdint>
#include <string>

#include "core/device.h"
#include "crf/dense_crf.h"
#include "dist/mpi.h"
#include "nn/precision.h"
#include "segment/predict.h"

namespace deeplab::segment {

// Where the PNG masks go (all of them palette PNGs with VOC's colours):
//   flat       DIR/NAME.png, with any '/' of the name made '_'
//   voc_server DIR/results/VOC2012/Segmentation/comp6_test_cls/NAME.png, what PASCAL VOC's
//              evaluation server takes (tar the results folder)
//   tree       DIR/NAME.png with the name's folders: the input's folder tree mirrored
enum class PngLayout { flat, voc_server, tree };
PngLayout parse_png_layout(const std::string& name);  // "flat", "voc-server", "tree"
// The mask's path for an image name; a name that would leave DIR (absolute, "..") is an error.
std::string png_path(const std::string& dir, PngLayout layout, const std::string& name);

struct SegmentOptions {
  std::string model_path, data_path, out_path;
  bool crf = false;
  crf::CrfParams crf_params;
  bool save_probs = false;  // the stride-8 probabilities, float16, for crf-sweep
  std::string png_dir;      // when set: a mask per image, laid out by png_layout
  PngLayout png_layout = PngLayout::flat;
  bool overlays = false;    // also NAME_overlay.png: image | prediction (| truth, when labelled)
  Resolution resolution;    // max_side: the network (and CRF) on images scaled down to it
  int64_t memory_mb = 0;    // an image whose segmentation would need more is refused; 0: the default
  bool resume = false, overwrite = false;
  int piece_images = 8;
  DeviceChoice device = DeviceChoice::cpu;  // the network (and CRF) on this rank's GPU with cuda
  bool tf32 = false;
  nn::Precision precision = nn::Precision::f32;  // the CPU network's arithmetic (nn/precision.h)
};

struct SegmentSummary {
  int64_t images = 0;
  int64_t computed = 0;  // by this run, all ranks
  int64_t reused = 0;    // found in pieces of an interrupted run
  double seconds = 0;
  bool already_complete = false;  // resume found OUT finished: nothing done
};

// Fails naming the setting that cannot work (an empty output name, pieces of no images, a
// negative --max-side, no memory, CRF parameters); segment_dataset calls it first.
void validate(const SegmentOptions& options);
SegmentSummary segment_dataset(const SegmentOptions& options, dist::Mpi& mpi);

// The default memory budget of one rank: three quarters of this node's memory, shared by its ranks.
int64_t default_memory_mb(int ranks_on_node);

}  // namespace deeplab::segment
