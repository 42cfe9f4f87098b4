// The executor's caps on what its (trusted) caller may ask for: containers,
// code bytes and time limits, at and over each limit. Uses the interpreter
// and WebAssembly text, so nothing is compiled.

#include "executor/executor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <limits>
#include <string>

#include "executor/deadline.h"

namespace wow::executor {
namespace {

using std::chrono::milliseconds;

// A WASI command that returns at once; `n` makes modules distinct.
std::string QuickWat(int n) {
  return "(module (memory (export \"memory\") 1) (global i32 (i32.const " + std::to_string(n) +
         ")) (func (export \"_start\")))";
}
constexpr char kSpinWat[] = R"((module (memory (export "memory") 1) (func (export "_start") (loop (br 0)))))";

InitRequest Text(std::string wat) {
  InitRequest r;
  r.code = std::move(wat);
  r.binary = false;
  return r;
}

ExecutorOptions Interp() {
  ExecutorOptions o;
  o.engine = "interp";
  o.workers = 1;
  return o;
}

std::unique_ptr<Executor> Make(const ExecutorOptions& options) {
  auto e = Executor::Create(options);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? std::move(e).value() : nullptr;
}

Result<abi::ActivationResult> RunNow(Executor& e, std::shared_ptr<const Container> c, RunRequest r) {
  std::promise<Result<abi::ActivationResult>> done;
  e.Run(std::move(c), std::move(r), [&](Result<abi::ActivationResult> result) { done.set_value(std::move(result)); });
  return done.get_future().get();
}

TEST(ExecutorCapsTest, OptionsAreChecked) {
  ExecutorOptions o = Interp();
  o.default_timeout = milliseconds(301'000);  // above max_time_limit's 300 s
  auto e = Executor::Create(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("maximum time limit"), std::string::npos) << e.status().ToString();
  o = Interp();
  o.max_containers = 0;
  EXPECT_FALSE(Executor::Create(o).ok());
}

TEST(ExecutorCapsTest, MaxContainersAtAndOverTheLimit) {
  ExecutorOptions o = Interp();
  o.max_containers = 3;
  auto e = Make(o);
  ASSERT_NE(e, nullptr);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(e->Init("c" + std::to_string(i), Text(QuickWat(i))).ok()) << i;
  auto over = e->Init("c3", Text(QuickWat(3)));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), Code::kResourceExhausted);
  EXPECT_NE(over.status().message().find("maximum of 3 containers"), std::string::npos) << over.status().ToString();
  // Initialising an id that exists is still "twice", not "full".
  EXPECT_EQ(e->Init("c0", Text(QuickWat(0))).status().code(), Code::kAlreadyExists);
  // A failed init takes no place; a destroyed container frees its place.
  EXPECT_FALSE(e->Init("c3", Text("(module")).ok());
  EXPECT_EQ(e->containers(), 3u);
  ASSERT_TRUE(e->Destroy("c1"));
  EXPECT_TRUE(e->Init("c3", Text(QuickWat(3))).ok());
  EXPECT_EQ(e->containers(), 3u);
}

TEST(ExecutorCapsTest, MaxCodeBytesAtAndOverTheLimit) {
  // How many bytes one module counts (the interpreter has no artifact).
  uint64_t one = 0;
  {
    auto probe = Make(Interp());
    ASSERT_NE(probe, nullptr);
    auto c = probe->Init("probe", Text(QuickWat(0)));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    one = (*c)->code_bytes;
    ASSERT_GT(one, 0u);
    EXPECT_EQ(probe->code_bytes(), one);
    EXPECT_TRUE(probe->Destroy("probe"));
    EXPECT_EQ(probe->code_bytes(), 0u);
  }
  ExecutorOptions o = Interp();
  o.max_code_bytes = 2 * one;  // exactly two modules (all QuickWat modules have one size)
  auto e = Make(o);
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->Init("a", Text(QuickWat(1))).ok());
  ASSERT_TRUE(e->Init("b", Text(QuickWat(2))).ok());
  EXPECT_EQ(e->code_bytes(), 2 * one);
  auto over = e->Init("c", Text(QuickWat(3)));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), Code::kResourceExhausted);
  EXPECT_NE(over.status().message().find("bytes of code"), std::string::npos) << over.status().ToString();
  EXPECT_EQ(e->code_bytes(), 2 * one);  // the refused init left no charge
  EXPECT_EQ(e->Find("c"), nullptr);
  ASSERT_TRUE(e->Destroy("a"));
  EXPECT_EQ(e->code_bytes(), one);
  EXPECT_TRUE(e->Init("c", Text(QuickWat(3))).ok());
  EXPECT_EQ(e->code_bytes(), 2 * one);
}

