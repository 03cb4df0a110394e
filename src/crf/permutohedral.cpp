#include "crf/permutohedral_inl.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace deeplab::crf {
namespace {

using Key = std::array<int32_t, Permutohedral::kMaxDim>;  // the first d coordinates of a vertex

// Open addressing with linear probing; grows at half load. Keys are lattice coordinates.
// Cache-line aligned: each thread fills its own table, and tables side by side in a vector
// would otherwise share a line that every insert writes.
class alignas(64) VertexTable {
 public:
  explicit VertexTable(int d, size_t expected) : d_(d) {
    size_t cap = 1024;
    while (cap < 2 * expected) cap <<= 1;
    slots_.assign(cap, -1);
  }
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
      if (same(key, keys_[id])) return id;
    }
  }
  int32_t find(const Key& key) const { return const_cast<VertexTable*>(this)->find(key, false); }
  const std::vector<Key>& keys() const { return keys_; }

 private:
  bool same(const Key& a, const Key& b) const {
    for (int i = 0; i < d_; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  // Lattice coordinates are small integers that differ in low bits: mix them thoroughly
  // (multiply-add, then a 64-bit finaliser) so linear probing sees no clusters.
  size_t hash(const Key& key) const {
    uint64_t h = 0;
    for (int i = 0; i < d_; ++i) h = (h + uint32_t(key[i])) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return size_t(h);
  }
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
  int d_;
  std::vector<int32_t> slots_;
  std::vector<Key> keys_;
};

// Where one point lands: the remainder-0 vertex nearest to it, the ordering of its
// coordinates' differentials (rank), and its barycentric weights in the enclosing simplex.
struct Embedding {
  std::array<int32_t, Permutohedral::kMaxDim + 1> rem0, rank;
  std::array<float, Permutohedral::kMaxDim + 2> bary;
  bool overflow = false;  // a coordinate too large for the lattice (std far too small)
};

void embed(const float* f, int d, const float* scale, Embedding& e) {
  // Elevate onto the hyperplane x . 1 = 0 of R^(d+1), scaled so the blur's Gaussian has unit std.
  float elevated[Permutohedral::kMaxDim + 1];
  float sm = 0;
  for (int i = d; i > 0; --i) {
    const float cf = f[i - 1] * scale[i - 1];
    elevated[i] = sm - i * cf;
    sm += cf;
  }
  elevated[0] = sm;
  // Nearest remainder-0 point: round each coordinate to a multiple of d+1.
  const float down_factor = 1.0f / float(d + 1);
  int sum = 0;
  e.overflow = false;
  for (int i = 0; i <= d; ++i) {
    // The nearest multiple of d+1 (ties round down), as its quotient q: no division to sum,
    // and ceil(v - 1/2) rather than comparing both candidates, a branch that mispredicts.
    const float v = std::ceil(elevated[i] * down_factor - 0.5f);
    e.overflow |= !(std::abs(v) < 1e6f);  // beyond this, float features lose their fractions
    const int q = int(std::clamp(v, -1e6f, 1e6f));
    e.rem0[i] = q * (d + 1);
    sum += q;
    e.rank[i] = 0;
  }
  // Rank the differentials, then fix the point back onto the hyperplane. Branch-free: the
  // comparisons are data-dependent and would mispredict about half the time.
  float diff[Permutohedral::kMaxDim + 1];
  for (int i = 0; i <= d; ++i) diff[i] = elevated[i] - float(e.rem0[i]);
  for (int i = 0; i < d; ++i)
    for (int j = i + 1; j <= d; ++j) {
      const int less = diff[i] < diff[j];
      e.rank[i] += less;
      e.rank[j] += 1 - less;
    }
  if (sum != 0) {
    for (int i = 0; i <= d; ++i) {
      // sum > 0: the sum largest-ranked coordinates step down by d+1; sum < 0: the -sum
      // smallest step up. Every rank shifts by sum, wrapping around those that moved.
      const int moves = sum > 0 ? e.rank[i] >= d + 1 - sum : e.rank[i] < -sum;
      const int step = sum > 0 ? -(d + 1) : d + 1;
      e.rem0[i] += moves * step;
      e.rank[i] += sum + moves * step;
    }
  }
  // Barycentric coordinates from the sorted differentials.
  std::fill(e.bary.begin(), e.bary.begin() + d + 2, 0.0f);
  for (int i = 0; i <= d; ++i) {
    const float v = (elevated[i] - float(e.rem0[i])) * down_factor;
    e.bary[d - e.rank[i]] += v;
    e.bary[d + 1 - e.rank[i]] -= v;
  }
  e.bary[0] += 1.0f + e.bary[d + 1];
}

// Vertex k of the simplex: rem0 plus the k-th canonical offset, taken in rank order.
Key vertex_key(const Embedding& e, int d, int k) {
  Key key{};
  for (int i = 0; i < d; ++i) key[i] = e.rem0[i] + k - (d + 1) * (e.rank[i] > d - k);
  return key;
}

}  // namespace

