// Sums parameter gradients over the ranks of a data-parallel job, in buckets of about
// bucket_bytes each. A bucket starts (MPI_Iallreduce) as soon as backward has produced every
// gradient in it, so the sums of the last layers travel while the first layers still compute;
// progress() between layers lets MPI move them along, finish() waits for what is left.
// Parameters are bucketed in the order backward produces them (the reverse of the forward
// order). With one rank nothing is sent. The interface is the one a NCCL reducer will share.
#pragma once
#include <cstdint>
#include <map>
#include <vector>

#include "nn/layer.h"

namespace deeplab::dist {

class Mpi;

class GradientReducer {
 public:
  // params: in the order backward finishes them.
  GradientReducer(Mpi& mpi, std::vector<nn::Param*> params, size_t bucket_bytes = size_t(8) << 20);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  void begin();                // a new step: no gradient is final yet
  void ready(nn::Param* p);    // p's gradient is final for this step
  void progress();             // let outstanding sums advance
  void finish();               // start what is left and wait; every gradient is then the sum
  double wait_seconds() const { return wait_seconds_; }  // in finish(), this step
  int buckets() const { return int(buckets_.size()); }

 private:
  struct Bucket {
    std::vector<nn::Param*> params;
    std::vector<float> buffer;
    int pending = 0;   // gradients not yet final this step
    bool started = false;
    void* request = nullptr;  // MPI_Request, opaque here
  };
  void start(Bucket& b);

  Mpi& mpi_;
  std::vector<Bucket> buckets_;
  std::map<const nn::Param*, int> bucket_of_;
  double wait_seconds_ = 0;
};

}  // namespace deeplab::dist
