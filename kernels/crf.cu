// The fully connected CRF on the device (see crf_cuda.h). Per image and kernel, the lattice is
// built in steps, each a kernel over entries (a pixel's simplex corner: n x (d+1) of them):
//   embed    each pixel's simplex and barycentric weights; its corners' keys
//   insert   every key into an open-addressing hash table (atomicCAS, then atomicMin so a slot
//            ends up holding the smallest entry with its key)
//   number   vertices by first occurrence (a scan over "am I my slot's entry"): deterministic
//   sort     entries by vertex (stable radix sort), so splatting gathers instead of scattering
//            with atomics: no contention on busy vertices, and the same sums every run
//   runs     each vertex's entries into runs of about sqrt(count) (at least 32), summed in two
//            stages, so a vertex shared by a whole flat region is not one thread's long loop
//   neighbours of every vertex along the d+1 blur directions, looked up in the table
//   norm     the filter's response to a constant image (splat ones, blur, slice)
// Mean field then runs on the device: splat Q (all labels at once, L values per vertex), blur
// along each direction with [1/2 1 1/2], and one kernel per pixel that slices both lattices,
// adds the unary and takes the softmax. The arithmetic follows src/crf/ step by step.
#include <cuda_runtime.h>

#include <cmath>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <string>
#include <utility>

#include "core/cuda_check.h"
#include "crf_cuda.h"
#include "crf_lattice.h"

namespace deeplab::cuda {
namespace {

namespace lat = lattice;

#define CRF_CHECK(call) cuda_check((call), "CRF: " #call)

constexpr int kBlock = 256;
unsigned grid_for(int64_t count) { return unsigned((count + kBlock - 1) / kBlock); }

void check_launch(const char* what) { cuda_check(cudaGetLastError(), what); }

struct Status {
  unsigned long long bad_unary;  // smallest index (L x H x W) of a non-finite unary; all ones if none
  int overflow;                  // a lattice coordinate too large to place
  int vertices;                  // the lattice just numbered
};

struct Scales {
  float v[8];
};

struct DeviceTableOps {
  // Through L2 (not the SM's L1, which other SMs' writes do not update).
  __device__ static unsigned load(const unsigned* p) { return __ldcg(p); }
  __device__ static unsigned cas(unsigned* p, unsigned expected, unsigned desired) {
    return atomicCAS(p, expected, desired);
  }
  __device__ static void min(unsigned* p, unsigned v) { atomicMin(p, v); }
};

// ---- lattice construction ----

template <int D>
__global__ void embed_kernel(const unsigned char* rgb, int64_t n, int width, float xy_std, float rgb_std, Scales scale,
                             int* keys, float* bary, Status* status) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (lat::embed_pixel<D>(rgb, width, xy_std, rgb_std, scale.v, i, keys, bary)) status->overflow = 1;
}

// Keys were all written by the previous kernel, so comparing against another entry's key is safe.
template <int D>
__global__ void insert_kernel(unsigned* table, unsigned mask, const int* keys, unsigned* slot, int64_t entries) {
  const int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= entries) return;
  slot[p] = lat::insert_entry<D, DeviceTableOps>(table, mask, keys, unsigned(p));
}

__global__ void first_flags_kernel(const unsigned* table, const unsigned* slot, int* flags, int64_t entries) {
  const int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= entries) return;
  flags[p] = table[slot[p]] == unsigned(p);
}

__global__ void count_vertices_kernel(const int* flags, const int* first_id, int64_t entries, Status* status) {
  status->vertices = first_id[entries - 1] + flags[entries - 1];
}

// vertex[p]: the number of p's vertex; order[p] = p, the values the sort carries along.
__global__ void assign_vertex_kernel(const unsigned* table, const unsigned* slot, const int* first_id, int* vertex,
                                     int* order, int64_t entries) {
  const int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= entries) return;
  vertex[p] = first_id[table[slot[p]]];
  order[p] = int(p);
}

// After the sort: each vertex's run of entries [start[v], start[v+1]), their pixels and weights.
template <int D>
__global__ void csr_kernel(const int* sorted_vertex, const int* sorted_entry, const float* bary, int* start, int* pixel,
                           float* weight, int64_t entries, int vertices) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= entries) return;
  lat::sorted_entry_step<D>(sorted_vertex, sorted_entry, bary, start, pixel, weight, entries, vertices, i);
}

