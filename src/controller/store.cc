#include "controller/store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/files.h"
#include "common/json.h"
#include "common/sha256.h"

namespace wow::controller {

namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr char kInterruptedMessage[] = "The activation was interrupted: the platform stopped before it finished.";
// While activations are running, the journal is cut back to their `a` lines
// only after it has grown by this much since the last cut (each cut rewrites
// those lines).
constexpr uint64_t kCompactSlack = 64 << 10;
// The most records one transaction takes (the writer takes everything queued
// up to this when it has fallen behind).
constexpr size_t kMaxBatch = 8192;
// The most activations one prune transaction deletes (the writer goes back
// to committing records between two).
constexpr size_t kPruneBatch = 1000;
// Mode of every file the store writes, and of the directory it creates.
constexpr mode_t kFileMode = 0600;
constexpr mode_t kDirMode = 0700;
// Random bytes of a subject's salt (stored as hex).
constexpr size_t kSaltBytes = 16;

// ---- schema

Status HashPlainKeys(sqlite3* db);

// Migration N takes user_version N-1 to N: its SQL, then its C++ step if
// any; the runner then sets user_version. Append; never edit a shipped one.
struct Migration {
  const char* sql;
  Status (*then)(sqlite3* db);
};
constexpr Migration kMigrations[] = {
    // 1: the first schema.
    {"CREATE TABLE subjects(uuid TEXT PRIMARY KEY NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,"
     "  namespace TEXT NOT NULL);"
     "CREATE TABLE actions(namespace TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
     "  updated INTEGER NOT NULL, PRIMARY KEY(namespace, name));"
     "CREATE TABLE activations(activation_id TEXT PRIMARY KEY NOT NULL, namespace TEXT NOT NULL,"
     "  name TEXT NOT NULL, start INTEGER NOT NULL, doc TEXT NOT NULL);"
     // activation_id completes the order, so that pages (skip) are stable and
     // ORDER BY needs no sort.
     "CREATE INDEX activations_by_namespace ON activations(namespace, start DESC, activation_id DESC);"
     "CREATE INDEX activations_by_name ON activations(namespace, name, start DESC, activation_id DESC);"
     "PRAGMA user_version = 1;",
     nullptr},
    // 2: keys as salted hashes (HashPlainKeys moves the rows and drops the
    // old table); the oldest activations first, for retention.
    {"ALTER TABLE subjects RENAME TO subjects_v1;"
     "CREATE TABLE subjects(uuid TEXT PRIMARY KEY NOT NULL, salt TEXT NOT NULL, key_hash TEXT NOT NULL,"
     "  name TEXT NOT NULL, namespace TEXT NOT NULL);"
     "CREATE INDEX activations_by_start ON activations(start);",
     HashPlainKeys},
    // 3: action revisions (the existing versions number from their rowid),
    // the superseded versions kept for activations admitted before an
    // update, and the counter that hands out revisions (never reused).
    {"ALTER TABLE actions ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;"
     "UPDATE actions SET revision = rowid;"
     "CREATE TABLE superseded_actions(namespace TEXT NOT NULL, name TEXT NOT NULL, revision INTEGER NOT NULL,"
     "  doc TEXT NOT NULL, PRIMARY KEY(namespace, name, revision));"
     "CREATE TABLE sequences(name TEXT PRIMARY KEY NOT NULL, last INTEGER NOT NULL);"
     "INSERT INTO sequences(name, last) SELECT 'action_revision', IFNULL(MAX(revision), 0) FROM actions;",
     nullptr},
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

Status SqlError(sqlite3* db, std::string_view what) {
  return Status::IoError(fmt::format("store: {}: {} (sqlite error {})", what, db ? sqlite3_errmsg(db) : "out of memory",
                                     db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM));
}

Status ErrnoError(std::string_view what, const fs::path& path, int err) {
  return Status::IoError(fmt::format("store: cannot {} {}: {}", what, path.string(), std::strerror(err)));
}

// ---- files

// Narrows `path` to `mode` when it exists, is ours and allows more (a file
// written by an older wow).
Status NarrowMode(const fs::path& path, mode_t mode) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno == ENOENT ? Status::Ok() : ErrnoError("stat", path, errno);
  if ((st.st_mode & 07777 & ~mode) == 0 || st.st_uid != ::geteuid()) return Status::Ok();
  if (::chmod(path.c_str(), mode) != 0) return ErrnoError("chmod", path, errno);
  return Status::Ok();
}

// open(2) that creates with kFileMode and narrows an existing file to it.
int OpenPrivate(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, kFileMode);
  if (fd < 0) return fd;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && (st.st_mode & 07777 & ~kFileMode) != 0 && st.st_uid == ::geteuid()) {
    (void)::fchmod(fd, kFileMode);
  }
  return fd;
}

// ---- credentials

// The key's hash as stored: SHA-256 over the salt's hex text and the key.
// Keys are 64 random characters (about 380 bits), so a fast hash is enough:
// a slow KDF only helps low-entropy passwords. The salt makes equal keys
// hash differently.
std::string KeyHash(std::string_view salt, std::string_view key) {
  std::string input;
  input.reserve(salt.size() + key.size());
  input.append(salt).append(key);
  return Sha256Hex(input);
}

