#include "pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "http/server.h"

// ContainerPool (OpenWhisk's invoker model) over a fake backend whose
// containers are in-process HTTP servers answering the OpenWhisk runtime
// protocol. No wall-clock performance assertions: where a test needs runs to
// overlap it holds them on a gate it opens itself, and every wait is bounded
// by seconds.

namespace wow::bench::eval {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr auto kPatience = 20s;  // the longest any test waits for something that should happen at once

// Polls `done` until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = kPatience) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// ---- the fake backend ------------------------------------------------------------------

// What the fake containers saw and did, shared by the backend, its containers
// and the test. Thread-safe.
class FakeState {
 public:
  // Failure injection.
  void FailNextStart(std::string reason) {
    std::lock_guard lock(mu_);
    fail_next_start_ = std::move(reason);
  }
  void FailInit(bool fail) {
    std::lock_guard lock(mu_);
    fail_init_ = fail;
  }
  bool fail_init() const {
    std::lock_guard lock(mu_);
    return fail_init_;
  }
  // While held, Start blocks (after counting itself) until ReleaseStarts.
  void HoldStarts() {
    std::lock_guard lock(mu_);
    starts_held_ = true;
  }
  void ReleaseStarts() {
    {
      std::lock_guard lock(mu_);
      starts_held_ = false;
    }
    cv_.notify_all();
  }

  // The gate held runs ({"hold":true}) wait at.
  void OpenGate() {
    {
      std::lock_guard lock(mu_);
      gate_open_ = true;
    }
    cv_.notify_all();
  }
  void WaitAtGate() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 60s, [&] { return gate_open_; });  // bounded: a forgotten gate cannot hang the test forever
  }

  // Called by the backend on Start: nullopt to go ahead, else the reason to fail.
  std::optional<std::string> OnStart(const std::string& action) {
    std::unique_lock lock(mu_);
    starts_++;
    runs_finished_at_start_[action].push_back(runs_finished_);
    cv_.wait_for(lock, 60s, [&] { return !starts_held_; });
    if (fail_next_start_) {
      std::optional<std::string> reason = std::move(fail_next_start_);
      fail_next_start_.reset();
      return reason;
    }
    return std::nullopt;
  }
  void OnCreated(const Container* c, std::function<void()> kill) {
    std::lock_guard lock(mu_);
    alive_.insert(c);
    killers_[c] = std::move(kill);
    max_alive_ = std::max(max_alive_, alive_.size());
  }
  void OnDestroyed(const Container* c, const std::string& action) {
    std::lock_guard lock(mu_);
    alive_.erase(c);
    killers_.erase(c);
    destroyed_actions_.push_back(action);
  }
  void OnInit(const std::string& body) {
    std::lock_guard lock(mu_);
    init_bodies_.push_back(body);
  }
  void OnRunStarted(const std::string& body) {
    std::lock_guard lock(mu_);
    runs_in_flight_++;
    max_runs_in_flight_ = std::max(max_runs_in_flight_, runs_in_flight_);
    run_bodies_.push_back(body);
  }
  void OnRunFinished() {
    std::lock_guard lock(mu_);
    runs_in_flight_--;
    runs_finished_++;
  }
  // Stops every live container's server (the proxy died); the containers stay until the pool removes them.
  void KillAll() {
    std::vector<std::function<void()>> kills;
    {
      std::lock_guard lock(mu_);
      for (auto& [c, kill] : killers_) kills.push_back(kill);
    }
    for (auto& kill : kills) kill();
  }
  void OnMeasure(const std::vector<const Container*>& live) {
    std::lock_guard lock(mu_);
    measured_ = live;
  }

  int starts() const {
    std::lock_guard lock(mu_);
    return starts_;
  }
  size_t alive() const {
    std::lock_guard lock(mu_);
    return alive_.size();
  }
  std::set<const Container*> alive_set() const {
    std::lock_guard lock(mu_);
    return alive_;
  }
  size_t max_alive() const {
    std::lock_guard lock(mu_);
    return max_alive_;
  }
  size_t destroyed() const {
    std::lock_guard lock(mu_);
    return destroyed_actions_.size();
  }
  std::vector<std::string> destroyed_actions() const {
    std::lock_guard lock(mu_);
    return destroyed_actions_;
  }
  int runs_in_flight() const {
    std::lock_guard lock(mu_);
    return runs_in_flight_;
  }
  int max_runs_in_flight() const {
    std::lock_guard lock(mu_);
    return max_runs_in_flight_;
  }
  // For each Start of `action`, how many /run had been answered before it.
  std::vector<int> runs_finished_at_start(const std::string& action) const {
    std::lock_guard lock(mu_);
    auto it = runs_finished_at_start_.find(action);
    return it == runs_finished_at_start_.end() ? std::vector<int>{} : it->second;
  }
  std::vector<std::string> init_bodies() const {
    std::lock_guard lock(mu_);
    return init_bodies_;
  }
  std::vector<std::string> run_bodies() const {
    std::lock_guard lock(mu_);
    return run_bodies_;
  }
  std::vector<const Container*> measured() const {
    std::lock_guard lock(mu_);
    return measured_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<std::string> fail_next_start_;
  bool fail_init_ = false;
  bool gate_open_ = false;
  bool starts_held_ = false;
  int starts_ = 0;
  std::set<const Container*> alive_;
  std::map<const Container*, std::function<void()>> killers_;
  size_t max_alive_ = 0;
  std::vector<std::string> destroyed_actions_;
  int runs_in_flight_ = 0, max_runs_in_flight_ = 0, runs_finished_ = 0;
  std::map<std::string, std::vector<int>> runs_finished_at_start_;
  std::vector<std::string> init_bodies_, run_bodies_;
  std::vector<const Container*> measured_;
};

