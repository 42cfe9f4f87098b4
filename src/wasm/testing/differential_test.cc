#include "wasm/testing/differential.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "wasm/engine_factory.h"
#include "wasm/module_reader.h"
#include "wasm/testing/random_module.h"

namespace wow::wasm::testing {
namespace {

namespace fs = std::filesystem;

class DifferentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("wow-differential-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<DifferentialRunner> Runner(const std::vector<std::string>& engines) {
    EngineOptions options;
    options.data_dir = dir_;
    auto runner = DifferentialRunner::Create(engines, options);
    EXPECT_TRUE(runner.ok()) << runner.status().ToString();
    return runner.ok() ? std::move(*runner) : nullptr;
  }

  fs::path dir_;
};

TEST_F(DifferentialTest, GeneratedModulesAreValidAndFinish) {
  auto runner = Runner({"interp", "interp"});
  ASSERT_TRUE(runner);
  size_t traps = 0, completions = 0, observed = 0;
  for (uint64_t seed = 1; seed <= 300; seed++) {
    std::vector<uint8_t> wasm = RandomModule(EntropyFromSeed(seed));
    auto parsed = ParseModule(wasm);
    ASSERT_TRUE(parsed.ok()) << "seed " << seed << ": " << parsed.status().ToString();
    DifferentialOutcome out = runner->Run(wasm, kRandomModuleDeadline);
    ASSERT_TRUE(out.valid) << "seed " << seed;
    ASSERT_FALSE(out.inconclusive) << "seed " << seed << " did not finish";
    EXPECT_EQ(out.divergence, "") << "seed " << seed;  // the interpreter agrees with itself
    const EngineBehaviour& b = out.behaviours[0];
    ASSERT_FALSE(b.calls.empty());
    for (const std::string& call : b.calls) {
      bool trapped = call.find(" trap: ") != std::string::npos;
      traps += trapped;
      completions += !trapped;
    }
    observed += b.observed.size();
  }
  // The generator reaches both outcomes and the host, or comparing them
  // would prove little.
  EXPECT_GT(traps, 30u);
  EXPECT_GT(completions, 30u);
  EXPECT_GT(observed, 100u);
}

TEST_F(DifferentialTest, EmptyEntropyGivesTheSimplestModule) {
  std::vector<uint8_t> wasm = RandomModule({});
  ASSERT_TRUE(ParseModule(wasm).ok());
  auto runner = Runner({"interp", "interp"});
  ASSERT_TRUE(runner);
  DifferentialOutcome out = runner->Run(wasm, kRandomModuleDeadline);
  EXPECT_TRUE(out.valid);
  EXPECT_FALSE(out.inconclusive);
}

TEST_F(DifferentialTest, EveryEngineAgreesOnGeneratedModules) {
  auto runner = Runner(AvailableEngines());
  ASSERT_TRUE(runner);
  for (uint64_t seed = 1000; seed < 1030; seed++) {
    std::vector<uint8_t> wasm = RandomModule(EntropyFromSeed(seed));
    DifferentialOutcome out = runner->Run(wasm, kRandomModuleDeadline);
    EXPECT_TRUE(out.valid) << "seed " << seed;
    EXPECT_EQ(out.divergence, "") << "seed " << seed;
    for (const auto& b : out.behaviours) EXPECT_TRUE(b.loaded) << b.engine << ": " << b.load_error;
  }
}

TEST_F(DifferentialTest, InvalidModulesAreInvalidEverywhere) {
  std::vector<uint8_t> wasm = RandomModule(EntropyFromSeed(7));
  wasm.resize(wasm.size() / 2);  // cut in the middle of a section
  auto runner = Runner(AvailableEngines());
  ASSERT_TRUE(runner);
  DifferentialOutcome out = runner->Run(wasm);
  EXPECT_FALSE(out.valid);
  EXPECT_EQ(out.divergence, "");
}

TEST(FirstDifferenceTest, NamesEachKindOfDifference) {
  EngineBehaviour a;
  a.engine = "a";
  a.loaded = true;
  a.calls = {"f0() = i32:1"};
  a.observed = {5};
  a.memory = {1, 2, 3};
  EngineBehaviour b = a;
  b.engine = "b";
  EXPECT_EQ(FirstDifference(a, b), "");

  EngineBehaviour c = b;
  c.calls = {"f0() = i32:2"};
  EXPECT_EQ(FirstDifference(a, c), "call 0: a gives `f0() = i32:1`, b gives `f0() = i32:2`");

  c = b;
  c.observed = {5, 6};
  EXPECT_NE(FirstDifference(a, c).find("host call 1"), std::string::npos) << FirstDifference(a, c);

  c = b;
  c.memory[2] = 9;
  EXPECT_EQ(FirstDifference(a, c), "memory[0x2]: a has 0x03, b has 0x09");

  c = b;
  c.loaded = false;
  c.load_error = "bad";
  EXPECT_EQ(FirstDifference(a, c), "a loads it, b does not: bad");

  // An inconclusive run (a timeout) compares only the calls both finished.
  c = b;
  c.inconclusive = true;
  c.calls = {};
  c.memory = {};
  EXPECT_EQ(FirstDifference(a, c), "");
}

TEST(DifferentialArgsTest, SameArgumentsForTheSameCall) {
  FuncSig sig{{ValType::kI32, ValType::kF64, ValType::kI64}, {}};
  EXPECT_EQ(DifferentialArgs(sig, 3), DifferentialArgs(sig, 3));
  EXPECT_EQ(DifferentialArgs(sig, 3).size(), 3u);
  EXPECT_NE(DifferentialArgs(sig, 0), DifferentialArgs(sig, 1));
}

}  // namespace
}  // namespace wow::wasm::testing
