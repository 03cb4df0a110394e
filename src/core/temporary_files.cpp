#include "core/temporary_files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>

#include "core/log.h"

namespace deeplab {

namespace {

enum State : int { kFree = 0, kFile, kLockWanted, kLockHeld };

// Fixed slots of fixed size, so that the signal path and the janitor read memory that is always there.
struct Slot {
  std::atomic<int> state{kFree};
  char path[4096];
};
constexpr int kSlots = 16;
static_assert(std::atomic<int>::is_always_lock_free, "the slots are shared with another process");

bool g_shared = false;  // whether the table is in memory the janitor sees

Slot* table() {
  static Slot* slots = [] {
    void* memory = mmap(nullptr, sizeof(Slot) * kSlots, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
      static Slot private_slots[kSlots];
      return private_slots;
    }
    g_shared = true;
    return new (memory) Slot[kSlots];
  }();
  return slots;
}

// A lock file is removed only by whoever holds its lock, so a lock another run holds stays.
// The dead parent's own lock can outlive its pipe by a moment (the kernel releases the files of
// an exiting process one after another, and the pipe may go first): a few tries, 1 s at most.
void remove_lock_once_free(const char* path) {
  const int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      unlink(path);
      break;
    }
    const struct timespec pause = {0, 10'000'000};
    nanosleep(&pause, nullptr);
  }
  close(fd);
}

// The janitor: only async-signal-safe calls, as it is a fork of a process that may have threads.
[[noreturn]] void janitor(int parent_alive) {
  setsid();  // out of the parent's process group: mpirun and the terminal signal whole groups
  prctl(PR_SET_NAME, "deeplab-janitor");
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE}) sigaction(sig, &ignore, nullptr);
  // Keeps stdin/stdout/stderr: whoever waits for the parent's output to end (mpirun, a pipe)
  // then also waits for the clean-up. Every other descriptor goes.
  if (parent_alive > 3) close_range(3, unsigned(parent_alive) - 1, 0);
  close_range(unsigned(parent_alive) + 1, ~0U, 0);
  char byte;
  for (;;) {
    const ssize_t n = read(parent_alive, &byte, 1);
    if (n == 0) break;                      // the parent's end of the pipe closed: it is gone
    if (n < 0 && errno != EINTR) _exit(1);  // cannot tell: leave everything as it is
  }
  Slot* slots = table();
  for (int i = 0; i < kSlots; ++i) {
    const int state = slots[i].state.load();
    if (state == kFile) unlink(slots[i].path);
    if (state == kLockWanted || state == kLockHeld) remove_lock_once_free(slots[i].path);
  }
  _exit(0);
}

int register_path(const std::string& path, State state) {
  start_temporary_janitor();
  if (path.size() >= sizeof(Slot::path)) return -1;
  static std::mutex taking;
  std::lock_guard<std::mutex> lock(taking);
  Slot* slots = table();
  for (int i = 0; i < kSlots; ++i)
    if (slots[i].state.load() == kFree) {
      std::memcpy(slots[i].path, path.c_str(), path.size() + 1);
      slots[i].state.store(state);  // after the path, so that a reader never sees half a path
      return i;
    }
  return -1;
}

}  // namespace

void start_temporary_janitor() {
  static std::once_flag once;
  std::call_once(once, [] {
    table();
    if (!g_shared) return;
    int pipe_ends[2];
    if (pipe2(pipe_ends, O_CLOEXEC) != 0) return;
    const pid_t pid = fork();
    if (pid == 0) {
      close(pipe_ends[1]);
      janitor(pipe_ends[0]);
    }
    close(pipe_ends[0]);
    if (pid < 0) {
      close(pipe_ends[1]);
      log_warn(std::string("cannot start the helper that removes temporary files after a kill (fork: ") +
               std::strerror(errno) + "); a killed run leaves them until the next run on the same output");
    }
    // The write end stays open, unused, for the life of the process: its closing is the message.
  });
}

int register_temporary(const std::string& path) { return register_path(path, kFile); }

int register_lock_file(const std::string& path) { return register_path(path, kLockWanted); }

void lock_taken(int slot) {
  if (slot >= 0 && slot < kSlots) table()[slot].state.store(kLockHeld);
}

void release_temporary(int slot) {
  if (slot >= 0 && slot < kSlots) table()[slot].state.store(kFree);
}

void remove_temporaries_now() {
  Slot* slots = table();
  for (int i = 0; i < kSlots; ++i) {
    const int state = slots[i].state.load();
    if (state == kFile || state == kLockHeld) unlink(slots[i].path);  // a lock this process holds
  }
}

}  // namespace deeplab
