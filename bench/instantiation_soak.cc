// Soak test of the per-request instance path: N sequential instantiations of
// a module, each with a call, printing RSS and VSZ every 100,000 and at the
// end. Exits 1 when either grew by more than its bound between the end of
// the warm-up and the end of the run (a leaked slot, table, context or
// mapping shows up here long before it takes a server down), 2 on errors.
//
//   instantiation_soak [--n 1000000] [--warmup 10000] [--max-rss-growth-kb 4096]
//                      [--max-vsz-growth-kb 65536] [--module trivial|add]
//
// --module trivial (default): bench/modules/trivial.wat, Instantiate + add().
// --module add: examples/add.wasm, a whole WOW-ABI activation per iteration
//   (abi::RunActivation: WASI context, instance, _start, result parsing).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "abi/action_runner.h"
#include "bench_support.h"
#include "common/files.h"
#include "wasm/engine_factory.h"

namespace wow::bench {
namespace {

struct Flags {
  uint64_t n = 1'000'000;
  uint64_t warmup = 10'000;
  uint64_t report_every = 100'000;
  uint64_t max_rss_growth_kb = 4096;
  uint64_t max_vsz_growth_kb = 65536;
  std::string module = "trivial";
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "instantiation_soak: %s\nusage: instantiation_soak [--n N] [--warmup N] [--report-every N]\n"
               "       [--max-rss-growth-kb KB] [--max-vsz-growth-kb KB] [--module trivial|add]\n",
               why);
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      Usage(("missing value for " + std::string(arg)).c_str());
    }
    auto number = [&] {
      char* end = nullptr;
      uint64_t v = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0') Usage(("not a number: " + value).c_str());
      return v;
    };
    if (arg == "--n") {
      f.n = number();
    } else if (arg == "--warmup") {
      f.warmup = number();
    } else if (arg == "--report-every") {
      f.report_every = number();
    } else if (arg == "--max-rss-growth-kb") {
      f.max_rss_growth_kb = number();
    } else if (arg == "--max-vsz-growth-kb") {
      f.max_vsz_growth_kb = number();
    } else if (arg == "--module") {
      f.module = value;
      if (f.module != "trivial" && f.module != "add") Usage("--module is trivial or add");
    } else {
      Usage(("unknown flag " + std::string(arg)).c_str());
    }
  }
  if (f.report_every == 0) Usage("--report-every must be positive");
  if (f.warmup >= f.n) f.warmup = 0;
  return f;
}

void Print(const char* label, uint64_t done, const ProcessMemory& m, double seconds, double rate) {
  std::printf("%-8s %10llu instances  RSS %8.1f MiB  VSZ %10.1f MiB  %8.2f s  %9.0f instances/s\n", label,
              static_cast<unsigned long long>(done), m.rss / 1048576.0, m.vsz / 1048576.0, seconds, rate);
  std::fflush(stdout);
}

int Run(const Flags& flags) {
  TempDir dir("wow-soak");
  wasm::EngineOptions options;
  options.data_dir = dir.path();
  auto engine = wasm::CreateEngine("aot", options);
  if (!engine.ok()) {
    std::fprintf(stderr, "instantiation_soak: %s\n", engine.status().ToString().c_str());
    return 2;
  }
  std::vector<uint8_t> wasm;
  if (flags.module == "trivial") {
    auto text = ReadFile(SourceDir() / "bench" / "modules" / "trivial.wat");
    if (!text.ok()) {
      std::fprintf(stderr, "instantiation_soak: %s\n", text.status().ToString().c_str());
      return 2;
    }
    wasm = WatOrDie(*text);
  } else {
    wasm = ReadBytesOrDie(ExampleWasm(flags.module));
  }
  auto loaded = (*engine)->Load(wasm, abi::HostFunctionsFor({}));
  if (!loaded.ok()) {
    std::fprintf(stderr, "instantiation_soak: %s\n", loaded.status().ToString().c_str());
    return 2;
  }
  const wasm::Module& module = **loaded;

  abi::ActivationRequest request;
  request.params_json = R"({"param1": 20, "param2": 22})";
  auto once = [&](uint64_t i) -> bool {
    if (flags.module == "add") {
      auto r = abi::RunActivation(module, request);
      return r.ok() && r->status == abi::ActivationStatus::kSuccess;
    }
    auto instance = module.Instantiate({});
    if (!instance.ok()) return false;
    wasm::RawValue args[2] = {i & 0xffff, 1};
    wasm::RawValue res[1] = {0};
    return (*instance)->Call("add", args, res).ok() && res[0] == (i & 0xffff) + 1;
  };

  std::printf("instantiation_soak: module %s, %llu instantiations (warm-up %llu), bounds RSS +%llu KiB, VSZ +%llu KiB\n",
              flags.module.c_str(), static_cast<unsigned long long>(flags.n),
              static_cast<unsigned long long>(flags.warmup), static_cast<unsigned long long>(flags.max_rss_growth_kb),
              static_cast<unsigned long long>(flags.max_vsz_growth_kb));
  using Clock = std::chrono::steady_clock;
  ProcessMemory start = ReadProcessMemory();
  Print("start", 0, start, 0, 0);
  ProcessMemory after_warmup = start;
  auto t0 = Clock::now();
  auto last = t0;
  uint64_t last_done = 0;
  for (uint64_t i = 0; i < flags.n; ++i) {
    if (!once(i)) {
      std::fprintf(stderr, "instantiation_soak: instance %llu failed\n", static_cast<unsigned long long>(i));
      return 2;
    }
    uint64_t done = i + 1;
    if (done == flags.warmup) {
      after_warmup = ReadProcessMemory();
      Print("warm-up", done, after_warmup, std::chrono::duration<double>(Clock::now() - t0).count(), 0);
    }
    if (done % flags.report_every == 0 || done == flags.n) {
      auto now = Clock::now();
      double interval = std::chrono::duration<double>(now - last).count();
      Print(done == flags.n ? "end" : "progress", done, ReadProcessMemory(),
            std::chrono::duration<double>(now - t0).count(), (done - last_done) / interval);
      last = now;
      last_done = done;
    }
  }
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  ProcessMemory end = ReadProcessMemory();
  double rss_growth_kb = (double(end.rss) - double(after_warmup.rss)) / 1024;
  double vsz_growth_kb = (double(end.vsz) - double(after_warmup.vsz)) / 1024;
  std::printf("result: %llu instantiations in %.2f s = %.0f instances/s (%.2f us each)\n",
              static_cast<unsigned long long>(flags.n), seconds, flags.n / seconds, seconds * 1e6 / flags.n);
  std::printf("result: RSS %.1f -> %.1f MiB (start %.1f), VSZ %.1f -> %.1f MiB (start %.1f), after warm-up: "
              "RSS %+.0f KiB, VSZ %+.0f KiB\n",
              after_warmup.rss / 1048576.0, end.rss / 1048576.0, start.rss / 1048576.0, after_warmup.vsz / 1048576.0,
              end.vsz / 1048576.0, start.vsz / 1048576.0, rss_growth_kb, vsz_growth_kb);
  bool ok = rss_growth_kb <= double(flags.max_rss_growth_kb) && vsz_growth_kb <= double(flags.max_vsz_growth_kb);
  std::printf("result: %s\n", ok ? "PASS" : "FAIL: memory grew beyond the bound");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace wow::bench

int main(int argc, char** argv) { return wow::bench::Run(wow::bench::ParseFlags(argc, argv)); }
