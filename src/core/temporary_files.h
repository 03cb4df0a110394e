// Files a run writes on its way to an output (OUT.tmp.PID, the output's lock file), removed
// however the process ends:
// - a stop signal (SIGTERM, SIGINT) removes them at once, on the signal watcher (core/signals.h);
// - every other end (SIGKILL, a crash, an exit inside a library) is seen by a small helper
//   process, "deeplab-janitor", forked before any thread exists: it waits on a pipe that only
//   its parent holds open and, when the parent is gone, removes what is still registered.
// The second case is common: when one MPI rank fails, mpirun sends the others SIGTERM and about
// 15 ms later SIGKILL (measured with Open MPI 4.1 on these 2 cores, under load), often before
// a rank's watcher thread has been scheduled; the writer's temporaries then stayed behind.
// The table of paths lives in memory shared with the janitor, so it sees the table as it was
// at its parent's last instant.
#pragma once
#include <string>

namespace deeplab {

// Forks the janitor (once). main() calls it first thing, before MPI and OpenMP start threads;
// register_temporary() calls it too, for programs that do not (the tests).
void start_temporary_janitor();

// A file to remove if the process ends before release_temporary(slot); -1 when the table is full.
int register_temporary(const std::string& path);
// A lock file (core/output_lock.h), registered before it is opened. It is only ever removed by
// whoever can take its lock, so another run's lock is never removed: this process once it has
// called lock_taken(slot), the janitor once this process is gone.
int register_lock_file(const std::string& path);
void lock_taken(int slot);
void release_temporary(int slot);

// Removes the registered files now: the stop-signal watcher, just before the process ends
// (only unlink, on paths set before: safe while other threads go on).
void remove_temporaries_now();

}  // namespace deeplab
