// The invoker's memory budget, queue, LRU unloading and keep-alive, in
// process: a real Executor (AoT) and Store in temporary directories, and a
// WebAssembly-text action that sleeps 200 ms in poll_oneoff.

#include "controller/invoker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>
#include <thread>

#include "common/files.h"
#include "common/json.h"

namespace wow::controller {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kSleeper[] = R"((module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "{}\n")
  (func (export "_start")
    (i64.store (i32.const 0) (i64.const 0))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 200000000))
    (i64.store (i32.const 32) (i64.const 0))
    (i32.store16 (i32.const 40) (i32.const 0))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    (i32.store (i32.const 100) (i32.const 200))
    (i32.store (i32.const 104) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 140)))))
)";

// A quick action; `seed` makes distinct modules (distinct artifacts).
std::string Quick(int seed) {
  return R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "{}\n")
  (func (export "seed") (result i32) (i32.const )" +
         std::to_string(seed) + R"())
  (func (export "_start")
    (i32.store (i32.const 100) (i32.const 200))
    (i32.store (i32.const 104) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 140)))))
)";
}

// An action whose result is {"v": text}.
std::string Says(const std::string& text) {
  std::string line = "{\\\"v\\\":\\\"" + text + "\\\"}\\n";  // WebAssembly text escapes
  size_t bytes = text.size() + 9;                            // {"v":"...."}\n
  return R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) ")" +
         line + R"(")
  (func (export "_start")
    (i32.store (i32.const 100) (i32.const 200))
    (i32.store (i32.const 104) (i32.const )" +
         std::to_string(bytes) + R"())
    (drop (call $fd_write (i32.const 1) (i32.const 100) (i32.const 1) (i32.const 140)))))
)";
}

StoredAction Action(const std::string& name, const std::string& wat, int memory_mb = 256, int concurrency = 1) {
  StoredAction a;
  a.namespace_ = "guest";
  a.name = name;
  a.doc["namespace"] = "guest";
  a.doc["name"] = name;
  a.doc["version"] = "0.0.1";
  a.doc["exec"] = json::object{{"kind", "wasm"}, {"code", wat}, {"binary", false}};
  a.doc["limits"] = json::object{{"timeout", 10000}, {"memory", memory_mb}, {"logs", 10}, {"concurrency", concurrency}};
  return a;
}

class InvokerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { artifacts_ = new TempDir("wow-invoker-artifacts"); }
  static void TearDownTestSuite() { delete artifacts_; }

  void Make(InvokerOptions options, StoreOptions store_options = {}) {
    auto store = Store::Open(dir_.path(), store_options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
    executor::ExecutorOptions eo;
    eo.engine_options.data_dir = artifacts_->path();  // compiles once per suite
    auto executor = executor::Executor::Create(eo);
    ASSERT_TRUE(executor.ok()) << executor.status().ToString();
    executor_ = std::move(*executor);
    invoker_ = std::make_unique<Invoker>(*executor_, *store_, options);
  }
  void TearDown() override {
    if (executor_) executor_->Shutdown();
    invoker_.reset();
    executor_.reset();
    store_.reset();
  }

  Status Deploy(const StoredAction& a) {
    std::promise<Status> p;
    invoker_->Deploy(a, [&](Status s) { p.set_value(s); });
    return p.get_future().get();
  }

  struct Outcome {
    json::object record;
    bool overloaded = false;
    Clock::time_point at;
  };
  // Starts an invocation; the future resolves when it completes.
  std::future<Outcome> Invoke(const StoredAction& a) {
    auto p = std::make_shared<std::promise<Outcome>>();
    Invocation inv;
    inv.action = a;
    inv.subject = "guest";
    inv.activation_id = Invoker::NewActivationId();
    invoker_->Invoke(std::move(inv), [p](json::object record, bool overloaded) {
      p->set_value(Outcome{std::move(record), overloaded, Clock::now()});
    });
    return p->get_future();
  }
  static int64_t StatusCode(const Outcome& o) { return o.record.at("response").at("statusCode").as_int64(); }
  // What a Says action answered, or its error.
  static std::string Said(const Outcome& o) {
    const json::value& result = o.record.at("response").at("result");
    if (const json::value* v = result.as_object().if_contains("v")) return std::string(v->as_string());
    return "error: " + ToJson(result);
  }

  // Stores the action (a new version of it when it exists) and returns it
  // as stored, with its revision.
  StoredAction Put(const StoredAction& a) {
    EXPECT_TRUE(store_->PutAction(a, /*overwrite=*/true).ok());
    auto stored = store_->GetAction(a.namespace_, a.name);
    EXPECT_TRUE(stored.ok() && stored->has_value());
    return stored.ok() && stored->has_value() ? **stored : a;
  }
  // The action as invocations carry it: without its code.
  static StoredAction CodeLess(StoredAction a) {
    a.doc["exec"].as_object().erase("code");
    return a;
  }

  static TempDir* artifacts_;
  TempDir dir_{"wow-invoker-test"};
  std::unique_ptr<Store> store_;
  std::unique_ptr<executor::Executor> executor_;
  std::unique_ptr<Invoker> invoker_;
};