void Permutohedral::build(const float* features, int64_t n, int d) {
  DEEPLAB_CHECK(d >= 1 && d <= kMaxDim, "lattice dimension ", d);
  DEEPLAB_CHECK(n >= 1 && n < (int64_t(1) << 31) / (d + 1), "lattice of ", n, " points");
  n_ = n;
  d_ = d;
  const int corners = d + 1;
  float scale[kMaxDim];
  const float inv_std = std::sqrt(2.0f / 3.0f) * float(d + 1);
  for (int i = 0; i < d; ++i) scale[i] = inv_std / std::sqrt(float((i + 1) * (i + 2)));
  vertex_ = host_array<int32_t>(size_t(n) * corners, true);
  weight_ = host_array<float>(size_t(n) * corners, true);

  // Each thread embeds a contiguous share of the points and numbers the simplex corners it
  // meets in a table of its own; the tables are merged afterwards (they are small: lattice
  // vertices, not points), and the points' vertex numbers translated. A point whose simplex
  // equals the previous point's reuses its numbers without hashing.
  const int threads = omp_get_max_threads();
  std::vector<VertexTable> local;
  for (int t = 0; t < threads; ++t) local.emplace_back(d, size_t(n) / (4 * threads) + 16);
  // Chunks are handed out by number, so the result does not depend on how many threads run.
  bool overflow = false;
#pragma omp parallel reduction(|| : overflow)
  for (int t = omp_get_thread_num(); t < threads; t += omp_get_num_threads()) {
    const int64_t begin = n * t / threads, end = n * (t + 1) / threads;
    Embedding e, previous;
    for (int64_t i = begin; i < end; ++i) {
      embed(features + i * d, d, scale, e);
      std::copy_n(e.bary.begin(), corners, &weight_[i * corners]);
      if (i > begin && std::equal(e.rem0.begin(), e.rem0.begin() + corners, previous.rem0.begin()) &&
          std::equal(e.rank.begin(), e.rank.begin() + corners, previous.rank.begin())) {
        std::copy_n(&vertex_[(i - 1) * corners], corners, &vertex_[i * corners]);
        continue;
      }
      for (int k = 0; k < corners; ++k) vertex_[i * corners + k] = local[t].find(vertex_key(e, d, k), true);
      previous = e;
      overflow = overflow || e.overflow;
    }
  }
  if (overflow) fail("lattice: feature values too large to place (a standard deviation far too small?)");
  VertexTable table(d, local[0].keys().size() * 2 + 16);
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
      Key down = keys[v], up = keys[v];
      for (int i = 0; i < d; ++i) {
        down[i] -= 1;
        up[i] += 1;
      }
      if (j < d) {
        down[j] += d + 1;
        up[j] -= d + 1;
      }
      neighbours_[(size_t(j) * m_ + v) * 2] = table.find(down) + 1;
      neighbours_[(size_t(j) * m_ + v) * 2 + 1] = table.find(up) + 1;
    }
  }
  stride_ = 0;
}

void Permutohedral::set_stride(int stride) {
  DEEPLAB_CHECK(stride > 0 && stride % 8 == 0 && stride <= kMaxStride, "lattice stride ", stride);
  const int64_t rows = m_ + 1;
  const int threads = omp_get_max_threads();
  if (stride == stride_ && int(partial_.size()) == threads) return;
  stride_ = stride;
  splat_clear_ = false;
  values_ = host_array<float>(rows * stride, true);
  blurred_ = host_array<float>(rows * stride, true);
  std::fill_n(values_.get(), stride, 0.0f);
  std::fill_n(blurred_.get(), stride, 0.0f);
  partial_.clear();
  for (int t = 0; t < threads; ++t) partial_.push_back(host_array<float>(rows * stride, true));
}

void Permutohedral::clear_splat() {
  if (!splat_clear_) {  // else blur() zeroed them as it summed them
    // Every buffer, whatever size the team is: blur() sums them all.
    const int buffers = int(partial_.size());
#pragma omp parallel
    for (int t = omp_get_thread_num(); t < buffers; t += omp_get_num_threads())
      std::fill_n(partial_[t].get(), (m_ + 1) * stride_, 0.0f);
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
      float* dst = values_.get() + r * stride;
      float* first = partial_[0].get() + r * stride;
      std::copy_n(first, stride, dst);
      std::fill_n(first, stride, 0.0f);
      for (int t = 1; t < threads; ++t) {
        float* src = partial_[t].get() + r * stride;
#pragma omp simd
        for (int c = 0; c < stride; ++c) dst[c] += src[c];
        std::fill_n(src, stride, 0.0f);
      }
    }
    // Blur along each direction in turn: v + (down + up) / 2, ping-ponging two buffers.
    // Row 0 is the zero stand-in for neighbours outside the lattice.
    for (int j = 0; j < corners; ++j) {
      const int32_t* nb = &neighbours_[size_t(j) * m_ * 2];
      const float* src = j % 2 == 0 ? values_.get() : blurred_.get();
      float* dst = j % 2 == 0 ? blurred_.get() : values_.get();
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
  if (corners % 2 == 0) values_.swap(blurred_);
  for (auto& partial : partial_) std::fill_n(partial.get(), stride, 0.0f);  // row 0, outside the loop above
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
