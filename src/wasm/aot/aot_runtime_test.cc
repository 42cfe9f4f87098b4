// The AoT runtime's fault handling: which faults in guest code are guest traps.
#include "wasm/aot/aot_runtime.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

#include "wasm-rt.h"
#include "wasm/aot/memory_pool.h"
#include "wasm/types.h"

namespace wow::wasm::aot {
namespace {

// "Guest code" that writes to *arg: what a runtime bug looks like when the
// address is not guest memory.
void WriteTo(void* arg) { *static_cast<volatile uint8_t*>(arg) = 1; }

// A page outside every pool reservation that faults when written.
uint8_t* ProtectedPage() {
  void* page = ::mmap(nullptr, static_cast<size_t>(getpagesize()), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(page, MAP_FAILED);
  return page == MAP_FAILED ? nullptr : static_cast<uint8_t*>(page);
}

TEST(AotRuntimeTest, FaultInsideAPoolReservationIsAGuestTrap) {
  InitRuntime();
  uint8_t* memory = MemoryPool::Instance().Acquire(kWasmPageSize);
  ASSERT_NE(memory, nullptr);
  GuestContext ctx;
  Status s = RunGuest(ctx, WriteTo, memory + kWasmPageSize);  // just past the accessible page: the guard region
  EXPECT_EQ(s.code(), Code::kTrap) << s.ToString();
  EXPECT_EQ(s.trap(), TrapKind::kOutOfBounds) << s.ToString();
  MemoryPool::Instance().Release(memory, kWasmPageSize);
}

// How a fault the runtime passes on ends the process: the default action, or under ASan (the asan preset) the report
// of ASan's handler, which the runtime chains to, followed by abort (abort_on_error=1, scripts/sanitize.sh).
#if defined(__SANITIZE_ADDRESS__)  // gcc
#define WOW_UNDER_ASAN 1
#elif defined(__has_feature)  // clang (nested: gcc 12 cannot parse __has_feature(...) in the same #if)
#if __has_feature(address_sanitizer)
#define WOW_UNDER_ASAN 1
#endif
#endif
#ifdef WOW_UNDER_ASAN
constexpr int kFaultSignal = SIGABRT;
#else
constexpr int kFaultSignal = SIGSEGV;
#endif

// Regression (issue 12, finding 11): any SIGSEGV while in_guest was set was
// taken for a guest trap, hiding bugs in the runtime.
TEST(AotRuntimeDeathTest, FaultOutsideTheReservationsIsNotSwallowed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  InitRuntime();
  uint8_t* page = ProtectedPage();
  ASSERT_NE(page, nullptr);
  EXPECT_EXIT(
      {
        GuestContext ctx;
        (void)RunGuest(ctx, WriteTo, page);
        std::_Exit(0);  // swallowed as a trap: the bug
      },
      ::testing::KilledBySignal(kFaultSignal), "");
  ::munmap(page, static_cast<size_t>(getpagesize()));
}

// The function-type registry as generated modules call it at load: equal signatures share an id, and where the
// parameters end matters. (Under UBSan, the asan preset, the old registry failed here: it stored its separator as
// wasm_rt_type_t(-1), outside the enum's range.)
TEST(AotRuntimeTest, RegistersFunctionTypesBySignature) {
  uint32_t i32_to_i64 = wasm_rt_register_func_type(1, 1, WASM_RT_I32, WASM_RT_I64);
  uint32_t again = wasm_rt_register_func_type(1, 1, WASM_RT_I32, WASM_RT_I64);
  uint32_t two_params = wasm_rt_register_func_type(2, 0, WASM_RT_I32, WASM_RT_I64);
  uint32_t two_results = wasm_rt_register_func_type(0, 2, WASM_RT_I32, WASM_RT_I64);
  uint32_t none = wasm_rt_register_func_type(0, 0);
  EXPECT_NE(i32_to_i64, 0u);
  EXPECT_EQ(again, i32_to_i64);
  EXPECT_NE(two_params, i32_to_i64);
  EXPECT_NE(two_results, two_params);
  EXPECT_NE(none, 0u);
  EXPECT_EQ(wasm_rt_register_func_type(0, 0), none);
  EXPECT_NE(none, two_results);
}

}  // namespace
}  // namespace wow::wasm::aot
