#include "stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

namespace wow::bench::eval {
namespace {

std::vector<double> Iota(int first, int last) {
  std::vector<double> v(static_cast<size_t>(last - first + 1));
  std::iota(v.begin(), v.end(), static_cast<double>(first));
  return v;
}

TEST(DescribeTest, OneToHundred) {
  std::vector<double> v = Iota(1, 100);
  std::reverse(v.begin(), v.end());  // any order
  const Distribution d = Describe(v);
  EXPECT_EQ(d.count, 100u);
  EXPECT_EQ(d.min, 1);
  EXPECT_EQ(d.p50, 50);
  EXPECT_EQ(d.p90, 90);
  EXPECT_EQ(d.p99, 99);
  EXPECT_EQ(d.max, 100);
  EXPECT_DOUBLE_EQ(d.mean, 50.5);
}

TEST(DescribeTest, OneToThousandAndFractions) {
  const Distribution d = Describe(Iota(1, 1000));
  EXPECT_EQ(d.p50, 500);
  EXPECT_EQ(d.p90, 900);
  EXPECT_EQ(d.p99, 990);
  const Distribution small = Describe({0.25, 0.5});
  EXPECT_EQ(small.p50, 0.25);
  EXPECT_EQ(small.p90, 0.5);
  EXPECT_DOUBLE_EQ(small.mean, 0.375);
}

TEST(DescribeTest, EmptyAndSingle) {
  const Distribution empty = Describe({});
  EXPECT_EQ(empty.count, 0u);
  EXPECT_EQ(empty.min, 0);
  EXPECT_EQ(empty.p99, 0);
  EXPECT_EQ(empty.max, 0);
  EXPECT_EQ(empty.mean, 0);
  const Distribution one = Describe({7.5});
  EXPECT_EQ(one.count, 1u);
  EXPECT_EQ(one.min, 7.5);
  EXPECT_EQ(one.p50, 7.5);
  EXPECT_EQ(one.max, 7.5);
}

TEST(DescribeTest, IgnoresNaN) {
  const Distribution d = Describe({3, std::nan(""), 1, 2});
  EXPECT_EQ(d.count, 3u);
  EXPECT_EQ(d.max, 3);
  EXPECT_EQ(d.p50, 2);
}

TEST(EcdfTest, SmallIsExact) {
  const auto points = Ecdf({3, 1, 2, 2});
  ASSERT_EQ(points.size(), 3u);  // one point per distinct value
  EXPECT_EQ(points[0], std::make_pair(1.0, 0.25));
  EXPECT_EQ(points[1], std::make_pair(2.0, 0.75));
  EXPECT_EQ(points[2], std::make_pair(3.0, 1.0));
}

TEST(EcdfTest, EmptyGivesNoPoints) { EXPECT_TRUE(Ecdf({}).empty()); }

TEST(EcdfTest, DownsamplesKeepingEndpoints) {
  std::vector<double> v = Iota(1, 100000);
  std::reverse(v.begin(), v.end());
  const auto points = Ecdf(v, 500);
  ASSERT_EQ(points.size(), 500u);
  EXPECT_EQ(points.front(), std::make_pair(1.0, 1.0 / 100000));
  EXPECT_EQ(points.back(), std::make_pair(100000.0, 1.0));
  for (size_t i = 1; i < points.size(); ++i) {
    EXPECT_LT(points[i - 1].first, points[i].first);
    EXPECT_LT(points[i - 1].second, points[i].second);
  }
  // Evenly spaced by rank: the middle point is near the median.
  EXPECT_NEAR(points[250].second, 0.5, 0.01);
  EXPECT_DOUBLE_EQ(points[250].first / 100000, points[250].second);
}

TEST(EcdfTest, FractionsAreOfAllSamplesWithDuplicates) {
  std::vector<double> v(1000, 5.0);
  v.push_back(1.0);
  v.push_back(9.0);
  const auto points = Ecdf(v, 2);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0], std::make_pair(1.0, 1.0 / 1002));
  EXPECT_EQ(points[1], std::make_pair(9.0, 1.0));
  const auto all = Ecdf(v);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_DOUBLE_EQ(all[1].second, 1001.0 / 1002);
}

