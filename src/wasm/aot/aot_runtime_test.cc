// The AoT runtime's fault handling: which faults in guest code are guest traps.
#include "wasm/aot/aot_runtime.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

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
      ::testing::KilledBySignal(SIGSEGV), "");
  ::munmap(page, static_cast<size_t>(getpagesize()));
}

}  // namespace
}  // namespace wow::wasm::aot
