// `wow executor` end to end: WOW's executor protocol (POST /{id}/init,
// /{id}/run, /{id}/destroy) spoken over real HTTP to the real binary. One
// executor process serves the whole suite (each test uses its own container
// ids) and must exit 0 on SIGTERM at the end.

#include <atomic>
#include <mutex>
#include <sstream>

#include "common/base64.h"
#include "service_fixture.h"
#include "wasm/testing/module_generator.h"

namespace wow::test {
namespace {

class ExecutorServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = new TempDir("wow-executor-test");
    executor_ = Service::Start({"executor", data_dir_->path(), {}, {}}).release();
  }
  static void TearDownTestSuite() {
    if (executor_ != nullptr) {
      std::string logs = executor_->Describe();
      EXPECT_EQ(executor_->Stop(), 0) << "wow executor did not exit 0 on SIGTERM\n" << logs;
      delete executor_;
      executor_ = nullptr;
    }
    delete data_dir_;
    data_dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(executor_, nullptr) << "wow executor did not start";
    ASSERT_TRUE(executor_->Running()) << "wow executor died\n" << executor_->Describe();
  }

  Service& executor() { return *executor_; }

  static TempDir* data_dir_;
  static Service* executor_;
  TempDir tmp_{"wow-executor"};
};

TempDir* ExecutorServiceTest::data_dir_ = nullptr;
Service* ExecutorServiceTest::executor_ = nullptr;

const fs::path kRuntime = Guest("abi_runtime");
constexpr char kTrapWat[] = R"((module (memory (export "memory") 1) (func (export "_start") unreachable)))";
// A WASI command that prints the result {} at once.
constexpr char kQuickWat[] = R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{}\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))))";
constexpr char kSpinWat[] = R"((module (memory (export "memory") 1) (func (export "_start") (loop (br 0)))))";

#define ASSERT_OK(reply) ASSERT_EQ((reply).status, 200u) << (reply) << "\n" << executor().Describe()
#define EXPECT_JSON(reply, text) EXPECT_EQ((reply).json, Json(text)) << (reply)

std::string Path(std::string_view id, std::string_view op) { return "/" + std::string(id) + "/" + std::string(op); }

