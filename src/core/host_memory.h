// Host memory, 64-byte aligned (AVX-512 lines). Buffers that are large and fresh for every image
// (the CRF's) can ask for transparent huge pages: aligned to 2 MB and offered to the kernel with
// madvise, so first touching them costs one page fault per 2 MB instead of one per 4 KB, which
// for 50 MB of buffers per image is milliseconds. Long-lived buffers (weights, the network's
// arena) do not ask: rounding to 2 MB would only add memory.
#pragma once
#include <cstddef>
#include <memory>

namespace deeplab {

void* host_alloc(size_t bytes, bool huge_pages = false);  // throws std::bad_alloc
void host_free(void* p);
size_t host_pool_bytes();  // freed huge-page blocks kept for reuse

struct HostFree {
  void operator()(void* p) const { host_free(p); }
};
// An uninitialised array of T in host memory.
template <typename T>
using HostArray = std::unique_ptr<T[], HostFree>;
template <typename T>
HostArray<T> host_array(size_t count, bool huge_pages = false) {
  return HostArray<T>(static_cast<T*>(host_alloc(count * sizeof(T), huge_pages)));
}

}  // namespace deeplab
