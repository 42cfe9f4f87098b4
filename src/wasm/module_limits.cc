#include "wasm/module_limits.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace wow::wasm {
namespace {

// A bounds-checked cursor over bytes. Every read returns false instead of
// reading past the end, and a failed read leaves the cursor at the end, so
// callers can simply stop.
class Reader {
 public:
  Reader(const uint8_t* begin, const uint8_t* end) : p_(begin), end_(end) {}

  size_t left() const { return static_cast<size_t>(end_ - p_); }
  bool at_end() const { return p_ == end_; }

  bool Byte(uint8_t& out) {
    if (p_ == end_) return false;
    out = *p_++;
    return true;
  }
  bool Skip(uint64_t n) {
    if (n > left()) return Fail();
    p_ += n;
    return true;
  }
  // Unsigned LEB128 of at most `bits` bits: overlong encodings and values that
  // do not fit are failures, as the spec says.
  bool Uleb(uint64_t& out, unsigned bits) {
    out = 0;
    for (unsigned shift = 0;; shift += 7) {
      uint8_t b;
      if (!Byte(b)) return Fail();
      if (shift + 7 > bits) {
        // The last byte allowed: only the bits that still fit may be set.
        if (b & 0x80) return Fail();
        if ((b >> (bits - shift)) != 0) return Fail();
        out |= static_cast<uint64_t>(b) << shift;
        return true;
      }
      out |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
  }
  bool U32(uint32_t& out) {
    uint64_t v;
    if (!Uleb(v, 32)) return false;
    out = static_cast<uint32_t>(v);
    return true;
  }
  // Skips a signed LEB128 of at most `max_bytes` bytes (its value does not
  // matter here; the validator checks it).
  bool SkipSleb(unsigned max_bytes) {
    for (unsigned i = 0; i < max_bytes; ++i) {
      uint8_t b;
      if (!Byte(b)) return Fail();
      if ((b & 0x80) == 0) return true;
    }
    return Fail();
  }
  bool SkipU32() {
    uint32_t ignored;
    return U32(ignored);
  }
  // A name or byte vector: length, then that many bytes.
  bool SkipVector() {
    uint32_t n;
    return U32(n) && Skip(n);
  }
  // The next `n` bytes as their own reader, or all that is left when fewer
  // are (then false: the frame is malformed, but what there is still gets
  // checked).
  bool Sub(uint64_t n, Reader& out) {
    const bool whole = n <= left();
    const size_t take = whole ? static_cast<size_t>(n) : left();
    out = Reader(p_, p_ + take);
    p_ += take;
    return whole;
  }

 private:
  bool Fail() {
    p_ = end_;
    return false;
  }

  const uint8_t* p_;
  const uint8_t* end_;
};

enum SectionId : uint8_t {
  kCustom = 0,
  kType = 1,
  kImport = 2,
  kFunction = 3,
  kTable = 4,
  kMemory = 5,
  kGlobal = 6,
  kExport = 7,
  kStart = 8,
  kElem = 9,
  kCode = 10,
  kData = 11,
  kDataCount = 12,
};

// How walking one expression (a function body or a constant expression) ended.
enum class Walked {
  kEnd,          // its final `end` was read
  kUndecodable,  // malformed, or an opcode this pass does not know
};

// Walks an expression up to and including its final `end`, counting nesting.
// Knows every opcode the engines accept (MVP, sign extension, saturating
// conversions, bulk memory, reference types, multi-value, and the exception
// and tail-call opcodes); SIMD (0xfd) and threads (0xfe) are off in
// SupportedFeatures, so wabt refuses them and so may this pass.
Walked WalkExpr(Reader& r, uint32_t& max_depth) {
  uint32_t depth = 0;  // blocks open, not counting the expression itself
  for (;;) {
    uint8_t op;
    if (!r.Byte(op)) return Walked::kUndecodable;
    bool ok = true;
    switch (op) {
      case 0x02:             // block
      case 0x03:             // loop
      case 0x04:             // if
      case 0x06:             // try
        ok = r.SkipSleb(5);  // block type: s33
        ++depth;
        max_depth = std::max(max_depth, depth);
        break;
      case 0x0b:  // end
        if (depth == 0) return Walked::kEnd;
        --depth;
        break;
      case 0x18:  // delegate: ends a try
        if (depth == 0) return Walked::kUndecodable;
        --depth;
        ok = r.SkipU32();
        break;
      case 0x00:  // unreachable
      case 0x01:  // nop
      case 0x05:  // else
      case 0x0f:  // return
      case 0x19:  // catch_all
      case 0x1a:  // drop
      case 0x1b:  // select
      case 0xd1:  // ref.is_null
        break;
      case 0x07:  // catch tag
      case 0x08:  // throw tag
      case 0x09:  // rethrow depth
      case 0x0c:  // br
      case 0x0d:  // br_if
      case 0x10:  // call
      case 0x12:  // return_call
      case 0x20:  // local.get
      case 0x21:  // local.set
      case 0x22:  // local.tee
      case 0x23:  // global.get
      case 0x24:  // global.set
      case 0x25:  // table.get
      case 0x26:  // table.set
      case 0x3f:  // memory.size
      case 0x40:  // memory.grow
      case 0xd2:  // ref.func
        ok = r.SkipU32();
        break;
      case 0x0e: {  // br_table: vec(label) label
        uint32_t n;
        ok = r.U32(n) && n < r.left();  // each label takes a byte at least
        for (uint64_t i = 0; ok && i <= n; ++i) ok = r.SkipU32();
        break;
      }
      case 0x11:  // call_indirect type table
      case 0x13:  // return_call_indirect type table
        ok = r.SkipU32() && r.SkipU32();
        break;
      case 0x1c: {  // select t*
        uint32_t n;
        ok = r.U32(n) && r.Skip(n);  // one byte per value type
        break;
      }
      case 0x41: ok = r.SkipSleb(5); break;   // i32.const
      case 0x42: ok = r.SkipSleb(10); break;  // i64.const
      case 0x43: ok = r.Skip(4); break;       // f32.const
      case 0x44: ok = r.Skip(8); break;       // f64.const
      case 0xd0: ok = r.SkipSleb(5); break;   // ref.null heap type
      case 0xfc: {                            // saturating conversions, bulk memory, tables
        uint32_t sub;
        if (!r.U32(sub)) return Walked::kUndecodable;
        if (sub <= 7) break;  // *.trunc_sat_*
        if (sub == 8 || sub == 10 || sub == 12 || sub == 14) {
          ok = r.SkipU32() && r.SkipU32();  // memory.init, memory.copy, table.init, table.copy
        } else if (sub <= 17) {
          ok = r.SkipU32();  // data.drop, memory.fill, elem.drop, table.grow/size/fill
        } else {
          return Walked::kUndecodable;
        }
        break;
      }
      default:
        if (op >= 0x28 && op <= 0x3e) {  // loads and stores: memarg
          uint32_t align;
          uint64_t offset;
          ok = r.U32(align) && (!(align & 0x40) || r.SkipU32()) && r.Uleb(offset, 64);
        } else if (op < 0x45 || op > 0xc4) {  // 0x45..0xc4: numeric, no immediates
          return Walked::kUndecodable;
        }
        break;
    }
    if (!ok) return Walked::kUndecodable;
  }
}

// One pass over a module. With limits_ null it only measures.
class Scanner {
 public:
  explicit Scanner(const ModuleLimits* limits) : limits_(limits) {}

