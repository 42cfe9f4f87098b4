#pragma once

// A writer of Wasm binary encodings (LEB128 numbers, names, a few
// instructions with immediates) for the module generators.

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace wow::wasm::testing {

class Bytes {
 public:
  Bytes& Byte(uint8_t b) {
    out_.push_back(b);
    return *this;
  }
  Bytes& Ops(std::initializer_list<uint8_t> bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  Bytes& U32(uint32_t v) {
    do {
      uint8_t b = v & 0x7f;
      v >>= 7;
      out_.push_back(v != 0 ? (b | 0x80) : b);
    } while (v != 0);
    return *this;
  }
  Bytes& S64(int64_t v) {
    for (;;) {
      uint8_t b = v & 0x7f;
      v >>= 7;  // arithmetic
      bool done = (v == 0 && (b & 0x40) == 0) || (v == -1 && (b & 0x40) != 0);
      out_.push_back(done ? b : (b | 0x80));
      if (done) return *this;
    }
  }
  Bytes& Name(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& Append(const std::vector<uint8_t>& bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    return *this;
  }
  // Little-endian fixed-width, for f32.const / f64.const immediates.
  Bytes& Fixed32(uint32_t v) {
    for (int i = 0; i < 4; i++) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Bytes& Fixed64(uint64_t v) {
    for (int i = 0; i < 8; i++) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  // Instructions with immediates.
  Bytes& I32(int32_t v) { return Byte(0x41).S64(v); }
  Bytes& I64(uint64_t v) { return Byte(0x42).S64(static_cast<int64_t>(v)); }
  Bytes& F32(uint32_t bits) { return Byte(0x43).Fixed32(bits); }
  Bytes& F64(uint64_t bits) { return Byte(0x44).Fixed64(bits); }
  Bytes& Get(uint32_t local) { return Byte(0x20).U32(local); }
  Bytes& Set(uint32_t local) { return Byte(0x21).U32(local); }
  Bytes& Tee(uint32_t local) { return Byte(0x22).U32(local); }
  Bytes& GlobalGet(uint32_t global) { return Byte(0x23).U32(global); }
  Bytes& GlobalSet(uint32_t global) { return Byte(0x24).U32(global); }
  Bytes& Mem(uint8_t op, uint32_t align, uint32_t offset) { return Byte(op).U32(align).U32(offset); }

  // A section: its id, then its content's size and the content.
  Bytes& Section(uint8_t id, const Bytes& content) {
    Byte(id).U32(static_cast<uint32_t>(content.size()));
    return Append(content.bytes());
  }

  const std::vector<uint8_t>& bytes() const { return out_; }
  size_t size() const { return out_.size(); }

 private:
  std::vector<uint8_t> out_;
};

}  // namespace wow::wasm::testing
