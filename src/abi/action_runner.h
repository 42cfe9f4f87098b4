#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "wasm/engine.h"

namespace wow::abi {

// How an action exchanges parameters and results with the host, detected
// from its exports.
enum class GuestAbi {
  // WASI command: params JSON on stdin, result = last non-empty stdout line.
  kWasiCommand,
  // WOW's ABI: params and {"Ok":...}/{"Err":...} through an exported buffer.
  kWow,
};
const char* GuestAbiName(GuestAbi abi);

// WOW when all five WOW exports are present, else WASI command when `_start`
// is exported; otherwise kInvalidModule saying which exports are missing.
Result<GuestAbi> DetectAbi(const wasm::ModuleInfo& info);

// A host directory an action may use, and the path the guest sees it under.
struct DirGrant {
  std::string host;
  std::string guest;
};

// What an action may reach beyond its own memory.
struct Capabilities {
  // Host directories preopened for the guest (the `dir` annotation, mapped by
  // the operator's policy: executor/capability_policy.h). Created if missing.
  std::vector<DirGrant> dirs;
  // Links `http.get` (the `net_access` annotation).
  bool net_access = false;
};

// The host functions an action with `caps` may import: WASI preview1 always,
// `http.get` with net_access. Built once per process; thread-safe.
const wasm::HostFunctions& HostFunctionsFor(const Capabilities& caps);

// What a log line counts at least against ActivationLimits::log_bytes.
inline constexpr uint64_t kMinLogLineBytes = 16;

struct ActivationLimits {
  uint64_t memory_bytes = 256ull << 20;  // linear memory; OpenWhisk's default 256 MB
  uint64_t log_bytes = 10ull << 20;      // stdout + stderr kept per activation (*)
  uint64_t result_bytes = 1ull << 20;    // the result JSON, serialised
  // (*) Each log line counts its bytes, newline included, but at least
  // kMinLogLineBytes, so a guest printing empty lines keeps at most
  // log_bytes / 16 of them and cannot fill memory with line records.

  // The activation stops when it passes, also inside running guest code,
  // with "The action exceeded its time limits of <time_limit_ms>
  // milliseconds." Host waits (sleep, http.get) never run past it.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  uint64_t time_limit_ms = 0;  // the limit the deadline stands for, for the message
};

struct ActivationRequest {
  std::string action_name = "action";
  // The parameters: a JSON object or array (text). Anything else is refused.
  std::string params_json = "{}";
  // The export to run: "_start" for both ABIs, or another exported
  // () -> () function the action named as its main.
  std::string entry_point = "_start";
  std::vector<std::string> env;  // "KEY=VALUE"
  Capabilities capabilities;
  ActivationLimits limits;
};

// OpenWhisk's activation outcomes that an action can cause.
enum class ActivationStatus { kSuccess, kApplicationError, kDeveloperError };
const char* ActivationStatusName(ActivationStatus status);

// One line of an activation's logs, without its newline (nor a '\r' before
// it). `time` is when the guest wrote the line's newline (the wall clock, read
// once per write call), or its last bytes for a line the guest left
// unterminated.
struct LogLine {
  enum class Stream { kStdout, kStderr } stream;
  std::string text;
  std::chrono::system_clock::time_point time;
};
const char* LogStreamName(LogLine::Stream stream);  // "stdout" or "stderr"

// The line the way OpenWhisk's activation records hold it, in UTC with
// microseconds: "2026-11-27T12:34:56.789012Z stdout: text".
std::string FormatLogLine(const LogLine& line);

struct ActivationResult {
  ActivationStatus status = ActivationStatus::kSuccess;
  // An object or array; for developer errors {"error": "<what went wrong>"}.
  boost::json::value result;
  // Stdout and stderr lines in the order the guest wrote them (a line's place
  // is its newline's), times never decreasing. Not the WASI command's result
  // line nor anything after it on stdout. When the guest wrote more than
  // limits.log_bytes allows, logs_truncated is set and the last line, on
  // stderr, says so.
  std::vector<LogLine> logs;
  bool logs_truncated = false;
  GuestAbi abi = GuestAbi::kWasiCommand;
  // The backend that ran the instance (Instance::engine_name(): "aot",
  // "jit", "interp"); empty when no instance could be created.
  std::string engine;
  double instantiate_ms = 0;  // fresh instance (memory, data, start function)
  double run_ms = 0;          // parameters in, guest code, result out
  // Wall-clock bounds of the activation (for records), and whether its
  // deadline stopped it.
  std::chrono::system_clock::time_point start;
  std::chrono::system_clock::time_point end;
  bool timed_out = false;
};

// Runs one activation of `module` on a fresh instance, discarded afterwards.
// Everything the guest does wrong (traps, exits, bad results) comes back as
// an ActivationResult with kDeveloperError and a message saying which; a
// non-OK Result means the platform could not run it (bad request, a
// capability directory that cannot be created). Thread-safe: any number of
// activations of one module may run at once on different threads.
Result<ActivationResult> RunActivation(const wasm::Module& module, const ActivationRequest& request);

}  // namespace wow::abi
