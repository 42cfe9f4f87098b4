#include "wasm/module_limits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/files.h"
#include "wasm/module_reader.h"
#include "wasm/testing/module_generator.h"

namespace wow::wasm {
namespace {

using Bytes = std::vector<uint8_t>;

void Leb(Bytes& b, uint64_t v) {
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    b.push_back(v != 0 ? (byte | 0x80) : byte);
  } while (v != 0);
}

void Append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

void Section(Bytes& module, uint8_t id, const Bytes& content) {
  module.push_back(id);
  Leb(module, content.size());
  Append(module, content);
}

Bytes Header() { return {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}; }

// A module with `count` empty () -> () functions, of which function `index`
// has `body` (locals and code, without the final end) and `imports` function
// imports come first.
Bytes ModuleWithBody(const Bytes& body, uint32_t imports = 0) {
  Bytes m = Header();
  Section(m, 1, {0x01, 0x60, 0x00, 0x00});
  if (imports > 0) {
    Bytes imp;
    Leb(imp, imports);
    for (uint32_t i = 0; i < imports; ++i) Append(imp, {0x01, 'm', 0x01, 'f', 0x00, 0x00});
    Section(m, 2, imp);
  }
  Section(m, 3, {0x01, 0x00});
  Bytes code = {0x01};
  Bytes full = body;
  full.push_back(0x0b);
  Leb(code, full.size());
  Append(code, full);
  Section(m, 10, code);
  return m;
}

Bytes Nested(uint32_t depth, uint8_t opener = 0x02) {
  Bytes body = {0x00};  // no locals
  for (uint32_t i = 0; i < depth; ++i) {
    if (opener == 0x04) Append(body, {0x41, 0x00});  // if needs a condition
    Append(body, {opener, 0x40});
  }
  for (uint32_t i = 0; i < depth; ++i) body.push_back(0x0b);
  return body;
}

ModuleLimits Small() {
  ModuleLimits l;
  l.max_nesting_depth = 4;
  l.max_functions = 3;
  l.max_function_body_bytes = 40;
  l.max_locals = 5;
  l.max_params = 3;
  l.max_results = 2;
  l.max_types = 3;
  l.max_imports = 3;
  l.max_exports = 3;
  l.max_globals = 3;
  l.max_tables = 2;
  l.max_table_elements = 4;
  l.max_elem_segments = 2;
  l.max_data_segments = 2;
  l.max_text_nesting_depth = 6;
  l.max_text_bytes = 200;
  return l;
}

// Every module here is valid Wasm at the cap: the checker passes it, and so
// does wabt (so the encodings are right); one more is refused naming the
// value and the cap.
struct Case {
  std::string name;
  std::function<Bytes(uint32_t)> build;
  uint32_t cap;         // the Small() cap for this limit
  std::string message;  // expected for cap + 1, with {} for the value
};

std::string Format(std::string message, uint32_t value) {
  size_t at = message.find("{}");
  if (at != std::string::npos) message.replace(at, 2, std::to_string(value));
  return message;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  cases.push_back({"nesting of blocks", [](uint32_t n) { return ModuleWithBody(Nested(n)); }, 4,
                   "function 0 nests blocks {} deep; at most 4 are allowed"});
  cases.push_back({"nesting of loops", [](uint32_t n) { return ModuleWithBody(Nested(n, 0x03)); }, 4,
                   "function 0 nests blocks {} deep; at most 4 are allowed"});
  cases.push_back({"nesting of ifs after an import",
                   [](uint32_t n) { return ModuleWithBody(Nested(n, 0x04), /*imports=*/1); }, 4,
                   "function 1 nests blocks {} deep; at most 4 are allowed"});
  cases.push_back({"function body bytes",
                   [](uint32_t n) {
                     Bytes body = {0x00};
                     body.resize(n - 1, 0x01);  // nops; the final end makes n bytes
                     return ModuleWithBody(body);
                   },
                   40, "function 0's body is {} bytes; at most 40 are allowed"});
  cases.push_back({"locals",
                   [](uint32_t n) {
                     Bytes body = {0x02, 0x01, 0x7f};  // two groups: 1 i32, n-1 i64
                     Leb(body, n - 1);
                     body.push_back(0x7e);
                     return ModuleWithBody(body);
                   },
                   5, "function 0 declares {} locals; at most 5 are allowed"});
  cases.push_back({"functions (imports count)", [](uint32_t n) { return ModuleWithBody({0x00}, /*imports=*/n - 1); }, 3,
                   "the module has {} functions; at most 3 are allowed"});
  cases.push_back({"params",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Bytes types = {0x01, 0x60};
                     Leb(types, n);
                     types.insert(types.end(), n, 0x7f);
                     types.push_back(0x00);
                     Section(m, 1, types);
                     return m;
                   },
                   3, "type 0 has {} parameters; at most 3 are allowed"});
  cases.push_back({"results",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Bytes types = {0x01, 0x60, 0x00};
                     Leb(types, n);
                     types.insert(types.end(), n, 0x7f);
                     Section(m, 1, types);
                     return m;
                   },
                   2, "type 0 has {} results; at most 2 are allowed"});
  cases.push_back({"types",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Bytes types;
                     Leb(types, n);
                     for (uint32_t i = 0; i < n; ++i) Append(types, {0x60, 0x00, 0x00});
                     Section(m, 1, types);
                     return m;
                   },
                   3, "the module has {} types; at most 3 are allowed"});
  cases.push_back({"imports",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Section(m, 1, {0x01, 0x60, 0x00, 0x00});
                     Bytes imp;
                     Leb(imp, n);
                     for (uint32_t i = 0; i < n; ++i)
                       Append(imp, {0x01, 'm', 0x01, static_cast<uint8_t>('a' + i), 0x03, 0x7f, 0x00});
                     Section(m, 2, imp);
                     return m;
                   },
                   3, "the module has {} imports; at most 3 are allowed"});
  cases.push_back({"exports",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Section(m, 1, {0x01, 0x60, 0x00, 0x00});
                     Section(m, 3, {0x01, 0x00});
                     Bytes exp;
                     Leb(exp, n);
                     for (uint32_t i = 0; i < n; ++i) Append(exp, {0x01, static_cast<uint8_t>('a' + i), 0x00, 0x00});
                     Section(m, 7, exp);
                     Section(m, 10, {0x01, 0x02, 0x00, 0x0b});
                     return m;
                   },
                   3, "the module has {} exports; at most 3 are allowed"});
  cases.push_back({"globals (one imported)",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Section(m, 2, {0x01, 0x01, 'm', 0x01, 'g', 0x03, 0x7f, 0x00});
                     Bytes globals;
                     Leb(globals, n - 1);
                     for (uint32_t i = 0; i + 1 < n; ++i) Append(globals, {0x7f, 0x00, 0x41, 0x07, 0x0b});
                     Section(m, 6, globals);
                     return m;
                   },
                   3, "the module has {} globals; at most 3 are allowed"});
  cases.push_back({"tables",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Bytes tables;
                     Leb(tables, n);
                     for (uint32_t i = 0; i < n; ++i) Append(tables, {0x70, 0x00, 0x01});
                     Section(m, 4, tables);
                     return m;
                   },
                   2, "the module has {} tables; at most 2 are allowed"});
  cases.push_back({"table size",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Bytes tables = {0x01, 0x70, 0x00};
                     Leb(tables, n);
                     Section(m, 4, tables);
                     return m;
                   },
                   4, "table 0 starts with {} elements; at most 4 are allowed"});
  cases.push_back({"imported table size",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Bytes imp = {0x01, 0x01, 'm', 0x01, 't', 0x01, 0x70, 0x00};
                     Leb(imp, n);
                     Section(m, 2, imp);
                     return m;
                   },
                   4, "table 0 starts with {} elements; at most 4 are allowed"});
  cases.push_back({"element segment entries",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Section(m, 1, {0x01, 0x60, 0x00, 0x00});
                     Section(m, 3, {0x01, 0x00});
                     Section(m, 4, {0x01, 0x70, 0x00, 0x04});
                     Bytes elems = {0x01, 0x00, 0x41, 0x00, 0x0b};  // active, table 0, offset 0
                     Leb(elems, n);
                     elems.insert(elems.end(), n, 0x00);  // function 0
                     Section(m, 9, elems);
                     Section(m, 10, {0x01, 0x02, 0x00, 0x0b});
                     return m;
                   },
                   4, "element segment 0 has {} elements; at most 4 are allowed"});
  cases.push_back({"element segments",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Section(m, 1, {0x01, 0x60, 0x00, 0x00});
                     Section(m, 3, {0x01, 0x00});
                     Bytes elems;
                     Leb(elems, n);
                     // Passive, expressions: funcref (ref.func 0); declared, function indices: 0.
                     for (uint32_t i = 0; i < n; ++i) {
                       Append(elems, i % 2 ? Bytes{0x05, 0x70, 0x01, 0xd2, 0x00, 0x0b} : Bytes{0x03, 0x00, 0x01, 0x00});
                     }
                     Section(m, 9, elems);
                     Section(m, 10, {0x01, 0x02, 0x00, 0x0b});
                     return m;
                   },
                   2, "the module has {} element segments; at most 2 are allowed"});
  cases.push_back({"data segments",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Section(m, 5, {0x01, 0x00, 0x01});
                     Bytes datas;
                     Leb(datas, n);
                     for (uint32_t i = 0; i < n; ++i) {
                       Append(datas, i % 2 ? Bytes{0x01, 0x01, 'x'} : Bytes{0x00, 0x41, 0x00, 0x0b, 0x01, 'x'});
                     }
                     Section(m, 11, datas);
                     return m;
                   },
                   2, "the module has {} data segments; at most 2 are allowed"});
  cases.push_back({"data count",
                   [](uint32_t n) {
                     Bytes m = Header();
                     Section(m, 5, {0x01, 0x00, 0x01});
                     Bytes count;
                     Leb(count, n);
                     Section(m, 12, count);
                     Bytes datas;
                     Leb(datas, n);
                     for (uint32_t i = 0; i < n; ++i) Append(datas, {0x01, 0x01, 'x'});
                     Section(m, 11, datas);
                     return m;
                   },
                   2, "the module has {} data segments; at most 2 are allowed"});
  return cases;
}