Result<std::string> NewSalt() {
  unsigned char bytes[kSaltBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Status::Internal("store: no random bytes for a salt");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// Migration 2's step: every plain key of subjects_v1 becomes a salt and a
// hash in subjects, then subjects_v1 is dropped. The caller has turned on
// secure_delete, so the freed pages holding the plain keys are zeroed.
Status HashPlainKeys(sqlite3* db) {
  sqlite3_stmt* read = nullptr;
  sqlite3_stmt* write = nullptr;
  Status st;
  if (sqlite3_prepare_v2(db, "SELECT uuid, key, name, namespace FROM subjects_v1", -1, &read, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "INSERT INTO subjects(uuid, salt, key_hash, name, namespace) VALUES(?1, ?2, ?3, ?4, ?5)",
                         -1, &write, nullptr) != SQLITE_OK) {
    st = SqlError(db, "hashing the stored keys");
  }
  auto text = [&](int i) {
    const char* p = reinterpret_cast<const char*>(sqlite3_column_text(read, i));
    return std::string(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(read, i)));
  };
  int rc = SQLITE_DONE;
  while (st.ok() && (rc = sqlite3_step(read)) == SQLITE_ROW) {
    auto salt = NewSalt();
    if (!salt.ok()) {
      st = salt.status();
      break;
    }
    std::string uuid = text(0), hash = KeyHash(*salt, text(1)), name = text(2), ns = text(3);
    sqlite3_bind_text(write, 1, uuid.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(write, 2, salt->c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(write, 3, hash.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(write, 4, name.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(write, 5, ns.c_str(), -1, SQLITE_STATIC);
    if (sqlite3_step(write) != SQLITE_DONE) st = SqlError(db, fmt::format("hashing the key of subject {}", uuid));
    sqlite3_reset(write);
  }
  if (st.ok() && rc != SQLITE_DONE) st = SqlError(db, "reading the stored keys");
  sqlite3_finalize(read);
  sqlite3_finalize(write);
  if (st.ok() && sqlite3_exec(db, "DROP TABLE subjects_v1", nullptr, nullptr, nullptr) != SQLITE_OK) {
    st = SqlError(db, "dropping the plain keys");
  }
  return st;
}

// An open database; closed after its statements (declared after it) are
// finalised.
class Connection {
 public:
  Connection() = default;
  ~Connection() { sqlite3_close_v2(db_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Status Open(const fs::path& path) {
    int rc =
        sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return SqlError(db_, fmt::format("opening {}", path.string()));
    sqlite3_extended_result_codes(db_, 1);
    // journal_mode answers with a row; anything but "wal" means WAL is not
    // available (e.g. a read-only or network file system).
    std::string mode;
    auto row = [](void* out, int, char** values, char**) {
      if (values[0]) *static_cast<std::string*>(out) = values[0];
      return 0;
    };
    if (sqlite3_exec(db_, "PRAGMA journal_mode=WAL", row, &mode, nullptr) != SQLITE_OK) {
      return SqlError(db_, fmt::format("opening {}", path.string()));
    }
    if (mode != "wal") return Status::IoError(fmt::format("store: {} cannot use WAL mode ({})", path.string(), mode));
    return Exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;", "setting pragmas");
  }

  Status Exec(const char* sql, std::string_view what) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return SqlError(db_, what);
    return Status::Ok();
  }

  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

// A prepared statement, kept for the connection's life.
class Statement {
 public:
  Statement() = default;
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Status Prepare(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) {
      return SqlError(db, fmt::format("preparing \"{}\"", sql));
    }
    return Status::Ok();
  }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// One use of a statement: binds, steps, reads columns; resets it on scope
// exit (which also ends its read transaction).
class Use {
 public:
  explicit Use(const Statement& s) : s_(s.get()) {}
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  // The text must outlive the step (SQLITE_STATIC).
  Use& Text(int i, std::string_view v) {
    Check(sqlite3_bind_text(s_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_STATIC));
    return *this;
  }
  Use& Int(int i, int64_t v) {
    Check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_); }

  std::string_view ColumnText(int i) const {
    const char* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(s_, i))) : std::string_view();
  }
  int64_t ColumnInt(int i) const { return sqlite3_column_int64(s_, i); }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() != b.size() ? 1u : 0u;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

Result<json::object> ParseObject(std::string_view text, std::string_view what) {
  auto parsed = ParseJson(text);
  if (!parsed.ok()) return Status::Internal(fmt::format("store: corrupt {}: {}", what, parsed.status().message()));
  if (!parsed->is_object()) return Status::Internal(fmt::format("store: corrupt {}: not a JSON object", what));
  return std::move(parsed->as_object());
}

// The indexed columns of an activation record.
struct Columns {
  std::string id;
  std::string ns;
  std::string name;
  int64_t start = 0;
};

Result<Columns> ActivationColumns(const json::object& doc) {
  Columns c;
  auto text = [&](std::string_view key, std::string& out) -> Status {
    const json::value* v = doc.if_contains(key);
    if (!v || !v->is_string() || v->as_string().empty()) {
      return Status::InvalidArgument(fmt::format("activation record without a \"{}\" string", key));
    }
    out.assign(v->as_string().data(), v->as_string().size());
    return Status::Ok();
  };
  WOW_RETURN_IF_ERROR(text("activationId", c.id));
  WOW_RETURN_IF_ERROR(text("namespace", c.ns));
  WOW_RETURN_IF_ERROR(text("name", c.name));
  const json::value* start = doc.if_contains("start");
  boost::system::error_code ec;
  if (start) c.start = start->to_number<int64_t>(ec);
  if (!start || ec) return Status::InvalidArgument("activation record without an integer \"start\"");
  // OpenWhisk's `path` annotation ("ns/pkg/a") names a packaged action
  // whatever `name` says.
  if (const json::value* anns = doc.if_contains("annotations"); anns && anns->is_array()) {
    for (const json::value& a : anns->as_array()) {
      const json::object* o = a.if_object();
      if (!o) continue;
      const json::value* key = o->if_contains("key");
      const json::value* value = o->if_contains("value");
      if (!key || !key->is_string() || key->as_string() != "path" || !value || !value->is_string()) continue;
      std::string_view path = value->as_string();
      size_t slash = path.find('/');
      if (slash != std::string_view::npos && slash + 1 < path.size()) c.name.assign(path.substr(slash + 1));
      break;
    }
  }
  return c;
}

// A completed record waiting for (or in) a batch.
struct Record {
  Columns cols;
  // "c <json>\n" as journaled. The object itself is not kept: readers of
  // pending records are rare and parse it, and the caller's thread frees it.
  std::string line;
  uint64_t seq = 0;  // order of completion
  uint64_t gen = 0;  // the journal file its line is in
  Clock::time_point queued;

  std::string_view Json() const { return std::string_view(line).substr(2, line.size() - 3); }
};
using RecordPtr = std::shared_ptr<const Record>;

struct Accepted {
  std::string ns;
  std::string name;
  int64_t start = 0;
};

std::string AcceptLine(std::string_view id, const Accepted& a) {
  json::object o;
  o["activationId"] = id;
  o["namespace"] = a.ns;
  o["name"] = a.name;
  o["start"] = a.start;
  std::string line = "a ";
  line += ToJson(o);
  line += '\n';
  return line;
}

json::object InterruptedRecord(std::string_view id, const Accepted& a) {
  json::object result;
  result["error"] = kInterruptedMessage;
  json::object response;
  response["status"] = "whisk internal error";
  response["statusCode"] = 3;
  response["success"] = false;
  response["result"] = std::move(result);
  json::object doc;
  doc["activationId"] = id;
  doc["namespace"] = a.ns;
  doc["name"] = a.name;
  doc["version"] = "0.0.1";  // unknown: the accepted line does not carry it
  doc["subject"] = a.ns;
  doc["start"] = a.start;
  doc["end"] = a.start;
  doc["duration"] = 0;
  doc["publish"] = false;
  doc["response"] = std::move(response);
  doc["logs"] = json::array();
  doc["annotations"] = json::array();
  return doc;
}

// What the journal files say, in order.
struct JournalContent {
  std::vector<std::pair<Columns, std::string>> completed;  // columns, record JSON
  std::unordered_map<std::string, size_t> completed_index;
  std::vector<std::pair<std::string, Accepted>> accepted;
  std::unordered_set<std::string> accepted_ids;
  size_t skipped = 0;
};

void ParseJournal(std::string_view text, JournalContent& out) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      // A torn last line: the process died in the middle of its write.
      ++out.skipped;
      return;
    }
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (line.empty()) continue;
    if (line.size() < 3 || (line[0] != 'a' && line[0] != 'c') || line[1] != ' ') {
      ++out.skipped;
      continue;
    }
    std::string_view body = line.substr(2);
    auto parsed = ParseJson(body);
    if (!parsed.ok() || !parsed->is_object()) {
      ++out.skipped;
      continue;
    }
    const json::object& o = parsed->as_object();
    auto cols = ActivationColumns(o);
    if (!cols.ok()) {
      ++out.skipped;
      continue;
    }
    if (line[0] == 'c') {
      auto [it, inserted] = out.completed_index.emplace(cols->id, out.completed.size());
      if (inserted) {
        out.completed.emplace_back(std::move(*cols), std::string(body));
      } else {
        out.completed[it->second] = {std::move(*cols), std::string(body)};
      }
    } else if (out.accepted_ids.insert(cols->id).second) {
      out.accepted.emplace_back(cols->id, Accepted{cols->ns, cols->name, cols->start});
    }
  }
}

}  // namespace

class Store::Impl {
 public:
  Impl(const fs::path& dir, StoreOptions options)
      : dir_(dir),
        journal_path_(dir / "activations.journal"),
        old_journal_path_(dir / "activations.journal.old"),
        tmp_journal_path_(dir / "activations.journal.tmp"),
        options_(options) {
    if (options_.batch_size == 0) options_.batch_size = 1;
  }

  ~Impl() {
    if (writer_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
      }
      work_cv_.notify_all();
      space_cv_.notify_all();
      writer_.join();
    }
    if (journal_fd_ >= 0) ::close(journal_fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  Status Open() {
    std::error_code ec;
    if (!fs::exists(dir_, ec)) {
      if (dir_.has_parent_path()) fs::create_directories(dir_.parent_path(), ec);
      if (ec) return Status::IoError(fmt::format("store: cannot create {}: {}", dir_.string(), ec.message()));
      if (::mkdir(dir_.c_str(), kDirMode) != 0 && errno != EEXIST) return ErrnoError("create", dir_, errno);
    }
    fs::path lock_path = dir_ / "store.lock";
    lock_fd_ = OpenPrivate(lock_path, O_RDWR | O_CREAT);
    if (lock_fd_ < 0) return ErrnoError("open", lock_path, errno);
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        return Status::IoError(
            fmt::format("store: {} is in use by another store (lock {})", dir_.string(), lock_path.string()));
      }
      return ErrnoError("lock", lock_path, errno);
    }
    fs::path db_path = dir_ / "wow.db";
    // The database is created here, private, and SQLite gives its -wal and
    // -shm the database's mode. Files an older wow left wider are narrowed.
    for (const char* suffix : {"-wal", "-shm"}) {
      fs::path p = db_path;
      p += suffix;
      WOW_RETURN_IF_ERROR(NarrowMode(p, kFileMode));
    }
    WOW_RETURN_IF_ERROR(NarrowMode(old_journal_path_, kFileMode));
    if (int fd = OpenPrivate(db_path, O_RDWR | O_CREAT); fd >= 0) {
      ::close(fd);
    } else {
      return ErrnoError("create", db_path, errno);
    }
    WOW_RETURN_IF_ERROR(wdb_.Open(db_path));
    WOW_RETURN_IF_ERROR(Migrate());
    WOW_RETURN_IF_ERROR(db_.Open(db_path));
    WOW_RETURN_IF_ERROR(Prepare());
    WOW_RETURN_IF_ERROR(Recover());
    journal_fd_ = OpenPrivate(journal_path_, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
    if (journal_fd_ < 0) return ErrnoError("open", journal_path_, errno);
    writer_ = std::thread([this] { WriterLoop(); });
    return Status::Ok();
  }

  // ---- subjects

  Status PutSubject(const Subject& s) {
    if (s.uuid.empty()) return Status::InvalidArgument("subject without a uuid");
    WOW_ASSIGN_OR_RETURN(std::string salt, NewSalt());
    std::string hash = KeyHash(salt, s.key);
    std::lock_guard<std::mutex> lock(db_mu_);
    Use u(put_subject_);
    u.Text(1, s.uuid).Text(2, salt).Text(3, hash).Text(4, s.name).Text(5, s.namespace_);
    if (u.Step() != SQLITE_DONE) return SqlError(db_.get(), fmt::format("storing subject {}", s.uuid));
    return Status::Ok();
  }

  Status DeleteOtherSubjects(const Subject& s) {
    std::lock_guard<std::mutex> lock(db_mu_);
    Use u(delete_other_subjects_);
    u.Text(1, s.namespace_).Text(2, s.uuid);
    if (u.Step() != SQLITE_DONE) return SqlError(db_.get(), fmt::format("replacing the subjects of {}", s.namespace_));
    return Status::Ok();
  }

  Result<std::optional<Subject>> Authenticate(const std::string& uuid, const std::string& key) {
    std::lock_guard<std::mutex> lock(db_mu_);
    Use u(get_subject_);
    u.Text(1, uuid);
    int rc = u.Step();
    if (rc == SQLITE_DONE) return std::optional<Subject>();
    if (rc != SQLITE_ROW) return SqlError(db_.get(), "reading a subject");
    if (!ConstantTimeEquals(KeyHash(u.ColumnText(1), key), u.ColumnText(2))) return std::optional<Subject>();
    return std::optional<Subject>(
        Subject{std::string(u.ColumnText(0)), key, std::string(u.ColumnText(3)), std::string(u.ColumnText(4))});
  }

  Result<std::vector<Subject>> ListSubjects() {
    std::lock_guard<std::mutex> lock(db_mu_);
    Use u(list_subjects_);
    std::vector<Subject> out;
    int rc;
    while ((rc = u.Step()) == SQLITE_ROW) {
      out.push_back(
          Subject{std::string(u.ColumnText(0)), {}, std::string(u.ColumnText(1)), std::string(u.ColumnText(2))});
    }
    if (rc != SQLITE_DONE) return SqlError(db_.get(), "listing subjects");
    return out;
  }

  // ---- actions

  Status PutAction(const StoredAction& action, bool overwrite) {
    if (action.namespace_.empty() || action.name.empty()) {
      return Status::InvalidArgument("action without a namespace or name");
    }
    std::string doc = ToJson(action.doc);
    int64_t updated = NowMs();
    if (const json::value* v = action.doc.if_contains("updated")) {
      boost::system::error_code ec;
      int64_t u = v->to_number<int64_t>(ec);
      if (!ec) updated = u;
    }
    const std::string& ns = action.namespace_;
    const std::string& name = action.name;
    std::string what = fmt::format("storing action {}/{}", ns, name);
    std::lock_guard<std::mutex> lock(db_mu_);
    return InApiTransaction(what, [&]() -> Status {
      int64_t revision = action.revision;
      if (revision == 0) {
        WOW_ASSIGN_OR_RETURN(revision, NextRevisionLocked());
      } else {
        // A revision the caller reserved; one it made up must not come again.
        Use u(raise_revision_);
        u.Int(1, revision);
        if (u.Step() != SQLITE_DONE) return SqlError(db_.get(), what);
      }
      if (overwrite) {
        Use u(supersede_action_);
        u.Text(1, ns).Text(2, name).Int(3, revision);
        if (u.Step() != SQLITE_DONE) return SqlError(db_.get(), what);
      }
      {
        Use u(overwrite ? replace_action_ : insert_action_);
        u.Text(1, ns).Text(2, name).Text(3, doc).Int(4, updated).Int(5, revision);
        int rc = u.Step();
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
          return Status::Error(Code::kAlreadyExists, Phase::kNone,
                               fmt::format("action {}/{} already exists", ns, name));
        }
        if (rc != SQLITE_DONE) return SqlError(db_.get(), what);
      }
      if (overwrite) {
        Use u(prune_superseded_);
        u.Text(1, ns).Text(2, name).Int(3, SqlCount(options_.superseded_versions_kept));
        if (u.Step() != SQLITE_DONE) return SqlError(db_.get(), what);
      }
      return Status::Ok();
    });
  }

  Result<int64_t> NewActionRevision() {
    std::lock_guard<std::mutex> lock(db_mu_);
    return NextRevisionLocked();
  }

  Result<std::optional<StoredAction>> GetAction(const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> lock(db_mu_);
    Use u(get_action_);
    u.Text(1, ns).Text(2, name);
    int rc = u.Step();
    if (rc == SQLITE_DONE) return std::optional<StoredAction>();
    if (rc != SQLITE_ROW) return SqlError(db_.get(), fmt::format("reading action {}/{}", ns, name));
    WOW_ASSIGN_OR_RETURN(json::object doc, ParseObject(u.ColumnText(0), fmt::format("action {}/{}", ns, name)));
    return std::optional<StoredAction>(StoredAction{ns, name, std::move(doc), u.ColumnInt(1)});
  }

  Result<std::optional<StoredAction>> GetActionRevision(const std::string& ns, const std::string& name,
                                                        int64_t revision) {
    std::lock_guard<std::mutex> lock(db_mu_);
    Use u(get_action_revision_);
    u.Text(1, ns).Text(2, name).Int(3, revision);
    int rc = u.Step();
    std::string what = fmt::format("action {}/{} revision {}", ns, name, revision);
    if (rc == SQLITE_DONE) return std::optional<StoredAction>();
    if (rc != SQLITE_ROW) return SqlError(db_.get(), "reading " + what);
    WOW_ASSIGN_OR_RETURN(json::object doc, ParseObject(u.ColumnText(0), what));
    return std::optional<StoredAction>(StoredAction{ns, name, std::move(doc), revision});
  }

  Result<std::vector<StoredAction>> ListActions(const std::string& ns, size_t limit, size_t skip) {
    std::lock_guard<std::mutex> lock(db_mu_);
    Use u(list_actions_);
    u.Text(1, ns).Int(2, SqlLimit(limit)).Int(3, SqlCount(skip));
    std::vector<StoredAction> out;
    int rc;
    while ((rc = u.Step()) == SQLITE_ROW) {
      std::string name(u.ColumnText(0));
      auto doc = ParseObject(u.ColumnText(1), "action");
      if (!doc.ok()) continue;  // a corrupt row is skipped, not fatal
      out.push_back(StoredAction{ns, std::move(name), std::move(doc).value(), u.ColumnInt(2)});
    }
    if (rc != SQLITE_DONE) return SqlError(db_.get(), fmt::format("listing actions of {}", ns));
    return out;
  }

  Result<bool> DeleteAction(const std::string& ns, const std::string& name) {
    std::string what = fmt::format("deleting action {}/{}", ns, name);
    bool deleted = false;
    std::lock_guard<std::mutex> lock(db_mu_);
    WOW_RETURN_IF_ERROR(InApiTransaction(what, [&]() -> Status {
      {
        Use u(delete_action_);
        u.Text(1, ns).Text(2, name);
        if (u.Step() != SQLITE_DONE) return SqlError(db_.get(), what);
        deleted = sqlite3_changes(db_.get()) > 0;
      }
      Use u(delete_superseded_);
      u.Text(1, ns).Text(2, name);
      if (u.Step() != SQLITE_DONE) return SqlError(db_.get(), what);
      return Status::Ok();
    }));
    return deleted;
  }

  Result<size_t> CountActions(const std::string& ns) {
    std::lock_guard<std::mutex> lock(db_mu_);
    Use u(count_actions_);
    u.Text(1, ns);
    if (u.Step() != SQLITE_ROW) return SqlError(db_.get(), fmt::format("counting actions of {}", ns));
    return static_cast<size_t>(u.ColumnInt(0));
  }

  // ---- activations

  Status AcceptActivation(const std::string& id, const std::string& ns, const std::string& name, int64_t start_ms) {
    if (id.empty() || ns.empty() || name.empty()) {
      return Status::InvalidArgument("accepted activation without an id, namespace or name");
    }
    Accepted a{ns, name, start_ms};
    std::string line = AcceptLine(id, a);
    std::lock_guard<std::mutex> lock(mu_);
    WOW_RETURN_IF_ERROR(AppendLocked(line));
    inflight_[id] = std::move(a);
    return Status::Ok();
  }

  Status CompleteActivation(json::object doc) {
    WOW_ASSIGN_OR_RETURN(Columns cols, ActivationColumns(doc));
    auto rec = std::make_shared<Record>();
    // Serialised once, straight into the journal line; the database gets the
    // same bytes.
    rec->line.reserve(512);
    rec->line = "c ";
    json::serializer sr;
    sr.reset(&doc);
    char buf[4096];
    while (!sr.done()) rec->line.append(sr.read(buf));
    rec->line += '\n';
    rec->cols = std::move(cols);

    std::unique_lock<std::mutex> lock(mu_);
    if (QueueFullLocked()) space_cv_.wait(lock, [&] { return !QueueFullLocked() || stop_ || writer_failing_; });
    Status journaled = AppendLocked(rec->line);
    rec->seq = ++last_seq_;
    rec->gen = gen_;
    rec->queued = Clock::now();
    inflight_.erase(rec->cols.id);
    RecordPtr ptr = std::move(rec);
    pending_[ptr->cols.id] = ptr;
    queue_bytes_ += ptr->line.size();
    queue_.push_back(std::move(ptr));
    // The writer waits either for a first record (to start the interval) or
    // for a full batch.
    if (queue_.size() == 1 || queue_.size() == options_.batch_size) work_cv_.notify_one();
    return journaled;
  }

  Result<std::optional<json::object>> GetActivation(const std::string& ns, const std::string& id) {
    RecordPtr rec;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pending_.find(id);
      if (it != pending_.end()) rec = it->second;
    }
    if (rec) {
      if (rec->cols.ns != ns) return std::optional<json::object>();
      WOW_ASSIGN_OR_RETURN(json::object doc, ParseObject(rec->Json(), fmt::format("activation {}", id)));
      return std::optional<json::object>(std::move(doc));
    }
    // Not pending: either committed (the writer drops records from pending
    // only after their commit) or unknown.
    std::lock_guard<std::mutex> lock(db_mu_);
    Use u(get_activation_);
    u.Text(1, id).Text(2, ns);
    int rc = u.Step();
    if (rc == SQLITE_DONE) return std::optional<json::object>();
    if (rc != SQLITE_ROW) return SqlError(db_.get(), fmt::format("reading activation {}", id));
    WOW_ASSIGN_OR_RETURN(json::object doc, ParseObject(u.ColumnText(0), fmt::format("activation {}", id)));
    return std::optional<json::object>(std::move(doc));
  }

  Result<std::vector<json::object>> ListActivations(const ActivationQuery& q) {
    int64_t since = q.since_ms.value_or(std::numeric_limits<int64_t>::min());
    int64_t upto = q.upto_ms.value_or(std::numeric_limits<int64_t>::max());
    // Pending first, then the database: a record committed in between is in
    // both (deduplicated below), never in neither.
    std::vector<RecordPtr> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, rec] : pending_) {
        const Columns& c = rec->cols;
        if (c.ns == q.namespace_ && c.start >= since && c.start <= upto && (!q.name || c.name == *q.name)) {
          pending.push_back(rec);
        }
      }
    }
    auto newer = [](int64_t start_a, std::string_view id_a, int64_t start_b, std::string_view id_b) {
      return start_a != start_b ? start_a > start_b : id_a > id_b;
    };
    std::sort(pending.begin(), pending.end(), [&](const RecordPtr& a, const RecordPtr& b) {
      return newer(a->cols.start, a->cols.id, b->cols.start, b->cols.id);
    });

    struct Row {
      std::string id;
      int64_t start;
      std::string doc;
    };
    // The end of the page in the merged order.
    constexpr size_t kAll = std::numeric_limits<size_t>::max();
    size_t end = q.limit == 0 || q.skip > kAll - q.limit ? kAll : q.skip + q.limit;
    std::vector<Row> rows;
    {
      // Without pending matches the database pages by itself; with them, the
      // first skip+limit rows of the database hold every row of the merged
      // page.
      int64_t limit = q.limit == 0 ? -1 : SqlCount(q.limit);
      int64_t offset = SqlCount(q.skip);
      if (!pending.empty()) {
        limit = end == kAll ? -1 : SqlCount(end);
        offset = 0;
      }
      std::lock_guard<std::mutex> lock(db_mu_);
      Use u(q.name ? list_activations_by_name_ : list_activations_);
      u.Text(1, q.namespace_).Int(2, since).Int(3, upto).Int(4, limit).Int(5, offset);
      if (q.name) u.Text(6, *q.name);
      int rc;
      while ((rc = u.Step()) == SQLITE_ROW) {
        rows.push_back(Row{std::string(u.ColumnText(0)), u.ColumnInt(1), std::string(u.ColumnText(2))});
      }
      if (rc != SQLITE_DONE) return SqlError(db_.get(), fmt::format("listing activations of {}", q.namespace_));
    }

    std::vector<json::object> out;
    auto parse = [&](std::string_view text) {
      auto doc = ParseObject(text, "activation");
      if (doc.ok()) out.push_back(std::move(doc).value());  // a corrupt row is skipped
    };
    auto parse_row = [&](const Row& row) { parse(row.doc); };
    if (pending.empty()) {
      for (const Row& row : rows) parse_row(row);
      return out;
    }
    std::unordered_set<std::string_view> pending_ids;
    for (const RecordPtr& r : pending) pending_ids.insert(r->cols.id);
    size_t rank = 0;
    size_t i = 0, j = 0;
    while (rank < end && (i < pending.size() || j < rows.size())) {
      if (j < rows.size() && pending_ids.count(rows[j].id)) {
        ++j;  // committed while we looked: the pending copy counts
        continue;
      }
      bool take_pending = j == rows.size() || (i < pending.size() && newer(pending[i]->cols.start, pending[i]->cols.id,
                                                                           rows[j].start, rows[j].id));
      if (rank++ < q.skip) {
        if (take_pending) {
          ++i;
        } else {
          ++j;
        }
      } else if (take_pending) {
        parse(pending[i++]->Json());
      } else {
        parse_row(rows[j++]);
      }
    }
    return out;
  }

  Status Flush() {
    std::unique_lock<std::mutex> lock(mu_);
    uint64_t target = last_seq_;
    uint64_t failures = writer_failures_;
    if (committed_through_ >= target || !writer_.joinable()) return Status::Ok();
    ++flush_waiters_;
    work_cv_.notify_one();
    done_cv_.wait(lock, [&] { return committed_through_ >= target || writer_failures_ != failures || stop_; });
    --flush_waiters_;
    if (committed_through_ >= target) return Status::Ok();
    if (writer_failures_ != failures) return writer_error_;
    return Status::Internal("store: closing before the flush finished");
  }

  size_t recovered() const { return recovered_; }
  size_t interrupted() const { return interrupted_; }
  size_t skipped() const { return skipped_; }
  uint64_t pruned() const { return pruned_.load(); }

 private:
  static int64_t SqlCount(size_t n) {
    return n > static_cast<size_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                        : static_cast<int64_t>(n);
  }
  static int64_t SqlLimit(size_t limit) { return limit == 0 ? -1 : SqlCount(limit); }

  Status Migrate() {
    auto version = [&]() -> Result<int> {
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v2(wdb_.get(), "PRAGMA user_version", -1, &s, nullptr) != SQLITE_OK) {
        return SqlError(wdb_.get(), "reading the schema version");
      }
      int rc = sqlite3_step(s);
      int v = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
      sqlite3_finalize(s);
      if (v < 0) return SqlError(wdb_.get(), "reading the schema version");
      return v;
    };
    WOW_ASSIGN_OR_RETURN(int v, version());
    if (v == kSchemaVersion) return Status::Ok();
    if (v > kSchemaVersion) {
      return Status::IoError(
          fmt::format("store: the database's schema version {} is newer than this wow's ({})", v, kSchemaVersion));
    }
    // Deleted content is overwritten with zeros (the plain keys of version
    // 1; Debian's SQLite does so by default), and the WAL is emptied into the
    // database after the migration.
    WOW_RETURN_IF_ERROR(wdb_.Exec("PRAGMA secure_delete=ON", "setting pragmas"));
    // Another process may be migrating too: re-read under the write lock.
    WOW_RETURN_IF_ERROR(wdb_.Exec("BEGIN IMMEDIATE", "starting the schema migration"));
    auto migrated = [&]() -> Status {
      WOW_ASSIGN_OR_RETURN(int current, version());
      for (int i = current; i < kSchemaVersion; ++i) {
        std::string what = fmt::format("migrating the schema to version {}", i + 1);
        WOW_RETURN_IF_ERROR(wdb_.Exec(kMigrations[i].sql, what));
        if (kMigrations[i].then) WOW_RETURN_IF_ERROR(kMigrations[i].then(wdb_.get()).WithContext(what));
        WOW_RETURN_IF_ERROR(wdb_.Exec(fmt::format("PRAGMA user_version = {}", i + 1).c_str(), what));
      }
      return wdb_.Exec("COMMIT", "committing the schema migration");
    }();
    if (!migrated.ok()) sqlite3_exec(wdb_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    WOW_RETURN_IF_ERROR(migrated);
    return wdb_.Exec("PRAGMA wal_checkpoint(TRUNCATE)", "checkpointing the schema migration");
  }

  Status Prepare() {
    struct {
      Statement& stmt;
      sqlite3* db;
      const char* sql;
    } statements[] = {
        {put_subject_, db_.get(),
         "INSERT OR REPLACE INTO subjects(uuid, salt, key_hash, name, namespace) VALUES(?1, ?2, ?3, ?4, ?5)"},
        {get_subject_, db_.get(), "SELECT uuid, salt, key_hash, name, namespace FROM subjects WHERE uuid = ?1"},
        {list_subjects_, db_.get(), "SELECT uuid, name, namespace FROM subjects ORDER BY uuid"},
        {delete_other_subjects_, db_.get(), "DELETE FROM subjects WHERE namespace = ?1 AND uuid <> ?2"},
        {begin_, db_.get(), "BEGIN IMMEDIATE"},
        {commit_, db_.get(), "COMMIT"},
        {rollback_, db_.get(), "ROLLBACK"},
        {next_revision_, db_.get(),
         "UPDATE sequences SET last = last + 1 WHERE name = 'action_revision' RETURNING last"},
        {raise_revision_, db_.get(), "UPDATE sequences SET last = MAX(last, ?1) WHERE name = 'action_revision'"},
        {insert_action_, db_.get(),
         "INSERT INTO actions(namespace, name, doc, updated, revision) VALUES(?1, ?2, ?3, ?4, ?5)"},
        {replace_action_, db_.get(),
         "INSERT INTO actions(namespace, name, doc, updated, revision) VALUES(?1, ?2, ?3, ?4, ?5) "
         "ON CONFLICT(namespace, name) DO UPDATE SET doc = excluded.doc, updated = excluded.updated, "
         "revision = excluded.revision"},
        {supersede_action_, db_.get(),
         "INSERT OR REPLACE INTO superseded_actions(namespace, name, revision, doc) "
         "SELECT namespace, name, revision, doc FROM actions WHERE namespace = ?1 AND name = ?2 AND revision <> ?3"},
        // Keeps the ?3 latest.
        {prune_superseded_, db_.get(),
         "DELETE FROM superseded_actions WHERE namespace = ?1 AND name = ?2 AND revision NOT IN "
         "(SELECT revision FROM superseded_actions WHERE namespace = ?1 AND name = ?2 "
         "ORDER BY revision DESC LIMIT ?3)"},
        {get_action_, db_.get(), "SELECT doc, revision FROM actions WHERE namespace = ?1 AND name = ?2"},
        {get_action_revision_, db_.get(),
         "SELECT doc FROM actions WHERE namespace = ?1 AND name = ?2 AND revision = ?3 UNION ALL "
         "SELECT doc FROM superseded_actions WHERE namespace = ?1 AND name = ?2 AND revision = ?3 LIMIT 1"},
        {list_actions_, db_.get(),
         "SELECT name, doc, revision FROM actions WHERE namespace = ?1 ORDER BY name LIMIT ?2 OFFSET ?3"},
        {delete_action_, db_.get(), "DELETE FROM actions WHERE namespace = ?1 AND name = ?2"},
        {delete_superseded_, db_.get(), "DELETE FROM superseded_actions WHERE namespace = ?1 AND name = ?2"},
        {count_actions_, db_.get(), "SELECT COUNT(*) FROM actions WHERE namespace = ?1"},
        {get_activation_, db_.get(), "SELECT doc FROM activations WHERE activation_id = ?1 AND namespace = ?2"},
        {list_activations_, db_.get(),
         "SELECT activation_id, start, doc FROM activations WHERE namespace = ?1 AND start >= ?2 AND start <= ?3 "
         "ORDER BY start DESC, activation_id DESC LIMIT ?4 OFFSET ?5"},
        {list_activations_by_name_, db_.get(),
         "SELECT activation_id, start, doc FROM activations "
         "WHERE namespace = ?1 AND name = ?6 AND start >= ?2 AND start <= ?3 "
         "ORDER BY start DESC, activation_id DESC LIMIT ?4 OFFSET ?5"},
        {w_begin_, wdb_.get(), "BEGIN IMMEDIATE"},
        {w_commit_, wdb_.get(), "COMMIT"},
        {w_rollback_, wdb_.get(), "ROLLBACK"},
        {w_insert_, wdb_.get(),
         "INSERT OR REPLACE INTO activations(activation_id, namespace, name, start, doc) VALUES(?1, ?2, ?3, ?4, ?5)"},
        {w_insert_missing_, wdb_.get(),
         "INSERT OR IGNORE INTO activations(activation_id, namespace, name, start, doc) VALUES(?1, ?2, ?3, ?4, ?5)"},
        {w_count_, wdb_.get(), "SELECT COUNT(*) FROM activations"},
        {w_prune_older_, wdb_.get(),
         "DELETE FROM activations WHERE rowid IN "
         "(SELECT rowid FROM activations WHERE start < ?1 ORDER BY start LIMIT ?2)"},
        // The rowid grows with each insert: the first written go first.
        {w_prune_oldest_, wdb_.get(),
         "DELETE FROM activations WHERE rowid IN (SELECT rowid FROM activations ORDER BY rowid LIMIT ?1)"},
    };
    for (auto& s : statements) WOW_RETURN_IF_ERROR(s.stmt.Prepare(s.db, s.sql));
    return Status::Ok();
  }

  // Runs `body` in one write transaction on the writer's connection.
  template <typename F>
  Status InTransaction(std::string_view what, F&& body) {
    return RunTransaction(wdb_.get(), w_begin_, w_commit_, w_rollback_, what, std::forward<F>(body));
  }
  // ... on the API's connection; db_mu_ held.
  template <typename F>
  Status InApiTransaction(std::string_view what, F&& body) {
    return RunTransaction(db_.get(), begin_, commit_, rollback_, what, std::forward<F>(body));
  }
  template <typename F>
  static Status RunTransaction(sqlite3* db, const Statement& begin, const Statement& commit, const Statement& rollback,
                               std::string_view what, F&& body) {
    {
      Use u(begin);
      if (u.Step() != SQLITE_DONE) return SqlError(db, fmt::format("starting {}", what));
    }
    Status st = body();
    if (st.ok()) {
      Use u(commit);
      if (u.Step() == SQLITE_DONE) return Status::Ok();
      st = SqlError(db, fmt::format("committing {}", what));
    }
    if (!sqlite3_get_autocommit(db)) {
      Use u(rollback);
      u.Step();
    }
    return st;
  }

  // The next action revision; db_mu_ held.
  Result<int64_t> NextRevisionLocked() {
    Use u(next_revision_);
    if (u.Step() != SQLITE_ROW) return SqlError(db_.get(), "numbering an action revision");
    int64_t revision = u.ColumnInt(0);
    if (u.Step() != SQLITE_DONE) return SqlError(db_.get(), "numbering an action revision");
    return revision;
  }

  // `rc` gets SQLite's answer.
  Status InsertActivation(const Statement& stmt, const Columns& c, std::string_view doc, int* rc = nullptr) {
    Use u(stmt);
    u.Text(1, c.id).Text(2, c.ns).Text(3, c.name).Int(4, c.start).Text(5, doc);
    int step = u.Step();
    if (rc) *rc = step;
    if (step != SQLITE_DONE) return SqlError(wdb_.get(), fmt::format("storing activation {}", c.id));
    return Status::Ok();
  }

  // Errors that retrying cannot fix: the record, not the database, is at
  // fault (e.g. larger than SQLite's maximum length).
  static bool RecordIsAtFault(int rc) {
    int primary = rc & 0xff;
    return primary == SQLITE_TOOBIG || primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH ||
           primary == SQLITE_RANGE;
  }

  // Completed records the database lacks are inserted; accepted activations
  // without a record are recorded as interrupted. The journal files are
  // emptied only after the commit (Open truncates the journal).
  Status Recover() {
    ::unlink(tmp_journal_path_.c_str());  // a compaction that did not finish
    JournalContent content;
    for (const fs::path& path : {old_journal_path_, journal_path_}) {
      auto text = ReadFile(path);
      if (!text.ok()) {
        if (text.status().code() == Code::kNotFound) continue;
        return text.status();
      }
      ParseJournal(*text, content);
    }
    skipped_ = content.skipped;
    if (!content.completed.empty() || !content.accepted.empty()) {
      size_t recovered = 0, interrupted = 0;
      WOW_RETURN_IF_ERROR(InTransaction("recovering the activation journal", [&]() -> Status {
        for (const auto& [cols, doc] : content.completed) {
          WOW_RETURN_IF_ERROR(InsertActivation(w_insert_missing_, cols, doc));
          recovered += sqlite3_changes(wdb_.get()) > 0 ? 1 : 0;
        }
        for (const auto& [id, a] : content.accepted) {
          if (content.completed_index.count(id)) continue;
          Columns cols{id, a.ns, a.name, a.start};
          WOW_RETURN_IF_ERROR(InsertActivation(w_insert_missing_, cols, ToJson(InterruptedRecord(id, a))));
          if (sqlite3_changes(wdb_.get()) > 0) {
            ++recovered;
            ++interrupted;
          }
        }
        return Status::Ok();
      }));
      recovered_ = recovered;
      interrupted_ = interrupted;
    }
    if (::unlink(old_journal_path_.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError("remove", old_journal_path_, errno);
    }
    return Status::Ok();
  }

  // ---- journal (all under mu_)

  // One write() of one whole line; a partial write is cut back so that the
  // next line starts on a line of its own.
  Status AppendLocked(std::string_view line) {
    if (journal_fd_ < 0) return Status::IoError("store: the activation journal is not open");
    size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(journal_fd_, line.data() + done, line.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        if (done > 0 && ::ftruncate(journal_fd_, static_cast<off_t>(journal_size_)) != 0) {
          // Terminate the fragment instead; recovery skips it.
          if (::write(journal_fd_, "\n", 1) == 1) journal_size_ += done + 1;
        }
        return ErrnoError("append to", journal_path_, err);
      }
      done += static_cast<size_t>(n);
    }
    journal_size_ += line.size();
    return Status::Ok();
  }

  // The `a` lines of the activations still running.
  std::string InflightLines() const {
    std::string out;
    for (const auto& [id, a] : inflight_) out += AcceptLine(id, a);
    return out;
  }

  Status WriteAll(int fd, std::string_view data, const fs::path& path) {
    while (!data.empty()) {
      ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("write", path, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  // Called by the writer after each commit.
  void MaintainJournalLocked() {
    if (old_journal_ && old_outstanding_ == 0) {
      // Every record journaled in the old file is committed; its running
      // activations were copied into the current one when it was rotated.
      if (::unlink(old_journal_path_.c_str()) == 0 || errno == ENOENT) old_journal_ = false;
    }
    if (queue_.empty()) {
      // Everything journaled is committed: keep only the running activations.
      if (journal_size_ == 0) return;
      if (inflight_.empty()) {
        if (::ftruncate(journal_fd_, 0) == 0) journal_size_ = journal_base_ = 0;
      } else if (journal_size_ - journal_base_ >= std::min<uint64_t>(kCompactSlack, options_.journal_rotate_bytes)) {
        (void)ReplaceJournalLocked(/*keep_old=*/false);
      }
    } else if (!old_journal_ && journal_size_ >= options_.journal_rotate_bytes) {
      (void)ReplaceJournalLocked(/*keep_old=*/true);
    }
  }

  // Starts a new journal holding the running activations' `a` lines. With
  // `keep_old` the current file becomes the old journal (its records are not
  // all committed yet); otherwise it is replaced atomically.
  Status ReplaceJournalLocked(bool keep_old) {
    std::string carried = InflightLines();
    int fd = OpenPrivate(tmp_journal_path_, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
    if (fd < 0) return ErrnoError("create", tmp_journal_path_, errno);
    Status st = WriteAll(fd, carried, tmp_journal_path_);
    if (st.ok() && keep_old && ::rename(journal_path_.c_str(), old_journal_path_.c_str()) != 0) {
      st = ErrnoError("rename", journal_path_, errno);
    }
    if (st.ok() && ::rename(tmp_journal_path_.c_str(), journal_path_.c_str()) != 0) {
      st = ErrnoError("rename", tmp_journal_path_, errno);
      // Put the journal back: records still go to the file we write.
      if (keep_old) (void)::rename(old_journal_path_.c_str(), journal_path_.c_str());
    }
    if (!st.ok()) {
      ::close(fd);
      ::unlink(tmp_journal_path_.c_str());
      return st;
    }
    ::close(journal_fd_);
    journal_fd_ = fd;
    journal_size_ = journal_base_ = carried.size();
    if (keep_old) {
      old_journal_ = true;
      old_outstanding_ = queue_.size();
      ++gen_;
    }
    return Status::Ok();
  }

  // ---- the batch writer

  void WriterLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    std::chrono::milliseconds backoff{0};
    while (true) {
      if (!stop_ && PruneDue()) {
        // One prune transaction, then the records again.
        lock.unlock();
        Status pruned = PruneOnce();
        lock.lock();
        if (!pruned.ok()) writer_error_ = pruned;
      }
      if (queue_.empty()) {
        if (stop_) break;
        if (PruneDue()) continue;
        if (PruneEnabled()) {
          work_cv_.wait_until(lock, next_prune_);
        } else {
          work_cv_.wait(lock);
        }
        continue;
      }
      if (!stop_ && flush_waiters_ == 0 && queue_.size() < options_.batch_size) {
        auto deadline = queue_.front()->queued + options_.batch_interval;
        if (Clock::now() < deadline) {
          work_cv_.wait_until(lock, deadline);
          continue;
        }
      }
      size_t n = std::min(queue_.size(), std::max(options_.batch_size, kMaxBatch));
      std::vector<RecordPtr> batch(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
      uint64_t batch_bytes = 0;
      for (const RecordPtr& r : batch) batch_bytes += r->line.size();
      queue_bytes_ -= batch_bytes;
      space_cv_.notify_all();
      lock.unlock();
      Status dropped;
      uint64_t inserted = 0;
      Status st = InTransaction("a batch of activation records", [&]() -> Status {
        inserted = 0;
        for (const RecordPtr& r : batch) {
          int rc = SQLITE_OK;
          Status s = InsertActivation(w_insert_, r->cols, r->Json(), &rc);
          if (s.ok()) {
            ++inserted;
            continue;
          }
          // One bad record must not block all the others forever.
          if (!RecordIsAtFault(rc)) return s;
          dropped = s;
        }
        return Status::Ok();
      });
      lock.lock();
      if (!dropped.ok()) writer_error_ = dropped.WithContext("dropped an activation record");
      if (!st.ok()) {
        // Keep the records (they are still journaled) and retry later.
        queue_.insert(queue_.begin(), batch.begin(), batch.end());
        queue_bytes_ += batch_bytes;
        writer_error_ = st;
        ++writer_failures_;
        writer_failing_ = true;
        done_cv_.notify_all();
        space_cv_.notify_all();
        if (stop_) break;  // the next Open recovers them from the journal
        backoff = std::clamp(backoff * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(2000));
        work_cv_.wait_for(lock, backoff, [&] { return stop_; });
        continue;
      }
      backoff = std::chrono::milliseconds(0);
      writer_failing_ = false;
      if (stored_) *stored_ += inserted;  // an upper bound: a replaced record counts too
      for (const RecordPtr& r : batch) {
        auto it = pending_.find(r->cols.id);
        if (it != pending_.end() && it->second == r) pending_.erase(it);
        if (r->gen != gen_) --old_outstanding_;
      }
      committed_through_ = batch.back()->seq;
      MaintainJournalLocked();
      done_cv_.notify_all();
    }
  }

  // ---- retention (the writer thread only)

  bool PruneEnabled() const { return options_.activation_retention.count() > 0 || options_.max_activations_stored > 0; }

  // How far past max_activations_stored the count may go before the writer
  // prunes without waiting for the next round: 1%, at most kPruneBatch.
  uint64_t CountSlack() const { return std::min<uint64_t>(kPruneBatch, options_.max_activations_stored / 100); }

  bool PruneDue() const {
    if (!PruneEnabled()) return false;
    if (prune_more_ || Clock::now() >= next_prune_) return true;
    return options_.max_activations_stored > 0 && stored_ && *stored_ > options_.max_activations_stored + CountSlack();
  }

  // Deletes up to kPruneBatch activations past their retention in one
  // transaction: by age (their start), then beyond the count the first
  // written (a long-running activation, written when it completes, is not
  // the first to go).
  Status PruneOnce() {
    uint64_t deleted = 0;
    std::optional<uint64_t> stored;
    Status st = InTransaction("pruning activations", [&]() -> Status {
      deleted = 0;
      stored.reset();
      if (options_.activation_retention.count() > 0) {
        int64_t cutoff = NowMs() - static_cast<int64_t>(options_.activation_retention.count());
        Use u(w_prune_older_);
        u.Int(1, cutoff).Int(2, static_cast<int64_t>(kPruneBatch));
        if (u.Step() != SQLITE_DONE) return SqlError(wdb_.get(), "pruning activations by age");
        deleted += static_cast<uint64_t>(sqlite3_changes(wdb_.get()));
      }
      if (options_.max_activations_stored > 0 && deleted < kPruneBatch) {
        uint64_t n = 0;
        {
          Use c(w_count_);
          if (c.Step() != SQLITE_ROW) return SqlError(wdb_.get(), "counting activations");
          n = static_cast<uint64_t>(c.ColumnInt(0));
        }
        if (n > options_.max_activations_stored) {
          Use u(w_prune_oldest_);
          u.Int(1,
                static_cast<int64_t>(std::min<uint64_t>(n - options_.max_activations_stored, kPruneBatch - deleted)));
          if (u.Step() != SQLITE_DONE) return SqlError(wdb_.get(), "pruning activations by count");
          uint64_t changed = static_cast<uint64_t>(sqlite3_changes(wdb_.get()));
          deleted += changed;
          n -= std::min(n, changed);
        }
        stored = n;
      }
      return Status::Ok();
    });
    if (!st.ok()) {
      // Retried at the next round (the count too: no trigger until then).
      prune_more_ = false;
      stored_.reset();
      next_prune_ = Clock::now() + options_.prune_interval;
      return st;
    }
    pruned_ += deleted;
    if (stored) {
      stored_ = stored;
    } else if (stored_) {
      *stored_ -= std::min(*stored_, deleted);
    }
    prune_more_ = deleted > 0 && (deleted >= kPruneBatch || (stored && *stored > options_.max_activations_stored));
    if (!prune_more_) {
      next_prune_ = Clock::now() + options_.prune_interval;
      // Over the count yet nothing deleted (cannot happen): no count trigger
      // before the next round, rather than a busy loop.
      if (stored_ && *stored_ > options_.max_activations_stored + CountSlack()) stored_.reset();
    }
    return Status::Ok();
  }

  bool QueueFullLocked() const {
    return (options_.max_pending > 0 && queue_.size() >= options_.max_pending) ||
           (options_.max_pending_bytes > 0 && queue_bytes_ >= options_.max_pending_bytes);
  }

  const fs::path dir_;
  const fs::path journal_path_;
  const fs::path old_journal_path_;
  const fs::path tmp_journal_path_;
  StoreOptions options_;
  int lock_fd_ = -1;

  // The API's connection, under db_mu_.
  std::mutex db_mu_;
  Connection db_;
  Statement put_subject_, get_subject_, list_subjects_, delete_other_subjects_;
  Statement begin_, commit_, rollback_, next_revision_, raise_revision_;
  Statement insert_action_, replace_action_, supersede_action_, prune_superseded_, get_action_, get_action_revision_,
      list_actions_, delete_action_, delete_superseded_, count_actions_;
  Statement get_activation_, list_activations_, list_activations_by_name_;
  // The writer's connection: Open, then only the writer thread.
  Connection wdb_;
  Statement w_begin_, w_commit_, w_rollback_, w_insert_, w_insert_missing_;
  Statement w_count_, w_prune_older_, w_prune_oldest_;
  // Retention: the next round (at once after Open), whether the last prune
  // left more to delete, the number of activations stored (exact after a
  // count, an upper bound after inserts; unknown before the first count).
  Clock::time_point next_prune_ = Clock::time_point::min();
  bool prune_more_ = false;
  std::optional<uint64_t> stored_;
  std::atomic<uint64_t> pruned_{0};

  // Journal, pending records and the writer's state.
  std::mutex mu_;
  std::condition_variable work_cv_;   // wakes the writer
  std::condition_variable done_cv_;   // a batch was committed (or failed)
  std::condition_variable space_cv_;  // the queue shrank
  int journal_fd_ = -1;
  uint64_t journal_size_ = 0;
  uint64_t journal_base_ = 0;                           // the carried `a` lines at the start of the journal
  bool old_journal_ = false;                            // activations.journal.old exists
  uint64_t gen_ = 0;                                    // incremented when the journal is rotated
  size_t old_outstanding_ = 0;                          // queued records whose line is in the old journal
  std::unordered_map<std::string, RecordPtr> pending_;  // by id: queued or being committed
  std::deque<RecordPtr> queue_;                         // not yet taken by the writer, by seq
  uint64_t queue_bytes_ = 0;                            // the lines of the records in queue_
  std::unordered_map<std::string, Accepted> inflight_;  // accepted, not completed
  uint64_t last_seq_ = 0;
  uint64_t committed_through_ = 0;
  int flush_waiters_ = 0;
  uint64_t writer_failures_ = 0;
  bool writer_failing_ = false;
  Status writer_error_;
  bool stop_ = false;
  std::thread writer_;

  size_t recovered_ = 0;
  size_t interrupted_ = 0;
  size_t skipped_ = 0;
};

Result<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& dir, StoreOptions options) {
  auto impl = std::make_unique<Impl>(dir, options);
  WOW_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Status Store::PutSubject(const Subject& subject) { return impl_->PutSubject(subject); }
Status Store::SetOnlySubject(const Subject& subject) {
  WOW_RETURN_IF_ERROR(impl_->PutSubject(subject));
  return impl_->DeleteOtherSubjects(subject);
}
Result<std::optional<Subject>> Store::Authenticate(const std::string& uuid, const std::string& key) {
  return impl_->Authenticate(uuid, key);
}
Result<std::vector<Subject>> Store::ListSubjects() { return impl_->ListSubjects(); }

Status Store::PutAction(const StoredAction& action, bool overwrite) { return impl_->PutAction(action, overwrite); }
Result<int64_t> Store::NewActionRevision() { return impl_->NewActionRevision(); }
Result<std::optional<StoredAction>> Store::GetAction(const std::string& ns, const std::string& name) {
  return impl_->GetAction(ns, name);
}
Result<std::optional<StoredAction>> Store::GetActionRevision(const std::string& ns, const std::string& name,
                                                             int64_t revision) {
  return impl_->GetActionRevision(ns, name, revision);
}
Result<std::vector<StoredAction>> Store::ListActions(const std::string& ns, size_t limit, size_t skip) {
  return impl_->ListActions(ns, limit, skip);
}
Result<bool> Store::DeleteAction(const std::string& ns, const std::string& name) {
  return impl_->DeleteAction(ns, name);
}
Result<size_t> Store::CountActions(const std::string& ns) { return impl_->CountActions(ns); }

Status Store::AcceptActivation(const std::string& activation_id, const std::string& ns, const std::string& name,
                               int64_t start_ms) {
  return impl_->AcceptActivation(activation_id, ns, name, start_ms);
}
Status Store::CompleteActivation(boost::json::object doc) { return impl_->CompleteActivation(std::move(doc)); }
Result<std::optional<boost::json::object>> Store::GetActivation(const std::string& ns,
                                                                const std::string& activation_id) {
  return impl_->GetActivation(ns, activation_id);
}
Result<std::vector<boost::json::object>> Store::ListActivations(const ActivationQuery& query) {
  return impl_->ListActivations(query);
}
Status Store::Flush() { return impl_->Flush(); }

size_t Store::recovered() const { return impl_->recovered(); }
size_t Store::interrupted() const { return impl_->interrupted(); }
size_t Store::skipped() const { return impl_->skipped(); }
uint64_t Store::pruned() const { return impl_->pruned(); }

}  // namespace wow::controller
