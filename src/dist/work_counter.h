// A job-wide counter that any rank can take the next number from, without a coordinator: an
// MPI window on rank 0 and an atomic fetch-and-add (one-sided, so rank 0 need not be listening).
// Dynamic scheduling: a free rank takes the next unit of work; none idles while work remains.
// Where MPI cannot make the window (Open MPI over TCP between nodes without a one-sided
// transport, as Debian's build is configured), the numbers are dealt round-robin instead:
// rank r takes r, r + ranks, ... The same numbers, each once; only the balancing is static.
#pragma once
#include <cstdint>

#include "dist/mpi.h"

namespace deeplab::dist {

class WorkCounter {
 public:
  explicit WorkCounter(Mpi& mpi);  // collective
  ~WorkCounter();
  WorkCounter(const WorkCounter&) = delete;
  WorkCounter& operator=(const WorkCounter&) = delete;
  void reset();    // collective: the next number is 0 again
  int64_t next();  // 0, 1, 2, ... across all ranks, each number once

 private:
  Mpi& mpi_;
  int64_t local_ = 0;   // without MPI, or round-robin: the next number this rank takes
  void* window_ = nullptr;  // MPI_Win, opaque here
  int64_t* base_ = nullptr;
};

}  // namespace deeplab::dist