// A container: an HTTP server on 127.0.0.1 answering, under `prefix`,
//   POST /init  200 {"ok":true}, or 500 {"error":"cannot compile action"} when the state says so;
//   POST /run   200 {"container":<id>,"runs":<n>} after the params' optional "sleep_ms", or after the gate opens
//               with "hold":true; with "status":N (not 200) it answers N {"error":"upstream broke"}.
// Delayed answers come from their own threads, so the server's one io thread never blocks.
class FakeContainer : public Container {
 public:
  static Result<std::unique_ptr<FakeContainer>> Create(std::shared_ptr<FakeState> state, std::string action,
                                                       std::string prefix) {
    auto c = std::unique_ptr<FakeContainer>(new FakeContainer(std::move(state), std::move(action), std::move(prefix)));
    auto server = http::Server::Start({.host = "127.0.0.1", .port = 0, .threads = 1, .stop_grace = 10'000ms},
                                      [raw = c.get()](http::Request&& req, http::Responder respond) {
                                        raw->Handle(std::move(req), std::move(respond));
                                      });
    if (!server.ok()) return server.status();
    c->server_ = std::move(server).value();
    c->state_->OnCreated(c.get(), [raw = c.get()] { raw->server_->Stop(); });
    return c;
  }

  ~FakeContainer() override {
    if (!server_) return;  // never started: never counted
    server_->Stop();       // in-flight delayed runs still get their answer
    {
      std::lock_guard lock(mu_);
      for (auto& t : delayed_) t.join();
    }
    state_->OnDestroyed(this, action_);
  }

  std::string host() const override { return "127.0.0.1"; }
  uint16_t port() const override { return server_->port(); }
  std::string prefix() const override { return prefix_; }

 private:
  FakeContainer(std::shared_ptr<FakeState> state, std::string action, std::string prefix)
      : state_(std::move(state)), action_(std::move(action)), prefix_(std::move(prefix)), id_(next_id_++) {}

  void Handle(http::Request&& req, http::Responder respond) {
    const std::string target(req.target());
    if (req.method() != http::Verb::post || !target.starts_with(prefix_)) {
      respond(http::JsonResponse(req, http::HttpStatus::not_found, http::JsonError("no such path: " + target)));
      return;
    }
    const std::string path = target.substr(prefix_.size());
    if (path == "/init") {
      state_->OnInit(req.body());
      respond(state_->fail_init() ? http::JsonResponse(req, http::HttpStatus::internal_server_error,
                                                       http::JsonError("cannot compile action"))
                                  : http::JsonResponse(req, http::HttpStatus::ok, R"({"ok":true})"));
      return;
    }
    if (path != "/run") {
      respond(http::JsonResponse(req, http::HttpStatus::not_found, http::JsonError("no such path: " + target)));
      return;
    }

    state_->OnRunStarted(req.body());
    json::object params;
    if (auto body = ParseJson(req.body()); body.ok() && body->is_object()) {
      if (const auto* v = body->as_object().if_contains("value"); v && v->is_object()) params = v->as_object();
    }
    const auto number = [&](const char* key, int64_t fallback) {
      const auto* v = params.if_contains(key);
      return v && v->is_int64() ? v->as_int64() : fallback;
    };
    const int64_t sleep_ms = number("sleep_ms", 0);
    const int64_t status = number("status", 200);
    const bool hold = params.contains("hold");
    const int runs = ++runs_;
    http::Response res =
        status == 200
            ? http::JsonResponse(req, http::HttpStatus::ok,
                                 "{\"container\":" + std::to_string(id_) + ",\"runs\":" + std::to_string(runs) + "}")
            : http::JsonResponse(req, static_cast<http::HttpStatus>(status), http::JsonError("upstream broke"));
    auto answer = [state = state_, respond, res = std::move(res), sleep_ms, hold]() mutable {
      if (hold) state->WaitAtGate();
      if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
      state->OnRunFinished();  // before the answer: the client sees it afterwards
      respond(std::move(res));
    };
    if (!hold && sleep_ms == 0) {
      answer();
      return;
    }
    std::lock_guard lock(mu_);
    delayed_.emplace_back(std::move(answer));
  }

  static inline std::atomic<int> next_id_{1};

  std::shared_ptr<FakeState> state_;
  const std::string action_, prefix_;
  const int id_;
  std::atomic<int> runs_{0};
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::vector<std::thread> delayed_;
};

class FakeBackend : public Backend {
 public:
  FakeBackend(std::shared_ptr<FakeState> state, std::string prefix = "")
      : state_(std::move(state)), prefix_(std::move(prefix)) {}

