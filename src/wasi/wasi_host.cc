#include "wasi/wasi_host.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "wasi/confine.h"
#include "wasi/fd_table.h"
#include "wasi/preview1.h"
#include "wasi/wasi_context.h"
#include "wasm/guest_memory.h"
#include "wasm/types.h"

namespace wow::wasi {
namespace {

using wasm::GuestMemory;
using wasm::HostAction;
using wasm::HostCall;
using wasm::HostFunction;
using wasm::HostFunctions;
using wasm::RawValue;
using wasm::ValType;

static_assert(std::endian::native == std::endian::little,
              "guest structs are copied with memcpy; Wasm is little-endian");

// Linux's largest transfer per read/write call (MAX_RW_COUNT); also keeps
// the u32 byte counts the guest receives from overflowing.
constexpr uint64_t kMaxIoBytes = 0x7ffff000;
// Longest path the host kernel accepts (PATH_MAX counts the NUL).
constexpr uint32_t kMaxPathBytes = PATH_MAX - 1;
constexpr uint64_t kNanosPerSecond = 1'000'000'000;
constexpr mode_t kNewFileMode = 0666;  // narrowed by the process umask
constexpr mode_t kNewDirMode = 0777;

// What a WASI function sees of one call.
struct Env {
  WasiContext& ctx;
  GuestMemory* mem;
  HostCall& call;
  // A function may ask the engine to unwind instead of returning its errno.
  HostAction action = HostAction::kContinue;

  // The one checked view of guest memory; nothing when out of bounds (or
  // when the module has no memory).
  std::optional<std::span<uint8_t>> Span(uint32_t ptr, uint64_t len) const {
    if (mem == nullptr || len > UINT32_MAX) return std::nullopt;
    return mem->Span(ptr, static_cast<uint32_t>(len));
  }
  template <typename T>
  bool Store(uint32_t ptr, T value) const {
    return mem != nullptr && mem->Write(ptr, value);
  }
  bool CanStore(uint32_t ptr, uint32_t len) const { return Span(ptr, len).has_value(); }
};

template <typename T>
void Put(uint8_t* buf, size_t offset, T value) {
  std::memcpy(buf + offset, &value, sizeof(T));
}

template <typename T>
T Get(const uint8_t* buf, size_t offset) {
  T value;
  std::memcpy(&value, buf + offset, sizeof(T));
  return value;
}

uint64_t TimespecNs(const timespec& ts) {
  if (ts.tv_sec < 0) return 0;
  return uint64_t(ts.tv_sec) * kNanosPerSecond + uint64_t(ts.tv_nsec);
}

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return TimespecNs(ts);
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

Errno LastError() { return ErrnoFromHost(errno); }

uint8_t FiletypeFromMode(mode_t mode) {
  if (S_ISREG(mode)) return kFiletypeRegularFile;
  if (S_ISDIR(mode)) return kFiletypeDirectory;
  if (S_ISLNK(mode)) return kFiletypeSymbolicLink;
  if (S_ISCHR(mode)) return kFiletypeCharacterDevice;
  if (S_ISBLK(mode)) return kFiletypeBlockDevice;
  // Whether a socket is a stream or datagram socket is not in its mode.
  if (S_ISSOCK(mode)) return kFiletypeSocketStream;
  return kFiletypeUnknown;
}

uint8_t FiletypeFromDirent(unsigned char d_type) {
  switch (d_type) {
    case DT_REG: return kFiletypeRegularFile;
    case DT_DIR: return kFiletypeDirectory;
    case DT_LNK: return kFiletypeSymbolicLink;
    case DT_CHR: return kFiletypeCharacterDevice;
    case DT_BLK: return kFiletypeBlockDevice;
    case DT_SOCK: return kFiletypeSocketStream;
    default: return kFiletypeUnknown;
  }
}

bool IsStdio(const FdEntry& entry) {
  return entry.kind == FdKind::kStdin || entry.kind == FdKind::kStdout || entry.kind == FdKind::kStderr;
}

Errno WriteFilestat(const Env& env, uint32_t ptr, const struct stat* st, uint8_t filetype) {
  uint8_t buf[layout::kFilestatSize] = {};
  if (st != nullptr) {
    Put<uint64_t>(buf, 0, st->st_dev);
    Put<uint64_t>(buf, 8, st->st_ino);
    Put<uint8_t>(buf, 16, FiletypeFromMode(st->st_mode));
    Put<uint64_t>(buf, 24, st->st_nlink);
    Put<uint64_t>(buf, 32, uint64_t(st->st_size));
    Put<uint64_t>(buf, 40, TimespecNs(st->st_atim));
    Put<uint64_t>(buf, 48, TimespecNs(st->st_mtim));
    Put<uint64_t>(buf, 56, TimespecNs(st->st_ctim));
  } else {
    Put<uint8_t>(buf, 16, filetype);
  }
  auto span = env.Span(ptr, sizeof(buf));
  if (!span) return Errno::kFault;
  std::memcpy(span->data(), buf, sizeof(buf));
  return Errno::kSuccess;
}

// Looks up `fd` and checks it holds `needed` rights.
Errno Lookup(Env& env, uint32_t fd, uint64_t needed, FdEntry** out) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) return Errno::kBadf;
  if (!entry->Has(needed)) return Errno::kNotCapable;
  *out = entry;
  return Errno::kSuccess;
}

// Looks up a directory descriptor for a path operation.
Errno LookupDir(Env& env, uint32_t fd, uint64_t needed, FdEntry** out) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) return Errno::kBadf;
  if (entry->kind != FdKind::kDirectory) return Errno::kNotDir;
  if (!entry->Has(needed)) return Errno::kNotCapable;
  *out = entry;
  return Errno::kSuccess;
}

// Copies a guest path out of memory and rejects what must not reach the
// kernel (see CheckGuestPath).
Errno ReadPath(const Env& env, uint32_t ptr, uint32_t len, std::string* out) {
  if (len > kMaxPathBytes) return Errno::kNameTooLong;
  auto span = env.Span(ptr, len);
  if (!span) return Errno::kFault;
  out->assign(reinterpret_cast<const char*>(span->data()), span->size());
  return CheckGuestPath(*out);
}

// Turns a guest iovec array into host iovecs pointing into guest memory.
// Uses at most IOV_MAX entries and kMaxIoBytes bytes: the guest then sees a
// short transfer, which POSIX allows.
Errno GatherIovecs(const Env& env, uint32_t iovs, uint32_t iovs_len, std::vector<iovec>* out) {
  auto array = env.Span(iovs, uint64_t{iovs_len} * layout::kIovecSize);
  if (!array) return Errno::kFault;
  uint32_t count = std::min<uint32_t>(iovs_len, IOV_MAX);
  out->reserve(count);
  uint64_t total = 0;
  for (uint32_t i = 0; i < count && total < kMaxIoBytes; ++i) {
    uint32_t buf = Get<uint32_t>(array->data(), i * layout::kIovecSize);
    uint32_t len = Get<uint32_t>(array->data(), i * layout::kIovecSize + 4);
    auto span = env.Span(buf, len);
    if (!span) return Errno::kFault;
    uint64_t take = std::min<uint64_t>(len, kMaxIoBytes - total);
    out->push_back(iovec{span->data(), size_t(take)});
    total += take;
  }
  return Errno::kSuccess;
}