__global__ void count_runs_kernel(const int* start, int* runs, int vertices) {
  const int64_t v = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (v > vertices) return;
  lat::count_runs_step(start, runs, vertices, v);
}

__global__ void fill_runs_kernel(const int* start, const int* run_start, int* run_begin, int vertices,
                                 int64_t entries) {
  const int64_t v = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (v >= vertices) return;
  lat::fill_runs_step(start, run_start, run_begin, vertices, entries, v);
}

// nbr[2 (j * vertices + v) + 0/1] = the vertices one step down and up direction j from v.
template <int D>
__global__ void neighbour_kernel(const unsigned* table, unsigned mask, const int* keys, const int* sorted_entry,
                                 const int* start, const int* first_id, int* nbr, int vertices) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= int64_t(vertices) * (D + 1)) return;
  lat::neighbour_step<D>(table, mask, keys, sorted_entry, start, first_id, nbr, vertices, t);
}

// ---- filtering ----

// Stage 1 of the splat: partial[k] = sum over run k of weight x Q(pixel) (Q = 1 when null).
// Launched for an upper bound of runs; the true count is run_begin's sentinel position.
__global__ void splat_runs_kernel(const int* run_begin, const int* total_runs, const int* pixel, const float* weight,
                                  const float* q, int labels, float* partial, int64_t max_runs) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t k = t / labels;
  if (k >= max_runs || k >= *total_runs) return;
  partial[t] = lat::splat_run(run_begin, pixel, weight, q, labels, k, int(t % labels));
}

// Stage 2: each vertex's runs summed in order.
__global__ void splat_vertices_kernel(const int* run_start, const float* partial, int labels, float* out,
                                      int vertices) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= int64_t(vertices) * labels) return;
  out[t] = lat::splat_vertex(run_start, partial, labels, t / labels, int(t % labels));
}

__global__ void blur_kernel(const int* nbr, const float* in, float* out, int vertices, int labels) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= int64_t(vertices) * labels) return;
  out[t] = lat::blur_value(nbr, in, labels, t / labels, int(t % labels));
}

// The per-pixel normaliser from the filtered constant (one value per vertex).
__global__ void norm_kernel(const int* vertex, const float* bary, const float* blurred, float* norm, int64_t n,
                            int corners, bool symmetric) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  norm[i] = lat::normaliser(lat::slice_one(vertex, bary, blurred, corners, i), symmetric);
}

// Symmetric normalisation splats n_j Q_j: fold n_j into the splat weights once.
__global__ void scale_weights_kernel(const int* pixel, const float* norm, float* weight, int64_t entries) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= entries) return;
  weight[i] *= norm[pixel[i]];
}

// ---- mean field ----

__global__ void transpose_unary_kernel(const float* unary, float* u, int64_t n, int labels, Status* status) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= n * labels) return;
  const int64_t i = t / labels, c = t % labels, src = c * n + i;
  const float v = unary[src];
  if (!isfinite(v)) atomicMin(&status->bad_unary, (unsigned long long)src);
  u[t] = v;
}

struct Message {
  const int* vertex;     // n x corners
  const float* bary;     // n x corners
  const float* blurred;  // vertices x labels
  const float* norm;     // n
  float weight;
  int corners;
};

struct UpdateArgs {
  const float* u;            // n x labels, pixel-major
  float* q;                  // n x labels: the new marginals, unless last
  float* marginals;          // labels x n, written when last (may be null)
  unsigned char* label_map;  // n, written when last (may be null)
  int64_t n;
  int labels;
  int kernels;  // messages to add (0 at iteration 0)
  bool last;
  Message msg[2];
};

// One mean-field update: G lanes per pixel (G a power of two, G >= labels or G = 32), each lane
// holding R labels: lane, lane + G, ...; Q_i = softmax(-U_i + sum_k w_k n_k(i) slice_k(i)).
template <int G, int R>
__global__ void update_kernel(UpdateArgs a) {
  const int lane = int(threadIdx.x % G);
  const int64_t i = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / G;
  const bool active = i < a.n;  // inactive lanes still join the shuffles
  const int labels = a.labels;
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int c = lane + r * G;
    acc[r] = active && c < labels ? -a.u[i * labels + c] : 0.0f;
  }
  if (active) {
#pragma unroll
    for (int k = 0; k < 2; ++k) {  // constant indices: the arguments stay in parameter space
      if (k >= a.kernels) break;
      const Message m = a.msg[k];
      const float scale = m.weight * m.norm[i];
      for (int corner = 0; corner < m.corners; ++corner) {
        const int64_t e = i * m.corners + corner;
        const float s = scale * m.bary[e];
        const float* row = m.blurred + int64_t(m.vertex[e]) * labels;
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const int c = lane + r * G;
          if (c < labels) acc[r] += s * row[c];
        }
      }
    }
  }
  float top = -INFINITY;
