#include "cli/cli.h"

#include <sys/resource.h>

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/client_command.h"
#include "cli/commands.h"
#include "controller/store.h"
#include "wasm/engine_factory.h"

namespace wow::cli {
namespace {

std::string Join(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& n : names) text += (text.empty() ? "" : ", ") + n;
  return text;
}

// `--engine` takes one of `choices`; left out, it is wasm::DefaultEngine for
// `use` (ResolveEngine, after parsing, when --cc is known).
void AddEngineFlags(CLI::App* cmd, EngineFlags& flags, wasm::EngineUse use,
                    const std::vector<std::string>& choices = wasm::EngineChoices()) {
  cmd->add_option("--data-dir", flags.data_dir, "Where compiled artifacts are cached")->capture_default_str();
  cmd->add_option("--engine", flags.engine,
                  fmt::format("Wasm engine: {} (default: {})", Join(choices), wasm::DefaultEngineRule(use)))
      ->check(CLI::IsMember(choices));
  cmd->add_option("--cc", flags.cc, "C compiler for the AoT engine")->capture_default_str();
  cmd->add_option("-O", flags.opt_level, "Optimisation level for the C compiler (0, 1, 2, 3, s, z)")
      ->capture_default_str()
      ->check(CLI::IsMember({"0", "1", "2", "3", "s", "z"}));
  const wasm::EngineOptions defaults;
  cmd->add_option("--compile-timeout-s", flags.compile_timeout_s,
                  fmt::format("Time limit of the C compiler per module; on expiry it is killed and the compile "
                              "fails (default: {})",
                              std::chrono::duration_cast<std::chrono::seconds>(defaults.compile_timeout).count()))
      ->check(CLI::Range(1, 86'400));
  cmd->add_option("--compile-memory-mb", flags.compile_memory_mb,
                  fmt::format("Address-space limit of each C compiler process in MB; past it the compile fails "
                              "(default: {})",
                              defaults.compile_memory_mb))
      ->check(CLI::Range(16, 1 << 20));
  cmd->add_option("--compile-max-items", flags.compile_max_items,
                  fmt::format("Most functions, globals, types and other items of a module the AoT engine compiles "
                              "(default: {})",
                              defaults.compile_max_items))
      ->check(CLI::Range(1, 10'000'000));
}

void ResolveEngine(EngineFlags& flags, wasm::EngineUse use) {
  if (flags.engine.empty()) flags.engine = wasm::DefaultEngine(ToEngineOptions(flags), use);
}

// Long-running faces serve many connections and activations' files at
// once: take the hard limit of descriptors (distributions keep a soft 1,024).
void RaiseFileLimit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
}

void AddAllowDirFlag(CLI::App* cmd, std::vector<std::string>& dirs) {
  cmd->add_option("--allow-dir", dirs,
                  "Host directory that actions' `dir` annotation may grant, with everything beneath it "
                  "(repeatable; never the data directory). Other requested paths get a private directory per "
                  "action under <data-dir>/files");
}

void AddHttpFlags(CLI::App* cmd, HttpFlags& flags) {
  cmd->add_option("--max-buffered-mb", flags.max_buffered_mb,
                  "Request-body MiB all connections may hold at once; a request that does not fit gets 503 "
                  "(0: no budget)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--header-timeout-s", flags.header_timeout_s,
                  "Seconds from a new connection's accept (a kept-alive one's next request's first byte) to the "
                  "request's header complete; then the connection closes (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 86'400));
  cmd->add_option("--body-timeout-s", flags.body_timeout_s,
                  "Seconds from a request's header to its body complete; then 408 (0: none)")
      ->capture_default_str()
      ->check(CLI::Range(0, 86'400));
  cmd->add_option("--max-connections-per-address", flags.max_connections_per_address,
                  fmt::format("Connections one client address may hold at once; its further ones are closed at "
                              "accept (0: no cap; default: {} for serve, 0 for executor and proxy)",
                              http::ServerOptions{}.max_connections_per_address))
      ->check(CLI::Range(0, 1'000'000));
}

void AddServiceFlags(CLI::App* cmd, ServiceFlags& flags) {
  AddAllowDirFlag(cmd, flags.allow_dirs);
  cmd->add_option("--listen", flags.listen, "HOST:PORT to listen on (port 0 picks a free port)")->capture_default_str();
  cmd->add_option("--workers", flags.workers, "Worker threads running activations (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--io-threads", flags.io_threads, "HTTP threads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--max-activations", flags.max_activations,
                  "Activations in flight at once; beyond it /run answers 503")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--memory-mb", flags.memory_mb, "Default linear memory limit per action in MB")
      ->capture_default_str()
      ->check(CLI::Range(1, 4095));
  cmd->add_option("--timeout-ms", flags.timeout_ms, "Time limit of a run that carries no deadline")
      ->capture_default_str()
      ->check(CLI::Range(1, 86'400'000));
  cmd->add_option("--log-limit-mb", flags.log_limit_mb, "Log bytes kept per activation")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--body-limit-mb", flags.body_limit_mb, "Largest request body (that of /init, the action's code)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--run-body-limit-mb", flags.run_body_limit_mb, "Largest /run body (parameters)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  AddHttpFlags(cmd, flags.http);
  cmd->add_option("--action-logs", flags.action_logs, "Where activation logs go: stdio (stdout/stderr) or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"stdio", "none"}));
  cmd->add_option("--max-containers", flags.max_containers,
                  "Containers held at once (initialising included); beyond it /init fails")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--max-code-mb", flags.max_code_mb,
                  "Module + compiled artifact bytes held by all containers; beyond it /init fails")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-timeout-ms", flags.max_timeout_ms,
                  "Longest time limit: a larger limits.timeout fails /init, a later deadline is clamped")
      ->capture_default_str()
      ->check(CLI::Range(1, 86'400'000));
  cmd->add_option("--shutdown-grace-ms", flags.shutdown_grace_ms,
                  "On SIGTERM/SIGINT, how long running activations may finish before the process exits anyway")
      ->capture_default_str()
      ->check(CLI::Range(0, 3'600'000));
  cmd->add_option("--secret-file", flags.secret_file,
                  "File holding a shared secret every request must carry in the X-Wow-Secret header "
                  "(default: $WOW_EXECUTOR_SECRET; none: no secret)")
      ->check(CLI::ExistingFile);
  AddEngineFlags(cmd, flags.engine, wasm::EngineUse::kService);
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"wow: a WebAssembly serverless runtime for edge machines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "wow 0.1.0");

  CompileFlags compile;
  CLI::App* compile_cmd = app.add_subcommand("compile", "Validate and precompile a module; print the artifact path");
  compile_cmd->add_option("MODULE", compile.module_path, "Module (.wasm or .wat)")->required();
  // A concrete backend: "tiered" would have nothing to show.
  AddEngineFlags(compile_cmd, compile.engine, wasm::EngineUse::kOneShot, wasm::AvailableEngines());

  RunFlags run;
  CLI::App* run_cmd = app.add_subcommand("run", "Run an action once on a fresh instance");
  run_cmd->add_option("MODULE", run.module_path, "Module (.wasm or .wat)")->required();
  run_cmd->add_option("-p,--param", run.params, "Parameter KEY VALUE (VALUE as JSON if it parses, else a string)")
      ->allow_extra_args(false);
  run_cmd->add_option("-P,--param-file", run.param_files, "JSON object file of parameters (- for stdin)");
  run_cmd->add_option("--dir", run.dirs, "Grant a host directory (preopened under the same path)");
  run_cmd->add_option("--env", run.env, "Environment variable KEY=VALUE for the action");
  run_cmd->add_flag("--net", run.net, "Grant network access (links http.get)");
  run_cmd->add_option("--memory-mb", run.memory_mb, "Linear memory limit in MB")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  run_cmd->add_option("--timeout-ms", run.timeout_ms, "Time limit; the action stops when it is reached")
      ->capture_default_str()
      ->check(CLI::Range(1, 86'400'000));
  run_cmd->add_option("--name", run.action_name, "Action name passed to the guest (default: the file's stem)");
  run_cmd->add_flag("--timings", run.timings, "Print compile/load/instantiate/run times on stderr");
  AddEngineFlags(run_cmd, run.engine, wasm::EngineUse::kOneShot);

  ServiceFlags executor;
  executor.face = ServiceFlags::Face::kExecutor;
  executor.listen = "127.0.0.1:9000";
  CLI::App* executor_cmd =
      app.add_subcommand("executor", "Serve WOW's executor protocol (/{id}/init, /{id}/run, /{id}/destroy)");
  AddServiceFlags(executor_cmd, executor);

  ServiceFlags proxy;
  proxy.face = ServiceFlags::Face::kProxy;
  proxy.listen = "0.0.0.0:8080";
  CLI::App* proxy_cmd =
      app.add_subcommand("proxy", "Serve OpenWhisk's action-runtime protocol (/init, /run) for one action");
  AddServiceFlags(proxy_cmd, proxy);

  ClientCommands client(app);  // wow action ..., wow activation ...

  ServeFlags serve;
  CLI::App* serve_cmd =
      app.add_subcommand("serve", "Run the OpenWhisk-compatible platform: REST API, SQLite store and invoker");
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (port 0 picks a free port)")
      ->capture_default_str();
  serve_cmd->add_option("--auth", serve.auth, "UUID:KEY credential of the guest namespace (default: generated once)");
  serve_cmd->add_option("--workers", serve.workers, "Worker threads running activations (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  serve_cmd->add_option("--io-threads", serve.io_threads, "HTTP threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  serve_cmd->add_option("--max-activations", serve.max_activations, "Activations in flight at once; beyond: 503")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  serve_cmd
      ->add_option("--keep-alive-ms", serve.keep_alive_ms,
                   "Idle time after which a warm container is unloaded (0: at once)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--memory-budget-mb", serve.memory_budget_mb,
                   "Memory for running activations (their limits) and warm containers; idle ones are "
                   "unloaded least recently used first, then invocations queue (0: 3/4 of physical memory)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 24));
  serve_cmd
      ->add_option("--max-per-action", serve.max_per_action,
                   "Activations of one action in flight at once; more queue (0: the memory budget decides)")
      ->capture_default_str();
  serve_cmd->add_option("--max-queued", serve.max_queued, "Invocations waiting for memory; beyond: 503")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  AddAllowDirFlag(serve_cmd, serve.allow_dirs);
  const controller::StoreOptions store_defaults;
  serve.activation_retention_hours = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::hours>(store_defaults.activation_retention).count());
  serve.max_activations_stored = store_defaults.max_activations_stored;
  serve.superseded_versions_kept = store_defaults.superseded_versions_kept;
  serve_cmd
      ->add_option("--activation-retention-hours", serve.activation_retention_hours,
                   "Activation records older than this are deleted (0: kept forever)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, uint64_t{24} * 365 * 1000));
  serve_cmd
      ->add_option("--max-activations-stored", serve.max_activations_stored,
                   "At most this many activation records are kept, the last written (0: no limit)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--superseded-versions-kept", serve.superseded_versions_kept,
                   "Superseded versions of each action kept with their code, the latest ones, for activations "
                   "admitted before an update that start after it (0: none; they fail saying the action changed)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{0}, size_t{1000}));
  AddHttpFlags(serve_cmd, serve.http);
  AddEngineFlags(serve_cmd, serve.engine, wasm::EngineUse::kService);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (*compile_cmd) {
    ResolveEngine(compile.engine, wasm::EngineUse::kOneShot);
    return RunCompile(compile);
  }
  if (*run_cmd) {
    ResolveEngine(run.engine, wasm::EngineUse::kOneShot);
    return RunRun(run);
  }
  if (*executor_cmd || *proxy_cmd || *serve_cmd) RaiseFileLimit();
  if (*executor_cmd) {
    ResolveEngine(executor.engine, wasm::EngineUse::kService);
    return RunService(executor);
  }
  if (*proxy_cmd) {
    ResolveEngine(proxy.engine, wasm::EngineUse::kService);
    return RunService(proxy);
  }
  if (*serve_cmd) {
    ResolveEngine(serve.engine, wasm::EngineUse::kService);
    return RunServe(serve);
  }
  if (auto exit_code = client.Run()) return *exit_code;
  return kExitUsage;
}

}  // namespace wow::cli
