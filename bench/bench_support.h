#pragma once

// Helpers shared by the engine benchmarks (engine_bench, instantiation_soak):
// file and module fixtures, process memory figures, and running the native
// example builds. Not thread-safe unless stated.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "abi/action_runner.h"
#include "common/status.h"
#include "wasm/engine.h"

namespace wow::bench {

// Where the build put things (compile definitions set by bench/CMakeLists.txt).
std::filesystem::path SourceDir();
std::filesystem::path BinaryDir();
// <build>/examples/<name>.wasm and <build>/examples/native/<name>.
std::filesystem::path ExampleWasm(std::string_view name);
std::filesystem::path ExampleNative(std::string_view name);

// Reads a whole file as bytes; aborts the program with a message when it
// cannot (benchmarks have no one to return an error to).
std::vector<uint8_t> ReadBytesOrDie(const std::filesystem::path& path);
// Converts .wat text to Wasm, aborting on a syntax error.
std::vector<uint8_t> WatOrDie(std::string_view text);

// Returns `wasm` with a custom section `name` holding `payload` appended:
// the same code under a different content hash, i.e. a cache miss.
std::vector<uint8_t> WithCustomSection(std::vector<uint8_t> wasm, std::string_view name, std::string_view payload);

// A small (~1 KB of text) module whose code depends on `seed`: a few
// functions with loops, a data segment and one page of memory.
std::string SmallModuleWat(uint32_t seed);

// Module bytes by fixture name: "trivial" (bench/modules/trivial.wat) or an
// example action ("add", "hash", "prime", ...). Aborts when missing.
std::vector<uint8_t> FixtureBytes(std::string_view name);

// The memory benchmarks' module sets (engine_bench, engines_bench): module i
// of `kind`, "small" (SmallModuleWat) or "hash" (examples/hash.wasm made
// distinct by a custom section). Their AoT artifacts live in a cache that
// outlives runs, WOW_BENCH_CACHE_DIR (default /tmp/wow-bench-cache); the
// cache key covers the engine version and compiler, so a changed engine
// compiles afresh.
std::vector<uint8_t> RssModule(std::string_view kind, int i);
std::filesystem::path PersistentCacheDir();
// Prepares modules 0..last of `kind` with `engine` on every core (a no-op
// when cached); aborts when one fails.
void PrepareRssModules(wasm::Engine& engine, std::string_view kind, int last);

// Process memory from /proc/self/statm, in bytes.
struct ProcessMemory {
  uint64_t vsz = 0;     // virtual size (address space reserved)
  uint64_t rss = 0;     // resident pages
  uint64_t shared = 0;  // resident file-backed pages (shared libraries, artifacts)
};
ProcessMemory ReadProcessMemory();

// The output of one run of a native example program.
struct NativeRun {
  int exit_code = -1;
  std::string last_line;               // the result: last non-empty stdout line
  std::chrono::nanoseconds elapsed{};  // spawn to reaped, wall clock
  std::chrono::nanoseconds cpu{};      // the child's user + system CPU time
};

// Runs `program` with `stdin_data` on its stdin (posix_spawn, pipes), waits
// for it and returns its exit code and last stdout line.
Result<NativeRun> RunNative(const std::filesystem::path& program, std::string_view stdin_data);

// CPU clocks for WasmVsNativeRound: the calling thread's, or the whole
// process's (an engine that runs instances on its own threads, the JIT).
std::chrono::nanoseconds ThreadCpuTime();
std::chrono::nanoseconds ProcessCpuTime();

// One round of a CPU-speed comparison: the Wasm module (abi::RunActivation
// on a fresh instance) and its native build (RunNative), with the same
// params, in the order `wasm_first` says. An error when either fails or
// their results differ.
struct WasmVsNative {
  std::chrono::steady_clock::duration wasm_time{};  // wall clock
  std::chrono::nanoseconds wasm_cpu{};              // by `cpu_clock`
  double wasm_run_ms = 0;                           // the activation's run_ms (no instantiation)
  NativeRun native;
};
Result<WasmVsNative> WasmVsNativeRound(const wasm::Module& module, const std::filesystem::path& native,
                                       const std::string& params, bool wasm_first,
                                       std::chrono::nanoseconds (*cpu_clock)());

}  // namespace wow::bench
