#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "wasi/fd_table.h"

namespace wow::wasi {

// A host directory the guest may use, visible to it under `guest_path`.
struct Preopen {
  std::string host_path;   // must be an existing directory
  std::string guest_path;  // e.g. "/tmp/x" or "."; what fd_prestat_dir_name reports
  // When true the guest can list, stat and read beneath it but not create,
  // write, truncate, rename, link or remove anything.
  bool read_only = false;
};

// How to set up one activation's WASI state. Every field states its default.
struct WasiOptions {
  // argv, argv[0] included. Default: none.
  std::vector<std::string> args;
  // Environment entries, each "KEY=VALUE". Default: none (nothing leaks from
  // the host's environment).
  std::vector<std::string> env;
  // The bytes fd 0 yields, followed by end of file. Default: empty.
  std::string stdin_data;
  // Directories the guest may reach, as fds 3, 4, ... in this order.
  std::vector<Preopen> preopens;
  // Bytes of stdout and stderr kept in total. Output past the limit is
  // dropped (the guest still sees its writes succeed, so it cannot spin on
  // them) and output_truncated() turns true. Default 10 MiB.
  uint64_t output_limit_bytes = 10ull << 20;
  // Write marks (one per line or stream switch, 16 bytes each) are capped at
  // output_limit_bytes / 16 + 2; output needing more is dropped likewise.
  // The last bytes of stdout kept apart from the limit, so the result line
  // of a WASI command survives however much the guest logged. Default 0.
  uint64_t stdout_tail_bytes = 0;
  // Guest descriptors open at once, stdio and preopens included; beyond it
  // path_open fails with EMFILE. Bounds the host descriptors one guest can
  // hold. Default 1024.
  uint32_t max_open_fds = 1024;
  // Whether the action has the network capability (http.get). Default false.
  bool net_access = false;
  // When set, host calls that sleep (poll_oneoff, http.get) never sleep past
  // it; one that would is cut short and traps, so a guest cannot park a
  // worker thread beyond its time limit. Default: no deadline.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

enum class OutputStream : uint8_t { kStdout, kStderr };

// The wall clock output is stamped with (CLOCK_REALTIME).
using WallClock = std::chrono::system_clock;

// A run of captured (kept) output bytes of one stream and when it was
// written. Marks come in write order across both streams and cover every kept
// byte: a stream's marks, in order, partition its captured text (mark i of
// stdout covers the `bytes` after those of the earlier stdout marks). A mark
// holds consecutive writes to one stream and carries the time of the last of
// them; a new mark starts when the other stream is written, or when the last
// mark already ends a line (holds a newline) and the clock has moved since,
// so every line's newline lies in a mark stamped with the time of the write
// that carried it, and a trailing partial line ends in a mark stamped with
// its last write. Times never decrease from one mark to the next (a clock
// stepped back is clamped to the previous mark's time).
struct OutputMark {
  WallClock::time_point time;
  uint32_t bytes = 0;  // kept bytes covered; a longer run takes several marks
  OutputStream stream = OutputStream::kStdout;
  bool has_newline = false;  // whether those bytes hold a '\n'
};
static_assert(sizeof(OutputMark) == 16);

// The per-activation state of the WASI preview1 host: arguments, environment,
// stdin, captured stdout/stderr, descriptors and the exit code. The embedder
// creates one per instance and passes it as InstanceOptions::host_data; the
// functions registered by AddWasiFunctions and AddNetFunctions cast
// HostCall::data back to a WasiContext. The context owns its host descriptors
// and closes them when destroyed; it must outlive the instance's calls.
// Not thread-safe: one thread at a time, like the instance it serves.
class WasiContext {
 public:
  // Validates the options, sets up fds 0-2 and opens the preopened
  // directories. Fails with kInvalidArgument for malformed options (NUL bytes,
  // an environment entry without "="), kNotFound / kInvalidArgument /
  // kIoError when a preopen cannot be opened as a directory.
  static Result<std::unique_ptr<WasiContext>> Create(WasiOptions options);

  WasiContext(const WasiContext&) = delete;
  WasiContext& operator=(const WasiContext&) = delete;
  ~WasiContext();

  // --- For the embedder, after (or between) calls into the guest.

