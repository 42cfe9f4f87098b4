#include "executor/action_code.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zip.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/base64.h"
#include "wasm/module_reader.h"

namespace wow::executor {
namespace {

using ::testing::HasSubstr;

constexpr char kWatA[] = R"((module (func (export "a"))))";
constexpr char kWatB[] = R"((module (func (export "b") (result i32) i32.const 7)))";

std::string Wasm(std::string_view wat) {
  auto bytes = wasm::WatToWasm(wat);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? std::string(bytes->begin(), bytes->end()) : std::string();
}

struct Entry {
  std::string name;  // ending in '/' adds a directory
  std::string data;
  bool deflate = true;
};

// Builds a zip archive in memory with libzip, the same library that reads it.
std::string MakeZip(const std::vector<Entry>& entries) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(nullptr, 0, 0, &error);
  EXPECT_NE(source, nullptr);
  zip_source_keep(source);  // keep it past zip_close to read the archive back
  zip_t* archive = zip_open_from_source(source, ZIP_TRUNCATE | ZIP_CREATE, &error);
  EXPECT_NE(archive, nullptr) << zip_error_strerror(&error);
  zip_error_fini(&error);
  for (const Entry& e : entries) {
    if (e.name.ends_with('/')) {
      EXPECT_GE(zip_dir_add(archive, e.name.c_str(), ZIP_FL_ENC_UTF_8), 0) << zip_strerror(archive);
      continue;
    }
    zip_source_t* data = zip_source_buffer(archive, e.data.data(), e.data.size(), 0);
    zip_int64_t index = zip_file_add(archive, e.name.c_str(), data, ZIP_FL_ENC_UTF_8);
    EXPECT_GE(index, 0) << zip_strerror(archive);
    EXPECT_EQ(zip_set_file_compression(archive, index, e.deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0), 0);
  }
  EXPECT_EQ(zip_close(archive), 0) << zip_strerror(archive);

  std::string out;
  EXPECT_EQ(zip_source_open(source), 0);
  char buffer[4096];
  for (zip_int64_t n; (n = zip_source_read(source, buffer, sizeof buffer)) > 0;) out.append(buffer, n);
  zip_source_close(source);
  zip_source_free(source);
  return out;
}

Result<ActionCode> DecodeZip(const std::vector<Entry>& entries, std::string_view main = "main",
                             const CodeLimits& limits = {}) {
  return DecodeActionCode(Base64Encode(MakeZip(entries)), /*binary=*/true, main, limits);
}

void ExpectError(const Result<ActionCode>& result, const std::string& substring, Code code = Code::kInvalidArgument) {
  ASSERT_FALSE(result.ok()) << "decoded from " << result->source;
  EXPECT_EQ(result.status().code(), code) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr(substring));
}

TEST(ActionCodeTest, PlainBase64Module) {
  const std::string a = Wasm(kWatA);
  auto code = DecodeActionCode(Base64Encode(a), true, "main");
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->wasm, a);
  EXPECT_EQ(code->source, "wasm");
}

TEST(ActionCodeTest, Base64WithLineBreaks) {
  const std::string b = Wasm(kWatB);
  std::string encoded = Base64Encode(b);
  std::string wrapped = "\n  ";
  for (size_t i = 0; i < encoded.size(); i += 7) wrapped += encoded.substr(i, 7) + (i % 2 ? "\r\n" : "\n");
  auto code = DecodeActionCode(wrapped, true, "main");
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->wasm, b);
}

TEST(ActionCodeTest, ZipWithOneModule) {
  const std::string a = Wasm(kWatA);
  auto code = DecodeZip({{"action.wasm", a}});
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->wasm, a);
  EXPECT_EQ(code->source, "zip:action.wasm");
}

TEST(ActionCodeTest, MainNamesTheEntry) {
  const std::string a = Wasm(kWatA), b = Wasm(kWatB);
  for (bool deflate : {true, false}) {
    auto code = DecodeZip({{"a.wasm", a, deflate}, {"b.wasm", b, deflate}, {"c.wasm", a, deflate}}, "b.wasm");
    ASSERT_TRUE(code.ok()) << code.status().ToString();
    EXPECT_EQ(code->wasm, b);
    EXPECT_EQ(code->source, "zip:b.wasm");
  }
}

TEST(ActionCodeTest, MainWithoutWasmSuffixPicksTheFirstModule) {
  const std::string a = Wasm(kWatA), b = Wasm(kWatB);
  auto code = DecodeZip({{"README.txt", "hello"}, {"lib/", ""}, {"lib/x.wasm", b}, {"a.wasm", a}}, "main");
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->wasm, b);
  EXPECT_EQ(code->source, "zip:lib/x.wasm");
}

