#pragma once

#include <mutex>
#include <string_view>
#include <vector>

#include "abi/action_runner.h"

namespace wow::protocol {

// Replays activations' log lines on this process's stdout (the guest's
// stdout lines) and stderr (its stderr lines), the way an OpenWhisk runtime
// container's output is collected. One activation's lines are written
// together, never interleaved with another's. Thread-safe.
class ActionLogWriter {
 public:
  // `enabled` false drops everything (e.g. `--action-logs none`).
  explicit ActionLogWriter(bool enabled = true) : enabled_(enabled) {}

  // Writes `lines` with `prefix` before each, then, with `sentinel`, the
  // end-of-activation line on both streams.
  void Write(const std::vector<abi::LogLine>& lines, std::string_view prefix, bool sentinel);

 private:
  bool enabled_;
  std::mutex mu_;
};

}  // namespace wow::protocol
