#pragma once

// Statistics for the paper's evaluation (bench/evaluation): distributions of
// samples, empirical CDFs for the latency figure, throughput per level of a
// rising-concurrency run, and ratios between platforms. Pure functions only;
// bench/evaluation/stats_test.cc covers them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace wow::bench::eval {

// A summary of samples in any unit (the caller's). Percentiles are nearest-rank,
// as bench/load_stats.h's Percentile: p50 of 1..100 is 50, p99 is 99.
struct Distribution {
  size_t count = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// Sorts the samples and describes them; no samples give count 0 and zeros.
// NaN samples are ignored here and below (they cannot be ordered).
Distribution Describe(std::vector<double> samples);

// The empirical CDF: ascending (x, fraction of samples <= x) points, one per
// distinct value. With more than `max_points` (>= 2) distinct values, keeps that
// many evenly spaced by rank, always the minimum and the maximum (fraction 1).
// No samples give no points.
std::vector<std::pair<double, double>> Ecdf(std::vector<double> samples, size_t max_points = 500);

// One level of a rising-concurrency run: from `start_seconds` (since the run
// started) until the next level's start, `clients` closed-loop clients.
struct ConcurrencyLevel {
  double start_seconds = 0;
  int clients = 0;
};

// The levels in ascending start order, and when the last one ended.
struct LevelSchedule {
  std::vector<ConcurrencyLevel> levels{};
  double end_seconds = 0;
};

// What one level achieved.
struct LevelThroughput {
  int clients = 0;
  double window_seconds = 0;  // the level's length minus the settle time (>= 0)
  uint64_t completed = 0;     // requests completed inside the window
  double rps = 0;             // completed / window_seconds; 0 for an empty window
};

// Counts the completions (seconds since the run started, any order) inside each
// level's window [start + settle_seconds, next start); the last window includes
// the end time. Ignoring the first `settle_seconds` of every level keeps the
// ramp-up of new clients out of the figure. InvalidArgument for an empty or
// unordered schedule or a negative settle time.
Result<std::vector<LevelThroughput>> ThroughputPerLevel(std::vector<double> completed_at, const LevelSchedule& schedule,
                                                        double settle_seconds = 0);

// numerator / denominator; nullopt when the denominator is 0 or either is not finite.
std::optional<double> Ratio(double numerator, double denominator);

// The ratio as "3.2x" with `decimals` digits after the point; nullopt as Ratio.
std::optional<std::string> FormatRatio(double numerator, double denominator, int decimals = 1);

}  // namespace wow::bench::eval
