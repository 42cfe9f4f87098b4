#include "executor/deadline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>

namespace wow::executor {
namespace {

using std::chrono::milliseconds;
using SysTime = std::chrono::system_clock::time_point;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

TEST(DeadlineTest, EpochMsWithinRangeIsExact) {
  EXPECT_EQ(EpochMsToTimePoint(0), SysTime());
  EXPECT_EQ(EpochMsToTimePoint(1'893'456'000'000), SysTime(milliseconds(1'893'456'000'000)));
}

TEST(DeadlineTest, EpochMsBeyondTheClockSaturates) {
  // 2^64-1 would wrap to -1 ms (the past) or overflow the nanosecond count.
  EXPECT_EQ(EpochMsToTimePoint(kMaxU64), SysTime::max());
  EXPECT_EQ(EpochMsToTimePoint(uint64_t{1} << 63), SysTime::max());
  EXPECT_EQ(EpochMsToTimePoint(1'000'000'000'000'000), SysTime::max());  // 1e15 ms: year ~33,700
  // The last representable millisecond is kept, the next one saturates.
  constexpr uint64_t kLast = static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / 1'000'000);
  EXPECT_EQ(EpochMsToTimePoint(kLast), SysTime(milliseconds(kLast)));
  EXPECT_EQ(EpochMsToTimePoint(kLast + 1), SysTime::max());
}

TEST(DeadlineTest, MillisUntilRoundsUpAndNeverWraps) {
  SysTime now = std::chrono::system_clock::now();
  EXPECT_EQ(MillisUntil(now, now), 0u);
  EXPECT_EQ(MillisUntil(now - milliseconds(5), now), 0u);
  EXPECT_EQ(MillisUntil(now + milliseconds(250), now), 250u);
  EXPECT_EQ(MillisUntil(now + std::chrono::microseconds(1), now), 1u);
  EXPECT_EQ(MillisUntil(now + std::chrono::microseconds(1001), now), 2u);
  // The extremes: far in the future is huge (not 0), far in the past is 0.
  EXPECT_GT(MillisUntil(SysTime::max(), now), uint64_t{200} * 365 * 24 * 3600 * 1000);
  EXPECT_EQ(MillisUntil(SysTime::min(), now), 0u);
  EXPECT_EQ(MillisUntil(SysTime::max(), SysTime::min()), kMaxU64 / 1'000'000 + 1);
  EXPECT_EQ(MillisUntil(SysTime::min(), SysTime::max()), 0u);
  EXPECT_EQ(MillisUntil(EpochMsToTimePoint(kMaxU64), now), MillisUntil(SysTime::max(), now));
}

TEST(DeadlineTest, SaturatingAddNeverWraps) {
  SteadyTime now = std::chrono::steady_clock::now();
  EXPECT_EQ(SaturatingAdd(now, 0), now);
  EXPECT_EQ(SaturatingAdd(now, 300'000), now + milliseconds(300'000));
  EXPECT_EQ(SaturatingAdd(now, kMaxU64), SteadyTime::max());
  EXPECT_EQ(SaturatingAdd(now, 1'000'000'000'000'000), SteadyTime::max());  // 1e15 ms
  EXPECT_EQ(SaturatingAdd(SteadyTime::max() - milliseconds(1), 2), SteadyTime::max());
  EXPECT_EQ(SaturatingAdd(SteadyTime::max() - milliseconds(2), 1), SteadyTime::max() - milliseconds(1));
  EXPECT_EQ(SaturatingAdd(SteadyTime::min(), 1), SteadyTime::min() + milliseconds(1));
  EXPECT_EQ(SaturatingAdd(SysTime(), kMaxU64), SysTime::max());
}

}  // namespace
}  // namespace wow::executor
