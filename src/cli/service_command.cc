// `wow executor` and `wow proxy`: one executor behind an HTTP server until
// SIGINT or SIGTERM.

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/stop_signals.h"
#include "executor/executor.h"
#include "http/server.h"
#include "protocol/action_logs.h"
#include "protocol/executor_protocol.h"
#include "protocol/runtime_protocol.h"
#include "wasm/engine.h"

namespace wow::cli {

bool ApplyHttpFlags(const HttpFlags& flags, http::ServerOptions& options, const char* command) {
  options.max_buffered_body_bytes = flags.max_buffered_mb << 20;
  options.header_timeout = std::chrono::seconds(flags.header_timeout_s);
  options.body_timeout = std::chrono::seconds(flags.body_timeout_s);
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

  StopSignals stop;  // before any thread starts

  executor::ExecutorOptions options;
  options.engine = flags.engine.engine;
  options.engine_options = ToEngineOptions(flags.engine);
  options.workers = flags.workers;
  options.max_activations = flags.max_activations;
  options.default_memory_mb = flags.memory_mb;
  options.default_timeout = std::chrono::milliseconds(flags.timeout_ms);
  options.log_bytes = flags.log_limit_mb << 20;
  auto executor = executor::Executor::Create(options);
  if (!executor.ok()) {
    fmt::print(stderr, "wow {}: {}\n", command, executor.status().ToString());
    return kExitUsage;
  }
  protocol::ActionLogWriter logs(flags.action_logs != "none");
  protocol::BodyLimits body_limits;
  body_limits.init_bytes = flags.body_limit_mb << 20;
  body_limits.run_bytes = std::min(flags.run_body_limit_mb, flags.body_limit_mb) << 20;
  protocol::RuntimeProtocol runtime(**executor, logs, body_limits);
  protocol::ExecutorProtocol wow_executor(**executor, logs, body_limits);

  http::ServerOptions server_options;
  server_options.host = listen->first;
  server_options.port = listen->second;
  server_options.threads = flags.io_threads;
  server_options.body_limit = flags.body_limit_mb << 20;
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
  fmt::print(stderr, "wow {}: listening on {} (engine {}, {} workers, data dir {})\n", command,
             (*server)->bound_address(), options.engine,
             flags.workers > 0 ? flags.workers : static_cast<int>(std::thread::hardware_concurrency()),
             flags.engine.data_dir);

  const char* signal_name = stop.Wait();
  fmt::print(stderr, "wow {}: {} received, finishing running activations\n", command, signal_name);
  (*server)->Stop();
  executor->reset();  // waits for accepted activations
  return kExitOk;
}

}  // namespace wow::cli
