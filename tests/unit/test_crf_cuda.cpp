// The GPU CRF (kernels/crf.cu). Two kinds of tests:
//  - CrfLattice: on the CPU, always. The lattice math of kernels/crf_lattice.h (what the kernels
//    run per element) against its own invariants and against src/crf's Permutohedral, and the
//    GPU's whole pipeline (hash table, vertex numbering, sorted gather splat in runs, blur,
//    normalisers, mean field) replayed on the CPU with those same functions, against DenseCrf.
//  - CrfCuda: on a CUDA device, skipped without one: the GPU CRF against DenseCrf on the
//    densecrf demo photographs (../shared/data/crf-examples) and synthetic scenes.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <unordered_map>
#include <vector>

#include "kernels/crf_lattice.h"  // plain C++, so these tests build with CUDA off too
#include "image/image_io.h"
#include "core/npy.h"
#include "core/rng.h"
#include "crf/dense_crf.h"
#include "crf/permutohedral.h"
#include "test_support.h"
#ifdef DEEPLAB_WITH_CUDA
#include <cuda_runtime.h>

#include "core/device.h"
#include "crf_cuda.h"
#endif

namespace deeplab {
namespace {

namespace lat = lattice;

// ---------------------------------------------------------------------------------------------
// Inputs

struct Scene {
  int h = 0, w = 0;
  std::vector<uint8_t> rgb;
};

// Regions of different colours plus noise, and a coarse noisy unary that roughly follows them
// (stride-8 blocks, as a network's output would): enough for the CRF to move many labels.
Scene make_scene(int h, int w, uint64_t seed) {
  Scene s{h, w, std::vector<uint8_t>(size_t(h) * w * 3)};
  Rng rng(seed);
  const int colours[4][3] = {{200, 60, 40}, {40, 180, 70}, {50, 70, 210}, {220, 210, 60}};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int region = 0;
      if ((x - w / 3) * (x - w / 3) + (y - h / 2) * (y - h / 2) < h * h / 9) region = 1;
      if (x > 2 * w / 3 && y > h / 4) region = 2;
      if (y < h / 6 && x < w / 2) region = 3;
      for (int c = 0; c < 3; ++c)
        s.rgb[(size_t(y) * w + x) * 3 + c] =
            uint8_t(std::clamp(colours[region][c] + rng.uniform(-12, 12), 0.0f, 255.0f));
    }
  return s;
}

Tensor scene_unary(const Scene& s, int labels, uint64_t seed) {
  Rng rng(seed);
  const int bh = (s.h + 7) / 8, bw = (s.w + 7) / 8;
  std::vector<int> block(size_t(bh) * bw);
  for (int by = 0; by < bh; ++by)
    for (int bx = 0; bx < bw; ++bx) {
      const int y = std::min(s.h - 1, by * 8 + 4), x = std::min(s.w - 1, bx * 8 + 4);
      const uint8_t* p = &s.rgb[(size_t(y) * s.w + x) * 3];
      block[size_t(by) * bw + bx] = (p[0] / 64 + 2 * (p[1] / 64) + 3 * (p[2] / 64)) % labels;
    }
  Tensor p({labels, s.h, s.w});
  const int64_t n = int64_t(s.h) * s.w;
  for (int y = 0; y < s.h; ++y)
    for (int x = 0; x < s.w; ++x) {
      const int truth = block[size_t(y / 8) * bw + x / 8];
      for (int l = 0; l < labels; ++l)
        p.data()[l * n + y * s.w + x] = std::max(1e-3f, (l == truth ? 0.5f : 0.5f / labels) + rng.uniform(-0.2f, 0.2f));
    }
  return crf::unary_from_probabilities(p);
}

// The densecrf demo data, beside the repository (or where DEEPLAB_CRF_EXAMPLES says).
std::filesystem::path examples_dir() {
  if (const char* env = std::getenv("DEEPLAB_CRF_EXAMPLES")) return env;
  return std::filesystem::path(__FILE__).parent_path() / "../../../shared/data/crf-examples";
}
bool have_examples() { return std::filesystem::exists(examples_dir() / "im1.png"); }

struct Example {
  std::string name;
  RgbImage image;
  Tensor unary;  // 21 x H x W
};

// The demo's unary from a rough annotation: colours numbered in order of first appearance,
// p = 0.5 on the annotated label and 0.025 elsewhere, uniform where unannotated (black).
Tensor annotation_unary(const RgbImage& anno) {
  const int labels = 21;
  const int64_t n = anno.height * anno.width;
  std::vector<std::array<uint8_t, 3>> colours;
  Tensor u({labels, anno.height, anno.width});
  for (int64_t i = 0; i < n; ++i) {
    const std::array<uint8_t, 3> c{anno.rgb[i * 3], anno.rgb[i * 3 + 1], anno.rgb[i * 3 + 2]};
    int label = -1;
    if (c != std::array<uint8_t, 3>{0, 0, 0}) {
      label = int(std::find(colours.begin(), colours.end(), c) - colours.begin());
      if (label == int(colours.size())) colours.push_back(c);
    }
    for (int l = 0; l < labels; ++l)
      u.data()[l * n + i] = label < 0 ? -std::log(1.0f / labels) : l == label ? -std::log(0.5f) : -std::log(0.025f);
  }
  return u;
}

std::vector<Example> load_examples() {
  std::vector<Example> out;
  const auto dir = examples_dir();
  for (int k = 1; k <= 3; ++k) {
    Example e;
    e.name = "im" + std::to_string(k) + " annotation";
    e.image = read_rgb_image((dir / ("im" + std::to_string(k) + ".png")).string());
    e.unary = annotation_unary(read_rgb_image((dir / ("anno" + std::to_string(k) + ".png")).string()));
    out.push_back(std::move(e));
  }
  // The coarse stride-8-like probability map of im1, H x W x L.
  Tensor hwc = read_npy((dir / "im1_coarse_prob_240x320x21.npy").string());
  Example e;
  e.name = "im1 coarse map";
  e.image = out[0].image;
  const int64_t h = hwc.dim(0), w = hwc.dim(1), labels = hwc.dim(2);
  Tensor p({labels, h, w});
  for (int64_t i = 0; i < h * w; ++i)
    for (int64_t l = 0; l < labels; ++l) p.data()[l * h * w + i] = hwc.data()[i * labels + l];
  e.unary = crf::unary_from_probabilities(p);
  out.push_back(std::move(e));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Comparisons

struct Agreement {
  double labels = 0;     // fraction of pixels with the same label
  double mean_diff = 0;  // mean |difference| of the marginals
  double max_diff = 0;
};

Agreement compare(const std::vector<uint8_t>& la, const float* qa, const std::vector<uint8_t>& lb, const float* qb,
                  int64_t count) {
  Agreement a;
  int64_t same = 0;
  for (size_t i = 0; i < la.size(); ++i) same += la[i] == lb[i];
  a.labels = double(same) / double(la.size());
  for (int64_t i = 0; i < count; ++i) {
    const double d = std::abs(double(qa[i]) - double(qb[i]));
    a.mean_diff += d;
    a.max_diff = std::max(a.max_diff, d);
  }
  a.mean_diff /= double(count);
  return a;
}

crf::CrfParams cpu_params(float bi_w, float bi_xy, float bi_rgb, float pos_w, float pos_xy, int iterations,
                          bool symmetric) {
  crf::CrfParams p;
  p.bi_w = bi_w;
  p.bi_xy_std = bi_xy;
  p.bi_rgb_std = bi_rgb;
  p.pos_w = pos_w;
  p.pos_xy_std = pos_xy;
  p.iterations = iterations;
  p.normalization = symmetric ? crf::Normalization::symmetric : crf::Normalization::per_pixel;
  return p;
}

// ---------------------------------------------------------------------------------------------
// The lattice math

template <int D>
void scales(float* s) {
  for (int i = 0; i < D; ++i) s[i] = lat::feature_scale(D, i);
}

// Full (D+1)-coordinate vertex: the key plus the implied last coordinate.
template <int D>
std::array<int64_t, D + 1> full(const int* key) {
  std::array<int64_t, D + 1> v{};
  int64_t sum = 0;
  for (int i = 0; i < D; ++i) sum += v[i] = key[i];
  v[D] = -sum;
  return v;
}

template <int D>
void check_simplices(uint64_t seed, float range) {
  Rng rng(seed);
  float scale[D];
  scales<D>(scale);
  for (int trial = 0; trial < 2000; ++trial) {
    float f[D], elevated[D + 1];
    for (float& x : f) x = rng.uniform(-range, range);
    lat::elevate<D>(f, scale, elevated);
    lat::Simplex<D> s;
    lat::embed<D>(f, scale, s);
    ASSERT_FALSE(s.overflow);
    // The elevated point lies on the hyperplane x . 1 = 0.
    double on_plane = 0, magnitude = 1;
    for (float e : elevated) on_plane += e, magnitude += std::abs(e);
    ASSERT_NEAR(on_plane, 0.0, 1e-5 * magnitude);
    // rem0 is a remainder-0 lattice point; ranks are a permutation of 0..D.
    std::array<int, D + 1> seen{};
    int64_t rem_sum = 0;
    for (int i = 0; i <= D; ++i) {
      ASSERT_EQ(s.rem0[i] % (D + 1), 0);
      ASSERT_TRUE(s.rank[i] >= 0 && s.rank[i] <= D);
      ++seen[s.rank[i]];
      rem_sum += s.rem0[i];
    }
    ASSERT_EQ(rem_sum, 0);
    for (int c : seen) ASSERT_EQ(c, 1);
    // Weights: non-negative, summing to 1, and the weighted vertices rebuild the point.
    double total = 0;
    std::array<double, D + 1> rebuilt{};
    for (int k = 0; k <= D; ++k) {
      EXPECT_GE(s.bary[k], -1e-5f) << "trial " << trial << " corner " << k;
      total += s.bary[k];
      int key[D];
      lat::vertex_key<D>(s, k, key);
      const auto v = full<D>(key);
      for (int i = 0; i <= D; ++i) {
        // Vertex k has remainder k: every coordinate is k mod D+1.
        ASSERT_EQ(((v[i] - k) % (D + 1) + (D + 1)) % (D + 1), 0) << "vertex " << k;
        rebuilt[i] += double(s.bary[k]) * double(v[i]);
      }
    }
    ASSERT_NEAR(total, 1.0, 1e-5);
    for (int i = 0; i <= D; ++i) ASSERT_NEAR(rebuilt[i], elevated[i], 1e-5 * magnitude) << "coordinate " << i;
  }
}

TEST(CrfLattice, SimplexWeightsAreConvexAndRebuildThePoint) {
  check_simplices<2>(1, 5.0f);
  check_simplices<2>(2, 300.0f);
  check_simplices<5>(3, 5.0f);
  check_simplices<5>(4, 60.0f);
}

TEST(CrfLattice, FeatureScaleIsPermutohedralsUnitStdScale) {
  for (int d : {2, 5})
    for (int i = 0; i < d; ++i)
      EXPECT_FLOAT_EQ(lat::feature_scale(d, i),
                      std::sqrt(2.0f / 3.0f) * float(d + 1) / std::sqrt(float((i + 1) * (i + 2))));
}

template <int D>
void check_neighbours() {
  Rng rng(D);
  for (int trial = 0; trial < 200; ++trial) {
    // A random lattice point of remainder r.
    const int r = int(rng.uniform(0, float(D + 1) - 0.01f));
    int key[D];
    for (int i = 0; i < D; ++i) key[i] = (D + 1) * int(rng.uniform(-50, 50)) + r;
    const auto v = full<D>(key);
    for (int j = 0; j <= D; ++j) {
      int down[D], up[D], back[D], ignored[D];
      lat::neighbour_keys<D>(key, j, down, up);
      const auto vd = full<D>(down), vu = full<D>(up);
      for (int i = 0; i <= D; ++i) {
        // The direction vector: D at coordinate j, -1 elsewhere (down adds it, up subtracts it).
        const int64_t dir = i == j ? D : -1;
        ASSERT_EQ(vd[i] - v[i], dir) << "j " << j << " i " << i;
        ASSERT_EQ(vu[i] - v[i], -dir) << "j " << j << " i " << i;
      }
      lat::neighbour_keys<D>(down, j, ignored, back);  // one step up from down is the point again
      ASSERT_TRUE(lat::keys_equal<D>(back, key));
      ASSERT_FALSE(lat::keys_equal<D>(down, key));
      ASSERT_EQ(lat::key_hash<D>(back), lat::key_hash<D>(key));
    }
  }
}

TEST(CrfLattice, NeighbourKeysStepAlongTheLatticeDirections) {
  check_neighbours<2>();
  check_neighbours<5>();
}

TEST(CrfLattice, HashSpreadsNearbyKeys) {
  // The vertices of a small region differ in low bits only: they must still fill distinct slots
  // of a table sized as the GPU sizes it, with short probe runs.
  const int side = 40;
  std::vector<std::array<int, 2>> keys;
  for (int a = -side; a < side; ++a)
    for (int b = -side; b < side; ++b) keys.push_back({3 * a, 3 * b});
  const unsigned cap = lat::table_capacity(keys.size()), mask = cap - 1;
  std::vector<unsigned> table(cap, lat::kEmptySlot);
  std::vector<int> flat(keys.size() * 2);
  for (size_t i = 0; i < keys.size(); ++i) flat[2 * i] = keys[i][0], flat[2 * i + 1] = keys[i][1];
  int longest = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    int probes = 0;
    unsigned s = unsigned(lat::key_hash<2>(&flat[2 * i])) & mask;
    while (table[s] != lat::kEmptySlot) s = (s + 1) & mask, ++probes;
    table[s] = unsigned(i);
    longest = std::max(longest, probes);
  }
  EXPECT_LT(longest, 40);
}

// The table's operations as one thread sees them (the GPU's are atomics).
struct HostOps {
  static unsigned load(const unsigned* p) { return *p; }
  static unsigned cas(unsigned* p, unsigned expected, unsigned desired) {
    const unsigned old = *p;
    if (old == expected) *p = desired;
    return old;
  }
  static void min(unsigned* p, unsigned v) { *p = std::min(*p, v); }
};

// ---------------------------------------------------------------------------------------------
// The GPU pipeline on the CPU: the kernels' per-element functions in sequential loops; the
// scans and the stable sort that CUB does, done with the standard library.

struct MirrorLattice {
  int d = 0, vertices = 0;
  float weight = 0;
  std::vector<int> vertex, start, pixel, run_start, run_begin, nbr;
  std::vector<float> bary, splat_weight, norm;

