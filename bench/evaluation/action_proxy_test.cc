// End-to-end tests of wow-action-proxy: starts the real binary on 127.0.0.1
// port 0 with a temporary action dir, reads its address from the first stdout
// line and talks OpenWhisk's action-runtime protocol to it. The actions are
// the examples' native builds and shell scripts written here.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../../tests/whisk_process.h"
#include "common/base64.h"
#include "common/files.h"
#include "common/json.h"
#include "http/client.h"
#include "http/server.h"

extern char** environ;

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const fs::path kProxy = WOW_ACTION_PROXY;
const fs::path kNative = fs::path(WOW_BINARY_DIR) / "examples" / "native";
using test::DeadlineIn;
using test::kSentinel;
using test::ReadText;
using test::RunBody;
using test::SplitLines;

size_t Count(const std::vector<std::string>& lines, std::string_view line) {
  size_t n = 0;
  for (const auto& l : lines) n += l == line;
  return n;
}

// {"value":{"main":"main","binary":<binary>,"code":<code>,"env":<env>}}
std::string InitBody(std::string code, bool binary = true, json::object env = {}) {
  json::object value{{"main", "main"}, {"binary", binary}, {"code", std::move(code)}};
  if (!env.empty()) value["env"] = std::move(env);
  return ToJson(json::object{{"value", std::move(value)}});
}
std::string InitFile(const fs::path& program, json::object env = {}) {
  auto bytes = ReadFile(program);
  EXPECT_TRUE(bytes.ok()) << program << ": " << bytes.status().ToString();
  return InitBody(Base64Encode(bytes.ok() ? *bytes : ""), true, std::move(env));
}
std::string InitScript(std::string_view body) { return InitBody(Base64Encode("#!/bin/sh\n" + std::string(body))); }

struct Reply {
  unsigned status = 0;  // 0: the request failed (see body)
  std::string body;
  json::value json;

  std::string Error() const {
    const json::object* o = json.if_object();
    const json::value* e = o != nullptr ? o->if_contains("error") : nullptr;
    return e != nullptr && e->is_string() ? std::string(e->as_string()) : std::string();
  }
};

std::ostream& operator<<(std::ostream& os, const Reply& r) { return os << "HTTP " << r.status << " " << r.body; }

// A wow-action-proxy child process with stdout and stderr in files.
class Proxy {
 public:
  explicit Proxy(std::vector<std::string> extra_args = {}) {
    out_ = dir_.path() / "stdout";
    err_ = dir_.path() / "stderr";
    std::vector<std::string> args = {kProxy.string(), "--listen", "127.0.0.1:0", "--action-dir",
                                     (dir_.path() / "action").string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = test::SpawnCaptured(argv.data(), environ, out_, err_);
    if (pid_ < 0) {
      int spawn_errno = errno;
      ADD_FAILURE() << "cannot start " << kProxy << ": " << std::strerror(spawn_errno);
      return;
    }
    WaitForAddress();
  }

  ~Proxy() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  bool started() const { return port_ != 0; }
  fs::path action_dir() const { return dir_.path() / "action"; }
  fs::path scratch() const { return dir_.path(); }
  std::string Stdout() const { return ReadText(out_); }
  std::string Stderr() const { return ReadText(err_); }
  std::string Describe() const { return "--- proxy stdout\n" + Stdout() + "--- proxy stderr\n" + Stderr(); }

  // One request on a fresh connection (thread-safe).
  Reply Send(http::Verb verb, std::string_view target, std::string body = {}) const {
    auto response = http::Fetch("127.0.0.1", port_, verb, target, std::move(body));
    Reply r;
    if (!response.ok()) {
      r.body = response.status().ToString();
      return r;
    }
    r.status = response->result_int();
    r.body = response->body();
    if (auto parsed = ParseJson(r.body); parsed.ok()) r.json = std::move(parsed).value();
    return r;
  }
  Reply Post(std::string_view target, std::string body) const {
    return Send(http::Verb::post, target, std::move(body));
  }

  // Polls until stdout and stderr each hold `n` sentinel lines.
  bool WaitForSentinels(size_t n, milliseconds timeout = 10s) const {
    for (auto deadline = Clock::now() + timeout; Clock::now() < deadline; std::this_thread::sleep_for(5ms)) {
      if (Count(SplitLines(Stdout()), kSentinel) >= n && Count(SplitLines(Stderr()), kSentinel) >= n) return true;
    }
    return false;
  }

  // SIGTERM; the exit code, -1 after a signal death, -2 when it does not exit within `timeout`.
  int Stop(milliseconds timeout = 10s) {
    if (pid_ <= 0) return -1;  // never started, or stopped already: kill(-1) would signal every process
    ::kill(pid_, SIGTERM);
    for (auto deadline = Clock::now() + timeout; Clock::now() < deadline; std::this_thread::sleep_for(5ms)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
    }
    return -2;
  }

 private:
  void WaitForAddress() {
    for (auto deadline = Clock::now() + 20s; Clock::now() < deadline; std::this_thread::sleep_for(5ms)) {
      std::string out = Stdout();
      size_t nl = out.find('\n');
      if (nl == std::string::npos) continue;
      auto address = http::ParseHostPort(out.substr(0, nl));
      ASSERT_TRUE(address.ok()) << "first stdout line is not HOST:PORT\n" << Describe();
      EXPECT_EQ(address->first, "127.0.0.1");
      port_ = address->second;
      return;
    }
    ADD_FAILURE() << "no address within 20 s\n" << Describe();
  }

  TempDir dir_{"wow-action-proxy-test"};
  fs::path out_, err_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

// A fresh proxy per test; each must end with a clean exit on SIGTERM.
class ActionProxyTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(proxy_->started()); }
  void TearDown() override { EXPECT_EQ(proxy_->Stop(), 0) << proxy_->Describe(); }

