#pragma once

// WASI preview1 (wasi_snapshot_preview1) constants and guest struct layouts,
// written from the witx specification so host code never includes wasi-libc
// headers. All guest structs are little-endian with the offsets below.

#include <cstdint>

namespace wow::wasi {

inline constexpr char kWasiModule[] = "wasi_snapshot_preview1";

// errno values, in preview1 numbering (not the host's).
enum class Errno : uint16_t {
  kSuccess = 0,
  k2Big = 1,
  kAcces = 2,
  kAddrInUse = 3,
  kAddrNotAvail = 4,
  kAfNoSupport = 5,
  kAgain = 6,
  kAlready = 7,
  kBadf = 8,
  kBadMsg = 9,
  kBusy = 10,
  kCanceled = 11,
  kChild = 12,
  kConnAborted = 13,
  kConnRefused = 14,
  kConnReset = 15,
  kDeadlk = 16,
  kDestAddrReq = 17,
  kDom = 18,
  kDquot = 19,
  kExist = 20,
  kFault = 21,
  kFbig = 22,
  kHostUnreach = 23,
  kIdrm = 24,
  kIlseq = 25,
  kInProgress = 26,
  kIntr = 27,
  kInval = 28,
  kIo = 29,
  kIsConn = 30,
  kIsDir = 31,
  kLoop = 32,
  kMfile = 33,
  kMlink = 34,
  kMsgSize = 35,
  kMultihop = 36,
  kNameTooLong = 37,
  kNetDown = 38,
  kNetReset = 39,
  kNetUnreach = 40,
  kNfile = 41,
  kNoBufs = 42,
  kNoDev = 43,
  kNoEnt = 44,
  kNoExec = 45,
  kNoLck = 46,
  kNoLink = 47,
  kNoMem = 48,
  kNoMsg = 49,
  kNoProtoOpt = 50,
  kNoSpc = 51,
  kNoSys = 52,
  kNotConn = 53,
  kNotDir = 54,
  kNotEmpty = 55,
  kNotRecoverable = 56,
  kNotSock = 57,
  kNotSup = 58,
  kNoTty = 59,
  kNxio = 60,
  kOverflow = 61,
  kOwnerDead = 62,
  kPerm = 63,
  kPipe = 64,
  kProto = 65,
  kProtoNoSupport = 66,
  kProtoType = 67,
  kRange = 68,
  kRofs = 69,
  kSpipe = 70,
  kSrch = 71,
  kStale = 72,
  kTimedOut = 73,
  kTxtBsy = 74,
  kXdev = 75,
  kNotCapable = 76,
};

// Maps a host (Linux) errno to its preview1 value; unknown values give kIo.
Errno ErrnoFromHost(int host_errno);

enum Filetype : uint8_t {
  kFiletypeUnknown = 0,
  kFiletypeBlockDevice = 1,
  kFiletypeCharacterDevice = 2,
  kFiletypeDirectory = 3,
  kFiletypeRegularFile = 4,
  kFiletypeSocketDgram = 5,
  kFiletypeSocketStream = 6,
  kFiletypeSymbolicLink = 7,
};

enum ClockId : uint32_t {
  kClockRealtime = 0,
  kClockMonotonic = 1,
  kClockProcessCputime = 2,
  kClockThreadCputime = 3,
};

// fdflags (u16).
inline constexpr uint16_t kFdflagAppend = 1 << 0;
inline constexpr uint16_t kFdflagDsync = 1 << 1;
inline constexpr uint16_t kFdflagNonblock = 1 << 2;
inline constexpr uint16_t kFdflagRsync = 1 << 3;
inline constexpr uint16_t kFdflagSync = 1 << 4;
inline constexpr uint16_t kFdflagsAll = 0x1f;

// oflags (u16).
inline constexpr uint16_t kOflagCreat = 1 << 0;
inline constexpr uint16_t kOflagDirectory = 1 << 1;
inline constexpr uint16_t kOflagExcl = 1 << 2;
inline constexpr uint16_t kOflagTrunc = 1 << 3;
inline constexpr uint16_t kOflagsAll = 0xf;

// lookupflags (u32).
inline constexpr uint32_t kLookupSymlinkFollow = 1 << 0;

// fstflags (u16).
inline constexpr uint16_t kFstflagAtim = 1 << 0;
inline constexpr uint16_t kFstflagAtimNow = 1 << 1;
inline constexpr uint16_t kFstflagMtim = 1 << 2;
inline constexpr uint16_t kFstflagMtimNow = 1 << 3;

// whence (u8).
inline constexpr uint8_t kWhenceSet = 0;
inline constexpr uint8_t kWhenceCur = 1;
inline constexpr uint8_t kWhenceEnd = 2;

// advice (u8): normal .. noreuse.
inline constexpr uint8_t kAdviceMax = 5;

// eventtype (u8).
inline constexpr uint8_t kEventtypeClock = 0;
inline constexpr uint8_t kEventtypeFdRead = 1;
inline constexpr uint8_t kEventtypeFdWrite = 2;

// subclockflags (u16) and eventrwflags (u16).
inline constexpr uint16_t kSubclockAbstime = 1 << 0;
inline constexpr uint16_t kEventFdReadwriteHangup = 1 << 0;

// preopentype (u8).
inline constexpr uint8_t kPreopentypeDir = 0;

// rights (u64).
namespace rights {
inline constexpr uint64_t kFdDatasync = 1ull << 0;
inline constexpr uint64_t kFdRead = 1ull << 1;
inline constexpr uint64_t kFdSeek = 1ull << 2;
inline constexpr uint64_t kFdFdstatSetFlags = 1ull << 3;
inline constexpr uint64_t kFdSync = 1ull << 4;
inline constexpr uint64_t kFdTell = 1ull << 5;
inline constexpr uint64_t kFdWrite = 1ull << 6;
inline constexpr uint64_t kFdAdvise = 1ull << 7;
inline constexpr uint64_t kFdAllocate = 1ull << 8;
inline constexpr uint64_t kPathCreateDirectory = 1ull << 9;
inline constexpr uint64_t kPathCreateFile = 1ull << 10;
inline constexpr uint64_t kPathLinkSource = 1ull << 11;
inline constexpr uint64_t kPathLinkTarget = 1ull << 12;
inline constexpr uint64_t kPathOpen = 1ull << 13;
inline constexpr uint64_t kFdReaddir = 1ull << 14;
inline constexpr uint64_t kPathReadlink = 1ull << 15;
inline constexpr uint64_t kPathRenameSource = 1ull << 16;
inline constexpr uint64_t kPathRenameTarget = 1ull << 17;
inline constexpr uint64_t kPathFilestatGet = 1ull << 18;
inline constexpr uint64_t kPathFilestatSetSize = 1ull << 19;
inline constexpr uint64_t kPathFilestatSetTimes = 1ull << 20;
inline constexpr uint64_t kFdFilestatGet = 1ull << 21;
inline constexpr uint64_t kFdFilestatSetSize = 1ull << 22;
inline constexpr uint64_t kFdFilestatSetTimes = 1ull << 23;
inline constexpr uint64_t kPathSymlink = 1ull << 24;
inline constexpr uint64_t kPathRemoveDirectory = 1ull << 25;
inline constexpr uint64_t kPathUnlinkFile = 1ull << 26;
inline constexpr uint64_t kPollFdReadwrite = 1ull << 27;
inline constexpr uint64_t kSockShutdown = 1ull << 28;
inline constexpr uint64_t kSockAccept = 1ull << 29;
inline constexpr uint64_t kAll = (1ull << 30) - 1;

// Rights that mean something on a regular file descriptor.
inline constexpr uint64_t kRegularFile = kFdDatasync | kFdRead | kFdSeek | kFdFdstatSetFlags | kFdSync | kFdTell |
                                         kFdWrite | kFdAdvise | kFdAllocate | kFdFilestatGet | kFdFilestatSetSize |
                                         kFdFilestatSetTimes | kPollFdReadwrite;

// Rights that mean something on a directory descriptor.
inline constexpr uint64_t kDirectory = kFdFdstatSetFlags | kFdSync | kFdAdvise | kPathCreateDirectory |
                                       kPathCreateFile | kPathLinkSource | kPathLinkTarget | kPathOpen | kFdReaddir |
                                       kPathReadlink | kPathRenameSource | kPathRenameTarget | kPathFilestatGet |
                                       kPathFilestatSetSize | kPathFilestatSetTimes | kFdFilestatGet |
                                       kFdFilestatSetTimes | kPathSymlink | kPathRemoveDirectory | kPathUnlinkFile;

// Rights that modify the file system; removed beneath read-only preopens.
inline constexpr uint64_t kMutating = kFdDatasync | kFdWrite | kFdAllocate | kPathCreateDirectory | kPathCreateFile |
                                      kPathLinkSource | kPathLinkTarget | kPathRenameSource | kPathRenameTarget |
                                      kPathFilestatSetSize | kPathFilestatSetTimes | kFdFilestatSetSize |
                                      kFdFilestatSetTimes | kPathSymlink | kPathRemoveDirectory | kPathUnlinkFile;

inline constexpr uint64_t kStdin = kFdRead | kFdFdstatSetFlags | kFdFilestatGet | kPollFdReadwrite;
inline constexpr uint64_t kStdout = kFdWrite | kFdFdstatSetFlags | kFdFilestatGet | kPollFdReadwrite;
}  // namespace rights

// Sizes and field offsets of the guest structs.
namespace layout {
// iovec / ciovec: buf u32 @0, buf_len u32 @4.
inline constexpr uint32_t kIovecSize = 8;
// fdstat: fs_filetype u8 @0, fs_flags u16 @2, fs_rights_base u64 @8,
// fs_rights_inheriting u64 @16.
inline constexpr uint32_t kFdstatSize = 24;
// filestat: dev u64 @0, ino u64 @8, filetype u8 @16, nlink u64 @24,
// size u64 @32, atim u64 @40, mtim u64 @48, ctim u64 @56.
inline constexpr uint32_t kFilestatSize = 64;
// prestat: tag u8 @0, u.dir.pr_name_len u32 @4.
inline constexpr uint32_t kPrestatSize = 8;
// dirent: d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20;
// the name follows the 24-byte header, not NUL-terminated.
inline constexpr uint32_t kDirentSize = 24;
// subscription: userdata u64 @0, u.tag u8 @8, then the variant at @16:
// clock: id u32 @16, timeout u64 @24, precision u64 @32, flags u16 @40;
// fd_read/fd_write: file_descriptor u32 @16.
inline constexpr uint32_t kSubscriptionSize = 48;
// event: userdata u64 @0, error u16 @8, type u8 @10,
// fd_readwrite.nbytes u64 @16, fd_readwrite.flags u16 @24.
inline constexpr uint32_t kEventSize = 32;
}  // namespace layout

}  // namespace wow::wasi
