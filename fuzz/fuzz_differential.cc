// Differential engine fuzzing (src/wasm/testing/differential.h): every input runs on each engine built in (the AoT
// engine at -O2 as in production, the interpreter, and the JIT where SpiderMonkey is linked; the clang sanitizer
// trees have no JIT) and a difference in loading, results, traps, host calls or final memory is a finding (abort).
// An input that starts with the Wasm magic is a module as it is (libFuzzer's mutations of generated modules, which
// may not terminate: a timeout is inconclusive); any other input is the entropy of RandomModule (always valid and
// finishing, so an invalid or unfinished one is a generator bug and also a finding).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "fuzz_util.h"
#include "wasm/engine_factory.h"
#include "wasm/module_reader.h"
#include "wasm/testing/differential.h"
#include "wasm/testing/random_module.h"

namespace {

const wow::wasm::testing::DifferentialRunner& Runner() {
  static std::unique_ptr<wow::wasm::testing::DifferentialRunner> runner = [] {
    wow::wasm::EngineOptions options;
    options.data_dir = wow::fuzz::MakeTempDir("differential");
    wow::wasm::testing::DifferentialOptions dopt;
    dopt.deadline = std::chrono::milliseconds(2000);
    auto r = wow::wasm::testing::DifferentialRunner::Create(wow::wasm::AvailableEngines(), options, dopt);
    if (!r.ok()) {
      std::fprintf(stderr, "fuzz_differential: %s\n", r.status().ToString().c_str());
      std::abort();
    }
    return std::move(*r);
  }();
  return *runner;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  bool raw = wow::wasm::IsWasmBinary(input);
  std::vector<uint8_t> wasm = raw ? std::vector<uint8_t>(input.begin(), input.end())
                                  : wow::wasm::testing::RandomModule(input);
  wow::wasm::testing::DifferentialOutcome out =
      Runner().Run(wasm, raw ? std::nullopt : std::optional(wow::wasm::testing::kRandomModuleDeadline));
  if (!out.divergence.empty()) {
    std::fprintf(stderr, "fuzz_differential: engines diverge: %s\n", out.divergence.c_str());
    std::abort();
  }
  if (!raw && (!out.valid || out.inconclusive)) {
    std::fprintf(stderr, "fuzz_differential: a generated module is %s\n",
                 out.valid ? "unfinished" : ("invalid: " + out.behaviours[0].load_error).c_str());
    std::abort();
  }
  return 0;
}
