#include "core/host_memory.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace deeplab {

void* host_alloc(size_t bytes, bool huge_pages) {
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t align = huge_pages && bytes >= 4 * kHuge ? kHuge : 64;
  const size_t rounded = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded == 0 ? align : rounded);
  if (!p) throw std::bad_alloc();
  if (align == kHuge) madvise(p, rounded, MADV_HUGEPAGE);  // a hint: ignored where unsupported
  return p;
}

void host_free(void* p) { std::free(p); }

}  // namespace deeplab
