#include "wasi/wasi_context.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "common/worker_context.h"
#include "wasi/preview1.h"

namespace wow::wasi {
namespace {

FdEntry StdioEntry(FdKind kind) {
  FdEntry entry;
  entry.kind = kind;
  // Captured streams are pipes, not terminals: libc then buffers stdout
  // fully instead of per line, and guests do not emit terminal escapes.
  entry.filetype = kFiletypeUnknown;
  entry.rights_base = kind == FdKind::kStdin ? rights::kStdin : rights::kStdout;
  return entry;
}

}  // namespace

WasiContext::WasiContext(WasiOptions options) : options_(std::move(options)), fds_(options_.max_open_fds) {}

WasiContext::~WasiContext() = default;

Result<std::unique_ptr<WasiContext>> WasiContext::Create(WasiOptions options) {
  if (options.max_open_fds < 3 + options.preopens.size()) {
    return Status::InvalidArgument("max_open_fds leaves no room for stdio and the preopens");
  }
  for (const std::string& arg : options.args) {
    if (arg.find('\0') != std::string::npos) {
      return Status::InvalidArgument("WASI argument contains a NUL byte");
    }
  }
  for (const std::string& var : options.env) {
    if (var.find('\0') != std::string::npos || var.find('=') == std::string::npos) {
      return Status::InvalidArgument("WASI environment entry is not KEY=VALUE: " + var);
    }
  }

  std::unique_ptr<WasiContext> ctx(new WasiContext(std::move(options)));
  FdTable& fds = ctx->fds_;
  fds.InsertAt(0, StdioEntry(FdKind::kStdin));
  fds.InsertAt(1, StdioEntry(FdKind::kStdout));
  fds.InsertAt(2, StdioEntry(FdKind::kStderr));

  uint32_t next_fd = 3;
  for (const Preopen& preopen : ctx->options_.preopens) {
    if (preopen.guest_path.empty() || preopen.guest_path.find('\0') != std::string::npos) {
      return Status::InvalidArgument("invalid guest path for preopen " + preopen.host_path);
    }
    int fd = ::open(preopen.host_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      std::string message = "cannot open preopened directory " + preopen.host_path + ": " + std::strerror(err);
      if (err == ENOENT) return Status::NotFound(std::move(message));
      if (err == ENOTDIR) return Status::InvalidArgument(std::move(message));
      return Status::IoError(std::move(message));
    }
    FdEntry entry;
    entry.kind = FdKind::kDirectory;
    entry.host = UniqueFd(fd);
    entry.filetype = kFiletypeDirectory;
    entry.preopen = true;
    entry.preopen_name = preopen.guest_path;
    uint64_t allowed = preopen.read_only ? rights::kAll & ~rights::kMutating : rights::kAll;
    entry.rights_base = rights::kDirectory & allowed;
    entry.rights_inheriting = allowed;
    if (!fds.InsertAt(next_fd++, std::move(entry))) {
      return Status::Internal("descriptor table refused a preopen");
    }
  }
  return ctx;
}

size_t WasiContext::ReadStdin(std::span<uint8_t> dst) {
  const std::string& data = options_.stdin_data;
  size_t n = std::min(dst.size(), data.size() - stdin_pos_);
  if (n > 0) std::memcpy(dst.data(), data.data() + stdin_pos_, n);
  stdin_pos_ += n;
  return n;
}

WallClock::time_point WasiContext::WallNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  auto since_epoch = std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  return WallClock::time_point(std::chrono::duration_cast<WallClock::duration>(since_epoch));
}