  Status Run(std::span<const uint8_t> wasm) {
    Reader r(wasm.data(), wasm.data() + wasm.size());
    static constexpr uint8_t kHeader[8] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
    if (wasm.size() < sizeof(kHeader) || std::memcmp(wasm.data(), kHeader, sizeof(kHeader)) != 0) {
      return Status::Ok();  // not a module this pass can read: the reader's to report
    }
    r.Skip(sizeof(kHeader));
    bool complete = true;
    while (!r.at_end()) {
      uint8_t id;
      uint32_t size;
      Reader section(nullptr, nullptr);
      if (!r.Byte(id) || !r.U32(size)) return status_;  // unframed: stop
      bool decoded = r.Sub(size, section);
      switch (id) {
        case kType: decoded = Types(section) && decoded; break;
        case kImport: decoded = Imports(section) && decoded; break;
        case kFunction: decoded = Functions(section) && decoded; break;
        case kTable: decoded = Tables(section) && decoded; break;
        case kGlobal: decoded = Globals(section) && decoded; break;
        case kExport: decoded = Exports(section) && decoded; break;
        case kElem: decoded = Elems(section) && decoded; break;
        case kCode: decoded = Code(section) && decoded; break;
        case kData: decoded = Datas(section) && decoded; break;
        case kDataCount: {
          uint32_t n;
          decoded = section.U32(n) && Count(n, limits_ ? limits_->max_data_segments : 0, "data segments") && decoded;
          break;
        }
        default: break;  // custom, memory, start, tag, unknown: nothing to bound here
      }
      if (!status_.ok()) return status_;
      complete = complete && decoded;
    }
    shape_.fully_decoded = complete;
    return Status::Ok();
  }

