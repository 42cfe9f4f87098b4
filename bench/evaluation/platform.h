#pragma once

// What the experiments drive: a serverless platform that runs named actions.
// Four implementations, all running actions built from the same C sources:
//   "Docker"       containers with an action proxy that runs the native build per /run
//   "process"      the same proxy as a plain process per container, no isolation (the floor)
//   "wow executor" wow's executor protocol (WOW's), the harness acting as OpenWhisk's invoker
//   "wow serve"    wow's standalone platform, end to end over the OpenWhisk REST API
// The first three share the invoker model (ContainerPool): one activation
// per container at a time, warm containers reused, new ones created on
// demand within a memory budget, idle ones removed after a keep-alive.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace wow::bench::eval {

// One action as the experiments see it. `example` names the build of
// examples/<example>.c: <build>/examples/<example>.wasm for wow and the
// native build for the baselines (variants like hash_oz map to both).
struct ActionSpec {
  std::string name;     // unique per platform run, an OpenWhisk entity name
  std::string example;  // "hash", "block", "hash_oz", "hash_o0", ...
  uint64_t memory_mb = 256;
  bool net_access = false;  // block's http.get
  // A different module under the same code (a custom section), so wow does
  // not share it with other actions: the memory experiment's worst case.
  bool distinct_module = false;
};

// One invocation as the client saw it. Times in milliseconds.
struct Invocation {
  bool ok = false;
  std::string error;              // when !ok
  bool cold = false;              // a container was created (wow: the module loaded) for it
  double latency_ms = 0;          // request sent to answer received, at the client
  double wait_ms = 0;             // OpenWhisk's waitTime: arrival until the /run or /init was sent
  double init_ms = 0;             // OpenWhisk's initTime: the /init (cold only)
  double start_s = 0, end_s = 0;  // since the experiment's clock started
  double cold_start_ms() const { return wait_ms + init_ms; }  // OpenWhisk's definition
};

// Memory attributed to a platform's warm state, in bytes, by part.
struct Footprint {
  uint64_t total = 0;
  std::vector<std::pair<std::string, uint64_t>> parts;  // e.g. {"cgroups (docker stats)", n}, {"shims PSS", n}
};

class Platform {
 public:
  virtual ~Platform() = default;
  virtual std::string name() const = 0;
  // Makes the action invocable (wow compiles it here, as at deploy time).
  virtual Status Deploy(const ActionSpec& action) = 0;
  // Runs one activation with `params_json`, blocking; thread-safe.
  virtual Invocation Invoke(const std::string& action, const std::string& params_json) = 0;
  // Removes every idle warm container, so the next invocations are cold.
  virtual void DropIdle() = 0;
  virtual Result<Footprint> MeasureFootprint() = 0;
  // Live containers (warm or busy); for progress and sanity checks.
  virtual size_t containers() const = 0;
};

// Seconds since `origin` on the steady clock: the experiments' time axis.
inline double SecondsSince(std::chrono::steady_clock::time_point origin, std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(t - origin).count();
}

}  // namespace wow::bench::eval
