#include "dist/nccl_reducer.h"

#include <cstring>

#include "core/error.h"
#include "dist/buckets.h"
#include "dist/mpi.h"
#include "core/cuda_check.h"

namespace deeplab::dist {

namespace {
void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) fail("NCCL ", what, ": ", ncclGetErrorString(r));
}
}  // namespace

NcclCommunicator::NcclCommunicator(Mpi& mpi) : size_(mpi.size()) {
  ncclUniqueId id;
  if (mpi.rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  // The id is 128 opaque bytes: carried as int64 values by the MPI broadcast.
  static_assert(sizeof(id) % sizeof(int64_t) == 0);
  int64_t words[sizeof(id) / sizeof(int64_t)];
  std::memcpy(words, &id, sizeof(id));
  mpi.broadcast(words, int64_t(sizeof(id) / sizeof(int64_t)));
  std::memcpy(&id, words, sizeof(id));
  nccl_check(ncclCommInitRank(&comm_, mpi.size(), id, mpi.rank()), "ncclCommInitRank");
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_) ncclCommDestroy(comm_);
}

NcclGradientReducer::NcclGradientReducer(NcclCommunicator* comm, float* grads, const std::vector<size_t>& counts,
                                         cudaStream_t compute, size_t bucket_bytes)
    : comm_(comm), grads_(grads), compute_(compute), bucket_of_(plan_buckets(counts, bucket_bytes)) {
  size_t offset = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (size_t(bucket_of_[i]) == buckets_.size()) buckets_.push_back(Bucket{offset, 0, 0, 0, false});
    buckets_.back().count += counts[i];
    ++buckets_.back().gradients;
    offset += counts[i];
  }
  cuda_check(cudaStreamCreateWithFlags(comm_stream_.receive(), cudaStreamNonBlocking), "cudaStreamCreate");
  cuda_check(cudaEventCreateWithFlags(ready_event_.receive(), cudaEventDisableTiming), "cudaEventCreate");
  cuda_check(cudaEventCreateWithFlags(done_event_.receive(), cudaEventDisableTiming), "cudaEventCreate");
}

NcclGradientReducer::~NcclGradientReducer() = default;

void NcclGradientReducer::begin() {
  for (Bucket& b : buckets_) b.pending = b.gradients, b.started = false;
}

void NcclGradientReducer::ready(size_t first, size_t count) {
  for (size_t i = first; i < first + count && i < bucket_of_.size(); ++i) {
    Bucket& b = buckets_[size_t(bucket_of_[i])];
    if (--b.pending == 0) start(b);
  }
}

void NcclGradientReducer::start(Bucket& b) {
  if (b.started) return;
  b.started = true;
  if (!comm_) return;  // one rank: nothing to sum
  // The sum may begin once the compute stream has produced the bucket's gradients.
  cuda_check(cudaEventRecord(ready_event_.get(), compute_), "cudaEventRecord");
  cuda_check(cudaStreamWaitEvent(comm_stream_.get(), ready_event_.get(), 0), "cudaStreamWaitEvent");
  nccl_check(ncclAllReduce(grads_ + b.offset, grads_ + b.offset, b.count, ncclFloat, ncclSum, comm_->get(), comm_stream_.get()),
             "ncclAllReduce");
  ++sums_issued_;
}

void NcclGradientReducer::finish() {
  for (Bucket& b : buckets_) start(b);
  if (!comm_) return;  // one rank: nothing to sum
  cuda_check(cudaEventRecord(done_event_.get(), comm_stream_.get()), "cudaEventRecord");
  cuda_check(cudaStreamWaitEvent(compute_, done_event_.get(), 0), "cudaStreamWaitEvent");
}

}  // namespace deeplab::dist
