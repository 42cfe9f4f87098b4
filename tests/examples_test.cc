// Every example action (examples/, built to WOW_BINARY_DIR/examples/*.wasm)
// through RunActivation on every engine in AvailableEngines(). hash is also
// checked against the native build (examples/native/hash) and a SHA-256
// computed here. Tests skip when the .wasm examples were not built.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "abi/action_runner.h"
#include "engine_fixture.h"
#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"
#include "wasm/engine_factory.h"

namespace wow::abi {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

const fs::path kExamples = fs::path(WOW_BINARY_DIR) / "examples";

using wow::testing::Describe;
using wow::testing::ErrorText;


json::value Json(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? std::move(v).value() : json::value();
}

// Iterated SHA-256 as examples/hash.c defines it: SHA-256 of the input, then
// of the 32-byte digest, `iterations` times in all.
std::string IteratedSha256(std::string_view input, int iterations) {
  std::string hex = Sha256Hex(input);
  for (int i = 1; i < iterations; ++i) {
    std::string raw;
    for (size_t j = 0; j < hex.size(); j += 2) raw += static_cast<char>(std::stoi(hex.substr(j, 2), nullptr, 16));
    hex = Sha256Hex(raw);
  }
  return hex;
}

// Runs the native build of an example with `params` on stdin; returns its last
// non-empty stdout line, or "" when it cannot be run.
std::string RunNative(const std::string& name, std::string_view params) {
  fs::path binary = kExamples / "native" / name;
  if (!fs::exists(binary)) return "";
  TempDir tmp("wow-native");
  fs::path input = tmp.path() / "params.json";
  if (!WriteFileAtomically(input, params).ok()) return "";
  std::string command = fmt::format("'{}' < '{}'", binary.string(), input.string());
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  pclose(pipe);
  std::string last;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    std::string line = out.substr(start, end - start);
    if (line.find_first_not_of(" \r\t") != std::string::npos) last = line;
    start = end + 1;
  }
  return last;
}

