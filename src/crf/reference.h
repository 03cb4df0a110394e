// The fully connected CRF computed exactly: every kernel value exp(-|f_i - f_j|^2 / 2) summed
// directly over all pixel pairs (the pixel itself included, as in the lattice version), in
// double precision. O(N^2) time and memory: for tests on small images only.
#pragma once
#include <vector>

#include "crf/dense_crf.h"

namespace deeplab::crf {

class ReferenceCrf {
 public:
  ReferenceCrf(const uint8_t* rgb, int64_t height, int64_t width, const CrfParams& params);
  // Same contract as DenseCrf::infer; history (if given) gets the marginals after each iteration.
  CrfResult infer(const Tensor& unary, std::vector<Tensor>* history = nullptr) const;
  double energy(const Tensor& unary, const Tensor& marginals) const;

 private:
  // Normalised kernel matrices, one per kernel with non-zero weight, N x N, times its weight.
  std::vector<double> message_matrix_;
  int64_t h_, w_;
  CrfParams params_;
};

}  // namespace deeplab::crf