size_t WasiContext::AddMark(OutputStream stream, std::span<const uint8_t> kept, WallClock::time_point time) {
  constexpr size_t kMaxMarkBytes = std::numeric_limits<uint32_t>::max();
  size_t marked = 0;
  while (!kept.empty()) {
    std::span<const uint8_t> piece = kept.first(std::min(kept.size(), kMaxMarkBytes));
    kept = kept.subspan(piece.size());
    bool newline = std::memchr(piece.data(), '\n', piece.size()) != nullptr;
    if (!marks_.empty()) {
      OutputMark& last = marks_.back();
      time = std::max(time, last.time);
      // Joining keeps every line's time: `last` ends no line, or ends lines
      // written at this very time.
      if (last.stream == stream && (!last.has_newline || last.time == time) &&
          piece.size() <= kMaxMarkBytes - last.bytes) {
        last.bytes += uint32_t(piece.size());
        last.time = time;
        last.has_newline |= newline;
        marked += piece.size();
        continue;
      }
    }
    // Marks are memory too: a guest alternating one-byte writes between the
    // streams must not make them outgrow the text. Past the cap, output is
    // dropped as if the limit were reached.
    if (marks_.size() >= MaxMarks()) return marked;
    marks_.push_back(OutputMark{time, uint32_t(piece.size()), stream, newline});
    marked += piece.size();
  }
  return marked;
}

void WasiContext::WriteOutput(OutputStream stream, std::span<const uint8_t> bytes, WallClock::time_point time) {
  (stream == OutputStream::kStdout ? stdout_written_ : stderr_written_) += bytes.size();
  if (stream == OutputStream::kStdout && options_.stdout_tail_bytes > 0) {
    uint64_t cap = options_.stdout_tail_bytes;
    std::span<const uint8_t> recent = bytes.size() > cap ? bytes.last(cap) : bytes;
    stdout_tail_.append(reinterpret_cast<const char*>(recent.data()), recent.size());
    if (stdout_tail_.size() > 2 * cap) stdout_tail_.erase(0, stdout_tail_.size() - cap);
  }
  uint64_t keep = std::min<uint64_t>(bytes.size(), output_remaining());
  if (keep < bytes.size()) output_truncated_ = true;
  if (keep == 0) return;
  std::string& out = stream == OutputStream::kStdout ? stdout_ : stderr_;
  out.append(reinterpret_cast<const char*>(bytes.data()), keep);
  output_used_ += keep;
  size_t marked = AddMark(stream, bytes.first(keep), time);
  if (marked < keep) {  // the mark cap was reached
    out.resize(out.size() - (keep - marked));
    output_used_ -= keep - marked;
    output_truncated_ = true;
  }
}

std::string_view WasiContext::stdout_tail() const {
  std::string_view tail = stdout_tail_;
  if (tail.size() > options_.stdout_tail_bytes) tail.remove_prefix(tail.size() - options_.stdout_tail_bytes);
  return tail;
}

bool WasiContext::SleepUntil(uint64_t monotonic_ns) const {
  bool cut_short = false;
  if (options_.deadline) {
    // libstdc++'s steady_clock is CLOCK_MONOTONIC, so the epochs agree.
    auto since_epoch = options_.deadline->time_since_epoch();
    int64_t deadline_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count();
    uint64_t limit = deadline_ns > 0 ? uint64_t(deadline_ns) : 0;
    if (limit < monotonic_ns) {
      monotonic_ns = limit;
      cut_short = true;
    }
  }
  // Through the worker's waiter: on a scheduler fiber this suspends the
  // activation instead of holding the thread.
  constexpr uint64_t kMaxNs = uint64_t(std::numeric_limits<int64_t>::max());
  WaitUntil(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(std::min(monotonic_ns, kMaxNs))));
  return !cut_short;
}

uint64_t WasiContext::CpuTimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  uint64_t now = uint64_t(ts.tv_sec) * 1'000'000'000u + uint64_t(ts.tv_nsec);
  if (!cpu_base_ns_) cpu_base_ns_ = now;
  // A call on another worker thread can read a smaller thread clock.
  if (now >= *cpu_base_ns_) cpu_last_ns_ = std::max(cpu_last_ns_, now - *cpu_base_ns_);
  return cpu_last_ns_;
}

}  // namespace wow::wasi