TempDir* InvokerTest::artifacts_ = nullptr;

TEST_F(InvokerTest, ActivationsBeyondTheBudgetQueueAndAllComplete) {
  InvokerOptions options;
  options.memory_budget_bytes = 300ull << 20;  // one 256 MB activation at a time
  Make(options);
  auto sleeper = Action("sleeper", kSleeper);
  ASSERT_TRUE(Deploy(sleeper).ok());
  auto start = Clock::now();
  std::vector<std::future<Outcome>> runs;
  for (int i = 0; i < 3; ++i) runs.push_back(Invoke(sleeper));
  std::vector<Outcome> done;
  for (auto& r : runs) done.push_back(r.get());
  for (const auto& o : done) {
    EXPECT_FALSE(o.overloaded);
    EXPECT_EQ(StatusCode(o), 0) << ToJson(o.record);
  }
  // One after another: 3 x 200 ms.
  EXPECT_GE(Clock::now() - start, 580ms);
  EXPECT_EQ(invoker_->queued(), 0u);
}

// The record's `engine` annotation names the backend that served: the
// executor's (AoT here), or the one the action's `engine` annotation chose.
TEST_F(InvokerTest, RecordsNameTheEngineThatServed) {
  Make({});
  auto node = Action("on-node-engine", Quick(101));
  auto own = Action("on-own-engine", Quick(102));
  own.doc["annotations"] = json::array{json::object{{"key", "engine"}, {"value", "interp"}}};
  ASSERT_TRUE(Deploy(node).ok());
  ASSERT_TRUE(Deploy(own).ok());
  auto engine_of = [](const Outcome& o) -> json::value {
    for (const auto& a : o.record.at("annotations").as_array()) {
      if (a.at("key") == "engine") return a.at("value");
    }
    return nullptr;
  };
  Outcome on_node = Invoke(node).get();
  Outcome on_own = Invoke(own).get();
  EXPECT_EQ(StatusCode(on_node), 0) << ToJson(on_node.record);
  EXPECT_EQ(StatusCode(on_own), 0) << ToJson(on_own.record);
  EXPECT_EQ(engine_of(on_node), json::value("aot")) << ToJson(on_node.record);
  EXPECT_EQ(engine_of(on_own), json::value("interp")) << ToJson(on_own.record);
  // An engine that does not exist: refused at deploy, naming the choices.
  auto bad = Action("on-no-engine", Quick(103));
  bad.doc["annotations"] = json::array{json::object{{"key", "engine"}, {"value", "warp"}}};
  Status refused = Deploy(bad);
  EXPECT_EQ(refused.code(), Code::kInvalidArgument) << refused.ToString();
  EXPECT_NE(refused.message().find("the `engine` annotation must be one of aot, interp"), std::string::npos)
      << refused.ToString();
}

