#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wow::wasm {

// A view of an instance's linear memory for host functions and ABIs.
// The one place where guest pointers are checked: every access goes through
// Span(ptr, len), which returns nothing when [ptr, ptr+len) is out of bounds.
// Valid only while the instance lives; the engine re-reads base and size on
// every access because memory.grow may change the size (and, on some engines,
// the base). Not thread-safe: an instance runs on one thread at a time.
class GuestMemory {
 public:
  virtual ~GuestMemory() = default;

  virtual uint8_t* base() const = 0;
  virtual uint64_t size() const = 0;

  std::optional<std::span<uint8_t>> Span(uint32_t ptr, uint32_t len) const {
    uint64_t end = uint64_t{ptr} + len;
    if (end > size()) return std::nullopt;
    return std::span<uint8_t>(base() + ptr, len);
  }

  template <typename T>
  std::optional<T> Read(uint32_t ptr) const {
    auto s = Span(ptr, sizeof(T));
    if (!s) return std::nullopt;
    T value;
    std::memcpy(&value, s->data(), sizeof(T));
    return value;
  }

  template <typename T>
  bool Write(uint32_t ptr, const T& value) const {
    auto s = Span(ptr, sizeof(T));
    if (!s) return false;
    std::memcpy(s->data(), &value, sizeof(T));
    return true;
  }

  bool WriteBytes(uint32_t ptr, std::string_view bytes) const {
    auto s = Span(ptr, static_cast<uint32_t>(bytes.size()));
    if (!s || bytes.size() > UINT32_MAX) return false;
    if (!bytes.empty()) std::memcpy(s->data(), bytes.data(), bytes.size());
    return true;
  }

  std::optional<std::string> ReadString(uint32_t ptr, uint32_t len) const {
    auto s = Span(ptr, len);
    if (!s) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(s->data()), s->size());
  }
};

}  // namespace wow::wasm
