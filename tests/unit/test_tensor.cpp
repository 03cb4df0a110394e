#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "core/host_memory.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/dnnl_util.h"

namespace deeplab {
namespace {

TEST(Tensor, ZeroFilledSharedAndCloned) {
  Tensor a({2, 3, 4, 5});
  EXPECT_EQ(a.numel(), 120);
  EXPECT_EQ(a.at(1, 2, 3, 4), 0.0f);
  Tensor shared = a;
  Tensor copy = a.clone();
  a.at(1, 2, 3, 4) = 7.0f;
  EXPECT_EQ(shared.at(1, 2, 3, 4), 7.0f);
  EXPECT_EQ(copy.at(1, 2, 3, 4), 0.0f);
  EXPECT_EQ(a.reshaped({6, 20}).data()[119], 7.0f);
  EXPECT_THROW(a.reshaped({7, 20}), Error);
  EXPECT_THROW(Tensor({2, -1}), Error);
  EXPECT_THROW(copy.copy_from(Tensor({3})), Error);
}

TEST(Tensor, BlockedLayoutRoundTrip) {
  Tensor t({2, 21, 5, 3});
  Rng rng(1);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = rng.uniform();
  nn::memory m = nn::make_memory(nn::Desc({2, 21, 5, 3}, nn::memory::data_type::f32, nn::memory::format_tag::nChw16c));
  nn::tensor_to_memory(t, m);
  Tensor back = nn::memory_to_tensor(m);
  for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(back.data()[i], t.data()[i]);
}

TEST(Rng, DeterministicAndRestorable) {
  Rng a(5), b(5);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next(), b.next());
  auto state = a.state();
  uint64_t next = a.next();
  b.set_state(state);
  EXPECT_EQ(b.next(), next);
  double mean = 0;
  for (int i = 0; i < 10000; ++i) mean += a.uniform();
  EXPECT_NEAR(mean / 10000, 0.5, 0.02);
}

}  // namespace
}  // namespace deeplab

namespace deeplab {
namespace {

TEST(HostMemory, FreedHugeBlocksAreReusedForTheSameSizeAndThePoolIsBounded) {
  const size_t big = size_t(46) << 20;  // huge-page sized (and a size no other test uses): pooled when freed
  void* a = host_alloc(big, true);
  static_cast<char*>(a)[0] = 1;
  host_free(a);
  EXPECT_GE(host_pool_bytes(), big);
  void* b = host_alloc(big, true);  // the same size: the same, already faulted-in block
  EXPECT_EQ(a, b);
  void* c = host_alloc(big + (size_t(4) << 20), true);  // larger than any free block: a new block
  EXPECT_NE(c, b);
  host_free(b);
  host_free(c);
  // A smaller request takes the smallest free block that fits, if at most twice its size.
  void* d = host_alloc(big - (size_t(6) << 20), true);
  EXPECT_EQ(d, b);
  void* e = host_alloc(size_t(10) << 20, true);  // c is more than twice this: not handed out
  EXPECT_NE(e, c);
  host_free(d);
  host_free(e);
  // Freeing far more than the bound keeps at most 256 MB.
  std::vector<void*> blocks;
  for (int i = 0; i < 20; ++i) blocks.push_back(host_alloc(big, true));
  for (void* p : blocks) host_free(p);
  EXPECT_LE(host_pool_bytes(), size_t(256) << 20);
  void* small = host_alloc(1000);  // small blocks are never pooled
  host_free(small);
}

}  // namespace
}  // namespace deeplab
