#include "wasm/testing/random_module.h"

#include <algorithm>
#include <optional>
#include <random>

#include "wasm/testing/wasm_bytes.h"

namespace wow::wasm::testing {
namespace {

enum class T : uint8_t { kI32, kI64, kF32, kF64 };
constexpr T kAllTypes[] = {T::kI32, T::kI64, T::kF32, T::kF64};

uint8_t TypeByte(T t) {
  switch (t) {
    case T::kI32: return 0x7f;
    case T::kI64: return 0x7e;
    case T::kF32: return 0x7d;
    case T::kF64: return 0x7c;
  }
  return 0x7f;
}

constexpr uint8_t kVoidBlock = 0x40;
constexpr uint32_t kCanonicalNan32 = 0x7fc00000u;
constexpr uint64_t kCanonicalNan64 = 0x7ff8000000000000ull;

// Globals: fuel and call depth first, then the user globals.
constexpr uint32_t kFuelGlobal = 0;
constexpr uint32_t kDepthGlobal = 1;
constexpr uint32_t kFirstUserGlobal = 2;
constexpr uint32_t kObserveFunc = 0;  // the import
constexpr uint32_t kObserveType = 0;

// Limits of one module's shape.
constexpr uint32_t kMaxParams = 3;
constexpr uint32_t kMaxLocalsPerType = 3;
constexpr uint32_t kMaxStatementsPerBlock = 5;
constexpr int kMaxStatementDepth = 3;
constexpr int kMaxExprDepth = 4;
constexpr uint32_t kLeafPercent = 30;
// Past this many bytes of a function's code, expressions are leaves and
// blocks get no more statements (keeps the C compile of a module short).
constexpr size_t kMaxFunctionBytes = 3000;  // at every level, or trees grow to the depth cap
constexpr uint32_t kMaxDataBytes = 64;

// Decisions read from the entropy bytes; zeros once they run out, and
// choice 0 is always the simplest one.
class Choices {
 public:
  explicit Choices(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint8_t Byte() { return pos_ < bytes_.size() ? bytes_[pos_++] : 0; }
  // In [0, n), n >= 1.
  uint32_t Below(uint32_t n) {
    if (n <= 1) return 0;
    uint32_t v = n <= 256 ? Byte() : (uint32_t{Byte()} << 8 | Byte());
    return v % n;
  }
  bool Percent(uint32_t p) { return Below(100) < p; }
  uint64_t Bits(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v = v << 8 | Byte();
    return v;
  }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

struct Sig {
  std::vector<T> params;
  std::optional<T> result;
};

struct Label {
  std::optional<T> type;  // what a branch to it carries (loops: nothing)
};

class Generator {
 public:
  explicit Generator(std::span<const uint8_t> entropy) : c_(entropy) {}

  std::vector<uint8_t> Module();

 private:
  // One function's body being written.
  struct Func {
    Sig sig;
    std::vector<T> locals;   // params first
    uint32_t scratch[4]{};   // a local of each type, for NaN canonicalisation
    std::vector<Label> labels;
    Bytes code;
  };

  void Expr(Func& f, T t, int depth);
  void Leaf(Func& f, T t);
  void Statement(Func& f, int depth);
  void Statements(Func& f, int depth);
  void Address(Func& f, int depth);
  void Canonicalize(Func& f, T t);
  void Args(Func& f, const Sig& sig, int depth);
  void IntBinary(Func& f, T t, int depth);
  void FloatBinary(Func& f, T t, int depth);
  void Load(Func& f, T t, int depth);
  void Store(Func& f, int depth);
  void ReadModifyWrite(Func& f, int depth);
  void Conversion(Func& f, T t, int depth);
  void Compare(Func& f, int depth);
  std::optional<uint32_t> LocalOf(Func& f, T t);
  std::optional<uint32_t> GlobalOf(T t);
  std::optional<uint32_t> FunctionReturning(std::optional<T> t);
  std::vector<uint8_t> Body(uint32_t index);
  std::vector<uint8_t> DumpBody();

  Choices c_;
  std::vector<Sig> types_;      // type index - 1 (type 0 is observe's)
  std::vector<uint32_t> funcs_;  // type index of each defined function
  std::vector<T> globals_;       // user globals
  uint32_t table_size_ = 0;
};

std::optional<uint32_t> Generator::LocalOf(Func& f, T t) {
  std::vector<uint32_t> found;
  for (uint32_t i = 0; i < f.locals.size(); i++) {
    if (f.locals[i] == t) found.push_back(i);
  }
  if (found.empty()) return std::nullopt;
  return found[c_.Below(static_cast<uint32_t>(found.size()))];
}

std::optional<uint32_t> Generator::GlobalOf(T t) {
  std::vector<uint32_t> found;
  for (uint32_t i = 0; i < globals_.size(); i++) {
    if (globals_[i] == t) found.push_back(kFirstUserGlobal + i);
  }
  if (found.empty()) return std::nullopt;
  return found[c_.Below(static_cast<uint32_t>(found.size()))];
}

std::optional<uint32_t> Generator::FunctionReturning(std::optional<T> t) {
  std::vector<uint32_t> found;
  for (uint32_t i = 0; i < funcs_.size(); i++) {
    if (types_[funcs_[i] - 1].result == t) found.push_back(i);
  }
  if (found.empty()) return std::nullopt;
  return 1 + found[c_.Below(static_cast<uint32_t>(found.size()))];  // after the import
}

void Generator::Leaf(Func& f, T t) {
  switch (c_.Below(3)) {
    case 1:
      if (auto l = LocalOf(f, t)) {
        f.code.Get(*l);
        return;
      }
      break;
    case 2:
      if (auto g = GlobalOf(t)) {
        f.code.GlobalGet(*g);
        return;
      }
      break;
    default: break;
  }
  // Constants: edge values often, random bits otherwise.
  static constexpr uint32_t kF32[] = {0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000,
                                      kCanonicalNan32, 0x00000001, 0x7f7fffff, 0x4f000000, 0xcf000000, 0x3f000000};
  static constexpr uint64_t kF64[] = {0, 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
                                      0x7ff0000000000000ull, 0xfff0000000000000ull, kCanonicalNan64, 1,
                                      0x43e0000000000000ull, 0xc3e0000000000000ull, 0x41dfffffffc00000ull,
                                      0x3fe0000000000000ull};
  static constexpr int64_t kInts[] = {0, 1, -1, 2, 31, 32, 63, 64, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX, 65535,
                                      65536, 255};
  bool edge = c_.Percent(50);
  switch (t) {
    case T::kI32:
      f.code.I32(static_cast<int32_t>(edge ? kInts[c_.Below(std::size(kInts))] : c_.Bits(4)));
      break;
    case T::kI64: f.code.I64(edge ? static_cast<uint64_t>(kInts[c_.Below(std::size(kInts))]) : c_.Bits(8)); break;
    case T::kF32: f.code.F32(edge ? kF32[c_.Below(std::size(kF32))] : static_cast<uint32_t>(c_.Bits(4))); break;
    case T::kF64: f.code.F64(edge ? kF64[c_.Below(std::size(kF64))] : c_.Bits(8)); break;
  }
}

// Replaces a NaN on top of the stack by the canonical one:
// x; local.tee s; const NaN; local.get s; local.get s; eq; select.
void Generator::Canonicalize(Func& f, T t) {
  uint32_t s = f.scratch[static_cast<int>(t)];
  f.code.Tee(s);
  if (t == T::kF32) {
    f.code.F32(kCanonicalNan32).Get(s).Get(s).Byte(0x5b);  // f32.eq
  } else {
    f.code.F64(kCanonicalNan64).Get(s).Get(s).Byte(0x61);  // f64.eq
  }
  f.code.Byte(0x1b);  // select: x when x == x
}

// An i32 address: mostly masked into the first page (in bounds), or into the
// first four (in bounds once memory grew), sometimes raw.
void Generator::Address(Func& f, int depth) {
  Expr(f, T::kI32, depth);
  static constexpr int32_t kMasks[] = {0xffff, 0xffff, 0xfff8, 0x3ffff};
  if (!c_.Percent(10)) f.code.I32(kMasks[c_.Below(std::size(kMasks))]).Byte(0x71);  // i32.and
}

// mem[a] = mem[a] op value, with the address in an i32 local read twice: the
// shape the AoT engine fuses into one read-modify-write instruction
// (c_codegen.cc FuseReadModifyWrites), e.g. a sieve's `bits[i] |= m`.
void Generator::ReadModifyWrite(Func& f, int depth) {
  struct Op {
    uint8_t load, store;
    T value;
    uint32_t align;
  };
  static constexpr Op kOps[] = {{0x28, 0x36, T::kI32, 2}, {0x29, 0x37, T::kI64, 3}, {0x2d, 0x3a, T::kI32, 0},
                                {0x2f, 0x3b, T::kI32, 1}, {0x31, 0x3c, T::kI64, 0}, {0x35, 0x3e, T::kI64, 2}};
  Op op = kOps[c_.Below(std::size(kOps))];
  auto a = LocalOf(f, T::kI32);  // the i32 scratch local at least
  Address(f, depth);
  f.code.Set(*a);
  uint32_t offset = c_.Percent(80) ? c_.Below(64) : static_cast<uint32_t>(c_.Bits(2));
  uint32_t align = c_.Below(op.align + 1);
  f.code.Get(*a).Get(*a).Mem(op.load, align, offset);
  Expr(f, op.value, depth);
  // add sub and or xor
  static constexpr uint8_t kI32Ops[] = {0x6a, 0x6b, 0x71, 0x72, 0x73};
  static constexpr uint8_t kI64Ops[] = {0x7c, 0x7d, 0x83, 0x84, 0x85};
  uint32_t k = c_.Below(5);
  f.code.Byte(op.value == T::kI32 ? kI32Ops[k] : kI64Ops[k]);
  f.code.Mem(op.store, align, offset);
}

void Generator::IntBinary(Func& f, T t, int depth) {
  // add sub mul div_s div_u rem_s rem_u and or xor shl shr_s shr_u rotl rotr
  uint8_t base = t == T::kI32 ? 0x6a : 0x7c;
  uint32_t op = c_.Below(15);
  Expr(f, t, depth);
  Expr(f, t, depth);
  // Most divisors are made odd (never 0), or nearly every division would
  // trap: generated values are often 0.
  if (op >= 3 && op <= 6 && !c_.Percent(20)) {
    if (t == T::kI32) {
      f.code.I32(1).Byte(0x72);  // i32.or
    } else {
      f.code.I64(1).Byte(0x84);  // i64.or
    }
  }
  f.code.Byte(static_cast<uint8_t>(base + op));
}

void Generator::FloatBinary(Func& f, T t, int depth) {
  Expr(f, t, depth);
  Expr(f, t, depth);
  // add sub mul div min max copysign
  uint8_t base = t == T::kF32 ? 0x92 : 0xa0;
  uint32_t op = c_.Below(7);
  f.code.Byte(static_cast<uint8_t>(base + op));
  if (op != 6) Canonicalize(f, t);  // copysign only moves the sign bit
}

void Generator::Load(Func& f, T t, int depth) {
  Address(f, depth);
  uint32_t offset = c_.Percent(80) ? c_.Below(64) : static_cast<uint32_t>(c_.Bits(2));
  struct Op {
    uint8_t code;
    uint32_t max_align;
  };
  static constexpr Op kI32Loads[] = {{0x28, 2}, {0x2c, 0}, {0x2d, 0}, {0x2e, 1}, {0x2f, 1}};
  static constexpr Op kI64Loads[] = {{0x29, 3}, {0x30, 0}, {0x31, 0}, {0x32, 1}, {0x33, 1}, {0x34, 2}, {0x35, 2}};
  Op op{};
  switch (t) {
    case T::kI32: op = kI32Loads[c_.Below(std::size(kI32Loads))]; break;
    case T::kI64: op = kI64Loads[c_.Below(std::size(kI64Loads))]; break;
    case T::kF32: op = {0x2a, 2}; break;
    case T::kF64: op = {0x2b, 3}; break;
  }
  f.code.Mem(op.code, c_.Below(op.max_align + 1), offset);
}

void Generator::Store(Func& f, int depth) {
  struct Op {
    uint8_t code;
    T value;
    uint32_t max_align;
  };
  static constexpr Op kStores[] = {{0x36, T::kI32, 2}, {0x37, T::kI64, 3}, {0x38, T::kF32, 2}, {0x39, T::kF64, 3},
                                   {0x3a, T::kI32, 0}, {0x3b, T::kI32, 1}, {0x3c, T::kI64, 0}, {0x3d, T::kI64, 1},
                                   {0x3e, T::kI64, 2}};
  Op op = kStores[c_.Below(std::size(kStores))];
  Address(f, depth);
  Expr(f, op.value, depth);
  uint32_t offset = c_.Percent(80) ? c_.Below(64) : static_cast<uint32_t>(c_.Bits(2));
  f.code.Mem(op.code, c_.Below(op.max_align + 1), offset);
}

// A comparison (or eqz) of any type: an i32.
void Generator::Compare(Func& f, int depth) {
  T t = kAllTypes[c_.Below(4)];
  Expr(f, t, depth);
  switch (t) {
    case T::kI32:
      if (c_.Percent(20)) {
        f.code.Byte(0x45);  // i32.eqz
        return;
      }
      Expr(f, t, depth);
      f.code.Byte(static_cast<uint8_t>(0x46 + c_.Below(10)));
      return;
    case T::kI64:
      if (c_.Percent(20)) {
        f.code.Byte(0x50);  // i64.eqz
        return;
      }
      Expr(f, t, depth);
      f.code.Byte(static_cast<uint8_t>(0x51 + c_.Below(10)));
      return;
    case T::kF32:
      Expr(f, t, depth);
      f.code.Byte(static_cast<uint8_t>(0x5b + c_.Below(6)));
      return;
    case T::kF64:
      Expr(f, t, depth);
      f.code.Byte(static_cast<uint8_t>(0x61 + c_.Below(6)));
      return;
  }
}

// A value of type t made from a value of another type.
void Generator::Conversion(Func& f, T t, int depth) {
  struct Op {
    T from;
    uint8_t prefix;  // 0xfc for the saturating truncations
    uint8_t code;
    bool canonicalize;
  };
  static constexpr Op kToI32[] = {{T::kI64, 0, 0xa7, false},    {T::kF32, 0, 0xa8, false}, {T::kF32, 0, 0xa9, false},
                                  {T::kF64, 0, 0xaa, false},    {T::kF64, 0, 0xab, false}, {T::kF32, 0, 0xbc, false},
                                  {T::kF32, 0xfc, 0, false},    {T::kF32, 0xfc, 1, false}, {T::kF64, 0xfc, 2, false},
                                  {T::kF64, 0xfc, 3, false},    {T::kI32, 0, 0xc0, false}, {T::kI32, 0, 0xc1, false}};
  static constexpr Op kToI64[] = {{T::kI32, 0, 0xac, false},    {T::kI32, 0, 0xad, false}, {T::kF32, 0, 0xae, false},
                                  {T::kF32, 0, 0xaf, false},    {T::kF64, 0, 0xb0, false}, {T::kF64, 0, 0xb1, false},
                                  {T::kF64, 0, 0xbd, false},    {T::kF32, 0xfc, 4, false}, {T::kF32, 0xfc, 5, false},
                                  {T::kF64, 0xfc, 6, false},    {T::kF64, 0xfc, 7, false}, {T::kI64, 0, 0xc2, false},
                                  {T::kI64, 0, 0xc3, false},    {T::kI64, 0, 0xc4, false}};
  static constexpr Op kToF32[] = {{T::kI32, 0, 0xb2, false}, {T::kI32, 0, 0xb3, false}, {T::kI64, 0, 0xb4, false},
                                  {T::kI64, 0, 0xb5, false}, {T::kF64, 0, 0xb6, true},  {T::kI32, 0, 0xbe, false}};
  static constexpr Op kToF64[] = {{T::kI32, 0, 0xb7, false}, {T::kI32, 0, 0xb8, false}, {T::kI64, 0, 0xb9, false},
                                  {T::kI64, 0, 0xba, false}, {T::kF32, 0, 0xbb, true},  {T::kI64, 0, 0xbf, false}};
  Op op{};
  switch (t) {
    case T::kI32: op = kToI32[c_.Below(std::size(kToI32))]; break;
    case T::kI64: op = kToI64[c_.Below(std::size(kToI64))]; break;
    case T::kF32: op = kToF32[c_.Below(std::size(kToF32))]; break;
    case T::kF64: op = kToF64[c_.Below(std::size(kToF64))]; break;
  }
  Expr(f, op.from, depth);
  if (op.prefix != 0) {
    f.code.Byte(op.prefix).U32(op.code);
  } else {
    f.code.Byte(op.code);
  }
  if (op.canonicalize) Canonicalize(f, t);
}

void Generator::Args(Func& f, const Sig& sig, int depth) {
  for (T p : sig.params) Expr(f, p, depth);
}

void Generator::Expr(Func& f, T t, int depth) {
  if (depth <= 0 || f.code.size() > kMaxFunctionBytes || c_.Percent(kLeafPercent)) return Leaf(f, t);
  int d = depth - 1;
  bool is_int = t == T::kI32 || t == T::kI64;
  switch (c_.Below(16)) {
    case 0:
    case 1: return Leaf(f, t);
    case 2:
      if (is_int) return IntBinary(f, t, d);
      return FloatBinary(f, t, d);
    case 3:
      if (is_int) {
        Expr(f, t, d);
        f.code.Byte(static_cast<uint8_t>((t == T::kI32 ? 0x67 : 0x79) + c_.Below(3)));  // clz ctz popcnt
        return;
      } else {
        Expr(f, t, d);
        // abs neg ceil floor trunc nearest sqrt
        uint32_t op = c_.Below(7);
        f.code.Byte(static_cast<uint8_t>((t == T::kF32 ? 0x8b : 0x99) + op));
        if (op >= 2) Canonicalize(f, t);
        return;
      }
    case 4:
      if (t == T::kI32) return Compare(f, d);
      return Conversion(f, t, d);
    case 5: return Load(f, t, d);
    case 6: return Conversion(f, t, d);
    case 7:  // select
      Expr(f, t, d);
      Expr(f, t, d);
      Expr(f, T::kI32, d);
      f.code.Byte(0x1b);
      return;
    case 8:  // if/else with a result
      Expr(f, T::kI32, d);
      f.code.Byte(0x04).Byte(TypeByte(t));
      f.labels.push_back({t});
      Statements(f, std::min(d, 1));
      Expr(f, t, d);
      f.code.Byte(0x05);
      Statements(f, std::min(d, 1));
      Expr(f, t, d);
      f.code.Byte(0x0b);
      f.labels.pop_back();
      return;
    case 9:  // block: first value if the condition holds, else the second
      f.code.Byte(0x02).Byte(TypeByte(t));
      f.labels.push_back({t});
      Statements(f, std::min(d, 1));
      Expr(f, t, d);
      Expr(f, T::kI32, d);
      f.code.Byte(0x0d).U32(0).Byte(0x1a);  // br_if 0; drop
      Expr(f, t, d);
      f.code.Byte(0x0b);
      f.labels.pop_back();
      return;
    case 10:
      if (auto fn = FunctionReturning(t)) {
        Args(f, types_[funcs_[*fn - 1] - 1], d);
        f.code.Byte(0x10).U32(*fn);
        return;
      }
      return Leaf(f, t);
    case 11: {  // call_indirect through a type returning t (slot may be null or of another type)
      std::vector<uint32_t> found;
      for (uint32_t i = 0; i < types_.size(); i++) {
        if (types_[i].result == t) found.push_back(i + 1);
      }
      if (found.empty()) return Leaf(f, t);
      uint32_t type = found[c_.Below(static_cast<uint32_t>(found.size()))];
      Args(f, types_[type - 1], d);
      Expr(f, T::kI32, d);
      if (!c_.Percent(10)) f.code.I32(15).Byte(0x71);  // i32.and 15: mostly inside the table
      f.code.Byte(0x11).U32(type).U32(0);
      return;
    }
    case 12:
      if (auto l = LocalOf(f, t)) {
        Expr(f, t, d);
        f.code.Tee(*l);
        return;
      }
      return Leaf(f, t);
    case 13:
      if (t == T::kI32) {
        if (c_.Percent(50)) {
          f.code.Byte(0x3f).Byte(0);  // memory.size
        } else {
          Expr(f, T::kI32, d);
          f.code.I32(3).Byte(0x71).Byte(0x40).Byte(0);  // memory.grow (x & 3)
        }
        return;
      }
      return Leaf(f, t);
    default: return Leaf(f, t);
  }
}

void Generator::Statements(Func& f, int depth) {
  uint32_t n = c_.Below(kMaxStatementsPerBlock + 1);
  for (uint32_t i = 0; i < n && f.code.size() <= kMaxFunctionBytes; i++) Statement(f, depth);
}

void Generator::Statement(Func& f, int depth) {
  int e = std::min(kMaxExprDepth, depth + 2);
  switch (c_.Below(16)) {
    case 0: return;
    case 1: {  // local.set
      uint32_t l = c_.Below(static_cast<uint32_t>(f.locals.size()));
      if (f.locals.empty()) return;
      Expr(f, f.locals[l], e);
      f.code.Set(l);
      return;
    }
    case 2:
      if (!globals_.empty()) {
        uint32_t g = c_.Below(static_cast<uint32_t>(globals_.size()));
        Expr(f, globals_[g], e);
        f.code.GlobalSet(kFirstUserGlobal + g);
      }
      return;
    case 3: return Store(f, e);
    case 4: return ReadModifyWrite(f, e);
    case 5:  // observe
      Expr(f, T::kI64, e);
      f.code.Byte(0x10).U32(kObserveFunc);
      return;
    case 6:  // drop a value of any type
      Expr(f, kAllTypes[c_.Below(4)], e);
      f.code.Byte(0x1a);
      return;
    case 7:
      if (depth <= 0) return;
      Expr(f, T::kI32, e);
      f.code.Byte(0x04).Byte(kVoidBlock);
      f.labels.push_back({});
      Statements(f, depth - 1);
      if (c_.Percent(50)) {
        f.code.Byte(0x05);
        Statements(f, depth - 1);
      }
      f.code.Byte(0x0b);
      f.labels.pop_back();
      return;
    case 8: {  // block with a conditional branch out of it (or an outer void label)
      if (depth <= 0) return;
      f.code.Byte(0x02).Byte(kVoidBlock);
      f.labels.push_back({});
      Statements(f, depth - 1);
      std::vector<uint32_t> void_labels;
      for (uint32_t i = 0; i < f.labels.size(); i++) {
        if (!f.labels[f.labels.size() - 1 - i].type) void_labels.push_back(i);
      }
      Expr(f, T::kI32, e);
      f.code.Byte(0x0d).U32(void_labels[c_.Below(static_cast<uint32_t>(void_labels.size()))]);
      Statements(f, depth - 1);
      f.code.Byte(0x0b);
      f.labels.pop_back();
      return;
    }
    case 9: {  // loop paying fuel per iteration, repeated while a condition holds
      if (depth <= 0) return;
      f.code.Byte(0x03).Byte(kVoidBlock);
      f.labels.push_back({});
      f.code.GlobalGet(kFuelGlobal).Byte(0x45).Byte(0x04).Byte(kVoidBlock).Byte(0x00).Byte(0x0b);
      f.code.GlobalGet(kFuelGlobal).I32(1).Byte(0x6b).GlobalSet(kFuelGlobal);
      Statements(f, depth - 1);
      Expr(f, T::kI32, e);
      f.code.Byte(0x0d).U32(0);
      f.code.Byte(0x0b);
      f.labels.pop_back();
      return;
    }
    case 10: {  // br_table over nested void blocks
      if (depth <= 0) return;
      uint32_t n = 1 + c_.Below(3);
      for (uint32_t i = 0; i < n; i++) {
        f.code.Byte(0x02).Byte(kVoidBlock);
        f.labels.push_back({});
      }
      Expr(f, T::kI32, e);
      uint32_t targets = c_.Below(4);
      f.code.Byte(0x0e).U32(targets);
      for (uint32_t i = 0; i <= targets; i++) f.code.U32(c_.Below(n));  // the last is the default
      for (uint32_t i = 0; i < n; i++) {
        f.code.Byte(0x0b);
        f.labels.pop_back();
        Statements(f, depth - 1);
      }
      return;
    }
    case 11:
      if (auto fn = FunctionReturning(std::nullopt)) {
        Args(f, types_[funcs_[*fn - 1] - 1], e);
        f.code.Byte(0x10).U32(*fn);
      }
      return;
    case 12:  // memory.fill / memory.copy, lengths small, addresses mostly in bounds
      Address(f, e);
      if (c_.Percent(50)) {
        Expr(f, T::kI32, e);
        Expr(f, T::kI32, e);
        f.code.I32(255).Byte(0x71).Byte(0xfc).U32(11).Byte(0);  // memory.fill
      } else {
        Address(f, e);
        Expr(f, T::kI32, e);
        f.code.I32(255).Byte(0x71).Byte(0xfc).U32(10).Byte(0).Byte(0);  // memory.copy
      }
      return;
    case 13:
      if (c_.Percent(5)) f.code.Byte(0x00);  // unreachable, rarely
      return;
    case 14:
      if (c_.Percent(20)) {  // return: pay back the call depth first
        if (f.sig.result) Expr(f, *f.sig.result, e);
        f.code.GlobalGet(kDepthGlobal).I32(1).Byte(0x6b).GlobalSet(kDepthGlobal);
        f.code.Byte(0x0f);
      }
      return;
    default: {
      if (f.locals.empty()) return;
      uint32_t l = c_.Below(static_cast<uint32_t>(f.locals.size()));
      Expr(f, f.locals[l], e);
      f.code.Set(l);
      return;
    }
  }
}

std::vector<uint8_t> Generator::Body(uint32_t index) {
  Func f;
  f.sig = types_[funcs_[index] - 1];
  f.locals = f.sig.params;
  Bytes decl;
  std::vector<std::pair<uint32_t, T>> groups;
  for (T t : kAllTypes) {
    uint32_t n = c_.Below(kMaxLocalsPerType + 1);
    if (n) groups.push_back({n, t});
    for (uint32_t i = 0; i < n; i++) f.locals.push_back(t);
  }
  for (T t : kAllTypes) {  // the scratch locals, one per type
    f.scratch[static_cast<int>(t)] = static_cast<uint32_t>(f.locals.size());
    f.locals.push_back(t);
    groups.push_back({1, t});
  }
  decl.U32(static_cast<uint32_t>(groups.size()));
  for (auto [n, t] : groups) decl.U32(n).Byte(TypeByte(t));
  // Prologue: pay fuel, enforce the call depth.
  Bytes& b = f.code;
  b.GlobalGet(kFuelGlobal).Byte(0x45).Byte(0x04).Byte(kVoidBlock).Byte(0x00).Byte(0x0b);
  b.GlobalGet(kFuelGlobal).I32(1).Byte(0x6b).GlobalSet(kFuelGlobal);
  b.GlobalGet(kDepthGlobal).I32(kRandomModuleMaxCallDepth).Byte(0x4f);  // i32.ge_u
  b.Byte(0x04).Byte(kVoidBlock).Byte(0x00).Byte(0x0b);
  b.GlobalGet(kDepthGlobal).I32(1).Byte(0x6a).GlobalSet(kDepthGlobal);
  // The body proper, in a block so that branches to its end still pay back
  // the depth below.
  b.Byte(0x02).Byte(f.sig.result ? TypeByte(*f.sig.result) : kVoidBlock);
  f.labels.push_back({f.sig.result});
  Statements(f, kMaxStatementDepth);
  if (f.sig.result) Expr(f, *f.sig.result, kMaxExprDepth);
  b.Byte(0x0b);
  f.labels.pop_back();
  b.GlobalGet(kDepthGlobal).I32(1).Byte(0x6b).GlobalSet(kDepthGlobal);
  b.Byte(0x0b);
  Bytes body;
  body.U32(static_cast<uint32_t>(decl.size() + b.size())).Append(decl.bytes()).Append(b.bytes());
  return body.bytes();
}

// Stores every user global at address 0, 8, 16, ...
std::vector<uint8_t> Generator::DumpBody() {
  Bytes b;
  b.U32(0);  // no locals
  for (uint32_t i = 0; i < globals_.size(); i++) {
    b.I32(static_cast<int32_t>(8 * i)).GlobalGet(kFirstUserGlobal + i);
    static constexpr uint8_t kStore[] = {0x36, 0x37, 0x38, 0x39};
    static constexpr uint8_t kAlign[] = {2, 3, 2, 3};
    b.Mem(kStore[static_cast<int>(globals_[i])], kAlign[static_cast<int>(globals_[i])], 0);
  }
  b.Byte(0x0b);
  Bytes body;
  body.U32(static_cast<uint32_t>(b.size())).Append(b.bytes());
  return body.bytes();
}

std::vector<uint8_t> Generator::Module() {
  // Shape first: signatures, functions, globals.
  uint32_t ntypes = 1 + c_.Below(4);
  for (uint32_t i = 0; i < ntypes; i++) {
    Sig s;
    uint32_t np = c_.Below(kMaxParams + 1);
    for (uint32_t p = 0; p < np; p++) s.params.push_back(kAllTypes[c_.Below(4)]);
    if (c_.Below(5) != 0) s.result = kAllTypes[c_.Below(4)];
    types_.push_back(s);
  }
  uint32_t nfuncs = 1 + c_.Below(kRandomModuleMaxFunctions);
  for (uint32_t i = 0; i < nfuncs; i++) funcs_.push_back(1 + c_.Below(ntypes));
  for (T t : kAllTypes) {
    uint32_t n = c_.Below(3);
    for (uint32_t i = 0; i < n; i++) globals_.push_back(t);
  }
  table_size_ = nfuncs + 2;

  Bytes m;
  m.Ops({0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00});
  Bytes types;
  types.U32(ntypes + 2);
  types.Byte(0x60).U32(1).Byte(TypeByte(T::kI64)).U32(0);  // observe
  for (const Sig& s : types_) {
    types.Byte(0x60).U32(static_cast<uint32_t>(s.params.size()));
    for (T p : s.params) types.Byte(TypeByte(p));
    if (s.result) {
      types.U32(1).Byte(TypeByte(*s.result));
    } else {
      types.U32(0);
    }
  }
  const uint32_t dump_type = ntypes + 1;
  types.Byte(0x60).U32(0).U32(0);
  m.Section(1, types);

  Bytes imports;
  imports.U32(1).Name("env").Name("observe").Byte(0x00).U32(kObserveType);
  m.Section(2, imports);

  Bytes functions;
  functions.U32(nfuncs + 1);
  for (uint32_t t : funcs_) functions.U32(t);
  functions.U32(dump_type);
  m.Section(3, functions);

  Bytes table;
  table.U32(1).Byte(0x70).Byte(0x00).U32(table_size_);  // funcref, min only
  m.Section(4, table);

  Bytes memory;
  uint32_t max_pages = c_.Below(5);  // 0: no maximum
  if (max_pages == 0) {
    memory.U32(1).Byte(0x00).U32(1);
  } else {
    memory.U32(1).Byte(0x01).U32(1).U32(max_pages);
  }
  m.Section(5, memory);

  Bytes globals;
  globals.U32(kFirstUserGlobal + static_cast<uint32_t>(globals_.size()));
  globals.Byte(TypeByte(T::kI32)).Byte(0x01).I32(kRandomModuleFuel).Byte(0x0b);
  globals.Byte(TypeByte(T::kI32)).Byte(0x01).I32(0).Byte(0x0b);
  for (T t : globals_) {
    globals.Byte(TypeByte(t)).Byte(0x01);
    switch (t) {
      case T::kI32: globals.I32(static_cast<int32_t>(c_.Bits(4))); break;
      case T::kI64: globals.I64(c_.Bits(8)); break;
      case T::kF32: globals.F32(static_cast<uint32_t>(c_.Bits(4))); break;
      case T::kF64: globals.F64(c_.Bits(8)); break;
    }
    globals.Byte(0x0b);
  }
  m.Section(6, globals);

  Bytes exports;
  exports.U32(nfuncs + 2);
  for (uint32_t i = 0; i < nfuncs; i++) exports.Name("f" + std::to_string(i)).Byte(0x00).U32(1 + i);
  exports.Name("dump").Byte(0x00).U32(1 + nfuncs);
  exports.Name("memory").Byte(0x02).U32(0);
  m.Section(7, exports);

  // Elements: table[1..] = a shuffle of the functions (slot 0 and the last
  // stay null).
  std::vector<uint32_t> order(nfuncs);
  for (uint32_t i = 0; i < nfuncs; i++) order[i] = 1 + i;
  for (uint32_t i = nfuncs; i > 1; i--) std::swap(order[i - 1], order[c_.Below(i)]);
  Bytes elements;
  elements.U32(1).U32(0).I32(1).Byte(0x0b).U32(nfuncs);
  for (uint32_t f : order) elements.U32(f);
  m.Section(9, elements);

  // Data count is not needed (memory.copy/fill only); bodies next.
  std::vector<std::vector<uint8_t>> bodies;
  for (uint32_t i = 0; i < nfuncs; i++) bodies.push_back(Body(i));
  bodies.push_back(DumpBody());
  Bytes code;
  code.U32(static_cast<uint32_t>(bodies.size()));
  for (const auto& body : bodies) code.Append(body);
  m.Section(10, code);

  Bytes data;
  uint32_t ndata = c_.Below(kMaxDataBytes + 1);
  data.U32(1).U32(0).I32(static_cast<int32_t>(c_.Below(65536 - kMaxDataBytes))).Byte(0x0b).U32(ndata);
  for (uint32_t i = 0; i < ndata; i++) data.Byte(c_.Byte());
  m.Section(11, data);
  return m.bytes();
}

}  // namespace

std::vector<uint8_t> RandomModule(std::span<const uint8_t> entropy) { return Generator(entropy).Module(); }

std::vector<uint8_t> EntropyFromSeed(uint64_t seed, size_t bytes) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> out(bytes);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

}  // namespace wow::wasm::testing