TEST_F(ExecutorServiceTest, ContainersRunTheirOwnActions) {
  REQUIRE_MODULES(kRuntime, Example("add"), Example("echo"));
  ASSERT_OK(executor().Post("/route-runtime/init", InitModule(kRuntime)));
  ASSERT_OK(executor().Post("/route-add/init", InitModule(Example("add"))));
  ASSERT_OK(executor().Post("/route-echo/init", InitModule(Example("echo"))));
  ASSERT_OK(executor().Post("/route-text/init", InitBody(kTrapWat, false)));
  for (int round = 0; round < 3; ++round) {
    Reply sum = executor().Post("/route-add/run", RunBody(json::object{{"param1", round}, {"param2", 40}}));
    ASSERT_OK(sum);
    EXPECT_EQ(sum.json, json::value(json::object{{"result", round + 40}})) << sum;
    Reply echo = executor().Post("/route-echo/run", RunBody(json::object{{"round", round}}));
    ASSERT_OK(echo);
    EXPECT_EQ(echo.json, json::value(json::object{{"round", round}})) << echo;
    Reply scalar = executor().Post("/route-runtime/run", RunBody(json::object{{"mode", "scalar"}}));
    EXPECT_EQ(scalar.status, 502u) << scalar;
    EXPECT_JSON(scalar, R"({"error":"The action did not return a dictionary or array."})");
    Reply trap = executor().Post("/route-text/run", RunBody(json::object{}));
    EXPECT_EQ(trap.status, 502u) << trap;
    EXPECT_NE(trap.Error().find("unreachable"), std::string::npos) << trap;
  }
  // Logs carry the container id.
  auto deadline = Clock::now() + milliseconds(5000);
  while (executor().Stdout().find("[route-echo] echo: ") == std::string::npos && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_NE(executor().Stdout().find("[route-echo] echo: 11 bytes\n"), std::string::npos) << executor().Describe();
  EXPECT_NE(executor().Stderr().find("[route-echo] echo: returning the parameters unchanged\n"), std::string::npos)
      << executor().Describe();
  // A query string does not change the route.
  Reply query =
      executor().Post("/route-add/run?blocking=true&result=true", RunBody(json::object{{"param1", 1}, {"param2", 2}}));
  EXPECT_JSON(query, R"({"result":3})");
  // Init twice on one id.
  Reply twice = executor().Post("/route-add/init", InitModule(Example("echo")));
  EXPECT_EQ(twice.status, 403u) << twice;
  EXPECT_JSON(twice, R"({"error":"Cannot initialize the action more than once."})");
  Reply still_add = executor().Post("/route-add/run", RunBody(json::object{{"param1", 1}, {"param2", 1}}));
  EXPECT_JSON(still_add, R"({"result":2})");
}

TEST_F(ExecutorServiceTest, SixteenConcurrentRunsOnOneContainer) {
  REQUIRE_MODULES(kRuntime);
  ASSERT_OK(executor().Post("/concurrent/init", InitModule(kRuntime)));
  constexpr int kThreads = 16, kRunsEach = 4;
  std::atomic<int> good{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto client = http::Client::Connect(executor().host(), executor().port(), milliseconds(30'000));
      if (!client.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        failures.push_back(client.status().ToString());
        return;
      }
      for (int i = 0; i < kRunsEach; ++i) {
        json::object params{{"thread", t}, {"i", i}, {"payload", std::string(1000 + 97 * t, 'a' + t)}};
        Reply r = ToReply(client->Send(http::Verb::post, "/concurrent/run", RunBody(params)));
        if (r.status == 200 && r.json == json::value(params)) {
          ++good;
        } else {
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back(testing::PrintToString(r.status) + " " + r.body.substr(0, 200) + " " + r.error);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kThreads * kRunsEach);
  EXPECT_TRUE(failures.empty()) << testing::PrintToString(failures);
}

TEST_F(ExecutorServiceTest, UnknownAndDestroyedContainers) {
  REQUIRE_MODULES(kRuntime);
  Reply unknown = executor().Post("/no-such-container/run", RunBody(json::object{}));
  EXPECT_EQ(unknown.status, 404u) << unknown;
  EXPECT_FALSE(unknown.Error().empty()) << unknown;

  ASSERT_OK(executor().Post("/doomed/init", InitModule(kRuntime)));
  ASSERT_OK(executor().Post("/doomed/run", RunBody(json::object{{"alive", true}})));
  Reply destroy = executor().Post("/doomed/destroy", "");
  EXPECT_GE(destroy.status, 200u) << destroy;
  EXPECT_LT(destroy.status, 300u) << destroy;
  Reply after = executor().Post("/doomed/run", RunBody(json::object{}));
  EXPECT_EQ(after.status, 404u) << after;
  Reply again = executor().Post("/doomed/destroy", "");
  EXPECT_EQ(again.status, 404u) << again;
  Reply never = executor().Post("/never-existed/destroy", "{}");
  EXPECT_EQ(never.status, 404u) << never;
  EXPECT_FALSE(never.Error().empty()) << never;

  // The id can be initialised again, with another action.
  ASSERT_OK(executor().Post("/doomed/init", InitBody(kTrapWat, false)));
  Reply trap = executor().Post("/doomed/run", RunBody(json::object{}));
  EXPECT_EQ(trap.status, 502u) << trap;
}

TEST_F(ExecutorServiceTest, DestroyLetsRunningActivationsFinish) {
  REQUIRE_MODULES(Example("block"));
  ASSERT_OK(executor().Post("/destroy-busy/init",
                            InitModule(Example("block"), {{"annotations", json::object{{"net_access", true}}}})));
  Reply reply;
  std::thread run([&] { reply = executor().Fetch(http::Verb::post, "/destroy-busy/run", RunBody(json::object{})); });
  std::this_thread::sleep_for(milliseconds(100));  // the run blocks for 300 ms
  Reply destroy = executor().Post("/destroy-busy/destroy", "");
  run.join();
  EXPECT_EQ(destroy.status, 200u) << destroy;
  EXPECT_EQ(reply.status, 200u) << reply;
  EXPECT_JSON(reply, R"({"status":0})");
  Reply after = executor().Post("/destroy-busy/run", RunBody(json::object{}));
  EXPECT_EQ(after.status, 404u) << after;
}

// The `engine` annotation chooses an action's engine; /run's x-wow-engine
// header says which backend served.
TEST_F(ExecutorServiceTest, EngineAnnotationChoosesTheEngine) {
  REQUIRE_MODULES(Example("add"));
  auto run = [&](std::string_view id) {
    auto r =
        http::Fetch(executor().host(), executor().port(), http::Verb::post, Path(id, "run"),
                    RunBody(json::object{{"param1", 40}, {"param2", 2}}), "application/json", {}, milliseconds(60'000));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r;
  };
  ASSERT_OK(executor().Post("/engine-interp/init",
                            InitModule(Example("add"), {{"annotations", json::object{{"engine", "interp"}}}})));
  auto interp = run("engine-interp");
  ASSERT_TRUE(interp.ok());
  EXPECT_EQ(interp->result_int(), 200u) << interp->body();
  EXPECT_EQ(Json(interp->body()), Json(R"({"result":42})"));
  EXPECT_EQ((*interp)["x-wow-engine"], "interp");
  // Without it, the node's engine (tiered, the default: its fast tier or AoT).
  ASSERT_OK(executor().Post("/engine-node/init", InitModule(Example("add"))));
  auto node = run("engine-node");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(Json(node->body()), Json(R"({"result":42})"));
  std::string served((*node)["x-wow-engine"]);
  EXPECT_TRUE(served == "aot" || served == "interp" || served == "jit") << served;
  // An engine that does not exist is refused with the choices, like other bad annotations.
  for (json::value bad : {json::value("warp"), json::value(7)}) {
    Reply r = executor().Post("/engine-bad/init",
                              InitModule(Example("add"), {{"annotations", json::object{{"engine", bad}}}}));
    EXPECT_GE(r.status, 400u) << r;
    EXPECT_NE(r.status, 500u) << r;
    EXPECT_NE(r.Error().find("the `engine` annotation must be one of aot, interp"), std::string::npos) << r;
    EXPECT_NE(r.Error().find("tiered"), std::string::npos) << r;
  }
  Reply none = executor().Post("/engine-bad/run", RunBody(json::object{}));
  EXPECT_EQ(none.status, 404u) << none;
}

TEST_F(ExecutorServiceTest, BadRequests) {
  REQUIRE_MODULES(kRuntime);
  for (const char* body : {"{", "not json", "", "[1]", R"({"value":"code"})", R"({"value":{"code":7}})"}) {
    Reply r = executor().Post("/bad-init/init", body);
    EXPECT_EQ(r.status, 400u) << "'" << body << "': " << r;
    EXPECT_FALSE(r.Error().empty()) << "'" << body << "': " << r;
  }
  Reply no_code = executor().Post("/bad-init/init", "{}");
  EXPECT_EQ(no_code.status, 403u) << no_code;
  EXPECT_JSON(no_code, R"({"error":"Missing main/no code to execute."})");
  // Bad annotations and limits.
  for (json::object extra : {json::object{{"annotations", json::object{{"dir", "relative/path"}}}},
                             json::object{{"annotations", json::object{{"memory", "lots"}}}},
                             json::object{{"annotations", json::object{{"net_access", 3}}}},
                             json::object{{"limits", json::object{{"memory", 0}}}}}) {
    Reply r = executor().Post("/bad-init/init", InitModule(kRuntime, extra));
    EXPECT_GE(r.status, 400u) << json::serialize(extra) << ": " << r;
    EXPECT_LT(r.status, 600u) << json::serialize(extra) << ": " << r;
    EXPECT_NE(r.status, 500u) << json::serialize(extra) << ": " << r;
    EXPECT_FALSE(r.Error().empty()) << json::serialize(extra) << ": " << r;
  }
  // None of them left a container behind.
  Reply none = executor().Post("/bad-init/run", RunBody(json::object{}));
  EXPECT_EQ(none.status, 404u) << none;

  ASSERT_OK(executor().Post("/bad-run/init", InitModule(kRuntime)));
  for (const char* body : {"{", "nope", "", "[]"}) {
    Reply r = executor().Post("/bad-run/run", body);
    EXPECT_EQ(r.status, 400u) << "'" << body << "': " << r;
    EXPECT_FALSE(r.Error().empty()) << "'" << body << "': " << r;
  }
  for (const char* body : {R"({"value":"s"})", R"({"value":1})"}) {
    Reply r = executor().Post("/bad-run/run", body);
    EXPECT_EQ(r.status, 403u) << body << ": " << r;
  }
  Reply ok = executor().Post("/bad-run/run", RunBody(json::object{{"ok", 1}}));
  ASSERT_OK(ok);
  EXPECT_JSON(ok, R"({"ok":1})");
}

// Issue 12: one /init of a deeply nested module killed the executor (the AoT
// code generator's recursion). It is refused with the limit, and the
// executor keeps serving.
TEST_F(ExecutorServiceTest, InitRefusesModulesOverTheStructuralLimits) {
  const std::vector<uint8_t> nested = wasm::testing::NestedBlocksModule(20000);
  struct Case {
    const char* what;
    std::string body;
    const char* reason;
  };
  const Case cases[] = {
      {"20,000 nested blocks", InitBody(Base64Encode(std::string(nested.begin(), nested.end()))),
       "function 0 nests blocks 20000 deep; at most 1024 are allowed"},
      {"100,000 nested blocks in text", InitBody(wasm::testing::NestedBlocksText(100000, true), false),
       "the WebAssembly text nests 100002 deep"},
  };
  for (const Case& c : cases) {
    Reply r = executor().Post("/too-deep/init", c.body);
    EXPECT_EQ(r.status, 502u) << c.what << ": " << r;  // like any module that cannot become an action
    EXPECT_NE(r.Error().find(c.reason), std::string::npos) << c.what << ": " << r;
    ASSERT_TRUE(executor().Running()) << c.what << "\n" << executor().Describe();
    Reply run = executor().Post("/too-deep/run", RunBody(json::object{}));
    EXPECT_EQ(run.status, 404u) << c.what << ": " << run;
  }
  // Still serving: the same id takes a module that can run.
  ASSERT_OK(executor().Post("/too-deep/init", InitBody(kTrapWat, false)));
}

TEST_F(ExecutorServiceTest, WrongMethodsAndUnknownPaths) {
  REQUIRE_MODULES(kRuntime);
  ASSERT_OK(executor().Post("/paths/init", InitModule(kRuntime)));
  for (http::Verb verb : {http::Verb::get, http::Verb::put, http::Verb::delete_}) {
    for (const char* op : {"init", "run", "destroy"}) {
      Reply r = executor().Send(verb, Path("paths", op), verb == http::Verb::get ? "" : "{}");
      EXPECT_EQ(r.status, 405u) << http::beast_http::to_string(verb) << " " << op << ": " << r;
    }
  }
  for (const char* target : {"/", "/paths", "/paths/", "/paths/start", "//run", "/paths/run/extra", "/init", "/run"}) {
    Reply r = executor().Post(target, "{}");
    EXPECT_EQ(r.status, 404u) << target << ": " << r;
    EXPECT_FALSE(r.Error().empty()) << target << ": " << r;
  }
  // The container survived all of that.
  Reply ok = executor().Post("/paths/run", RunBody(json::object{{"x", "y"}}));
  ASSERT_OK(ok);
  EXPECT_JSON(ok, R"({"x":"y"})");
}

TEST_F(ExecutorServiceTest, MemoryAnnotationLimitsAnAction) {
  REQUIRE_MODULES(kRuntime);
  ASSERT_OK(executor().Post("/mem16/init", InitModule(kRuntime, {{"annotations", json::object{{"memory", 16}}}})));
  ASSERT_OK(executor().Post("/mem-default/init", InitModule(kRuntime)));
  Reply trap = executor().Post("/mem16/run", RunBody(json::object{{"mode", "grow"}, {"then", "abort"}}));
  EXPECT_EQ(trap.status, 502u) << trap;
  EXPECT_NE(trap.Error().find("memory limit of 16 MB"), std::string::npos) << trap;
  Reply report = executor().Post("/mem16/run", RunBody(json::object{{"mode", "grow"}}));
  ASSERT_OK(report);
  int64_t mb = report.json.at("allocated_mb").to_number<int64_t>();
  EXPECT_GT(mb, 0) << report;
  EXPECT_LT(mb, 16) << report;
  // Other runs are unaffected, in the same container and in another one.
  Reply echo = executor().Post("/mem16/run", RunBody(json::object{{"after", "grow"}}));
  ASSERT_OK(echo);
  EXPECT_JSON(echo, R"({"after":"grow"})");
  Reply other = executor().Post("/mem-default/run", RunBody(json::object{{"other", true}}));
  ASSERT_OK(other);
  EXPECT_JSON(other, R"({"other":true})");
}

// The operator's --allow-dir decides which host directories `dir` reaches.
TEST_F(ExecutorServiceTest, DirAnnotationGrantsADirectoryTheOperatorAllows) {
  REQUIRE_MODULES(Example("filesys"), kRuntime);
  auto allowing = Service::Start({"executor", data_dir_->path(), {"--allow-dir", tmp_.path().string()}, {}});
  ASSERT_NE(allowing, nullptr);
  Service& allowed = *allowing;
  fs::path granted = tmp_.path() / "granted" / "nested";  // does not exist yet
  ASSERT_FALSE(fs::exists(granted));
  ASSERT_OK(allowed.Post(
      "/fs-dir/init", InitModule(Example("filesys"), {{"annotations", json::object{{"dir", granted.string()}}}})));
  fs::path file = granted / "hello.txt";
  const std::string content = "written through wow executor, καλημέρα\n";
  Reply r = allowed.Post(
      "/fs-dir/run", RunBody(json::object{{"dir", granted.string()}, {"path", file.string()}, {"content", content}}));
  ASSERT_OK(r);
  EXPECT_EQ(r.json,
            json::value(json::object{
                {"path", file.string()}, {"bytes", static_cast<int64_t>(content.size())}, {"content", content}}))
      << r;
  EXPECT_TRUE(fs::is_directory(granted));
  EXPECT_EQ(ReadText(file), content);
  // A fresh random file (removed afterwards) also works.
  Reply fresh = allowed.Post("/fs-dir/run", RunBody(json::object{{"dir", granted.string()}}));
  ASSERT_OK(fresh);
  EXPECT_EQ(fresh.json.at("content"), json::value("Hello from a wow action.\n")) << fresh;

  // Without the annotation the same action cannot reach it.
  fs::path open = tmp_.path() / "open";
  fs::create_directories(open);
  ASSERT_OK(allowed.Post("/fs-nodir/init", InitModule(Example("filesys"))));
  Reply denied = allowed.Post(
      "/fs-nodir/run", RunBody(json::object{{"dir", open.string()}, {"path", (open / "denied.txt").string()}}));
  EXPECT_EQ(denied.status, 200u) << denied;  // an application error
  EXPECT_FALSE(denied.Error().empty()) << denied;
  EXPECT_FALSE(fs::exists(open / "denied.txt"));

  // Nor can an action with the annotation go above its directory.
  ASSERT_OK(allowed.Post("/fs-runtime/init",
                            InitModule(kRuntime, {{"annotations", json::object{{"dir", granted.string()}}}})));
  Reply inside = allowed.Post(
      "/fs-runtime/run",
      RunBody(json::object{{"mode", "write"}, {"path", (granted / "in.txt").string()}, {"content", "12345"}}));
  ASSERT_OK(inside);
  EXPECT_JSON(inside, R"({"written":5})");
  EXPECT_EQ(ReadText(granted / "in.txt"), "12345");
  fs::path escape = granted.parent_path() / "escape.txt";
  Reply outside = allowed.Post(
      "/fs-runtime/run",
      RunBody(json::object{{"mode", "write"}, {"path", (granted / ".." / "escape.txt").string()}, {"content", "x"}}));
  EXPECT_FALSE(outside.Error().empty()) << outside;
  EXPECT_FALSE(fs::exists(escape));
}

// Regression (issue 12): without the operator's permission a `dir` request is
// an action's private directory under the data dir, seen at the path it asked
// for; the host path itself is untouched, and the data dir is never granted.
TEST_F(ExecutorServiceTest, DirAnnotationWithoutPermissionIsAPrivateDirectory) {
  REQUIRE_MODULES(Example("filesys"));
  fs::path asked = tmp_.path() / "asked";
  ASSERT_OK(executor().Post("/fs-private/init", InitModule(Example("filesys"), {{"name", "fs-private"},
                                                                               {"annotations", json::object{{"dir", asked.string()}}}})));
  Reply r = executor().Post("/fs-private/run", RunBody(json::object{{"dir", asked.string()},
                                                                   {"path", (asked / "f.txt").string()},
                                                                   {"content", "private"}}));
  ASSERT_OK(r);
  EXPECT_EQ(r.json.at("content"), json::value("private")) << r;
  EXPECT_FALSE(fs::exists(asked));
  fs::path files = data_dir_->path() / "files" / "fs-private";
  bool found = false;
  for (const auto& e : fs::recursive_directory_iterator(files)) found |= e.path().filename() == "f.txt";
  EXPECT_TRUE(found) << "no f.txt under " << files;

  // The audit's exploit: `dir: "/"` to read the data dir's files. The guest
  // sees an empty private "/" instead.
  ASSERT_OK(executor().Post("/fs-root/init", InitModule(Example("filesys"), {{"name", "fs-root"},
                                                                            {"annotations", json::object{{"dir", "/"}}}})));
  fs::path secret = data_dir_->path() / "aot";
  Reply root = executor().Post("/fs-root/run", RunBody(json::object{{"dir", "/"}, {"path", (tmp_.path() / "x").string()},
                                                                   {"content", "y"}}));
  ASSERT_OK(root);
  EXPECT_FALSE(fs::exists(tmp_.path() / "x"));

  // Even an operator who allows "/" does not hand out the data dir.
  auto allowing = Service::Start({"executor", data_dir_->path(), {"--allow-dir", "/"}, {}});
  ASSERT_NE(allowing, nullptr);
  Reply refused = allowing->Post("/fs-data/init", InitModule(Example("filesys"),
                                                             {{"annotations", json::object{{"dir", secret.string()}}}}));
  EXPECT_EQ(refused.status, 502u) << refused;
  EXPECT_NE(refused.body.find("data directory"), std::string::npos) << refused;
}

TEST_F(ExecutorServiceTest, NetAccessAnnotationLinksHttpGet) {
  REQUIRE_MODULES(Example("block"));
  ASSERT_OK(executor().Post("/block-net/init",
                            InitModule(Example("block"), {{"annotations", json::object{{"net_access", true}}}})));
  auto start = Clock::now();
  Reply r = executor().Post("/block-net/run", RunBody(json::object{}));
  double ms = MsSince(start);
  ASSERT_OK(r);
  EXPECT_JSON(r, R"({"status":0})");
  EXPECT_GE(ms, 290) << r;
  EXPECT_LT(ms, 2000) << r;

  // Without net_access the module's http.get import is not linked: init fails.
  for (json::object extra : {json::object{}, json::object{{"annotations", json::object{{"net_access", false}}}}}) {
    Reply init = executor().Post("/block-nonet/init", InitModule(Example("block"), extra));
    EXPECT_EQ(init.status, 502u) << init;
    EXPECT_NE(init.Error().find("http.get"), std::string::npos) << init;
    Reply run = executor().Post("/block-nonet/run", RunBody(json::object{}));
    EXPECT_EQ(run.status, 404u) << run;
  }
}

TEST_F(ExecutorServiceTest, TwoHundredConcurrentBlockingActivations) {
  REQUIRE_MODULES(Example("block"));
  ASSERT_OK(executor().Post("/block-200/init",
                            InitModule(Example("block"), {{"annotations", json::object{{"net_access", true}}}})));
  ASSERT_OK(executor().Post("/block-200/run", RunBody(json::object{})));  // warm up
  constexpr int kActivations = 200;
  std::atomic<int> good{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  threads.reserve(kActivations);
  std::atomic<bool> go{false};
  for (int i = 0; i < kActivations; ++i) {
    threads.emplace_back([&] {
      auto client = http::Client::Connect(executor().host(), executor().port(), milliseconds(30'000));
      while (!go.load()) std::this_thread::yield();
      Reply r = client.ok() ? ToReply(client->Send(http::Verb::post, "/block-200/run", RunBody(json::object{})))
                            : Reply{0, "", client.status().ToString(), nullptr};
      if (r.status == 200 && r.json == Json(R"({"status":0})")) {
        ++good;
      } else {
        std::lock_guard<std::mutex> lock(mu);
        failures.push_back(testing::PrintToString(r.status) + " " + r.body.substr(0, 200) + " " + r.error);
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(100));  // let the threads connect
  auto start = Clock::now();
  go = true;
  for (auto& t : threads) t.join();
  double ms = MsSince(start);
  std::printf("[ executor ] %d concurrent block activations (300 ms each) took %.0f ms\n", kActivations, ms);
  EXPECT_EQ(good.load(), kActivations);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, e.g. " << failures.front();
  EXPECT_LT(ms, 3000);
}

TEST_F(ExecutorServiceTest, HostileActivationsDoNotDisturbOthers) {
  REQUIRE_MODULES(kRuntime, Example("echo"));
  ASSERT_OK(executor().Post("/hostile-spin/init", InitModule(kRuntime)));
  ASSERT_OK(executor().Post("/hostile-trap/init", InitBody(kTrapWat, false)));
  ASSERT_OK(
      executor().Post("/hostile-grow/init", InitModule(kRuntime, {{"annotations", json::object{{"memory", 8}}}})));
  ASSERT_OK(executor().Post("/friendly/init", InitModule(Example("echo"))));

  std::atomic<bool> done{false};
  std::atomic<int> spins{0}, traps{0}, grows{0};
  std::mutex mu;
  std::vector<std::string> failures;
  auto fail = [&](std::string what, const Reply& r) {
    std::lock_guard<std::mutex> lock(mu);
    failures.push_back(what + ": " + testing::PrintToString(r));
  };
  std::vector<std::thread> hostile;
  hostile.emplace_back([&] {
    while (!done) {
      Reply r =
          executor().Fetch(http::Verb::post, "/hostile-spin/run",
                           RunBody(json::object{{"mode", "spin"}}, {{"deadline", DeadlineIn(milliseconds(200))}}));
      if (r.status != 502 || r.Error().find("exceeded its time limits") == std::string::npos) fail("spin", r);
      ++spins;
    }
  });
  hostile.emplace_back([&] {
    while (!done) {
      Reply r = executor().Fetch(http::Verb::post, "/hostile-trap/run", RunBody(json::object{}));
      if (r.status != 502 || r.Error().find("unreachable") == std::string::npos) fail("trap", r);
      ++traps;
    }
  });
  hostile.emplace_back([&] {
    while (!done) {
      Reply r = executor().Fetch(http::Verb::post, "/hostile-grow/run",
                                 RunBody(json::object{{"mode", "grow"}, {"then", "abort"}}));
      if (r.status != 502 || r.Error().find("memory limit of 8 MB") == std::string::npos) fail("grow", r);
      ++grows;
    }
  });

  auto client = executor().Connect();
  int friendly = 0;
  double worst = 0;
  auto start = Clock::now();
  while (MsSince(start) < 1500 || spins < 2) {
    json::object params{{"n", friendly}, {"text", "friendly " + std::to_string(friendly)}};
    auto t0 = Clock::now();
    Reply r = ToReply(client.Send(http::Verb::post, "/friendly/run", RunBody(params)));
    worst = std::max(worst, MsSince(t0));
    if (r.status != 200 || r.json != json::value(params)) fail("friendly", r);
    ++friendly;
    if (MsSince(start) > 20'000) break;
  }
  done = true;
  for (auto& t : hostile) t.join();
  std::printf("[ executor ] %d friendly runs next to %d spins, %d traps, %d memory bombs; slowest friendly %.0f ms\n",
              friendly, spins.load(), traps.load(), grows.load(), worst);
  EXPECT_TRUE(failures.empty()) << testing::PrintToString(failures);
  EXPECT_GE(spins.load(), 2);
  EXPECT_GT(traps.load(), 0);
  EXPECT_GT(grows.load(), 0);
  EXPECT_GT(friendly, 10);
  EXPECT_TRUE(executor().Running()) << executor().Describe();
}

TEST_F(ExecutorServiceTest, GarbageOnTheSocketDoesNotKillTheServer) {
  REQUIRE_MODULES(kRuntime);
  ASSERT_OK(executor().Post("/garbage/init", InitModule(kRuntime)));
  const std::vector<std::string> garbage = {
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),  // a TLS ClientHello
      "GET / HTTP/9.9\r\n\r\n",
      "POST /garbage/run HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"val",
      "POST /garbage/run HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{\"val",  // wrong JSON, complete body
      "\r\n\r\n\r\n",
  };
  for (size_t i = 0; i < garbage.size(); ++i) {
    for (bool read_answer : {false, true}) {
      RawExchange(executor().port(), garbage[i], read_answer);
      ASSERT_TRUE(executor().Running()) << "garbage #" << i << "\n" << executor().Describe();
      Reply r =
          executor().Fetch(http::Verb::post, "/garbage/run", RunBody(json::object{{"i", static_cast<int64_t>(i)}}));
      ASSERT_EQ(r.status, 200u) << "after garbage #" << i << ": " << r;
      EXPECT_EQ(r.json, json::value(json::object{{"i", static_cast<int64_t>(i)}})) << r;
    }
  }
}

// A run whose deadline is 2^64-1 ms (or 1e15 ms) after the epoch is a run
// with a far deadline: it is served, not stopped at once by a deadline that
// wrapped into the past.
TEST_F(ExecutorServiceTest, FarDeadlinesDoNotWrapToZero) {
  ASSERT_OK(executor().Post("/far-deadline/init", InitBody(kQuickWat, false)));
  for (json::value deadline : {json::value("18446744073709551615"), json::value(18446744073709551615ull),
                               json::value(1e15), json::value("1000000000000000")}) {
    Reply r = executor().Post("/far-deadline/run", RunBody(json::object{{"x", 1}}, {{"deadline", deadline}}));
    EXPECT_EQ(r.status, 200u) << ToJson(deadline) << ": " << r;
  }
  for (json::value deadline : {json::value(-1), json::value("-1"), json::value(1.5), json::value(1e300),
                               json::value("18446744073709551616")}) {
    Reply r = executor().Post("/far-deadline/run", RunBody(json::object{}, {{"deadline", deadline}}));
    EXPECT_EQ(r.status, 400u) << ToJson(deadline) << ": " << r;
  }
}

TEST_F(ExecutorServiceTest, ContainerIdsThatWouldBlurTheLogPrefixAreRefused) {
  for (std::string id : {std::string("[victim]"), std::string("a]b"), std::string(257, 'i')}) {
    Reply r = executor().Post(Path(id, "init"), InitBody(kQuickWat, false));
    EXPECT_EQ(r.status, 400u) << id << ": " << r;
  }
  ASSERT_OK(executor().Post(Path(std::string(256, 'i'), "init"), InitBody(kQuickWat, false)));
  EXPECT_EQ(executor().Post(Path(std::string(256, 'i'), "destroy"), "").status, 200u);
}

// A guest cannot write a line that looks like another container's: its
// lines all start with its own "[id] ", and control characters that could
// redraw the prefix on a terminal are escaped.
TEST_F(ExecutorServiceTest, GuestsCannotForgeAnotherContainersLogLines) {
  REQUIRE_MODULES(kRuntime);
  ASSERT_OK(executor().Post("/forger/init", InitModule(kRuntime)));
  const std::string sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX";
  Reply r = executor().Post("/forger/run", RunBody(json::object{{"mode", "log"},
                                                                {"out", "[victim] forged on stdout"},
                                                                {"err", "\r[victim] forged on stderr " + sentinel}}));
  ASSERT_OK(r);
  auto deadline = Clock::now() + milliseconds(10'000);
  while (executor().Stderr().find("forged on stderr") == std::string::npos && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_NE(executor().Stdout().find("\n[forger] [victim] forged on stdout\n"), std::string::npos)
      << executor().Describe();
  EXPECT_NE(executor().Stderr().find("\n[forger] \\x0d[victim] forged on stderr x" + sentinel.substr(1) + "\n"),
            std::string::npos)
      << executor().Describe();
  for (Stream stream : {Stream::kStdout, Stream::kStderr}) {
    for (const std::string& line : executor().Lines(stream)) {
      EXPECT_FALSE(line.starts_with("[victim]")) << line;
      EXPECT_EQ(line.find('\r'), std::string::npos) << line;
    }
  }
}

// Each test below starts its own executor with the flags it tests (the
// interpreter: nothing to compile).
class ExecutorLimitsTest : public ::testing::Test {
 protected:
  std::unique_ptr<Service> Start(std::vector<std::string> args, std::vector<std::string> env = {}) {
    args.insert(args.begin(), {"--engine", "interp"});
    return Service::Start({"executor", data_dir_.path(), std::move(args), std::move(env)});
  }
  TempDir data_dir_{"wow-executor-limits"};
};

// CPU time (user + system, in clock ticks) the process has used so far.
long CpuTicks(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return -1;
  // Fields after the command name (which ends with the last ')'): utime and stime are the 12th and 13th.
  std::istringstream fields(stat->substr(stat->rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 1; i <= 13 && fields >> field; ++i) {
    if (i == 12) utime = std::stol(field);
    if (i == 13) stime = std::stol(field);
  }
  return utime + stime;
}

// Waits (up to 30 s) until the idle process `pid` has burnt 100 ms of CPU:
// an activation is spinning in it.
bool WaitUntilSpinning(pid_t pid) {
  const long ticks_100ms = std::max(1L, ::sysconf(_SC_CLK_TCK) / 10);
  long base = CpuTicks(pid);
  for (auto deadline = Clock::now() + milliseconds(30'000); Clock::now() < deadline;) {
    if (CpuTicks(pid) - base >= ticks_100ms) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return false;
}

// A module of about `kib` KiB: a data segment of that many bytes.
std::string ModuleOfKib(int kib, char fill) {
  return "(module (memory (export \"memory\") 16) (data (i32.const 0) \"" + std::string(kib * 1024, fill) +
         "\") (func (export \"_start\")))";
}

TEST_F(ExecutorLimitsTest, MaxContainersAtAndOverTheLimit) {
  auto service = Start({"--max-containers", "2"});
  ASSERT_NE(service, nullptr);
  ASSERT_EQ(service->Post("/one/init", InitBody(kQuickWat, false)).status, 200u) << service->Describe();
  ASSERT_EQ(service->Post("/two/init", InitBody(kQuickWat, false)).status, 200u) << service->Describe();
  Reply over = service->Post("/three/init", InitBody(kQuickWat, false));
  EXPECT_EQ(over.status, 502u) << over;
  EXPECT_NE(over.Error().find("maximum of 2 containers"), std::string::npos) << over;
  EXPECT_EQ(service->Post("/three/run", RunBody()).status, 404u);
  ASSERT_EQ(service->Post("/one/destroy", "").status, 200u);
  EXPECT_EQ(service->Post("/three/init", InitBody(kQuickWat, false)).status, 200u);
  EXPECT_EQ(service->Post("/three/run", RunBody(json::object{{"x", 1}})).status, 200u);
  EXPECT_EQ(service->Stop(), 0) << service->Describe();
}

TEST_F(ExecutorLimitsTest, MaxCodeBytesAtAndOverTheLimit) {
  // 1 MiB of code: one module of 600 KiB fits, a second does not, a small one does.
  auto service = Start({"--max-code-mb", "1"});
  ASSERT_NE(service, nullptr);
  ASSERT_EQ(service->Post("/big-a/init", InitBody(ModuleOfKib(600, 'a'), false)).status, 200u) << service->Describe();
  Reply over = service->Post("/big-b/init", InitBody(ModuleOfKib(600, 'b'), false));
  EXPECT_EQ(over.status, 502u) << over;
  EXPECT_NE(over.Error().find("at most 1048576 bytes of code"), std::string::npos) << over;
  EXPECT_EQ(service->Post("/small/init", InitBody(ModuleOfKib(300, 'c'), false)).status, 200u);
  // Destroying frees the bytes.
  ASSERT_EQ(service->Post("/big-a/destroy", "").status, 200u);
  EXPECT_EQ(service->Post("/big-b/init", InitBody(ModuleOfKib(600, 'b'), false)).status, 200u);
  EXPECT_EQ(service->Stop(), 0) << service->Describe();
}

TEST_F(ExecutorLimitsTest, TimeLimitsAreCappedNeverZeroNeverEndless) {
  auto service = Start({"--max-timeout-ms", "300", "--timeout-ms", "300"});
  ASSERT_NE(service, nullptr);
  // limits.timeout above the maximum is refused at /init; at it, accepted.
  for (json::value timeout : {json::value(1e15), json::value(301), json::value("18446744073709551615")}) {
    Reply r =
        service->Post("/capped/init", InitBody(kSpinWat, false, {{"limits", json::object{{"timeout", timeout}}}}));
    EXPECT_EQ(r.status, 502u) << ToJson(timeout) << ": " << r;
    EXPECT_NE(r.Error().find("exceeds this executor's maximum of 300 ms"), std::string::npos) << r;
  }
  ASSERT_EQ(
      service->Post("/capped/init", InitBody(kSpinWat, false, {{"limits", json::object{{"timeout", 300}}}})).status,
      200u);
  // A deadline beyond the maximum is clamped to it: the spin stops after 300 ms.
  for (json::value deadline : {json::value("18446744073709551615"), json::value(1e15)}) {
    auto start = Clock::now();
    Reply r = service->Post("/capped/run", RunBody(json::object{}, {{"deadline", deadline}}));
    double ms = MsSince(start);
    EXPECT_EQ(r.status, 502u) << r;
    EXPECT_JSON(r, R"({"error":"The action exceeded its time limits of 300 milliseconds."})");
    EXPECT_GE(ms, 250) << r;
    EXPECT_LT(ms, 3000) << r;
  }
  EXPECT_EQ(service->Stop(), 0) << service->Describe();
}

TEST_F(ExecutorLimitsTest, SigtermWithASpinningActivationExitsAfterTheGrace) {
  auto service = Start({"--shutdown-grace-ms", "500"});
  ASSERT_NE(service, nullptr);
  ASSERT_EQ(service->Post("/spinner/init", InitBody(kSpinWat, false)).status, 200u) << service->Describe();
  // Its deadline is 5 minutes away (the default maximum): far beyond the grace.
  Reply reply;
  std::thread run([&] {
    reply = service->Fetch(http::Verb::post, "/spinner/run",
                           RunBody(json::object{}, {{"deadline", DeadlineIn(milliseconds(300'000))}}),
                           milliseconds(60'000));
  });
  // EXPECT, not ASSERT: returning would destroy `run` unjoined (std::terminate).
  EXPECT_TRUE(WaitUntilSpinning(service->pid())) << service->Describe();
  auto start = Clock::now();
  int exit_code = service->Stop(milliseconds(20'000));
  double ms = MsSince(start);
  run.join();
  std::printf("[ executor ] SIGTERM with a spinning activation: exited after %.0f ms (grace 500 ms)\n", ms);
  EXPECT_EQ(exit_code, 1) << service->Describe();  // -2 would mean it had to be SIGKILLed
  EXPECT_GE(ms, 400) << service->Describe();
  EXPECT_LT(ms, 5000) << service->Describe();
  EXPECT_NE(service->Stderr().find("abandoned 1 running activation(s)"), std::string::npos) << service->Describe();
  EXPECT_NE(reply.status, 200u) << reply;  // the connection closed unanswered, or a 5xx
}

TEST_F(ExecutorLimitsTest, SigtermLetsShortActivationsFinishWithinTheGrace) {
  auto service = Start({"--shutdown-grace-ms", "10000"});
  ASSERT_NE(service, nullptr);
  // Its own limit, 3 s of wall time, is well within the 10 s grace, and long enough to be seen spinning (100 ms of
  // CPU) on a loaded machine: with 500 ms, at load 9, it once timed out before it had used 100 ms.
  ASSERT_EQ(
      service->Post("/short/init", InitBody(kSpinWat, false, {{"limits", json::object{{"timeout", 3000}}}})).status,
      200u);
  Reply reply;
  std::thread run([&] { reply = service->Fetch(http::Verb::post, "/short/run", RunBody(json::object{})); });
  // EXPECT, not ASSERT: returning would destroy `run` unjoined (std::terminate).
  EXPECT_TRUE(WaitUntilSpinning(service->pid())) << service->Describe();
  EXPECT_EQ(service->Stop(), 0) << service->Describe();
  run.join();
  // It ran to its own limit and was answered before the exit.
  EXPECT_EQ(reply.status, 502u) << reply;
  EXPECT_JSON(reply, R"({"error":"The action exceeded its time limits of 3000 milliseconds."})");
}

TEST_F(ExecutorLimitsTest, SharedSecretIsRequiredWhenConfigured) {
  TempDir dir("wow-secret");
  fs::path file = dir.path() / "secret";
  ASSERT_TRUE(WriteFileAtomically(file, "correct horse\n").ok());
  auto send = [](Service& s, std::string_view target, std::string body, std::optional<std::string> secret) {
    http::Headers headers;
    if (secret) headers.emplace_back("X-Wow-Secret", *secret);
    return ToReply(
        http::Fetch(s.host(), s.port(), http::Verb::post, target, std::move(body), "application/json", headers));
  };
  struct Case {
    std::vector<std::string> args, env;
    std::string secret;
  };
  for (const Case& c : {Case{{"--secret-file", file.string()}, {}, "correct horse"},
                        Case{{}, {"WOW_EXECUTOR_SECRET=from the environment"}, "from the environment"}}) {
    auto service = Start(c.args, c.env);
    ASSERT_NE(service, nullptr);
    for (std::optional<std::string> wrong : {std::optional<std::string>(), std::optional<std::string>("wrong"),
                                             std::optional<std::string>(c.secret + "x")}) {
      Reply r = send(*service, "/guarded/init", InitBody(kQuickWat, false), wrong);
      EXPECT_EQ(r.status, 401u) << r;
      EXPECT_NE(r.Error().find("X-Wow-Secret"), std::string::npos) << r;
      EXPECT_EQ(send(*service, "/anything", "", wrong).status, 401u);
    }
    EXPECT_EQ(send(*service, "/guarded/init", InitBody(kQuickWat, false), c.secret).status, 200u);
    EXPECT_EQ(send(*service, "/guarded/run", RunBody(json::object{{"ok", 1}}), c.secret).status, 200u);
    EXPECT_EQ(send(*service, "/guarded/run", RunBody(json::object{{"ok", 1}}), std::nullopt).status, 401u);
    EXPECT_EQ(service->Stop(), 0) << service->Describe();
  }
  // Without one, no header is needed (the suite's executor shows it too).
  auto open = Start({});
  ASSERT_NE(open, nullptr);
  EXPECT_EQ(send(*open, "/open/init", InitBody(kQuickWat, false), std::nullopt).status, 200u);
  EXPECT_EQ(open->Stop(), 0) << open->Describe();
  // An empty secret file is a usage error (exit 2), not "no secret".
  ASSERT_TRUE(WriteFileAtomically(dir.path() / "empty", "\n").ok());
  std::vector<std::string> args = {kWow.string(), "executor",      "--listen",
                                   "127.0.0.1:0", "--secret-file", (dir.path() / "empty").string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = SpawnCaptured(argv.data(), environ, dir.path() / "out", dir.path() / "err");
  ASSERT_GT(pid, 0);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  auto err = ReadFile(dir.path() / "err");
  ASSERT_TRUE(err.ok());
  EXPECT_NE(err->find("empty"), std::string::npos) << *err;
}

}  // namespace
}  // namespace wow::test