LevelSchedule ThreeLevels() { return LevelSchedule{{{0, 1}, {10, 2}, {20, 4}}, 30}; }

TEST(ThroughputTest, CountsPerLevel) {
  // 1/s in the first level, 2/s in the second, 4/s in the third.
  std::vector<double> times;
  for (int i = 0; i < 10; ++i) times.push_back(i + 0.5);
  for (int i = 0; i < 20; ++i) times.push_back(10 + i * 0.5 + 0.25);
  for (int i = 0; i < 40; ++i) times.push_back(20 + i * 0.25 + 0.125);
  times.push_back(30);  // exactly at the end: counted in the last level
  times.push_back(31);  // after the end: ignored
  auto result = ThroughputPerLevel(times, ThreeLevels());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const auto& levels = *result;
  ASSERT_EQ(levels.size(), 3u);
  EXPECT_EQ(levels[0].clients, 1);
  EXPECT_EQ(levels[0].completed, 10u);
  EXPECT_DOUBLE_EQ(levels[0].window_seconds, 10);
  EXPECT_DOUBLE_EQ(levels[0].rps, 1);
  EXPECT_EQ(levels[1].completed, 20u);
  EXPECT_DOUBLE_EQ(levels[1].rps, 2);
  EXPECT_EQ(levels[2].clients, 4);
  EXPECT_EQ(levels[2].completed, 41u);
}

TEST(ThroughputTest, SettleSkipsTheStartOfEachLevel) {
  std::vector<double> times;
  for (int i = 0; i < 300; ++i) times.push_back(i * 0.1);  // 10/s throughout
  auto result = ThroughputPerLevel(times, ThreeLevels(), 2.0);
  ASSERT_TRUE(result.ok());
  for (const LevelThroughput& level : *result) {
    EXPECT_DOUBLE_EQ(level.window_seconds, 8);
    EXPECT_NEAR(level.rps, 10, 0.2);
  }
  EXPECT_EQ((*result)[0].completed, 80u);  // 2.0 .. 9.9
}

TEST(ThroughputTest, SettleLongerThanLevelGivesEmptyWindows) {
  auto result = ThroughputPerLevel({1, 2, 3}, ThreeLevels(), 15);
  ASSERT_TRUE(result.ok());
  for (const LevelThroughput& level : *result) {
    EXPECT_EQ(level.window_seconds, 0);
    EXPECT_EQ(level.completed, 0u);
    EXPECT_EQ(level.rps, 0);
  }
}

TEST(ThroughputTest, RejectsBadSchedules) {
  EXPECT_FALSE(ThroughputPerLevel({}, LevelSchedule{{}, 10}).ok());
  EXPECT_FALSE(ThroughputPerLevel({}, LevelSchedule{{{0, 1}, {0, 2}}, 10}).ok());
  EXPECT_FALSE(ThroughputPerLevel({}, LevelSchedule{{{0, 1}, {5, 2}}, 5}).ok());
  EXPECT_FALSE(ThroughputPerLevel({}, ThreeLevels(), -1).ok());
  EXPECT_TRUE(ThroughputPerLevel({}, ThreeLevels()).ok());
}

TEST(RatioTest, FormatsAndRefusesZero) {
  EXPECT_EQ(FormatRatio(32, 10), "3.2x");
  EXPECT_EQ(FormatRatio(1, 3, 2), "0.33x");
  EXPECT_EQ(FormatRatio(250, 2, 0), "125x");
  EXPECT_EQ(FormatRatio(1, 0), std::nullopt);
  EXPECT_EQ(Ratio(1, 0), std::nullopt);
  EXPECT_EQ(Ratio(std::nan(""), 1), std::nullopt);
  EXPECT_EQ(Ratio(1e300, 1e-300), std::nullopt);
  EXPECT_EQ(Ratio(6, 3), 2.0);
}

}  // namespace
}  // namespace wow::bench::eval