TEST(ModuleLimitsTest, EachLimitAtTheCapPassesAndOneMoreIsRefused) {
  const ModuleLimits limits = Small();
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    Bytes at = c.build(c.cap);
    EXPECT_TRUE(CheckModuleLimits(at, limits).ok()) << CheckModuleLimits(at, limits).ToString();
    EXPECT_TRUE(MeasureModule(at).fully_decoded);
    auto parsed = ParseModule(at);  // default limits: the encoding is valid Wasm
    EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
    Status over = CheckModuleLimits(c.build(c.cap + 1), limits);
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.code(), Code::kInvalidModule);
    EXPECT_EQ(over.message(), Format(c.message, c.cap + 1));
    // The same module passes the default limits.
    EXPECT_TRUE(CheckModuleLimits(c.build(c.cap + 1)).ok());
  }
}

TEST(ModuleLimitsTest, DefaultsRefuseDeepNestingWithTheValueAndTheCap) {
  for (uint32_t depth : {1024u, 1025u, 20000u, 100000u}) {
    Bytes m = wasm::testing::NestedBlocksModule(depth);
    Status s = CheckModuleLimits(m);
    if (depth <= ModuleLimits{}.max_nesting_depth) {
      EXPECT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(MeasureModule(m).max_nesting_depth, depth);
      EXPECT_TRUE(MeasureModule(m).fully_decoded);
    } else {
      EXPECT_EQ(s.message(), "function 0 nests blocks " + std::to_string(depth) + " deep; at most 1024 are allowed");
      // And ParseModule refuses it the same way, before wabt.
      auto parsed = ParseModule(m);
      ASSERT_FALSE(parsed.ok());
      EXPECT_EQ(parsed.status().message(), s.message());
    }
  }
}