// Regression (issue 12): concurrent activations of one action each have
// their own linear memory, so each is charged its limit: with room for one
// 256 MB activation, `limits.concurrency` 3 must not run three at once.
TEST_F(InvokerTest, EachConcurrentActivationIsChargedItsOwnMemory) {
  InvokerOptions options;
  options.memory_budget_bytes = 300ull << 20;
  Make(options);
  auto sleeper = Action("sleeper2", kSleeper, 256, /*concurrency=*/3);
  ASSERT_TRUE(Deploy(sleeper).ok());
  uint64_t idle = invoker_->committed_bytes();  // the warm container
  std::vector<std::future<Outcome>> runs;
  for (int i = 0; i < 3; ++i) runs.push_back(Invoke(sleeper));
  // The first is admitted; the other two wait for its memory.
  EXPECT_EQ(invoker_->queued(), 2u);
  EXPECT_EQ(invoker_->committed_bytes(), idle + (256ull << 20));
  for (auto& r : runs) EXPECT_EQ(StatusCode(r.get()), 0);
  EXPECT_EQ(invoker_->queued(), 0u);
  EXPECT_EQ(invoker_->committed_bytes(), idle);
}

// Regression (issue 12): an update of the memory limit while activations
// run must give back what each admission charged, not the new limit (the
// counter wrapped below zero and the platform ran one activation at a time).
TEST_F(InvokerTest, ChangingTheLimitWhileRunningReleasesWhatWasCharged) {
  Make({});
  auto sleeper = Action("sleeper3", kSleeper, 512);
  ASSERT_TRUE(Deploy(sleeper).ok());
  uint64_t idle = invoker_->committed_bytes();
  auto first = Invoke(sleeper);
  EXPECT_EQ(invoker_->committed_bytes(), idle + (512ull << 20));
  auto updated = Action("sleeper3", kSleeper, 128);
  auto second = Invoke(updated);
  EXPECT_EQ(StatusCode(first.get()), 0);
  EXPECT_EQ(StatusCode(second.get()), 0);
  // Both finished: only warm containers remain charged (well under 64 MB,
  // where a wrapped counter is near 2^64).
  EXPECT_LT(invoker_->committed_bytes(), idle + (64ull << 20));
  EXPECT_EQ(invoker_->queued(), 0u);
}

TEST_F(InvokerTest, APerActionLimitQueuesTheRest) {
  InvokerOptions options;
  options.max_per_action = 1;
  Make(options);
  auto sleeper = Action("sleeper4", kSleeper, 128, /*concurrency=*/10);
  auto quick = Action("quick4", Quick(6));
  ASSERT_TRUE(Deploy(sleeper).ok());
  ASSERT_TRUE(Deploy(quick).ok());
  auto start = Clock::now();
  auto first = Invoke(sleeper);
  auto second = Invoke(sleeper);  // waits for the first
  Outcome a = first.get();
  Outcome b = second.get();
  EXPECT_EQ(StatusCode(a), 0);
  EXPECT_EQ(StatusCode(b), 0);
  EXPECT_GE(b.at - start, 390ms) << "the second ran after the first";
  EXPECT_EQ(StatusCode(Invoke(quick).get()), 0);
}

TEST_F(InvokerTest, AFullQueueRefusesAsOverloaded) {
  InvokerOptions options;
  options.memory_budget_bytes = 300ull << 20;
  options.max_queued = 1;
  Make(options);
  auto sleeper = Action("sleeper3", kSleeper);
  ASSERT_TRUE(Deploy(sleeper).ok());
  auto first = Invoke(sleeper);   // runs
  auto second = Invoke(sleeper);  // waits
  auto third = Invoke(sleeper);   // refused
  Outcome refused = third.get();
  EXPECT_TRUE(refused.overloaded);
  EXPECT_EQ(StatusCode(refused), 3);
  EXPECT_EQ(StatusCode(first.get()), 0);
  EXPECT_EQ(StatusCode(second.get()), 0);
}

