#include "bench_support.h"

#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "common/files.h"
#include "common/json.h"
#include "evaluation/native_process.h"
#include "wasm/module_reader.h"

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
  // The same spawn path as the evaluation's process-per-request baseline.
  eval::ProcessOptions options;
  options.argv = {program.string()};
  options.stdin_data = std::string(stdin_data);
  WOW_ASSIGN_OR_RETURN(eval::ProcessResult process, eval::RunProcess(std::move(options)));
  std::fwrite(process.err.data(), 1, process.err.size(), stderr);  // the program's stderr is ours, as ever
  NativeRun run;
  run.exit_code = process.signal != 0 ? 128 + process.signal : process.exit_code;
  run.last_line = std::string(eval::LastNonEmptyLine(process.out));
  run.elapsed = process.elapsed;
  run.cpu = process.cpu;
  return run;
}

std::vector<uint8_t> FixtureBytes(std::string_view name) {
  if (name == "trivial") {
    auto text = ReadFile(SourceDir() / "bench" / "modules" / "trivial.wat");
    if (!text.ok()) Die(text.status().ToString());
    return WatOrDie(*text);
  }
  return ReadBytesOrDie(ExampleWasm(name));
}

std::filesystem::path PersistentCacheDir() {
  const char* env = std::getenv("WOW_BENCH_CACHE_DIR");
  return env != nullptr && *env != '\0' ? std::filesystem::path(env) : std::filesystem::path("/tmp/wow-bench-cache");
}

std::vector<uint8_t> RssModule(std::string_view kind, int i) {
  if (kind == "small") return WatOrDie(SmallModuleWat(1000 + i));
  static const std::vector<uint8_t> hash = FixtureBytes("hash");
  return WithCustomSection(hash, "wow-bench", fmt::format("rss module {}", i));
}

void PrepareRssModules(wasm::Engine& engine, std::string_view kind, int last) {
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (int i = next++; i <= last; i = next++) {
      auto info = engine.Prepare(RssModule(kind, i));
      if (!info.ok()) {
        std::fprintf(stderr, "bench: %s\n", info.status().ToString().c_str());
        failed = true;
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::max(1u, std::thread::hardware_concurrency()); ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  if (failed) Die("compiling the RSS modules failed");
}

namespace {
std::chrono::nanoseconds ClockTime(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}
}  // namespace

std::chrono::nanoseconds ThreadCpuTime() { return ClockTime(CLOCK_THREAD_CPUTIME_ID); }
std::chrono::nanoseconds ProcessCpuTime() { return ClockTime(CLOCK_PROCESS_CPUTIME_ID); }

Result<WasmVsNative> WasmVsNativeRound(const wasm::Module& module, const std::filesystem::path& native,
                                       const std::string& params, bool wasm_first,
                                       std::chrono::nanoseconds (*cpu_clock)()) {
  abi::ActivationRequest request;
  request.params_json = params;
  WasmVsNative round;
  Result<abi::ActivationResult> wasm_result = Status::Internal("not run");
  Result<NativeRun> native_result = Status::Internal("not run");
  auto run_wasm = [&] {
    auto c0 = cpu_clock();
    auto t0 = std::chrono::steady_clock::now();
    wasm_result = abi::RunActivation(module, request);
    round.wasm_time = std::chrono::steady_clock::now() - t0;
    round.wasm_cpu = cpu_clock() - c0;
  };
  if (wasm_first) {
    run_wasm();
    native_result = RunNative(native, params);
  } else {
    native_result = RunNative(native, params);
    run_wasm();
  }
  if (!wasm_result.ok() || wasm_result->status != abi::ActivationStatus::kSuccess) {
    return Status::Internal("wasm run failed: " +
                            (wasm_result.ok() ? ToJson(wasm_result->result) : wasm_result.status().ToString()));
  }
  if (!native_result.ok() || native_result->exit_code != 0) return Status::Internal("native run failed");
  auto native_json = ParseJson(native_result->last_line);
  if (!native_json.ok() || *native_json != wasm_result->result) {
    return Status::Internal("results differ: native " + native_result->last_line + " wasm " +
                            ToJson(wasm_result->result));
  }
  round.wasm_run_ms = wasm_result->run_ms;
  round.native = std::move(*native_result);
  return round;
}

}  // namespace wow::bench
