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

bool IsControl(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

}  // namespace

void AppendGuestLogText(std::string& out, std::string_view text, bool escape_controls) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t start = out.size();
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out.append("\\n");
    } else if (escape_controls && IsControl(c)) {
      out.append("\\x").push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
  // Lower-casing a letter removes an occurrence and creates none, so one
  // left-to-right pass leaves no sentinel (also where occurrences overlap:
  // the sentinel begins and ends with "XXX").
  std::string_view sentinel(kEndOfActivation);
  for (size_t pos = out.find(sentinel, start); pos != std::string::npos; pos = out.find(sentinel, pos + 1)) {
    out[pos] = 'x';
  }
}

void ActionLogWriter::Write(const std::vector<abi::LogLine>& lines, std::string_view prefix, bool sentinel) {
  if (!enabled_) return;
  std::string out;
  std::string err;
  for (const abi::LogLine& line : lines) {
    std::string& dst = line.stream == abi::LogLine::Stream::kStdout ? out : err;
    dst.append(prefix);
    AppendGuestLogText(dst, line.text, !prefix.empty());
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