  const ModuleShape& shape() const { return shape_; }

 private:
  // Sets status_ when `value` exceeds `cap`; false when it did. With no
  // limits everything passes.
  // `describe` is called only then, so passing costs no formatting.
  template <typename Describe>
  bool Within(uint64_t value, uint32_t cap, const Describe& describe) {
    if (limits_ == nullptr || value <= cap) return true;
    status_ = Status::Error(Code::kInvalidModule, Phase::kValidation,
                            fmt::format("{}; at most {} are allowed", describe(), cap));
    return false;
  }
  // A module-wide count, e.g. "the module has 100001 exports".
  bool Count(uint64_t n, uint32_t cap, std::string_view noun) {
    return Within(n, cap, [&] { return fmt::format("the module has {} {}", n, noun); });
  }

  // Each reads its section; false when it could not be decoded to its end
  // (status_ tells whether a limit stopped it).
  bool Types(Reader& r) {
    uint32_t n;
    if (!r.U32(n) || !Count(n, limits_ ? limits_->max_types : 0, "types")) return false;
    for (uint32_t i = 0; i < n; ++i) {
      uint8_t form;
      uint32_t params, results;
      if (!r.Byte(form) || form != 0x60) return false;
      if (!r.U32(params)) return false;
      if (!Within(params, limits_ ? limits_->max_params : 0,
                  [&] { return fmt::format("type {} has {} parameters", i, params); })) {
        return false;
      }
      if (!r.Skip(params) || !r.U32(results)) return false;  // one byte per value type
      if (!Within(results, limits_ ? limits_->max_results : 0,
                  [&] { return fmt::format("type {} has {} results", i, results); })) {
        return false;
      }
      if (!r.Skip(results)) return false;
    }
    return r.at_end();
  }

  bool Limits(Reader& r, uint64_t& initial) {
    uint32_t flags;
    uint64_t max;
    return r.U32(flags) && r.Uleb(initial, 64) && (!(flags & 1) || r.Uleb(max, 64));
  }

  bool Table(Reader& r) {
    uint8_t ref_type;
    uint64_t initial;
    if (!r.Byte(ref_type) || !Limits(r, initial)) return false;
    const uint64_t index = tables_++;
    return Within(initial, limits_ ? limits_->max_table_elements : 0,
                  [&] { return fmt::format("table {} starts with {} elements", index, initial); });
  }

