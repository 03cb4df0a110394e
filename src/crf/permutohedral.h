// The permutohedral lattice (Adams, Baek and Davis, "Fast High-Dimensional Filtering Using the
// Permutohedral Lattice", Eurographics 2010): Gaussian filtering of N points in d dimensions in
// O(N d^2 + N d L) time. Each point's feature vector (already divided by its standard deviations)
// is embedded in the lattice; values are splatted onto the d+1 vertices of the enclosing simplex
// with barycentric weights, blurred with [1/2 1 1/2] along each of the d+1 lattice directions,
// and sliced back. The result approximates sum_j exp(-|f_i - f_j|^2 / 2) v_j, the point itself
// included, up to a constant factor (callers normalise by filtering a constant).
//
// Built once per image; filtering reuses its buffers, so repeated filtering allocates nothing.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/host_memory.h"

namespace deeplab::crf {

class Permutohedral {
 public:
  // features: n points x d dimensions, row-major. d is at most kMaxDim.
  // The per-point math is kernels/crf_lattice.h's, which the GPU CRF runs too.
  void build(const float* features, int64_t n, int d);

  // Filtering in steps, so callers can fuse them with their own per-point work:
  //   set_stride(s); clear_splat(); splat_add(thread, i, v, scale) for every point (each from
  //   its OpenMP thread); blur(); then slice_add(i, ...) reads the filtered value at point i.
  void set_stride(int stride);
  void clear_splat();
  // S: the stride as a compile-time constant, so the per-row loops unroll (0: use the runtime one).
  // Defined in permutohedral_inl.h, for the CRF's own sources (compiled for this CPU).
  template <int S = 0>
  inline void splat_add(int thread, int64_t i, const float* v, float scale);
  void blur();
  template <int S = 0>
  inline void slice_add(int64_t i, float scale, float* out) const;

  // The same in one call: splats values (n x stride; each point's vector scaled by
  // point_scale[i] when given) and blurs.
  void splat_blur(const float* values, int stride, const float* point_scale = nullptr);
  // One-off filtering: out = filter(in), both n x stride (stride a multiple of 8).
  void filter(const float* in, float* out, int stride);
  int64_t num_points() const { return n_; }
  int64_t lattice_size() const { return m_; }
  int dim() const { return d_; }

  static constexpr int kMaxDim = 8;
  static constexpr int kMaxStride = 256;  // values per point: a multiple of 8, at most this

 private:
  template <int D>
  void build_for(const float* features);

  int64_t n_ = 0, m_ = 0;  // points, lattice vertices
  int d_ = 0, stride_ = 0;
  // n x (d+1) each, written in full by build() (uninitialised before: no serial zeroing, and
  // huge pages the memory pool hands back from the previous image):
  HostArray<int32_t> vertex_;        // lattice vertex of each simplex corner (1-based; 0 = none)
  HostArray<float> weight_;          // barycentric weights
  std::vector<int32_t> neighbours_;  // (d+1) x m x 2: vertex indices one step down / up each direction
  // (m + 1) x stride each, left uninitialised: every row but row 0 (the zero stand-in for
  // missing neighbours) is written before it is read, and touching fresh memory costs page faults.
  // All in one allocation, large enough for the memory pool to hand the next image pages that
  // are already mapped.
  HostArray<float> buffers_;
  float* values_ = nullptr;
  float* blurred_ = nullptr;
  std::vector<float*> partial_;  // per-thread splat buffers, summed (and zeroed) by blur()
  bool splat_clear_ = false;               // the partial buffers hold zeros
};

}  // namespace deeplab::crf
