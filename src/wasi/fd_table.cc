#include "wasi/fd_table.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

namespace wow::wasi {
namespace {

std::atomic<uint64_t> g_process_open{0};
std::atomic<uint64_t> g_process_limit{0};  // 0: not computed yet

// Takes one of the process's guest descriptors; false when all are taken.
bool TakeProcessSlot() {
  uint64_t limit = FdTable::ProcessLimit();
  uint64_t open = g_process_open.load(std::memory_order_relaxed);
  do {
    if (open >= limit) return false;
  } while (!g_process_open.compare_exchange_weak(open, open + 1, std::memory_order_relaxed));
  return true;
}

void GiveProcessSlots(uint64_t n) { g_process_open.fetch_sub(n, std::memory_order_relaxed); }

}  // namespace

uint64_t FdTable::ProcessLimit() {
  uint64_t limit = g_process_limit.load(std::memory_order_relaxed);
  if (limit != 0) return limit;
  // Half of the process's descriptors: the rest stay for connections,
  // artifacts, the store and the engines.
  rlimit r{};
  uint64_t nofile = ::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != RLIM_INFINITY ? r.rlim_cur : 1024;
  limit = std::max<uint64_t>(64, nofile / 2);
  g_process_limit.store(limit, std::memory_order_relaxed);
  return limit;
}

void FdTable::SetProcessLimit(uint64_t limit) { g_process_limit.store(limit, std::memory_order_relaxed); }

uint64_t FdTable::ProcessOpen() { return g_process_open.load(std::memory_order_relaxed); }

FdTable::~FdTable() { GiveProcessSlots(open_); }

void UniqueFd::Reset(int fd) {
  // close() may fail with EINTR, but on Linux the descriptor is released
  // anyway, so it must not be retried.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

bool FdTable::Insert(FdEntry entry, uint32_t* fd) {
  if (open_ >= max_fds_ || !TakeProcessSlot()) return false;
  uint32_t slot = 0;
  while (slot < slots_.size() && slots_[slot]) ++slot;
  if (slot == slots_.size()) slots_.emplace_back();
  slots_[slot] = std::make_unique<FdEntry>(std::move(entry));
  ++open_;
  *fd = slot;
  return true;
}

bool FdTable::InsertAt(uint32_t fd, FdEntry entry) {
  if (open_ >= max_fds_ || fd >= max_fds_) return false;
  if (fd < slots_.size() && slots_[fd]) return false;
  if (!TakeProcessSlot()) return false;
  if (fd >= slots_.size()) slots_.resize(fd + 1);
  slots_[fd] = std::make_unique<FdEntry>(std::move(entry));
  ++open_;
  return true;
}

bool FdTable::Close(uint32_t fd) {
  if (!Get(fd)) return false;
  slots_[fd].reset();
  --open_;
  GiveProcessSlots(1);
  while (!slots_.empty() && !slots_.back()) slots_.pop_back();
  return true;
}

bool FdTable::Renumber(uint32_t from, uint32_t to) {
  if (!Get(from) || !Get(to)) return false;
  if (from == to) return true;
  slots_[to] = std::move(slots_[from]);
  --open_;
  GiveProcessSlots(1);
  while (!slots_.empty() && !slots_.back()) slots_.pop_back();
  return true;
}

}  // namespace wow::wasi
