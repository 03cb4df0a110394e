// The process's place in an MPI job. MPI is started only when the process was launched by
// mpirun or srun (their environment says so); alone, the program is rank 0 of 1 without MPI.
// A rank that fails calls abort(), which ends every rank: nobody waits forever.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace deeplab::dist {

class Mpi {
 public:
  // Initialises MPI if launched under it; call once, first thing in main.
  static Mpi& start(int* argc, char*** argv);
  static Mpi& get();  // after start
  ~Mpi();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool active() const { return active_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }  // ranks on this node
  void barrier();
  // A barrier that sleeps while it waits (MPI_Barrier spins): for ranks with nothing to do
  // while another works, so they leave it the cores.
  void idle_barrier();
  // Collectives over every rank; without MPI (one rank) they leave the values as they are.
  void allreduce_sum(double* values, int64_t count);
  void allreduce_sum(float* values, int64_t count);
  void allreduce_sum(int64_t* values, int64_t count);
  void allreduce_max(int64_t* values, int64_t count);
  std::vector<int64_t> allgather(int64_t value);  // every rank's value, in rank order
  void broadcast(float* values, int64_t count, int root = 0);
  void broadcast(int64_t* values, int64_t count, int root = 0);
  void broadcast(std::vector<uint8_t>& bytes, int root = 0);  // resized on the other ranks
  [[noreturn]] void abort(int code);
  // Point-to-point byte messages (for handing decoded images to the rank that writes). The
  // sender does not wait for the receiver: it goes on with its next image while this one waits
  // to be taken. The message stays in the handle until wait() returns.
  class PendingSend {
   public:
    PendingSend(PendingSend&&) noexcept;
    ~PendingSend();  // waits
    void wait();

   private:
    friend class Mpi;
    PendingSend() = default;
    std::vector<uint8_t> bytes_;
    void* request_ = nullptr;  // MPI_Request, owned
  };
  PendingSend send_later(int destination, std::vector<uint8_t> bytes);
  std::vector<uint8_t> receive(int source);

 private:
  Mpi() = default;
  bool active_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

// True when the environment shows an MPI launcher (Open MPI's mpirun, PMIx or PMI under srun).
bool launched_by_mpi();

// What is wrong with how this process was started, or "" when nothing is: srun -n N without an
// MPI plugin (MpiDefault=none) starts N processes that know nothing of each other, each of
// which would run the whole job alone and write the same outputs. DEEPLAB_TASKS_ALONE=1 says
// that each task is meant to run alone (its own shard, a shell inside srun -n N --pty).
std::string launch_problem();

// OpenMP threads for a CPU rank: the cores this process may run on, shared evenly among the
// ranks on its node unless the launcher already bound each rank to its own cores.
int cpu_threads_per_rank(int local_ranks);

}  // namespace deeplab::dist
