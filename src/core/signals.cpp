#include "core/signals.h"

#include <unistd.h>

#include <csignal>
#include <cstring>

namespace deeplab {

namespace {
// Fixed slots, so the handler only reads memory that is always there.
constexpr int kSlots = 16;
char g_temp_paths[kSlots][4096];
volatile sig_atomic_t g_temp_used[kSlots];
volatile sig_atomic_t g_catching = 0;
volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_checkpoint = 0;

extern "C" void on_stop_signal(int sig) {
  if (g_catching && !(sig == SIGINT && g_stop == SIGINT)) {
    g_stop = sig;
    return;
  }
  for (int i = 0; i < kSlots; ++i)
    if (g_temp_used[i]) unlink(g_temp_paths[i]);
  signal(sig, SIG_DFL);
  raise(sig);
}

extern "C" void on_checkpoint_signal(int) { g_checkpoint = 1; }

void install_stop_handlers() {
  static bool installed = false;
  if (installed) return;
  signal(SIGTERM, on_stop_signal);
  signal(SIGINT, on_stop_signal);
  installed = true;
}
}  // namespace

int register_temporary(const std::string& path) {
  install_stop_handlers();
  if (path.size() >= sizeof g_temp_paths[0]) return -1;
  for (int i = 0; i < kSlots; ++i)
    if (!g_temp_used[i]) {
      std::memcpy(g_temp_paths[i], path.c_str(), path.size() + 1);
      g_temp_used[i] = 1;
      return i;
    }
  return -1;
}

void release_temporary(int slot) {
  if (slot >= 0 && slot < kSlots) g_temp_used[slot] = 0;
}

void catch_stop_signals() {
  install_stop_handlers();
  g_catching = 1;
  signal(SIGUSR1, on_checkpoint_signal);
}

int stop_signal() { return g_stop; }

bool take_checkpoint_request() {
  if (!g_checkpoint) return false;
  g_checkpoint = 0;
  return true;
}

void request_stop(int sig) {
  if (sig == SIGUSR1) g_checkpoint = 1;
  else g_stop = sig;
}

}  // namespace deeplab
