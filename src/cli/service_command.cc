// `wow executor` and `wow proxy`: one executor behind an HTTP server until
// SIGINT or SIGTERM, then a drain bounded by --shutdown-grace-ms.

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/stop_signals.h"
#include "executor/executor.h"
#include "http/server.h"
#include "protocol/action_logs.h"
#include "protocol/executor_protocol.h"
#include "protocol/runtime_protocol.h"
#include "wasm/engine.h"

namespace wow::cli {
namespace {

// The longest shared secret read from --secret-file.
constexpr size_t kMaxSecretBytes = 4096;

// The shared secret: --secret-file's contents without trailing whitespace
// (a newline an editor added), else $WOW_EXECUTOR_SECRET, else none (empty).
Result<std::string> LoadSecret(const std::string& file) {
  if (file.empty()) {
    const char* env = std::getenv("WOW_EXECUTOR_SECRET");
    return std::string(env != nullptr ? env : "");
  }
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(fmt::format("--secret-file {}: {}", file, std::strerror(errno)));
  std::string secret(kMaxSecretBytes + 1, '\0');
  size_t got = 0;
  while (got < secret.size()) {
    ssize_t n = ::read(fd, secret.data() + got, secret.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      ::close(fd);
      return Status::IoError(fmt::format("--secret-file {}: {}", file, std::strerror(error)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  secret.resize(got);
  if (secret.size() > kMaxSecretBytes) {
    return Status::InvalidArgument(fmt::format("--secret-file {}: longer than {} bytes", file, kMaxSecretBytes));
  }
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  if (secret.empty()) return Status::InvalidArgument(fmt::format("--secret-file {}: empty", file));
  return secret;
}

}  // namespace

bool ApplyHttpFlags(const HttpFlags& flags, http::ServerOptions& options, const char* command) {
  options.max_buffered_body_bytes = flags.max_buffered_mb << 20;
  options.header_timeout = std::chrono::seconds(flags.header_timeout_s);
  options.body_timeout = std::chrono::seconds(flags.body_timeout_s);
  if (flags.max_connections_per_address) options.max_connections_per_address = *flags.max_connections_per_address;
  if (options.max_buffered_body_bytes != 0 && options.max_buffered_body_bytes < options.body_limit) {
    fmt::print(stderr, "wow {}: --max-buffered-mb {} is below the largest request body ({} MiB)\n", command,
               flags.max_buffered_mb, (options.body_limit + (1 << 20) - 1) >> 20);
    return false;
  }
  return true;
}

int RunService(const ServiceFlags& flags) {
  bool proxy = flags.face == ServiceFlags::Face::kProxy;
  const char* command = proxy ? "proxy" : "executor";
  auto listen = http::ParseHostPort(flags.listen);
  if (!listen.ok()) {
    fmt::print(stderr, "wow {}: --listen {}: {}\n", command, flags.listen, listen.status().message());
    return kExitUsage;
  }

  auto secret = LoadSecret(flags.secret_file);
  if (!secret.ok()) {
    fmt::print(stderr, "wow {}: {}\n", command, secret.status().message());
    return kExitUsage;
  }

  StopSignals stop;  // before any thread starts

  executor::ExecutorOptions options;
  options.engine = flags.engine.engine;
  options.engine_options = ToEngineOptions(flags.engine);
  options.workers = flags.workers;
  options.max_activations = flags.max_activations;
  options.default_memory_mb = flags.memory_mb;
  options.default_timeout = std::chrono::milliseconds(flags.timeout_ms);
  options.log_bytes = flags.log_limit_mb << 20;
  auto allowed = executor::ResolveAllowedRoots(flags.allow_dirs, options.engine_options.data_dir);
  if (!allowed.ok()) {
    fmt::print(stderr, "wow {}: {}\n", command, allowed.status().message());
    return kExitUsage;
  }
  options.allowed_dirs = std::move(*allowed);
  options.max_containers = flags.max_containers;
  options.max_code_bytes = flags.max_code_mb << 20;
  options.max_time_limit = std::chrono::milliseconds(flags.max_timeout_ms);
  auto executor = executor::Executor::Create(options);
  if (!executor.ok()) {
    fmt::print(stderr, "wow {}: {}\n", command, executor.status().ToString());
    return kExitUsage;
  }
  protocol::ActionLogWriter logs(flags.action_logs != "none");
  protocol::BodyLimits body_limits;
  body_limits.init_bytes = flags.body_limit_mb << 20;
  body_limits.run_bytes = std::min(flags.run_body_limit_mb, flags.body_limit_mb) << 20;
  protocol::RuntimeProtocol runtime(**executor, logs, body_limits, *secret);
  protocol::ExecutorProtocol wow_executor(**executor, logs, body_limits, *secret);

  http::ServerOptions server_options;
  server_options.host = listen->first;
  server_options.port = listen->second;
  server_options.threads = flags.io_threads;
  server_options.body_limit = flags.body_limit_mb << 20;
  const std::chrono::milliseconds grace(flags.shutdown_grace_ms);
  server_options.stop_grace = grace;  // running activations may still answer
  server_options.max_connections_per_address = 0;  // one caller, the invoker: see HttpFlags
  if (!ApplyHttpFlags(flags.http, server_options, command)) return kExitUsage;
  http::Handler handler;
  if (proxy) {
    handler = [&runtime](http::Request&& r, http::Responder respond) { runtime.Handle(std::move(r), respond); };
    server_options.header_check = [&runtime](const http::Request& header) { return runtime.CheckHeader(header); };
  } else {
    handler = [&wow_executor](http::Request&& r, http::Responder respond) {
      wow_executor.Handle(std::move(r), respond);
    };
    server_options.header_check = [&wow_executor](const http::Request& header) {
      return wow_executor.CheckHeader(header);
    };
  }
  auto server = http::Server::Start(server_options, std::move(handler));
  if (!server.ok()) {
    fmt::print(stderr, "wow {}: {}\n", command, server.status().ToString());
    return kExitFailed;
  }
  // The first line of stdout is the bound address, for scripts and tests.
  fmt::print("{}\n", (*server)->bound_address());
  std::fflush(stdout);
  fmt::print(stderr, "wow {}: listening on {} (engine {}, {} workers, data dir {}{})\n", command,
             (*server)->bound_address(), options.engine,
             flags.workers > 0 ? flags.workers : static_cast<int>(std::thread::hardware_concurrency()),
             flags.engine.data_dir, secret->empty() ? "" : ", shared secret required");

  const char* signal_name = stop.Wait();
  fmt::print(stderr, "wow {}: {} received, finishing running activations (for up to {} ms)\n", command, signal_name,
             grace.count());
  // The drain runs on its own thread so that the grace period bounds it. An
  // engine's deadline is fixed when its instance starts and cannot be moved
  // earlier from outside, so activations still running after the grace are
  // abandoned with the process rather than interrupted.
  std::mutex mu;
  std::condition_variable drained_cv;
  bool drained = false;
  std::thread drain([&] {
    (*server)->Stop();
    (*executor)->Shutdown();
    std::lock_guard<std::mutex> lock(mu);
    drained = true;
    drained_cv.notify_all();
  });
  bool finished = false;
  {
    std::unique_lock<std::mutex> lock(mu);
    finished = drained_cv.wait_for(lock, grace, [&] { return drained; });
  }
  size_t running = finished ? 0 : (*executor)->activations();
  size_t initialising = finished ? 0 : (*executor)->initialising();
  if (running > 0 || initialising > 0) {
    fmt::print(stderr,
               "wow {}: exiting after the {} ms shutdown grace period; abandoned {} running activation(s) and {} "
               "initialising container(s)\n",
               command, grace.count(), running, initialising);
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(kExitFailed);  // the drain thread and the workers are still busy: no destructors
  }
  drain.join();
  executor->reset();
  return kExitOk;
}

}  // namespace wow::cli