  // Splat (q: n x labels; null = ones), then the d+1 blurs: vertices x labels.
  std::vector<float> filter(const float* q, int labels) const {
    const int runs = run_start[vertices];
    std::vector<float> partial(size_t(runs) * labels), a(size_t(vertices) * labels), b(a.size());
    for (int k = 0; k < runs; ++k)
      for (int c = 0; c < labels; ++c)
        partial[size_t(k) * labels + c] =
            lat::splat_run(run_begin.data(), pixel.data(), splat_weight.data(), q, labels, k, c);
    for (int v = 0; v < vertices; ++v)
      for (int c = 0; c < labels; ++c)
        a[size_t(v) * labels + c] = lat::splat_vertex(run_start.data(), partial.data(), labels, v, c);
    for (int j = 0; j <= d; ++j) {
      const int* nb = nbr.data() + 2 * size_t(j) * vertices;
      for (int v = 0; v < vertices; ++v)
        for (int c = 0; c < labels; ++c) b[size_t(v) * labels + c] = lat::blur_value(nb, a.data(), labels, v, c);
      a.swap(b);
    }
    return a;
  }
};

std::vector<int> exclusive_scan(const std::vector<int>& in) {
  std::vector<int> out(in.size());
  int sum = 0;
  for (size_t i = 0; i < in.size(); ++i) out[i] = sum, sum += in[i];
  return out;
}

// insert_order: the order entries go into the hash table (a GPU runs them in any order).
template <int D>
MirrorLattice build_mirror(const uint8_t* rgb, int h, int w, float xy_std, float rgb_std, bool symmetric,
                           uint64_t shuffle_seed = 0) {
  const int64_t n = int64_t(h) * w, entries = n * (D + 1);
  MirrorLattice l;
  l.d = D;
  float scale[8];
  scales<D>(scale);
  std::vector<int> keys(entries * D);
  l.bary.resize(entries);
  for (int64_t i = 0; i < n; ++i)
    EXPECT_FALSE(lat::embed_pixel<D>(rgb, w, xy_std, rgb_std, scale, i, keys.data(), l.bary.data()));

  const unsigned cap = lat::table_capacity(size_t(entries));
  std::vector<unsigned> table(cap, lat::kEmptySlot), slot(entries);
  std::vector<unsigned> order(entries);
  std::iota(order.begin(), order.end(), 0u);
  if (shuffle_seed) {
    Rng rng(shuffle_seed);
    for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.next() % (i + 1)]);
  }
  for (unsigned p : order) slot[p] = lat::insert_entry<D, HostOps>(table.data(), cap - 1, keys.data(), p);

  std::vector<int> flags(entries);
  for (int64_t p = 0; p < entries; ++p) flags[p] = table[slot[p]] == unsigned(p);
  const std::vector<int> first_id = exclusive_scan(flags);
  const int m = first_id.back() + flags.back();
  l.vertices = m;
  l.vertex.resize(entries);
  for (int64_t p = 0; p < entries; ++p) l.vertex[p] = first_id[table[slot[p]]];

  std::vector<int> sorted_entry(entries), sorted_vertex(entries);
  std::iota(sorted_entry.begin(), sorted_entry.end(), 0);
  std::stable_sort(sorted_entry.begin(), sorted_entry.end(), [&](int a, int b) { return l.vertex[a] < l.vertex[b]; });
  for (int64_t i = 0; i < entries; ++i) sorted_vertex[i] = l.vertex[sorted_entry[i]];
  l.start.assign(m + 1, -1);
  l.pixel.resize(entries);
  l.splat_weight.resize(entries);
  for (int64_t i = 0; i < entries; ++i)
    lat::sorted_entry_step<D>(sorted_vertex.data(), sorted_entry.data(), l.bary.data(), l.start.data(), l.pixel.data(),
                              l.splat_weight.data(), entries, m, i);
  std::vector<int> runs(m + 1);
  for (int v = 0; v <= m; ++v) lat::count_runs_step(l.start.data(), runs.data(), m, v);
  l.run_start = exclusive_scan(runs);
  const int64_t max_runs = int64_t(m) + (entries + 31) / 32;  // as crf.cu sizes its buffers
  EXPECT_LE(l.run_start[m], max_runs);
  l.run_begin.assign(max_runs + 1, -1);
  for (int v = 0; v < m; ++v)
    lat::fill_runs_step(l.start.data(), l.run_start.data(), l.run_begin.data(), m, entries, v);
  l.nbr.resize(2 * size_t(m) * (D + 1));
  for (int64_t t = 0; t < int64_t(m) * (D + 1); ++t)
    lat::neighbour_step<D>(table.data(), cap - 1, keys.data(), sorted_entry.data(), l.start.data(), first_id.data(),
                           l.nbr.data(), m, t);

  const std::vector<float> one = l.filter(nullptr, 1);
  l.norm.resize(n);
  for (int64_t i = 0; i < n; ++i)
    l.norm[i] = lat::normaliser(lat::slice_one(l.vertex.data(), l.bary.data(), one.data(), D + 1, i), symmetric);
  if (symmetric)
    for (int64_t i = 0; i < entries; ++i) l.splat_weight[i] *= l.norm[l.pixel[i]];
  return l;
}

