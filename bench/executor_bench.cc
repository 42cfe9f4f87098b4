// Executor figures (BENCHMARKS.md, "Executor service"):
//   BM_ActivationDeadline  the cost of the time-limit mechanism: the same
//                          add.wasm activation without and with a deadline
//   BM_DeadlineOvershoot   how late a tight loop stops after its deadline
//   BM_InitCompiled        Executor::Init of an already-compiled module
//   BM_InitCompiledHttp    the same through POST /{id}/init over loopback HTTP
//   BM_BlockBurst          200 concurrent `block` activations (300 ms of
//                          http.get each) on the worker pool: wall time
//   BM_RssPerContainer     resident memory per initialised container
// Run: build-bench/bench/executor_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <latch>
#include <mutex>

#include "bench_support.h"
#include "common/base64.h"
#include "common/files.h"
#include "common/json.h"
#include "executor/executor.h"
#include "http/client.h"
#include "http/server.h"
#include "protocol/action_logs.h"
#include "protocol/executor_protocol.h"
#include "wasm/engine_factory.h"
#include "wasm/module_reader.h"

namespace wow::bench {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "executor_bench: %s\n", message.c_str());
  std::exit(1);
}

// One executor for the whole program, its artifacts in a temporary dir.
struct Fixture {
  TempDir dir{"wow-executor-bench"};
  std::unique_ptr<executor::Executor> executor;
  std::string add_code;
  std::string block_code;

  static Fixture& Get() {
    static Fixture* f = new Fixture();
    return *f;
  }

 private:
  Fixture() {
    executor::ExecutorOptions options;
    options.engine_options.data_dir = dir.path();
    auto e = executor::Executor::Create(options);
    if (!e.ok()) Die(e.status().ToString());
    executor = std::move(e).value();
    auto to_b64 = [](const std::vector<uint8_t>& b) {
      return Base64Encode(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
    };
    add_code = to_b64(ReadBytesOrDie(ExampleWasm("add")));
    block_code = to_b64(ReadBytesOrDie(ExampleWasm("block")));
  }
};

executor::InitRequest InitOf(const std::string& code, bool net = false) {
  executor::InitRequest r;
  r.binary = true;
  r.code = code;
  if (net) r.annotations["net_access"] = true;
  return r;
}

std::shared_ptr<const executor::Container> InitOrDie(const std::string& id, const executor::InitRequest& r) {
  auto c = Fixture::Get().executor->Init(id, r);
  if (!c.ok()) Die(c.status().ToString());
  return *c;
}

void BM_ActivationDeadline(benchmark::State& state) {
  bool with_deadline = state.range(0) != 0;
  static auto add = InitOrDie("deadline-add", InitOf(Fixture::Get().add_code));
  abi::ActivationRequest request;
  request.params_json = R"({"param1": 20, "param2": 22})";
  request.entry_point = add->entry_point;
  for (auto _ : state) {
    // A deadline later than the last, as steady traffic has.
    if (with_deadline) request.limits.deadline = Clock::now() + std::chrono::seconds(60);
    auto result = abi::RunActivation(*add->module, request);
    if (!result.ok() || result->status != abi::ActivationStatus::kSuccess) {
      state.SkipWithError("activation failed");
      break;
    }
  }
  state.SetLabel(with_deadline ? "with deadline (timer armed)" : "no deadline");
}
BENCHMARK(BM_ActivationDeadline)->Arg(0)->Arg(1);

void BM_DeadlineOvershoot(benchmark::State& state) {
  auto engine = wasm::CreateEngine("aot", [] {
    wasm::EngineOptions o;
    o.data_dir = Fixture::Get().dir.path();
    return o;
  }());
  if (!engine.ok()) Die(engine.status().ToString());
  auto wasm = WatOrDie(R"((module (global $g (mut i64) (i64.const 0))
    (func (export "spin") (loop $l (global.set $g (i64.add (global.get $g) (i64.const 1))) (br $l)))))");
  auto module = (*engine)->Load(wasm, {});
  if (!module.ok()) Die(module.status().ToString());
  std::vector<double> late_us;
  for (auto _ : state) {
    wasm::InstanceOptions options;
    options.deadline = Clock::now() + std::chrono::milliseconds(20);
    auto instance = (*module)->Instantiate(options);
    Status s = (*instance)->Call("spin", {}, {});
    auto late = Clock::now() - *options.deadline;
    if (s.trap() != TrapKind::kTimeout) Die("spin did not time out: " + s.ToString());
    late_us.push_back(std::chrono::duration<double, std::micro>(late).count());
  }
  std::sort(late_us.begin(), late_us.end());
  state.counters["late_p50_us"] = late_us[late_us.size() / 2];
  state.counters["late_max_us"] = late_us.back();
}
BENCHMARK(BM_DeadlineOvershoot)->Iterations(50)->Unit(benchmark::kMillisecond);

