// The fully connected CRF of Krähenbühl and Koltun (NIPS 2011) as DeepLab uses it: unary
// -log P(x_i), Potts compatibility, and two Gaussian kernels,
//   bi_w  exp(-|p_i - p_j|^2 / 2 bi_xy_std^2 - |I_i - I_j|^2 / 2 bi_rgb_std^2)   (appearance)
//   pos_w exp(-|p_i - p_j|^2 / 2 pos_xy_std^2)                                     (smoothness)
// Mean-field inference: Q_i(l) ∝ exp(-U_i(l) + sum_m w_m (K~_m Q)_i(l)), where each kernel's
// message is computed with the permutohedral lattice and normalised as in the 2011 code (divided
// by the filter's response to a constant image, the pixel itself included), or symmetrically
// (n_i (K (n Q))_i with n = filter(1)^-1/2, the later densecrf default, under which parallel
// updates provably never increase the mean-field energy).
#pragma once
#include <cstdint>
#include <vector>

#include "core/label_map.h"
#include "core/tensor.h"
#include "crf/permutohedral.h"

namespace deeplab::crf {

enum class Normalization { per_pixel, symmetric };

struct CrfParams {
  // DeepLab-LargeFOV's released values for VOC (the DenseCRF layer of its test prototxt; the
  // paper found them by grid search on val): appearance 4 / 121 / 5, smoothness 3 / 3, 10 iterations.
  float bi_w = 4.0f;
  float bi_xy_std = 121.0f;
  float bi_rgb_std = 5.0f;
  float pos_w = 3.0f;
  float pos_xy_std = 3.0f;
  int iterations = 10;
  Normalization normalization = Normalization::per_pixel;
};
// Throws Error naming the parameter when one is out of range (stds must be > 0).
void validate(const CrfParams& p);
// Whether CRFs with these parameters build the same lattices on an image: the same standard
// deviations and the same kernels present (weights, iterations and normalisation may differ).
bool same_lattices(const CrfParams& a, const CrfParams& b);

// Unary energies (L x H x W) from class probabilities (-log p, p floored at 1e-30) or from raw
// scores (-(s - max_l s): -log softmax up to a per-pixel constant, which mean field ignores).
// Non-finite inputs are errors naming the element.
Tensor unary_from_probabilities(const Tensor& probs);
// The same from an H x W x L class map (as most tools write one), in one pass; L x H x W out.
Tensor unary_from_probabilities_hwc(const Tensor& probs_hwc);
Tensor unary_from_scores(const Tensor& scores);

struct CrfResult {
  LabelMap labels;   // 1 x H x W, argmax of the marginals (first label on ties)
  Tensor marginals;  // L x H x W, each pixel sums to 1
};

// The largest image the CRF takes: the appearance lattice (5 features) has up to 6 vertices per
// pixel, numbered in 32 bits. Larger images are refused before anything is allocated.
constexpr int64_t kMaxCrfPixels = 2147483647 / 6;

class DenseCrf {
 public:
  // rgb: H x W x 3 bytes, row-major. Builds the lattices (the expensive setup) once.
  DenseCrf(const uint8_t* rgb, int64_t height, int64_t width, const CrfParams& params);

  // unary: L x H x W energies. Runs params.iterations mean-field updates.
  CrfResult infer(const Tensor& unary);
  // Takes parameters that keep both lattices (the same standard deviations, the same kernels
  // present): other weights, iterations or normalisation. Returns false, changing nothing, when
  // the lattices would differ. The next infer then answers as a new DenseCrf with these
  // parameters would, to the bit: a parameter sweep builds each image's lattices once.
  bool retune(const CrfParams& params);
  // The mean-field free energy of marginals Q (L x H x W) under this CRF:
  // sum Q U + sum Q log Q - 1/2 sum_m w_m <Q, K~_m Q>.
  double energy(const Tensor& unary, const Tensor& marginals);
  // Marginals after each iteration of the last infer (0 = initial), when asked for first.
  void record_history(bool on) { record_ = on; }
  const std::vector<Tensor>& history() const { return history_; }

 private:
  struct Kernel {
    float weight = 0;
    Permutohedral lattice;
    std::vector<float> norm;  // per pixel; empty until needed (see mean_field)
  };
  void setup_kernel(Kernel& k, const float* features, int dim, float weight);
  void ensure_norm(Kernel& k);  // per-pixel normaliser by filtering a constant, once
  template <int S>
  void mean_field(const float* u, int64_t labels, int stride, CrfResult& result);

  int64_t h_, w_;
  CrfParams params_;
  std::vector<Kernel> kernels_;
  bool record_ = false;
  std::vector<Tensor> history_;
};

// Rounds a label count up to the padded stride the CRF works in (a multiple of 8 floats).
inline int padded_labels(int64_t labels) { return int((labels + 7) / 8 * 8); }

}  // namespace deeplab::crf
