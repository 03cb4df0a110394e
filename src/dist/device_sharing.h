// Whether NCCL can sum the gradients. NCCL needs a GPU of its own for every rank; where ranks
// share one (more ranks than GPUs on a node), the sums go over MPI through the host. This is
// decided from the devices themselves: every rank's device identity (core/device.h), gathered
// from all ranks, so that each rank sees the same list and takes the same path. Counting the
// ranks on a node against the GPUs one rank sees is wrong under Slurm's --gpus-per-task=1,
// where each rank sees exactly one GPU, its own.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace deeplab::dist {

inline bool any_device_shared(std::vector<int64_t> device_of_rank) {
  std::sort(device_of_rank.begin(), device_of_rank.end());
  return std::adjacent_find(device_of_rank.begin(), device_of_rank.end()) != device_of_rank.end();
}

}  // namespace deeplab::dist