// One engine per test; the artifact cache is shared by the suite, so each
// example compiles once per process.
class ExamplesTest : public wow::testing::EngineFixture {
 protected:
  // Loads examples/<name>.wasm with `caps`; null (and the test skipped by the
  // caller) when it was not built, null and a failure when it does not load.
  std::shared_ptr<const wasm::Module> Example(const std::string& name, const Capabilities& caps = {}) {
    auto bytes = ReadFile(kExamples / (name + ".wasm"));
    if (!bytes.ok()) return nullptr;
    std::span<const uint8_t> wasm(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
    return LoadModule(wasm, caps, name);
  }

  static ActivationResult Run(const wasm::Module& module, std::string params, const Capabilities& caps = {}) {
    ActivationRequest request;
    request.params_json = std::move(params);
    request.capabilities = caps;
    return RunOrFail(module, request);
  }

};

#define LOAD_EXAMPLE(var, name, ...)                                                          \
  if (!fs::exists(kExamples / (std::string(name) + ".wasm")))                                 \
    GTEST_SKIP() << "examples/" << name << ".wasm not built (needs clang-16 + wasi-libc)"; \
  auto var = Example(name __VA_OPT__(, ) __VA_ARGS__);                                        \
  ASSERT_NE(var, nullptr)

TEST_P(ExamplesTest, AddSums) {
  LOAD_EXAMPLE(add, "add");
  auto r = Run(*add, R"({"param1":2,"param2":40})");
  EXPECT_EQ(r.abi, GuestAbi::kWow);
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << Describe(r);
  EXPECT_EQ(r.result, Json(R"({"result":42})"));

  auto negative = Run(*add, R"({"param1":-5,"param2":3})");
  EXPECT_EQ(negative.result, Json(R"({"result":-2})")) << Describe(negative);
}

TEST_P(ExamplesTest, AddMissingParamIsApplicationErrorNamingIt) {
  LOAD_EXAMPLE(add, "add");
  auto r = Run(*add, R"({"param1":1})");
  ASSERT_EQ(r.status, ActivationStatus::kApplicationError) << Describe(r);
  EXPECT_NE(ErrorText(r).find("param2"), std::string::npos) << Describe(r);

  auto wrong_type = Run(*add, R"({"param1":"1","param2":2})");
  ASSERT_EQ(wrong_type.status, ActivationStatus::kApplicationError) << Describe(wrong_type);
  EXPECT_NE(ErrorText(wrong_type).find("param1"), std::string::npos) << Describe(wrong_type);
}

TEST_P(ExamplesTest, ClockIsCloseToNow) {
  LOAD_EXAMPLE(clock, "clock");
  auto before = std::chrono::system_clock::now();
  auto r = Run(*clock, "{}");
  auto after = std::chrono::system_clock::now();
  EXPECT_EQ(r.abi, GuestAbi::kWasiCommand);
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << Describe(r);
  ASSERT_TRUE(r.result.is_object()) << Describe(r);
  int64_t time_ns = r.result.at("time_ns").to_number<int64_t>();
  auto ns = [](auto tp) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
  };
  // Generous slack: the clocks are the same, the machine may be busy.
  EXPECT_GE(time_ns, ns(before) - int64_t{5'000'000'000});
  EXPECT_LE(time_ns, ns(after) + int64_t{5'000'000'000});
  std::string iso(r.result.at("iso").as_string());
  std::time_t secs = static_cast<std::time_t>(time_ns / 1'000'000'000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  EXPECT_EQ(iso.substr(0, 19), fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", utc.tm_year + 1900, utc.tm_mon + 1,
                                           utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec));
  EXPECT_EQ(iso.back(), 'Z');
  EXPECT_GT(r.result.at("monotonic_ns").to_number<int64_t>(), 0);
}

TEST_P(ExamplesTest, HashMatchesSha256AndTheNativeBuild) {
  LOAD_EXAMPLE(hash, "hash");
  // SHA-256("abc"), the FIPS 180-2 test vector, and the iterated form.
  auto one = Run(*hash, R"({"input":"abc","iterations":1})");
  ASSERT_EQ(one.status, ActivationStatus::kSuccess) << Describe(one);
  EXPECT_EQ(one.result.at("digest"), json::value(IteratedSha256("abc", 1)));
  EXPECT_EQ(one.result.at("digest"),
            json::value("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  EXPECT_EQ(one.result.at("iterations"), json::value(1));

  const std::string params = R"({"input":"wow: edge \u00e9","iterations":1000})";
  auto many = Run(*hash, params);
  ASSERT_EQ(many.status, ActivationStatus::kSuccess) << Describe(many);
  EXPECT_EQ(many.result.at("digest"), json::value(IteratedSha256("wow: edge \xC3\xA9", 1000)));
  std::string native = RunNative("hash", params);
  if (native.empty()) {
    ADD_FAILURE() << "examples/native/hash did not run";
  } else {
    EXPECT_EQ(many.result, Json(native));
  }
  // The default parameters too (400,000 iterations).
  auto defaults = Run(*hash, "{}");
  ASSERT_EQ(defaults.status, ActivationStatus::kSuccess) << Describe(defaults);
  std::string native_defaults = RunNative("hash", "{}");
  ASSERT_FALSE(native_defaults.empty());
  EXPECT_EQ(defaults.result, Json(native_defaults));
}

TEST_P(ExamplesTest, HashBadIterationsIsApplicationError) {
  LOAD_EXAMPLE(hash, "hash");
  auto r = Run(*hash, R"({"iterations":0})");
  ASSERT_EQ(r.status, ActivationStatus::kApplicationError) << Describe(r);
  EXPECT_NE(ErrorText(r).find("iterations"), std::string::npos) << Describe(r);
}

TEST_P(ExamplesTest, HashBuildsAtEveryOptimisationLevelAgree) {
  LOAD_EXAMPLE(hash, "hash");
  LOAD_EXAMPLE(hash_oz, "hash_oz");
  LOAD_EXAMPLE(hash_o0, "hash_o0");
  const std::string params = R"({"input":"three builds","iterations":5000})";
  auto want = Run(*hash, params);
  ASSERT_EQ(want.status, ActivationStatus::kSuccess) << Describe(want);
  EXPECT_EQ(want.result.at("digest"), json::value(IteratedSha256("three builds", 5000)));
  auto oz = Run(*hash_oz, params);
  auto o0 = Run(*hash_o0, params);
  EXPECT_EQ(oz.result, want.result) << Describe(oz);
  EXPECT_EQ(o0.result, want.result) << Describe(o0);
}

TEST_P(ExamplesTest, PrimeFindsTheNthPrime) {
  LOAD_EXAMPLE(prime, "prime");
  struct Case {
    int n;
    int prime;
  };
  for (Case c : {Case{1, 2}, Case{2, 3}, Case{6, 13}, Case{10, 29}, Case{1000, 7919}, Case{100000, 1299709}}) {
    auto r = Run(*prime, fmt::format(R"({{"n":{}}})", c.n));
    ASSERT_EQ(r.status, ActivationStatus::kSuccess) << c.n << ": " << Describe(r);
    EXPECT_EQ(r.result, Json(fmt::format(R"({{"n":{},"prime":{}}})", c.n, c.prime)));
  }
}

TEST_P(ExamplesTest, PrimeOfZeroIsApplicationError) {
  LOAD_EXAMPLE(prime, "prime");
  for (const char* params : {R"({"n":0})", R"({"n":-3})", R"({"n":"ten"})"}) {
    auto r = Run(*prime, params);
    ASSERT_EQ(r.status, ActivationStatus::kApplicationError) << params << ": " << Describe(r);
    EXPECT_NE(ErrorText(r).find("'n'"), std::string::npos) << Describe(r);
  }
}

TEST_P(ExamplesTest, BlockWaitsForHttpGet) {
  Capabilities net;
  net.net_access = true;
  LOAD_EXAMPLE(block, "block", net);
  auto t0 = Clock::now();
  auto r = Run(*block, "{}", net);
  auto elapsed = Clock::now() - t0;
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << Describe(r);
  EXPECT_EQ(r.result, Json(R"({"status":0})"));
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
}

TEST_P(ExamplesTest, FilesysRoundTripsInTheGrantedDir) {
  TempDir dir("wow-filesys");
  Capabilities caps;
  caps.dirs.push_back({dir.path().string(), dir.path().string()});
  LOAD_EXAMPLE(filesys, "filesys", caps);

  // An explicit path is kept.
  fs::path file = dir.path() / "note.txt";
  auto r = Run(*filesys,
               ToJson(json::object{{"dir", dir.path().string()}, {"path", file.string()}, {"content", "h\xC3\xA9llo\n"}}),
               caps);
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << Describe(r);
  EXPECT_EQ(r.result.at("path"), json::value(file.string()));
  EXPECT_EQ(r.result.at("content"), json::value("h\xC3\xA9llo\n"));
  EXPECT_EQ(r.result.at("bytes"), json::value(7));
  EXPECT_EQ(*ReadFile(file), "h\xC3\xA9llo\n");

  // A generated name is removed afterwards.
  auto generated = Run(*filesys, ToJson(json::object{{"dir", dir.path().string()}}), caps);
  ASSERT_EQ(generated.status, ActivationStatus::kSuccess) << Describe(generated);
  EXPECT_EQ(generated.result.at("content"), json::value("Hello from a wow action.\n"));
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path())) left.insert(e.path().filename().string());
  EXPECT_EQ(left, std::set<std::string>{"note.txt"});
}

TEST_P(ExamplesTest, FilesysGrantedDirIsCreatedWhenMissing) {
  TempDir root("wow-filesys");
  fs::path dir = root.path() / "made" / "by" / "wow";
  Capabilities caps;
  caps.dirs.push_back({dir.string(), dir.string()});
  LOAD_EXAMPLE(filesys, "filesys", caps);
  auto r = Run(*filesys, ToJson(json::object{{"dir", dir.string()}}), caps);
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << Describe(r);
  EXPECT_TRUE(fs::is_directory(dir));
}

TEST_P(ExamplesTest, FilesysWithoutTheGrantIsApplicationError) {
  TempDir dir("wow-filesys");
  LOAD_EXAMPLE(filesys, "filesys");
  fs::path file = dir.path() / "denied.txt";
  auto r = Run(*filesys, ToJson(json::object{{"dir", dir.path().string()}, {"path", file.string()}}));
  ASSERT_EQ(r.status, ActivationStatus::kApplicationError) << Describe(r);
  EXPECT_NE(ErrorText(r).find("cannot open"), std::string::npos) << Describe(r);
  EXPECT_FALSE(fs::exists(file));
}

TEST_P(ExamplesTest, RandomDiffersAndStaysInRange) {
  LOAD_EXAMPLE(random, "random");
  std::set<std::string> seen;
  for (int i = 0; i < 3; ++i) {
    auto r = Run(*random, "{}");
    EXPECT_EQ(r.abi, GuestAbi::kWasiCommand);
    ASSERT_EQ(r.status, ActivationStatus::kSuccess) << Describe(r);
    int64_t value = r.result.at("value").to_number<int64_t>();
    double f = r.result.at("float").to_number<double>();
    EXPECT_GE(value, 0);
    EXPECT_LE(value, int64_t{0xFFFFFFFF});
    EXPECT_GE(f, 0.0);
    EXPECT_LT(f, 1.0);
    seen.insert(ToJson(r.result));
  }
  // Three draws of 96 random bits: a repeat means the source is not random.
  EXPECT_EQ(seen.size(), 3u);
}

TEST_P(ExamplesTest, EchoReturnsParamsAndLogsOnBothStreams) {
  LOAD_EXAMPLE(echo, "echo");
  const std::string params = R"({"a":[1,"x y"],"b":{"c":null},"d":1.5,"e":"\u00e9"})";
  auto r = Run(*echo, params);
  EXPECT_EQ(r.abi, GuestAbi::kWow);
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << Describe(r);
  EXPECT_EQ(r.result, Json(params));
  std::vector<std::string> out, err;
  for (const auto& line : r.logs) (line.stream == LogLine::Stream::kStdout ? out : err).push_back(line.text);
  EXPECT_EQ(out, std::vector<std::string>{fmt::format("echo: {} bytes", params.size())});
  ASSERT_EQ(err.size(), 1u) << Describe(r);
  EXPECT_EQ(err[0].rfind("echo: ", 0), 0u) << err[0];
  EXPECT_FALSE(r.logs_truncated);

  auto empty = Run(*echo, "{}");
  ASSERT_EQ(empty.status, ActivationStatus::kSuccess) << Describe(empty);
  EXPECT_EQ(empty.result, Json("{}"));
}

INSTANTIATE_TEST_SUITE_P(WasmEngines, ExamplesTest, ::testing::ValuesIn(wasm::AvailableEngines()),
                         wow::testing::EngineName);

}  // namespace
}  // namespace wow::abi