#pragma unroll
  for (int r = 0; r < R; ++r)
    if (lane + r * G < labels) top = fmaxf(top, acc[r]);
#pragma unroll
  for (int off = G / 2; off > 0; off /= 2) top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, off, G));
  float total = 0;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    acc[r] = lane + r * G < labels ? expf(acc[r] - top) : 0.0f;
    total += acc[r];
  }
#pragma unroll
  for (int off = G / 2; off > 0; off /= 2) total += __shfl_xor_sync(0xffffffffu, total, off, G);
  const float inv = 1.0f / total;
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] *= inv;

  if (!a.last) {
    if (active) {
#pragma unroll
      for (int r = 0; r < R; ++r)
        if (lane + r * G < labels) a.q[i * labels + lane + r * G] = acc[r];
    }
    return;
  }
  if (a.marginals && active) {
#pragma unroll
    for (int r = 0; r < R; ++r)
      if (lane + r * G < labels) a.marginals[int64_t(lane + r * G) * a.n + i] = acc[r];
  }
  if (a.label_map) {  // the same for the whole launch: every lane reaches the shuffles
    // Argmax, the first label on ties (as DenseCrf): within a lane labels rise with r.
    float best = -1.0f;
    int best_label = labels;
#pragma unroll
    for (int r = 0; r < R; ++r)
      if (lane + r * G < labels && acc[r] > best) best = acc[r], best_label = lane + r * G;
#pragma unroll
    for (int off = G / 2; off > 0; off /= 2) {
      const float other = __shfl_xor_sync(0xffffffffu, best, off, G);
      const int other_label = __shfl_xor_sync(0xffffffffu, best_label, off, G);
      if (other > best || (other == best && other_label < best_label)) best = other, best_label = other_label;
    }
    if (active && lane == 0) a.label_map[i] = (unsigned char)best_label;
  }
}

template <int G, int R = 1>
void launch_update(const UpdateArgs& a, cudaStream_t stream) {
  const int64_t threads = a.n * G;
  update_kernel<G, R><<<grid_for(threads), kBlock, 0, stream>>>(a);
  check_launch("mean-field update");
}

void update(const UpdateArgs& a, cudaStream_t stream) {
  int g = 1;
  while (g < a.labels && g < 32) g *= 2;
  switch (g) {
    case 1:
      return launch_update<1>(a, stream);
    case 2:
      return launch_update<2>(a, stream);
    case 4:
      return launch_update<4>(a, stream);
    case 8:
      return launch_update<8>(a, stream);
    case 16:
      return launch_update<16>(a, stream);
    default:
      break;
  }
  switch ((a.labels + 31) / 32) {  // 255 labels at most: 8 per lane
    case 1:
      return launch_update<32, 1>(a, stream);
    case 2:
      return launch_update<32, 2>(a, stream);
    case 3:
      return launch_update<32, 3>(a, stream);
    case 4:
      return launch_update<32, 4>(a, stream);
    case 5:
      return launch_update<32, 5>(a, stream);
    case 6:
      return launch_update<32, 6>(a, stream);
    case 7:
      return launch_update<32, 7>(a, stream);
    default:
      return launch_update<32, 8>(a, stream);
  }
}

void validate(int height, int width, int labels, const CrfKernelParams& p) {
  auto fail = [](const std::string& m) { deeplab::fail("CUDA CRF: ", m); };
  auto std_ok = [&](float v, const char* name) {
    if (!(v > 0.0f) || !std::isfinite(v))
      fail(std::string(name) + " must be a positive number, got " + std::to_string(v));
    if (v < 0.01f) fail(std::string(name) + " = " + std::to_string(v) + " is below 0.01: too small to mean anything");
  };
  std_ok(p.bi_xy_std, "bi_xy_std");
  std_ok(p.bi_rgb_std, "bi_rgb_std");
  std_ok(p.pos_xy_std, "pos_xy_std");
  for (auto [v, name] : {std::pair{p.bi_w, "bi_w"}, std::pair{p.pos_w, "pos_w"}})
    if (!(v >= 0.0f) || !std::isfinite(v))
      fail(std::string(name) + " must be zero or positive, got " + std::to_string(v));
  if (p.iterations < 0) fail("iterations must be zero or positive, got " + std::to_string(p.iterations));
  if (height < 1 || width < 1) fail("empty image (" + std::to_string(height) + " x " + std::to_string(width) + ")");
  if (labels < 1 || labels > 255) fail(std::to_string(labels) + " labels; 1 to 255 are supported");
  // Entries (pixels x 6) are numbered in 32-bit ints and the hash table holds twice as many.
  if (int64_t(height) * width * 6 >= (int64_t(1) << 30))
    fail("image of " + std::to_string(height) + " x " + std::to_string(width) + " pixels is too large");
}

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    CRF_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) CRF_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