struct MirrorResult {
  std::vector<uint8_t> labels;
  std::vector<float> marginals;  // L x n
};

// crf.cu's mean field: the same lattices, the same slicing order, softmax and argmax.
MirrorResult mirror_crf(const uint8_t* rgb, int h, int w, const Tensor& unary, const crf::CrfParams& p) {
  const int labels = int(unary.dim(0));
  const int64_t n = int64_t(h) * w;
  const bool symmetric = p.normalization == crf::Normalization::symmetric;
  std::vector<MirrorLattice> lattices;
  if (p.bi_w > 0) {
    lattices.push_back(build_mirror<5>(rgb, h, w, p.bi_xy_std, p.bi_rgb_std, symmetric));
    lattices.back().weight = p.bi_w;
  }
  if (p.pos_w > 0) {
    lattices.push_back(build_mirror<2>(rgb, h, w, p.pos_xy_std, 1.0f, symmetric));
    lattices.back().weight = p.pos_w;
  }
  std::vector<float> u(n * labels), q(n * labels), acc(labels);
  for (int64_t i = 0; i < n; ++i)
    for (int c = 0; c < labels; ++c) u[i * labels + c] = unary.data()[c * n + i];
  MirrorResult r{std::vector<uint8_t>(n), std::vector<float>(n * labels)};
  for (int it = 0; it <= p.iterations; ++it) {
    std::vector<std::vector<float>> blurred;
    if (it > 0)
      for (const MirrorLattice& l : lattices) blurred.push_back(l.filter(q.data(), labels));
    for (int64_t i = 0; i < n; ++i) {
      for (int c = 0; c < labels; ++c) acc[c] = -u[i * labels + c];
      for (size_t k = 0; k < blurred.size(); ++k) {
        const MirrorLattice& l = lattices[k];
        const float scale = l.weight * l.norm[i];
        for (int corner = 0; corner <= l.d; ++corner) {
          const int64_t e = i * (l.d + 1) + corner;
          const float s = scale * l.bary[e];
          for (int c = 0; c < labels; ++c) acc[c] += s * blurred[k][size_t(l.vertex[e]) * labels + c];
        }
      }
      const float top = *std::max_element(acc.begin(), acc.end());
      float total = 0;
      for (float& a : acc) total += a = std::exp(a - top);
      int best = 0;
      for (int c = 0; c < labels; ++c) {
        q[i * labels + c] = acc[c] / total;
        if (q[i * labels + c] > q[i * labels + best]) best = c;
      }
      if (it == p.iterations) {
        r.labels[i] = uint8_t(best);
        for (int c = 0; c < labels; ++c) r.marginals[c * n + i] = q[i * labels + c];
      }
    }
  }
  return r;
}