// Counts are checked before the items are read, so huge declared counts cost
// nothing: a few bytes each, at the defaults.
TEST(ModuleLimitsTest, DefaultCountsAndSizes) {
  auto check = [](uint8_t section, const Bytes& content) {
    Bytes m = Header();
    Section(m, section, content);
    return CheckModuleLimits(m).message();
  };
  auto count = [](uint64_t n) {
    Bytes b;
    Leb(b, n);
    return b;
  };
  EXPECT_EQ(check(1, count(1'000'001)), "the module has 1000001 types; at most 1000000 are allowed");
  EXPECT_EQ(check(2, count(100'001)), "the module has 100001 imports; at most 100000 are allowed");
  EXPECT_EQ(check(3, count(1'000'001)), "the module has 1000001 functions; at most 1000000 are allowed");
  EXPECT_EQ(check(6, count(1'000'001)), "the module has 1000001 globals; at most 1000000 are allowed");
  EXPECT_EQ(check(7, count(100'001)), "the module has 100001 exports; at most 100000 are allowed");
  EXPECT_EQ(check(9, count(100'001)), "the module has 100001 element segments; at most 100000 are allowed");
  EXPECT_EQ(check(11, count(100'001)), "the module has 100001 data segments; at most 100000 are allowed");
  EXPECT_EQ(check(12, count(100'001)), "the module has 100001 data segments; at most 100000 are allowed");
  EXPECT_EQ(check(4, count(101)), "the module has 101 tables; at most 100 are allowed");
  Bytes table = {0x01, 0x70, 0x00};
  Append(table, count(10'000'001));
  EXPECT_EQ(check(4, table), "table 0 starts with 10000001 elements; at most 10000000 are allowed");
  Bytes type = {0x01, 0x60};
  Append(type, count(1001));
  EXPECT_EQ(check(1, type), "type 0 has 1001 parameters; at most 1000 are allowed");
  Bytes code = {0x01};
  Append(code, count(7'654'322));
  EXPECT_EQ(check(10, code), "function 0's body is 7654322 bytes; at most 7654321 are allowed");
  Bytes body = {0x01};  // one group
  Append(body, count(50'001));
  Append(body, {0x7f, 0x0b});
  Bytes locals = {0x01};
  Append(locals, count(body.size()));
  Append(locals, body);
  EXPECT_EQ(check(10, locals), "function 0 declares 50001 locals; at most 50000 are allowed");
  // Locals summed across groups, without overflow: 2 x (2^32 - 1).
  Bytes many = {0x01, 0x0d, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7e};
  EXPECT_EQ(check(10, many), "function 0 declares 8589934590 locals; at most 50000 are allowed");
}

// Bytes it cannot decode are left to wabt: never a crash, never a read
// outside the span (the buffers are exact-size copies, so ASan would see it).
TEST(ModuleLimitsTest, MalformedBytesNeverCrash) {
  std::vector<Bytes> inputs = {
      {},
      {0x00},
      {0x00, 0x61, 0x73, 0x6d},
      Header(),
      // Section sizes past the end.
      [] {
        Bytes m = Header();
        Append(m, {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f});
        return m;
      }(),
      // LEB128 overflows: a 6-byte u32, a 5-byte u32 with high bits set, an endless LEB.
      [] {
        Bytes m = Header();
        Append(m, {0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
        return m;
      }(),
      [] {
        Bytes m = Header();
        Append(m, {0x01, 0x06, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00});
        return m;
      }(),
      [] {
        Bytes m = Header();
        Section(m, 10, {0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80});
        return m;
      }(),
      [] {
        Bytes m = Header();
        Section(m, 1, {0x01, 0x60, 0xff, 0xff, 0xff, 0xff, 0x1f});
        return m;
      }(),
      // A body whose immediates run past its end; a br_table claiming 2^32-1 labels; an i64.const of 11 bytes.
      ModuleWithBody({0x00, 0x41}),
      ModuleWithBody({0x00, 0x41, 0x00, 0x0e, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}),
      ModuleWithBody({0x00, 0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}),
      // Unknown opcodes and prefixes.
      ModuleWithBody({0x00, 0xff}),
      ModuleWithBody({0x00, 0xfc, 0x7f}),
      ModuleWithBody({0x00, 0xfd, 0x00}),
      // An end too many, a delegate outside a try.
      ModuleWithBody({0x00, 0x0b, 0x0b}),
      ModuleWithBody({0x00, 0x18, 0x00}),
  };
  // Every truncation of a module using most kinds of sections.
  const std::vector<Case> cases = Cases();
  auto elems = std::find_if(cases.begin(), cases.end(), [](const Case& c) { return c.name == "element segments"; });
  ASSERT_NE(elems, cases.end());
  Bytes good = elems->build(2);  // types, functions, elements, code
  for (size_t n = 0; n < good.size(); ++n) inputs.emplace_back(good.begin(), good.begin() + n);
  Bytes nested = wasm::testing::NestedBlocksModule(2000);
  for (size_t n = 0; n < nested.size(); n += 97) inputs.emplace_back(nested.begin(), nested.begin() + n);
  std::mt19937 rng(20261206);
  for (int i = 0; i < 2000; ++i) {
    Bytes m = Header();
    size_t len = rng() % 64;
    for (size_t k = 0; k < len; ++k) m.push_back(static_cast<uint8_t>(rng()));
    if (i % 2 && m.size() > 8) m[8] = static_cast<uint8_t>(rng() % 13);  // a known section id (ASan: not past the end)
    inputs.push_back(std::move(m));
  }
  // Random bytes inside a valid code section.
  for (int i = 0; i < 2000; ++i) {
    Bytes body = {0x00};
    size_t len = rng() % 40;
    for (size_t k = 0; k < len; ++k) body.push_back(static_cast<uint8_t>(rng()));
    inputs.push_back(ModuleWithBody(body));
  }
  for (const Bytes& input : inputs) {
    auto exact = std::make_unique<uint8_t[]>(input.size() + 1);  // never empty for make_unique
    std::copy(input.begin(), input.end(), exact.get());
    std::span<const uint8_t> bytes(exact.get(), input.size());
    (void)CheckModuleLimits(bytes, Small());
    (void)CheckModuleLimits(bytes);
    (void)MeasureModule(bytes);
  }
  // Nesting followed by bytes the pass cannot decode is still refused: wabt
  // builds the nesting before it fails on those bytes.
  Bytes body_then_junk = Nested(5);
  body_then_junk.resize(1 + 5 * 2);  // the opening halves only
  body_then_junk.push_back(0xff);
  EXPECT_EQ(CheckModuleLimits(ModuleWithBody(body_then_junk), Small()).message(),
            "function 0 nests blocks 5 deep; at most 4 are allowed");
  // A truncated nesting is still checked up to where the bytes stop, and refused.
  Bytes cut(nested.begin(), nested.begin() + nested.size() / 2);
  Status s = CheckModuleLimits(cut, Small());
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(MeasureModule(cut).fully_decoded);
}

// The pass knows every opcode in real compilers' output: each of the
// project's compiled examples and test guests decodes to its last byte.
// wow_difftest's mutant 0 of seed 1678, reduced to the two sections that
// matter (kept as a fuzz seed): global 5's initialiser is `i64.lt_u i64.eq global.set i32.or
// f64.copysign i32.eq block`, whose `end` wabt's reader finds inside the
// element section; it asserted there (`intrusive_list::back()` on an empty
// list) and ended the process that parsed the module.
TEST(ModuleLimitsTest, NonConstantInitialisersAreRefusedBeforeWabtsReader) {
  auto file = ReadFile(std::filesystem::path(WOW_SOURCE_DIR) / "fuzz/corpus/fuzz_module/crash-wabt-reader-init-expr.wasm");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const Bytes crash(file->begin(), file->end());
  auto parsed = ParseModule(crash);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), Code::kInvalidModule);
  EXPECT_EQ(parsed.status().message(),
            "the initialiser of global 5 is not a constant expression (opcode 0x54): it may hold one "
            "i32/i64/f32/f64.const, global.get, ref.null or ref.func, then end");

  // Every position of a constant expression, with a block (nesting wabt would
  // build) or a second instruction.
  auto with_global = [](const Bytes& expr) {
    Bytes m = Header();
    Bytes globals = {0x01, 0x7f, 0x00};
    Append(globals, expr);
    Section(m, 6, globals);
    return m;
  };
  Bytes blocks;
  for (int i = 0; i < 5; ++i) Append(blocks, {0x02, 0x40});
  blocks.insert(blocks.end(), 5, 0x0b);
  Append(blocks, {0x41, 0x00, 0x0b});
  EXPECT_EQ(ParseModule(with_global(blocks)).status().message().substr(0, 76),
            "the initialiser of global 0 is not a constant expression (opcode 0x02): it m");
  EXPECT_EQ(ParseModule(with_global({0x41, 0x01, 0x41, 0x02, 0x6a, 0x0b})).status().message().substr(0, 58),
            "the initialiser of global 0 is not a constant expression (");
  Bytes data_offset = Header();
  Section(data_offset, 5, {0x01, 0x00, 0x01});
  Section(data_offset, 11, {0x01, 0x00, 0x01, 0x0b, 0x00});  // offset: nop end
  EXPECT_EQ(ParseModule(data_offset).status().message().substr(0, 68),
            "the offset of data segment 0 is not a constant expression (opcode 0x");
  // Constant ones pass.
  EXPECT_TRUE(ParseModule(with_global({0x41, 0x07, 0x0b})).ok());
}

TEST(ModuleLimitsTest, RealModulesDecodeFullyAndPassTheDefaults) {
  int seen = 0;
  uint32_t deepest = 0;
  for (const char* dir : {"examples", "tests/guests"}) {
    std::filesystem::path path = std::filesystem::path(WOW_BINARY_DIR) / dir;
    if (!std::filesystem::is_directory(path)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.path().extension() != ".wasm") continue;
      auto bytes = ReadFile(entry.path());
      ASSERT_TRUE(bytes.ok()) << entry.path();
      std::span<const uint8_t> wasm(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
      ModuleShape shape = MeasureModule(wasm);
      EXPECT_TRUE(shape.fully_decoded) << entry.path();
      EXPECT_TRUE(CheckModuleLimits(wasm).ok()) << entry.path();
      deepest = std::max(deepest, shape.max_nesting_depth);
      ++seen;
    }
  }
  Bytes generated = wasm::testing::GenerateWasiModule(200 << 10, 7);
  EXPECT_TRUE(MeasureModule(generated).fully_decoded);
  RecordProperty("deepest_nesting", static_cast<int>(deepest));
  std::printf("%d compiled modules, deepest nesting %u\n", seen, deepest);
  if (seen == 0) GTEST_SKIP() << "no compiled examples or guests in " << WOW_BINARY_DIR;
}

TEST(ModuleLimitsTest, TextNestingCountsParenthesesAndUnfoldedBlocks) {
  const ModuleLimits limits = Small();  // text depth 6
  // (module (func (block (block (block (block ...: 2 + depth.
  EXPECT_TRUE(CheckTextLimits(wasm::testing::NestedBlocksText(4, true), limits).ok());
  Status folded = CheckTextLimits(wasm::testing::NestedBlocksText(5, true), limits);
  EXPECT_EQ(folded.code(), Code::kInvalidModule);
  EXPECT_EQ(folded.message(),
            "the WebAssembly text nests 7 deep (parentheses and blocks open at once, first over the limit on "
            "line 3); at most 6 are allowed");
  EXPECT_TRUE(CheckTextLimits(wasm::testing::NestedBlocksText(4, false), limits).ok());
  EXPECT_FALSE(CheckTextLimits(wasm::testing::NestedBlocksText(5, false), limits).ok());
  // Parentheses and keywords in comments, strings and identifiers do not count.
  EXPECT_TRUE(CheckTextLimits("(module ;; ((((((( block block block block block\n"
                              "(; (((((((( (; nested ;) block block block block ;)\n"
                              "(func $block (export \"((((((((\\\"((((\") block $loop end if end))",
                              limits)
                  .ok());
  // Unfolded blocks end with `end`; folded ones with their parenthesis.
  EXPECT_TRUE(CheckTextLimits("(module (func block end block end block end block end block end block end block "
                              "end (block) (block) (block) (block) (block) (block) (block)))",
                              limits)
                  .ok());
  // A lone ';' or unbalanced parentheses are for the parser to report.
  EXPECT_TRUE(CheckTextLimits("(module ; ) ) ) \"unterminated", limits).ok());
  EXPECT_TRUE(CheckTextLimits("(; unterminated", limits).ok());
  EXPECT_EQ(CheckTextLimits(std::string(201, ' '), limits).message(),
            "the WebAssembly text is 201 bytes; at most 200 are allowed");

  // The defaults: wabt's parser is never reached for deep text.
  for (bool is_folded : {true, false}) {
    auto wasm = WatToWasm(wasm::testing::NestedBlocksText(100000, is_folded));
    ASSERT_FALSE(wasm.ok());
    EXPECT_NE(wasm.status().message().find("the WebAssembly text nests 100002 deep"), std::string::npos)
        << wasm.status().ToString();
    // Within the text cap but over the binary one: the binary check's message names the function.
    auto converted = WatToWasm(wasm::testing::NestedBlocksText(2000, is_folded));
    ASSERT_TRUE(converted.ok()) << converted.status().ToString();
    EXPECT_EQ(CheckModuleLimits(*converted).message(), "function 0 nests blocks 2000 deep; at most 1024 are allowed");
  }
}

// Regression (found by fuzz/fuzz_wat): wabt's text parser throws std::length_error on an annotation whose string runs
// to the end of the line (and leaks); the exception left WatToWasm. Annotations are refused before wabt sees them,
// with the line; inside strings and comments "(@" is only text.
TEST(WatToWasmTest, AnnotationsAreRefusedBeforeWabtsParser) {
  for (std::string_view text : {"(func (@x\")\n", ";; WAand \xd9ng\\n\")\n  (func (@exporart\")\n t   (i32.s\n",
                                "(module\n  (@custom \"x\"))"}) {
    auto wasm = WatToWasm(text);
    ASSERT_FALSE(wasm.ok()) << text;
    EXPECT_EQ(wasm.status().code(), Code::kInvalidModule) << wasm.status().ToString();
    EXPECT_NE(wasm.status().message().find("annotations \"(@...)\" are not supported"), std::string::npos)
        << wasm.status().ToString();
  }
  EXPECT_NE(WatToWasm("(module\n\n  (@custom \"x\"))").status().message().find("line 3"), std::string::npos);
  EXPECT_TRUE(WatToWasm("(module (; (@x ;) (func (export \"(@y\")) ;; (@z\n)").ok());
}

// Regression (found by fuzz/fuzz_wat): text that parses but is invalid reached wabt's binary writer, whose assertion
// (a data segment naming a memory other than 0) aborted the process; it is validated first now.
TEST(WatToWasmTest, InvalidTextIsRefusedBeforeTheBinaryWriter) {
  auto wasm = WatToWasm("(module (memory 1) (data 8 (i32.const 96) \"x\"))");
  ASSERT_FALSE(wasm.ok());
  EXPECT_EQ(wasm.status().code(), Code::kInvalidModule) << wasm.status().ToString();
  EXPECT_NE(wasm.status().message().find("memory variable out of range"), std::string::npos)
      << wasm.status().ToString();
  EXPECT_TRUE(WatToWasm("(module (memory 1) (data 0 (i32.const 96) \"x\"))").ok());
  // Validation errors read as before, when ParseModule found them (the CLI and proxy tests look for these words).
  auto mismatch = WatToWasm("(module (func (result i32) (i64.const 1)))");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), Code::kInvalidModule);
  EXPECT_NE(mismatch.status().message().find("type mismatch"), std::string::npos) << mismatch.status().ToString();
}

}  // namespace
}  // namespace wow::wasm

namespace wow::wasm {
namespace {

// Regression (issue 12, found by fuzz/fuzz_wat): wabt 1.0.32's text parser
// asserts on this text and aborted the process that decoded an action (wow
// executor/proxy on an /init). The conversion runs in a child process: only
// the child ends, and the text is refused with the reason.
TEST(WatToWasmTest, AParserAbortEndsOnlyTheChild) {
  auto crashed = WatToWasm("(module (elem funcref (x");
  ASSERT_FALSE(crashed.ok());
  EXPECT_EQ(crashed.status().code(), Code::kInvalidModule);
  EXPECT_NE(crashed.status().message().find("the text parser crashed"), std::string::npos)
      << crashed.status().ToString();
  // Errors and results still come back whole from the child.
  auto invalid = WatToWasm("(module (func (result i32)))");
  ASSERT_FALSE(invalid.ok());
  EXPECT_NE(invalid.status().message().find("invalid WebAssembly text"), std::string::npos)
      << invalid.status().ToString();
  auto valid = WatToWasm("(module (func (export \"f\") (result i32) i32.const 42))");
  ASSERT_TRUE(valid.ok()) << valid.status().ToString();
  EXPECT_TRUE(ParseModule(*valid).ok());
}

}  // namespace
}  // namespace wow::wasm
