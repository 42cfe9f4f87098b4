#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace wow::wasm::aot {

// Linear memories for AoT instances, carved from pre-reserved 8 GiB slots
// (4 GiB addressable + 4 GiB guard, so generated code needs no bounds checks:
// any 32-bit address plus 32-bit offset faults inside the slot).
//
// A slot is never unmapped: on release its used pages are zeroed while they
// stay resident (up to keep_resident_bytes) and the rest is returned to the
// kernel with madvise, so the next instance starts from zeroed memory without
// page faults or mmap/munmap. Accessible size is kept with mprotect, toggled
// only when consecutive instances differ in size.
//
// Process-wide because the signal handler must recognise slot addresses.
// Thread-safe. Contains() is async-signal-safe.
class MemoryPool {
 public:
  static constexpr uint64_t kSlotBytes = 8ull << 30;
  static constexpr uint64_t kHeaderBytes = 4096;

  struct Options {
    // Bytes per slot zeroed with memset and kept resident on release;
    // beyond this, pages are released with madvise(MADV_DONTNEED).
    // Default 1 MiB: memset costs ~2.6 µs per 128 KiB here, a page fault ~2.4 µs.
    uint64_t keep_resident_bytes = 1ull << 20;
    // Upper bound on slots (concurrent memories). Default 4096 (32 TiB of
    // address space, reserved lazily).
    size_t max_slots = 4096;
  };

  static MemoryPool& Instance();

  // Returns a zeroed memory with `initial_bytes` accessible, or nullptr when
  // no slot can be had (max_slots reached or the kernel refused).
  uint8_t* Acquire(uint64_t initial_bytes);
  // Makes [0, new_bytes) accessible. False if the kernel refused.
  bool Grow(uint8_t* data, uint64_t old_bytes, uint64_t new_bytes);
  // Zeroes [0, used_bytes) and returns the slot to the free list.
  void Release(uint8_t* data, uint64_t used_bytes);

  // True when `addr` lies inside any slot's data region (incl. guard).
  bool Contains(const void* addr) const;

  size_t slots_created() const { return slot_count_.load(std::memory_order_acquire); }
  size_t slots_free() const;
  const Options& options() const { return options_; }
  // For tests and benchmarks; call before the first Acquire.
  void set_options(const Options& options) { options_ = options; }

 private:
  MemoryPool() = default;

  struct SlotHeader {
    uint64_t accessible_bytes;  // [0, accessible) is PROT_READ|PROT_WRITE
  };
  static SlotHeader* HeaderOf(uint8_t* data) { return reinterpret_cast<SlotHeader*>(data - kHeaderBytes); }
  uint8_t* CreateSlot();

  Options options_;
  mutable std::mutex mu_;
  std::vector<uint8_t*> free_;  // LIFO: the most recently used slot is warmest
  // Data bases of every slot ever created, for the signal handler.
  static constexpr size_t kMaxSlotsHard = 8192;
  std::atomic<uintptr_t> bases_[kMaxSlotsHard] = {};
  std::atomic<size_t> slot_count_{0};
};

}  // namespace wow::wasm::aot
