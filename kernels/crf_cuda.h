// The fully connected CRF on a CUDA device: the same model, parameters and answers as
// src/crf/dense_crf.h (Potts, appearance and smoothness kernels each filtered with a
// permutohedral lattice, messages normalised per pixel by the filter's response to a constant
// image, or symmetrically), with every step on the device: each lattice is built once per image
// in a GPU hash table, all labels are splatted, blurred and sliced together, and all mean-field
// iterations run there, with one copy back at the end. Plain pointers only (nvcc builds this
// as C++17, with nothing of src/ but core's error and CUDA check); every error (bad parameters or sizes, a non-finite unary, a CUDA
// error) is a deeplab::Error whose message starts "CUDA CRF: " and says what went wrong.
#pragma once
#include <cstdint>
#include <memory>

namespace deeplab::cuda {

struct CrfKernelParams {
  // DeepLab-LargeFOV's released values, as crf::CrfParams.
  float bi_w = 4.0f;
  float bi_xy_std = 121.0f;
  float bi_rgb_std = 5.0f;
  float pos_w = 3.0f;
  float pos_xy_std = 3.0f;
  int iterations = 10;
  bool symmetric = false;  // false: crf::Normalization::per_pixel; true: ::symmetric
};

// A CRF context on one device: keeps its stream, device buffers and hash table between images,
// growing them only when an image needs more, so a loop over images allocates nothing per image
// once the largest has been seen. Not thread-safe: one context per host thread.
class CudaCrf {
 public:
  explicit CudaCrf(int device_index = 0);
  ~CudaCrf();
  CudaCrf(const CudaCrf&) = delete;
  CudaCrf& operator=(const CudaCrf&) = delete;

  // Host memory. rgb: height x width x 3 bytes (row-major, RGB); unary: labels x height x width
  // energies (-log p); marginals (out, may be null): labels x height x width; label_map (out, may
  // be null): height x width, the argmax of the marginals (first label on ties). labels: 1..255.
  void infer(const unsigned char* rgb, int height, int width, const float* unary, int labels,
             const CrfKernelParams& params, float* marginals, unsigned char* label_map = nullptr);

  // The same with every pointer in this context's device memory. Returns when the results are
  // written (the context's stream is synchronised).
  void infer_device(const unsigned char* rgb, int height, int width, const float* unary, int labels,
                    const CrfKernelParams& params, float* marginals, unsigned char* label_map = nullptr);

  int device() const;
  // Vertices of the last image's appearance and smoothness lattices (0 where a weight is 0).
  int64_t appearance_vertices() const;
  int64_t smoothness_vertices() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-off convenience: a context for this call only. Pointers as CudaCrf::infer (host memory).
void dense_crf(const unsigned char* rgb, int height, int width, const float* unary, int labels,
               const CrfKernelParams& params, float* marginals, int device_index, unsigned char* label_map = nullptr);

}  // namespace deeplab::cuda
