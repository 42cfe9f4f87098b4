#pragma once

// Overflow-safe time arithmetic for deadlines and timeouts that arrive in
// messages (OpenWhisk's `deadline` in epoch ms, `limits.timeout` in ms). A
// caller may send anything up to 2^64-1; std::chrono arithmetic on such values
// overflows (undefined behaviour) or wraps to the past. These helpers
// saturate instead: every result is a representable time point or a count of
// milliseconds, never a wrapped one. Header-only; thread-safe (pure).

#include <chrono>
#include <cstdint>
#include <limits>

namespace wow::executor {

// The system_clock time point `epoch_ms` milliseconds after the epoch, or the
// latest representable time point when it lies beyond that (the clock counts
// nanoseconds in an int64: about the year 2262).
inline std::chrono::system_clock::time_point EpochMsToTimePoint(uint64_t epoch_ms) {
  using Tick = std::chrono::system_clock::duration;
  constexpr auto kTicksPerMs = std::chrono::duration_cast<Tick>(std::chrono::milliseconds(1)).count();
  constexpr uint64_t kMaxMs = static_cast<uint64_t>(std::numeric_limits<Tick::rep>::max() / kTicksPerMs);
  if (epoch_ms > kMaxMs) return std::chrono::system_clock::time_point::max();
  return std::chrono::system_clock::time_point(Tick(static_cast<Tick::rep>(epoch_ms) * kTicksPerMs));
}

// Whole milliseconds from `now` until `deadline`, rounded up; 0 when it has
// passed. Defined for any pair of time points, also min() and max().
template <class Clock, class Duration>
uint64_t MillisUntil(std::chrono::time_point<Clock, Duration> deadline, std::chrono::time_point<Clock, Duration> now) {
  using Rep = typename Duration::rep;
  Rep a = deadline.time_since_epoch().count();
  Rep b = now.time_since_epoch().count();
  if (a <= b) return 0;
  // a > b, so a - b is positive; in unsigned arithmetic it cannot overflow.
  uint64_t ticks = static_cast<uint64_t>(a) - static_cast<uint64_t>(b);
  constexpr auto kTicksPerMs =
      static_cast<uint64_t>(std::chrono::duration_cast<Duration>(std::chrono::milliseconds(1)).count());
  return ticks / kTicksPerMs + (ticks % kTicksPerMs != 0 ? 1 : 0);
}

// `now` plus `ms` milliseconds, or the clock's latest time point when the sum
// is not representable.
template <class Clock, class Duration>
std::chrono::time_point<Clock, Duration> SaturatingAdd(std::chrono::time_point<Clock, Duration> now, uint64_t ms) {
  using Rep = typename Duration::rep;
  constexpr auto kTicksPerMs = std::chrono::duration_cast<Duration>(std::chrono::milliseconds(1)).count();
  constexpr Rep kMax = std::numeric_limits<Rep>::max();
  Rep t = now.time_since_epoch().count();
  if (ms > static_cast<uint64_t>(kMax / kTicksPerMs)) return std::chrono::time_point<Clock, Duration>::max();
  Rep delta = static_cast<Rep>(ms) * kTicksPerMs;
  if (t > 0 && delta > kMax - t) return std::chrono::time_point<Clock, Duration>::max();
  return std::chrono::time_point<Clock, Duration>(Duration(t + delta));
}

}  // namespace wow::executor
