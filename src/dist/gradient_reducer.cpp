#include "dist/gradient_reducer.h"

#include <mpi.h>

#include <chrono>
#include <cstring>

#include "core/error.h"
#include "dist/buckets.h"
#include "dist/mpi.h"

namespace deeplab::dist {

namespace {
MPI_Request& request_of(void* r) { return *static_cast<MPI_Request*>(r); }
}  // namespace

GradientReducer::GradientReducer(Mpi& mpi, std::vector<nn::Param*> params, size_t bucket_bytes) : mpi_(mpi) {
  std::vector<nn::Param*> trained;
  std::vector<size_t> counts;
  for (nn::Param* p : params)
    if (p->lr_mult != 0.0f) {  // frozen: no gradient
      trained.push_back(p);
      counts.push_back(size_t(p->value.numel()));
    }
  const std::vector<int> bucket_of = plan_buckets(counts, bucket_bytes);
  buckets_.resize(trained.empty() ? 0 : size_t(bucket_of.back()) + 1);
  for (size_t i = 0; i < trained.size(); ++i) buckets_[size_t(bucket_of[i])].params.push_back(trained[i]);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t n = 0;
    for (nn::Param* p : buckets_[b].params) {
      bucket_of_[p] = int(b);
      n += p->value.numel();
    }
    if (n > INT32_MAX) fail("gradient reducer: a bucket of ", n, " values is over what one MPI call can carry");
    buckets_[b].buffer.resize(size_t(n));
    buckets_[b].request = new MPI_Request(MPI_REQUEST_NULL);
  }
}

GradientReducer::~GradientReducer() {
  // A sum still in flight here means a step failed midway: the job is ending, so it is left.
  for (Bucket& b : buckets_) delete static_cast<MPI_Request*>(b.request);
}

void GradientReducer::begin() {
  for (Bucket& b : buckets_) {
    b.pending = int(b.params.size());
    b.started = false;
  }
  wait_seconds_ = 0;
}

void GradientReducer::ready(nn::Param* p) {
  auto it = bucket_of_.find(p);
  if (it == bucket_of_.end()) return;
  Bucket& b = buckets_[size_t(it->second)];
  if (--b.pending == 0) start(b);
}

void GradientReducer::start(Bucket& b) {
  if (b.started) return;
  b.started = true;
  if (!mpi_.active() || mpi_.size() == 1) return;
  float* at = b.buffer.data();
  for (nn::Param* p : b.params) {
    std::memcpy(at, p->grad.data(), size_t(p->grad.numel()) * sizeof(float));
    at += p->grad.numel();
  }
  MPI_Iallreduce(MPI_IN_PLACE, b.buffer.data(), int(b.buffer.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                 &request_of(b.request));
}

void GradientReducer::progress() {
  if (!mpi_.active() || mpi_.size() == 1) return;
  for (Bucket& b : buckets_) {
    if (!b.started || request_of(b.request) == MPI_REQUEST_NULL) continue;
    int done = 0;
    MPI_Test(&request_of(b.request), &done, MPI_STATUS_IGNORE);
  }
}

void GradientReducer::finish() {
  for (Bucket& b : buckets_) start(b);  // parameters that backward did not reach this step
  if (!mpi_.active() || mpi_.size() == 1) return;
  const auto t0 = std::chrono::steady_clock::now();
  for (Bucket& b : buckets_) {
    MPI_Wait(&request_of(b.request), MPI_STATUS_IGNORE);
    const float* at = b.buffer.data();
    for (nn::Param* p : b.params) {
      std::memcpy(p->grad.data(), at, size_t(p->grad.numel()) * sizeof(float));
      at += p->grad.numel();
    }
  }
  wait_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace deeplab::dist