  bool Imports(Reader& r) {
    uint32_t n;
    if (!r.U32(n) || !Count(n, limits_ ? limits_->max_imports : 0, "imports")) return false;
    for (uint32_t i = 0; i < n; ++i) {
      uint8_t kind;
      if (!r.SkipVector() || !r.SkipVector() || !r.Byte(kind)) return false;
      switch (kind) {
        case 0:  // function: type index
          if (!r.SkipU32()) return false;
          ++shape_.functions;
          ++func_imports_;
          if (!Count(shape_.functions, limits_ ? limits_->max_functions : 0, "functions")) return false;
          break;
        case 1:
          if (!Count(tables_ + 1, limits_ ? limits_->max_tables : 0, "tables") || !Table(r)) return false;
          break;
        case 2: {  // memory
          uint64_t initial;
          if (!Limits(r, initial)) return false;
          break;
        }
        case 3: {  // global: value type, mutability
          uint8_t type, mut;
          if (!r.Byte(type) || !r.Byte(mut)) return false;
          if (!Count(++globals_, limits_ ? limits_->max_globals : 0, "globals")) return false;
          break;
        }
        case 4: {  // tag: attribute, type index
          uint8_t attribute;
          if (!r.Byte(attribute) || !r.SkipU32()) return false;
          break;
        }
        default: return false;
      }
    }
    return r.at_end();
  }

  bool Functions(Reader& r) {
    uint32_t n;
    if (!r.U32(n)) return false;
    shape_.functions += n;
    if (!Count(shape_.functions, limits_ ? limits_->max_functions : 0, "functions") || n > r.left()) return false;
    for (uint32_t i = 0; i < n; ++i) {
      if (!r.SkipU32()) return false;  // type index
    }
    return r.at_end();
  }

  bool Tables(Reader& r) {
    uint32_t n;
    if (!r.U32(n) || !Count(tables_ + n, limits_ ? limits_->max_tables : 0, "tables")) return false;
    for (uint32_t i = 0; i < n; ++i) {
      if (!Table(r)) return false;
    }
    return r.at_end();
  }

  // Where an expression is, for messages: "function 3", "element segment 2".
  struct Where {
    std::string_view what;
    uint64_t index;
  };

  // A constant expression (global initialiser, segment offset or element):
  // one constant instruction and `end`, all that the enabled features allow
  // (extended-const is off). Anything else is refused here, before wabt's
  // reader: it reads an initialiser up to an `end` even past its section and
  // asserts on some such sequences (a `block` in a global's initialiser,
  // ended inside the next section, aborted the process; wow_difftest found
  // it), where its validator would only have refused the module.
  bool ConstExpr(Reader& r, Where where) {
    uint8_t op;
    if (!r.Byte(op)) return false;
    bool ok;
    switch (op) {
      case 0x41: ok = r.SkipSleb(5); break;   // i32.const
      case 0x42: ok = r.SkipSleb(10); break;  // i64.const
      case 0x43: ok = r.Skip(4); break;       // f32.const
      case 0x44: ok = r.Skip(8); break;       // f64.const
      case 0x23:                              // global.get
      case 0xd2:                              // ref.func
        ok = r.SkipU32();
        break;
      case 0xd0: ok = r.SkipSleb(5); break;  // ref.null heap type
      default: return NotConstant(where, op);
    }
    uint8_t end;
    if (!ok || !r.Byte(end)) return false;
    return end == 0x0b || NotConstant(where, end);
  }

  // Always false; sets status_ when checking limits.
  bool NotConstant(Where where, uint8_t op) {
    if (limits_ != nullptr) {
      status_ = Status::Error(
          Code::kInvalidModule, Phase::kValidation,
          fmt::format("{} {} is not a constant expression (opcode {:#04x}): it may hold one i32/i64/f32/f64.const, "
                      "global.get, ref.null or ref.func, then end",
                      where.what, where.index, op));
    }
    return false;
  }

  bool Depth(uint32_t depth, Where where) {
    shape_.max_nesting_depth = std::max(shape_.max_nesting_depth, depth);
    return Within(depth, limits_ ? limits_->max_nesting_depth : 0,
                  [&] { return fmt::format("{} {} nests blocks {} deep", where.what, where.index, depth); });
  }

  bool Globals(Reader& r) {
    uint32_t n;
    if (!r.U32(n) || !Count(globals_ + n, limits_ ? limits_->max_globals : 0, "globals")) return false;
    for (uint32_t i = 0; i < n; ++i) {
      uint8_t type, mut;
      const uint64_t index = globals_++;
      if (!r.Byte(type) || !r.Byte(mut) || !ConstExpr(r, {"the initialiser of global", index})) {
        return false;
      }
    }
    return r.at_end();
  }