TEST(ExecutorCapsTest, LimitsTimeoutAboveTheMaximumIsRefused) {
  auto e = Make(Interp());
  ASSERT_NE(e, nullptr);
  InitRequest at = Text(QuickWat(0));
  at.timeout_ms = 300'000;
  EXPECT_TRUE(e->Init("at", at).ok());
  for (uint64_t timeout : {uint64_t{300'001}, uint64_t{1'000'000'000'000'000}, std::numeric_limits<uint64_t>::max()}) {
    InitRequest over = Text(QuickWat(0));
    over.timeout_ms = timeout;
    auto r = e->Init("over", over);
    ASSERT_FALSE(r.ok()) << timeout;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("exceeds this executor's maximum of 300000 ms"), std::string::npos)
        << r.status().ToString();
  }
  EXPECT_EQ(e->containers(), 1u);
}

TEST(ExecutorCapsTest, TimeLimitIsClampedNeverZeroNeverEndless) {
  ExecutorOptions o = Interp();
  auto e = Make(o);
  ASSERT_NE(e, nullptr);
  Container plain;
  Container limited;
  limited.timeout_ms = 1000;
  RunRequest none;
  EXPECT_EQ(e->TimeLimitMs(plain, none), 60'000u);
  EXPECT_EQ(e->TimeLimitMs(limited, none), 1000u);
  RunRequest far;
  far.deadline = EpochMsToTimePoint(std::numeric_limits<uint64_t>::max());  // 2^64-1 ms
  EXPECT_EQ(e->TimeLimitMs(plain, far), 300'000u);
  EXPECT_EQ(e->TimeLimitMs(limited, far), 1000u);
  far.deadline = EpochMsToTimePoint(1'000'000'000'000'000);  // 1e15 ms
  EXPECT_EQ(e->TimeLimitMs(plain, far), 300'000u);
  far.deadline = std::chrono::system_clock::time_point::max();
  EXPECT_EQ(e->TimeLimitMs(plain, far), 300'000u);
  RunRequest soon;
  soon.deadline = std::chrono::system_clock::now() + milliseconds(5000);
  EXPECT_GT(e->TimeLimitMs(plain, soon), 4000u);
  EXPECT_LE(e->TimeLimitMs(plain, soon), 5000u);
  RunRequest past;
  past.deadline = std::chrono::system_clock::time_point::min();
  EXPECT_EQ(e->TimeLimitMs(plain, past), 0u);
}

TEST(ExecutorCapsTest, ASpinningRunWithAFarDeadlineStopsAtTheMaximum) {
  ExecutorOptions o = Interp();
  o.default_timeout = milliseconds(200);
  o.max_time_limit = milliseconds(200);
  auto e = Make(o);
  ASSERT_NE(e, nullptr);
  auto c = e->Init("spin", Text(kSpinWat));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  RunRequest r;
  r.deadline = EpochMsToTimePoint(std::numeric_limits<uint64_t>::max());
  auto start = std::chrono::steady_clock::now();
  auto result = RunNow(*e, *c, r);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(result->timed_out);
  EXPECT_EQ(result->result.at("error").as_string(), "The action exceeded its time limits of 200 milliseconds.");
  EXPECT_GE(ms, 150);
  EXPECT_LT(ms, 10'000);
}

}  // namespace
}  // namespace wow::executor
