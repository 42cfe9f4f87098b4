#include "wasm/aot/memory_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace wow::wasm::aot {

MemoryPool& MemoryPool::Instance() {
  static MemoryPool* pool = new MemoryPool();  // never destroyed: guests may run at exit
  return *pool;
}

uint8_t* MemoryPool::CreateSlot() {
  size_t index = slot_count_.load(std::memory_order_relaxed);
  if (index >= std::min(options_.max_slots, kMaxSlotsHard)) return nullptr;
  void* base =
      ::mmap(nullptr, kHeaderBytes + kSlotBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  if (::mprotect(base, kHeaderBytes, PROT_READ | PROT_WRITE) != 0) {
    ::munmap(base, kHeaderBytes + kSlotBytes);
    return nullptr;
  }
  uint8_t* data = static_cast<uint8_t*>(base) + kHeaderBytes;
  HeaderOf(data)->accessible_bytes = 0;
  bases_[index].store(reinterpret_cast<uintptr_t>(data), std::memory_order_release);
  slot_count_.store(index + 1, std::memory_order_release);
  return data;
}

uint8_t* MemoryPool::Acquire(uint64_t initial_bytes) {
  uint8_t* data = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      data = free_.back();
      free_.pop_back();
    } else {
      data = CreateSlot();
    }
  }
  if (data == nullptr) return nullptr;
  SlotHeader* h = HeaderOf(data);
  // Slots are zero beyond their last user's size, so only protection changes.
  if (h->accessible_bytes > initial_bytes) {
    if (::mprotect(data + initial_bytes, h->accessible_bytes - initial_bytes, PROT_NONE) != 0) {
      Release(data, 0);
      return nullptr;
    }
  } else if (h->accessible_bytes < initial_bytes) {
    if (::mprotect(data + h->accessible_bytes, initial_bytes - h->accessible_bytes, PROT_READ | PROT_WRITE) != 0) {
      Release(data, 0);
      return nullptr;
    }
  }
  h->accessible_bytes = initial_bytes;
  return data;
}

bool MemoryPool::Grow(uint8_t* data, uint64_t old_bytes, uint64_t new_bytes) {
  SlotHeader* h = HeaderOf(data);
  if (new_bytes <= h->accessible_bytes) return true;
  if (::mprotect(data + h->accessible_bytes, new_bytes - h->accessible_bytes, PROT_READ | PROT_WRITE) != 0) {
    return false;
  }
  h->accessible_bytes = new_bytes;
  return true;
}

void MemoryPool::Release(uint8_t* data, uint64_t used_bytes) {
  SlotHeader* h = HeaderOf(data);
  used_bytes = std::min(used_bytes, h->accessible_bytes);
  uint64_t keep = std::min(used_bytes, options_.keep_resident_bytes);
  if (keep > 0) std::memset(data, 0, keep);
  if (used_bytes > keep) {
    // Above the threshold, faulting pages back in is cheaper than zeroing them.
    ::madvise(data + keep, used_bytes - keep, MADV_DONTNEED);
  }
  std::lock_guard<std::mutex> lock(mu_);
  free_.push_back(data);
}

bool MemoryPool::Contains(const void* addr) const {
  uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  size_t n = slot_count_.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i) {
    uintptr_t base = bases_[i].load(std::memory_order_acquire);
    if (base != 0 && a >= base && a - base < kSlotBytes) return true;
  }
  return false;
}

size_t MemoryPool::slots_free() const {
  std::lock_guard<std::mutex> lock(mu_);
  return free_.size();
}

}  // namespace wow::wasm::aot