  std::string name() const override { return "fake"; }
  Status Prepare(const ActionSpec&) override { return Status::Ok(); }
  Result<std::string> InitBody(const ActionSpec& action) override { return InitBodyFor(action.name); }
  Result<std::unique_ptr<Container>> Start(const ActionSpec& action) override {
    if (auto reason = state_->OnStart(action.name)) return Status::IoError(*reason);
    auto c = FakeContainer::Create(state_, action.name, prefix_);
    if (!c.ok()) return c.status();
    return std::unique_ptr<Container>(std::move(c).value());
  }
  Result<Footprint> MeasureFootprint(const std::vector<const Container*>& live) override {
    state_->OnMeasure(live);
    const uint64_t total = live.size() * (1u << 20);
    return Footprint{.total = total, .parts = {{"fake containers", total}}};
  }

  static std::string InitBodyFor(const std::string& action) {
    return R"({"value":{"name":")" + action + R"(","main":"main","code":"fake"}})";
  }

 private:
  std::shared_ptr<FakeState> state_;
  std::string prefix_;
};

// ---- the tests ----------------------------------------------------------------------------

class ContainerPoolTest : public ::testing::Test {
 protected:
  void TearDown() override {
    state_->OpenGate();  // a failed test must not leave runs or starts held
    state_->ReleaseStarts();
    futures_.clear();  // joins the invocations still running, before the pool goes
    pool_.reset();
  }

  ContainerPool& MakePool(PoolOptions options = {}, std::string prefix = "") {
    pool_ = std::make_unique<ContainerPool>(std::make_unique<FakeBackend>(state_, std::move(prefix)), options);
    return *pool_;
  }

