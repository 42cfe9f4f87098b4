#pragma once

// End-to-end tests of `wow proxy` and `wow executor`: starts the real binary
// (WOW_BINARY_DIR/wow) as a child process listening on 127.0.0.1 port 0, with
// stdout and stderr captured in files, reads the bound address from the first
// line of its stdout, talks HTTP to it with wow::http::Client, and stops it
// with SIGTERM (it must exit 0). Helpers build /init and /run bodies, read the
// captured streams and wait for OpenWhisk's end-of-activation sentinels.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/base64.h"
#include "common/files.h"
#include "common/json.h"
#include "http/client.h"
#include "http/server.h"
#include "whisk_process.h"

extern char** environ;

namespace wow::test {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline const fs::path kWow = fs::path(WOW_BINARY_DIR) / "wow";
inline const fs::path kExamples = fs::path(WOW_BINARY_DIR) / "examples";
inline const fs::path kGuests = fs::path(WOW_TEST_GUEST_DIR);
inline const fs::path kGuestSources = fs::path(WOW_SOURCE_DIR) / "tests" / "guests";

inline fs::path Example(std::string_view name) { return kExamples / (std::string(name) + ".wasm"); }
inline fs::path Guest(std::string_view name) { return kGuests / (std::string(name) + ".wasm"); }

// Skips the test when a module it needs was not built (no clang-16 / wasi-libc).
#define REQUIRE_MODULES(...)                                                \
  for (const ::std::filesystem::path& wow_required_module_ : {__VA_ARGS__}) \
    if (!::std::filesystem::exists(wow_required_module_))                   \
  GTEST_SKIP() << wow_required_module_ << " was not built (needs clang-16 + wasi-libc)"

inline json::value Json(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString() << ": " << text.substr(0, 2000);
  return v.ok() ? std::move(v).value() : json::value();
}

inline std::string Base64File(const fs::path& path) {
  auto bytes = ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << path << ": " << bytes.status().ToString();
  return bytes.ok() ? Base64Encode(*bytes) : std::string();
}

// {"value":{"name":"test","main":"main","binary":<binary>,"code":<code>, ...extra}}
inline std::string InitBody(std::string code, bool binary = true, json::object extra = {}) {
  json::object value{{"name", "test"}, {"main", "main"}, {"binary", binary}, {"code", std::move(code)}};
  for (auto& [key, v] : extra) value[key] = v;
  return ToJson(json::object{{"value", std::move(value)}});
}
inline std::string InitModule(const fs::path& module, json::object extra = {}) {
  return InitBody(Base64File(module), true, std::move(extra));
}

inline double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// One HTTP answer: status 0 means the request itself failed (see `error`).
struct Reply {
  unsigned status = 0;
  std::string body;
  std::string error;
  json::value json;  // the body parsed, null when it is not JSON

  // The "error" member of a JSON object body, or "".
  std::string Error() const {
    if (const auto* o = json.if_object()) {
      if (const auto* e = o->if_contains("error"); e != nullptr && e->is_string()) return std::string(e->as_string());
    }
    return {};
  }
};

inline std::ostream& operator<<(std::ostream& os, const Reply& r) {
  os << "HTTP " << r.status;
  if (!r.error.empty()) os << " (request failed: " << r.error << ")";
  return os << " body: " << std::string_view(r.body).substr(0, 2000) << (r.body.size() > 2000 ? "..." : "");
}

inline Reply ToReply(Result<http::Response> response) {
  Reply r;
  if (!response.ok()) {
    r.error = response.status().ToString();
    return r;
  }
  r.status = response->result_int();
  r.body = std::move(response->body());
  auto parsed = ParseJson(r.body);
  if (parsed.ok()) r.json = std::move(parsed).value();
  return r;
}

enum class Stream { kStdout, kStderr };

// A `wow proxy` or `wow executor` child process.
class Service {
 public:
  struct Options {
    std::string face = "proxy";     // or "executor"
    fs::path data_dir;              // shared per suite so modules compile once
    std::vector<std::string> args;  // extra flags
    std::vector<std::string> env;   // extra "KEY=VALUE" for the child's environment
  };

  // Starts the service and waits for its address. On failure, adds a test
  // failure and returns null.
  static std::unique_ptr<Service> Start(Options options) {
    std::unique_ptr<Service> s(new Service());
    if (!s->Spawn(std::move(options))) return nullptr;
    return s;
  }