size_t TotalLength(const std::vector<iovec>& iov) {
  size_t total = 0;
  for (const iovec& v : iov) total += v.iov_len;
  return total;
}

// Converts preview1 timestamps and fstflags into utimensat's pair.
Errno BuildTimes(uint64_t atim, uint64_t mtim, uint32_t fst_flags, timespec times[2]) {
  constexpr uint32_t kKnown = kFstflagAtim | kFstflagAtimNow | kFstflagMtim | kFstflagMtimNow;
  if (fst_flags & ~kKnown) return Errno::kInval;
  if ((fst_flags & kFstflagAtim) && (fst_flags & kFstflagAtimNow)) return Errno::kInval;
  if ((fst_flags & kFstflagMtim) && (fst_flags & kFstflagMtimNow)) return Errno::kInval;
  auto convert = [](uint64_t ns, bool set, bool now, timespec* ts) {
    ts->tv_sec = 0;
    if (now) {
      ts->tv_nsec = UTIME_NOW;
    } else if (set) {
      ts->tv_sec = time_t(ns / kNanosPerSecond);
      ts->tv_nsec = long(ns % kNanosPerSecond);
    } else {
      ts->tv_nsec = UTIME_OMIT;
    }
  };
  convert(atim, fst_flags & kFstflagAtim, fst_flags & kFstflagAtimNow, &times[0]);
  convert(mtim, fst_flags & kFstflagMtim, fst_flags & kFstflagMtimNow, &times[1]);
  return Errno::kSuccess;
}

// ---------------------------------------------------------------------------
// Arguments and environment.

Errno StringListSizes(const Env& env, const std::vector<std::string>& list, uint32_t count_ptr, uint32_t size_ptr) {
  uint64_t size = 0;
  for (const std::string& s : list) size += s.size() + 1;
  if (list.size() > UINT32_MAX || size > UINT32_MAX) return Errno::kOverflow;
  if (!env.CanStore(count_ptr, 4) || !env.CanStore(size_ptr, 4)) return Errno::kFault;
  env.Store<uint32_t>(count_ptr, uint32_t(list.size()));
  env.Store<uint32_t>(size_ptr, uint32_t(size));
  return Errno::kSuccess;
}

// Writes NUL-terminated strings to `buf` and pointers to them to `ptrs`.
Errno StringListGet(const Env& env, const std::vector<std::string>& list, uint32_t ptrs, uint32_t buf) {
  uint64_t size = 0;
  for (const std::string& s : list) size += s.size() + 1;
  auto ptr_span = env.Span(ptrs, uint64_t{list.size()} * 4);
  auto buf_span = env.Span(buf, size);
  if (!ptr_span || !buf_span) return Errno::kFault;
  uint32_t offset = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    Put<uint32_t>(ptr_span->data(), i * 4, buf + offset);
    std::memcpy(buf_span->data() + offset, list[i].data(), list[i].size());
    buf_span->data()[offset + list[i].size()] = 0;
    offset += uint32_t(list[i].size() + 1);
  }
  return Errno::kSuccess;
}

Errno ArgsSizesGet(Env& env, uint32_t argc_ptr, uint32_t buf_size_ptr) {
  return StringListSizes(env, env.ctx.args(), argc_ptr, buf_size_ptr);
}
Errno ArgsGet(Env& env, uint32_t argv, uint32_t argv_buf) { return StringListGet(env, env.ctx.args(), argv, argv_buf); }
Errno EnvironSizesGet(Env& env, uint32_t count_ptr, uint32_t buf_size_ptr) {
  return StringListSizes(env, env.ctx.env(), count_ptr, buf_size_ptr);
}
Errno EnvironGet(Env& env, uint32_t environ, uint32_t environ_buf) {
  return StringListGet(env, env.ctx.env(), environ, environ_buf);
}

// ---------------------------------------------------------------------------
// Clocks, randomness, scheduling.

Errno ClockResGet(Env& env, uint32_t id, uint32_t res_ptr) {
  clockid_t host;
  switch (id) {
    case kClockRealtime: host = CLOCK_REALTIME; break;
    case kClockMonotonic: host = CLOCK_MONOTONIC; break;
    case kClockProcessCputime:
    case kClockThreadCputime: host = CLOCK_THREAD_CPUTIME_ID; break;
    default: return Errno::kInval;
  }
  timespec ts{};
  if (clock_getres(host, &ts) != 0) return LastError();
  return env.Store<uint64_t>(res_ptr, TimespecNs(ts)) ? Errno::kSuccess : Errno::kFault;
}

Errno ClockTimeGet(Env& env, uint32_t id, uint64_t /*precision*/, uint32_t time_ptr) {
  uint64_t now;
  switch (id) {
    case kClockRealtime:
    case kClockMonotonic: {
      timespec ts{};
      if (clock_gettime(id == kClockRealtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts) != 0) {
        return LastError();
      }
      now = TimespecNs(ts);
      break;
    }
    case kClockProcessCputime:
    case kClockThreadCputime: now = env.ctx.CpuTimeNs(); break;
    default: return Errno::kInval;
  }
  return env.Store<uint64_t>(time_ptr, now) ? Errno::kSuccess : Errno::kFault;
}

Errno RandomGet(Env& env, uint32_t buf, uint32_t len) {
  auto span = env.Span(buf, len);
  if (!span) return Errno::kFault;
  size_t done = 0;
  while (done < span->size()) {
    ssize_t n = getrandom(span->data() + done, span->size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return LastError();
    }
    done += size_t(n);
  }
  return Errno::kSuccess;
}

Errno SchedYield(Env&) {
  sched_yield();
  return Errno::kSuccess;
}

Errno ProcRaise(Env&, uint32_t /*signal*/) { return Errno::kNoSys; }

// ---------------------------------------------------------------------------
// Reading and writing.

Errno FdWrite(Env& env, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nwritten_ptr) {
  FdEntry* entry;
  if (Errno e = Lookup(env, fd, rights::kFdWrite, &entry); e != Errno::kSuccess) return e;
  if (!env.CanStore(nwritten_ptr, 4)) return Errno::kFault;
  std::vector<iovec> iov;
  if (Errno e = GatherIovecs(env, iovs, iovs_len, &iov); e != Errno::kSuccess) return e;
  size_t written = 0;
  if (entry->kind == FdKind::kStdout || entry->kind == FdKind::kStderr) {
    auto stream = entry->kind == FdKind::kStdout ? OutputStream::kStdout : OutputStream::kStderr;
    auto now = WasiContext::WallNow();  // one write, one time
    for (const iovec& v : iov) {
      env.ctx.WriteOutput(stream, {static_cast<const uint8_t*>(v.iov_base), v.iov_len}, now);
    }
    written = TotalLength(iov);
  } else {
    ssize_t n;
    do {
      n = ::writev(entry->host.get(), iov.data(), int(iov.size()));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return LastError();
    written = size_t(n);
  }
  env.Store<uint32_t>(nwritten_ptr, uint32_t(written));
  return Errno::kSuccess;
}

Errno FdRead(Env& env, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint32_t nread_ptr) {
  FdEntry* entry;
  if (Errno e = Lookup(env, fd, rights::kFdRead, &entry); e != Errno::kSuccess) return e;
  if (!env.CanStore(nread_ptr, 4)) return Errno::kFault;
  std::vector<iovec> iov;
  if (Errno e = GatherIovecs(env, iovs, iovs_len, &iov); e != Errno::kSuccess) return e;
  size_t read = 0;
  if (entry->kind == FdKind::kStdin) {
    for (const iovec& v : iov) {
      size_t n = env.ctx.ReadStdin({static_cast<uint8_t*>(v.iov_base), v.iov_len});
      read += n;
      if (n < v.iov_len) break;
    }
  } else {
    ssize_t n;
    do {
      n = ::readv(entry->host.get(), iov.data(), int(iov.size()));
    } while (n < 0 && errno == EINTR);
    if (n < 0) return LastError();
    read = size_t(n);
  }
  env.Store<uint32_t>(nread_ptr, uint32_t(read));
  return Errno::kSuccess;
}

Errno FdPread(Env& env, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint64_t offset, uint32_t nread_ptr) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) return Errno::kBadf;
  if (IsStdio(*entry)) return Errno::kSpipe;
  if (!entry->Has(rights::kFdRead | rights::kFdSeek)) return Errno::kNotCapable;
  if (offset > uint64_t(std::numeric_limits<off_t>::max())) return Errno::kInval;
  if (!env.CanStore(nread_ptr, 4)) return Errno::kFault;
  std::vector<iovec> iov;
  if (Errno e = GatherIovecs(env, iovs, iovs_len, &iov); e != Errno::kSuccess) return e;
  ssize_t n;
  do {
    n = ::preadv(entry->host.get(), iov.data(), int(iov.size()), off_t(offset));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return LastError();
  env.Store<uint32_t>(nread_ptr, uint32_t(n));
  return Errno::kSuccess;
}

