#include "core/signals.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

#include "core/temporary_files.h"

namespace deeplab {

namespace {
std::atomic<bool> g_catching{false}, g_checkpoint{false};
std::atomic<int> g_stop{0};

sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  return set;
}

// Ends the process as the signal's default action would, without the temporaries.
[[noreturn]] void die_of(int sig) {
  remove_temporaries_now();
  signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  raise(sig);  // to this thread, where it is now unblocked: the default action ends the process
  _exit(128 + sig);
}

void watch(sigset_t set) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (!g_catching || (sig == SIGINT && g_stop == SIGINT)) die_of(sig);  // a second Ctrl-C: at once
    if (sig == SIGUSR1)
      g_checkpoint = true;
    else
      g_stop = sig;
  }
}
}  // namespace

void watch_signals() {
  static std::once_flag once;
  std::call_once(once, [] {
    start_temporary_janitor();  // a fork: while this is still the only thread
    // Every thread made after this inherits the mask, so the signals are only ever taken by the
    // watcher, never run as a handler on a compute thread's stack in the middle of its work.
    const sigset_t set = watched_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread(watch, set).detach();
  });
}

void catch_stop_signals() {
  watch_signals();
  g_catching = true;
}

int stop_signal() { return g_stop; }

bool take_checkpoint_request() { return g_checkpoint.exchange(false); }

void request_stop(int sig) {
  if (sig == SIGUSR1) g_checkpoint = true;
  else g_stop = sig;
}

}  // namespace deeplab
