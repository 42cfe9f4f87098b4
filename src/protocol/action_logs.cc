#include "protocol/action_logs.h"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "protocol/messages.h"

namespace wow::protocol {
namespace {

void WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed stdout must not stop the executor
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

void ActionLogWriter::Write(const std::vector<abi::LogLine>& lines, std::string_view prefix, bool sentinel) {
  if (!enabled_) return;
  std::string out;
  std::string err;
  for (const abi::LogLine& line : lines) {
    std::string& dst = line.stream == abi::LogLine::Stream::kStdout ? out : err;
    dst.append(prefix);
    dst.append(line.text);
    dst.push_back('\n');
  }
  if (sentinel) {
    out.append(kEndOfActivation).push_back('\n');
    err.append(kEndOfActivation).push_back('\n');
  }
  std::lock_guard<std::mutex> lock(mu_);
  WriteAll(STDOUT_FILENO, out);
  WriteAll(STDERR_FILENO, err);
}

}  // namespace wow::protocol
