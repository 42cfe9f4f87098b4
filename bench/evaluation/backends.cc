#include "backends.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "common/base64.h"
#include "common/files.h"
#include "common/json.h"
#include "docker.h"
#include "http/client.h"
#include "rootfs.h"
#include "service_process.h"

namespace wow::bench::eval {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string InitBody(const std::string& name, std::string code, json::object extra = {}) {
  json::object value{{"name", name}, {"main", "main"}, {"binary", true}, {"code", Base64Encode(code)}};
  for (auto& [key, v] : extra) value[key] = v;
  return ToJson(json::object{{"value", std::move(value)}});
}

// PSS of one process, 0 when it is gone.
uint64_t PssOf(pid_t pid) {
  auto pss = ProcessPssBytes(pid);
  return pss.ok() ? *pss : 0;
}

// ---- process ----------------------------------------------------------------

class ProcessContainer : public Container {
 public:
  explicit ProcessContainer(ServiceProcess process) : process_(std::move(process)) {}
  std::string host() const override { return process_.host(); }
  uint16_t port() const override { return process_.port(); }
  pid_t pid() const { return process_.pid(); }

 private:
  ServiceProcess process_;
};

class ProcessBackend : public Backend {
 public:
  ProcessBackend(Artifacts artifacts, Workspace workspace)
      : artifacts_(std::move(artifacts)), workspace_(std::move(workspace)) {}
  std::string name() const override { return "process"; }
  Status Prepare(const ActionSpec&) override { return Status::Ok(); }
  Result<std::string> InitBody(const ActionSpec& action) override { return NativeInitBody(artifacts_, action); }

  Result<std::unique_ptr<Container>> Start(const ActionSpec& action) override {
    std::string id = "p" + std::to_string(next_.fetch_add(1));
    fs::path dir = workspace_.dir / "proxies" / id;
    ServiceOptions options;
    options.argv = {artifacts_.proxy.string(), "--listen", "127.0.0.1:0", "--action-dir", dir.string()};
    options.log_dir = workspace_.dir / "proxies";
    options.log_name = id + "-" + action.name;
    auto process = ServiceProcess::Start(std::move(options));
    if (!process.ok()) return process.status();
    return std::unique_ptr<Container>(std::make_unique<ProcessContainer>(std::move(process).value()));
  }

  Result<Footprint> MeasureFootprint(const std::vector<const Container*>& live) override {
    Footprint f;
    uint64_t pss = 0;
    for (const Container* c : live) pss += PssOf(static_cast<const ProcessContainer*>(c)->pid());
    f.parts.emplace_back("proxies PSS", pss);
    f.total = pss;
    return f;
  }

 private:
  Artifacts artifacts_;
  Workspace workspace_;
  std::atomic<uint64_t> next_{1};
};

// ---- wow executor -------------------------------------------------------------

class ExecutorContainer : public Container {
 public:
  ExecutorContainer(std::string host, uint16_t port, std::string id)
      : host_(std::move(host)), port_(port), id_(std::move(id)) {}
  ~ExecutorContainer() override { (void)http::Fetch(host_, port_, http::Verb::post, "/" + id_ + "/destroy"); }
  std::string host() const override { return host_; }
  uint16_t port() const override { return port_; }
  std::string prefix() const override { return "/" + id_; }

 private:
  std::string host_;
  uint16_t port_;
  std::string id_;
};

class ExecutorBackend : public Backend {
 public:
  ExecutorBackend(Artifacts artifacts, WowEngine engine, ServiceProcess executor)
      : artifacts_(std::move(artifacts)), engine_(std::move(engine)), executor_(std::move(executor)) {}
  std::string name() const override { return "wow executor"; }

  Result<std::string> InitBody(const ActionSpec& action) override { return Body(action, /*aot=*/false); }

