// WOW's own kind of action: Rust compiled to wasm32-wasi with the buffer ABI of
// WOW's `pass_json!` macro (tests/rust_action/ow_wasm_action.rs reproduces it),
// run through abi::RunActivation on every engine. The modules are built by
// tests/rust_action/CMakeLists.txt with Debian's rustc; without that toolchain
// every test skips.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "abi/action_runner.h"
#include "common/files.h"
#include "common/json.h"
#include "wasm/engine_factory.h"

namespace wow::abi {
namespace {

namespace json = boost::json;

std::filesystem::path ActionPath(const std::string& name) {
  return std::filesystem::path(WOW_BINARY_DIR) / "tests" / "rust_action" / (name + ".wasm");
}

json::value Json(std::string_view text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString() << " in " << text;
  return v.ok() ? *v : json::value();
}

std::string AllLogs(const ActivationResult& r) {
  std::string out;
  for (const auto& l : r.logs) {
    out += (l.stream == LogLine::Stream::kStdout ? "[out] " : "[err] ") + l.text + "\n";
  }
  return out;
}

bool HasLog(const ActivationResult& r, LogLine::Stream stream, std::string_view needle) {
  for (const auto& l : r.logs) {
    if (l.stream == stream && l.text.find(needle) != std::string::npos) return true;
  }
  return false;
}

// CTest runs every test in its own process, and the AoT engine takes seconds
// to compile a module with Rust's std, so the compiled artifacts are shared
// between processes in the build tree, under a directory named after this
// executable's size and time: relinking it (a new code generator or runtime)
// starts a fresh cache and removes the old ones.
std::filesystem::path SharedCacheDir() {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::filesystem::path root = std::filesystem::path(WOW_BINARY_DIR) / "tests" / "rust_action" / "aot-cache";
  if (ec) return {};
  auto size = std::filesystem::file_size(self, ec);
  if (ec) return {};
  auto mtime = std::filesystem::last_write_time(self, ec).time_since_epoch().count();
  if (ec) return {};
  std::filesystem::path dir = root / (std::to_string(size) + "-" + std::to_string(mtime));
  if (!std::filesystem::exists(dir, ec)) {
    for (const auto& old : std::filesystem::directory_iterator(root, ec)) {
      std::error_code ignored;
      std::filesystem::remove_all(old.path(), ignored);
    }
    std::filesystem::create_directories(dir, ec);
    if (ec) return {};
  }
  return dir;
}

class RustWowActionTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    cache_dir_ = SharedCacheDir();
    if (cache_dir_.empty()) {
      temp_dir_ = new TempDir("wow-rust-action");
      cache_dir_ = temp_dir_->path();
    }
  }
  static void TearDownTestSuite() {
    std::lock_guard lock(mu_);
    modules_.clear();
    engines_.clear();
    delete temp_dir_;
    temp_dir_ = nullptr;
  }

  // The module `name`, loaded once per engine and capability set (the AoT
  // engine compiles a Rust std module in seconds, not microseconds). Skips
  // the test when the module was not built.
  std::shared_ptr<const wasm::Module> LoadAction(const std::string& name, const Capabilities& caps = {}) {
    auto path = ActionPath(name);
    if (!std::filesystem::exists(path)) {
      skipped_ = true;
      return nullptr;
    }
    std::lock_guard lock(mu_);
    std::string key = GetParam() + "/" + name + (caps.net_access ? "/net" : "");
    if (auto it = modules_.find(key); it != modules_.end()) return it->second;
    wasm::Engine* engine = EngineLocked();
    if (engine == nullptr) return nullptr;
    auto bytes = ReadFile(path);
    EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
    if (!bytes.ok()) return nullptr;
    auto module = engine->Load(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()),
        HostFunctionsFor(caps));
    EXPECT_TRUE(module.ok()) << name << ": " << module.status().ToString();
    if (!module.ok()) return nullptr;
    modules_[key] = *module;
    return *module;
  }

  // Loads without caching, for link failures.
  Result<std::shared_ptr<const wasm::Module>> LoadUncached(const std::string& name, const Capabilities& caps) {
    auto bytes = ReadFile(ActionPath(name));
    if (!bytes.ok()) return bytes.status();
    std::lock_guard lock(mu_);
    wasm::Engine* engine = EngineLocked();
    if (engine == nullptr) return Status::Internal("no engine");
    return engine->Load(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()),
                        HostFunctionsFor(caps));
  }

  ActivationResult Run(const wasm::Module& module, const std::string& action, std::string params,
                       Capabilities caps = {}, ActivationLimits limits = {}) {
    ActivationRequest request;
    request.action_name = action;
    request.params_json = std::move(params);
    request.capabilities = std::move(caps);
    request.limits = limits;
    auto r = RunActivation(module, request);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    EXPECT_EQ(r->abi, GuestAbi::kWow);
    return std::move(r).value();
  }

  bool skipped_ = false;

 private:
  wasm::Engine* EngineLocked() {
    auto& e = engines_[GetParam()];
    if (!e) {
      wasm::EngineOptions options;
      options.data_dir = cache_dir_;
      auto created = wasm::CreateEngine(GetParam(), options);
      EXPECT_TRUE(created.ok()) << created.status().ToString();
      if (!created.ok()) return nullptr;
      e = std::move(created).value();
    }
    return e.get();
  }

  static inline std::mutex mu_;
  static inline std::filesystem::path cache_dir_;
  static inline TempDir* temp_dir_ = nullptr;  // when the build tree is not writable
  static inline std::map<std::string, std::unique_ptr<wasm::Engine>> engines_;
  static inline std::map<std::string, std::shared_ptr<const wasm::Module>> modules_;
};

