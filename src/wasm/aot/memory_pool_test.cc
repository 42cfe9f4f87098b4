#include "wasm/aot/memory_pool.h"

#include <gtest/gtest.h>

#include <cstring>

namespace wow::wasm::aot {
namespace {

constexpr uint64_t kPage = 65536;

bool AllZero(const uint8_t* p, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

TEST(MemoryPoolTest, ReleasedSlotsComeBackZeroedAndAreReused) {
  MemoryPool& pool = MemoryPool::Instance();
  uint8_t* a = pool.Acquire(2 * kPage);
  ASSERT_NE(a, nullptr);
  std::memset(a, 0xAB, 2 * kPage);
  pool.Release(a, 2 * kPage);
  uint8_t* b = pool.Acquire(2 * kPage);
  EXPECT_EQ(a, b) << "the most recently released slot is reused first";
  EXPECT_TRUE(AllZero(b, 2 * kPage));
  pool.Release(b, 2 * kPage);
}

TEST(MemoryPoolTest, GrownPagesBeyondTheResidentThresholdAreZeroToo) {
  MemoryPool& pool = MemoryPool::Instance();
  uint64_t big = pool.options().keep_resident_bytes + 8 * kPage;
  uint8_t* a = pool.Acquire(kPage);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(pool.Grow(a, kPage, big));
  std::memset(a, 0x5A, big);
  pool.Release(a, big);
  uint8_t* b = pool.Acquire(big);  // same size: no protection change
  ASSERT_EQ(a, b);
  EXPECT_TRUE(AllZero(b, big));
  pool.Release(b, big);
  // A smaller memory next: the slot shrinks its accessible range.
  uint8_t* c = pool.Acquire(kPage);
  ASSERT_EQ(a, c);
  EXPECT_TRUE(AllZero(c, kPage));
  ASSERT_TRUE(pool.Grow(c, kPage, big));
  EXPECT_TRUE(AllZero(c, big)) << "pages made accessible again must still be zero";
  pool.Release(c, big);
}

TEST(MemoryPoolTest, ContainsCoversTheGuardRegion) {
  MemoryPool& pool = MemoryPool::Instance();
  uint8_t* a = pool.Acquire(kPage);
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(pool.Contains(a));
  EXPECT_TRUE(pool.Contains(a + (5ull << 30)));
  EXPECT_FALSE(pool.Contains(&pool));
  pool.Release(a, kPage);
}

TEST(MemoryPoolTest, ConcurrentUsersGetDistinctSlots) {
  MemoryPool& pool = MemoryPool::Instance();
  uint8_t* a = pool.Acquire(kPage);
  uint8_t* b = pool.Acquire(kPage);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  size_t created = pool.slots_created();
  pool.Release(a, kPage);
  pool.Release(b, kPage);
  for (int i = 0; i < 1000; ++i) pool.Release(pool.Acquire(kPage), kPage);
  EXPECT_EQ(pool.slots_created(), created) << "sequential use never creates new slots";
}

}  // namespace
}  // namespace wow::wasm::aot