  void RequireNative(std::string_view name) {
    if (!fs::exists(kNative / name)) GTEST_FAIL() << kNative / name << " was not built (ninja examples)";
  }

  std::unique_ptr<Proxy> proxy_ = std::make_unique<Proxy>();
};

TEST_F(ActionProxyTest, RunsTheNativeAddExample) {
  RequireNative("add");
  Reply init = proxy_->Post("/init", InitFile(kNative / "add"));
  ASSERT_EQ(init.status, 200u) << init;
  EXPECT_EQ(init.json, json::parse(R"({"ok":true})"));
  EXPECT_TRUE(fs::exists(proxy_->action_dir() / "exec"));
  EXPECT_EQ(fs::status(proxy_->action_dir() / "exec").permissions() & fs::perms::all, static_cast<fs::perms>(0755));
  for (int i = 0; i < 3; ++i) {
    Reply run = proxy_->Post("/run", RunBody(json::object{{"param1", i}, {"param2", 40}}));
    ASSERT_EQ(run.status, 200u) << run;
    EXPECT_EQ(run.json, (json::object{{"result", 40 + i}}));
  }
  // An application error of the action is still its dictionary.
  Reply bad = proxy_->Post("/run", RunBody(json::object{{"param1", 1}}));
  EXPECT_EQ(bad.status, 200u) << bad;
  EXPECT_NE(bad.Error(), "") << bad;
  EXPECT_TRUE(proxy_->WaitForSentinels(4));
}

TEST_F(ActionProxyTest, EchoReturnsItsParametersAndLogs) {
  RequireNative("echo");
  ASSERT_EQ(proxy_->Post("/init", InitFile(kNative / "echo")).status, 200u);
  json::object params{{"text", "hello"}, {"list", json::array{1, 2, 3}}};
  Reply run = proxy_->Post("/run", RunBody(params));
  ASSERT_EQ(run.status, 200u) << run;
  EXPECT_EQ(run.json, params);

  ASSERT_TRUE(proxy_->WaitForSentinels(1)) << proxy_->Describe();
  auto out = SplitLines(proxy_->Stdout());
  auto err = SplitLines(proxy_->Stderr());
  std::string log = "echo: " + std::to_string(ToJson(params).size()) + " bytes";
  ASSERT_EQ(Count(out, log), 1u) << proxy_->Describe();
  // The log comes before the sentinel and the result line is not a log.
  auto log_at = std::find(out.begin(), out.end(), log);
  EXPECT_LT(log_at, std::find(out.begin(), out.end(), kSentinel));
  EXPECT_EQ(Count(out, ToJson(params)), 0u) << proxy_->Describe();
  EXPECT_EQ(Count(err, "echo: returning the parameters unchanged"), 1u) << proxy_->Describe();
}

