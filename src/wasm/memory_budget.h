#pragma once

#include <cstdint>

#include "common/status.h"

namespace wow::wasm {

// Elements per table, whatever the memory limit: a table declaring more
// initial elements fails to instantiate and table.grow past it returns -1, so
// a huge declared maximum never reserves anything. Wasmtime's default (and
// SpiderMonkey's own cap).
constexpr uint64_t kMaxTableElements = 10'000'000;

// The bytes an instance may hold, counted the same way on every engine:
// linear memory plus its tables, each table element at what the engine really
// allocates for it (e.g. sizeof(wasm_rt_funcref_t) on AoT). The limit is
// InstanceOptions::memory_limit_bytes; 0 means no limit. Charges last as long
// as the instance. Not thread-safe: one per instance, used by the thread that
// runs it.
class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t limit_bytes = 0) : limit_bytes_(limit_bytes) {}

  // Instantiation charges the (first) memory, then each table in index order
  // (wasm2c's order, which every engine follows for the same messages).
  // kResourceExhausted (Phase::kInstantiation) when it does not fit; a memory
  // above the limit by itself sets limit_hit().
  Status ChargeInitialMemory(uint64_t pages);
  Status ChargeInitialTable(uint64_t elements, uint64_t element_bytes);

  // A memory.grow or table.grow of `bytes`: charged and true when it fits,
  // else false and limit_hit() (the grow then returns -1, as Wasm specifies).
  // Callers check the module's own maximum and kMaxTableElements first.
  bool TryCharge(uint64_t bytes);
  // Gives back a charge whose allocation then failed.
  void Release(uint64_t bytes) { charged_bytes_ -= bytes; }

  bool limit_hit() const { return limit_hit_; }
  uint64_t limit_bytes() const { return limit_bytes_; }
  uint64_t charged_bytes() const { return charged_bytes_; }

 private:
  bool Fits(uint64_t bytes) const;
  // Charges an initial memory or table, or says the sum exceeds the limit.
  Status ChargeInitial(uint64_t bytes);

  uint64_t limit_bytes_;
  uint64_t charged_bytes_ = 0;
  uint32_t tables_ = 0;  // tables charged so far, for messages
  bool limit_hit_ = false;
};

}  // namespace wow::wasm