// A filter written with the shared math alone and a std::unordered_map for the lattice.
template <int D>
std::vector<float> map_filter(const std::vector<float>& features, const std::vector<float>& values, int stride) {
  struct Hash {
    size_t operator()(const std::array<int, D>& k) const { return size_t(lat::key_hash<D>(k.data())); }
  };
  using Map = std::unordered_map<std::array<int, D>, std::vector<double>, Hash>;
  const int64_t n = int64_t(features.size()) / D;
  float scale[D];
  scales<D>(scale);
  Map lattice;
  std::vector<lat::Simplex<D>> simplices(n);
  for (int64_t i = 0; i < n; ++i) {
    lat::embed<D>(&features[i * D], scale, simplices[i]);
    for (int k = 0; k <= D; ++k) {
      std::array<int, D> key;
      lat::vertex_key<D>(simplices[i], k, key.data());
      auto& row = lattice.try_emplace(key, std::vector<double>(stride, 0.0)).first->second;
      for (int c = 0; c < stride; ++c) row[c] += double(simplices[i].bary[k]) * values[i * stride + c];
    }
  }
  for (int j = 0; j <= D; ++j) {
    Map next;
    for (const auto& [key, row] : lattice) {
      std::array<int, D> down, up;
      lat::neighbour_keys<D>(key.data(), j, down.data(), up.data());
      const auto lo = lattice.find(down), hi = lattice.find(up);
      std::vector<double> out = row;
      for (int c = 0; c < stride; ++c)
        out[c] += 0.5 * ((lo != lattice.end() ? lo->second[c] : 0.0) + (hi != lattice.end() ? hi->second[c] : 0.0));
      next.emplace(key, std::move(out));
    }
    lattice.swap(next);
  }
  std::vector<float> out(n * stride, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k <= D; ++k) {
      std::array<int, D> key;
      lat::vertex_key<D>(simplices[i], k, key.data());
      const auto& row = lattice.at(key);
      for (int c = 0; c < stride; ++c) out[i * stride + c] += float(double(simplices[i].bary[k]) * row[c]);
    }
  return out;
}

