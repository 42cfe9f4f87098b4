#pragma once

// OpenWhisk's invoker model over any container backend, for the baselines
// (Docker, process) and for wow's executor protocol: each container serves
// one activation at a time (OpenWhisk's default action concurrency); an
// activation takes the action's most recently used idle container (warm),
// else starts a new one (cold: start, wait for the proxy, /init) if the
// memory budget allows, else evicts the least recently used idle container
// of another action, else waits. Idle containers are removed after the
// keep-alive.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/client.h"
#include "platform.h"

namespace wow::bench::eval {

// A running container: accepts the OpenWhisk runtime protocol at
// host:port, its paths under `prefix` ("" for a proxy, "/<id>" for a
// container of wow's executor). Destroying it stops and removes it.
class Container {
 public:
  virtual ~Container() = default;
  virtual std::string host() const = 0;
  virtual uint16_t port() const = 0;
  virtual std::string prefix() const { return {}; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Once per action before any Start (wow's executor compiles here).
  virtual Status Prepare(const ActionSpec& action) = 0;
  // The /init body for the action's containers.
  virtual Result<std::string> InitBody(const ActionSpec& action) = 0;
  // Starts a container; returns once its proxy accepts connections.
  virtual Result<std::unique_ptr<Container>> Start(const ActionSpec& action) = 0;
  // Memory of the backend's live containers (`live` lists them all).
  virtual Result<Footprint> MeasureFootprint(const std::vector<const Container*>& live) = 0;
};

struct PoolOptions {
  uint64_t memory_budget_mb = 16384;  // sum of the live containers' memory limits
  std::chrono::milliseconds keep_alive{600'000};
  std::chrono::milliseconds run_timeout{60'000};  // the activations' deadline
};

class ContainerPool : public Platform {
 public:
  ContainerPool(std::unique_ptr<Backend> backend, PoolOptions options);
  ~ContainerPool() override;  // removes every container

  std::string name() const override { return backend_->name(); }
  Status Deploy(const ActionSpec& action) override;
  Invocation Invoke(const std::string& action, const std::string& params_json) override;
  void DropIdle() override;
  Result<Footprint> MeasureFootprint() override;
  size_t containers() const override;

 private:
  struct Slot {
    std::unique_ptr<Container> container;
    std::unique_ptr<http::Client> client;  // keep-alive connection to it
    std::string action;
    std::chrono::steady_clock::time_point last_used;
  };
  struct Deployed {
    ActionSpec spec;
    std::string init_body;
  };
  using SlotPtr = std::unique_ptr<Slot>;

  // Takes an idle slot of `action` (warm) or reserves room for a new one
  // (returns null; the caller starts it). Evicted idle slots of other
  // actions are appended to `evicted` for the caller to destroy unlocked.
  SlotPtr Acquire(const Deployed& action, std::vector<SlotPtr>& evicted);
  Result<SlotPtr> StartSlot(const Deployed& action, Invocation& inv, std::chrono::steady_clock::time_point arrival);
  void Release(SlotPtr slot, bool healthy, uint64_t memory_mb);
  void Sweep();

  std::unique_ptr<Backend> backend_;
  PoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable room_;
  std::map<std::string, Deployed> actions_;
  std::list<SlotPtr> idle_;  // most recently used first
  std::vector<const Container*> busy_;
  uint64_t committed_mb_ = 0;  // memory limits of live and starting containers
  size_t live_ = 0;
  bool stopping_ = false;
  std::thread sweeper_;
  std::condition_variable sweeper_wake_;
};

}  // namespace wow::bench::eval