Errno FdPwrite(Env& env, uint32_t fd, uint32_t iovs, uint32_t iovs_len, uint64_t offset, uint32_t nwritten_ptr) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) return Errno::kBadf;
  if (IsStdio(*entry)) return Errno::kSpipe;
  if (!entry->Has(rights::kFdWrite | rights::kFdSeek)) return Errno::kNotCapable;
  if (offset > uint64_t(std::numeric_limits<off_t>::max())) return Errno::kInval;
  if (!env.CanStore(nwritten_ptr, 4)) return Errno::kFault;
  std::vector<iovec> iov;
  if (Errno e = GatherIovecs(env, iovs, iovs_len, &iov); e != Errno::kSuccess) return e;
  ssize_t n;
  do {
    n = ::pwritev(entry->host.get(), iov.data(), int(iov.size()), off_t(offset));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return LastError();
  env.Store<uint32_t>(nwritten_ptr, uint32_t(n));
  return Errno::kSuccess;
}

Errno FdSeek(Env& env, uint32_t fd, uint64_t offset, uint32_t whence, uint32_t newoffset_ptr) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) return Errno::kBadf;
  if (IsStdio(*entry)) return Errno::kSpipe;
  bool tell_only = offset == 0 && whence == kWhenceCur;
  if (!entry->Has(rights::kFdSeek) && !(tell_only && entry->Has(rights::kFdTell))) {
    return Errno::kNotCapable;
  }
  int host_whence;
  switch (whence) {
    case kWhenceSet: host_whence = SEEK_SET; break;
    case kWhenceCur: host_whence = SEEK_CUR; break;
    case kWhenceEnd: host_whence = SEEK_END; break;
    default: return Errno::kInval;
  }
  if (!env.CanStore(newoffset_ptr, 8)) return Errno::kFault;
  // The delta is a signed 64-bit value carried in the raw slot.
  off_t pos = ::lseek(entry->host.get(), off_t(int64_t(offset)), host_whence);
  if (pos < 0) return LastError();
  env.Store<uint64_t>(newoffset_ptr, uint64_t(pos));
  return Errno::kSuccess;
}

Errno FdTell(Env& env, uint32_t fd, uint32_t offset_ptr) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) return Errno::kBadf;
  if (IsStdio(*entry)) return Errno::kSpipe;
  if (!entry->Has(rights::kFdTell) && !entry->Has(rights::kFdSeek)) return Errno::kNotCapable;
  if (!env.CanStore(offset_ptr, 8)) return Errno::kFault;
  off_t pos = ::lseek(entry->host.get(), 0, SEEK_CUR);
  if (pos < 0) return LastError();
  env.Store<uint64_t>(offset_ptr, uint64_t(pos));
  return Errno::kSuccess;
}

// ---------------------------------------------------------------------------
// Descriptor attributes and lifetime.

Errno FdFdstatGet(Env& env, uint32_t fd, uint32_t buf_ptr) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) return Errno::kBadf;
  uint8_t buf[layout::kFdstatSize] = {};
  Put<uint8_t>(buf, 0, entry->filetype);
  Put<uint16_t>(buf, 2, entry->fdflags);
  Put<uint64_t>(buf, 8, entry->rights_base);
  Put<uint64_t>(buf, 16, entry->rights_inheriting);
  auto span = env.Span(buf_ptr, sizeof(buf));
  if (!span) return Errno::kFault;
  std::memcpy(span->data(), buf, sizeof(buf));
  return Errno::kSuccess;
}

Errno FdFdstatSetFlags(Env& env, uint32_t fd, uint32_t flags) {
  FdEntry* entry;
  if (Errno e = Lookup(env, fd, rights::kFdFdstatSetFlags, &entry); e != Errno::kSuccess) return e;
  if (flags & ~uint32_t{kFdflagsAll}) return Errno::kInval;
  if (!IsStdio(*entry)) {
    // Linux's F_SETFL cannot change the synchronisation flags.
    constexpr uint16_t kSyncFlags = kFdflagDsync | kFdflagRsync | kFdflagSync;
    if ((flags ^ entry->fdflags) & kSyncFlags) return Errno::kNotSup;
    int host = ::fcntl(entry->host.get(), F_GETFL);
    if (host < 0) return LastError();
    host &= ~(O_APPEND | O_NONBLOCK);
    if (flags & kFdflagAppend) host |= O_APPEND;
    if (flags & kFdflagNonblock) host |= O_NONBLOCK;
    if (::fcntl(entry->host.get(), F_SETFL, host) != 0) return LastError();
  }
  // On stdio the flags are only recorded: captured streams never block and
  // always append.
  entry->fdflags = uint16_t(flags);
  return Errno::kSuccess;
}

Errno FdFdstatSetRights(Env& env, uint32_t fd, uint64_t base, uint64_t inheriting) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) return Errno::kBadf;
  // Rights can only be dropped.
  if ((base & ~entry->rights_base) || (inheriting & ~entry->rights_inheriting)) {
    return Errno::kNotCapable;
  }
  entry->rights_base = base;
  entry->rights_inheriting = inheriting;
  return Errno::kSuccess;
}

Errno FdFilestatGet(Env& env, uint32_t fd, uint32_t buf_ptr) {
  FdEntry* entry;
  if (Errno e = Lookup(env, fd, rights::kFdFilestatGet, &entry); e != Errno::kSuccess) return e;
  if (IsStdio(*entry)) return WriteFilestat(env, buf_ptr, nullptr, entry->filetype);
  if (!env.CanStore(buf_ptr, layout::kFilestatSize)) return Errno::kFault;
  struct stat st {};
  if (::fstat(entry->host.get(), &st) != 0) return LastError();
  return WriteFilestat(env, buf_ptr, &st, 0);
}