template <int D>
void check_filter(uint64_t seed, float range) {
  const int64_t n = 3000;
  const int stride = 8;
  Rng rng(seed);
  std::vector<float> f(n * D), v(n * stride);
  for (float& x : f) x = rng.uniform(0, range);
  for (float& x : v) x = rng.uniform(0, 1);
  crf::Permutohedral reference;
  reference.build(f.data(), n, D);
  std::vector<float> expected(n * stride);
  reference.filter(v.data(), expected.data(), stride);
  const std::vector<float> got = map_filter<D>(f, v, stride);
  double worst = 0;
  for (int64_t i = 0; i < n * stride; ++i)
    worst = std::max(worst, std::abs(double(got[i]) - expected[i]) / std::max(1.0, std::abs(double(expected[i]))));
  EXPECT_LT(worst, 1e-5) << "d = " << D << ", range " << range;  // measured: below 1e-6
}

TEST(CrfLattice, MapFilterWithTheSharedMathEqualsPermutohedral) {
  check_filter<2>(11, 4.0f);
  check_filter<2>(12, 40.0f);
  check_filter<5>(13, 4.0f);
  check_filter<5>(14, 15.0f);
}

TEST(CrfLattice, GpuPipelineFilterEqualsPermutohedral) {
  // The mirror's splat (gather over sorted entries in runs), blur and the normaliser against
  // Permutohedral on an image's features: values, then filter(1).
  Scene s = make_scene(48, 64, 5);
  const int64_t n = int64_t(s.h) * s.w;
  for (bool appearance : {true, false}) {
    const float xy = appearance ? 20.0f : 3.0f, colour = 6.0f;
    const int d = appearance ? 5 : 2;
    MirrorLattice l = appearance ? build_mirror<5>(s.rgb.data(), s.h, s.w, xy, colour, false)
                                 : build_mirror<2>(s.rgb.data(), s.h, s.w, xy, 1.0f, false);
    std::vector<float> f(n * d);
    for (int64_t i = 0; i < n; ++i) {
      if (appearance)
        lat::pixel_features<5>(s.rgb.data(), s.w, xy, colour, i, &f[i * d]);
      else
        lat::pixel_features<2>(s.rgb.data(), s.w, xy, colour, i, &f[i * d]);
    }
    crf::Permutohedral reference;
    reference.build(f.data(), n, d);
    EXPECT_EQ(reference.lattice_size(), l.vertices);
    const int labels = 8;
    Rng rng(7);
    std::vector<float> q(n * labels), expected(n * labels);
    for (float& x : q) x = rng.uniform(0, 1);
    reference.filter(q.data(), expected.data(), labels);
    const std::vector<float> blurred = l.filter(q.data(), labels);
    double worst = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int c = 0; c < labels; ++c) {
        float got = 0;
        for (int k = 0; k <= d; ++k)
          got += l.bary[i * (d + 1) + k] * blurred[size_t(l.vertex[i * (d + 1) + k]) * labels + c];
        const double e = expected[i * labels + c];
        worst = std::max(worst, std::abs(got - e) / std::max(1.0, std::abs(e)));
      }
    EXPECT_LT(worst, 2e-5) << (appearance ? "appearance" : "smoothness");  // float sums: measured 5e-6
    // The normaliser is 1 / filter(1).
    std::vector<float> ones(n * 8, 1.0f), filtered(n * 8);
    reference.filter(ones.data(), filtered.data(), 8);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(l.norm[i] * filtered[i * 8], 1.0f, 1e-5f) << i;
  }
}