TEST(ActionCodeTest, NoWasmEntryTakesTheFirstFile) {
  const std::string a = Wasm(kWatA);
  auto code = DecodeZip({{"bin/", ""}, {"bin/action", a}, {"other", "not wasm"}}, "main");
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->wasm, a);
  EXPECT_EQ(code->source, "zip:bin/action");
}

TEST(ActionCodeTest, WatEntryIsConverted) {
  auto code = DecodeZip({{"notes.txt", "x"}, {"main.wat", kWatB}}, "main");
  // No .wasm entry: the first file wins, and it is not a module.
  ExpectError(code, "\"notes.txt\" of the action's zip archive is not a WebAssembly module");
  code = DecodeZip({{"main.wat", kWatB}, {"notes.txt", "x"}}, "main");
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->wasm, Wasm(kWatB));
  EXPECT_EQ(code->source, "zip:main.wat");
}

TEST(ActionCodeTest, MainNamesAMissingEntry) {
  ExpectError(DecodeZip({{"a.wasm", Wasm(kWatA)}}, "c.wasm"), "no entry \"c.wasm\"");
}

TEST(ActionCodeTest, EntryThatIsNotAModule) {
  ExpectError(DecodeZip({{"a.wasm", "hello, world"}}), "\"a.wasm\" of the action's zip archive is not a WebAssembly");
  ExpectError(DecodeZip({{"a.wasm", ""}}), "is not a WebAssembly module");
  // A .wat entry that does not parse keeps WatToWasm's code.
  ExpectError(DecodeZip({{"a.wat", "(module (func"}}), "did not parse", Code::kInvalidModule);
}

TEST(ActionCodeTest, OnlyDirectories) { ExpectError(DecodeZip({{"a/", ""}, {"a/b/", ""}}), "only directories"); }

TEST(ActionCodeTest, EmptyZip) {
  std::string empty("PK\x05\x06", 4);
  empty.append(18, '\0');
  ExpectError(DecodeActionCode(Base64Encode(empty), true, "main"), "the action's zip archive is empty");
}

TEST(ActionCodeTest, CorruptZip) {
  const std::string zip = MakeZip({{"a.wasm", Wasm(kWatA)}});
  // Cut off the central directory.
  ExpectError(DecodeActionCode(Base64Encode(zip.substr(0, zip.size() / 2)), true, "main"),
              "the action's zip archive is corrupt: ");
  // A zip signature followed by junk.
  ExpectError(DecodeActionCode(Base64Encode(std::string("PK\x03\x04", 4) + std::string(100, 'x')), true, "main"),
              "the action's zip archive is corrupt: ");
}

TEST(ActionCodeTest, CorruptEntryData) {
  std::string zip = MakeZip({{"a.wasm", Wasm(kWatA) + std::string(4096, 'x')}});
  // Flip bytes of the deflated data (after the 30-byte local header and the name): inflate or the CRC fails.
  for (size_t i = 40; i < 60; ++i) zip[i] = static_cast<char>(~zip[i]);
  auto code = DecodeActionCode(Base64Encode(zip), true, "main");
  ExpectError(code, "entry \"a.wasm\" of the action's zip archive");
}

TEST(ActionCodeTest, NeitherModuleNorZip) {
  ExpectError(DecodeActionCode(Base64Encode("hello, world"), true, "main"),
              "the action's code is neither a WebAssembly module nor a zip archive");
}

TEST(ActionCodeTest, InvalidBase64) {
  std::string encoded = Base64Encode(Wasm(kWatA));
  while (encoded.size() % 4 != 1) encoded.pop_back();  // one dangling character cannot be base64
  ExpectError(DecodeActionCode(encoded, true, "main"), "the action's code is not valid base64: ");
  ExpectError(DecodeActionCode("AGFz!bQ==", true, "main"), "the action's code is not valid base64: ");
  // Truncated on a group boundary, a zip loses its central directory.
  encoded = Base64Encode(MakeZip({{"a.wasm", Wasm(kWatA)}}));
  ExpectError(DecodeActionCode(encoded.substr(0, encoded.size() / 8 * 4), true, "main"), "corrupt");
}

TEST(ActionCodeTest, EmptyCode) {
  ExpectError(DecodeActionCode("", true, "main"), "empty");
  ExpectError(DecodeActionCode(" \n\t", true, "main"), "empty");
  ExpectError(DecodeActionCode("", false, "main"), "empty");
}

TEST(ActionCodeTest, ZipBombIsRejectedBeforeReading) {
  // A module followed by 1 MiB of zeros deflates to about 1 KiB.
  const std::string big = Wasm(kWatA) + std::string(1 << 20, '\0');
  const std::string zip = MakeZip({{"a.wasm", big}});
  ASSERT_LT(zip.size(), 16u << 10);
  auto code = DecodeActionCode(Base64Encode(zip), true, "main");  // fine under the default limit
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->wasm, big);
  ExpectError(DecodeActionCode(Base64Encode(zip), true, "main", {.max_module_bytes = 64 << 10}),
              "entry \"a.wasm\" of the action's zip archive (uncompressed) is " + std::to_string(big.size()) +
                  " bytes, more than the limit of 65536 bytes");
}

