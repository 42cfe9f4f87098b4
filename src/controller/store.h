#pragma once

// The embedded store of `wow serve`: SQLite in WAL mode in the data
// directory. Entities (subjects, actions) are written synchronously;
// activation records are written off the request path in batches, with a
// small append-only journal that makes every activation id handed to a
// client durable at once (it survives kill -9): on the next Open, journaled
// records missing from the database are inserted, and activations accepted
// but never completed are recorded as failed with a message saying they were
// interrupted.
//
// Documents are OpenWhisk's JSON as the REST API serves them; the store adds
// the indexed columns it needs. Thread-safe. One Store per directory: Open
// takes an exclusive lock (`<dir>/store.lock`) and fails while another Store,
// in this process or another, holds it.
//
// The journal (`<dir>/activations.journal`) is one line per event, written
// with a single write() in O_APPEND mode: `a {"activationId",..}` when an
// activation is accepted, `c <record>` when it completes. It stays small:
// whenever the batch writer has committed everything, the journal is cut
// back to the `a` lines of activations still running; under a load that
// never lets it drain, a journal past `journal_rotate_bytes` is renamed to
// `activations.journal.old` (with the running activations' `a` lines copied
// into the new journal) and deleted as soon as every record it holds is
// committed. Recovery reads `.old`, then the journal, and skips unreadable
// lines (a torn last line after kill -9).
//
// Files: Open creates `dir` with mode 0700 when it does not exist, and every
// file the store writes in it (wow.db and SQLite's -wal/-shm, which copy the
// database's mode, the journals, store.lock) is created 0600; an existing
// one left wider by an older wow is narrowed to 0600 on Open. Keys are not
// stored: a subject row holds a per-subject random salt and SHA-256(salt ||
// key) (schema version 2; a version-1 database with plain keys is migrated
// on Open and the plain keys' pages are zeroed).
//
// Retention: the batch writer deletes activations whose `start` is older
// than `activation_retention`, and beyond `max_activations_stored` the ones
// written to the database first, in transactions of at most 1,000 rows
// between its batches, at start-up and then every `prune_interval`. Only
// committed records are deleted: an activation still running (accepted, not
// completed) is in the journal, not in the database, and its record is
// written when it completes.
//
// Action versions: every stored version of an action has a revision, a
// number unique in the store that is never reused (not even after the
// action is deleted and created again). When an update replaces a version,
// the replaced one is kept in the same transaction, with its code, among the
// action's last `superseded_versions_kept` superseded versions, so that an
// activation admitted for it still loads exactly that code on a cold start
// (GetActionRevision). Deleting the action deletes them too.

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace wow::controller {

struct StoreOptions {
  // Records are committed at least this often while any are pending.
  std::chrono::milliseconds batch_interval{20};
  // ... or as soon as this many are pending.
  size_t batch_size = 256;
  // Under a load that never drains the queue, the journal is rotated when it
  // reaches this size (see above).
  uint64_t journal_rotate_bytes = 4 << 20;
  // CompleteActivation waits while this many records are queued (the batch
  // writer has fallen behind); 0 = never wait. Memory stays bounded.
  size_t max_pending = 20'000;
  // ... or while the queued records' JSON adds up to this many bytes (64 MiB;
  // 0 = no byte bound). A record is admitted whenever the queue is below both
  // bounds, so one record may exceed this. The batch being written (taken
  // from the queue, at most 8,192 records) is on top of it. While the writer
  // is failing (database errors) callers do not wait, as with max_pending:
  // the records are journaled, and the queue grows until the writer recovers.
  uint64_t max_pending_bytes = 64ull << 20;
  // Activations whose `start` is older than this are deleted; 0 = kept
  // forever. Default 168 hours (7 days).
  std::chrono::milliseconds activation_retention = std::chrono::hours(168);
  // At most this many activations are kept (the last written); 0 = no
  // limit. Default 100,000. Between two prune rounds the database may hold
  // up to 1% (at most 1,000) more before the writer prunes without waiting
  // for the next round.
  size_t max_activations_stored = 100'000;
  // How often the writer prunes by age and count (it also prunes at once
  // after Open). Default 1 minute.
  std::chrono::milliseconds prune_interval{60'000};
  // Superseded versions of each action kept with their code (the latest
  // ones; older ones are deleted by the update that supersedes them), for
  // activations admitted before an update that cold-start after it; 0 = none
  // (such activations then fail, saying the action changed). Each may hold
  // an action's whole code. Default 4.
  size_t superseded_versions_kept = 4;
};

// A subject: the credential `uuid:key` and the namespace it owns. The store
// keeps only a salted hash of `key`: subjects read back (ListSubjects) have
// an empty key; Authenticate returns the key it was given.
struct Subject {
  std::string uuid;
  std::string key;
  std::string name;        // the subject name, e.g. "guest"
  std::string namespace_;  // e.g. "guest"
};

// An action as stored: `doc` is the whole OpenWhisk action document
// (namespace, name, version, publish, exec {kind, code, binary, main},
// parameters, annotations, limits, updated).
struct StoredAction {
  std::string namespace_;
  std::string name;  // "name" or "package/name"
  boost::json::object doc;
  // Names this version (see "Action versions" above); 0 = not (yet) stored.
  int64_t revision = 0;
};

// Filters of GET /activations (OpenWhisk's query parameters).
struct ActivationQuery {
  std::string namespace_;
  std::optional<std::string> name;  // the action name (with package path)
  std::optional<int64_t> since_ms;  // start >= since
  std::optional<int64_t> upto_ms;   // start <= upto
  size_t limit = 30;                // 0 = no limit
  size_t skip = 0;
};

class Store {
 public:
  // Opens (creating if needed) `<dir>/wow.db` and `<dir>/activations.journal`,
  // then recovers from the journal as described above.
  static Result<std::unique_ptr<Store>> Open(const std::filesystem::path& dir, StoreOptions options = {});
  // Flushes pending records, then closes.
  ~Store();

  // ---- subjects
  Status PutSubject(const Subject& subject);
  // Puts `subject` and removes every other credential of its namespace (a
  // replaced credential stops working).
  Status SetOnlySubject(const Subject& subject);
  // The subject whose uuid and key match, if any (the salted hashes are
  // compared in constant time).
  Result<std::optional<Subject>> Authenticate(const std::string& uuid, const std::string& key);
  // By uuid; without their keys (see Subject).
  Result<std::vector<Subject>> ListSubjects();

  // ---- actions (synchronous)
  // Inserts, or replaces when `overwrite`; kAlreadyExists when it exists and
  // !overwrite. The caller sets the doc's version, and the revision when it
  // reserved one (NewActionRevision); revision 0 gets a new one. A replaced
  // version is kept as superseded (see above), in the same transaction.
  Status PutAction(const StoredAction& action, bool overwrite);
  // Reserves a revision for a PutAction to come (e.g. to name the version's
  // container before it is stored). Never returned twice.
  Result<int64_t> NewActionRevision();
  // The current version, with its revision.
  Result<std::optional<StoredAction>> GetAction(const std::string& ns, const std::string& name);
  // That exact version: the current one or a kept superseded one; nullopt
  // when it is neither (superseded too long ago, or the action was deleted).
  Result<std::optional<StoredAction>> GetActionRevision(const std::string& ns, const std::string& name,
                                                        int64_t revision);
  // Sorted by name; `limit` 0 = all.
  Result<std::vector<StoredAction>> ListActions(const std::string& ns, size_t limit, size_t skip);
  // False when there was none. Deletes its superseded versions too.
  Result<bool> DeleteAction(const std::string& ns, const std::string& name);
  Result<size_t> CountActions(const std::string& ns);

  // ---- activations
  // Journals that `activation_id` was accepted (before its id is handed to a
  // client). One small append; no fsync (survives a process crash).
  Status AcceptActivation(const std::string& activation_id, const std::string& ns, const std::string& name,
                          int64_t start_ms);
  // Journals the finished record and queues it for the batch writer. `doc` is
  // the OpenWhisk activation record (activationId, namespace, name, start,
  // end, ... ). Visible to GetActivation/ListActivations at once. The name
  // it is listed under is the one `ActivationQuery::name` matches: the `path`
  // annotation without its namespace when the record has one ("ns/pkg/a" ->
  // "pkg/a"), else `name`. kInvalidArgument when a field is missing; when the
  // journal cannot be written the record is still queued and the kIoError
  // returned says it would not survive a crash.
  Status CompleteActivation(boost::json::object doc);
  Result<std::optional<boost::json::object>> GetActivation(const std::string& ns, const std::string& activation_id);
  // Newest first (by start).
  Result<std::vector<boost::json::object>> ListActivations(const ActivationQuery& query);
  // Waits until every record completed before the call is in the database;
  // the batch writer's error if a commit fails meanwhile.
  Status Flush();

  // How many records Open recovered from the journal, and how many of those
  // were marked interrupted (for the startup log and tests).
  size_t recovered() const;
  size_t interrupted() const;
  // Journal lines Open could not read (a torn last line, corruption).
  size_t skipped() const;
  // Activations the writer has deleted by retention (age or count) since
  // Open.
  uint64_t pruned() const;

  class Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wow::controller
