// Wall-clock measurement for benchmarks: median of repeated runs and the process's peak RSS.
#pragma once
#include <functional>
#include <vector>

namespace deeplab {

struct Timing {
  std::vector<double> ms;  // one per timed run
  double median_ms() const;
  double min_ms() const;
};

// Runs fn warmup times untimed, then repeats times timed.
Timing measure(const std::function<void()>& fn, int warmup, int repeats);
double peak_rss_mb();
// Threads the CPU operators use (OpenMP); 0 leaves the default (all cores, or OMP_NUM_THREADS).
void set_cpu_threads(int threads);
int cpu_threads();

}  // namespace deeplab