  bool Exports(Reader& r) {
    uint32_t n;
    if (!r.U32(n) || !Count(n, limits_ ? limits_->max_exports : 0, "exports")) return false;
    for (uint32_t i = 0; i < n; ++i) {
      uint8_t kind;
      if (!r.SkipVector() || !r.Byte(kind) || !r.SkipU32()) return false;
    }
    return r.at_end();
  }

  bool Elems(Reader& r) {
    uint32_t n;
    if (!r.U32(n) || !Count(n, limits_ ? limits_->max_elem_segments : 0, "element segments")) return false;
    for (uint32_t i = 0; i < n; ++i) {
      const Where where{"element segment", i};
      uint32_t flags;
      if (!r.U32(flags) || flags > 7) return false;
      const bool passive_or_declared = flags & 1;
      const bool explicit_table = flags & 2;
      const bool expressions = flags & 4;
      if (!passive_or_declared) {
        if (explicit_table && !r.SkipU32()) return false;
        if (!ConstExpr(r, where)) return false;
      }
      // Flags 0 and 4 have neither an element kind nor a reference type.
      if (passive_or_declared || explicit_table) {
        uint8_t kind_or_type;
        if (!r.Byte(kind_or_type)) return false;
      }
      uint32_t count;
      if (!r.U32(count)) return false;
      if (!Within(count, limits_ ? limits_->max_table_elements : 0,
                  [&] { return fmt::format("element segment {} has {} elements", i, count); })) {
        return false;
      }
      if (count > r.left()) return false;  // each element takes a byte at least
      for (uint32_t e = 0; e < count; ++e) {
        if (expressions ? !ConstExpr(r, where) : !r.SkipU32()) return false;
      }
    }
    return r.at_end();
  }

  bool Code(Reader& r) {
    uint32_t n;
    if (!r.U32(n) || !Count(func_imports_ + uint64_t{n}, limits_ ? limits_->max_functions : 0, "functions")) {
      return false;
    }
    bool complete = true;
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t index = func_imports_ + i;
      uint32_t size;
      if (!r.U32(size)) return false;
      if (!Within(size, limits_ ? limits_->max_function_body_bytes : 0,
                  [&] { return fmt::format("function {}'s body is {} bytes", index, size); })) {
        return false;
      }
      Reader body(nullptr, nullptr);
      const bool whole = r.Sub(size, body);
      ++shape_.bodies;
      complete = Body(body, index) && whole && complete;
      if (!status_.ok() || !whole) return false;
    }
    return complete && r.at_end();
  }

  // One function body: locals, then its expression. False when it could not
  // be decoded exactly to its size (status_ tells whether a limit did it).
  bool Body(Reader& r, uint64_t index) {
    uint32_t groups;
    if (!r.U32(groups)) return false;
    uint64_t locals = 0;  // below 2^64: fewer than 2^32 groups of fewer than 2^32
    for (uint32_t g = 0; g < groups; ++g) {
      uint32_t count;
      uint8_t type;
      if (!r.U32(count) || !r.Byte(type)) return false;
      locals += count;
    }
    if (!Within(locals, limits_ ? limits_->max_locals : 0,
                [&] { return fmt::format("function {} declares {} locals", index, locals); })) {
      return false;
    }
    uint32_t depth = 0;
    // An undecodable body still reports the depth reached before the bytes
    // it could not read.
    const bool ended = WalkExpr(r, depth) == Walked::kEnd;
    if (!Depth(depth, {"function", index})) return false;
    return ended && r.at_end();
  }

  bool Datas(Reader& r) {
    uint32_t n;
    if (!r.U32(n) || !Count(n, limits_ ? limits_->max_data_segments : 0, "data segments")) return false;
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t flags;
      if (!r.U32(flags) || flags > 2) return false;
      if (flags == 2 && !r.SkipU32()) return false;  // memory index
      if (flags != 1 && !ConstExpr(r, {"the offset of data segment", i})) return false;
      if (!r.SkipVector()) return false;
    }
    return r.at_end();
  }

