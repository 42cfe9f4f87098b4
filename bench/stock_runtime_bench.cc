// The baseline for BM_InstantiateCallTrivial: the same module
// (bench/modules/trivial.wat), translated at build time by Debian's wat2wasm
// and wasm2c and linked with wabt's stock runtime (libwasm-rt-impl.a).
//
// The stock runtime must stay in its own executable: it defines the same
// wasm_rt_* symbols as wow's runtime.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <csetjmp>
#include <cstdint>

#include "trivial_stock.h"
#include "wasm-rt-impl.h"

namespace {

// Fresh instance + one call (inside the stock runtime's trap handler, as a
// server would have to) + free.
//
// Bounded on purpose: the stock wasm_rt_free_memory unmaps only the
// accessible pages of the 8 GiB reservation and leaks the rest, so a process
// runs out of address space (47 bits = 128 TiB = 16,384 reservations) and
// aborts after ~16,000 instances. 5 repetitions x 2,000 iterations = 10,000
// instances; the per-benchmark Repetitions(5) overrides
// --benchmark_repetitions so the total stays below the limit.
void BM_StockRuntimeInstantiate(benchmark::State& state) {
  for (auto _ : state) {
    Z_trivial_instance_t instance;
    Z_trivial_instantiate(&instance);
    if (wasm_rt_impl_try() != 0) {
      state.SkipWithError("trap");
      break;
    }
    u32 r = Z_trivialZ_add(&instance, 20, 22);
    benchmark::DoNotOptimize(r);
    Z_trivial_free(&instance);
  }
}
BENCHMARK(BM_StockRuntimeInstantiate)->Iterations(2000)->Repetitions(5);

// Where the stock runtime's time goes, without leaking: reserve 8 GiB
// PROT_NONE, open one page read/write, fault it in, unmap it all.
void BM_Reserve8GiBTouchUnmap(benchmark::State& state) {
  constexpr size_t kReserve = 8ull << 30;
  constexpr size_t kPage = 65536;
  for (auto _ : state) {
    void* p = mmap(nullptr, kReserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED || mprotect(p, kPage, PROT_READ | PROT_WRITE) != 0) {
      state.SkipWithError("mmap failed");
      break;
    }
    static_cast<volatile uint8_t*>(p)[0] = 1;
    munmap(p, kReserve);
  }
}
BENCHMARK(BM_Reserve8GiBTouchUnmap);

// The call alone, on one instance (one reservation).
void BM_StockRuntimeCall(benchmark::State& state) {
  Z_trivial_instance_t instance;
  Z_trivial_instantiate(&instance);
  for (auto _ : state) {
    if (wasm_rt_impl_try() != 0) {
      state.SkipWithError("trap");
      break;
    }
    u32 r = Z_trivialZ_add(&instance, 20, 22);
    benchmark::DoNotOptimize(r);
  }
  Z_trivial_free(&instance);
}
BENCHMARK(BM_StockRuntimeCall);

}  // namespace

int main(int argc, char** argv) {
  wasm_rt_init();
  Z_trivial_init_module();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  wasm_rt_free();
  return 0;
}
