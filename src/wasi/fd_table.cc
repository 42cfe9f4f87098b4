#include "wasi/fd_table.h"

#include <unistd.h>

namespace wow::wasi {

void UniqueFd::Reset(int fd) {
  // close() may fail with EINTR, but on Linux the descriptor is released
  // anyway, so it must not be retried.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

bool FdTable::Insert(FdEntry entry, uint32_t* fd) {
  if (open_ >= max_fds_) return false;
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
  if (fd >= slots_.size()) slots_.resize(fd + 1);
  slots_[fd] = std::make_unique<FdEntry>(std::move(entry));
  ++open_;
  return true;
}

bool FdTable::Close(uint32_t fd) {
  if (!Get(fd)) return false;
  slots_[fd].reset();
  --open_;
  while (!slots_.empty() && !slots_.back()) slots_.pop_back();
  return true;
}

bool FdTable::Renumber(uint32_t from, uint32_t to) {
  if (!Get(from) || !Get(to)) return false;
  if (from == to) return true;
  slots_[to] = std::move(slots_[from]);
  --open_;
  while (!slots_.empty() && !slots_.back()) slots_.pop_back();
  return true;
}

}  // namespace wow::wasi