  // OpenWhisk with WOW compiles before the first request: one /init (which
  // compiles into the executor's artifact cache) and /destroy; on AoT
  // explicitly where the node would switch to it later (WowEngine).
  Status Prepare(const ActionSpec& action) override {
    if (engine_.CompilesAhead()) {
      Status ahead = InitAndDestroy(action, /*aot=*/true);
      if (ahead.ok() || engine_.engine == "aot") return ahead;
    }
    return InitAndDestroy(action, /*aot=*/false);
  }

  Result<std::unique_ptr<Container>> Start(const ActionSpec&) override {
    return std::unique_ptr<Container>(std::make_unique<ExecutorContainer>(executor_.host(), executor_.port(),
                                                                          "c" + std::to_string(next_.fetch_add(1))));
  }

  Result<Footprint> MeasureFootprint(const std::vector<const Container*>&) override {
    Footprint f;
    f.total = PssOf(executor_.pid());
    f.parts.emplace_back("wow executor PSS", f.total);
    return f;
  }

 private:
  // The /init body; `aot` adds the `engine: aot` annotation.
  Result<std::string> Body(const ActionSpec& action, bool aot) {
    auto module = WasmModule(artifacts_, action);
    if (!module.ok()) return module.status();
    json::object extra, annotations;
    if (action.net_access) annotations["net_access"] = true;
    if (aot) annotations["engine"] = "aot";
    if (!annotations.empty()) extra["annotations"] = std::move(annotations);
    extra["limits"] = json::object{{"memory", action.memory_mb}};
    return eval::InitBody(action.name, std::move(module).value(), std::move(extra));
  }

  Status InitAndDestroy(const ActionSpec& action, bool aot) {
    auto body = Body(action, aot);
    if (!body.ok()) return body.status();
    std::string id = (aot ? "prepare-aot-" : "prepare-") + action.name;
    auto reply = http::Fetch(executor_.host(), executor_.port(), http::Verb::post, "/" + id + "/init", *body,
                             "application/json", {}, milliseconds(600'000));
    if (!reply.ok()) return reply.status();
    if (reply->result_int() != 200) return Status::IoError("compiling " + action.name + ": " + reply->body());
    (void)http::Fetch(executor_.host(), executor_.port(), http::Verb::post, "/" + id + "/destroy");
    return Status::Ok();
  }

  Artifacts artifacts_;
  WowEngine engine_;
  ServiceProcess executor_;
  std::atomic<uint64_t> next_{1};
};

// ---- Docker ---------------------------------------------------------------------

// A free TCP port on 127.0.0.1 right now (the container's proxy binds it).
Result<uint16_t> FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) return Status::Internal("cannot find a free port");
  return ntohs(addr.sin_port);
}

bool Accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

class DockerContainer : public Container {
 public:
  DockerContainer(std::shared_ptr<DockerApi> api, std::string id, uint16_t port)
      : api_(std::move(api)), id_(std::move(id)), port_(port) {}
  ~DockerContainer() override { (void)api_->RemoveContainer(id_, true); }
  std::string host() const override { return "127.0.0.1"; }
  uint16_t port() const override { return port_; }
  const std::string& id() const { return id_; }

 private:
  std::shared_ptr<DockerApi> api_;
  std::string id_;
  uint16_t port_;
};

constexpr char kProxyInImage[] = "/wow-action-proxy";

class DockerBackend : public Backend {
 public:
  DockerBackend(Artifacts artifacts, std::shared_ptr<DockerApi> api, std::string image, std::string cgroup_parent)
      : artifacts_(std::move(artifacts)),
        api_(std::move(api)),
        image_(std::move(image)),
        cgroup_parent_(std::move(cgroup_parent)) {}
  std::string name() const override { return "Docker"; }
  Status Prepare(const ActionSpec&) override { return Status::Ok(); }
  Result<std::string> InitBody(const ActionSpec& action) override { return NativeInitBody(artifacts_, action); }

