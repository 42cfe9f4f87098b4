#include "cli/cli.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.h"

namespace wow::cli {
namespace {

void AddEngineFlags(CLI::App* cmd, EngineFlags& flags) {
  cmd->add_option("--data-dir", flags.data_dir, "Where compiled artifacts are cached")->capture_default_str();
  cmd->add_option("--engine", flags.engine, "Wasm engine")->capture_default_str();
  cmd->add_option("--cc", flags.cc, "C compiler for the AoT engine")->capture_default_str();
  cmd->add_option("-O", flags.opt_level, "Optimisation level for the C compiler (0, 1, 2, 3, s, z)")
      ->capture_default_str()
      ->check(CLI::IsMember({"0", "1", "2", "3", "s", "z"}));
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"wow: a WebAssembly serverless runtime for edge machines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "wow 0.1.0");

  CompileFlags compile;
  CLI::App* compile_cmd = app.add_subcommand("compile", "Validate and precompile a module; print the artifact path");
  compile_cmd->add_option("MODULE", compile.module_path, "Module (.wasm or .wat)")->required();
  AddEngineFlags(compile_cmd, compile.engine);

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
  run_cmd->add_option("--name", run.action_name, "Action name passed to the guest (default: the file's stem)");
  run_cmd->add_flag("--timings", run.timings, "Print compile/load/instantiate/run times on stderr");
  AddEngineFlags(run_cmd, run.engine);

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
  if (*compile_cmd) return RunCompile(compile);
  if (*run_cmd) return RunRun(run);
  return kExitUsage;
}

}  // namespace wow::cli