  const ModuleLimits* limits_;
  ModuleShape shape_;
  Status status_;
  uint64_t func_imports_ = 0;
  uint64_t tables_ = 0;
  uint64_t globals_ = 0;
};

}  // namespace

Status CheckModuleLimits(std::span<const uint8_t> wasm, const ModuleLimits& limits) {
  return Scanner(&limits).Run(wasm);
}

ModuleShape MeasureModule(std::span<const uint8_t> wasm) {
  Scanner scanner(nullptr);
  (void)scanner.Run(wasm);
  return scanner.shape();
}

Status CheckTextLimits(std::string_view text, const ModuleLimits& limits) {
  if (text.size() > limits.max_text_bytes) {
    return Status::Error(
        Code::kInvalidModule, Phase::kLoading,
        fmt::format("the WebAssembly text is {} bytes; at most {} are allowed", text.size(), limits.max_text_bytes));
  }
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  const size_t n = text.size();
  uint64_t parens = 0;  // open parentheses
  uint64_t blocks = 0;  // open unfolded blocks: `block`/`loop`/`if`/`try` not right after "(", until `end`
  uint64_t deepest = 0;
  uint64_t line = 1;
  uint64_t first_line_over = 0;
  bool after_paren = false;
  auto note_depth = [&] {
    const uint64_t depth = parens + blocks;
    deepest = std::max(deepest, depth);
    if (depth > limits.max_text_nesting_depth && first_line_over == 0) first_line_over = line;
  };
  size_t i = 0;
  while (i < n) {
    const char c = text[i];
    const char next = i + 1 < n ? text[i + 1] : '\0';
    if (c == '\n') {
      ++line;
      ++i;
    } else if (is_space(c)) {
      ++i;
    } else if (c == ';' && next == ';') {  // line comment
      while (i < n && text[i] != '\n') ++i;
    } else if (c == '(' && next == ';') {  // block comment, nesting
      uint64_t comments = 1;
      i += 2;
      while (i < n && comments > 0) {
        const char d = text[i];
        const char e = i + 1 < n ? text[i + 1] : '\0';
        if (d == '(' && e == ';') {
          ++comments;
          i += 2;
        } else if (d == ';' && e == ')') {
          --comments;
          i += 2;
        } else {
          if (d == '\n') ++line;
          ++i;
        }
      }
    } else if (c == '(' && next == '@') {
      // Custom annotations are no feature we enable, and wabt 1.0.32's parser throws on some malformed ones (and
      // leaks what it had parsed): refused before it sees them.
      return Status::Error(Code::kInvalidModule, Phase::kLoading,
                           fmt::format("line {}: WebAssembly text annotations \"(@...)\" are not supported", line));
    } else if (c == '(') {
      ++parens;
      note_depth();
      after_paren = true;
      ++i;
    } else if (c == ')') {
      if (parens > 0) --parens;
      after_paren = false;
      ++i;
    } else if (c == '"') {  // string, with backslash escapes
      ++i;
      while (i < n && text[i] != '"') {
        if (text[i] == '\n') ++line;
        i += text[i] == '\\' ? 2 : 1;
      }
      ++i;
      after_paren = false;
    } else {  // a token: keyword, number, $id, ...
      const size_t start = i;
      do {
        ++i;
      } while (i < n && !is_space(text[i]) && text[i] != '(' && text[i] != ')' && text[i] != '"' &&
               !(text[i] == ';' && i + 1 < n && text[i + 1] == ';'));
      const std::string_view token = text.substr(start, i - start);
      if (!after_paren) {
        if (token == "block" || token == "loop" || token == "if" || token == "try") {
          ++blocks;
          note_depth();
        } else if ((token == "end" || token == "delegate") && blocks > 0) {
          --blocks;
        }
      }
      after_paren = false;
    }
  }
  if (first_line_over != 0) {
    return Status::Error(Code::kInvalidModule, Phase::kLoading,
                         fmt::format("the WebAssembly text nests {} deep (parentheses and blocks open at once, "
                                     "first over the limit on line {}); at most {} are allowed",
                                     deepest, first_line_over, limits.max_text_nesting_depth));
  }
  return Status::Ok();
}

}  // namespace wow::wasm