#define LOAD_OR_SKIP(var, ...)                                                                         \
  auto var = LoadAction(__VA_ARGS__);                                                                  \
  if (skipped_) GTEST_SKIP() << "Rust WOW actions not built (needs Debian's rustc, "                   \
                                "libstd-rust-dev-wasm32 and lld-14; see tests/rust_action/CMakeLists.txt)"; \
  ASSERT_NE(var, nullptr)

TEST_P(RustWowActionTest, ExportsAreDetectedAsWowAbi) {
  LOAD_OR_SKIP(module, "add");
  auto abi = DetectAbi(module->info());
  ASSERT_TRUE(abi.ok()) << abi.status().ToString();
  EXPECT_EQ(*abi, GuestAbi::kWow);
  // The signatures WOW's hosts call them with.
  const auto* alloc = module->info().FindExport("wasm_memory_buffer_allocate_space");
  ASSERT_NE(alloc, nullptr);
  EXPECT_EQ(alloc->sig.params, std::vector<wasm::ValType>{wasm::ValType::kI32});
  EXPECT_TRUE(alloc->sig.results.empty());
  for (const char* name : {"get_wasm_memory_buffer_pointer", "get_wasm_memory_buffer_len"}) {
    const auto* e = module->info().FindExport(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_TRUE(e->sig.params.empty()) << name;
    EXPECT_EQ(e->sig.results, std::vector<wasm::ValType>{wasm::ValType::kI32}) << name;
  }
}

TEST_P(RustWowActionTest, AddReturnsTheSum) {
  LOAD_OR_SKIP(module, "add");
  auto r = Run(*module, "add", R"({"param1": 40, "param2": 2})");
  EXPECT_EQ(r.status, ActivationStatus::kSuccess) << json::serialize(r.result) << "\n" << AllLogs(r);
  EXPECT_EQ(r.result, Json(R"({"result": 42})"));

  r = Run(*module, "add", R"({"param2": 3, "param1": -5000000000, "extra": [1, {"x": null}]})");
  EXPECT_EQ(r.status, ActivationStatus::kSuccess) << json::serialize(r.result);
  EXPECT_EQ(r.result, Json(R"({"result": -4999999997})"));
  EXPECT_TRUE(r.logs.empty()) << AllLogs(r);
}

TEST_P(RustWowActionTest, AddErrIsAnApplicationError) {
  LOAD_OR_SKIP(module, "add");
  // WOW's macro turns Err(e) into {"Err": {"error": "<e>"}}.
  auto r = Run(*module, "add", R"({"param1": 1})");
  EXPECT_EQ(r.status, ActivationStatus::kApplicationError) << json::serialize(r.result);
  EXPECT_EQ(r.result, Json(R"({"error": "Expected param2."})"));

  r = Run(*module, "add", R"({"param1": 1.5, "param2": 1})");
  EXPECT_EQ(r.status, ActivationStatus::kApplicationError) << json::serialize(r.result);
  EXPECT_EQ(r.result, Json(R"({"error": "Expected param1 to be i64"})"));
}

TEST_P(RustWowActionTest, ArgvIsActionNameAndParamLength) {
  LOAD_OR_SKIP(module, "echo");
  std::string params = R"({"a": 1})";
  auto r = Run(*module, "my-echo", params);
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << json::serialize(r.result) << "\n" << AllLogs(r);
  EXPECT_EQ(r.result.at("argv"), Json(R"(["my-echo", ")" + std::to_string(params.size()) + R"("])"));
}

TEST_P(RustWowActionTest, PrintlnAndEprintlnAreCapturedAsLogs) {
  LOAD_OR_SKIP(module, "echo");
  auto r = Run(*module, "echo", R"({"k": "v"})");
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << json::serialize(r.result) << "\n" << AllLogs(r);
  EXPECT_TRUE(HasLog(r, LogLine::Stream::kStdout, R"(echo: argv ["echo", "10"])")) << AllLogs(r);
  EXPECT_TRUE(HasLog(r, LogLine::Stream::kStdout, R"(echo: params {"k":"v"})")) << AllLogs(r);
  EXPECT_TRUE(HasLog(r, LogLine::Stream::kStderr, "echo: a line on stderr")) << AllLogs(r);
  // print! without a newline is flushed when main returns.
  EXPECT_TRUE(HasLog(r, LogLine::Stream::kStdout, "echo: no newline at the end")) << AllLogs(r);
  // The result travels in the buffer, not on stdout.
  for (const auto& l : r.logs) EXPECT_EQ(l.text.find("\"Ok\""), std::string::npos) << l.text;
}

TEST_P(RustWowActionTest, ParamsRoundTripThroughTheGuest) {
  LOAD_OR_SKIP(module, "echo");
  std::string params =
      R"({"s": "quote \" backslash \\ tab \t nl \n ctl \u0001 é 😀 \ud83d\ude00", )"
      R"("n": [0, -1, 18446744073709551615, -9223372036854775808, 1.5, 1e300, 2.5e-7],)"
      R"( "o": {"z": true, "a": false, "m": null}, "e": {}, "l": []})";
  auto r = Run(*module, "echo", params);
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << json::serialize(r.result) << "\n" << AllLogs(r);
  EXPECT_EQ(r.result.at("params"), Json(params));
  // serde_json formatting: compact, keys sorted, its escapes and number forms.
  EXPECT_TRUE(HasLog(r, LogLine::Stream::kStdout,
                     R"(echo: params {"e":{},"l":[],"n":[0,-1,18446744073709551615,-9223372036854775808,1.5,1e300,2.5e-7],)"
                     R"("o":{"a":false,"m":null,"z":true},"s":"quote \" backslash \\ tab \t nl \n ctl \u0001 é 😀 😀"})"))
      << AllLogs(r);
}