TEST_F(InvokerTest, IdleContainersAreUnloadedLeastRecentlyUsedFirst) {
  Make(InvokerOptions{});
  auto a = Action("a", Quick(1));
  auto b = Action("b", Quick(2));
  ASSERT_TRUE(Deploy(a).ok());
  ASSERT_TRUE(Deploy(b).ok());
  ASSERT_EQ(StatusCode(Invoke(b).get()), 0);  // b used last
  ASSERT_EQ(invoker_->warm_containers(), 2u);
  uint64_t warm = invoker_->committed_bytes();
  ASSERT_GT(warm, 0u) << "warm containers count their artifacts";
  // A new invoker sharing nothing but a budget that fits one 256 MB
  // activation and only one of the two warm containers.
  invoker_.reset();
  InvokerOptions tight;
  tight.memory_budget_bytes = (256ull << 20) + warm / 2 + 1;
  invoker_ = std::make_unique<Invoker>(*executor_, *store_, tight);
  executor_->Destroy("guest/a@0.0.1");
  executor_->Destroy("guest/b@0.0.1");
  ASSERT_TRUE(Deploy(a).ok());
  std::this_thread::sleep_for(5ms);  // distinct last-use times
  ASSERT_TRUE(Deploy(b).ok());
  ASSERT_EQ(invoker_->warm_containers(), 2u);
  auto c = Action("c", Quick(3));
  Outcome o = Invoke(c).get();
  EXPECT_EQ(StatusCode(o), 0) << ToJson(o.record);
  // a (least recently used) went; b stayed.
  EXPECT_EQ(executor_->Find("guest/a@0.0.1"), nullptr);
  EXPECT_NE(executor_->Find("guest/b@0.0.1"), nullptr);
}

TEST_F(InvokerTest, KeepAliveZeroUnloadsAfterEachActivation) {
  InvokerOptions options;
  options.keep_alive = 0ms;
  Make(options);
  auto a = Action("zero", Quick(4));
  Outcome o = Invoke(a).get();
  EXPECT_EQ(StatusCode(o), 0);
  bool cold = false;
  for (const auto& an : o.record.at("annotations").as_array()) cold |= an.at("key") == "initTime";
  EXPECT_TRUE(cold) << "a cold start records initTime";
  EXPECT_EQ(invoker_->warm_containers(), 0u);
  EXPECT_EQ(invoker_->committed_bytes(), 0u);
}

TEST_F(InvokerTest, IdleContainersGoAfterTheKeepAlive) {
  InvokerOptions options;
  options.keep_alive = 100ms;
  Make(options);
  auto a = Action("kept", Quick(5));
  ASSERT_EQ(StatusCode(Invoke(a).get()), 0);
  EXPECT_EQ(invoker_->warm_containers(), 1u);
  auto until = Clock::now() + 3s;
  while (invoker_->warm_containers() > 0 && Clock::now() < until) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(invoker_->warm_containers(), 0u);
  EXPECT_EQ(invoker_->committed_bytes(), 0u);
}

// Regression (issue 12, finding 10): an activation admitted for version 1
// that cold-starts after the update to version 2 runs version 1's code (the
// cold start read the current code, and the container named @0.0.1 then
// held version 2's for every later activation of version 1).
TEST_F(InvokerTest, AColdStartLoadsTheVersionItWasAdmittedFor) {
  Make({});
  StoredAction v1 = Put(Action("versioned", Says("one")));
  auto v2_doc = Action("versioned", Says("two"));
  v2_doc.doc["version"] = "0.0.2";
  StoredAction v2 = Put(v2_doc);
  ASSERT_NE(v1.revision, v2.revision);
  Outcome old = Invoke(CodeLess(v1)).get();
  EXPECT_EQ(Said(old), "one") << ToJson(old.record);
  EXPECT_EQ(Said(Invoke(CodeLess(v2)).get()), "two");
  EXPECT_EQ(Said(Invoke(CodeLess(v1)).get()), "one");
  EXPECT_EQ(Said(Invoke(CodeLess(v2)).get()), "two");
  // One version stays warm: the latest revision.
  EXPECT_EQ(invoker_->warm_containers(), 1u);
  EXPECT_NE(executor_->Find(ContainerId(v2)), nullptr);
  EXPECT_EQ(executor_->Find(ContainerId(v1)), nullptr);
}