TEST(CrfLattice, VertexNumbersDoNotDependOnTheInsertOrder) {
  // A GPU inserts entries in any order; the vertex numbers (first occurrence) and so every later
  // array must come out the same.
  Scene s = make_scene(24, 30, 9);
  const MirrorLattice a = build_mirror<5>(s.rgb.data(), s.h, s.w, 10.0f, 8.0f, false);
  const MirrorLattice b = build_mirror<5>(s.rgb.data(), s.h, s.w, 10.0f, 8.0f, false, 77);
  EXPECT_EQ(a.vertices, b.vertices);
  EXPECT_EQ(a.vertex, b.vertex);
  EXPECT_EQ(a.nbr, b.nbr);
  EXPECT_EQ(a.run_begin, b.run_begin);
  // Numbered by first occurrence: entry 0 is vertex 0, and numbers never skip ahead.
  int seen = -1;
  for (int v : a.vertex) {
    ASSERT_LE(v, seen + 1);
    seen = std::max(seen, v);
  }
}

TEST(CrfLattice, SplatRunsCoverEveryEntryOnceEvenForHugeVertices) {
  // A flat image puts thousands of pixels on the same few vertices: they are split into runs.
  std::vector<uint8_t> flat(60 * 80 * 3, 128);
  const MirrorLattice l = build_mirror<5>(flat.data(), 60, 80, 121.0f, 5.0f, false);
  const int runs = l.run_start[l.vertices];
  EXPECT_GT(runs, l.vertices);  // some vertex has several runs
  for (int v = 0; v < l.vertices; ++v) {
    ASSERT_EQ(l.run_begin[l.run_start[v]], l.start[v]);
    const int count = l.start[v + 1] - l.start[v];
    for (int k = l.run_start[v]; k < l.run_start[v + 1]; ++k) {
      ASSERT_GT(l.run_begin[k + 1], l.run_begin[k]);
      ASSERT_LE(l.run_begin[k + 1] - l.run_begin[k], lat::run_length(count));
    }
  }
  EXPECT_EQ(l.run_begin[runs], int(l.pixel.size()));
}

void expect_matches_dense_crf(const uint8_t* rgb, int h, int w, const Tensor& unary, const crf::CrfParams& p,
                              const std::string& what) {
  const crf::CrfResult cpu = crf::DenseCrf(rgb, h, w, p).infer(unary);
  const MirrorResult mirror = mirror_crf(rgb, h, w, unary, p);
  const Agreement a =
      compare(mirror.labels, mirror.marginals.data(), cpu.labels.data, cpu.marginals.data(), cpu.marginals.numel());
  // The same arithmetic in another order: measured, labels all equal, marginals within 3e-6.
  EXPECT_GE(a.labels, 0.999) << what;
  EXPECT_LT(a.mean_diff, 1e-6) << what;
  EXPECT_LT(a.max_diff, 1e-4) << what;
}