  void Deploy(const std::string& name, uint64_t memory_mb = 256) {
    Status s = pool_->Deploy({.name = name, .example = "hash", .memory_mb = memory_mb});
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Starts an invocation on its own thread; Await gets its result.
  size_t InvokeAsync(const std::string& action, const std::string& params = "{}") {
    futures_.push_back(
        std::async(std::launch::async, [this, action, params] { return pool_->Invoke(action, params); }));
    return futures_.size() - 1;
  }

  // The invocation's result; a pool that never answers (a leaked budget, a
  // lost wake-up) ends the test binary rather than hanging it.
  Invocation Await(size_t i) {
    if (futures_[i].wait_for(kPatience) != std::future_status::ready) {
      std::fprintf(stderr, "FATAL: invocation %zu did not finish within %lld s: the pool hangs\n", i,
                   static_cast<long long>(kPatience.count()));
      std::fflush(stderr);
      std::_Exit(3);
    }
    return futures_[i].get();
  }

  // A synchronous Invoke, bounded like Await.
  Invocation Invoke(const std::string& action, const std::string& params = "{}") {
    return Await(InvokeAsync(action, params));
  }

  bool Ready(size_t i) { return futures_[i].wait_for(0s) == std::future_status::ready; }

  std::shared_ptr<FakeState> state_ = std::make_shared<FakeState>();
  std::unique_ptr<ContainerPool> pool_;
  std::vector<std::future<Invocation>> futures_;
};

TEST_F(ContainerPoolTest, FirstInvocationIsColdAndFillsOpenWhiskTimes) {
  ContainerPool& pool = MakePool();
  Deploy("hash");

  const Invocation inv = Invoke("hash", R"({"n":5})");
  ASSERT_TRUE(inv.ok) << inv.error;
  EXPECT_TRUE(inv.cold);
  EXPECT_GT(inv.wait_ms, 0);
  EXPECT_GT(inv.init_ms, 0);
  EXPECT_GE(inv.latency_ms, inv.wait_ms + inv.init_ms);  // both happened inside the client-seen latency
  EXPECT_DOUBLE_EQ(inv.cold_start_ms(), inv.wait_ms + inv.init_ms);
  EXPECT_EQ(state_->starts(), 1);
  EXPECT_EQ(pool.containers(), 1u);

  // The container got the backend's /init body, then a /run in OpenWhisk's shape.
  EXPECT_EQ(state_->init_bodies(), std::vector<std::string>{FakeBackend::InitBodyFor("hash")});
  ASSERT_EQ(state_->run_bodies().size(), 1u);
  auto run = ParseJson(state_->run_bodies()[0]);
  ASSERT_TRUE(run.ok() && run->is_object()) << state_->run_bodies()[0];
  EXPECT_EQ(run->at("value"), json::parse(R"({"n":5})"));
  EXPECT_EQ(run->at("action_name"), json::value("/_/hash"));
  EXPECT_TRUE(run->as_object().contains("activation_id"));
  EXPECT_TRUE(run->as_object().contains("deadline"));
}

TEST_F(ContainerPoolTest, SecondInvocationIsWarmOnTheSameContainer) {
  ContainerPool& pool = MakePool();
  Deploy("hash");
  ASSERT_TRUE(Invoke("hash").ok);

  const Invocation warm = Invoke("hash");
  ASSERT_TRUE(warm.ok) << warm.error;
  EXPECT_FALSE(warm.cold);
  EXPECT_EQ(warm.init_ms, 0);
  EXPECT_GE(warm.wait_ms, 0);
  EXPECT_EQ(state_->starts(), 1);               // no new container
  EXPECT_EQ(state_->init_bodies().size(), 1u);  // and no second /init
  EXPECT_EQ(state_->run_bodies().size(), 2u);
  EXPECT_EQ(pool.containers(), 1u);
  EXPECT_EQ(state_->destroyed(), 0u);
}

TEST_F(ContainerPoolTest, ConcurrentInvocationsOfOneActionEachGetTheirOwnContainer) {
  ContainerPool& pool = MakePool();
  Deploy("hash");

  for (int i = 0; i < 3; ++i) InvokeAsync("hash", R"({"hold":true})");
  // One activation per container: three runs in flight need three containers.
  ASSERT_TRUE(WaitUntil([&] { return state_->runs_in_flight() == 3; }))
      << "runs in flight: " << state_->runs_in_flight();
  EXPECT_EQ(state_->starts(), 3);
  EXPECT_EQ(pool.containers(), 3u);

  state_->OpenGate();
  for (size_t i = 0; i < 3; ++i) {
    const Invocation inv = Await(i);
    EXPECT_TRUE(inv.ok) << inv.error;
    EXPECT_TRUE(inv.cold);
  }
  EXPECT_EQ(pool.containers(), 3u);  // all warm now

  // Sequential invocations reuse them: still three.
  ASSERT_TRUE(Invoke("hash").ok);
  EXPECT_EQ(state_->starts(), 3);
}

TEST_F(ContainerPoolTest, SlowConcurrentRunsWithSleepEachGetTheirOwnContainer) {
  ContainerPool& pool = MakePool();
  Deploy("hash");

  for (int i = 0; i < 3; ++i) InvokeAsync("hash", R"({"sleep_ms":300})");
  for (size_t i = 0; i < 3; ++i) {
    const Invocation inv = Await(i);
    EXPECT_TRUE(inv.ok) << inv.error;
  }
  // Whichever overlapped, every run had a container of its own.
  EXPECT_EQ(state_->starts(), static_cast<int>(pool.containers()));
  EXPECT_EQ(static_cast<int>(state_->max_alive()), state_->starts());
  EXPECT_LE(state_->max_runs_in_flight(), state_->starts());
}

TEST_F(ContainerPoolTest, FullBudgetEvictsTheLeastRecentlyUsedIdleContainer) {
  ContainerPool& pool = MakePool({.memory_budget_mb = 512});
  Deploy("a");
  Deploy("b");
  Deploy("c");
  ASSERT_TRUE(Invoke("a").ok);
  ASSERT_TRUE(Invoke("b").ok);
  EXPECT_EQ(pool.containers(), 2u);

  // c does not fit: a, the least recently used, goes.
  const Invocation c = Invoke("c");
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_TRUE(c.cold);
  EXPECT_EQ(state_->destroyed_actions(), std::vector<std::string>{"a"});
  EXPECT_EQ(pool.containers(), 2u);

  // b survived: warm.
  const Invocation b = Invoke("b");
  ASSERT_TRUE(b.ok) << b.error;
  EXPECT_FALSE(b.cold);

  // a again: now c is the least recently used.
  const Invocation a = Invoke("a");
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_TRUE(a.cold);
  EXPECT_EQ(state_->destroyed_actions(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(pool.containers(), 2u);
  EXPECT_EQ(state_->max_alive(), 2u);
}

TEST_F(ContainerPoolTest, FullBudgetWithAllContainersBusyWaitsInsteadOfRefusing) {
  ContainerPool& pool = MakePool({.memory_budget_mb = 512});
  Deploy("a");
  Deploy("b");
  Deploy("c");
  const size_t a = InvokeAsync("a", R"({"hold":true})");
  const size_t b = InvokeAsync("b", R"({"hold":true})");
  ASSERT_TRUE(WaitUntil([&] { return state_->runs_in_flight() == 2; }));

  const size_t c = InvokeAsync("c");
  // Nothing to evict, no room: c waits (it is neither refused nor started).
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(Ready(c)) << "the third invocation did not wait: " << (Ready(c) ? Await(c).error : "");
  EXPECT_EQ(state_->starts(), 2);
  EXPECT_EQ(pool.containers(), 2u);

  state_->OpenGate();
  for (size_t i : {a, b, c}) {
    const Invocation inv = Await(i);
    EXPECT_TRUE(inv.ok) << "invocation " << i << ": " << inv.error;
    EXPECT_TRUE(inv.cold);
  }
  // c started only after a run had been answered, by evicting its idle container.
  const std::vector<int> at_start = state_->runs_finished_at_start("c");
  ASSERT_EQ(at_start.size(), 1u);
  EXPECT_GE(at_start[0], 1);
  EXPECT_EQ(state_->destroyed(), 1u);
  EXPECT_EQ(state_->max_alive(), 2u);  // never over the budget
  EXPECT_EQ(pool.containers(), 2u);
}

TEST_F(ContainerPoolTest, DropIdleRemovesIdleContainersAndTheNextInvocationIsCold) {
  ContainerPool& pool = MakePool();
  Deploy("a");
  Deploy("b");
  ASSERT_TRUE(Invoke("a").ok);
  ASSERT_TRUE(Invoke("b").ok);
  ASSERT_EQ(pool.containers(), 2u);

  pool.DropIdle();
  EXPECT_EQ(pool.containers(), 0u);
  EXPECT_EQ(state_->destroyed(), 2u);
  EXPECT_EQ(state_->alive(), 0u);

  const Invocation inv = Invoke("a");
  ASSERT_TRUE(inv.ok) << inv.error;
  EXPECT_TRUE(inv.cold);
  EXPECT_EQ(state_->starts(), 3);
}

TEST_F(ContainerPoolTest, DropIdleLeavesBusyContainersAlone) {
  ContainerPool& pool = MakePool();
  Deploy("a");
  Deploy("b");
  ASSERT_TRUE(Invoke("a").ok);
  const size_t busy = InvokeAsync("b", R"({"hold":true})");
  ASSERT_TRUE(WaitUntil([&] { return state_->runs_in_flight() == 1; }));

  pool.DropIdle();
  EXPECT_EQ(state_->destroyed_actions(), std::vector<std::string>{"a"});
  EXPECT_EQ(pool.containers(), 1u);

  state_->OpenGate();
  const Invocation inv = Await(busy);
  EXPECT_TRUE(inv.ok) << inv.error;
  EXPECT_EQ(pool.containers(), 1u);  // b went back to idle
  EXPECT_FALSE(Invoke("b").cold);
}

TEST_F(ContainerPoolTest, KeepAliveSweeperRemovesIdleContainers) {
  ContainerPool& pool = MakePool({.keep_alive = 100ms});
  Deploy("a");
  ASSERT_TRUE(Invoke("a").ok);

  // The pool stops counting the container first, then the sweeper destroys it
  // outside the pool's lock: wait for both.
  ASSERT_TRUE(WaitUntil([&] { return pool.containers() == 0 && state_->destroyed() == 1; }, 10s))
      << "still " << pool.containers() << " live, " << state_->destroyed() << " destroyed";
  EXPECT_EQ(state_->alive(), 0u);

  const Invocation inv = Invoke("a");
  ASSERT_TRUE(inv.ok) << inv.error;
  EXPECT_TRUE(inv.cold);
  EXPECT_EQ(state_->starts(), 2);
}

TEST_F(ContainerPoolTest, KeepAliveNeverRemovesABusyContainer) {
  ContainerPool& pool = MakePool({.keep_alive = 100ms});
  Deploy("a");
  const size_t held = InvokeAsync("a", R"({"hold":true})");
  ASSERT_TRUE(WaitUntil([&] { return state_->runs_in_flight() == 1; }));

  std::this_thread::sleep_for(500ms);  // several keep-alives and sweeps
  EXPECT_EQ(state_->destroyed(), 0u);
  EXPECT_EQ(pool.containers(), 1u);

  state_->OpenGate();
  const Invocation inv = Await(held);
  EXPECT_TRUE(inv.ok) << inv.error;
}

TEST_F(ContainerPoolTest, StartFailureReportsTheReasonAndReleasesItsBudget) {
  ContainerPool& pool = MakePool({.memory_budget_mb = 256});  // room for one container only
  Deploy("a");
  state_->FailNextStart("no space left on device");

  const Invocation failed = Invoke("a");
  EXPECT_FALSE(failed.ok);
  EXPECT_TRUE(failed.cold);
  EXPECT_NE(failed.error.find("no space left on device"), std::string::npos) << failed.error;
  EXPECT_EQ(pool.containers(), 0u);

  // Its reservation was given back: the one slot of budget is free again.
  const Invocation inv = Invoke("a");
  ASSERT_TRUE(inv.ok) << inv.error;
  EXPECT_TRUE(inv.cold);
  EXPECT_EQ(pool.containers(), 1u);
}

TEST_F(ContainerPoolTest, StartFailureWakesAnInvocationWaitingForRoom) {
  ContainerPool& pool = MakePool({.memory_budget_mb = 256});  // room for one container only
  Deploy("a");
  Deploy("b");
  state_->HoldStarts();
  state_->FailNextStart("image not found");
  const size_t failing = InvokeAsync("a");
  ASSERT_TRUE(WaitUntil([&] { return state_->starts() == 1; }));
  const size_t waiting = InvokeAsync("b");  // no room while a's container starts
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(Ready(waiting));
  EXPECT_EQ(state_->starts(), 1);

  state_->ReleaseStarts();
  const Invocation a = Await(failing);
  EXPECT_FALSE(a.ok);
  EXPECT_NE(a.error.find("image not found"), std::string::npos) << a.error;
  const Invocation b = Await(waiting);
  EXPECT_TRUE(b.ok) << b.error;
  EXPECT_TRUE(b.cold);
  EXPECT_EQ(pool.containers(), 1u);
}

TEST_F(ContainerPoolTest, ReleasedContainerWakesAnInvocationWaitingForRoom) {
  ContainerPool& pool = MakePool({.memory_budget_mb = 256});
  Deploy("a");
  Deploy("b");
  const size_t held = InvokeAsync("a", R"({"hold":true})");
  ASSERT_TRUE(WaitUntil([&] { return state_->runs_in_flight() == 1; }));
  const size_t waiting = InvokeAsync("b");
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(Ready(waiting));

  state_->OpenGate();
  EXPECT_TRUE(Await(held).ok);
  const Invocation inv = Await(waiting);
  EXPECT_TRUE(inv.ok) << inv.error;
  EXPECT_TRUE(inv.cold);
  EXPECT_EQ(state_->destroyed_actions(), std::vector<std::string>{"a"});  // evicted for b
  EXPECT_EQ(pool.containers(), 1u);
}

TEST_F(ContainerPoolTest, InitFailureIsReportedAsInitAndTheContainerRemoved) {
  ContainerPool& pool = MakePool({.memory_budget_mb = 256});
  Deploy("a");
  state_->FailInit(true);

  const Invocation failed = Invoke("a");
  EXPECT_FALSE(failed.ok);
  EXPECT_TRUE(failed.cold);
  EXPECT_NE(failed.error.find("/init"), std::string::npos) << failed.error;
  EXPECT_NE(failed.error.find("HTTP 500"), std::string::npos) << failed.error;
  EXPECT_NE(failed.error.find("cannot compile action"), std::string::npos) << failed.error;
  EXPECT_EQ(state_->destroyed(), 1u);
  EXPECT_EQ(pool.containers(), 0u);

  state_->FailInit(false);
  const Invocation inv = Invoke("a");
  ASSERT_TRUE(inv.ok) << inv.error;
  EXPECT_TRUE(inv.cold);
}

TEST_F(ContainerPoolTest, RunAnswering502FailsButTheContainerStaysWarm) {
  ContainerPool& pool = MakePool();
  Deploy("a");

  const Invocation failed = Invoke("a", R"({"status":502})");
  EXPECT_FALSE(failed.ok);
  EXPECT_NE(failed.error.find("HTTP 502"), std::string::npos) << failed.error;
  EXPECT_NE(failed.error.find("upstream broke"), std::string::npos) << failed.error;
  EXPECT_EQ(pool.containers(), 1u);

  // The container answered: it is healthy and reused.
  const Invocation inv = Invoke("a");
  ASSERT_TRUE(inv.ok) << inv.error;
  EXPECT_FALSE(inv.cold);
  EXPECT_EQ(state_->starts(), 1);
  EXPECT_EQ(state_->destroyed(), 0u);
}

TEST_F(ContainerPoolTest, ContainerThatStoppedAnsweringIsRemovedAndReplaced) {
  ContainerPool& pool = MakePool({.memory_budget_mb = 256, .run_timeout = 5s});
  Deploy("a");
  ASSERT_TRUE(Invoke("a").ok);
  state_->KillAll();  // its proxy is gone: connections refused

  const Invocation failed = Invoke("a");
  EXPECT_FALSE(failed.ok);
  EXPECT_FALSE(failed.cold);
  EXPECT_NE(failed.error.find("/run"), std::string::npos) << failed.error;
  EXPECT_EQ(state_->destroyed(), 1u);  // unhealthy: not put back
  EXPECT_EQ(pool.containers(), 0u);

  // Its budget was released: a new container takes its place.
  const Invocation inv = Invoke("a");
  ASSERT_TRUE(inv.ok) << inv.error;
  EXPECT_TRUE(inv.cold);
  EXPECT_EQ(state_->starts(), 2);
}

TEST_F(ContainerPoolTest, UndeployedActionFailsClearly) {
  ContainerPool& pool = MakePool();
  const Invocation inv = Invoke("nope");
  EXPECT_FALSE(inv.ok);
  EXPECT_NE(inv.error.find("nope"), std::string::npos) << inv.error;
  EXPECT_NE(inv.error.find("not deployed"), std::string::npos) << inv.error;
  EXPECT_EQ(state_->starts(), 0);
  EXPECT_EQ(pool.containers(), 0u);
}

TEST_F(ContainerPoolTest, ContainersCountsLiveContainers) {
  ContainerPool& pool = MakePool();
  Deploy("a");
  Deploy("b");
  EXPECT_EQ(pool.containers(), 0u);
  ASSERT_TRUE(Invoke("a").ok);
  EXPECT_EQ(pool.containers(), 1u);
  InvokeAsync("a", R"({"hold":true})");  // the warm one
  InvokeAsync("a", R"({"hold":true})");  // a second, cold
  InvokeAsync("b", R"({"hold":true})");
  ASSERT_TRUE(WaitUntil([&] { return state_->runs_in_flight() == 3; }));
  EXPECT_EQ(pool.containers(), 3u);
  EXPECT_EQ(pool.containers(), state_->alive());
  state_->OpenGate();
  for (size_t i = 1; i < futures_.size(); ++i) EXPECT_TRUE(Await(i).ok);  // 0 was the first, synchronous one
  EXPECT_EQ(pool.containers(), 3u);
  pool.DropIdle();
  EXPECT_EQ(pool.containers(), 0u);
}

TEST_F(ContainerPoolTest, MeasureFootprintPassesExactlyTheLiveContainers) {
  ContainerPool& pool = MakePool();
  Deploy("a");
  Deploy("b");
  ASSERT_TRUE(Invoke("a").ok);                               // idle
  const size_t busy = InvokeAsync("b", R"({"hold":true})");  // busy
  ASSERT_TRUE(WaitUntil([&] { return state_->runs_in_flight() == 1; }));

  auto footprint = pool.MeasureFootprint();
  ASSERT_TRUE(footprint.ok()) << footprint.status().ToString();
  EXPECT_EQ(footprint->total, 2u << 20);  // the backend's answer, passed through
  const std::vector<const Container*> measured = state_->measured();
  EXPECT_EQ(measured.size(), 2u);
  EXPECT_EQ(std::set<const Container*>(measured.begin(), measured.end()), state_->alive_set());

  // Without the idle one.
  pool.DropIdle();
  ASSERT_TRUE(pool.MeasureFootprint().ok());
  const std::vector<const Container*> busy_only = state_->measured();
  EXPECT_EQ(busy_only.size(), 1u);
  EXPECT_EQ(std::set<const Container*>(busy_only.begin(), busy_only.end()), state_->alive_set());

  state_->OpenGate();
  EXPECT_TRUE(Await(busy).ok);
}

TEST_F(ContainerPoolTest, ProtocolPathsAreUnderTheContainersPrefix) {
  MakePool({}, "/c7");
  Deploy("a");
  // The fake answers 404 outside its prefix, so success means /c7/init and /c7/run.
  const Invocation cold = Invoke("a");
  ASSERT_TRUE(cold.ok) << cold.error;
  const Invocation warm = Invoke("a");
  ASSERT_TRUE(warm.ok) << warm.error;
  EXPECT_EQ(state_->init_bodies().size(), 1u);
  EXPECT_EQ(state_->run_bodies().size(), 2u);
}

TEST_F(ContainerPoolTest, DestroyingThePoolRemovesEveryContainer) {
  MakePool();
  Deploy("a");
  Deploy("b");
  ASSERT_TRUE(Invoke("a").ok);
  ASSERT_TRUE(Invoke("b").ok);
  ASSERT_EQ(state_->alive(), 2u);
  pool_.reset();
  EXPECT_EQ(state_->alive(), 0u);
  EXPECT_EQ(state_->destroyed(), 2u);
}

}  // namespace
}  // namespace wow::bench::eval
