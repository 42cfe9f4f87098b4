#include "workload.h"

#include <algorithm>
#include <cmath>

namespace wow::bench::eval {
namespace {

bool IsShare(double share) { return share >= 0 && share <= 1; }  // false for NaN

Status CheckSkewed(const SkewedOptions& o) {
  if (o.hot < 0 || o.rare < 0) return Status::InvalidArgument("skewed workload: negative action count");
  if (o.hot + o.rare == 0) return Status::InvalidArgument("skewed workload: no actions");
  if (!IsShare(o.hot_share)) return Status::InvalidArgument("skewed workload: hot share outside [0, 1]");
  if (o.hot == 0 && o.hot_share > 0) return Status::InvalidArgument("skewed workload: a hot share but no hot actions");
  if (o.rare == 0 && o.hot_share < 1) {
    return Status::InvalidArgument("skewed workload: a rare share but no rare actions");
  }
  return Status::Ok();
}

}  // namespace

double Rng::Uniform01() {
  constexpr double kTwoToMinus53 = 1.0 / 9007199254740992.0;
  return static_cast<double>(NextU64() >> 11) * kTwoToMinus53;
}

uint64_t Rng::Below(uint64_t n) {
  if (n == 0) return 0;
  // Rejects the lowest 2^64 mod n values so every residue is equally likely.
  const uint64_t threshold = (0 - n) % n;
  while (true) {
    const uint64_t x = NextU64();
    if (x >= threshold) return x % n;
  }
}

bool Rng::Bernoulli(double p) {
  if (!(p > 0)) return false;
  if (p >= 1) return true;
  return Uniform01() < p;
}

Result<SkewedWorkload> SkewedWorkload::Create(SkewedOptions options, uint64_t seed) {
  WOW_RETURN_IF_ERROR(CheckSkewed(options));
  return SkewedWorkload(options, seed);
}

ActionPick SkewedWorkload::Next() {
  ActionPick pick;
  pick.hot = rng_.Bernoulli(options_.hot_share);
  pick.index = pick.hot ? static_cast<int>(rng_.Below(options_.hot))
                        : options_.hot + static_cast<int>(rng_.Below(options_.rare));
  pick.io_bound = IsIoBound(pick.index);
  return pick;
}

bool SkewedWorkload::IsIoBound(int index) const {
  const int position = IsHot(index) ? index : index - options_.hot;
  return position % 2 == 1;
}

std::string SkewedWorkload::ActionName(int index) const {
  const int position = IsHot(index) ? index : index - options_.hot;
  return std::string(IsHot(index) ? "hot-" : "rare-") + (IsIoBound(index) ? "io-" : "cpu-") + std::to_string(position);
}

std::vector<std::string> SkewedWorkload::ActionNames() const {
  std::vector<std::string> names;
  for (int i = 0; i < action_count(); ++i) names.push_back(ActionName(i));
  return names;
}

Result<MixedWorkload> MixedWorkload::Create(double io_share, uint64_t seed) {
  if (!IsShare(io_share)) return Status::InvalidArgument("mixed workload: I/O share outside [0, 1]");
  return MixedWorkload(io_share, seed);
}

Status RisingSchedule::Validate() const {
  if (start_clients < 1 || max_clients < start_clients) {
    return Status::InvalidArgument("rising schedule: need 1 <= start_clients <= max_clients");
  }
  if (increment < 1) return Status::InvalidArgument("rising schedule: the increment must be >= 1");
  if (!(step_seconds > 0) || !std::isfinite(step_seconds)) {
    return Status::InvalidArgument("rising schedule: the step must be a positive number of seconds");
  }
  return Status::Ok();
}

int RisingSchedule::level_count() const {
  if (!Validate().ok()) return 0;
  // ceil((max - start) / increment) steps after the first level.
  const int64_t span = int64_t{max_clients} - start_clients;
  return static_cast<int>(1 + (span + increment - 1) / increment);
}

int RisingSchedule::ClientsAt(double t) const {
  const int levels = level_count();
  if (levels == 0) return 0;
  if (!(t > 0)) return start_clients;
  const double level = std::floor(t / step_seconds);
  if (level >= levels - 1) return max_clients;
  return LevelClients(static_cast<int>(level));
}

int RisingSchedule::LevelClients(int level) const {
  // 64-bit: a large increment must not overflow before the cap applies.
  return static_cast<int>(std::min<int64_t>(max_clients, start_clients + int64_t{level} * increment));
}

LevelSchedule RisingSchedule::Levels() const {
  LevelSchedule schedule;
  const int levels = level_count();
  for (int i = 0; i < levels; ++i) {
    schedule.levels.push_back({step_seconds * i, LevelClients(i)});
  }
  schedule.end_seconds = TotalSeconds();
  return schedule;
}

}  // namespace wow::bench::eval
