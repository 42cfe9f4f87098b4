#include "bench_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "wasm/module_reader.h"

extern char** environ;

namespace wow::bench {
namespace {

void AppendLeb(std::vector<uint8_t>& out, uint64_t v) {
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    if (v != 0) byte |= 0x80;
    out.push_back(byte);
  } while (v != 0);
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "bench: %s\n", message.c_str());
  std::exit(2);
}

}  // namespace

std::filesystem::path SourceDir() { return WOW_SOURCE_DIR; }
std::filesystem::path BinaryDir() { return WOW_BINARY_DIR; }

std::filesystem::path ExampleWasm(std::string_view name) {
  return BinaryDir() / "examples" / (std::string(name) + ".wasm");
}

std::filesystem::path ExampleNative(std::string_view name) {
  return BinaryDir() / "examples" / "native" / std::string(name);
}

std::vector<uint8_t> ReadBytesOrDie(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die(fmt::format("cannot read {} (build the examples first: ninja -C <build> examples)", path.string()));
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<uint8_t> WatOrDie(std::string_view text) {
  auto wasm = wasm::WatToWasm(text);
  if (!wasm.ok()) Die("bad .wat: " + wasm.status().ToString());
  return std::move(wasm).value();
}

std::vector<uint8_t> WithCustomSection(std::vector<uint8_t> wasm, std::string_view name, std::string_view payload) {
  std::vector<uint8_t> body;
  AppendLeb(body, name.size());
  body.insert(body.end(), name.begin(), name.end());
  body.insert(body.end(), payload.begin(), payload.end());
  wasm.push_back(0);  // custom section id
  AppendLeb(wasm, body.size());
  wasm.insert(wasm.end(), body.begin(), body.end());
  return wasm;
}

std::string SmallModuleWat(uint32_t seed) {
  return fmt::format(R"((module
  (memory (export "memory") 1)
  (global $seed (mut i32) (i32.const {0}))
  (data (i32.const 64) "wow bench module {0}")
  (func $mix (param $x i32) (result i32)
    (i32.xor (i32.mul (local.get $x) (i32.const 0x9e3779b1)) (global.get $seed)))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (i32.add (local.get 0) (local.get 1)) (call $mix (i32.const {0}))))
  (func (export "sum") (param $n i32) (result i64)
    (local $i i32) (local $acc i64)
    (block $done
      (loop $top
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (call $mix (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $top)))
    (local.get $acc))
  (func (export "fill") (param $len i32)
    (memory.fill (i32.const 256) (i32.const {1}) (local.get $len)))
  (func (export "checksum") (param $len i32) (result i32)
    (local $i i32) (local $h i32)
    (local.set $h (i32.const {0}))
    (block $done
      (loop $top
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $h (i32.add (i32.mul (local.get $h) (i32.const 31))
                               (i32.load8_u offset=64 (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $top)))
    (local.get $h))
  (func (export "seed") (result i32) (global.get $seed))))",
                     seed, seed & 0xff);
}

ProcessMemory ReadProcessMemory() {
  ProcessMemory m;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return m;
  unsigned long long size = 0, resident = 0, shared = 0;
  if (std::fscanf(f, "%llu %llu %llu", &size, &resident, &shared) == 3) {
    uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    m.vsz = size * page;
    m.rss = resident * page;
    m.shared = shared * page;
  }
  std::fclose(f);
  return m;
}

Result<NativeRun> RunNative(const std::filesystem::path& program, std::string_view stdin_data) {
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return Status::IoError("pipe failed");
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return Status::IoError("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  std::string path = program.string();
  char* argv[] = {path.data(), nullptr};
  auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    return Status::IoError(fmt::format("cannot run {}: {}", path, std::strerror(rc)));
  }
  // Feed stdin and drain stdout together, so neither side blocks on a full pipe.
  std::string out;
  size_t written = 0;
  int in_fd = in_pipe[1];
  if (stdin_data.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  signal(SIGPIPE, SIG_IGN);
  while (true) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
    int n = ::poll(fds, in_fd >= 0 ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (in_fd >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = ::write(in_fd, stdin_data.data() + written, stdin_data.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 || written == stdin_data.size()) {
        ::close(in_fd);
        in_fd = -1;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t r = ::read(out_pipe[0], buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      out.append(buf, static_cast<size_t>(r));
    }
  }
  if (in_fd >= 0) ::close(in_fd);
  ::close(out_pipe[0]);
  int status = 0;
  struct rusage usage {};
  while (::wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) return Status::IoError("wait4 failed");
  }
  NativeRun run;
  run.elapsed = std::chrono::steady_clock::now() - start;
  auto tv = [](const timeval& t) { return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec); };
  run.cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  size_t nl = out.rfind('\n');
  run.last_line = nl == std::string::npos ? out : out.substr(nl + 1);
  return run;
}

}  // namespace wow::bench