TEST_F(ActionProxyTest, RefusesASecondInit) {
  ASSERT_EQ(proxy_->Post("/init", InitScript("echo '{}'\n")).status, 200u);
  Reply again = proxy_->Post("/init", InitScript("echo '{\"other\":1}'\n"));
  EXPECT_EQ(again.status, 403u);
  EXPECT_EQ(again.Error(), "Cannot initialize the action more than once.");
  Reply run = proxy_->Post("/run", RunBody());
  EXPECT_EQ(run.status, 200u) << run;
  EXPECT_EQ(run.json, json::object());
}

TEST_F(ActionProxyTest, RefusesARunBeforeInit) {
  Reply run = proxy_->Post("/run", RunBody());
  EXPECT_EQ(run.status, 403u);
  EXPECT_EQ(run.Error(), "Cannot invoke an uninitialized action.");
}

TEST_F(ActionProxyTest, RefusesMalformedBodies) {
  Reply init = proxy_->Post("/init", "{not json");
  EXPECT_EQ(init.status, 400u) << init;
  EXPECT_NE(init.Error(), "");
  EXPECT_EQ(proxy_->Post("/init", "[1]").status, 400u);

  ASSERT_EQ(proxy_->Post("/init", InitScript("echo '{}'\n")).status, 200u);
  Reply run = proxy_->Post("/run", "{\"value\":");
  EXPECT_EQ(run.status, 400u) << run;
  EXPECT_NE(run.Error(), "");
  Reply deadline = proxy_->Post("/run", RunBody(json::object(), {{"deadline", "soon"}}));
  EXPECT_EQ(deadline.status, 400u) << deadline;
  Reply value = proxy_->Post("/run", RunBody(json::array{1}));
  EXPECT_EQ(value.status, 403u) << value;
  EXPECT_NE(value.Error().find("value"), std::string::npos) << value;
}

TEST_F(ActionProxyTest, RefusesInitWithoutUsableCode) {
  Reply no_value = proxy_->Post("/init", "{}");
  EXPECT_EQ(no_value.status, 403u) << no_value;
  Reply no_code = proxy_->Post("/init", R"({"value":{"binary":true,"main":"main"}})");
  EXPECT_EQ(no_code.status, 403u) << no_code;
  EXPECT_EQ(no_code.Error(), "Missing main/no code to execute.");
  Reply empty = proxy_->Post("/init", InitBody(""));
  EXPECT_EQ(empty.status, 403u) << empty;
  Reply not_base64 = proxy_->Post("/init", InitBody("not base64 at all!"));
  EXPECT_EQ(not_base64.status, 403u) << not_base64;
  EXPECT_NE(not_base64.Error().find("base64"), std::string::npos) << not_base64;
  // None of them counted as the init.
  EXPECT_EQ(proxy_->Post("/init", InitScript("echo '{}'\n")).status, 200u);
}

TEST_F(ActionProxyTest, TextCodeIsStoredAsAScript) {
  ASSERT_EQ(proxy_->Post("/init", InitBody("#!/bin/sh\necho '{\"text\":true}'\n", false)).status, 200u);
  Reply run = proxy_->Post("/run", RunBody());
  EXPECT_EQ(run.status, 200u) << run;
  EXPECT_EQ(run.json, json::parse(R"({"text":true})"));
}

TEST_F(ActionProxyTest, OutputThatIsNotADictionaryIs502) {
  // A dictionary logged earlier does not count: only the last line does.
  std::string script = R"(read -r params
echo '{"log":1}'
case "$params" in
  *array*) echo '[1,2]' ;;
  *text*) echo 'hello' ;;
  *number*) echo '42' ;;
  *) echo '{"fine":true}' ;;
esac
)";
  ASSERT_EQ(proxy_->Post("/init", InitScript(script)).status, 200u);
  for (std::string kind : {"array", "text", "number"}) {
    Reply run = proxy_->Post("/run", RunBody(json::object{{"kind", kind}}));
    EXPECT_EQ(run.status, 502u) << kind << ": " << run;
    EXPECT_EQ(run.Error(), "The action did not return a dictionary.") << kind;
  }
  Reply fine = proxy_->Post("/run", RunBody());
  EXPECT_EQ(fine.status, 200u) << fine;
  EXPECT_EQ(fine.json, json::parse(R"({"fine":true})"));
}

