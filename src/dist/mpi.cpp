#include "dist/mpi.h"

#include <mpi.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"

namespace deeplab::dist {
namespace {
Mpi* g_mpi = nullptr;
}  // namespace

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
}

std::string launch_problem() {
  const char* tasks = std::getenv("SLURM_STEP_NUM_TASKS");  // set by srun, not in a batch script
  if (launched_by_mpi() || !tasks || std::atol(tasks) <= 1) return "";
  // Tasks meant to work alone (each its own shard, or a shell inside srun -n N --pty) say so.
  if (const char* alone = std::getenv("DEEPLAB_TASKS_ALONE"); alone && std::string(alone) == "1") return "";
  return "srun started " + std::string(tasks) +
         " tasks without MPI (no PMIx or PMI in their environment), so each would run the whole job alone: "
         "use srun --mpi=pmix (or MpiDefault=pmix in slurm.conf), or mpirun; if each task is meant to run "
         "alone, set DEEPLAB_TASKS_ALONE=1";
}

Mpi& Mpi::start(int* argc, char*** argv) {
  static Mpi mpi;
  g_mpi = &mpi;
  if (launched_by_mpi() && !mpi.active_) {
    MPI_Init(argc, argv);
    mpi.active_ = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi.rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi.size_);
    // Ranks sharing this node's memory: its local rank and count, whatever the launcher.
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, mpi.rank_, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &mpi.local_rank_);
    MPI_Comm_size(node, &mpi.local_size_);
    MPI_Comm_free(&node);
  }
  return mpi;
}

int cpu_threads_per_rank(int local_ranks) {
  cpu_set_t set;
  const int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (online > 0 && allowed < online) return std::max(1, allowed);  // bound by the launcher already
  return std::max(1, allowed / std::max(1, local_ranks));
}

Mpi& Mpi::get() {
  static Mpi alone;
  return g_mpi ? *g_mpi : alone;
}

Mpi::~Mpi() {
  if (active_) MPI_Finalize();
}

void Mpi::barrier() {
  if (active_) MPI_Barrier(MPI_COMM_WORLD);
}

void Mpi::idle_barrier() {
  if (!active_ || size_ == 1) return;
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  for (int done = 0;;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    usleep(2000);
  }
}

namespace {
// MPI counts are int: long arrays go in pieces of at most 2^30 elements.
template <typename T, typename Call>
void in_pieces(T* values, int64_t count, Call call) {
  constexpr int64_t kPiece = int64_t(1) << 30;
  for (int64_t at = 0; at < count; at += kPiece) call(values + at, int(std::min(kPiece, count - at)));
}
}  // namespace

void Mpi::allreduce_sum(double* values, int64_t count) {
  if (!active_ || size_ == 1) return;
  in_pieces(values, count, [](double* v, int n) { MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); });
}

void Mpi::allreduce_sum(float* values, int64_t count) {
  if (!active_ || size_ == 1) return;
  in_pieces(values, count, [](float* v, int n) { MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); });
}

void Mpi::allreduce_sum(int64_t* values, int64_t count) {
  if (!active_ || size_ == 1) return;
  in_pieces(values, count, [](int64_t* v, int n) { MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD); });
}

void Mpi::allreduce_max(int64_t* values, int64_t count) {
  if (!active_ || size_ == 1) return;
  in_pieces(values, count, [](int64_t* v, int n) { MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD); });
}

std::vector<int64_t> Mpi::allgather(int64_t value) {
  std::vector<int64_t> all(size_t(size_), value);
  if (active_ && size_ > 1) MPI_Allgather(&value, 1, MPI_INT64_T, all.data(), 1, MPI_INT64_T, MPI_COMM_WORLD);
  return all;
}

void Mpi::broadcast(float* values, int64_t count, int root) {
  if (!active_ || size_ == 1) return;
  in_pieces(values, count, [root](float* v, int n) { MPI_Bcast(v, n, MPI_FLOAT, root, MPI_COMM_WORLD); });
}

void Mpi::broadcast(int64_t* values, int64_t count, int root) {
  if (!active_ || size_ == 1) return;
  in_pieces(values, count, [root](int64_t* v, int n) { MPI_Bcast(v, n, MPI_INT64_T, root, MPI_COMM_WORLD); });
}

void Mpi::broadcast(std::vector<uint8_t>& bytes, int root) {
  if (!active_ || size_ == 1) return;
  int64_t size = int64_t(bytes.size());
  broadcast(&size, 1, root);
  bytes.resize(size_t(size));
  in_pieces(bytes.data(), size, [root](uint8_t* v, int n) { MPI_Bcast(v, n, MPI_BYTE, root, MPI_COMM_WORLD); });
}

void Mpi::abort(int code) {
  if (active_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

Mpi::PendingSend Mpi::send_later(int destination, std::vector<uint8_t> bytes) {
  if (bytes.size() > size_t(INT32_MAX)) fail("MPI: a message of ", bytes.size(), " bytes is over the 2 GiB one send can carry");
  PendingSend p;
  p.bytes_ = std::move(bytes);
  auto* request = new MPI_Request;
  MPI_Isend(p.bytes_.data(), int(p.bytes_.size()), MPI_BYTE, destination, 7, MPI_COMM_WORLD, request);
  p.request_ = request;
  return p;
}

Mpi::PendingSend::PendingSend(PendingSend&& o) noexcept : bytes_(std::move(o.bytes_)), request_(o.request_) {
  o.request_ = nullptr;
}

void Mpi::PendingSend::wait() {
  if (!request_) return;
  auto* request = static_cast<MPI_Request*>(request_);
  MPI_Wait(request, MPI_STATUS_IGNORE);
  delete request;
  request_ = nullptr;
  bytes_.clear();
}

Mpi::PendingSend::~PendingSend() { wait(); }

std::vector<uint8_t> Mpi::receive(int source) {
  MPI_Status status;
  MPI_Probe(source, 7, MPI_COMM_WORLD, &status);
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::vector<uint8_t> bytes(static_cast<size_t>(count));
  MPI_Recv(bytes.data(), count, MPI_BYTE, source, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return bytes;
}

}  // namespace deeplab::dist
