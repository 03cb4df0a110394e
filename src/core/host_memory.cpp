#include "core/host_memory.h"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace deeplab {

namespace {
constexpr size_t kHuge = size_t(2) << 20;
// Freed huge-page blocks kept for the next request they fit: a job that runs the CRF
// image after image (segment, crf-sweep) then reuses pages already faulted in, instead of having
// the kernel zero ~50 MB of fresh pages per image (5% of the CRF's time). Bounded, so memory
// still goes back to the system.
constexpr size_t kPoolBytes = size_t(256) << 20;
constexpr size_t kPoolBlocks = 16;

struct Pool {
  std::mutex mutex;
  std::unordered_map<void*, size_t> huge_sizes;  // live and pooled huge blocks, by address
  std::vector<std::pair<void*, size_t>> free_blocks;
  size_t free_bytes = 0;
};
Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: frees may come from static destructors
  return *p;
}
}  // namespace

void* host_alloc(size_t bytes, bool huge_pages) {
  const size_t align = huge_pages && bytes >= kHuge ? kHuge : 64;
  const size_t rounded = (bytes + align - 1) / align * align;
  if (align == kHuge) {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    // The smallest block that fits and is at most twice the request (the CRF's lattice buffers
    // differ a little from image to image); the oldest of equals. (Measured: the most recently
    // freed first was slower, 121 against 111 ms.)
    size_t pick = p.free_blocks.size();
    for (size_t i = 0; i < p.free_blocks.size(); ++i) {
      const size_t size = p.free_blocks[i].second;
      if (size >= rounded && size <= 2 * rounded && (pick == p.free_blocks.size() || size < p.free_blocks[pick].second))
        pick = i;
    }
    if (pick < p.free_blocks.size()) {
      void* reused = p.free_blocks[pick].first;
      p.free_bytes -= p.free_blocks[pick].second;
      p.free_blocks.erase(p.free_blocks.begin() + std::ptrdiff_t(pick));
      return reused;
    }
  }
  void* ptr = std::aligned_alloc(align, rounded == 0 ? align : rounded);
  if (!ptr) throw std::bad_alloc();
  if (align == kHuge) {
    madvise(ptr, rounded, MADV_HUGEPAGE);  // a hint: ignored where unsupported
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    p.huge_sizes[ptr] = rounded;
  }
  return ptr;
}

void host_free(void* ptr) {
  if (!ptr) return;
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    auto it = p.huge_sizes.find(ptr);
    if (it != p.huge_sizes.end()) {
      const size_t size = it->second;
      if (size <= kPoolBytes) {
        // Make room, oldest first, then keep this one.
        while (!p.free_blocks.empty() && (p.free_bytes + size > kPoolBytes || p.free_blocks.size() >= kPoolBlocks)) {
          void* old = p.free_blocks.front().first;
          p.free_bytes -= p.free_blocks.front().second;
          p.free_blocks.erase(p.free_blocks.begin());
          p.huge_sizes.erase(old);
          std::free(old);
        }
        p.free_blocks.emplace_back(ptr, size);
        p.free_bytes += size;
        return;
      }
      p.huge_sizes.erase(it);
    }
  }
  std::free(ptr);
}

size_t host_pool_bytes() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mutex);
  return p.free_bytes;
}

}  // namespace deeplab