TEST_P(RustWowActionTest, ErrFromEchoKeepsItsLogs) {
  LOAD_OR_SKIP(module, "echo");
  auto r = Run(*module, "echo", R"({"fail": "it went wrong"})");
  EXPECT_EQ(r.status, ActivationStatus::kApplicationError) << json::serialize(r.result);
  EXPECT_EQ(r.result, Json(R"({"error": "it went wrong"})"));
  EXPECT_TRUE(HasLog(r, LogLine::Stream::kStderr, "echo: a line on stderr")) << AllLogs(r);
}

TEST_P(RustWowActionTest, PanicIsADeveloperErrorWithThePanicMessageLogged) {
  LOAD_OR_SKIP(module, "echo");
  auto r = Run(*module, "echo", R"({"panic": "kaboom"})");
  EXPECT_EQ(r.status, ActivationStatus::kDeveloperError) << json::serialize(r.result);
  ASSERT_TRUE(r.result.is_object() && r.result.as_object().contains("error")) << json::serialize(r.result);
  EXPECT_NE(std::string(r.result.at("error").as_string()).find("trapped"), std::string::npos)
      << json::serialize(r.result);
  EXPECT_TRUE(HasLog(r, LogLine::Stream::kStderr, "panicked at 'kaboom'")) << AllLogs(r);
  EXPECT_TRUE(HasLog(r, LogLine::Stream::kStdout, "echo: argv")) << AllLogs(r);
}

TEST_P(RustWowActionTest, ProcessExitIsADeveloperError) {
  LOAD_OR_SKIP(module, "echo");
  auto r = Run(*module, "echo", R"({"exit": 3})");
  EXPECT_EQ(r.status, ActivationStatus::kDeveloperError) << json::serialize(r.result);
  EXPECT_EQ(r.result, Json(R"({"error": "The action exited with code 3."})"));
  EXPECT_TRUE(HasLog(r, LogLine::Stream::kStderr, "echo: a line on stderr")) << AllLogs(r);
}

TEST_P(RustWowActionTest, ResultLargerThanParamsIsReadFromTheMovedBuffer) {
  LOAD_OR_SKIP(module, "echo");
  auto r = Run(*module, "echo", R"({"repeat": 300000})");
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << AllLogs(r);
  EXPECT_EQ(r.result.at("big").as_string().size(), 300000u);
  EXPECT_EQ(r.result.at("params"), Json(R"({"repeat": 300000})"));
}

TEST_P(RustWowActionTest, ResultOverTheLimitIsRefused) {
  LOAD_OR_SKIP(module, "echo");
  ActivationLimits limits;
  limits.result_bytes = 4096;
  auto r = Run(*module, "echo", R"({"repeat": 10000})", {}, limits);
  EXPECT_EQ(r.status, ActivationStatus::kDeveloperError);
  EXPECT_NE(json::serialize(r.result).find("exceeded the allowed length"), std::string::npos)
      << json::serialize(r.result);
}

