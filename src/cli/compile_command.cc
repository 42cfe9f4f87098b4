#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/module_file.h"
#include "wasm/engine_factory.h"

namespace wow::cli {

wasm::EngineOptions ToEngineOptions(const EngineFlags& flags) {
  wasm::EngineOptions options;
  options.data_dir = flags.data_dir;
  options.cc = flags.cc;
  options.opt_level = flags.opt_level;
  if (flags.compile_timeout_s) options.compile_timeout = std::chrono::seconds(*flags.compile_timeout_s);
  if (flags.compile_memory_mb) options.compile_memory_mb = *flags.compile_memory_mb;
  if (flags.compile_max_items) options.compile_max_items = *flags.compile_max_items;
  return options;
}

std::unique_ptr<wasm::Engine> CreateEngineOrReport(const EngineFlags& flags, const char* command) {
  auto engine = wasm::CreateEngine(flags.engine, ToEngineOptions(flags));
  if (!engine.ok()) {
    fmt::print(stderr, "wow {}: {}\n", command, engine.status().ToString());
    return nullptr;
  }
  return std::move(engine).value();
}

int RunCompile(const CompileFlags& flags) {
  int exit_code = kExitOk;
  auto wasm = ReadModuleOrReport(flags.module_path, "compile", &exit_code);
  if (!wasm) return exit_code;
  auto engine = CreateEngineOrReport(flags.engine, "compile");
  if (engine == nullptr) return kExitUsage;
  auto prepared = engine->Prepare(*wasm);
  if (!prepared.ok()) {
    fmt::print(stderr, "wow compile: {}\n", prepared.status().WithContext(flags.module_path).ToString());
    return kExitFailed;
  }
  if (prepared->artifact.empty()) {
    // Nothing to print on stdout: no file to hand to anyone.
    fmt::print(stderr, "valid: the {} engine keeps no artifact (it compiles when loading); checked in {:.1f} ms\n",
               engine->name(), prepared->compile_ms);
    return kExitOk;
  }
  fmt::print("{}\n", prepared->artifact.string());
  if (prepared->cache_hit) {
    fmt::print(stderr, "compiled: cache hit (no compile)\n");
  } else {
    fmt::print(stderr, "compiled in {:.1f} ms (-O{}, {})\n", prepared->compile_ms, flags.engine.opt_level,
               flags.engine.cc);
  }
  return kExitOk;
}

}  // namespace wow::cli
