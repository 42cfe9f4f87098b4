#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "abi/action_runner.h"

namespace wow::protocol {

// Appends one guest log line's `text` (without newline) to `out` so that the
// guest cannot forge what the platform writes around it:
// - every occurrence of OpenWhisk's end-of-activation sentinel
//   (kEndOfActivation) is defused by lower-casing its first letter
//   ("xXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"): OpenWhisk's invoker ends log
//   collection at the first line that contains the sentinel, so a guest
//   printing it would cut its own and later activations' logs short;
// - a newline (never part of a captured line, but cheap to make sure) is
//   written as `\n`, so one guest line stays one output line;
// - with `escape_controls`, the other control characters (0x00-0x1f except
//   tab, and 0x7f; e.g. '\r' or a terminal escape that would redraw the
//   line's `[container id]` prefix) are written as `\xHH`.
void AppendGuestLogText(std::string& out, std::string_view text, bool escape_controls);

// Replays activations' log lines on this process's stdout (the guest's
// stdout lines) and stderr (its stderr lines), the way an OpenWhisk runtime
// container's output is collected. One activation's lines are written
// together, never interleaved with another's. Guest text goes through
// AppendGuestLogText (controls escaped when there is a prefix). Thread-safe.
class ActionLogWriter {
 public:
  // `enabled` false drops everything (e.g. `--action-logs none`).
  explicit ActionLogWriter(bool enabled = true) : enabled_(enabled) {}

  // Writes `lines` with `prefix` before each, then, with `sentinel`, the
  // end-of-activation line on both streams. A non-empty prefix (the
  // executor's "[<container id>] ") frames each line unambiguously: the
  // container id is what lies between the line's first '[' and its first
  // ']' (ExecutorProtocol accepts no ids containing brackets or controls),
  // and the guest's text can neither start another line nor move the cursor.
  void Write(const std::vector<abi::LogLine>& lines, std::string_view prefix, bool sentinel);

 private:
  bool enabled_;
  std::mutex mu_;
};

}  // namespace wow::protocol