  // Create, start, wait for the proxy: what OpenWhisk's invoker does
  // before /init (`docker run -d`, then polling the proxy).
  Result<std::unique_ptr<Container>> Start(const ActionSpec& action) override {
    Status last = Status::Ok();
    for (int attempt = 0; attempt < 3; ++attempt) {  // another program may take the port first
      auto port = FreeLoopbackPort();
      if (!port.ok()) return port.status();
      ContainerSpec spec;
      spec.image = image_;
      spec.cmd = {kProxyInImage, "--listen", "127.0.0.1:" + std::to_string(*port), "--action-dir", "/action"};
      spec.network_mode = "host";
      spec.memory_bytes = action.memory_mb << 20;
      spec.labels = {{"wow.bench", "1"}};
      auto id = api_->CreateContainer(spec);
      if (!id.ok()) return id.status();
      auto container = std::make_unique<DockerContainer>(api_, *id, *port);
      WOW_RETURN_IF_ERROR(api_->StartContainer(*id));
      last = WaitForProxy(*id, *port);
      if (last.ok()) return std::unique_ptr<Container>(std::move(container));
    }
    return last;
  }

  Result<Footprint> MeasureFootprint(const std::vector<const Container*>& live) override {
    uint64_t cgroups = 0, shims = 0;
    for (const Container* c : live) {
      const auto& id = static_cast<const DockerContainer*>(c)->id();
      auto memory = ReadContainerMemory(cgroup_parent_, id);
      if (!memory.ok()) return memory.status();
      cgroups += memory->stats_bytes();
      if (auto shim = ShimPid(id); shim.ok()) shims += PssOf(*shim);
    }
    Footprint f;
    f.parts.emplace_back("containers (docker stats)", cgroups);
    f.parts.emplace_back("containerd shims PSS", shims);
    f.total = cgroups + shims;
    return f;
  }

 private:
  Status WaitForProxy(const std::string& id, uint16_t port) {
    auto deadline = Clock::now() + std::chrono::seconds(60);
    auto next_inspect = Clock::now() + milliseconds(200);
    for (auto pause = std::chrono::microseconds(200);; pause = std::min(pause * 2, std::chrono::microseconds(2000))) {
      if (Accepts(port)) return Status::Ok();
      if (Clock::now() > next_inspect) {
        auto state = api_->Inspect(id);
        if (state.ok() && !state->running) {
          return Status::IoError("container " + id.substr(0, 12) + " exited (code " + std::to_string(state->exit_code) +
                                 ") before its proxy answered");
        }
        next_inspect = Clock::now() + milliseconds(200);
      }
      if (Clock::now() > deadline) return Status::IoError("the proxy in " + id.substr(0, 12) + " never answered");
      std::this_thread::sleep_for(pause);
    }
  }

  Artifacts artifacts_;
  std::shared_ptr<DockerApi> api_;
  std::string image_;
  std::string cgroup_parent_;
};

// ---- wow serve ---------------------------------------------------------------------

constexpr char kServeAuth[] =
    "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP";

class ServePlatform : public Platform {
 public:
  ServePlatform(Artifacts artifacts, ServiceOptions options, std::chrono::milliseconds keep_alive, WowEngine engine,
                ServiceProcess serve)
      : artifacts_(std::move(artifacts)),
        options_(std::move(options)),
        keep_alive_(keep_alive),
        engine_(std::move(engine)),
        serve_(std::move(serve)) {}
  std::string name() const override { return "wow serve"; }

  // Where the node switches to AoT later (WowEngine), a twin of the action
  // with the `engine: aot` annotation is deployed (compiling the artifact
  // into the node's cache) and deleted first.
  Status Deploy(const ActionSpec& action) override {
    if (engine_.CompilesAhead() && engine_.engine != "aot") {
      std::string twin = action.name + "-aot-ahead";
      if (Put(twin, action, /*aot=*/true).ok()) (void)Send(http::Verb::delete_, ActionPath(twin), {}, kDeployTimeout);
    }
    return Put(action.name, action, /*aot=*/false);
  }

