#include "dist/work_counter.h"

#include <mpi.h>

#include "core/log.h"

namespace deeplab::dist {

namespace {
bool distributed(const Mpi& mpi) { return mpi.active() && mpi.size() > 1; }
MPI_Win& win(void* w) { return *static_cast<MPI_Win*>(w); }
}  // namespace

WorkCounter::WorkCounter(Mpi& mpi) : mpi_(mpi) {
  if (!distributed(mpi)) return;
  // On a communicator that returns errors instead of aborting, so a missing one-sided transport
  // is a fallback, not the end of the job; every rank learns whether all got a window.
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  auto* w = new MPI_Win;
  const MPI_Aint bytes = mpi.rank() == 0 ? MPI_Aint(sizeof(int64_t)) : 0;
  int ok = MPI_Win_allocate(bytes, sizeof(int64_t), MPI_INFO_NULL, comm, &base_, w) == MPI_SUCCESS;
  const int mine = ok;
  MPI_Allreduce(&mine, &ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  if (ok) {
    window_ = w;
  } else {
    if (mine) MPI_Win_free(w);
    delete w;
    base_ = nullptr;
    if (mpi.rank() == 0)
      log_warn("MPI one-sided windows are not available between these ranks: units are dealt round-robin");
  }
  MPI_Comm_free(&comm);
  reset();
}

WorkCounter::~WorkCounter() {
  if (!window_) return;
  MPI_Win_free(&win(window_));
  delete static_cast<MPI_Win*>(window_);
}

void WorkCounter::reset() {
  if (!window_) {
    local_ = distributed(mpi_) ? mpi_.rank() : 0;
    return;
  }
  MPI_Barrier(MPI_COMM_WORLD);  // nobody is still taking numbers
  if (mpi_.rank() == 0) {
    const int64_t zero = 0;
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win(window_));
    MPI_Accumulate(&zero, 1, MPI_INT64_T, 0, 0, 1, MPI_INT64_T, MPI_REPLACE, win(window_));
    MPI_Win_unlock(0, win(window_));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

int64_t WorkCounter::next() {
  if (!window_) {
    const int64_t taken = local_;
    local_ += distributed(mpi_) ? mpi_.size() : 1;
    return taken;
  }
  const int64_t one = 1;
  int64_t taken = 0;
  MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win(window_));
  MPI_Fetch_and_op(&one, &taken, MPI_INT64_T, 0, 0, MPI_SUM, win(window_));
  MPI_Win_unlock(0, win(window_));
  return taken;
}

}  // namespace deeplab::dist