TEST(CrfLattice, GpuPipelineOnTheCpuMatchesDenseCrf) {
  Scene s = make_scene(60, 80, 3);
  for (bool symmetric : {false, true}) {
    const std::string norm = symmetric ? "symmetric" : "per pixel";
    Tensor u21 = scene_unary(s, 21, 4);
    expect_matches_dense_crf(s.rgb.data(), s.h, s.w, u21, cpu_params(4, 121, 5, 3, 3, 10, symmetric),
                             "DeepLab defaults, 21 labels, " + norm);
    expect_matches_dense_crf(s.rgb.data(), s.h, s.w, u21, cpu_params(5, 20, 8, 3, 1, 10, symmetric),
                             "small stds, " + norm);
    Tensor u3 = scene_unary(s, 3, 5);
    expect_matches_dense_crf(s.rgb.data(), s.h, s.w, u3, cpu_params(4, 30, 5, 0, 3, 5, symmetric),
                             "appearance only, 3 labels, " + norm);
    expect_matches_dense_crf(s.rgb.data(), s.h, s.w, u3, cpu_params(0, 30, 5, 3, 3, 5, symmetric),
                             "smoothness only, " + norm);
  }
}

TEST(CrfLattice, GpuPipelineOnTheCpuMatchesDenseCrfOnTheDemoPhotographs) {
  if (!have_examples()) GTEST_SKIP() << "no crf-examples data at " << examples_dir();
  const std::vector<Example> examples = load_examples();
  // The annotation of im1 and the coarse map, with the DeepLab parameters (the other images
  // run on the GPU test; this one is a CPU replay, slower).
  for (const Example& e : {examples[0], examples[3]})
    expect_matches_dense_crf(e.image.rgb.data(), int(e.image.height), int(e.image.width), e.unary, crf::CrfParams{},
                             e.name);
}

// ---------------------------------------------------------------------------------------------
// On the device

#ifdef DEEPLAB_WITH_CUDA

cuda::CrfKernelParams gpu_params(const crf::CrfParams& p) {
  cuda::CrfKernelParams g;
  g.bi_w = p.bi_w;
  g.bi_xy_std = p.bi_xy_std;
  g.bi_rgb_std = p.bi_rgb_std;
  g.pos_w = p.pos_w;
  g.pos_xy_std = p.pos_xy_std;
  g.iterations = p.iterations;
  g.symmetric = p.normalization == crf::Normalization::symmetric;
  return g;
}

struct GpuResult {
  std::vector<uint8_t> labels;
  std::vector<float> marginals;
};

GpuResult run_gpu(cuda::CudaCrf& crf, const uint8_t* rgb, int h, int w, const Tensor& unary, const crf::CrfParams& p) {
  GpuResult r{std::vector<uint8_t>(size_t(h) * w), std::vector<float>(unary.numel())};
  crf.infer(rgb, h, w, unary.data(), int(unary.dim(0)), gpu_params(p), r.marginals.data(), r.labels.data());
  return r;
}

void expect_gpu_matches_cpu(cuda::CudaCrf& crf, const uint8_t* rgb, int h, int w, const Tensor& unary,
                            const crf::CrfParams& p, const std::string& what) {
  const crf::CrfResult cpu = crf::DenseCrf(rgb, h, w, p).infer(unary);
  const GpuResult gpu = run_gpu(crf, rgb, h, w, unary, p);
  const Agreement a = compare(gpu.labels, gpu.marginals.data(), cpu.labels.data, cpu.marginals.data(), unary.numel());
  // The CPU replay of this pipeline agrees with DenseCrf to 3e-6; the device differs from it only
  // in rounding (expf, fused multiply-adds), so these bounds are loose.
  EXPECT_GE(a.labels, 0.995) << what;
  EXPECT_LT(a.mean_diff, 1e-4) << what;
  EXPECT_LT(a.max_diff, 0.02) << what;
  // The labels are the argmax of the marginals.
  const int64_t n = int64_t(h) * w, labels = unary.dim(0);
  for (int64_t i = 0; i < n; i += 97) {
    int best = 0;
    double sum = 0;
    for (int64_t l = 0; l < labels; ++l) {
      sum += gpu.marginals[l * n + i];
      if (gpu.marginals[l * n + i] > gpu.marginals[best * n + i]) best = int(l);
    }
    ASSERT_EQ(gpu.labels[i], best) << what << ", pixel " << i;
    ASSERT_NEAR(sum, 1.0, 1e-4) << what << ", pixel " << i;
  }
}

TEST(CrfCuda, MatchesTheCpuCrfOnTheDemoPhotographs) {
  SKIP_WITHOUT_GPU();
  if (!have_examples()) SKIP_GPU_TEST("no crf-examples data at " << examples_dir());
  cuda::CudaCrf crf(0);
  for (const Example& e : load_examples())
    for (bool symmetric : {false, true}) {
      crf::CrfParams p;  // DeepLab-LargeFOV's values
      p.normalization = symmetric ? crf::Normalization::symmetric : crf::Normalization::per_pixel;
      expect_gpu_matches_cpu(crf, e.image.rgb.data(), int(e.image.height), int(e.image.width), e.unary, p,
                             e.name + (symmetric ? ", symmetric" : ", per pixel"));
    }
}