TEST_P(RustWowActionTest, LargeParamsReachTheGuest) {
  LOAD_OR_SKIP(module, "echo");
  // Half a MiB: echo returns it, and results are limited to 1 MiB.
  std::string pad(512 << 10, 'y');
  auto r = Run(*module, "echo", R"({"pad": ")" + pad + R"("})");
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << json::serialize(r.result).substr(0, 200);
  EXPECT_EQ(r.result.at("params").at("pad").as_string(), pad);
}

TEST_P(RustWowActionTest, EveryActivationStartsFromAFreshInstance) {
  LOAD_OR_SKIP(module, "echo");
  // A long first activation must leave nothing behind for a short second one.
  auto first = Run(*module, "echo", R"({"repeat": 5000, "pad": ")" + std::string(2000, 'p') + R"("})");
  ASSERT_EQ(first.status, ActivationStatus::kSuccess);
  auto second = Run(*module, "echo", R"({"b": 2})");
  ASSERT_EQ(second.status, ActivationStatus::kSuccess) << json::serialize(second.result);
  EXPECT_EQ(second.result.at("params"), Json(R"({"b": 2})"));
  EXPECT_FALSE(second.result.as_object().contains("big"));
}

TEST_P(RustWowActionTest, ConcurrentActivationsOfOneModule) {
  LOAD_OR_SKIP(module, "add");
  constexpr int kThreads = 8;
  constexpr int kRuns = 10;
  std::vector<std::thread> threads;
  std::vector<int> good(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRuns; ++i) {
        ActivationRequest request;
        request.action_name = "add";
        request.params_json = "{\"param1\": " + std::to_string(t) + ", \"param2\": " + std::to_string(i) + "}";
        auto r = RunActivation(*module, request);
        if (r.ok() && r->status == ActivationStatus::kSuccess && r->result.is_object() &&
            r->result.as_object().contains("result") && r->result.at("result").is_int64() &&
            r->result.at("result").as_int64() == t + i) {
          ++good[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(good[t], kRuns) << "thread " << t;
}

TEST_P(RustWowActionTest, BlockCallsHttpGetWithNetAccess) {
  Capabilities caps;
  caps.net_access = true;
  LOAD_OR_SKIP(module, "block", caps);
  auto r = Run(*module, "block", "{}", caps);
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << json::serialize(r.result) << "\n" << AllLogs(r);
  // WOW's block reports the elapsed milliseconds as a string.
  ASSERT_TRUE(r.result.at("sleep").is_string()) << json::serialize(r.result);
  int ms = std::stoi(std::string(r.result.at("sleep").as_string()));
  EXPECT_GE(ms, 290);
  EXPECT_LT(ms, 5000);
}

TEST_P(RustWowActionTest, BlockDoesNotLinkWithoutNetAccess) {
  LOAD_OR_SKIP(module, "add");  // only to skip when the actions were not built
  auto loaded = LoadUncached("block", Capabilities{});
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kLinkError) << loaded.status().ToString();
  EXPECT_NE(loaded.status().message().find("http.get"), std::string::npos) << loaded.status().ToString();
}

TEST_P(RustWowActionTest, FilesysWritesIntoThePreopenedDirectory) {
  LOAD_OR_SKIP(module, "filesys");
  TempDir dir("wow-rust-filesys");
  Capabilities caps;
  caps.dirs = {{dir.path().string(), dir.path().string()}};
  json::object params;
  params["dir"] = dir.path().string();
  auto r = Run(*module, "filesys", json::serialize(params), caps);
  ASSERT_EQ(r.status, ActivationStatus::kSuccess) << json::serialize(r.result) << "\n" << AllLogs(r);
  EXPECT_EQ(r.result.at("success"), json::value(true));
  // As in WOW: read from the write position, so nothing is read back.
  EXPECT_EQ(r.result.at("content"), json::value(""));
  std::filesystem::path written(std::string(r.result.at("path").as_string()));
  EXPECT_EQ(written.parent_path(), dir.path());
  auto content = ReadFile(written);
  ASSERT_TRUE(content.ok()) << content.status().ToString();
  EXPECT_EQ(*content, "Hello, Wasm.");
}

TEST_P(RustWowActionTest, FilesysWithoutTheDirCapabilityFails) {
  LOAD_OR_SKIP(module, "filesys");
  TempDir dir("wow-rust-filesys");
  json::object params;
  params["dir"] = dir.path().string();
  auto r = Run(*module, "filesys", json::serialize(params));
  // The open fails and `?` turns it into the action's Err.
  EXPECT_EQ(r.status, ActivationStatus::kApplicationError) << json::serialize(r.result) << "\n" << AllLogs(r);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

INSTANTIATE_TEST_SUITE_P(WasmEngines, RustWowActionTest, ::testing::ValuesIn(wasm::AvailableEngines()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace wow::abi
