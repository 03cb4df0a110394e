// The permutohedral lattice's per-point math, one copy for both CRFs: the CPU lattice
// (src/crf/permutohedral.cpp) and the GPU CRF (kernels/crf.cu) call the same functions, so both
// place every pixel in the same simplex with the same weights and number the same vertices.
// Plain C++17; DL_HD marks each function for host and device under nvcc (inline on both).
//
// A point's features f (d values, already divided by their standard deviations) are scaled,
// elevated onto the hyperplane x . 1 = 0 of R^(d+1), and located in the simplex of the lattice
// A*_d that encloses them: a remainder-0 point rem0 plus the rank of each coordinate's
// differential. The simplex's d+1 vertices are rem0 plus canonical offsets in rank order; a
// vertex is identified by its first d coordinates (the last is minus their sum).
#pragma once
#include <math.h>
#include <stdint.h>

// The same definition as kernels/hd.h (identical, so either header may come first).
#ifndef DL_HD
#ifdef __CUDACC__
#define DL_HD __host__ __device__ __forceinline__
#else
#define DL_HD inline
#endif
#endif

namespace deeplab::lattice {

constexpr unsigned kEmptySlot = 0xFFFFFFFFu;  // a free hash-table slot (all bits set: memset 0xFF)

// The factor for feature i of d so the lattice's [1/2 1 1/2] blurs make a unit-std Gaussian.
// Computed in float, the same on the host and the device.
DL_HD float feature_scale(int d, int i) {
  const float inv_std = sqrtf(2.0f / 3.0f) * float(d + 1);
  return inv_std / sqrtf(float((i + 1) * (i + 2)));
}

// Onto the hyperplane of R^(D+1) by a running sum: with c_k = f[k-1] scale[k-1],
// elevated[0] = sum_k c_k and elevated[i] = sum_{k > i} c_k - i c_i.
template <int D>
DL_HD void elevate(const float* f, const float* scale, float* elevated) {
  float sm = 0;
  for (int i = D; i > 0; --i) {
    const float cf = f[i - 1] * scale[i - 1];
    elevated[i] = sm - float(i) * cf;
    sm += cf;
  }
  elevated[0] = sm;
}

template <int D>
struct Simplex {
  int rem0[D + 1];    // the remainder-0 vertex the simplex is built from
  int rank[D + 1];    // rank of each coordinate's differential (0 = largest)
  float bary[D + 2];  // barycentric weights of vertices 0..D (bary[D + 1] is scratch)
  bool overflow;      // a coordinate beyond 1e6 lattice steps: features lose their fractions
};

// The enclosing simplex (rem0 and rank) of an elevated point.
template <int D>
DL_HD void find_simplex(const float* elevated, Simplex<D>& s) {
  const float down_factor = 1.0f / float(D + 1);
  int sum = 0;
  s.overflow = false;
  for (int i = 0; i <= D; ++i) {
    // The nearest multiple of D+1, ties rounding down (ceil(v - 1/2)): no division to sum,
    // and no branch comparing both candidates (data-dependent, it would mispredict).
    const float v = ceilf(elevated[i] * down_factor - 0.5f);
    s.overflow |= !(fabsf(v) < 1e6f);
    const int q = int(fminf(fmaxf(v, -1e6f), 1e6f));
    s.rem0[i] = q * (D + 1);
    sum += q;
    s.rank[i] = 0;
  }
  float diff[D + 1];
  for (int i = 0; i <= D; ++i) diff[i] = elevated[i] - float(s.rem0[i]);
  for (int i = 0; i < D; ++i)
    for (int j = i + 1; j <= D; ++j) {
      const int less = diff[i] < diff[j];
      s.rank[i] += less;
      s.rank[j] += 1 - less;
    }
  // The rounded point is off the hyperplane by sum * (D+1): move the sum largest (or -sum
  // smallest) coordinates back by D+1; every rank shifts by sum, wrapping around those that moved.
  if (sum != 0) {
    for (int i = 0; i <= D; ++i) {
      const int moves = sum > 0 ? s.rank[i] >= D + 1 - sum : s.rank[i] < -sum;
      const int step = sum > 0 ? -(D + 1) : D + 1;
      s.rem0[i] += moves * step;
      s.rank[i] += sum + moves * step;
    }
  }
}

// Barycentric weights of the simplex's vertices (after find_simplex): non-negative, sum 1.
template <int D>
DL_HD void barycentric(const float* elevated, Simplex<D>& s) {
  const float down_factor = 1.0f / float(D + 1);
  for (int k = 0; k < D + 2; ++k) s.bary[k] = 0.0f;
  for (int i = 0; i <= D; ++i) {
    const float v = (elevated[i] - float(s.rem0[i])) * down_factor;
    s.bary[D - s.rank[i]] += v;
    s.bary[D + 1 - s.rank[i]] -= v;
  }
  s.bary[0] += 1.0f + s.bary[D + 1];
}

// All of it: features (D values) -> simplex and weights.
template <int D>
DL_HD void embed(const float* f, const float* scale, Simplex<D>& s) {
  float elevated[D + 1];
  elevate<D>(f, scale, elevated);
  find_simplex<D>(elevated, s);
  barycentric<D>(elevated, s);
}

// The key (first D coordinates) of vertex k (0..D) of the simplex.
template <int D>
DL_HD void vertex_key(const Simplex<D>& s, int k, int* key) {
  for (int i = 0; i < D; ++i) key[i] = s.rem0[i] + k - (D + 1) * (s.rank[i] > D - k);
}

// Lattice coordinates are small integers differing in low bits: multiply-add then a 64-bit
// finaliser, so linear probing sees no clusters.
template <int D>
DL_HD uint64_t key_hash(const int* key) {
  uint64_t h = 0;
  for (int i = 0; i < D; ++i) h = (h + uint64_t(uint32_t(key[i]))) * 0x9E3779B97F4A7C15ull;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h;
}

template <int D>
DL_HD bool keys_equal(const int* a, const int* b) {
  for (int i = 0; i < D; ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// The two neighbours of a vertex along blur direction j (0..D): the vertex plus or minus the
// direction's vector, which is D at coordinate j and -1 at the others (direction D: -1 at the D
// stored coordinates, +D at the implied last one).
template <int D>
DL_HD void neighbour_keys(const int* key, int j, int* down, int* up) {
  for (int i = 0; i < D; ++i) {
    down[i] = key[i] - 1 + (i == j ? D + 1 : 0);
    up[i] = key[i] + 1 - (i == j ? D + 1 : 0);
  }
}

// The hash table of lattice vertices: `mask + 1` (a power of two) slots, linear probing. A slot
// holds an entry number p (point p / (D+1), corner p % (D+1)); entry_keys holds each entry's key
// (D ints), all written before any insert. After inserting every entry, each used slot holds the
// smallest entry with its key, whatever order the inserts ran in: vertex numbers derived from
// it are deterministic. Ops supplies load, compare-and-swap and min on a slot (atomics on the GPU,
// plain ones on the host); concurrent inserts are safe because a slot only ever goes from empty
// to an entry, or to a smaller entry with the same key.
template <int D, class Ops>
DL_HD unsigned insert_entry(unsigned* table, unsigned mask, const int* entry_keys, unsigned p) {
  const int* key = entry_keys + size_t(p) * D;
  for (unsigned s = unsigned(key_hash<D>(key)) & mask;; s = (s + 1) & mask) {
    unsigned cur = Ops::load(&table[s]);
    if (cur == kEmptySlot) {
      cur = Ops::cas(&table[s], kEmptySlot, p);
      if (cur == kEmptySlot) return s;  // claimed
    }
    if (keys_equal<D>(entry_keys + size_t(cur) * D, key)) {
      if (p < cur) Ops::min(&table[s], p);
      return s;
    }
  }
}

// The slot holding key, or kEmptySlot when the lattice has no such vertex. Read-only.
template <int D>
DL_HD unsigned find_key(const unsigned* table, unsigned mask, const int* entry_keys, const int* key) {
  for (unsigned s = unsigned(key_hash<D>(key)) & mask;; s = (s + 1) & mask) {
    const unsigned cur = table[s];
    if (cur == kEmptySlot) return kEmptySlot;
    if (keys_equal<D>(entry_keys + size_t(cur) * D, key)) return s;
  }
}

// The table's size for `entries` keys at most: a power of two, at most half full.
inline unsigned table_capacity(size_t entries) {
  size_t cap = 1024;
  while (cap < 2 * entries) cap <<= 1;
  return unsigned(cap);
}

// ---- The GPU CRF's per-element steps (one call per kernel thread), so the CPU tests run them ----

// Pixel i's features in units of their standard deviations, computed as DenseCrf does
// (divisions): x and y, then for D = 5 the colour.
template <int D>
DL_HD void pixel_features(const unsigned char* rgb, int width, float xy_std, float rgb_std, int64_t i, float* f) {
  f[0] = float(i % width) / xy_std;
  f[1] = float(i / width) / xy_std;
  if constexpr (D == 5)
    for (int c = 0; c < 3; ++c) f[2 + c] = float(rgb[i * 3 + c]) / rgb_std;
}

// Pixel i's entries i*(D+1) + k: their weights and keys. Returns true on overflow.
template <int D>
DL_HD bool embed_pixel(const unsigned char* rgb, int width, float xy_std, float rgb_std, const float* scale, int64_t i,
                       int* keys, float* bary) {
  float f[D];
  pixel_features<D>(rgb, width, xy_std, rgb_std, i, f);
  Simplex<D> s;
  embed<D>(f, scale, s);
  for (int k = 0; k <= D; ++k) {
    const int64_t e = i * (D + 1) + k;
    bary[e] = s.bary[k];
    vertex_key<D>(s, k, keys + e * D);
  }
  return s.overflow;
}

// Entry i of the entries sorted by vertex (stably): vertex runs start[v], their pixels and weights.
template <int D>
DL_HD void sorted_entry_step(const int* sorted_vertex, const int* sorted_entry, const float* bary, int* start,
                             int* pixel, float* weight, int64_t entries, int vertices, int64_t i) {
  const int v = sorted_vertex[i];
  if (i == 0 || sorted_vertex[i - 1] != v) start[v] = int(i);
  if (i == entries - 1) start[vertices] = int(entries);
  const int e = sorted_entry[i];
  pixel[i] = e / (D + 1);
  weight[i] = bary[e];
}

// A vertex's entries are summed in runs of about sqrt(count), at least 32, then the runs in
// order: neither loop is long even when one vertex gathers a whole flat region.
DL_HD int run_length(int count) {
  const int root = int(ceilf(sqrtf(float(count))));
  return root > 32 ? root : 32;
}

// runs[v] for v < vertices; runs[vertices] = 0, so an exclusive scan leaves the total there.
DL_HD void count_runs_step(const int* start, int* runs, int vertices, int64_t v) {
  if (v == vertices) {
    runs[v] = 0;
    return;
  }
  const int count = start[v + 1] - start[v];
  const int len = run_length(count);
  runs[v] = (count + len - 1) / len;
}

// run_begin[k]: the first sorted entry of run k. Runs are contiguous: run k ends where run k+1
// begins, and the last vertex writes the sentinel `entries` after them.
DL_HD void fill_runs_step(const int* start, const int* run_start, int* run_begin, int vertices, int64_t entries,
                          int64_t v) {
  const int count = start[v + 1] - start[v];
  const int len = run_length(count);
  int b = start[v];
  for (int k = run_start[v]; k < run_start[v + 1]; ++k, b += len) run_begin[k] = b;
  if (v == vertices - 1) run_begin[run_start[vertices]] = int(entries);
}

// Neighbours of vertex v along direction j (t = j * vertices + v) as vertex numbers (-1: none);
// a vertex's key is that of its first sorted entry, first_id maps an entry to its vertex number.
template <int D>
DL_HD void neighbour_step(const unsigned* table, unsigned mask, const int* keys, const int* sorted_entry,
                          const int* start, const int* first_id, int* nbr, int vertices, int64_t t) {
  const int j = int(t / vertices), v = int(t % vertices);
  const int* key = keys + int64_t(sorted_entry[start[v]]) * D;
  int down[D], up[D];
  neighbour_keys<D>(key, j, down, up);
  const unsigned sd = find_key<D>(table, mask, keys, down), su = find_key<D>(table, mask, keys, up);
  nbr[2 * t] = sd == kEmptySlot ? -1 : first_id[table[sd]];
  nbr[2 * t + 1] = su == kEmptySlot ? -1 : first_id[table[su]];
}

// Splat, stage 1: run k's sum of weight x Q(pixel, c) (Q = 1 when null).
DL_HD float splat_run(const int* run_begin, const int* pixel, const float* weight, const float* q, int labels,
                      int64_t k, int c) {
  float sum = 0;
  for (int e = run_begin[k], end = run_begin[k + 1]; e < end; ++e)
    sum += weight[e] * (q ? q[int64_t(pixel[e]) * labels + c] : 1.0f);
  return sum;
}

// Splat, stage 2: vertex v's runs summed in order.
DL_HD float splat_vertex(const int* run_start, const float* partial, int labels, int64_t v, int c) {
  float sum = 0;
  for (int k = run_start[v], end = run_start[v + 1]; k < end; ++k) sum += partial[int64_t(k) * labels + c];
  return sum;
}

// One blur direction at (vertex v, label c): v + (down + up) / 2, a missing neighbour being 0.
// nbr: this direction's (down, up) pairs.
DL_HD float blur_value(const int* nbr, const float* in, int labels, int64_t v, int c) {
  const int lo = nbr[2 * v], hi = nbr[2 * v + 1];
  const float a = lo >= 0 ? in[int64_t(lo) * labels + c] : 0.0f;
  const float b = hi >= 0 ? in[int64_t(hi) * labels + c] : 0.0f;
  return in[v * labels + c] + 0.5f * (a + b);
}

// Slice of a one-value-per-vertex filter at pixel i (the normaliser's filtered constant).
DL_HD float slice_one(const int* vertex, const float* bary, const float* blurred, int corners, int64_t i) {
  float v = 0;
  for (int k = 0; k < corners; ++k) v += bary[i * corners + k] * blurred[vertex[i * corners + k]];
  return v;
}

// The normaliser from the filtered constant: per pixel 1 / f, symmetric 1 / sqrt(f).
DL_HD float normaliser(float filtered_one, bool symmetric) {
  return symmetric ? 1.0f / sqrtf(filtered_one + 1e-20f) : 1.0f / (filtered_one + 1e-20f);
}

}  // namespace deeplab::lattice
