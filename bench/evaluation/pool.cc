#include "pool.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>

#include "common/json.h"

namespace wow::bench::eval {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The fields OpenWhisk's invoker sends with every /run.
std::string RunBody(const std::string& action, const std::string& params_json, std::chrono::milliseconds timeout) {
  static std::atomic<uint64_t> next_id{1};
  auto params = ParseJson(params_json);
  auto deadline = std::chrono::system_clock::now() + timeout;
  json::object body;
  body["value"] = params.ok() ? std::move(params).value() : json::value(json::object());
  body["action_name"] = "/_/" + action;
  body["namespace"] = "_";
  body["activation_id"] = std::to_string(next_id.fetch_add(1));
  body["deadline"] =
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(deadline.time_since_epoch()).count());
  return ToJson(body);
}

// "HTTP 502: <error member or body>" for a failed answer.
std::string DescribeFailure(const http::Response& r) {
  std::string what = r.body();
  if (auto v = ParseJson(r.body()); v.ok() && v->is_object()) {
    if (const auto* e = v->as_object().if_contains("error"); e && e->is_string()) what = std::string(e->as_string());
  }
  if (what.size() > 300) what = what.substr(0, 300) + "...";
  return "HTTP " + std::to_string(r.result_int()) + ": " + what;
}

}  // namespace

ContainerPool::ContainerPool(std::unique_ptr<Backend> backend, PoolOptions options)
    : backend_(std::move(backend)), options_(options) {
  sweeper_ = std::thread([this] { Sweep(); });
}

ContainerPool::~ContainerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  sweeper_wake_.notify_all();
  room_.notify_all();
  sweeper_.join();
  DropIdle();
  // Busy slots belong to invocations still running; the experiments join
  // their clients before destroying a platform, so there are none.
}

Status ContainerPool::Deploy(const ActionSpec& action) {
  WOW_RETURN_IF_ERROR(backend_->Prepare(action));
  auto body = backend_->InitBody(action);
  if (!body.ok()) return body.status();
  std::lock_guard<std::mutex> lock(mu_);
  // Invocations read their entry unlocked: an entry is never replaced.
  if (!actions_.try_emplace(action.name, Deployed{action, std::move(body).value()}).second) {
    return Status::InvalidArgument("action " + action.name + " is already deployed");
  }
  return Status::Ok();
}

ContainerPool::SlotPtr ContainerPool::Acquire(const Deployed& action, std::vector<SlotPtr>& evicted) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    auto mine =
        std::find_if(idle_.begin(), idle_.end(), [&](const SlotPtr& s) { return s->action == action.spec.name; });
    if (mine != idle_.end()) {
      SlotPtr slot = std::move(*mine);
      idle_.erase(mine);
      busy_.push_back(slot->container.get());
      return slot;
    }
    // Evict least recently used idle containers of other actions until the
    // new one fits.
    while (committed_mb_ + action.spec.memory_mb > options_.memory_budget_mb && !idle_.empty()) {
      SlotPtr victim = std::move(idle_.back());
      idle_.pop_back();
      const Deployed& owner = actions_.at(victim->action);
      committed_mb_ -= owner.spec.memory_mb;
      live_--;
      evicted.push_back(std::move(victim));
    }
    if (committed_mb_ + action.spec.memory_mb <= options_.memory_budget_mb || live_ == 0) {
      committed_mb_ += action.spec.memory_mb;
      live_++;
      return nullptr;
    }
    room_.wait(lock);
  }
}

Result<ContainerPool::SlotPtr> ContainerPool::StartSlot(const Deployed& action, Invocation& inv,
                                                        Clock::time_point arrival) {
  auto slot = std::make_unique<Slot>();
  slot->action = action.spec.name;
  auto container = backend_->Start(action.spec);
  if (!container.ok()) return container.status();
  slot->container = std::move(container).value();
  auto client = http::Client::Connect(slot->container->host(), slot->container->port(), options_.run_timeout);
  if (!client.ok()) return client.status();
  slot->client = std::make_unique<http::Client>(std::move(client).value());
  auto init_start = Clock::now();
  inv.wait_ms = MsBetween(arrival, init_start);
  auto reply = slot->client->Send(http::Verb::post, slot->container->prefix() + "/init", action.init_body);
  inv.init_ms = MsBetween(init_start, Clock::now());
  if (!reply.ok()) return Status::IoError("/init: " + reply.status().ToString());
  if (reply->result_int() != 200) return Status::IoError("/init: " + DescribeFailure(*reply));
  return slot;
}

