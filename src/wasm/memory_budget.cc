#include "wasm/memory_budget.h"

#include <fmt/format.h>

#include "wasm/types.h"

namespace wow::wasm {
namespace {

Status Exhausted(std::string message) {
  return Status::Error(Code::kResourceExhausted, Phase::kInstantiation, std::move(message));
}

}  // namespace

bool MemoryBudget::Fits(uint64_t bytes) const {
  return limit_bytes_ == 0 || (bytes <= limit_bytes_ && charged_bytes_ <= limit_bytes_ - bytes);
}

Status MemoryBudget::ChargeInitial(uint64_t bytes) {
  if (!Fits(bytes)) {
    limit_hit_ = true;
    return Exhausted(fmt::format("the module's initial memory and tables ({} MiB) exceed the memory limit of {} MiB",
                                 (charged_bytes_ + bytes) >> 20, limit_bytes_ >> 20));
  }
  charged_bytes_ += bytes;
  return Status::Ok();
}

Status MemoryBudget::ChargeInitialMemory(uint64_t pages) {
  uint64_t bytes = pages * kWasmPageSize;
  if (limit_bytes_ != 0 && bytes > limit_bytes_) {
    limit_hit_ = true;
    return Exhausted(fmt::format("the module's initial memory ({} MiB) exceeds the memory limit of {} MiB",
                                 bytes >> 20, limit_bytes_ >> 20));
  }
  // 4 GiB itself does not fit the 32-bit sizes engines keep.
  if (pages >= 65536) return Exhausted("initial memory of 4 GiB or more is not supported");
  return ChargeInitial(bytes);
}

Status MemoryBudget::ChargeInitialTable(uint64_t elements, uint64_t element_bytes) {
  uint32_t index = tables_++;
  if (elements > kMaxTableElements) {
    return Exhausted(fmt::format("table {} declares {} initial elements, more than the cap of {} elements per table",
                                 index, elements, kMaxTableElements));
  }
  uint64_t bytes = elements * element_bytes;
  return ChargeInitial(bytes);
}

bool MemoryBudget::TryCharge(uint64_t bytes) {
  if (!Fits(bytes)) {
    limit_hit_ = true;
    return false;
  }
  charged_bytes_ += bytes;
  return true;
}

}  // namespace wow::wasm