  ~Service() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }

  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // A new keep-alive client of the service.
  http::Client Connect(milliseconds timeout = milliseconds(60'000)) const {
    auto c = http::Client::Connect(host_, port_, timeout);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }

  // One request on the fixture's own connection (not thread-safe: threads use
  // their own Client or Fetch).
  Reply Send(http::Verb verb, std::string_view target, std::string body = {}) {
    if (!client_) {
      auto c = http::Client::Connect(host_, port_, milliseconds(60'000));
      if (!c.ok()) {
        Reply r;
        r.error = c.status().ToString();
        return r;
      }
      client_.emplace(std::move(c).value());
    }
    return ToReply(client_->Send(verb, target, std::move(body)));
  }
  Reply Post(std::string_view target, std::string body) { return Send(http::Verb::post, target, std::move(body)); }

  // One request on a fresh connection (thread-safe).
  Reply Fetch(http::Verb verb, std::string_view target, std::string body = {},
              milliseconds timeout = milliseconds(60'000)) const {
    return ToReply(http::Fetch(host_, port_, verb, target, std::move(body), "application/json", {}, timeout));
  }

  std::string Output(Stream stream) const {
    auto text = ReadFile(stream == Stream::kStdout ? out_file_ : err_file_);
    return text.ok() ? std::move(text).value() : std::string();
  }
  std::string Stdout() const { return Output(Stream::kStdout); }
  std::string Stderr() const { return Output(Stream::kStderr); }
  std::vector<std::string> Lines(Stream stream) const { return SplitLines(Output(stream)); }

  size_t CountSentinels(Stream stream) const {
    size_t n = 0;
    for (const auto& line : Lines(stream)) n += line == kSentinel;
    return n;
  }

  // Polls until `stream` holds at least `n` sentinel lines; false on timeout.
  bool WaitForSentinels(Stream stream, size_t n, milliseconds timeout = milliseconds(10'000)) const {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      if (CountSentinels(stream) >= n) return true;
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  // True while the process has not exited (reaps it when it has).
  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) return true;
    if (r == pid_) {
      pid_ = -1;
      exit_status_ = status;
    }
    return false;
  }

  // SIGTERM, then waits up to `timeout` for the exit. Returns the exit code,
  // -1 after a signal death, -2 on timeout (then the process is killed).
  int Stop(milliseconds timeout = milliseconds(20'000)) {
    client_.reset();
    if (pid_ > 0) ::kill(pid_, SIGTERM);
    auto deadline = Clock::now() + timeout;
    while (Running()) {
      if (Clock::now() > deadline) {
        DumpStacks();
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        return -2;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    if (WIFEXITED(exit_status_)) return WEXITSTATUS(exit_status_);
    return -1;
  }

  // For failure messages; with every thread's stack when a Stop timed out.
  std::string Describe() const {
    return "--- service stdout\n" + Stdout().substr(0, 4000) + "--- service stderr\n" + Stderr().substr(0, 4000) +
           hang_stacks_;
  }

  // Every thread's stack of the running service (gdb, when installed), kept
  // for Describe: a shutdown that hangs says where.
  void DumpStacks() {
    if (pid_ <= 0 || !fs::exists("/usr/bin/gdb")) return;
    fs::path out = files_.path() / "stacks";
    std::string command = "timeout 120 /usr/bin/gdb -p " + std::to_string(pid_) +
                          " -batch -nx -ex 'thread apply all bt' >" + out.string() + " 2>&1";
    if (std::system(command.c_str()) == -1) return;
    std::ifstream in(out);
    std::stringstream text;
    text << in.rdbuf();
    hang_stacks_ = "--- stacks at the stop timeout\n" + text.str().substr(0, 60000);
  }

 private:
  Service() = default;
  std::string hang_stacks_;

  bool Spawn(Options options) {
    if (!fs::exists(kWow)) {
      ADD_FAILURE() << kWow << " was not built";
      return false;
    }
    out_file_ = files_.path() / "stdout";
    err_file_ = files_.path() / "stderr";
    std::vector<std::string> args = {kWow.string(), options.face, "--listen", "127.0.0.1:0"};
    if (!options.data_dir.empty()) {
      args.push_back("--data-dir");
      args.push_back(options.data_dir.string());
    }
    for (auto& a : options.args) args.push_back(std::move(a));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // The test's environment (PATH for the C compiler) with the extras on top.
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry(*e);
      std::string_view key = entry.substr(0, entry.find('='));
      bool overridden = false;
      for (const auto& x : options.env) overridden |= std::string_view(x).substr(0, x.find('=')) == key;
      if (!overridden) env.emplace_back(entry);
    }
    for (auto& x : options.env) env.push_back(x);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_ = SpawnCaptured(argv.data(), envp.data(), out_file_, err_file_);
    if (pid_ < 0) {
      int spawn_errno = errno;
      ADD_FAILURE() << "cannot start " << kWow << ": " << strerror(spawn_errno);
      return false;
    }

    // The first line of stdout is the bound address.
    auto deadline = Clock::now() + milliseconds(30'000);
    std::string first_line;
    for (;;) {
      std::string out = Stdout();
      if (size_t nl = out.find('\n'); nl != std::string::npos) {
        first_line = out.substr(0, nl);
        break;
      }
      if (!Running()) {
        ADD_FAILURE() << "wow " << options.face << " exited before printing its address\n" << Describe();
        return false;
      }
      if (Clock::now() > deadline) {
        ADD_FAILURE() << "wow " << options.face << " printed no address within 30 s\n" << Describe();
        return false;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    auto address = http::ParseHostPort(first_line);
    if (!address.ok() || address->second == 0) {
      ADD_FAILURE() << "the first stdout line is not HOST:PORT: '" << first_line << "'\n" << Describe();
      return false;
    }
    host_ = address->first;
    port_ = address->second;
    return true;
  }

  TempDir files_{"wow-service"};
  fs::path out_file_, err_file_;
  pid_t pid_ = -1;
  int exit_status_ = 0;
  std::string host_;
  uint16_t port_ = 0;
  std::optional<http::Client> client_;
};

// Connects a raw TCP socket to 127.0.0.1:port, writes `bytes`, then (with
// `read_answer`) half-closes and reads until EOF or `timeout`. Returns what
// came back. For garbage and truncated requests.
inline std::string RawExchange(uint16_t port, std::string_view bytes, bool read_answer,
                               milliseconds timeout = milliseconds(5'000)) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ADD_FAILURE() << "socket: " << strerror(errno);
    return {};
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "connect: " << strerror(errno);
    ::close(fd);
    return {};
  }
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server may close early: that is its right
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  std::string answer;
  if (read_answer) {
    ::shutdown(fd, SHUT_WR);
    auto deadline = Clock::now() + timeout;
    char buffer[4096];
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      answer.append(buffer, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return answer;
}

}  // namespace wow::test