TEST(CrfCuda, MatchesTheCpuCrfOnScenesOfManySizesAndLabelCounts) {
  SKIP_WITHOUT_GPU();
  cuda::CudaCrf crf(0);  // one context for all: buffers grow and shrink between images
  int index = 0;
  for (auto [h, w, labels] : {std::array<int, 3>{60, 80, 21},
                              {17, 23, 1},
                              {40, 30, 2},
                              {90, 120, 5},
                              {33, 45, 16},
                              {50, 64, 33},
                              {30, 40, 255},
                              {1, 50, 3},
                              {120, 160, 21}}) {
    Scene s = make_scene(h, w, 100 + index);
    Tensor u = scene_unary(s, labels, 200 + index);
    expect_gpu_matches_cpu(crf, s.rgb.data(), h, w, u, crf::CrfParams{}, "scene " + std::to_string(index));
    expect_gpu_matches_cpu(crf, s.rgb.data(), h, w, u, cpu_params(5, 20, 8, 3, 1, 7, true),
                           "scene " + std::to_string(index) + ", symmetric");
    ++index;
  }
}

TEST(CrfCuda, WeightsOffAndNoIterationsGiveTheUnarySoftmax) {
  SKIP_WITHOUT_GPU();
  cuda::CudaCrf crf(0);
  Scene s = make_scene(30, 40, 1);
  Tensor u = scene_unary(s, 4, 2);
  for (auto p : {cpu_params(0, 121, 5, 0, 3, 10, false), cpu_params(4, 121, 5, 3, 3, 0, false)})
    expect_gpu_matches_cpu(crf, s.rgb.data(), s.h, s.w, u, p, "no messages");
}

TEST(CrfCuda, SameAnswerEveryRunAndFromDevicePointers) {
  SKIP_WITHOUT_GPU();
  Scene s = make_scene(64, 96, 4);
  Tensor u = scene_unary(s, 21, 5);
  cuda::CudaCrf crf(0);
  const crf::CrfParams p;
  const GpuResult a = run_gpu(crf, s.rgb.data(), s.h, s.w, u, p);
  Scene other = make_scene(80, 50, 6);  // another image in between: nothing stale may leak
  run_gpu(crf, other.rgb.data(), other.h, other.w, scene_unary(other, 21, 7), p);
  const GpuResult b = run_gpu(crf, s.rgb.data(), s.h, s.w, u, p);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.marginals, b.marginals);  // gathers, not atomics: bit for bit
  GpuResult c{std::vector<uint8_t>(a.labels.size()), std::vector<float>(a.marginals.size())};
  cuda::dense_crf(s.rgb.data(), s.h, s.w, u.data(), 21, gpu_params(p), c.marginals.data(), 0, c.labels.data());
  EXPECT_EQ(a.marginals, c.marginals);

  // The device-pointer variant on the same input gives the same marginals.
  unsigned char* d_rgb = nullptr;
  float *d_u = nullptr, *d_q = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_rgb), s.rgb.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_u), u.numel() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d_q), u.numel() * sizeof(float)), cudaSuccess);
  cudaMemcpy(d_rgb, s.rgb.data(), s.rgb.size(), cudaMemcpyHostToDevice);
  cudaMemcpy(d_u, u.data(), u.numel() * sizeof(float), cudaMemcpyHostToDevice);
  crf.infer_device(d_rgb, s.h, s.w, d_u, 21, gpu_params(p), d_q);
  std::vector<float> q(u.numel());
  cudaMemcpy(q.data(), d_q, q.size() * sizeof(float), cudaMemcpyDeviceToHost);
  cudaFree(d_rgb);
  cudaFree(d_u);
  cudaFree(d_q);
  EXPECT_EQ(q, a.marginals);
}

TEST(CrfCuda, BadInputIsAClearError) {
  SKIP_WITHOUT_GPU();
  cuda::CudaCrf crf(0);
  std::vector<uint8_t> img(10 * 12 * 3, 50);
  std::vector<float> u(3 * 10 * 12, 1.0f), q(u.size());
  auto message = [&](auto f) -> std::string {
    try {
      f();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "no error";
  };
  cuda::CrfKernelParams p;
  p.bi_rgb_std = 0;
  EXPECT_NE(message([&] { crf.infer(img.data(), 10, 12, u.data(), 3, p, q.data()); }).find("bi_rgb_std"),
            std::string::npos);
  p = {};
  p.pos_xy_std = 1e-9f;
  EXPECT_NE(message([&] { crf.infer(img.data(), 10, 12, u.data(), 3, p, q.data()); }).find("below 0.01"),
            std::string::npos);
  p = {};
  EXPECT_NE(message([&] { crf.infer(img.data(), 10, 12, u.data(), 0, p, q.data()); }).find("labels"),
            std::string::npos);
  u[3 + 2 * 12 + 1 * 120] = std::nanf("");  // label 1, y 2, x 3
  EXPECT_NE(message([&] { crf.infer(img.data(), 10, 12, u.data(), 3, p, q.data()); }).find("label 1, y 2, x 3"),
            std::string::npos);
  EXPECT_NE(message([] { cuda::CudaCrf none(cuda_device_count()); }).find("does not exist"), std::string::npos);
  // The context still works after errors.
  u[3 + 2 * 12 + 1 * 120] = 1.0f;
  EXPECT_NO_THROW(crf.infer(img.data(), 10, 12, u.data(), 3, p, q.data()));
}

#endif  // DEEPLAB_WITH_CUDA

}  // namespace
}  // namespace deeplab
