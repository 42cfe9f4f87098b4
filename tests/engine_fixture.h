#pragma once

// A test fixture parametrised over every engine compiled in: one engine per
// test, one artifact cache (a temporary data dir) per suite, so a module
// compiles once per test process.

#include <gtest/gtest.h>

#include <cctype>
#include <memory>
#include <span>
#include <string>

#include "abi/action_runner.h"
#include "common/files.h"
#include "common/json.h"
#include "wasm/engine_factory.h"

namespace wow::abi {

// Readable statuses in gtest failure messages (found by ADL).
inline void PrintTo(ActivationStatus status, std::ostream* os) { *os << ActivationStatusName(status); }
inline void PrintTo(GuestAbi abi, std::ostream* os) { *os << GuestAbiName(abi); }

}  // namespace wow::abi

namespace wow::testing {

// An activation's outcome, result and logs (as OpenWhisk records them), for
// failure messages.
inline std::string Describe(const abi::ActivationResult& r) {
  std::string s = std::string(abi::ActivationStatusName(r.status)) + " " + ToJson(r.result);
  for (const auto& line : r.logs) s += "\n  " + abi::FormatLogLine(line);
  if (r.logs_truncated) s += "\n  (logs truncated)";
  return s;
}

// The "error" member as text (a string as is, anything else serialised).
inline std::string ErrorText(const abi::ActivationResult& r) {
  const auto* obj = r.result.if_object();
  if (obj == nullptr || !obj->contains("error")) return "";
  const boost::json::value& e = obj->at("error");
  return e.is_string() ? std::string(e.as_string()) : ToJson(e);
}

// "aot" -> "aot"; other characters gtest refuses in names become '_'.
inline std::string EngineName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class EngineFixture : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { data_dir_ = new TempDir("wow-test-cache"); }
  static void TearDownTestSuite() {
    delete data_dir_;
    data_dir_ = nullptr;
  }

  void SetUp() override {
    wasm::EngineOptions options;
    options.data_dir = data_dir_->path();
    auto engine = wasm::CreateEngine(GetParam(), options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(engine).value();
  }

  // Loads `wasm` linked against the host functions `caps` grants; null and a
  // test failure when it does not load.
  std::shared_ptr<const wasm::Module> LoadModule(std::span<const uint8_t> wasm, const abi::Capabilities& caps = {},
                                                 const std::string& what = "module") {
    auto module = engine_->Load(wasm, abi::HostFunctionsFor(caps));
    EXPECT_TRUE(module.ok()) << what << ": " << module.status().ToString();
    return module.ok() ? std::move(module).value() : nullptr;
  }

  // Runs one activation; a platform failure (non-OK Result) fails the test
  // and comes back as a developer error saying so.
  static abi::ActivationResult RunOrFail(const wasm::Module& module, const abi::ActivationRequest& request) {
    auto result = abi::RunActivation(module, request);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (result.ok()) return std::move(result).value();
    abi::ActivationResult failed;
    failed.status = abi::ActivationStatus::kDeveloperError;
    failed.result = boost::json::object{{"error", "RunActivation failed: " + result.status().ToString()}};
    return failed;
  }

  static inline TempDir* data_dir_ = nullptr;
  std::unique_ptr<wasm::Engine> engine_;
};

}  // namespace wow::testing