TEST_F(ActionProxyTest, EmptyOutputIsNotADictionary) {
  ASSERT_EQ(proxy_->Post("/init", InitScript("true\n")).status, 200u);
  Reply run = proxy_->Post("/run", RunBody());
  EXPECT_EQ(run.status, 502u) << run;
  EXPECT_EQ(run.Error(), "The action did not return a dictionary.");
}

TEST_F(ActionProxyTest, FailingProcessNamesItsStatus) {
  ASSERT_EQ(proxy_->Post("/init", InitScript("echo some log\necho oops >&2\nexit 3\n")).status, 200u);
  Reply run = proxy_->Post("/run", RunBody());
  EXPECT_EQ(run.status, 502u) << run;
  EXPECT_EQ(run.Error(), "The action exited with status 3.");
  ASSERT_TRUE(proxy_->WaitForSentinels(1));
  EXPECT_EQ(Count(SplitLines(proxy_->Stdout()), "some log"), 1u) << proxy_->Describe();
  EXPECT_EQ(Count(SplitLines(proxy_->Stderr()), "oops"), 1u) << proxy_->Describe();
}

TEST_F(ActionProxyTest, ProcessKilledBySignalIsNamed) {
  ASSERT_EQ(proxy_->Post("/init", InitScript("kill -KILL $$\n")).status, 200u);
  Reply run = proxy_->Post("/run", RunBody());
  EXPECT_EQ(run.status, 502u) << run;
  EXPECT_EQ(run.Error(), "The action was killed by signal 9.");
}

TEST_F(ActionProxyTest, DictionaryWinsOverAFailedExit) {
  ASSERT_EQ(proxy_->Post("/init", InitScript("echo '{\"error\":\"bad input\"}'\nexit 1\n")).status, 200u);
  Reply run = proxy_->Post("/run", RunBody());
  EXPECT_EQ(run.status, 200u) << run;
  EXPECT_EQ(run.Error(), "bad input");
}

// True once `pid` is gone or a zombie waiting for init.
bool Dead(pid_t pid, milliseconds wait = 3s) {
  for (auto deadline = Clock::now() + wait;; std::this_thread::sleep_for(10ms)) {
    std::string stat = ReadText("/proc/" + std::to_string(pid) + "/stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos || stat.substr(paren + 2, 1) == "Z") return true;
    if (Clock::now() > deadline) return false;
  }
}

TEST_F(ActionProxyTest, DeadlineKillsTheAction) {
  // The script records its pid and its grandchild's before sleeping.
  fs::path pids = proxy_->scratch() / "pids";
  ASSERT_EQ(proxy_->Post("/init", InitScript("sleep 10 &\necho $$ $! > " + pids.string() + "\nwait\n")).status, 200u);
  auto start = Clock::now();
  Reply run = proxy_->Post("/run", RunBody(json::object(), {{"deadline", DeadlineIn(300ms)}}));
  auto took = Clock::now() - start;
  EXPECT_EQ(run.status, 502u) << run;
  EXPECT_TRUE(run.Error().starts_with("The action exceeded its time limit of ")) << run;
  EXPECT_TRUE(run.Error().ends_with(" milliseconds.")) << run;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  std::ifstream in(pids);
  pid_t shell = 0, sleeper = 0;
  ASSERT_TRUE(in >> shell >> sleeper) << ReadText(pids);
  EXPECT_TRUE(Dead(shell));
  EXPECT_TRUE(Dead(sleeper));
  EXPECT_TRUE(proxy_->WaitForSentinels(1));
}

TEST(ActionProxyTimeoutTest, TimeoutFlagLimitsRunsWithoutADeadline) {
  Proxy proxy({"--timeout-ms", "300"});
  ASSERT_TRUE(proxy.started());
  ASSERT_EQ(proxy.Post("/init", InitScript("sleep 10\n")).status, 200u);
  auto start = Clock::now();
  Reply run = proxy.Post("/run", RunBody());
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(run.status, 502u) << run;
  EXPECT_EQ(run.Error(), "The action exceeded its time limit of 300 milliseconds.");
  // A later deadline does not extend the limit.
  Reply later = proxy.Post("/run", RunBody(json::object(), {{"deadline", DeadlineIn(60s)}}));
  EXPECT_EQ(later.Error(), "The action exceeded its time limit of 300 milliseconds.");
  EXPECT_EQ(proxy.Stop(), 0);
}

TEST_F(ActionProxyTest, ActionSeesOpenWhiskEnvironmentAndParameters) {
  std::string script = R"sh(read -r params
echo "params: $params"
printf '{"id":"%s","ns":"%s","name":"%s","key":"%s","deadline":"%s","init":"%s","cwd":"%s"}\n' \
  "$__OW_ACTIVATION_ID" "$__OW_NAMESPACE" "$__OW_ACTION_NAME" "$__OW_API_KEY" "$__OW_DEADLINE" "$MY_VAR" "$(pwd)"
)sh";
  std::string init = InitBody(Base64Encode("#!/bin/sh\n" + script), true, {{"MY_VAR", "from init"}});
  ASSERT_EQ(proxy_->Post("/init", init).status, 200u);
  json::object fields{{"activation_id", "a1b2"},
                      {"namespace", "guest"},
                      {"action_name", "/guest/env"},
                      {"api_key", "k:s"},
                      {"deadline", 4102444800000}};  // a number here; 2100-01-01
  Reply run = proxy_->Post("/run", RunBody(json::object{{"x", 1}}, fields));
  ASSERT_EQ(run.status, 200u) << run << proxy_->Describe();
  json::object want{{"id", "a1b2"},
                    {"ns", "guest"},
                    {"name", "/guest/env"},
                    {"key", "k:s"},
                    {"deadline", "4102444800000"},
                    {"init", "from init"},
                    {"cwd", fs::canonical(proxy_->action_dir()).string()}};
  EXPECT_EQ(run.json, want);
  ASSERT_TRUE(proxy_->WaitForSentinels(1));
  EXPECT_EQ(Count(SplitLines(proxy_->Stdout()), R"(params: {"x":1})"), 1u) << proxy_->Describe();
}

