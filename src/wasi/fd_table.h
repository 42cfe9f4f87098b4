#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace wow::wasi {

// Owns a host file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// What a guest descriptor refers to.
enum class FdKind : uint8_t {
  kStdin,      // the context's stdin bytes
  kStdout,     // captured into the context
  kStderr,     // captured into the context
  kDirectory,  // a host directory (preopened or opened beneath one)
  kFile,       // any other host file opened beneath a preopen
};

// One entry of a directory listing, kept for fd_readdir cookies.
struct DirEntryInfo {
  uint64_t ino = 0;
  uint8_t filetype = 0;  // preview1 Filetype
  std::string name;
};

// A guest file descriptor.
struct FdEntry {
  FdKind kind = FdKind::kFile;
  UniqueFd host;         // invalid for stdio
  uint8_t filetype = 0;  // preview1 Filetype, fixed at open
  uint16_t fdflags = 0;  // preview1 fdflags as last set
  uint64_t rights_base = 0;
  uint64_t rights_inheriting = 0;
  bool preopen = false;
  std::string preopen_name;  // the guest path of a preopened directory

  // fd_readdir snapshot: taken when the guest reads from cookie 0 (or from a
  // cookie the snapshot does not cover); cookie n means "entry n next".
  std::vector<DirEntryInfo> dir_snapshot;
  bool has_dir_snapshot = false;

  bool Has(uint64_t rights) const { return (rights_base & rights) == rights; }
};

// The guest's descriptor table: guest fd numbers to entries. New descriptors
// take the lowest free number, as POSIX does. Entries have stable addresses
// until closed. Not thread-safe.
class FdTable {
 public:
  // At most `max_fds` descriptors may be open at once (stdio included), and
  // all tables of the process together hold at most ProcessLimit().
  explicit FdTable(uint32_t max_fds) : max_fds_(max_fds) {}
  ~FdTable();
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;

  // The cap on guest descriptors of all activations together: half of
  // RLIMIT_NOFILE's soft limit as first read (at least 64), so guests cannot
  // take the descriptors the server needs. Thread-safe.
  static uint64_t ProcessLimit();
  static void SetProcessLimit(uint64_t limit);  // for tests and operators
  static uint64_t ProcessOpen();                // guest descriptors open now

  // The entry for `fd`, or null when it is not open.
  FdEntry* Get(uint32_t fd) { return fd < slots_.size() ? slots_[fd].get() : nullptr; }

  // Adds `entry` at the lowest free number; false when the table is full.
  bool Insert(FdEntry entry, uint32_t* fd);
  // Adds `entry` at exactly `fd` (used for stdio and preopens at start-up);
  // false when `fd` is taken or the table is full.
  bool InsertAt(uint32_t fd, FdEntry entry);
  // Closes `fd`; false when it was not open.
  bool Close(uint32_t fd);
  // Moves `from` over `to`, closing what `to` held. Both must be open.
  bool Renumber(uint32_t from, uint32_t to);

  uint32_t open_count() const { return open_; }
  uint32_t max_fds() const { return max_fds_; }

 private:
  std::vector<std::unique_ptr<FdEntry>> slots_;
  uint32_t open_ = 0;
  uint32_t max_fds_;
};

}  // namespace wow::wasi
