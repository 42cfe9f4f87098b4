#pragma once

// Workload generators for the paper's evaluation (bench/evaluation): a seeded
// random source whose draws are the same with every standard library, the
// skewed 90/10 action mix, the 50/50 CPU/I-O mix, and the rising-concurrency
// schedule of the throughput experiment. Pure: bench/evaluation/workload_test.cc.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/status.h"
#include "stats.h"

namespace wow::bench::eval {

// std::mt19937_64's output sequence is fixed by the standard, but the standard
// distributions' mappings are not; these mappings are ours, so a seed gives the
// same workload on every platform. Not thread-safe: one per generating thread.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  uint64_t NextU64() { return engine_(); }
  // Uniform in [0, 1), from the top 53 bits.
  double Uniform01();
  // Uniform in [0, n) without modulo bias; 0 when n is 0.
  uint64_t Below(uint64_t n);
  // True with probability p (p <= 0 never, p >= 1 always).
  bool Bernoulli(double p);

 private:
  std::mt19937_64 engine_;
};

// One request of the skewed workload.
struct ActionPick {
  int index = 0;          // in [0, hot + rare): hot actions first, then rare ones
  bool io_bound = false;  // else CPU-bound
  bool hot = false;
};

struct SkewedOptions {
  int hot = 2;             // actions sharing `hot_share` of the requests
  int rare = 60;           // actions sharing the rest
  double hot_share = 0.9;  // in [0, 1]
};

// The paper's skewed workload: a few hot actions get most requests, uniformly
// among them; the rest go uniformly to one of many rare actions. Within each
// group actions alternate CPU-bound (even position) and I/O-bound (odd), so the
// two hot actions are one of each and half of all actions are I/O-bound.
class SkewedWorkload {
 public:
  // InvalidArgument for negative counts, no actions, a share outside [0, 1], or
  // a share that sends requests to an empty group.
  static Result<SkewedWorkload> Create(SkewedOptions options, uint64_t seed);

  ActionPick Next();

  const SkewedOptions& options() const { return options_; }
  int action_count() const { return options_.hot + options_.rare; }
  bool IsHot(int index) const { return index < options_.hot; }
  bool IsIoBound(int index) const;
  // "hot-cpu-0", "hot-io-1", "rare-cpu-0" ... "rare-io-59": the group, the kind,
  // and the position within the group.
  std::string ActionName(int index) const;
  std::vector<std::string> ActionNames() const;

 private:
  SkewedWorkload(SkewedOptions options, uint64_t seed) : options_(options), rng_(seed) {}

  SkewedOptions options_;
  Rng rng_;
};

// The mixed workload: each request is I/O-bound with probability `io_share`.
class MixedWorkload {
 public:
  // InvalidArgument for a share outside [0, 1].
  static Result<MixedWorkload> Create(double io_share, uint64_t seed);

  // True: the next request is I/O-bound; false: CPU-bound.
  bool Next() { return rng_.Bernoulli(io_share_); }
  double io_share() const { return io_share_; }

 private:
  MixedWorkload(double io_share, uint64_t seed) : io_share_(io_share), rng_(seed) {}

  double io_share_;
  Rng rng_;
};

// Closed-loop clients rising from `start_clients` to `max_clients` by
// `increment`, each level held for `step_seconds` (the last level is
// `max_clients` even when the increments overshoot it).
struct RisingSchedule {
  int start_clients = 1;
  int max_clients = 1;
  double step_seconds = 10;
  int increment = 1;

  // InvalidArgument unless 1 <= start_clients <= max_clients, increment >= 1
  // and step_seconds > 0.
  Status Validate() const;
  int level_count() const;
  // Clients at `t` seconds since the start: start_clients before 0, max_clients
  // from the last level on (also after the end).
  int ClientsAt(double t) const;
  double TotalSeconds() const { return step_seconds * level_count(); }
  // The levels for ThroughputPerLevel (stats.h).
  LevelSchedule Levels() const;
  // Clients of level `level` (0-based), capped at max_clients.
  int LevelClients(int level) const;
};

}  // namespace wow::bench::eval