// Overwrites the 32-bit little-endian field at `offset`.
void Put32(std::string& bytes, size_t offset, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<char>(value >> (8 * i));
}

TEST(ActionCodeTest, ZipBombThatLiesAboutItsSize) {
  std::string zip = MakeZip({{"a.wasm", Wasm(kWatA) + std::string(1 << 20, '\0')}});
  // Declare 100 bytes in both the local header and the central directory.
  ASSERT_EQ(zip.compare(0, 4, "PK\x03\x04"), 0);
  Put32(zip, 22, 100);
  size_t central = zip.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(central, std::string::npos);
  Put32(zip, central + 24, 100);
  ExpectError(DecodeActionCode(Base64Encode(zip), true, "main"), "holds more data than the 100 bytes it declares");
}

TEST(ActionCodeTest, DeclaredSizeIsCheckedBeforeReading) {
  std::string zip = MakeZip({{"a.wasm", Wasm(kWatA)}});
  // Declare 1 MiB for a tiny entry: reading would report truncation, so the size error proves nothing was read.
  Put32(zip, 22, 1 << 20);
  Put32(zip, zip.find(std::string("PK\x01\x02", 4)) + 24, 1 << 20);
  ExpectError(DecodeActionCode(Base64Encode(zip), true, "main", {.max_module_bytes = 64 << 10}),
              "is 1048576 bytes, more than the limit of 65536 bytes");
  ExpectError(DecodeActionCode(Base64Encode(zip), true, "main"), "is truncated: ");
}

TEST(ActionCodeTest, PlainModuleOverTheLimit) {
  const std::string a = Wasm(kWatA);
  ExpectError(DecodeActionCode(Base64Encode(a), true, "main", {.max_module_bytes = a.size() - 1}),
              "more than the limit of");
  EXPECT_TRUE(DecodeActionCode(Base64Encode(a), true, "main", {.max_module_bytes = a.size()}).ok());
}

TEST(ActionCodeTest, TooManyEntries) {
  const std::vector<Entry> entries = {{"a.wasm", Wasm(kWatA)}, {"b", "x"}, {"c", "y"}};
  ExpectError(DecodeZip(entries, "main", {.max_zip_entries = 2}), "has 3 entries, more than the limit of 2");
  EXPECT_TRUE(DecodeZip(entries, "main", {.max_zip_entries = 3}).ok());
}

TEST(ActionCodeTest, WatText) {
  auto code = DecodeActionCode(std::string("  ;; an action\n") + kWatB + "\n", false, "main");
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->wasm, Wasm(kWatB));
  EXPECT_EQ(code->source, "wat");
}

TEST(ActionCodeTest, InvalidWat) {
  auto code = DecodeActionCode("(module (func (export \"a\") (result i32) i32.const))", false, "main");
  ExpectError(code, "the action's WebAssembly text did not parse: ", Code::kInvalidModule);
  // Plain words are valid base64 but decode to neither a module nor a zip: they are text, and not Wasm text.
  ExpectError(DecodeActionCode("abcd", false, "main"), "did not parse", Code::kInvalidModule);
}

TEST(ActionCodeTest, BinaryFalseWithBase64Code) {
  const std::string a = Wasm(kWatA);
  auto code = DecodeActionCode("\n" + Base64Encode(a) + "\n", false, "main");
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->wasm, a);
  EXPECT_EQ(code->source, "wasm");

  code = DecodeActionCode(Base64Encode(MakeZip({{"x.wasm", a}})), false, "main");
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(code->wasm, a);
  EXPECT_EQ(code->source, "zip:x.wasm");
}

// Mangled archives must come back as errors (or, by luck, modules), never crashes.
TEST(ActionCodeTest, SurvivesMangledArchives) {
  const std::string zip = MakeZip({{"dir/", ""}, {"a.wasm", Wasm(kWatA) + std::string(2000, 'z')}, {"b.wat", kWatB}});
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes = zip;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) bytes[4 + rng() % (bytes.size() - 4)] = static_cast<char>(rng());
    if (round % 5 == 0) bytes.resize(4 + rng() % (bytes.size() - 4));
    auto code = DecodeActionCode(Base64Encode(bytes), true, round % 2 ? "main" : "b.wat", {.max_module_bytes = 4096});
    if (code.ok()) {
      EXPECT_TRUE(
          wasm::IsWasmBinary(std::span(reinterpret_cast<const uint8_t*>(code->wasm.data()), code->wasm.size())));
      EXPECT_LE(code->wasm.size(), 4096u);
    }
  }
}

}  // namespace
}  // namespace wow::executor
