#include "cli/cli.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/client_command.h"
#include "cli/commands.h"
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

void AddServiceFlags(CLI::App* cmd, ServiceFlags& flags) {
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
  cmd->add_option("--body-limit-mb", flags.body_limit_mb, "Largest request body")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--action-logs", flags.action_logs, "Where activation logs go: stdio (stdout/stderr) or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"stdio", "none"}));
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
