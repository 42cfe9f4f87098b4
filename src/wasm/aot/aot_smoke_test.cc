// Basic checks of the AoT engine on small inline modules. The full engine
// suite (hostile guests, threads, memory) is tests/engine_test.cc.
#include <gtest/gtest.h>

#include <thread>

#include "common/files.h"
#include "wasm/aot/c_codegen.h"
#include "wasm/engine_factory.h"
#include "wasm/module_reader.h"

namespace wow::wasm {
namespace {

std::vector<uint8_t> Wat(std::string_view text) {
  auto r = WatToWasm(text);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<uint8_t>{};
}

class AotSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.data_dir = dir_.path();
    auto e = CreateEngine("aot", options);
    ASSERT_TRUE(e.ok());
    engine_ = std::move(e).value();
  }
  TempDir dir_;
  std::unique_ptr<Engine> engine_;
};

TEST(MangleTest, MatchesWasm2c) {
  EXPECT_EQ(aot::MangleName("_start"), "Z__start");
  EXPECT_EQ(aot::MangleName("Weird-name.Z"), "Z_WeirdZ2DnameZ2EZ5A");
}

TEST_F(AotSmokeTest, AddsAndCachesAndHostImport) {
  auto wasm = Wat(R"((module
    (import "env" "twice" (func $twice (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add call $twice)
    (func (export "fdiv") (param f64 f64) (result f64) local.get 0 local.get 1 f64.div)
    (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)))");
  HostFunctions host;
  host.Add({"env", "twice", FuncSig{{ValType::kI32}, {ValType::kI32}},
            [](HostCall&, std::span<const RawValue> a, std::span<RawValue> r) {
              r[0] = uint32_t(a[0] * 2);
              return HostAction::kContinue;
            }});
  auto first = engine_->Prepare(wasm);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_FALSE(first->cache_hit);
  auto second = engine_->Prepare(wasm);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->cache_hit);

  auto module = engine_->Load(wasm, host);
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  auto inst = (*module)->Instantiate({});
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  RawValue args[2] = {20, 1};
  RawValue res[1] = {0};
  ASSERT_TRUE((*inst)->Call("add", args, res).ok());
  EXPECT_EQ(res[0], 42u);

  double a = 1.5, b = 0.5, q = 0;
  RawValue fargs[2];
  std::memcpy(&fargs[0], &a, 8);
  std::memcpy(&fargs[1], &b, 8);
  ASSERT_TRUE((*inst)->Call("fdiv", fargs, res).ok());
  std::memcpy(&q, &res[0], 8);
  EXPECT_EQ(q, 3.0);

  RawValue zero[2] = {1, 0};
  Status s = (*inst)->Call("div", zero, res);
  EXPECT_EQ(s.code(), Code::kTrap);
  EXPECT_EQ(s.trap(), TrapKind::kDivideByZero) << s.ToString();
}

TEST_F(AotSmokeTest, MissingImportIsNamed) {
  auto wasm = Wat(R"((module (import "env" "nope" (func (param i32)))))");
  auto module = engine_->Load(wasm, HostFunctions{});
  ASSERT_FALSE(module.ok());
  EXPECT_EQ(module.status().code(), Code::kLinkError);
  EXPECT_NE(module.status().message().find("env.nope"), std::string::npos) << module.status().message();
}

TEST_F(AotSmokeTest, OutOfBoundsAndStackOverflowOnThreads) {
  auto wasm = Wat(R"((module
    (memory 1)
    (func (export "oob") (result i32) i32.const 70000 i32.load)
    ;; Recurses on data, so the C compiler cannot turn it into a loop.
    (func $rec (export "rec") (param i32) (result i32)
      (i32.store (i32.const 0) (local.get 0))
      (if (result i32) (i32.eqz (i32.load (i32.const 4)))
        (then (i32.add (call $rec (i32.add (local.get 0) (i32.const 1))) (i32.load (i32.const 0))))
        (else (local.get 0))))))");
  auto module = engine_->Load(wasm, HostFunctions{});
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  auto run = [&](const char* fn, TrapKind want) {
    for (int i = 0; i < 20; ++i) {
      auto inst = (*module)->Instantiate({});
      ASSERT_TRUE(inst.ok());
      RawValue args[1] = {0};
      RawValue res[1];
      std::span<const RawValue> a(args, std::string_view(fn) == "rec" ? 1 : 0);
      Status s = (*inst)->Call(fn, a, res);
      EXPECT_EQ(s.trap(), want) << s.ToString();
    }
  };
  std::thread t1(run, "oob", TrapKind::kOutOfBounds);
  std::thread t2(run, "rec", TrapKind::kStackExhausted);
  t1.join();
  t2.join();
  run("rec", TrapKind::kStackExhausted);
}

}  // namespace
}  // namespace wow::wasm