Invocation ContainerPool::Invoke(const std::string& action, const std::string& params_json) {
  Invocation inv;
  auto arrival = Clock::now();
  const Deployed* deployed = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = actions_.find(action);
    if (it != actions_.end()) deployed = &it->second;  // never erased while the pool lives
  }
  if (deployed == nullptr) {
    inv.error = "action " + action + " was not deployed";
    return inv;
  }
  std::vector<SlotPtr> evicted;
  SlotPtr slot = Acquire(*deployed, evicted);
  evicted.clear();  // removes those containers, outside the lock
  if (!slot) {
    inv.cold = true;
    auto started = StartSlot(*deployed, inv, arrival);
    if (!started.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        committed_mb_ -= deployed->spec.memory_mb;
        live_--;
      }
      room_.notify_all();
      inv.error = "cold start: " + started.status().ToString();
      inv.latency_ms = MsBetween(arrival, Clock::now());
      return inv;
    }
    slot = std::move(started).value();
    std::lock_guard<std::mutex> lock(mu_);
    busy_.push_back(slot->container.get());
  } else {
    inv.wait_ms = MsBetween(arrival, Clock::now());
  }

  auto reply = slot->client->Send(http::Verb::post, slot->container->prefix() + "/run",
                                  RunBody(action, params_json, options_.run_timeout));
  inv.latency_ms = MsBetween(arrival, Clock::now());
  bool healthy = reply.ok();
  if (!reply.ok()) {
    inv.error = "/run: " + reply.status().ToString();
  } else if (reply->result_int() != 200) {
    inv.error = "/run: " + DescribeFailure(*reply);
  } else {
    inv.ok = true;
  }
  Release(std::move(slot), healthy, deployed->spec.memory_mb);
  return inv;
}

void ContainerPool::Release(SlotPtr slot, bool healthy, uint64_t memory_mb) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    busy_.erase(std::find(busy_.begin(), busy_.end(), slot->container.get()));
    if (healthy && !stopping_) {
      slot->last_used = Clock::now();
      idle_.push_front(std::move(slot));
    } else {
      committed_mb_ -= memory_mb;
      live_--;
    }
  }
  room_.notify_all();
  // A broken container (slot still set) is removed here, unlocked.
}

void ContainerPool::DropIdle() {
  std::list<SlotPtr> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : idle_) {
      committed_mb_ -= actions_.at(s->action).spec.memory_mb;
      live_--;
    }
    dropped.swap(idle_);
  }
  room_.notify_all();
  dropped.clear();
}

void ContainerPool::Sweep() {
  auto period = std::clamp(options_.keep_alive / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    sweeper_wake_.wait_for(lock, period);
    if (stopping_) break;
    auto now = Clock::now();
    std::vector<SlotPtr> expired;
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (now - (*it)->last_used >= options_.keep_alive) {
        committed_mb_ -= actions_.at((*it)->action).spec.memory_mb;
        live_--;
        expired.push_back(std::move(*it));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
    if (expired.empty()) continue;
    lock.unlock();
    room_.notify_all();
    expired.clear();
    lock.lock();
  }
}

Result<Footprint> ContainerPool::MeasureFootprint() {
  std::vector<const Container*> live;
  std::lock_guard<std::mutex> lock(mu_);  // containers stay alive while measured
  for (auto& s : idle_) live.push_back(s->container.get());
  live.insert(live.end(), busy_.begin(), busy_.end());
  return backend_->MeasureFootprint(live);
}

size_t ContainerPool::containers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_;
}

}  // namespace wow::bench::eval