  Invocation Invoke(const std::string& action, const std::string& params_json) override {
    Invocation inv;
    auto start = Clock::now();
    auto reply = Send(http::Verb::post, ActionPath(action) + "?blocking=true", params_json, milliseconds(120'000));
    inv.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!reply.ok()) {
      inv.error = reply.status().ToString();
      return inv;
    }
    auto record = ParseJson(reply->body());
    if (!record.ok() || !record->is_object()) {
      inv.error = "HTTP " + std::to_string(reply->result_int()) + ": " + reply->body().substr(0, 300);
      return inv;
    }
    const json::object& r = record->as_object();
    if (const auto* annotations = r.if_contains("annotations"); annotations && annotations->is_array()) {
      for (const auto& a : annotations->as_array()) {
        const auto* o = a.if_object();
        if (o == nullptr || !o->contains("key") || !o->contains("value")) continue;
        auto number = [&] { return o->at("value").is_number() ? o->at("value").to_number<double>() : 0.0; };
        if (o->at("key") == "waitTime") inv.wait_ms = number();
        if (o->at("key") == "initTime") {
          inv.init_ms = number();
          inv.cold = true;  // OpenWhisk records initTime for cold activations only
        }
      }
    }
    if (reply->result_int() == 200) {
      inv.ok = true;
    } else {
      inv.error = "HTTP " + std::to_string(reply->result_int()) + ": " + reply->body().substr(0, 300);
    }
    return inv;
  }

  // wow serve loads actions on demand and keeps no container across a
  // restart (its store keeps the actions): restarting it on the same data
  // directory drops every warm container. Called with no invocation running.
  void DropIdle() override {
    if (keep_alive_.count() == 0) return;  // nothing stays warm: a restart would only add first-use costs
    std::lock_guard<std::mutex> lock(mu_);
    clients_.clear();
    serve_.Stop();
    auto restarted = ServiceProcess::Start(options_);
    if (restarted.ok()) serve_ = std::move(restarted).value();  // else every later request fails, and says why
  }

  Result<Footprint> MeasureFootprint() override {
    Footprint f;
    f.total = PssOf(serve_.pid());
    f.parts.emplace_back("wow serve PSS", f.total);
    return f;
  }
  size_t containers() const override { return 0; }

 private:
  static constexpr milliseconds kDeployTimeout{600'000};  // the first deploy of a module compiles it

  static std::string ActionPath(const std::string& name) { return "/api/v1/namespaces/_/actions/" + name; }

  Status Put(const std::string& name, const ActionSpec& action, bool aot) {
    auto module = WasmModule(artifacts_, action);
    if (!module.ok()) return module.status();
    json::object body{{"exec", {{"kind", "wasm"}, {"binary", true}, {"code", Base64Encode(*module)}}},
                      {"limits", {{"memory", action.memory_mb}, {"timeout", 60000}}}};
    json::array annotations;
    if (action.net_access) annotations.push_back(json::object{{"key", "net_access"}, {"value", true}});
    if (aot) annotations.push_back(json::object{{"key", "engine"}, {"value", "aot"}});
    if (!annotations.empty()) body["annotations"] = std::move(annotations);
    auto reply = Send(http::Verb::put, ActionPath(name) + "?overwrite=true", ToJson(body), kDeployTimeout);
    if (!reply.ok()) return reply.status();
    if (reply->result_int() != 200) return Status::IoError("deploying " + name + ": " + reply->body());
    return Status::Ok();
  }

  // One request on a pooled keep-alive connection.
  Result<http::Response> Send(http::Verb verb, const std::string& target, std::string body, milliseconds timeout) {
    std::unique_ptr<http::Client> client;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!clients_.empty()) {
        client = std::move(clients_.back());
        clients_.pop_back();
      }
    }
    if (!client) {
      auto c = http::Client::Connect(serve_.host(), serve_.port(), timeout);
      if (!c.ok()) return c.status();
      client = std::make_unique<http::Client>(std::move(c).value());
    }
    client->set_timeout(timeout);
    static const http::Headers kAuth = {{"Authorization", "Basic " + Base64Encode(kServeAuth)}};
    auto reply = client->Send(verb, target, std::move(body), "application/json", kAuth);
    if (reply.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      clients_.push_back(std::move(client));
    }
    return reply;
  }