  // Everything the guest wrote to stdout / stderr, up to the output limit.
  const std::string& stdout_text() const { return stdout_; }
  const std::string& stderr_text() const { return stderr_; }
  // Moves the captured output out, leaving it empty (the limit still counts
  // what was written).
  std::string TakeStdout() { return std::exchange(stdout_, {}); }
  std::string TakeStderr() { return std::exchange(stderr_, {}); }
  // True when output was dropped because of output_limit_bytes.
  bool output_truncated() const { return output_truncated_; }
  // The last min(stdout_tail_bytes, written) bytes the guest wrote to stdout.
  std::string_view stdout_tail() const;
  // Where and when the kept output was written, in write order across both
  // streams (see OutputMark). Only kept bytes get marks, so at most one per
  // kept byte; writes to one stream share a mark until a later write follows
  // a newline, so there are at most (write calls keeping a newline) +
  // (switches between the streams) + 1 marks, 16 bytes each. Worst case, a
  // guest writing one byte per call alternately to stdout and stderr (or "\n"
  // per call), 16 bytes per kept byte; a guest whose libc buffers its output
  // (the default, the streams being no terminals) about 16 bytes per buffer
  // flushed. Take* leave the marks alone: they keep describing every byte
  // kept since the context was created.
  const std::vector<OutputMark>& output_marks() const { return marks_; }
  // Bytes the guest wrote to each stream, kept or not.
  uint64_t stdout_written() const { return stdout_written_; }
  uint64_t stderr_written() const { return stderr_written_; }
  // The code passed to proc_exit, once the guest called it.
  std::optional<int> exit_code() const { return exit_code_; }
  bool net_access() const { return options_.net_access; }

  // --- For the host functions.

  const std::vector<std::string>& args() const { return options_.args; }
  const std::vector<std::string>& env() const { return options_.env; }
  FdTable& fds() { return fds_; }

  // Copies up to dst.size() unread stdin bytes into `dst`; returns how many
  // (0 at end of file).
  size_t ReadStdin(std::span<uint8_t> dst);
  uint64_t stdin_remaining() const { return options_.stdin_data.size() - stdin_pos_; }

  // Appends `bytes` to a captured stream, up to the output limit, as written
  // at `time`. Host functions read the clock once per guest call (WallNow)
  // and pass the same time for each of its buffers.
  void WriteOutput(OutputStream stream, std::span<const uint8_t> bytes, WallClock::time_point time);
  void WriteOutput(OutputStream stream, std::span<const uint8_t> bytes) { WriteOutput(stream, bytes, WallNow()); }
  // CLOCK_REALTIME now (clock_gettime, served by the vDSO: no system call).
  static WallClock::time_point WallNow();
  uint64_t output_remaining() const { return options_.output_limit_bytes - output_used_; }

  void SetExitCode(int code) { exit_code_ = code; }

  // Sleeps until CLOCK_MONOTONIC reads `monotonic_ns`, but not past the
  // deadline. Returns false when the deadline cut the sleep short.
  bool SleepUntil(uint64_t monotonic_ns) const;

  // CPU time for the CPU-time clocks: the calling thread's CPU time since
  // this context first asked, never decreasing. Activations share worker
  // threads, so neither the process's nor the raw thread's CPU clock would
  // be the guest's own.
  uint64_t CpuTimeNs();

 private:
  explicit WasiContext(WasiOptions options);
  // Returns how many of `kept` bytes it could mark (fewer at the mark cap).
  size_t AddMark(OutputStream stream, std::span<const uint8_t> kept, WallClock::time_point time);
  size_t MaxMarks() const { return options_.output_limit_bytes / sizeof(OutputMark) + 2; }

  WasiOptions options_;
  FdTable fds_;
  size_t stdin_pos_ = 0;
  std::string stdout_;
  std::string stderr_;
  uint64_t output_used_ = 0;
  uint64_t stdout_written_ = 0;
  uint64_t stderr_written_ = 0;
  std::string stdout_tail_;  // grows to 2x stdout_tail_bytes, then is cut back
  std::vector<OutputMark> marks_;
  bool output_truncated_ = false;
  std::optional<int> exit_code_;
  std::optional<uint64_t> cpu_base_ns_;
  uint64_t cpu_last_ns_ = 0;
};

}  // namespace wow::wasi