TEST_F(ActionProxyTest, ConcurrentRunsEachGetAProcess) {
  ASSERT_EQ(proxy_->Post("/init", InitScript("sleep 0.5\necho \"{\\\"pid\\\":$$}\"\n")).status, 200u);
  constexpr int kRuns = 4;
  std::vector<Reply> replies(kRuns);
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([&, i] { replies[i] = proxy_->Post("/run", RunBody()); });
  }
  for (auto& t : threads) t.join();
  auto took = Clock::now() - start;
  EXPECT_LT(took, 1600ms);
  std::set<int64_t> pids;
  for (const auto& r : replies) {
    ASSERT_EQ(r.status, 200u) << r;
    pids.insert(r.json.at("pid").as_int64());
  }
  EXPECT_EQ(pids.size(), static_cast<size_t>(kRuns));
  EXPECT_TRUE(proxy_->WaitForSentinels(kRuns));
}

TEST_F(ActionProxyTest, UnknownPathsAndMethods) {
  Reply missing = proxy_->Send(http::Verb::get, "/");
  EXPECT_EQ(missing.status, 404u) << missing;
  EXPECT_NE(missing.Error(), "");
  EXPECT_EQ(proxy_->Post("/destroy", "{}").status, 404u);
  EXPECT_EQ(proxy_->Send(http::Verb::get, "/run").status, 405u);
}

TEST_F(ActionProxyTest, StopKillsRunningActions) {
  fs::path pids = proxy_->scratch() / "pids";
  ASSERT_EQ(proxy_->Post("/init", InitScript("echo $$ > " + pids.string() + "\nexec sleep 30\n")).status, 200u);
  Reply run;
  std::thread runner([&] { run = proxy_->Post("/run", RunBody()); });
  for (auto deadline = Clock::now() + 5s; Clock::now() < deadline && ReadText(pids).empty();) {
    std::this_thread::sleep_for(10ms);
  }
  auto start = Clock::now();
  EXPECT_EQ(proxy_->Stop(), 0);
  EXPECT_LT(Clock::now() - start, 3s);
  runner.join();
  EXPECT_EQ(run.status, 503u) << run;
  pid_t pid = std::stoi(ReadText(pids));
  EXPECT_TRUE(Dead(pid));
  proxy_ = std::make_unique<Proxy>();  // for TearDown
}

}  // namespace
}  // namespace wow::bench::eval