  Artifacts artifacts_;
  ServiceOptions options_;
  std::chrono::milliseconds keep_alive_;
  WowEngine engine_;
  ServiceProcess serve_;
  std::mutex mu_;
  std::vector<std::unique_ptr<http::Client>> clients_;
};

}  // namespace

Result<std::string> NativeInitBody(const Artifacts& artifacts, const ActionSpec& action) {
  auto binary = ReadFile(artifacts.Native(action.example));
  if (!binary.ok()) return binary.status();
  return InitBody(action.name, std::move(binary).value());
}

Result<std::string> WasmModule(const Artifacts& artifacts, const ActionSpec& action) {
  auto module = ReadFile(artifacts.Wasm(action.example));
  if (!module.ok()) return module.status();
  if (!action.distinct_module) return module;
  std::vector<uint8_t> bytes(module->begin(), module->end());
  bytes = WithCustomSection(std::move(bytes), "wow.bench.distinct", action.name);
  return std::string(bytes.begin(), bytes.end());
}

std::unique_ptr<Backend> MakeProcessBackend(Artifacts artifacts, Workspace workspace) {
  return std::make_unique<ProcessBackend>(std::move(artifacts), std::move(workspace));
}

std::unique_ptr<Backend> MakeDockerBackend(Artifacts artifacts, std::shared_ptr<DockerApi> api, std::string image,
                                           std::string cgroup_parent) {
  return std::make_unique<DockerBackend>(std::move(artifacts), std::move(api), std::move(image),
                                         std::move(cgroup_parent));
}

Status BuildProxyImage(const Artifacts& artifacts, DockerApi& api, const std::string& image,
                       const std::filesystem::path& scratch) {
  std::vector<RootfsEntry> entries = {{artifacts.proxy, kProxyInImage}};
  // The native builds arrive by /init, as OpenWhisk's blackbox actions do,
  // but their shared libraries must be in the image: list them once.
  for (const char* example : {"hash", "block"})
    entries.push_back({artifacts.Native(example), "/opt/examples/" + std::string(example)});
  fs::path tar = scratch / "rootfs.tar";
  WOW_RETURN_IF_ERROR(BuildRootfsTar(entries, tar, scratch / "rootfs"));
  size_t colon = image.rfind(':');
  return api.ImportImage(tar, image.substr(0, colon), colon == std::string::npos ? "latest" : image.substr(colon + 1),
                         {kProxyInImage});
}

// A data directory for a wow process whose aot/ is the run's shared cache, so
// a module compiles once per run (compiling is deploy-time work, not part of
// any figure).
static Result<fs::path> WowDataDir(const Workspace& workspace, const std::string& name) {
  fs::path dir = workspace.dir / name;
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::create_directories(workspace.aot_cache, ec);
  if (!fs::exists(dir / "aot")) fs::create_directory_symlink(workspace.aot_cache, dir / "aot", ec);
  if (ec) return Status::Internal("cannot prepare " + dir.string() + ": " + ec.message());
  return dir;
}

// `--engine <engine>`, or nothing for the node's default.
static void AddEngine(std::vector<std::string>& argv, const WowEngine& engine) {
  if (engine.engine.empty()) return;
  argv.push_back("--engine");
  argv.push_back(engine.engine);
}

Result<std::unique_ptr<Backend>> MakeExecutorBackend(Artifacts artifacts, Workspace workspace, WowEngine engine) {
  auto data_dir = WowDataDir(workspace, "executor");
  if (!data_dir.ok()) return data_dir.status();
  ServiceOptions options;
  options.argv = {artifacts.wow.string(), "executor", "--listen", "127.0.0.1:0", "--data-dir", data_dir->string()};
  AddEngine(options.argv, engine);
  options.log_dir = workspace.dir;
  options.log_name = "wow-executor";
  options.die_with_thread = true;
  auto executor = ServiceProcess::Start(std::move(options));
  if (!executor.ok()) return executor.status();
  return std::unique_ptr<Backend>(
      std::make_unique<ExecutorBackend>(std::move(artifacts), std::move(engine), std::move(executor).value()));
}