// One kernel's lattice for the current image, and its filtering buffers.
struct Lattice {
  int d = 0;
  float weight = 0;
  int vertices = 0;
  int64_t max_runs = 0;
  DeviceArray<int> vertex;       // n x (d+1): each entry's vertex
  DeviceArray<float> bary;       // n x (d+1): its barycentric weight
  DeviceArray<int> start;        // vertices + 1: each vertex's sorted entries
  DeviceArray<int> pixel;        // sorted entries' pixels
  DeviceArray<float> weight_of;  // sorted entries' splat weights
  DeviceArray<int> run_start;    // vertices + 1: each vertex's runs (the last: the run count)
  DeviceArray<int> run_begin;    // runs + 1
  DeviceArray<int> nbr;          // (d+1) x vertices x 2: down, up
  DeviceArray<float> norm;       // n
  DeviceArray<float> values[2];  // vertices x labels, ping-pong
  DeviceArray<float> partial;    // runs x labels
  void release() {
    for (auto* b : {&vertex, &start, &pixel, &run_start, &run_begin, &nbr}) b->release();
    for (auto* b : {&bary, &weight_of, &norm, &values[0], &values[1], &partial}) b->release();
  }
};

}  // namespace

struct CudaCrf::Impl {
  int device = 0;
  cudaStream_t stream = nullptr;
  Status* host_status = nullptr;  // pinned
  DeviceArray<Status> status;
  Lattice lattices[2];  // appearance (d = 5), smoothness (d = 2)
  bool used[2] = {false, false};
  struct SmoothnessKey {
    int height = 0, width = 0;
    float xy_std = 0;
    bool symmetric = false, valid = false;
    bool operator==(const SmoothnessKey& o) const {
      return valid && o.valid && height == o.height && width == o.width && xy_std == o.xy_std &&
             symmetric == o.symmetric;
    }
  } smoothness_built;
  // Construction scratch, shared by both lattices.
  DeviceArray<int> keys, flags, first_id, order, sorted_vertex, sorted_entry, runs;
  DeviceArray<unsigned> table, slot;
  DeviceArray<unsigned char> cub_temp;
  // Per image.
  DeviceArray<unsigned char> rgb, label_map;
  DeviceArray<float> unary, u, q, marginals;

  ~Impl() {
    int previous = 0;
    cudaGetDevice(&previous);
    cudaSetDevice(device);
    for (Lattice& l : lattices) l.release();
    for (auto* b : {&keys, &flags, &first_id, &order, &sorted_vertex, &sorted_entry, &runs}) b->release();
    table.release();
    slot.release();
    cub_temp.release();
    rgb.release();
    label_map.release();
    for (auto* b : {&unary, &u, &q, &marginals}) b->release();
    status.release();
    if (host_status) cudaFreeHost(host_status);
    if (stream) cudaStreamDestroy(stream);
    cudaSetDevice(previous);
  }

  void sync_status() {
    CRF_CHECK(cudaMemcpyAsync(host_status, status.get(), sizeof(Status), cudaMemcpyDeviceToHost, stream));
    CRF_CHECK(cudaStreamSynchronize(stream));
  }

  template <class F>
  void cub_call(F f) {  // f(temp, bytes): size query, then the call
    size_t bytes = 0;
    CRF_CHECK(f(nullptr, bytes));
    cub_temp.reserve(int64_t(bytes));
    CRF_CHECK(f(cub_temp.get(), bytes));
  }

