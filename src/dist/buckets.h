// How gradients are grouped for all-reduce, shared by the MPI (CPU) and NCCL (GPU) reducers:
// in the order backward finishes them, a bucket closes once it holds bucket_bytes or more, so
// each sum is big enough to run at full bandwidth and the first can start long before backward
// ends.
#pragma once
#include <cstddef>
#include <vector>

namespace deeplab::dist {

// counts: floats per gradient, in backward order. Returns the bucket of each gradient.
inline std::vector<int> plan_buckets(const std::vector<size_t>& counts, size_t bucket_bytes) {
  std::vector<int> bucket_of(counts.size());
  int bucket = 0;
  size_t bytes = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    bucket_of[i] = bucket;
    bytes += counts[i] * sizeof(float);
    if (bytes >= bucket_bytes && i + 1 < counts.size()) {
      ++bucket;
      bytes = 0;
    }
  }
  return bucket_of;
}

}  // namespace deeplab::dist
