#pragma once

// A process-wide cache of compiled modules by content (sha256 of the bytes),
// for engines that compile in memory (interp, jit): Prepare and Load of the
// same bytes compile once, across engines of that backend. One lock, held
// while compiling, so concurrent Prepares of the same bytes compile once.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/sha256.h"
#include "common/status.h"

namespace wow::wasm {

template <typename Compiled>
class CompiledCache {
 public:
  explicit CompiledCache(size_t max_entries) : max_entries_(max_entries) {}

  // The compiled module for `wasm`, from the cache (*hit = true) or from
  // `compile(wasm)`, which returns Result<std::shared_ptr<const Compiled>>.
  template <typename CompileFn>
  Result<std::shared_ptr<const Compiled>> Get(std::span<const uint8_t> wasm, bool* hit, CompileFn&& compile) {
    std::string key = Sha256Hex(std::string_view(reinterpret_cast<const char*>(wasm.data()), wasm.size()));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      *hit = true;
      return it->second;
    }
    *hit = false;
    WOW_ASSIGN_OR_RETURN(std::shared_ptr<const Compiled> compiled, compile(wasm));
    entries_.emplace(key, compiled);
    order_.push_back(key);
    if (order_.size() > max_entries_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    return compiled;
  }

 private:
  const size_t max_entries_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const Compiled>> entries_;
  std::deque<std::string> order_;  // oldest first
};

}  // namespace wow::wasm