Errno FdFilestatSetSize(Env& env, uint32_t fd, uint64_t size) {
  FdEntry* entry;
  if (Errno e = Lookup(env, fd, rights::kFdFilestatSetSize, &entry); e != Errno::kSuccess) return e;
  if (size > uint64_t(std::numeric_limits<off_t>::max())) return Errno::kInval;
  if (::ftruncate(entry->host.get(), off_t(size)) != 0) return LastError();
  return Errno::kSuccess;
}

Errno FdFilestatSetTimes(Env& env, uint32_t fd, uint64_t atim, uint64_t mtim, uint32_t fst_flags) {
  FdEntry* entry;
  if (Errno e = Lookup(env, fd, rights::kFdFilestatSetTimes, &entry); e != Errno::kSuccess) {
    return e;
  }
  timespec times[2];
  if (Errno e = BuildTimes(atim, mtim, fst_flags, times); e != Errno::kSuccess) return e;
  if (::futimens(entry->host.get(), times) != 0) return LastError();
  return Errno::kSuccess;
}

Errno FdSyncImpl(Env& env, uint32_t fd, uint64_t right, bool data_only) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) return Errno::kBadf;
  if (IsStdio(*entry)) return Errno::kInval;  // as for a pipe
  if (!entry->Has(right)) return Errno::kNotCapable;
  int rc = data_only ? ::fdatasync(entry->host.get()) : ::fsync(entry->host.get());
  return rc == 0 ? Errno::kSuccess : LastError();
}

Errno FdSync(Env& env, uint32_t fd) { return FdSyncImpl(env, fd, rights::kFdSync, false); }
Errno FdDatasync(Env& env, uint32_t fd) { return FdSyncImpl(env, fd, rights::kFdDatasync, true); }

Errno FdAdvise(Env& env, uint32_t fd, uint64_t offset, uint64_t len, uint32_t advice) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) return Errno::kBadf;
  if (IsStdio(*entry)) return Errno::kSpipe;
  if (!entry->Has(rights::kFdAdvise)) return Errno::kNotCapable;
  constexpr uint64_t kMaxOff = uint64_t(std::numeric_limits<off_t>::max());
  if (advice > kAdviceMax || offset > kMaxOff || len > kMaxOff) return Errno::kInval;
  // preview1 orders sequential before random; Linux the other way round.
  static constexpr int kHostAdvice[] = {POSIX_FADV_NORMAL,   POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
                                        POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED,   POSIX_FADV_NOREUSE};
  int rc = ::posix_fadvise(entry->host.get(), off_t(offset), off_t(len), kHostAdvice[advice]);
  return ErrnoFromHost(rc);
}

Errno FdAllocate(Env& env, uint32_t fd, uint64_t offset, uint64_t len) {
  FdEntry* entry;
  if (Errno e = Lookup(env, fd, rights::kFdAllocate, &entry); e != Errno::kSuccess) return e;
  constexpr uint64_t kMaxOff = uint64_t(std::numeric_limits<off_t>::max());
  if (offset > kMaxOff || len > kMaxOff - offset) return Errno::kFbig;
  int rc = ::posix_fallocate(entry->host.get(), off_t(offset), off_t(len));
  return ErrnoFromHost(rc);
}

Errno FdClose(Env& env, uint32_t fd) { return env.ctx.fds().Close(fd) ? Errno::kSuccess : Errno::kBadf; }

Errno FdRenumber(Env& env, uint32_t from, uint32_t to) {
  return env.ctx.fds().Renumber(from, to) ? Errno::kSuccess : Errno::kBadf;
}

// ---------------------------------------------------------------------------
// Preopens and directories.

Errno FdPrestatGet(Env& env, uint32_t fd, uint32_t buf_ptr) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  // wasi-libc scans fds from 3 until EBADF, so anything that is not a
  // preopen must say EBADF.
  if (entry == nullptr || !entry->preopen) return Errno::kBadf;
  uint8_t buf[layout::kPrestatSize] = {};
  Put<uint8_t>(buf, 0, kPreopentypeDir);
  Put<uint32_t>(buf, 4, uint32_t(entry->preopen_name.size()));
  auto span = env.Span(buf_ptr, sizeof(buf));
  if (!span) return Errno::kFault;
  std::memcpy(span->data(), buf, sizeof(buf));
  return Errno::kSuccess;
}

Errno FdPrestatDirName(Env& env, uint32_t fd, uint32_t path_ptr, uint32_t path_len) {
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr || !entry->preopen) return Errno::kBadf;
  const std::string& name = entry->preopen_name;
  if (path_len < name.size()) return Errno::kNameTooLong;
  if (!env.mem || !env.mem->WriteBytes(path_ptr, name)) return Errno::kFault;
  return Errno::kSuccess;
}

