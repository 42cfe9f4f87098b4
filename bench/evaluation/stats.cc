#include "stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "load_stats.h"

namespace wow::bench::eval {
namespace {

double Mean(const std::vector<double>& samples) {
  // long double keeps the sum exact enough for millions of microsecond samples.
  long double sum = 0;
  for (double v : samples) sum += v;
  return static_cast<double>(sum / static_cast<long double>(samples.size()));
}

// The index of the last occurrence of sorted[i]'s value: the ECDF steps there.
size_t LastOfRun(const std::vector<double>& sorted, size_t i) {
  while (i + 1 < sorted.size() && sorted[i + 1] == sorted[i]) ++i;
  return i;
}

Status CheckSchedule(const LevelSchedule& schedule, double settle_seconds) {
  if (schedule.levels.empty()) return Status::InvalidArgument("throughput: the schedule has no levels");
  if (!(settle_seconds >= 0)) return Status::InvalidArgument("throughput: the settle time must be >= 0");
  for (size_t i = 1; i < schedule.levels.size(); ++i) {
    if (!(schedule.levels[i].start_seconds > schedule.levels[i - 1].start_seconds)) {
      return Status::InvalidArgument("throughput: level start times must be ascending");
    }
  }
  if (!(schedule.end_seconds > schedule.levels.back().start_seconds)) {
    return Status::InvalidArgument("throughput: the end time must follow the last level's start");
  }
  return Status::Ok();
}

// Completions in [lo, hi), or [lo, hi] when `closed`, of ascending `sorted`.
uint64_t CountIn(const std::vector<double>& sorted, double lo, double hi, bool closed) {
  auto first = std::lower_bound(sorted.begin(), sorted.end(), lo);
  auto last = closed ? std::upper_bound(first, sorted.end(), hi) : std::lower_bound(first, sorted.end(), hi);
  return static_cast<uint64_t>(last - first);
}

// Sorting NaNs is undefined behaviour; a NaN sample is a caller's bug, not a figure.
void DropNaNs(std::vector<double>& samples) {
  std::erase_if(samples, [](double v) { return std::isnan(v); });
}

}  // namespace

Distribution Describe(std::vector<double> samples) {
  Distribution d;
  DropNaNs(samples);
  if (samples.empty()) return d;
  std::sort(samples.begin(), samples.end());
  d.count = samples.size();
  d.min = samples.front();
  d.max = samples.back();
  d.p50 = Percentile(samples, 50);
  d.p90 = Percentile(samples, 90);
  d.p99 = Percentile(samples, 99);
  d.mean = Mean(samples);
  return d;
}

std::vector<std::pair<double, double>> Ecdf(std::vector<double> samples, size_t max_points) {
  std::vector<std::pair<double, double>> all;
  DropNaNs(samples);
  if (samples.empty()) return all;
  std::sort(samples.begin(), samples.end());
  const double n = static_cast<double>(samples.size());
  for (size_t i = 0; i < samples.size(); i = LastOfRun(samples, i) + 1) {
    const size_t last = LastOfRun(samples, i);
    all.emplace_back(samples[last], static_cast<double>(last + 1) / n);
  }
  max_points = std::max<size_t>(max_points, 2);
  if (all.size() <= max_points) return all;
  // Evenly spaced ranks among the distinct points, first and last included.
  std::vector<std::pair<double, double>> out;
  out.reserve(max_points);
  const double step = static_cast<double>(all.size() - 1) / static_cast<double>(max_points - 1);
  for (size_t k = 0; k < max_points; ++k) {
    const size_t index = std::min(all.size() - 1, static_cast<size_t>(std::llround(step * static_cast<double>(k))));
    out.push_back(all[index]);
  }
  return out;
}

Result<std::vector<LevelThroughput>> ThroughputPerLevel(std::vector<double> completed_at, const LevelSchedule& schedule,
                                                        double settle_seconds) {
  WOW_RETURN_IF_ERROR(CheckSchedule(schedule, settle_seconds));
  DropNaNs(completed_at);
  std::sort(completed_at.begin(), completed_at.end());
  std::vector<LevelThroughput> out;
  for (size_t i = 0; i < schedule.levels.size(); ++i) {
    const bool last = i + 1 == schedule.levels.size();
    const double hi = last ? schedule.end_seconds : schedule.levels[i + 1].start_seconds;
    const double lo = schedule.levels[i].start_seconds + settle_seconds;
    LevelThroughput level;
    level.clients = schedule.levels[i].clients;
    level.window_seconds = std::max(0.0, hi - lo);
    if (level.window_seconds > 0) {
      level.completed = CountIn(completed_at, lo, hi, last);
      level.rps = static_cast<double>(level.completed) / level.window_seconds;
    }
    out.push_back(level);
  }
  return out;
}

std::optional<double> Ratio(double numerator, double denominator) {
  if (denominator == 0 || !std::isfinite(numerator) || !std::isfinite(denominator)) return std::nullopt;
  const double ratio = numerator / denominator;
  if (!std::isfinite(ratio)) return std::nullopt;  // overflow, e.g. 1e300 / 1e-300
  return ratio;
}

std::optional<std::string> FormatRatio(double numerator, double denominator, int decimals) {
  std::optional<double> ratio = Ratio(numerator, denominator);
  if (!ratio) return std::nullopt;
  char text[64];
  std::snprintf(text, sizeof text, "%.*fx", std::clamp(decimals, 0, 6), *ratio);
  return std::string(text);
}

}  // namespace wow::bench::eval