  // values[0] <- splat of q (null: ones), then the d+1 blurs; returns the buffer holding the result.
  int filter(Lattice& l, const float* q, int labels) {
    const int64_t runs_x_labels = l.max_runs * labels, v_x_labels = int64_t(l.vertices) * labels;
    splat_runs_kernel<<<grid_for(runs_x_labels), kBlock, 0, stream>>>(l.run_begin.get(), l.run_start.get() + l.vertices,
                                                                      l.pixel.get(), l.weight_of.get(), q, labels,
                                                                      l.partial.get(), l.max_runs);
    check_launch("splat");
    splat_vertices_kernel<<<grid_for(v_x_labels), kBlock, 0, stream>>>(l.run_start.get(), l.partial.get(), labels,
                                                                       l.values[0].get(), l.vertices);
    check_launch("splat");
    int src = 0;
    for (int j = 0; j <= l.d; ++j, src = 1 - src) {
      blur_kernel<<<grid_for(v_x_labels), kBlock, 0, stream>>>(
          l.nbr.get() + 2 * int64_t(j) * l.vertices, l.values[src].get(), l.values[1 - src].get(), l.vertices, labels);
      check_launch("blur");
    }
    return src;
  }

  template <int D>
  void build(Lattice& l, const unsigned char* d_rgb, int height, int width, float xy_std, float rgb_std, float weight,
             bool symmetric) {
    const int64_t n = int64_t(height) * width, entries = n * (D + 1);
    l.d = D;
    l.weight = weight;
    Scales scale{};
    for (int i = 0; i < D; ++i) scale.v[i] = lat::feature_scale(D, i);
    keys.reserve(entries * D);
    l.bary.reserve(entries);
    const unsigned capacity = lat::table_capacity(size_t(entries));
    table.reserve(capacity);
    slot.reserve(entries);
    flags.reserve(entries);
    first_id.reserve(entries);
    CRF_CHECK(cudaMemsetAsync(table.get(), 0xFF, size_t(capacity) * sizeof(unsigned), stream));
    CRF_CHECK(cudaMemsetAsync(&status.get()->overflow, 0, sizeof(int), stream));

    embed_kernel<D><<<grid_for(n), kBlock, 0, stream>>>(d_rgb, n, width, xy_std, rgb_std, scale, keys.get(),
                                                        l.bary.get(), status.get());
    check_launch("lattice embedding");
    insert_kernel<D>
        <<<grid_for(entries), kBlock, 0, stream>>>(table.get(), capacity - 1, keys.get(), slot.get(), entries);
    check_launch("lattice hash insert");
    first_flags_kernel<<<grid_for(entries), kBlock, 0, stream>>>(table.get(), slot.get(), flags.get(), entries);
    check_launch("lattice numbering");
    int* fl = flags.get();
    int* fi = first_id.get();
    cub_call([&](void* t, size_t& b) { return cub::DeviceScan::ExclusiveSum(t, b, fl, fi, int(entries), stream); });
    count_vertices_kernel<<<1, 1, 0, stream>>>(flags.get(), first_id.get(), entries, status.get());
    check_launch("lattice numbering");
    sync_status();  // the vertex count sizes everything below
    if (host_status->overflow)
      throw Error(
          "CUDA CRF: lattice: feature values too large to place (a standard deviation far too small?)");
    const int m = host_status->vertices;
    l.vertices = m;

    l.vertex.reserve(entries);
    order.reserve(entries);
    sorted_vertex.reserve(entries);
    sorted_entry.reserve(entries);
    assign_vertex_kernel<<<grid_for(entries), kBlock, 0, stream>>>(table.get(), slot.get(), first_id.get(),
                                                                   l.vertex.get(), order.get(), entries);
    check_launch("lattice numbering");
    int bits = 1;
    while (bits < 31 && (int64_t(1) << bits) < m) ++bits;
    const int* vk = l.vertex.get();
    const int* ov = order.get();
    int* sv = sorted_vertex.get();
    int* se = sorted_entry.get();
    cub_call([&](void* t, size_t& b) {
      return cub::DeviceRadixSort::SortPairs(t, b, vk, sv, ov, se, int(entries), 0, bits, stream);
    });

    l.start.reserve(int64_t(m) + 1);
    l.pixel.reserve(entries);
    l.weight_of.reserve(entries);
    csr_kernel<D><<<grid_for(entries), kBlock, 0, stream>>>(sorted_vertex.get(), sorted_entry.get(), l.bary.get(),
                                                            l.start.get(), l.pixel.get(), l.weight_of.get(), entries,
                                                            m);
    check_launch("lattice sort");
    runs.reserve(int64_t(m) + 1);
    l.run_start.reserve(int64_t(m) + 1);
    count_runs_kernel<<<grid_for(int64_t(m) + 1), kBlock, 0, stream>>>(l.start.get(), runs.get(), m);
    check_launch("lattice runs");
    int* ch = runs.get();
    int* cs = l.run_start.get();
    cub_call([&](void* t, size_t& b) { return cub::DeviceScan::ExclusiveSum(t, b, ch, cs, m + 1, stream); });
    // Runs of at least 32 entries, at most one short run per vertex.
    l.max_runs = int64_t(m) + (entries + 31) / 32;
    l.run_begin.reserve(l.max_runs + 1);
    fill_runs_kernel<<<grid_for(m), kBlock, 0, stream>>>(l.start.get(), l.run_start.get(), l.run_begin.get(), m,
                                                         entries);
    check_launch("lattice runs");

    l.nbr.reserve(2 * int64_t(m) * (D + 1));
    neighbour_kernel<D><<<grid_for(int64_t(m) * (D + 1)), kBlock, 0, stream>>>(
        table.get(), capacity - 1, keys.get(), sorted_entry.get(), l.start.get(), first_id.get(), l.nbr.get(), m);
    check_launch("lattice neighbours");

    // The filter's response to a constant image, the pixel itself included.
    l.partial.reserve(l.max_runs);
    l.values[0].reserve(m);
    l.values[1].reserve(m);
    const int result = filter(l, nullptr, 1);
    l.norm.reserve(n);
    norm_kernel<<<grid_for(n), kBlock, 0, stream>>>(l.vertex.get(), l.bary.get(), l.values[result].get(), l.norm.get(),
                                                    n, D + 1, symmetric);
    check_launch("lattice normaliser");
    if (symmetric) {
      scale_weights_kernel<<<grid_for(entries), kBlock, 0, stream>>>(l.pixel.get(), l.norm.get(), l.weight_of.get(),
                                                                     entries);
      check_launch("lattice normaliser");
    }
  }

