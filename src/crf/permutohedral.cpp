#include "crf/permutohedral_inl.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/crf_lattice.h"

namespace deeplab::crf {
namespace {

using Key = std::array<int32_t, Permutohedral::kMaxDim>;  // the first d coordinates of a vertex

// Open addressing with linear probing; grows at half load. Keys are lattice coordinates, hashed
// as the GPU's table hashes them (kernels/crf_lattice.h).
// Cache-line aligned: each thread fills its own table, and tables side by side in a vector
// would otherwise share a line that every insert writes.
template <int D>
class alignas(64) VertexTable {
 public:
  explicit VertexTable(size_t expected) : slots_(lattice::table_capacity(expected), -1) {}
  // Index of key (0-based), inserting it when absent and insert is true; -1 when absent.
  int32_t find(const Key& key, bool insert) {
    size_t mask = slots_.size() - 1;
    for (size_t s = hash(key) & mask;; s = (s + 1) & mask) {
      int32_t id = slots_[s];
      if (id < 0) {
        if (!insert) return -1;
        id = int32_t(keys_.size());
        keys_.push_back(key);
        slots_[s] = id;
        if (keys_.size() * 2 > slots_.size()) grow();
        return id;
      }
      if (lattice::keys_equal<D>(key.data(), keys_[id].data())) return id;
    }
  }
  int32_t find(const Key& key) const { return const_cast<VertexTable*>(this)->find(key, false); }
  const std::vector<Key>& keys() const { return keys_; }

 private:
  static size_t hash(const Key& key) { return size_t(lattice::key_hash<D>(key.data())); }
  void grow() {
    std::vector<int32_t> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, -1);
    size_t mask = slots_.size() - 1;
    for (int32_t id : old) {
      if (id < 0) continue;
      size_t s = hash(keys_[id]) & mask;
      while (slots_[s] >= 0) s = (s + 1) & mask;
      slots_[s] = id;
    }
  }
  std::vector<int32_t> slots_;
  std::vector<Key> keys_;
};

}  // namespace

void Permutohedral::build(const float* features, int64_t n, int d) {
  DEEPLAB_CHECK(d >= 1 && d <= kMaxDim, "lattice dimension ", d);
  DEEPLAB_CHECK(n >= 1 && n < (int64_t(1) << 31) / (d + 1), "lattice of ", n, " points");
  n_ = n;
  d_ = d;
  switch (d) {  // the dimension as a compile-time constant, so the per-point math unrolls
    case 1: build_for<1>(features); break;
    case 2: build_for<2>(features); break;
    case 3: build_for<3>(features); break;
    case 4: build_for<4>(features); break;
    case 5: build_for<5>(features); break;
    case 6: build_for<6>(features); break;
    case 7: build_for<7>(features); break;
    default: build_for<8>(features); break;
  }
  stride_ = 0;
}

template <int D>
void Permutohedral::build_for(const float* features) {
  static_assert(D <= kMaxDim);
  constexpr int corners = D + 1;
  const int64_t n = n_;
  float scale[D];
  for (int i = 0; i < D; ++i) scale[i] = lattice::feature_scale(D, i);
  vertex_ = host_array<int32_t>(size_t(n) * corners, true);
  weight_ = host_array<float>(size_t(n) * corners, true);

  // Each thread embeds a contiguous share of the points and numbers the simplex corners it
  // meets in a table of its own; the tables are merged afterwards (they are small: lattice
  // vertices, not points), and the points' vertex numbers translated. A point whose simplex
  // equals the previous point's reuses its numbers without hashing.
  const int threads = omp_get_max_threads();
  std::vector<VertexTable<D>> local;
  for (int t = 0; t < threads; ++t) local.emplace_back(size_t(n) / (4 * threads) + 16);
  // Chunks are handed out by number, so the result does not depend on how many threads run.
  bool overflow = false;
#pragma omp parallel reduction(|| : overflow)
  for (int t = omp_get_thread_num(); t < threads; t += omp_get_num_threads()) {
    const int64_t begin = n * t / threads, end = n * (t + 1) / threads;
    lattice::Simplex<D> e, previous;
    for (int64_t i = begin; i < end; ++i) {
      lattice::embed<D>(features + i * D, scale, e);
      std::copy_n(e.bary, corners, &weight_[i * corners]);
      if (i > begin && std::equal(e.rem0, e.rem0 + corners, previous.rem0) &&
          std::equal(e.rank, e.rank + corners, previous.rank)) {
        std::copy_n(&vertex_[(i - 1) * corners], corners, &vertex_[i * corners]);
        continue;
      }
      for (int k = 0; k < corners; ++k) {
        Key key{};
        lattice::vertex_key<D>(e, k, key.data());
        vertex_[i * corners + k] = local[t].find(key, true);
      }
      previous = e;
      overflow = overflow || e.overflow;
    }
  }
  if (overflow) fail("lattice: feature values too large to place (a standard deviation far too small?)");
  VertexTable<D> table(local[0].keys().size() * 2 + 16);
  std::vector<std::vector<int32_t>> global_id(threads);
  for (int t = 0; t < threads; ++t)
    for (const Key& key : local[t].keys()) global_id[t].push_back(table.find(key, true) + 1);
#pragma omp parallel
  for (int t = omp_get_thread_num(); t < threads; t += omp_get_num_threads()) {
    const int64_t begin = n * t / threads, end = n * (t + 1) / threads;
    for (int64_t i = begin * corners; i < end * corners; ++i) vertex_[i] = global_id[t][vertex_[i]];
  }
  m_ = int64_t(table.keys().size());

  // Neighbours along each lattice direction j: the vertex minus 1 everywhere plus d+1 at j,
  // and its mirror image. Read-only lookups: parallel.
  neighbours_.assign(size_t(corners) * m_ * 2, 0);
  const auto& keys = table.keys();
#pragma omp parallel for schedule(static)
  for (int64_t v = 0; v < m_; ++v) {
    for (int j = 0; j < corners; ++j) {
      Key down{}, up{};
      lattice::neighbour_keys<D>(keys[v].data(), j, down.data(), up.data());
      neighbours_[(size_t(j) * m_ + v) * 2] = table.find(down) + 1;
      neighbours_[(size_t(j) * m_ + v) * 2 + 1] = table.find(up) + 1;
    }
  }
}

