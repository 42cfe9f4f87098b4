#include "wasm/testing/module_generator.h"

#include <algorithm>
#include <bit>
#include <random>
#include <string_view>

#include "wasm/testing/wasm_bytes.h"

namespace wow::wasm::testing {
namespace {

// Opcodes and encodings used below (Wasm 1.0 binary format).
enum : uint8_t {
  kBlock = 0x02,
  kLoop = 0x03,
  kIf = 0x04,
  kElse = 0x05,
  kEnd = 0x0b,
  kBr = 0x0c,
  kBrIf = 0x0d,
  kCall = 0x10,
  kCallIndirect = 0x11,
  kDrop = 0x1a,
  kSelect = 0x1b,
  kLocalGet = 0x20,
  kLocalSet = 0x21,
  kLocalTee = 0x22,
  kI32Load = 0x28,
  kI32Load8U = 0x2d,
  kI32Store = 0x36,
  kI32Store8 = 0x3a,
  kI32Const = 0x41,
  kI64Const = 0x42,
  kI32Eqz = 0x45,
  kI32LtU = 0x49,
  kI32GeU = 0x4f,
  kI64Eqz = 0x50,
  kI64LtU = 0x54,
  kI32Add = 0x6a,
  kI32Sub = 0x6b,
  kI64Add = 0x7c,
  kI64Sub = 0x7d,
  kI64Mul = 0x7e,
  kI64DivU = 0x80,
  kI64RemU = 0x82,
  kI64And = 0x83,
  kI64Xor = 0x85,
  kI64ShrS = 0x87,
  kI64ShrU = 0x88,
  kI64Rotl = 0x89,
  kI32WrapI64 = 0xa7,
  kI64ExtendI32U = 0xad,
  kVoid = 0x40,
  kTypeI32 = 0x7f,
  kTypeI64 = 0x7e,
};

constexpr uint64_t kSumMask = (uint64_t{1} << 53) - 1;
// Type indices: 0 = fd_read/fd_write, 1 = _start, 2 = generated functions.
constexpr uint32_t kGeneratedType = 2;
// Function indices: the two imports, then _start, then the generated ones.
constexpr uint32_t kFirstGenerated = 3;
// Memory layout of _start: iovec at 0, result count at 8, input from 1024,
// output built backwards from kOutputEnd.
constexpr int32_t kInputAt = 1024;
constexpr int32_t kInputMax = 60000;
constexpr int32_t kOutputEnd = 65000;


// One step of a generated function, on its locals a (1) and b (2).
struct Step {
  enum Kind : uint8_t {
    kMulAdd,      // a = a * c + d
    kXorShift,    // a ^= a >>u s
    kRotateXor,   // a = rotl(a, s) ^ b
    kBranch,      // b += (a & 1) ? a * c : a ^ c
    kSelectMin,   // b -= a <u c ? a : c
    kAddShifted,  // a += b >>s s
    kLoopMulAdd,  // s times: a = a * c + b
    kNumKinds
  } kind;
  uint64_t c = 0;
  uint64_t d = 0;
  uint32_t s = 0;
};

struct Function {
  uint64_t b0 = 0;
  std::vector<Step> steps;
};

struct Program {
  uint64_t sum0 = 0;
  std::vector<Function> functions;
  std::vector<std::vector<uint8_t>> bodies;  // encoded, with their locals
};

constexpr uint32_t kX = 0, kA = 1, kB = 2, kCounter = 3;

void EncodeStep(const Step& st, Bytes& f) {
  switch (st.kind) {
    case Step::kMulAdd: f.Get(kA).I64(st.c).Byte(kI64Mul).I64(st.d).Byte(kI64Add).Set(kA); break;
    case Step::kXorShift: f.Get(kA).Get(kA).I64(st.s).Byte(kI64ShrU).Byte(kI64Xor).Set(kA); break;
    case Step::kRotateXor: f.Get(kA).I64(st.s).Byte(kI64Rotl).Get(kB).Byte(kI64Xor).Set(kA); break;
    case Step::kBranch:
      f.Get(kB).Get(kA).I64(1).Byte(kI64And).Byte(kI32WrapI64).Byte(kIf).Byte(kTypeI64);
      f.Get(kA).I64(st.c).Byte(kI64Mul).Byte(kElse).Get(kA).I64(st.c).Byte(kI64Xor).Byte(kEnd);
      f.Byte(kI64Add).Set(kB);
      break;
    case Step::kSelectMin:
      f.Get(kB).Get(kA).I64(st.c).Get(kA).I64(st.c).Byte(kI64LtU).Byte(kSelect).Byte(kI64Sub).Set(kB);
      break;
    case Step::kAddShifted: f.Get(kA).Get(kB).I64(st.s).Byte(kI64ShrS).Byte(kI64Add).Set(kA); break;
    case Step::kLoopMulAdd:
      f.I32(static_cast<int32_t>(st.s)).Set(kCounter).Byte(kLoop).Byte(kVoid);
      f.Get(kA).I64(st.c).Byte(kI64Mul).Get(kB).Byte(kI64Add).Set(kA);
      f.Get(kCounter).I32(1).Byte(kI32Sub).Tee(kCounter).Byte(kBrIf).U32(0).Byte(kEnd);
      break;
    case Step::kNumKinds: break;
  }
}

std::vector<uint8_t> EncodeFunction(const Function& fn) {
  Bytes f;
  f.U32(2).U32(2).Byte(kTypeI64).U32(1).Byte(kTypeI32);  // locals: a, b: i64; counter: i32
  f.Get(kX).Set(kA).I64(fn.b0).Set(kB);
  for (const Step& st : fn.steps) EncodeStep(st, f);
  f.Get(kA).Get(kB).Byte(kI64Add).Byte(kEnd);
  return f.bytes();
}

uint64_t Evaluate(const Function& fn, uint64_t x) {
  uint64_t a = x, b = fn.b0;
  for (const Step& st : fn.steps) {
    switch (st.kind) {
      case Step::kMulAdd: a = a * st.c + st.d; break;
      case Step::kXorShift: a ^= a >> st.s; break;
      case Step::kRotateXor: a = std::rotl(a, static_cast<int>(st.s)) ^ b; break;
      case Step::kBranch: b += (a & 1) ? a * st.c : a ^ st.c; break;
      case Step::kSelectMin: b -= a < st.c ? a : st.c; break;
      case Step::kAddShifted: a += static_cast<uint64_t>(static_cast<int64_t>(b) >> st.s); break;
      case Step::kLoopMulAdd:
        for (uint32_t i = 0; i < st.s; ++i) a = a * st.c + b;
        break;
      case Step::kNumKinds: break;
    }
  }
  return a + b;
}

// The program for (approx_bytes, seed): functions are added until the
// module would reach approx_bytes. mt19937_64's output is fixed by the
// standard, so the program is the same everywhere.
Program MakeProgram(size_t approx_bytes, uint32_t seed) {
  std::mt19937_64 rng(seed);
  Program p;
  p.sum0 = rng();
  // Sections, imports, _start and the table: ~420 bytes. Each function adds
  // its body plus ~6 bytes (size, type, element, LEB growth).
  size_t total = 420;
  do {
    Function fn;
    fn.b0 = rng();
    size_t steps = 8 + rng() % 41;
    for (size_t i = 0; i < steps; ++i) {
      Step st;
      st.kind = static_cast<Step::Kind>(rng() % Step::kNumKinds);
      st.c = rng();
      // Small constants too, as real code has them.
      if (rng() % 4 == 0) st.c &= 0xffff;
      if (st.kind == Step::kMulAdd) st.c |= 1;
      st.d = rng();
      st.s = st.kind == Step::kLoopMulAdd ? 2 + rng() % 4 : 1 + rng() % 63;
      fn.steps.push_back(st);
    }
    p.bodies.push_back(EncodeFunction(fn));
    total += p.bodies.back().size() + 6;
    p.functions.push_back(std::move(fn));
  } while (total < approx_bytes);
  return p;
}

std::vector<uint8_t> EncodeStart(const Program& p) {
  // Locals: 0 total, 1 c, 2 i, 3 found, 4 k, 5 p: i32; 6 n, 7 sum: i64.
  constexpr uint32_t kTotal = 0, kC = 1, kI = 2, kFound = 3, kK = 4, kP = 5, kN = 6, kSum = 7;
  Bytes f;
  f.U32(2).U32(6).Byte(kTypeI32).U32(2).Byte(kTypeI64);
  // Read stdin until EOF, an error or a full buffer.
  f.Byte(kBlock).Byte(kVoid).Byte(kLoop).Byte(kVoid);
  f.I32(0).Get(kTotal).I32(kInputAt).Byte(kI32Add).Mem(kI32Store, 2, 0);
  f.I32(4).I32(kInputMax).Get(kTotal).Byte(kI32Sub).Mem(kI32Store, 2, 0);
  f.I32(0).I32(0).I32(1).I32(8).Byte(kCall).U32(0).Byte(kBrIf).U32(1);
  f.I32(8).Mem(kI32Load, 2, 0).Tee(kC).Byte(kI32Eqz).Byte(kBrIf).U32(1);
  f.Get(kTotal).Get(kC).Byte(kI32Add).Tee(kTotal).I32(kInputMax).Byte(kI32LtU).Byte(kBrIf).U32(0);
  f.Byte(kEnd).Byte(kEnd);
  // n = the first run of decimal digits.
  f.Byte(kBlock).Byte(kVoid).Byte(kLoop).Byte(kVoid);
  f.Get(kI).Get(kTotal).Byte(kI32GeU).Byte(kBrIf).U32(1);
  f.Get(kI).Mem(kI32Load8U, 0, kInputAt).I32('0').Byte(kI32Sub).Tee(kC).I32(10).Byte(kI32LtU);
  f.Byte(kIf).Byte(kVoid);
  f.Get(kN).I64(10).Byte(kI64Mul).Get(kC).Byte(kI64ExtendI32U).Byte(kI64Add).Set(kN).I32(1).Set(kFound);
  f.Byte(kElse).Get(kFound).Byte(kBrIf).U32(2).Byte(kEnd);
  f.Get(kI).I32(1).Byte(kI32Add).Set(kI).Byte(kBr).U32(0);
  f.Byte(kEnd).Byte(kEnd);
  // sum = sum * 31 ^ f_k(n + k) over every generated function, by table.
  f.I64(p.sum0).Set(kSum);
  f.Byte(kLoop).Byte(kVoid);
  f.Get(kSum).I64(31).Byte(kI64Mul).Get(kN).Get(kK).Byte(kI64ExtendI32U).Byte(kI64Add).Get(kK);
  f.Byte(kCallIndirect).U32(kGeneratedType).U32(0).Byte(kI64Xor).Set(kSum);
  f.Get(kK).I32(1).Byte(kI32Add).Tee(kK).I32(static_cast<int32_t>(p.functions.size())).Byte(kI32LtU);
  f.Byte(kBrIf).U32(0).Byte(kEnd);
  f.Get(kSum).I64(kSumMask).Byte(kI64And).Set(kSum);
  // {"sum":<decimal>}\n, built backwards from kOutputEnd.
  f.I32(kOutputEnd - 2).I32('}').Mem(kI32Store8, 0, 0);
  f.I32(kOutputEnd - 1).I32('\n').Mem(kI32Store8, 0, 0);
  f.I32(kOutputEnd - 2).Set(kP);
  f.Byte(kLoop).Byte(kVoid);
  f.Get(kP).I32(1).Byte(kI32Sub).Tee(kP);
  f.Get(kSum).I64(10).Byte(kI64RemU).Byte(kI32WrapI64).I32('0').Byte(kI32Add).Mem(kI32Store8, 0, 0);
  f.Get(kSum).I64(10).Byte(kI64DivU).Tee(kSum).Byte(kI64Eqz).Byte(kI32Eqz).Byte(kBrIf).U32(0);
  f.Byte(kEnd);
  constexpr std::string_view kPrefix = "{\"sum\":";
  f.Get(kP).I32(static_cast<int32_t>(kPrefix.size())).Byte(kI32Sub).Set(kP);
  for (size_t j = 0; j < kPrefix.size(); ++j) {
    f.Get(kP).I32(kPrefix[j]).Mem(kI32Store8, 0, static_cast<uint32_t>(j));
  }
  f.I32(0).Get(kP).Mem(kI32Store, 2, 0);
  f.I32(4).I32(kOutputEnd).Get(kP).Byte(kI32Sub).Mem(kI32Store, 2, 0);
  f.I32(1).I32(0).I32(1).I32(8).Byte(kCall).U32(1).Byte(kDrop);
  f.Byte(kEnd);
  return f.bytes();
}

}  // namespace

std::vector<uint8_t> GenerateWasiModule(size_t approx_bytes, uint32_t seed) {
  Program p = MakeProgram(approx_bytes, seed);
  const auto count = static_cast<uint32_t>(p.functions.size());
  Bytes m;
  m.Ops({0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00});

  Bytes types;
  types.U32(3);
  types.Byte(0x60).U32(4).Ops({kTypeI32, kTypeI32, kTypeI32, kTypeI32}).U32(1).Byte(kTypeI32);
  types.Byte(0x60).U32(0).U32(0);
  types.Byte(0x60).U32(1).Byte(kTypeI64).U32(1).Byte(kTypeI64);
  m.Section(1, types);

  Bytes imports;
  imports.U32(2);
  imports.Name("wasi_snapshot_preview1").Name("fd_read").Byte(0x00).U32(0);
  imports.Name("wasi_snapshot_preview1").Name("fd_write").Byte(0x00).U32(0);
  m.Section(2, imports);

  Bytes functions;
  functions.U32(count + 1).U32(1);
  for (uint32_t i = 0; i < count; ++i) functions.U32(kGeneratedType);
  m.Section(3, functions);

  Bytes table;
  table.U32(1).Byte(0x70).Byte(0x00).U32(count);  // funcref, min = count
  m.Section(4, table);

  Bytes memory;
  memory.U32(1).Byte(0x00).U32(1);  // one page
  m.Section(5, memory);

  Bytes exports;
  exports.U32(2);
  exports.Name("_start").Byte(0x00).U32(2);
  exports.Name("memory").Byte(0x02).U32(0);
  m.Section(7, exports);

  Bytes elements;
  elements.U32(1).Byte(0x00).I32(0).Byte(kEnd).U32(count);
  for (uint32_t i = 0; i < count; ++i) elements.U32(kFirstGenerated + i);
  m.Section(9, elements);

  Bytes code;
  code.U32(count + 1);
  std::vector<uint8_t> start = EncodeStart(p);
  code.U32(static_cast<uint32_t>(start.size())).Append(start);
  for (const auto& body : p.bodies) code.U32(static_cast<uint32_t>(body.size())).Append(body);
  m.Section(10, code);
  return m.bytes();
}

uint64_t GeneratedModuleSum(size_t approx_bytes, uint32_t seed, uint64_t n) {
  Program p = MakeProgram(approx_bytes, seed);
  uint64_t sum = p.sum0;
  for (size_t k = 0; k < p.functions.size(); ++k) sum = sum * 31 ^ Evaluate(p.functions[k], n + k);
  return sum & kSumMask;
}

std::vector<uint8_t> NestedBlocksModule(uint32_t depth) {
  Bytes m;
  m.Ops({0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00});
  Bytes types;
  types.U32(1).Byte(0x60).U32(0).U32(1).Byte(kTypeI32);
  m.Section(1, types);
  Bytes functions;
  functions.U32(1).U32(0);
  m.Section(3, functions);
  Bytes exports;
  exports.U32(1).Name("answer").Byte(0x00).U32(0);
  m.Section(7, exports);
  Bytes body;
  body.U32(0);  // no locals
  for (uint32_t i = 0; i < depth; ++i) body.Ops({kBlock, kVoid});
  for (uint32_t i = 0; i < depth; ++i) body.Byte(kEnd);
  body.I32(42).Byte(kEnd);
  Bytes code;
  code.U32(1).U32(static_cast<uint32_t>(body.size())).Append(body.bytes());
  m.Section(10, code);
  return m.bytes();
}

std::string NestedBlocksText(uint32_t depth, bool folded) {
  std::string text = "(module\n  (func (export \"answer\") (result i32)\n";
  text.reserve(text.size() + size_t{depth} * 10 + 40);
  for (uint32_t i = 0; i < depth; ++i) text += folded ? "(block " : "block ";
  for (uint32_t i = 0; i < depth; ++i) text += folded ? ")" : "end ";
  text += "\n    i32.const 42))\n";
  return text;
}

}  // namespace wow::wasm::testing
