// Gradient sums across GPU ranks with NCCL (built only with CUDA). The communicator's unique id
// is made by rank 0 and broadcast over MPI, so any MPI launch (mpirun, srun) gives a NCCL group.
// The reducer has the MPI GradientReducer's shape: buckets (dist/buckets.h) over the network's
// contiguous gradient array, each started as soon as backward has finished it, on a stream of
// its own so the sums overlap the rest of backward; finish() makes the compute stream wait for
// them (no host round trip).
#pragma once
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <vector>

#include "core/cuda_check.h"

namespace deeplab::dist {

class Mpi;

class NcclCommunicator {
 public:
  // Every rank calls this together, with its CUDA device current.
  explicit NcclCommunicator(Mpi& mpi);
  ~NcclCommunicator();
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  ncclComm_t get() const { return comm_; }
  int size() const { return size_; }

 private:
  ncclComm_t comm_ = nullptr;
  int size_ = 1;
};

class NcclGradientReducer {
 public:
  // grads: the device array of every gradient; counts: floats per gradient in backward order
  // (consecutive slices of grads). compute: the stream backward runs on. comm may be null for a
  // single rank: nothing is then sent. (A one-rank communicator does send: the GPU test runs the
  // whole path on one GPU that way.)
  NcclGradientReducer(NcclCommunicator* comm, float* grads, const std::vector<size_t>& counts, cudaStream_t compute,
                      size_t bucket_bytes = size_t(32) << 20);
  ~NcclGradientReducer();
  NcclGradientReducer(const NcclGradientReducer&) = delete;
  NcclGradientReducer& operator=(const NcclGradientReducer&) = delete;

  void begin();
  // Gradients [first, first + count) are final on the compute stream.
  void ready(size_t first, size_t count);
  // Starts what is left; the compute stream then waits for every sum.
  void finish();
  // For tests: the buckets, and the all-reduces issued since construction (a sum over one rank
  // leaves the gradients as they were, so the values alone cannot show that it ran).
  size_t buckets() const { return buckets_.size(); }
  int64_t sums_issued() const { return sums_issued_; }

 private:
  struct Bucket {
    size_t offset = 0, count = 0;  // floats within grads
    int gradients = 0, pending = 0;
    bool started = false;
  };
  void start(Bucket& b);

  NcclCommunicator* comm_;
  float* grads_;
  cudaStream_t compute_;
  CudaStream comm_stream_;
  CudaEvent ready_event_, done_event_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;
  int64_t sums_issued_ = 0;
};

}  // namespace deeplab::dist