void BM_InitCompiled(benchmark::State& state) {
  auto& f = Fixture::Get();
  auto request = InitOf(f.add_code);
  InitOrDie("warm-up", request);  // compiles once
  f.executor->Destroy("warm-up");
  uint64_t n = 0;
  for (auto _ : state) {
    std::string id = "init-" + std::to_string(n++);
    auto c = f.executor->Init(id, request);
    if (!c.ok()) Die(c.status().ToString());
    state.PauseTiming();
    f.executor->Destroy(id);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_InitCompiled)->Unit(benchmark::kMicrosecond);

void BM_InitCompiledHttp(benchmark::State& state) {
  auto& f = Fixture::Get();
  protocol::ActionLogWriter logs(false);
  protocol::ExecutorProtocol face(*f.executor, logs);
  auto server =
      http::Server::Start({}, [&](http::Request&& r, http::Responder respond) { face.Handle(std::move(r), respond); });
  if (!server.ok()) Die(server.status().ToString());
  auto client = http::Client::Connect("127.0.0.1", (*server)->port());
  if (!client.ok()) Die(client.status().ToString());
  std::string body = R"({"value":{"binary":true,"code":")" + f.add_code + R"("}})";
  uint64_t n = 0;
  for (auto _ : state) {
    std::string id = "http-init-" + std::to_string(n++);
    auto response = client->Send(http::Verb::post, "/" + id + "/init", body);
    if (!response.ok() || response->result() != http::HttpStatus::ok) Die("init over HTTP failed");
    state.PauseTiming();
    f.executor->Destroy(id);
    state.ResumeTiming();
  }
  state.counters["body_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_InitCompiledHttp)->Unit(benchmark::kMicrosecond);

void BM_BlockBurst(benchmark::State& state) {
  auto& f = Fixture::Get();
  static auto block = InitOrDie("burst-block", InitOf(f.block_code, /*net=*/true));
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    std::latch done(n);
    std::atomic<int> failed{0};
    for (int i = 0; i < n; ++i) {
      f.executor->Run(block, {}, [&](Result<abi::ActivationResult> r) {
        if (!r.ok() || r->status != abi::ActivationStatus::kSuccess) failed++;
        done.count_down();
      });
    }
    done.wait();
    if (failed) Die(std::to_string(failed.load()) + " block activations failed");
  }
  state.counters["activations"] = n;
}
BENCHMARK(BM_BlockBurst)->Arg(200)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);

void BM_RssPerContainer(benchmark::State& state) {
  auto& f = Fixture::Get();
  // Distinct modules (each its own artifact) or the same module each time.
  bool distinct = state.range(0) != 0;
  const int n = distinct ? 20 : 200;
  std::vector<executor::InitRequest> requests;
  for (int i = 0; i < n; ++i) {
    if (distinct) {
      auto wasm = WithCustomSection(ReadBytesOrDie(ExampleWasm("add")), "rss", std::to_string(i));
      requests.push_back(
          InitOf(Base64Encode(std::string_view(reinterpret_cast<const char*>(wasm.data()), wasm.size()))));
      InitOrDie("compile-" + std::to_string(i), requests.back());  // compile outside the measurement
      f.executor->Destroy("compile-" + std::to_string(i));
    } else {
      requests.push_back(InitOf(f.add_code));
    }
  }
  double per_container = 0;
  for (auto _ : state) {
    uint64_t before = ReadProcessMemory().rss;
    for (int i = 0; i < n; ++i) InitOrDie("rss-" + std::to_string(i), requests[i]);
    uint64_t after = ReadProcessMemory().rss;
    per_container = static_cast<double>(after - before) / n;
    for (int i = 0; i < n; ++i) f.executor->Destroy("rss-" + std::to_string(i));
  }
  state.counters["rss_per_container_KiB"] = per_container / 1024;
  state.SetLabel(distinct ? "distinct modules (own artifact each)" : "same module");
}
BENCHMARK(BM_RssPerContainer)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace wow::bench

BENCHMARK_MAIN();