void Permutohedral::set_stride(int stride) {
  DEEPLAB_CHECK(stride > 0 && stride % 8 == 0 && stride <= kMaxStride, "lattice stride ", stride);
  const int64_t rows = m_ + 1;
  const int threads = omp_get_max_threads();
  if (stride == stride_ && int(partial_.size()) == threads) return;
  stride_ = stride;
  splat_clear_ = false;
  const size_t size = size_t(rows) * stride;  // floats per buffer: a multiple of 8, so 32-byte aligned
  buffers_ = host_array<float>(size * (2 + threads), true);
  values_ = buffers_.get();
  blurred_ = values_ + size;
  std::fill_n(values_, stride, 0.0f);
  std::fill_n(blurred_, stride, 0.0f);
  partial_.clear();
  for (int t = 0; t < threads; ++t) partial_.push_back(blurred_ + size * (1 + t));
}

void Permutohedral::clear_splat() {
  if (!splat_clear_) {  // else blur() zeroed them as it summed them
    // Every buffer, whatever size the team is: blur() sums them all.
    const int buffers = int(partial_.size());
#pragma omp parallel
    for (int t = omp_get_thread_num(); t < buffers; t += omp_get_num_threads())
      std::fill_n(partial_[t], (m_ + 1) * stride_, 0.0f);
  }
  splat_clear_ = false;  // splats follow
}

void Permutohedral::blur() {
  const int corners = d_ + 1;
  const int64_t rows = m_ + 1;
  const int stride = stride_;
  const int threads = int(partial_.size());
#pragma omp parallel
  {
    // Sum the threads' splats, and zero them while their rows are in cache: the next splat
    // then needs no pass of its own to clear them.
#pragma omp for schedule(static)
    for (int64_t r = 1; r < rows; ++r) {
      float* dst = values_ + r * stride;
      float* first = partial_[0] + r * stride;
      std::copy_n(first, stride, dst);
      std::fill_n(first, stride, 0.0f);
      for (int t = 1; t < threads; ++t) {
        float* src = partial_[t] + r * stride;
#pragma omp simd
        for (int c = 0; c < stride; ++c) dst[c] += src[c];
        std::fill_n(src, stride, 0.0f);
      }
    }
    // Blur along each direction in turn: v + (down + up) / 2, ping-ponging two buffers.
    // Row 0 is the zero stand-in for neighbours outside the lattice.
    for (int j = 0; j < corners; ++j) {
      const int32_t* nb = &neighbours_[size_t(j) * m_ * 2];
      const float* src = j % 2 == 0 ? values_ : blurred_;
      float* dst = j % 2 == 0 ? blurred_ : values_;
#pragma omp for schedule(static)
      for (int64_t v = 0; v < m_; ++v) {
        const float* c0 = src + (v + 1) * stride;
        const float* lo = src + int64_t(nb[2 * v]) * stride;
        const float* hi = src + int64_t(nb[2 * v + 1]) * stride;
        float* o = dst + (v + 1) * stride;
#pragma omp simd
        for (int c = 0; c < stride; ++c) o[c] = c0[c] + 0.5f * (lo[c] + hi[c]);
      }
    }
  }
  // After an odd number of directions the result is in blurred_; after an even one, in values_.
  if (corners % 2 == 0) std::swap(values_, blurred_);
  for (float* partial : partial_) std::fill_n(partial, stride, 0.0f);  // row 0, outside the loop above
  splat_clear_ = true;
}

void Permutohedral::splat_blur(const float* values, int stride, const float* point_scale) {
  set_stride(stride);
  clear_splat();
#pragma omp parallel
  {
    const int t = omp_get_thread_num();
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n_; ++i) splat_add(t, i, values + i * stride, point_scale ? point_scale[i] : 1.0f);
  }
  blur();
}

void Permutohedral::filter(const float* in, float* out, int stride) {
  splat_blur(in, stride);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n_; ++i) {
    float* o = out + i * stride;
    std::fill(o, o + stride, 0.0f);
    slice_add(i, 1.0f, o);
  }
}

}  // namespace deeplab::crf