  // Everything in device memory; leaves the work queued on the stream (the caller synchronises
  // and then calls check_unary).
  void run(const unsigned char* d_rgb, int height, int width, const float* d_unary, int labels,
           const CrfKernelParams& p, float* d_marginals, unsigned char* d_labels) {
    validate(height, width, labels, p);
    const int64_t n = int64_t(height) * width;
    used[0] = p.bi_w > 0;
    used[1] = p.pos_w > 0;
    const bool messages = p.iterations > 0 && (used[0] || used[1]);
    if (!messages) used[0] = used[1] = false;
    if (used[0]) build<5>(lattices[0], d_rgb, height, width, p.bi_xy_std, p.bi_rgb_std, p.bi_w, p.symmetric);
    // The smoothness lattice depends on the image's size only: kept for the next image.
    const SmoothnessKey key{height, width, p.pos_xy_std, p.symmetric, true};
    if (used[1] && !(key == smoothness_built)) {
      smoothness_built.valid = false;
      build<2>(lattices[1], nullptr, height, width, p.pos_xy_std, 1.0f, p.pos_w, p.symmetric);
      smoothness_built = key;
    }
    lattices[1].weight = p.pos_w;

    CRF_CHECK(cudaMemsetAsync(&status.get()->bad_unary, 0xFF, sizeof(unsigned long long), stream));
    u.reserve(n * labels);
    q.reserve(n * labels);
    transpose_unary_kernel<<<grid_for(n * labels), kBlock, 0, stream>>>(d_unary, u.get(), n, labels, status.get());
    check_launch("unary");
    for (int k = 0; k < 2; ++k)
      if (used[k]) {
        lattices[k].values[0].reserve(int64_t(lattices[k].vertices) * labels);
        lattices[k].values[1].reserve(int64_t(lattices[k].vertices) * labels);
        lattices[k].partial.reserve(lattices[k].max_runs * labels);
      }

    UpdateArgs a{};
    a.u = u.get();
    a.q = q.get();
    a.marginals = d_marginals;
    a.label_map = d_labels;
    a.n = n;
    a.labels = labels;
    const int iterations = messages ? p.iterations : 0;  // without messages every iteration is the same
    for (int it = 0; it <= iterations; ++it) {
      a.kernels = 0;
      if (it > 0)
        for (int k = 0; k < 2; ++k) {
          if (!used[k]) continue;
          Lattice& l = lattices[k];
          const int result = filter(l, q.get(), labels);
          a.msg[a.kernels++] =
              Message{l.vertex.get(), l.bary.get(), l.values[result].get(), l.norm.get(), l.weight, l.d + 1};
        }
      a.last = it == iterations;
      // The update reads Q_(t-1) only through the lattices, so it may overwrite q in place.
      update(a, stream);
    }
  }

