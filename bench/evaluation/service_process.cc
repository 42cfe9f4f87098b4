#include "service_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>
#include <utility>

#include "common/files.h"

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) break;  // a line counts once it is complete
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string Tail(const fs::path& file, size_t bytes) {
  auto text = ReadFile(file);
  if (!text.ok()) return {};
  return text->size() > bytes ? text->substr(text->size() - bytes) : *text;
}

}  // namespace

Result<ServiceProcess> ServiceProcess::Start(ServiceOptions options) {
  if (options.argv.empty()) return Status::InvalidArgument("no program to start");
  std::error_code ec;
  fs::create_directories(options.log_dir, ec);
  ServiceProcess p;
  p.out_ = options.log_dir / (options.log_name + ".out");
  p.err_ = options.log_dir / (options.log_name + ".err");

  std::vector<char*> argv;
  for (auto& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = ::open(p.out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = ::open(p.err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (in < 0 || out < 0 || err < 0) {
    for (int fd : {in, out, err})
      if (fd >= 0) ::close(fd);
    return Status::Internal("cannot open the log files in " + options.log_dir.string());
  }
  pid_t parent = ::getpid();
  bool die_with_thread = options.die_with_thread;
  // fork + exec (not posix_spawn) for PR_SET_PDEATHSIG; only async-signal-safe
  // calls between them.
  pid_t pid = ::fork();
  if (pid == 0) {
    if (die_with_thread) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
    }
    ::setpgid(0, 0);  // a terminal's ^C reaches the harness, which stops its children itself
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in);
  ::close(out);
  ::close(err);
  if (pid < 0) return Status::Internal(std::string("fork: ") + std::strerror(errno));
  p.pid_ = pid;

  auto deadline = Clock::now() + options.start_timeout;
  for (auto pause = std::chrono::microseconds(50);; pause = std::min(pause * 2, std::chrono::microseconds(5000))) {
    auto text = ReadFile(p.out_);
    if (text.ok()) {
      auto lines = Lines(*text);
      if (!lines.empty()) {
        p.first_line_ = lines.front();
        return p;
      }
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      p.pid_ = -1;
      return Status::IoError(options.argv[0] + " exited before it was ready (status " + std::to_string(status) +
                             "): " + Tail(p.err_, 600));
    }
    if (Clock::now() > deadline) {
      p.Stop(std::chrono::milliseconds(100));
      return Status::IoError(options.argv[0] + " printed no address within " +
                             std::to_string(options.start_timeout.count()) + " ms: " + Tail(p.err_, 600));
    }
    std::this_thread::sleep_for(pause);
  }
}

ServiceProcess::ServiceProcess(ServiceProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      first_line_(std::move(other.first_line_)),
      out_(std::move(other.out_)),
      err_(std::move(other.err_)) {}

ServiceProcess& ServiceProcess::operator=(ServiceProcess&& other) noexcept {
  if (this != &other) {
    Stop();
    pid_ = std::exchange(other.pid_, -1);
    first_line_ = std::move(other.first_line_);
    out_ = std::move(other.out_);
    err_ = std::move(other.err_);
  }
  return *this;
}

ServiceProcess::~ServiceProcess() { Stop(); }

void ServiceProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = Clock::now() + grace;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) break;
    if (Clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  pid_ = -1;
}

std::string ServiceProcess::host() const {
  size_t colon = first_line_.rfind(':');
  std::string h = colon == std::string::npos ? first_line_ : first_line_.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h;
}

uint16_t ServiceProcess::port() const {
  size_t colon = first_line_.rfind(':');
  if (colon == std::string::npos) return 0;
  unsigned value = 0;
  const char* begin = first_line_.data() + colon + 1;
  const char* end = first_line_.data() + first_line_.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  return ec == std::errc() && ptr == end && value <= 65535 ? static_cast<uint16_t>(value) : 0;
}

std::string ServiceProcess::StdoutLine(size_t index) const {
  auto text = ReadFile(out_);
  if (!text.ok()) return {};
  auto lines = Lines(*text);
  return index < lines.size() ? lines[index] : std::string();
}

}  // namespace wow::bench::eval
