#include "dist/mpi.h"

#include <mpi.h>

#include <climits>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"

namespace deeplab::dist {
namespace {
Mpi* g_mpi = nullptr;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}
}  // namespace

bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
}

Mpi& Mpi::start(int* argc, char*** argv) {
  static Mpi mpi;
  g_mpi = &mpi;
  if (launched_by_mpi() && !mpi.active_) {
    MPI_Init(argc, argv);
    mpi.active_ = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi.rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi.size_);
    mpi.local_rank_ = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("SLURM_LOCALID", 0));
  }
  return mpi;
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

void Mpi::abort(int code) {
  if (active_ && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

void Mpi::send(int destination, const std::vector<uint8_t>& bytes) {
  if (bytes.size() > size_t(INT32_MAX)) fail("MPI: a message of ", bytes.size(), " bytes is over the 2 GiB one send can carry");
  MPI_Send(bytes.data(), int(bytes.size()), MPI_BYTE, destination, 7, MPI_COMM_WORLD);
}

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