  // After the stream is synchronised: a non-finite unary is an error naming the element.
  void check_unary(int height, int width) {
    const unsigned long long bad = host_status->bad_unary;
    if (bad == ~0ull) return;
    const int64_t plane = int64_t(height) * width;
    throw Error("CUDA CRF: unary value at label " + std::to_string(bad / plane) + ", y " +
                             std::to_string(bad % plane / width) + ", x " + std::to_string(bad % width) +
                             " is not finite");
  }

  void finish(int height, int width) {
    sync_status();
    check_unary(height, width);
  }
};

CudaCrf::CudaCrf(int device_index) : impl_(std::make_unique<Impl>()) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) throw Error(std::string("CUDA CRF: no CUDA device: ") + cudaGetErrorString(e));
  if (device_index < 0 || device_index >= count)
    throw Error("CUDA CRF: device " + std::to_string(device_index) + " does not exist (" +
                             std::to_string(count) + " visible)");
  impl_->device = device_index;
  DeviceGuard guard(device_index);
  // A blocking stream: it waits for work the caller queued on the legacy default stream.
  CRF_CHECK(cudaStreamCreate(&impl_->stream));
  CRF_CHECK(cudaMallocHost(reinterpret_cast<void**>(&impl_->host_status), sizeof(Status)));
  impl_->status.reserve(1);
}

CudaCrf::~CudaCrf() = default;

int CudaCrf::device() const { return impl_->device; }
int64_t CudaCrf::appearance_vertices() const { return impl_->used[0] ? impl_->lattices[0].vertices : 0; }
int64_t CudaCrf::smoothness_vertices() const { return impl_->used[1] ? impl_->lattices[1].vertices : 0; }

void CudaCrf::infer(const unsigned char* rgb, int height, int width, const float* unary, int labels,
                    const CrfKernelParams& params, float* marginals, unsigned char* label_map) {
  if (!rgb || !unary) throw Error("CUDA CRF: null image or unary");
  validate(height, width, labels, params);
  DeviceGuard guard(impl_->device);
  Impl& m = *impl_;
  const int64_t n = int64_t(height) * width;
  m.rgb.reserve(n * 3);
  m.unary.reserve(n * labels);
  CRF_CHECK(cudaMemcpyAsync(m.rgb.get(), rgb, size_t(n) * 3, cudaMemcpyHostToDevice, m.stream));
  CRF_CHECK(
      cudaMemcpyAsync(m.unary.get(), unary, size_t(n) * labels * sizeof(float), cudaMemcpyHostToDevice, m.stream));
  float* d_marginals = marginals ? m.marginals.reserve(n * labels) : nullptr;
  unsigned char* d_labels = label_map ? m.label_map.reserve(n) : nullptr;
  m.run(m.rgb.get(), height, width, m.unary.get(), labels, params, d_marginals, d_labels);
  if (marginals)
    CRF_CHECK(
        cudaMemcpyAsync(marginals, d_marginals, size_t(n) * labels * sizeof(float), cudaMemcpyDeviceToHost, m.stream));
  if (label_map) CRF_CHECK(cudaMemcpyAsync(label_map, d_labels, size_t(n), cudaMemcpyDeviceToHost, m.stream));
  m.finish(height, width);
}

void CudaCrf::infer_device(const unsigned char* rgb, int height, int width, const float* unary, int labels,
                           const CrfKernelParams& params, float* marginals, unsigned char* label_map) {
  if (!rgb || !unary) throw Error("CUDA CRF: null image or unary");
  DeviceGuard guard(impl_->device);
  impl_->run(rgb, height, width, unary, labels, params, marginals, label_map);
  impl_->finish(height, width);
}

void dense_crf(const unsigned char* rgb, int height, int width, const float* unary, int labels,
               const CrfKernelParams& params, float* marginals, int device_index, unsigned char* label_map) {
  CudaCrf crf(device_index);
  crf.infer(rgb, height, width, unary, labels, params, marginals, label_map);
}

}  // namespace deeplab::cuda