// Reads every entry of a directory ("." and ".." included), as the snapshot
// fd_readdir cookies index into.
Errno ReadDirectory(int fd, std::vector<DirEntryInfo>* out) {
  out->clear();
  if (::lseek(fd, 0, SEEK_SET) < 0) return LastError();
  alignas(8) char buf[16384];
  for (;;) {
    ssize_t n = ::getdents64(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return LastError();
    }
    if (n == 0) break;
    for (ssize_t pos = 0; pos < n;) {
      auto* d = reinterpret_cast<const dirent64*>(buf + pos);
      DirEntryInfo info;
      info.ino = d->d_ino;
      info.name = d->d_name;
      info.filetype = FiletypeFromDirent(d->d_type);
      if (d->d_type == DT_UNKNOWN) {
        struct stat st {};
        if (::fstatat(fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
          info.filetype = FiletypeFromMode(st.st_mode);
        }
      }
      out->push_back(std::move(info));
      pos += d->d_reclen;
    }
  }
  return Errno::kSuccess;
}

Errno FdReaddir(Env& env, uint32_t fd, uint32_t buf_ptr, uint32_t buf_len, uint64_t cookie, uint32_t bufused_ptr) {
  FdEntry* entry;
  if (Errno e = Lookup(env, fd, rights::kFdReaddir, &entry); e != Errno::kSuccess) return e;
  if (entry->kind != FdKind::kDirectory) return Errno::kNotDir;
  auto out = env.Span(buf_ptr, buf_len);
  if (!out || !env.CanStore(bufused_ptr, 4)) return Errno::kFault;

  // Cookie 0 starts over and sees the directory as it is now; later cookies
  // continue the same snapshot so entries are neither repeated nor skipped.
  if (cookie == 0 || !entry->has_dir_snapshot) {
    entry->has_dir_snapshot = false;
    if (Errno e = ReadDirectory(entry->host.get(), &entry->dir_snapshot); e != Errno::kSuccess) {
      return e;
    }
    entry->has_dir_snapshot = true;
  }
  const std::vector<DirEntryInfo>& entries = entry->dir_snapshot;
  // Entries that do not fit whole are cut off at the end of the buffer, as
  // preview1 specifies: the guest sees bufused == buf_len and retries with a
  // larger buffer from the last complete entry's cookie.
  size_t used = 0;
  for (uint64_t i = cookie; i < entries.size() && used < buf_len; ++i) {
    const DirEntryInfo& d = entries[i];
    uint8_t header[layout::kDirentSize] = {};
    Put<uint64_t>(header, 0, i + 1);
    Put<uint64_t>(header, 8, d.ino);
    Put<uint32_t>(header, 16, uint32_t(d.name.size()));
    Put<uint8_t>(header, 20, d.filetype);
    size_t n = std::min<size_t>(sizeof(header), buf_len - used);
    std::memcpy(out->data() + used, header, n);
    used += n;
    n = std::min<size_t>(d.name.size(), buf_len - used);
    std::memcpy(out->data() + used, d.name.data(), n);
    used += n;
  }
  env.Store<uint32_t>(bufused_ptr, uint32_t(used));
  return Errno::kSuccess;
}

// ---------------------------------------------------------------------------
// Paths. Every lookup goes through confine.h.

Errno PathOpen(Env& env, uint32_t dirfd, uint32_t dirflags, uint32_t path_ptr, uint32_t path_len, uint32_t oflags,
               uint64_t rights_base, uint64_t rights_inheriting, uint32_t fdflags, uint32_t opened_fd_ptr) {
  if (oflags & ~uint32_t{kOflagsAll}) return Errno::kInval;
  if (fdflags & ~uint32_t{kFdflagsAll}) return Errno::kInval;
  uint64_t needed = rights::kPathOpen;
  if (oflags & kOflagCreat) needed |= rights::kPathCreateFile;
  if (oflags & kOflagTrunc) needed |= rights::kPathFilestatSetSize;
  FdEntry* dir;
  if (Errno e = LookupDir(env, dirfd, needed, &dir); e != Errno::kSuccess) return e;
  std::string path;
  if (Errno e = ReadPath(env, path_ptr, path_len, &path); e != Errno::kSuccess) return e;
  if (!env.CanStore(opened_fd_ptr, 4)) return Errno::kFault;

  // Guests (wasi-libc, Rust std) ask for broad rights; grant what the
  // directory lets descendants have, and refuse only access it withholds.
  constexpr uint64_t kReadRights = rights::kFdRead | rights::kFdReaddir;
  constexpr uint64_t kWriteRights =
      rights::kFdWrite | rights::kFdDatasync | rights::kFdAllocate | rights::kFdFilestatSetSize;
  bool read = rights_base & kReadRights;
  bool write = rights_base & kWriteRights;
  if (write && !(dir->rights_inheriting & rights::kFdWrite)) return Errno::kNotCapable;
  if ((fdflags & kFdflagAppend) && !(dir->rights_inheriting & rights::kFdWrite)) {
    return Errno::kNotCapable;
  }
  FdTable& fds = env.ctx.fds();
  if (fds.open_count() >= fds.max_fds()) return Errno::kMfile;

  int flags = write ? (read ? O_RDWR : O_WRONLY) : O_RDONLY;
  if (oflags & kOflagCreat) flags |= O_CREAT;
  if (oflags & kOflagExcl) flags |= O_EXCL;
  if (oflags & kOflagTrunc) flags |= O_TRUNC;
  if (oflags & kOflagDirectory) flags |= O_DIRECTORY;
  if (fdflags & kFdflagAppend) flags |= O_APPEND;
  // Always open non-blocking: opening a FIFO someone placed in a preopened
  // directory would otherwise park the worker thread until a peer appears.
  flags |= O_NONBLOCK;
  if (fdflags & kFdflagDsync) flags |= O_DSYNC;
  if (fdflags & kFdflagSync) flags |= O_SYNC;
  if (fdflags & kFdflagRsync) flags |= O_RSYNC;
  if (!(dirflags & kLookupSymlinkFollow)) flags |= O_NOFOLLOW;

  UniqueFd host;
  if (Errno e = OpenBeneath(dir->host.get(), path, flags, kNewFileMode, &host); e != Errno::kSuccess) {
    return e;
  }
  struct stat st {};
  if (::fstat(host.get(), &st) != 0) return LastError();
  if (!(fdflags & kFdflagNonblock) && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    // O_NONBLOCK means nothing for files and directories; elsewhere restore
    // the blocking mode the guest asked for.
    int current = ::fcntl(host.get(), F_GETFL);
    if (current < 0 || ::fcntl(host.get(), F_SETFL, current & ~O_NONBLOCK) != 0) {
      return LastError();
    }
  }

  FdEntry entry;
  entry.filetype = FiletypeFromMode(st.st_mode);
  bool is_dir = S_ISDIR(st.st_mode);
  entry.kind = is_dir ? FdKind::kDirectory : FdKind::kFile;
  entry.rights_base = rights_base & dir->rights_inheriting & (is_dir ? rights::kDirectory : rights::kRegularFile);
  entry.rights_inheriting = rights_inheriting & dir->rights_inheriting;
  entry.fdflags = uint16_t(fdflags);
  entry.host = std::move(host);
  uint32_t fd;
  if (!fds.Insert(std::move(entry), &fd)) return Errno::kMfile;
  env.Store<uint32_t>(opened_fd_ptr, fd);
  return Errno::kSuccess;
}

Errno PathFilestatGet(Env& env, uint32_t dirfd, uint32_t flags, uint32_t path_ptr, uint32_t path_len,
                      uint32_t buf_ptr) {
  FdEntry* dir;
  if (Errno e = LookupDir(env, dirfd, rights::kPathFilestatGet, &dir); e != Errno::kSuccess) {
    return e;
  }
  std::string path;
  if (Errno e = ReadPath(env, path_ptr, path_len, &path); e != Errno::kSuccess) return e;
  if (!env.CanStore(buf_ptr, layout::kFilestatSize)) return Errno::kFault;
  int open_flags = O_PATH | ((flags & kLookupSymlinkFollow) ? 0 : O_NOFOLLOW);
  UniqueFd target;
  if (Errno e = OpenBeneath(dir->host.get(), path, open_flags, 0, &target); e != Errno::kSuccess) {
    return e;
  }
  struct stat st {};
  if (::fstat(target.get(), &st) != 0) return LastError();
  return WriteFilestat(env, buf_ptr, &st, 0);
}

Errno PathFilestatSetTimes(Env& env, uint32_t dirfd, uint32_t flags, uint32_t path_ptr, uint32_t path_len,
                           uint64_t atim, uint64_t mtim, uint32_t fst_flags) {
  FdEntry* dir;
  if (Errno e = LookupDir(env, dirfd, rights::kPathFilestatSetTimes, &dir); e != Errno::kSuccess) {
    return e;
  }
  std::string path;
  if (Errno e = ReadPath(env, path_ptr, path_len, &path); e != Errno::kSuccess) return e;
  timespec times[2];
  if (Errno e = BuildTimes(atim, mtim, fst_flags, times); e != Errno::kSuccess) return e;
  // Resolve (and follow, if asked) beneath the directory first, then act on
  // the resolved inode: utimensat on a path would follow a final symlink
  // without confinement.
  int open_flags = O_PATH | ((flags & kLookupSymlinkFollow) ? 0 : O_NOFOLLOW);
  UniqueFd target;
  if (Errno e = OpenBeneath(dir->host.get(), path, open_flags, 0, &target); e != Errno::kSuccess) {
    return e;
  }
  int at_flags = AT_EMPTY_PATH | ((flags & kLookupSymlinkFollow) ? 0 : AT_SYMLINK_NOFOLLOW);
  if (::utimensat(target.get(), "", times, at_flags) != 0) return LastError();
  return Errno::kSuccess;
}

// Opens the parent of a path for a *at call and classifies its last
// component without following it.
Errno OpenParentOf(Env& env, FdEntry* dir, uint32_t path_ptr, uint32_t path_len, ParentAndName* out) {
  std::string path;
  if (Errno e = ReadPath(env, path_ptr, path_len, &path); e != Errno::kSuccess) return e;
  return OpenParent(dir->host.get(), path, out);
}

// lstat of a last component; nullopt with `err` set when it does not exist.
std::optional<struct stat> StatName(const ParentAndName& p, Errno* err) {
  struct stat st {};
  if (::fstatat(p.parent_fd, p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    *err = LastError();
    return std::nullopt;
  }
  return st;
}

// For calls that create `p`: a trailing slash may only name an existing
// directory, which then already exists.
Errno CreateTargetTrailingSlash(const ParentAndName& p) {
  Errno err = Errno::kSuccess;
  return StatName(p, &err) ? Errno::kExist : (err == Errno::kNoEnt ? Errno::kNoEnt : err);
}

Errno PathCreateDirectory(Env& env, uint32_t dirfd, uint32_t path_ptr, uint32_t path_len) {
  FdEntry* dir;
  if (Errno e = LookupDir(env, dirfd, rights::kPathCreateDirectory, &dir); e != Errno::kSuccess) {
    return e;
  }
  ParentAndName p;
  if (Errno e = OpenParentOf(env, dir, path_ptr, path_len, &p); e != Errno::kSuccess) return e;
  if (p.IsDotOrDotDot()) return Errno::kExist;
  if (::mkdirat(p.parent_fd, p.name.c_str(), kNewDirMode) != 0) return LastError();
  return Errno::kSuccess;
}

Errno PathRemoveDirectory(Env& env, uint32_t dirfd, uint32_t path_ptr, uint32_t path_len) {
  FdEntry* dir;
  if (Errno e = LookupDir(env, dirfd, rights::kPathRemoveDirectory, &dir); e != Errno::kSuccess) {
    return e;
  }
  ParentAndName p;
  if (Errno e = OpenParentOf(env, dir, path_ptr, path_len, &p); e != Errno::kSuccess) return e;
  if (p.name == ".") return Errno::kInval;
  if (p.name == "..") return Errno::kNotEmpty;
  if (::unlinkat(p.parent_fd, p.name.c_str(), AT_REMOVEDIR) != 0) return LastError();
  return Errno::kSuccess;
}

Errno PathUnlinkFile(Env& env, uint32_t dirfd, uint32_t path_ptr, uint32_t path_len) {
  FdEntry* dir;
  if (Errno e = LookupDir(env, dirfd, rights::kPathUnlinkFile, &dir); e != Errno::kSuccess) {
    return e;
  }
  ParentAndName p;
  if (Errno e = OpenParentOf(env, dir, path_ptr, path_len, &p); e != Errno::kSuccess) return e;
  if (p.IsDotOrDotDot()) return Errno::kIsDir;
  if (p.trailing_slash) {
    Errno err = Errno::kSuccess;
    auto st = StatName(p, &err);
    if (!st) return err;
    return S_ISDIR(st->st_mode) ? Errno::kIsDir : Errno::kNotDir;
  }
  if (::unlinkat(p.parent_fd, p.name.c_str(), 0) != 0) return LastError();
  return Errno::kSuccess;
}

Errno PathRename(Env& env, uint32_t old_dirfd, uint32_t old_ptr, uint32_t old_len, uint32_t new_dirfd, uint32_t new_ptr,
                 uint32_t new_len) {
  FdEntry* old_dir;
  FdEntry* new_dir;
  if (Errno e = LookupDir(env, old_dirfd, rights::kPathRenameSource, &old_dir); e != Errno::kSuccess) {
    return e;
  }
  if (Errno e = LookupDir(env, new_dirfd, rights::kPathRenameTarget, &new_dir); e != Errno::kSuccess) {
    return e;
  }
  ParentAndName from;
  ParentAndName to;
  if (Errno e = OpenParentOf(env, old_dir, old_ptr, old_len, &from); e != Errno::kSuccess) return e;
  if (Errno e = OpenParentOf(env, new_dir, new_ptr, new_len, &to); e != Errno::kSuccess) return e;
  if (from.IsDotOrDotDot() || to.IsDotOrDotDot()) return Errno::kBusy;
  if (from.trailing_slash || to.trailing_slash) {
    Errno err = Errno::kSuccess;
    auto st = StatName(from, &err);
    if (!st) return err;
    if (!S_ISDIR(st->st_mode)) return Errno::kNotDir;
  }
  if (::renameat(from.parent_fd, from.name.c_str(), to.parent_fd, to.name.c_str()) != 0) {
    return LastError();
  }
  return Errno::kSuccess;
}

Errno PathSymlink(Env& env, uint32_t target_ptr, uint32_t target_len, uint32_t dirfd, uint32_t path_ptr,
                  uint32_t path_len) {
  FdEntry* dir;
  if (Errno e = LookupDir(env, dirfd, rights::kPathSymlink, &dir); e != Errno::kSuccess) return e;
  if (target_len > kMaxPathBytes) return Errno::kNameTooLong;
  auto target_span = env.Span(target_ptr, target_len);
  if (!target_span) return Errno::kFault;
  std::string target(reinterpret_cast<const char*>(target_span->data()), target_span->size());
  if (target.empty()) return Errno::kNoEnt;
  if (target.find('\0') != std::string::npos) return Errno::kInval;
  // Resolution is confined anyway, but a link pointing outside would lead
  // host software that later walks this directory (backups, the operator's
  // tools) out of it: absolute targets and relative ones that climb above
  // the directory the guest created the link through are refused.
  if (target.front() == '/') return Errno::kPerm;
  if (auto path = env.Span(path_ptr, path_len); path && path_len <= kMaxPathBytes) {
    std::filesystem::path link(std::string(reinterpret_cast<const char*>(path->data()), path->size()));
    std::filesystem::path resolved = (link.parent_path() / target).lexically_normal();
    if (!resolved.empty() && *resolved.begin() == "..") return Errno::kPerm;
  }
  ParentAndName p;
  if (Errno e = OpenParentOf(env, dir, path_ptr, path_len, &p); e != Errno::kSuccess) return e;
  if (p.IsDotOrDotDot()) return Errno::kExist;
  if (p.trailing_slash) return CreateTargetTrailingSlash(p);
  if (::symlinkat(target.c_str(), p.parent_fd, p.name.c_str()) != 0) return LastError();
  return Errno::kSuccess;
}

Errno PathLink(Env& env, uint32_t old_dirfd, uint32_t old_flags, uint32_t old_ptr, uint32_t old_len, uint32_t new_dirfd,
               uint32_t new_ptr, uint32_t new_len) {
  FdEntry* old_dir;
  FdEntry* new_dir;
  if (Errno e = LookupDir(env, old_dirfd, rights::kPathLinkSource, &old_dir); e != Errno::kSuccess) {
    return e;
  }
  if (Errno e = LookupDir(env, new_dirfd, rights::kPathLinkTarget, &new_dir); e != Errno::kSuccess) {
    return e;
  }
  ParentAndName to;
  if (Errno e = OpenParentOf(env, new_dir, new_ptr, new_len, &to); e != Errno::kSuccess) return e;
  if (to.IsDotOrDotDot()) return Errno::kExist;
  if (to.trailing_slash) return CreateTargetTrailingSlash(to);

  if (old_flags & kLookupSymlinkFollow) {
    // Resolve the source beneath its directory (following links), then link
    // the resolved inode through its /proc/self/fd entry, which linkat
    // accepts without CAP_DAC_READ_SEARCH.
    std::string old_path;
    if (Errno e = ReadPath(env, old_ptr, old_len, &old_path); e != Errno::kSuccess) return e;
    UniqueFd source;
    if (Errno e = OpenBeneath(old_dir->host.get(), old_path, O_PATH, 0, &source); e != Errno::kSuccess) {
      return e;
    }
    std::string proc = "/proc/self/fd/" + std::to_string(source.get());
    if (::linkat(AT_FDCWD, proc.c_str(), to.parent_fd, to.name.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      return LastError();
    }
    return Errno::kSuccess;
  }

  ParentAndName from;
  if (Errno e = OpenParentOf(env, old_dir, old_ptr, old_len, &from); e != Errno::kSuccess) return e;
  if (from.IsDotOrDotDot()) return Errno::kPerm;  // hard links to directories
  if (from.trailing_slash) {
    Errno err = Errno::kSuccess;
    auto st = StatName(from, &err);
    if (!st) return err;
    return S_ISDIR(st->st_mode) ? Errno::kPerm : Errno::kNotDir;
  }
  if (::linkat(from.parent_fd, from.name.c_str(), to.parent_fd, to.name.c_str(), 0) != 0) {
    return LastError();
  }
  return Errno::kSuccess;
}

Errno PathReadlink(Env& env, uint32_t dirfd, uint32_t path_ptr, uint32_t path_len, uint32_t buf_ptr, uint32_t buf_len,
                   uint32_t bufused_ptr) {
  FdEntry* dir;
  if (Errno e = LookupDir(env, dirfd, rights::kPathReadlink, &dir); e != Errno::kSuccess) return e;
  auto out = env.Span(buf_ptr, buf_len);
  if (!out || !env.CanStore(bufused_ptr, 4)) return Errno::kFault;
  ParentAndName p;
  if (Errno e = OpenParentOf(env, dir, path_ptr, path_len, &p); e != Errno::kSuccess) return e;
  // "x/" names what x resolves to, which is never itself a link.
  if (p.IsDotOrDotDot() || p.trailing_slash) return Errno::kInval;
  char target[PATH_MAX];
  ssize_t n = ::readlinkat(p.parent_fd, p.name.c_str(), target, sizeof(target));
  if (n < 0) return LastError();
  // preview1 truncates a target longer than the buffer.
  size_t copy = std::min<size_t>(size_t(n), buf_len);
  std::memcpy(out->data(), target, copy);
  env.Store<uint32_t>(bufused_ptr, uint32_t(copy));
  return Errno::kSuccess;
}

// ---------------------------------------------------------------------------
// poll_oneoff.

struct PendingEvent {
  uint64_t userdata = 0;
  Errno error = Errno::kSuccess;
  uint8_t type = 0;
  uint64_t nbytes = 0;
  uint16_t flags = 0;
};

struct ClockWait {
  uint64_t userdata = 0;
  uint64_t deadline_ns = 0;  // CLOCK_MONOTONIC
};

// Decides readiness of an fd subscription now. Everything the host offers is
// ready at once (in-memory stdio, regular files), so only errors differ.
PendingEvent PollFd(Env& env, uint64_t userdata, uint8_t type, uint32_t fd) {
  PendingEvent ev;
  ev.userdata = userdata;
  ev.type = type;
  FdEntry* entry = env.ctx.fds().Get(fd);
  if (entry == nullptr) {
    ev.error = Errno::kBadf;
    return ev;
  }
  if (!entry->Has(rights::kPollFdReadwrite)) {
    ev.error = Errno::kNotCapable;
    return ev;
  }
  bool want_read = type == kEventtypeFdRead;
  switch (entry->kind) {
    case FdKind::kStdin:
      if (!want_read) {
        ev.error = Errno::kBadf;
      } else {
        ev.nbytes = env.ctx.stdin_remaining();
        if (ev.nbytes == 0) ev.flags = kEventFdReadwriteHangup;
      }
      break;
    case FdKind::kStdout:
    case FdKind::kStderr:
      if (want_read) {
        ev.error = Errno::kBadf;
      } else {
        ev.nbytes = env.ctx.output_remaining();
      }
      break;
    case FdKind::kFile:
    case FdKind::kDirectory: {
      if (want_read && entry->kind == FdKind::kFile) {
        struct stat st {};
        off_t pos = ::lseek(entry->host.get(), 0, SEEK_CUR);
        if (pos >= 0 && ::fstat(entry->host.get(), &st) == 0 && st.st_size > pos) {
          ev.nbytes = uint64_t(st.st_size - pos);
        }
      }
      break;
    }
  }
  return ev;
}

Errno PollOneoff(Env& env, uint32_t in_ptr, uint32_t out_ptr, uint32_t nsubscriptions, uint32_t nevents_ptr) {
  if (nsubscriptions == 0) return Errno::kInval;
  auto in = env.Span(in_ptr, uint64_t{nsubscriptions} * layout::kSubscriptionSize);
  auto out = env.Span(out_ptr, uint64_t{nsubscriptions} * layout::kEventSize);
  if (!in || !out || !env.CanStore(nevents_ptr, 4)) return Errno::kFault;
  // All subscriptions are parsed before any event is written, so output
  // overlapping the input is harmless.

  uint64_t now = MonotonicNs();
  std::vector<PendingEvent> ready;
  std::vector<ClockWait> clocks;
  for (uint32_t i = 0; i < nsubscriptions; ++i) {
    const uint8_t* sub = in->data() + size_t{i} * layout::kSubscriptionSize;
    uint64_t userdata = Get<uint64_t>(sub, 0);
    uint8_t tag = Get<uint8_t>(sub, 8);
    if (tag == kEventtypeClock) {
      uint32_t id = Get<uint32_t>(sub, 16);
      uint64_t timeout = Get<uint64_t>(sub, 24);
      bool absolute = Get<uint16_t>(sub, 40) & kSubclockAbstime;
      ClockWait wait{userdata, 0};
      if (id == kClockMonotonic) {
        wait.deadline_ns = absolute ? timeout : SaturatingAdd(now, timeout);
      } else if (id == kClockRealtime) {
        timespec ts{};
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t real_now = TimespecNs(ts);
        uint64_t delta = absolute ? (timeout > real_now ? timeout - real_now : 0) : timeout;
        wait.deadline_ns = SaturatingAdd(now, delta);
      } else {
        // CPU-time clocks do not advance while the guest sleeps.
        PendingEvent ev{userdata, id <= kClockThreadCputime ? Errno::kNotSup : Errno::kInval, kEventtypeClock, 0, 0};
        ready.push_back(ev);
        continue;
      }
      clocks.push_back(wait);
    } else if (tag == kEventtypeFdRead || tag == kEventtypeFdWrite) {
      ready.push_back(PollFd(env, userdata, tag, Get<uint32_t>(sub, 16)));
    } else {
      ready.push_back(PendingEvent{userdata, Errno::kInval, tag, 0, 0});
    }
  }

  if (ready.empty()) {
    uint64_t earliest = UINT64_MAX;
    for (const ClockWait& c : clocks) earliest = std::min(earliest, c.deadline_ns);
    if (!env.ctx.SleepUntil(earliest)) {
      env.call.trap_message = "the deadline passed while the guest slept in poll_oneoff";
      env.call.trap = TrapKind::kTimeout;
      env.action = HostAction::kTrap;
      return Errno::kCanceled;
    }
    now = std::max(MonotonicNs(), earliest);
  }
  for (const ClockWait& c : clocks) {
    if (c.deadline_ns <= now) ready.push_back(PendingEvent{c.userdata, Errno::kSuccess, kEventtypeClock, 0, 0});
  }

  for (size_t i = 0; i < ready.size(); ++i) {
    uint8_t* ev = out->data() + i * layout::kEventSize;
    std::memset(ev, 0, layout::kEventSize);
    Put<uint64_t>(ev, 0, ready[i].userdata);
    Put<uint16_t>(ev, 8, static_cast<uint16_t>(ready[i].error));
    Put<uint8_t>(ev, 10, ready[i].type);
    Put<uint64_t>(ev, 16, ready[i].nbytes);
    Put<uint16_t>(ev, 24, ready[i].flags);
  }
  env.Store<uint32_t>(nevents_ptr, uint32_t(ready.size()));
  return Errno::kSuccess;
}

// ---------------------------------------------------------------------------
// Sockets: no socket descriptors are ever handed out.

Errno SockErrno(Env& env, uint32_t fd) { return env.ctx.fds().Get(fd) != nullptr ? Errno::kNotSock : Errno::kBadf; }
Errno SockAccept(Env& env, uint32_t fd, uint32_t, uint32_t) { return SockErrno(env, fd); }
Errno SockRecv(Env& env, uint32_t fd, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t) { return SockErrno(env, fd); }
Errno SockSend(Env& env, uint32_t fd, uint32_t, uint32_t, uint32_t, uint32_t) { return SockErrno(env, fd); }
Errno SockShutdown(Env& env, uint32_t fd, uint32_t) { return SockErrno(env, fd); }

// ---------------------------------------------------------------------------
// Registration: the Wasm signature is derived from the C++ one (uint32_t is
// i32, uint64_t is i64; every function returns an errno as i32).

template <typename T>
constexpr ValType kValTypeOf = std::is_same_v<T, uint64_t> ? ValType::kI64 : ValType::kI32;

template <typename... Args, size_t... I>
Errno Invoke(Errno (*fn)(Env&, Args...), Env& env, [[maybe_unused]] std::span<const RawValue> args,
             std::index_sequence<I...>) {
  // i32 arguments arrive zero-extended; truncation recovers them.
  return fn(env, static_cast<Args>(args[I])...);
}

HostAction Trap(HostCall& call, const char* name, const char* why) noexcept {
  try {
    call.trap_message = std::string(kWasiModule) + "." + name + ": " + why;
  } catch (...) {
    // No memory for the message: the trap itself still gets reported.
  }
  return HostAction::kTrap;
}

template <typename... Args>
void Register(HostFunctions& host, const char* name, Errno (*fn)(Env&, Args...)) {
  static_assert(((std::is_same_v<Args, uint32_t> || std::is_same_v<Args, uint64_t>)&&...));
  HostFunction f;
  f.module = kWasiModule;
  f.name = name;
  f.sig.params = {kValTypeOf<Args>...};
  f.sig.results = {ValType::kI32};
  f.fn = [fn, name](HostCall& call, std::span<const RawValue> args, std::span<RawValue> results) -> HostAction {
    auto* ctx = static_cast<WasiContext*>(call.data);
    if (ctx == nullptr) return Trap(call, name, "no WasiContext set as host data");
    if (args.size() != sizeof...(Args) || results.size() != 1) {
      return Trap(call, name, "called with the wrong number of values");
    }
    try {
      Env env{*ctx, call.memory, call};
      Errno e = Invoke(fn, env, args, std::index_sequence_for<Args...>{});
      results[0] = static_cast<uint16_t>(e);
      return env.action;
    } catch (const std::bad_alloc&) {
      return Trap(call, name, "host out of memory");
    } catch (...) {
      return Trap(call, name, "unexpected host exception");
    }
  };
  host.Add(std::move(f));
}

void RegisterProcExit(HostFunctions& host) {
  HostFunction f;
  f.module = kWasiModule;
  f.name = "proc_exit";
  f.sig.params = {ValType::kI32};
  f.fn = [](HostCall& call, std::span<const RawValue> args, std::span<RawValue>) -> HostAction {
    auto* ctx = static_cast<WasiContext*>(call.data);
    if (ctx == nullptr) return Trap(call, "proc_exit", "no WasiContext set as host data");
    if (args.size() != 1) return Trap(call, "proc_exit", "called with the wrong number of values");
    // exitcode is a u32; keep its bits.
    int code = static_cast<int>(static_cast<uint32_t>(args[0]));
    ctx->SetExitCode(code);
    call.exit_code = code;
    return HostAction::kExit;
  };
  host.Add(std::move(f));
}

}  // namespace

void AddWasiFunctions(HostFunctions& host) {
  Register(host, "args_get", &ArgsGet);
  Register(host, "args_sizes_get", &ArgsSizesGet);
  Register(host, "environ_get", &EnvironGet);
  Register(host, "environ_sizes_get", &EnvironSizesGet);
  Register(host, "clock_res_get", &ClockResGet);
  Register(host, "clock_time_get", &ClockTimeGet);
  Register(host, "random_get", &RandomGet);
  Register(host, "sched_yield", &SchedYield);
  Register(host, "proc_raise", &ProcRaise);
  RegisterProcExit(host);

  Register(host, "fd_write", &FdWrite);
  Register(host, "fd_read", &FdRead);
  Register(host, "fd_pread", &FdPread);
  Register(host, "fd_pwrite", &FdPwrite);
  Register(host, "fd_seek", &FdSeek);
  Register(host, "fd_tell", &FdTell);
  Register(host, "fd_fdstat_get", &FdFdstatGet);
  Register(host, "fd_fdstat_set_flags", &FdFdstatSetFlags);
  Register(host, "fd_fdstat_set_rights", &FdFdstatSetRights);
  Register(host, "fd_filestat_get", &FdFilestatGet);
  Register(host, "fd_filestat_set_size", &FdFilestatSetSize);
  Register(host, "fd_filestat_set_times", &FdFilestatSetTimes);
  Register(host, "fd_sync", &FdSync);
  Register(host, "fd_datasync", &FdDatasync);
  Register(host, "fd_advise", &FdAdvise);
  Register(host, "fd_allocate", &FdAllocate);
  Register(host, "fd_close", &FdClose);
  Register(host, "fd_renumber", &FdRenumber);
  Register(host, "fd_prestat_get", &FdPrestatGet);
  Register(host, "fd_prestat_dir_name", &FdPrestatDirName);
  Register(host, "fd_readdir", &FdReaddir);

  Register(host, "path_open", &PathOpen);
  Register(host, "path_filestat_get", &PathFilestatGet);
  Register(host, "path_filestat_set_times", &PathFilestatSetTimes);
  Register(host, "path_create_directory", &PathCreateDirectory);
  Register(host, "path_remove_directory", &PathRemoveDirectory);
  Register(host, "path_unlink_file", &PathUnlinkFile);
  Register(host, "path_rename", &PathRename);
  Register(host, "path_symlink", &PathSymlink);
  Register(host, "path_link", &PathLink);
  Register(host, "path_readlink", &PathReadlink);

  Register(host, "poll_oneoff", &PollOneoff);

  Register(host, "sock_accept", &SockAccept);
  Register(host, "sock_recv", &SockRecv);
  Register(host, "sock_send", &SockSend);
  Register(host, "sock_shutdown", &SockShutdown);
}

}  // namespace wow::wasi