// ... and when the store no longer keeps that version, the activation fails
// saying so; it never runs the current code.
TEST_F(InvokerTest, AVersionNoLongerStoredFailsTheActivation) {
  StoreOptions keep_none;
  keep_none.superseded_versions_kept = 0;
  Make({}, keep_none);
  StoredAction v1 = Put(Action("gone", Says("one")));
  StoredAction v2 = Put(Action("gone", Says("two")));
  Outcome o = Invoke(CodeLess(v1)).get();
  EXPECT_EQ(StatusCode(o), 2) << ToJson(o.record);
  EXPECT_NE(Said(o).find("The action changed while this activation waited: its version 0.0.1 of /guest/gone was "
                         "updated or deleted and is no longer stored"),
            std::string::npos)
      << ToJson(o.record);
  EXPECT_EQ(Said(Invoke(CodeLess(v2)).get()), "two");
}

// Regression (issue 12, finding 10): delete + re-create restarts at version
// 0.0.1; the new code never runs in the deleted action's container, nor an
// activation admitted for the deleted action in the new one.
TEST_F(InvokerTest, DeleteAndRecreateNeverShareAContainer) {
  Make({});
  StoredAction old_action = Put(Action("recreated", Says("old")));
  ASSERT_TRUE(Deploy(old_action).ok());
  ASSERT_EQ(Said(Invoke(CodeLess(old_action)).get()), "old");
  // Deleted while its container is warm (as when the delete's unload races
  // with a load of it), then created again with other code at 0.0.1, as the
  // REST API does: a revision first, the deploy, then the store.
  ASSERT_TRUE(*store_->DeleteAction("guest", "recreated"));
  StoredAction new_action = Action("recreated", Says("new"));
  new_action.revision = *store_->NewActionRevision();
  ASSERT_TRUE(Deploy(new_action).ok());
  ASSERT_TRUE(store_->PutAction(new_action, false).ok());
  EXPECT_NE(ContainerId(new_action), ContainerId(old_action));
  EXPECT_EQ(Said(Invoke(CodeLess(new_action)).get()), "new");
  // An activation admitted for the deleted action, cold-starting now.
  invoker_->Undeploy("guest", "recreated");
  Outcome straggler = Invoke(CodeLess(old_action)).get();
  EXPECT_NE(Said(straggler).find("The action changed while this activation waited"), std::string::npos)
      << ToJson(straggler.record);
  EXPECT_EQ(Said(Invoke(CodeLess(new_action)).get()), "new");
}

// Regression: two versions of one action cold-starting at once each get
// their own container (the second load took over the first one's waiters,
// which then ran the second version's code).
TEST_F(InvokerTest, ConcurrentColdStartsOfTwoVersionsEachRunTheirOwn) {
  Make({});
  auto v1 = Action("both", Says("first-" + Invoker::NewActivationId()));  // fresh code: a compile
  auto v2 = Action("both", Says("second-" + Invoker::NewActivationId()));
  v2.doc["version"] = "0.0.2";
  auto a = Invoke(v1);
  auto b = Invoke(v2);
  Outcome first = a.get();
  Outcome second = b.get();
  EXPECT_EQ(Said(first).substr(0, 6), "first-") << ToJson(first.record);
  EXPECT_EQ(Said(second).substr(0, 7), "second-") << ToJson(second.record);
  invoker_->Drain();
  EXPECT_EQ(invoker_->warm_containers(), 1u);
}

}  // namespace
}  // namespace wow::controller