Result<std::unique_ptr<Platform>> MakeServePlatform(Artifacts artifacts, Workspace workspace, ServeOptions options) {
  auto data_dir = WowDataDir(workspace, "serve");
  if (!data_dir.ok()) return data_dir.status();
  ServiceOptions service;
  service.argv = {artifacts.wow.string(),
                  "serve",
                  "--listen",
                  "127.0.0.1:0",
                  "--data-dir",
                  data_dir->string(),
                  "--auth",
                  kServeAuth,
                  "--keep-alive-ms",
                  std::to_string(options.keep_alive.count()),
                  "--memory-budget-mb",
                  std::to_string(options.memory_budget_mb)};
  AddEngine(service.argv, options.engine);
  service.log_dir = workspace.dir;
  service.log_name = "wow-serve";
  service.die_with_thread = true;
  auto serve = ServiceProcess::Start(service);
  if (!serve.ok()) return serve.status();
  return std::unique_ptr<Platform>(std::make_unique<ServePlatform>(std::move(artifacts), std::move(service),
                                                                   options.keep_alive, std::move(options.engine),
                                                                   std::move(serve).value()));
}

Result<FirstResult> DeployToFirstResult(const Artifacts& artifacts, const fs::path& dir, const std::string& engine,
                                        const std::string& module, const std::string& params_json,
                                        milliseconds timeout) {
  std::error_code ec;
  fs::create_directories(dir / "data", ec);
  if (ec) return Status::Internal("cannot create " + (dir / "data").string() + ": " + ec.message());
  ServiceOptions options;
  options.argv = {artifacts.wow.string(), "executor", "--listen", "127.0.0.1:0", "--data-dir", (dir / "data").string()};
  AddEngine(options.argv, WowEngine{engine});
  options.log_dir = dir;
  options.log_name = "wow-executor";
  options.die_with_thread = true;  // the experiments' thread: it outlives the sample
  auto executor = ServiceProcess::Start(std::move(options));
  if (!executor.ok()) return executor.status();
  auto client = http::Client::Connect(executor->host(), executor->port(), timeout);
  if (!client.ok()) return client.status();
  std::string init = InitBody("deploy", module);
  auto params = ParseJson(params_json);
  std::string run = ToJson(json::object{{"value", params.ok() ? *params : json::value(json::object())},
                                        {"action_name", "/_/deploy"},
                                        {"namespace", "_"},
                                        {"activation_id", "1"}});

  FirstResult r;
  auto start = Clock::now();  // the code is encoded: only the exchange is timed
  auto init_reply = client->Send(http::Verb::post, "/deploy/init", std::move(init));
  auto init_end = Clock::now();
  if (!init_reply.ok()) return Status::IoError("/init: " + init_reply.status().ToString());
  if (init_reply->result_int() != 200) {
    return Status::IoError("/init: HTTP " + std::to_string(init_reply->result_int()) + ": " +
                           init_reply->body().substr(0, 300));
  }
  auto run_reply = client->Send(http::Verb::post, "/deploy/run", std::move(run));
  auto end = Clock::now();
  if (!run_reply.ok()) return Status::IoError("/run: " + run_reply.status().ToString());
  r.init_ms = std::chrono::duration<double, std::milli>(init_end - start).count();
  r.run_ms = std::chrono::duration<double, std::milli>(end - init_end).count();
  r.total_ms = std::chrono::duration<double, std::milli>(end - start).count();
  r.body = run_reply->body();
  if (auto it = run_reply->find("x-wow-engine"); it != run_reply->end()) r.served_by = std::string(it->value());
  if (run_reply->result_int() != 200) {
    return Status::IoError("/run: HTTP " + std::to_string(run_reply->result_int()) + ": " + r.body.substr(0, 300));
  }
  return r;
}

}  // namespace wow::bench::eval
