#include "wasi/wasi_context.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

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

void WasiContext::WriteOutput(OutputStream stream, std::span<const uint8_t> bytes) {
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
  timespec ts{};
  constexpr uint64_t kMaxSec = uint64_t(std::numeric_limits<time_t>::max());
  ts.tv_sec = time_t(std::min(monotonic_ns / 1'000'000'000u, kMaxSec));
  ts.tv_nsec = long(monotonic_ns % 1'000'000'000u);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
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
