#include "controller/store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "common/files.h"
#include "common/json.h"

namespace wow::controller {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// The tests of other features keep every record (their `start` times are
// from 1970).
StoreOptions KeepAll() {
  StoreOptions o;
  o.activation_retention = std::chrono::milliseconds(0);
  o.max_activations_stored = 0;
  return o;
}

// Records stay pending until Flush (or the destructor).
StoreOptions Lazy() {
  StoreOptions o = KeepAll();
  o.batch_interval = std::chrono::hours(1);
  o.batch_size = 1'000'000;
  return o;
}

std::unique_ptr<Store> OpenStore(const fs::path& dir, StoreOptions options = KeepAll()) {
  auto store = Store::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

json::object Activation(const std::string& id, const std::string& ns, const std::string& name, int64_t start) {
  json::object response;
  response["status"] = "success";
  response["statusCode"] = 0;
  response["success"] = true;
  response["result"] = json::object{{"id", id}};
  json::object doc;
  doc["activationId"] = id;
  doc["namespace"] = ns;
  doc["name"] = name;
  doc["version"] = "0.0.1";
  doc["subject"] = ns;
  doc["start"] = start;
  doc["end"] = start + 5;
  doc["duration"] = 5;
  doc["response"] = std::move(response);
  doc["logs"] = json::array{"2024-01-01T00:00:00.000Z stdout: hello"};
  doc["annotations"] = json::array{json::object{{"key", "path"}, {"value", ns + "/" + name}}};
  return doc;
}

// ActivationQuery without designated initialisers (-Wmissing-field-initializers).
struct Q {
  ActivationQuery q;
  explicit Q(std::string ns) { q.namespace_ = std::move(ns); }
  Q& Name(std::string v) {
    q.name = std::move(v);
    return *this;
  }
  Q& Since(int64_t v) {
    q.since_ms = v;
    return *this;
  }
  Q& Upto(int64_t v) {
    q.upto_ms = v;
    return *this;
  }
  Q& Limit(size_t v) {
    q.limit = v;
    return *this;
  }
  Q& Skip(size_t v) {
    q.skip = v;
    return *this;
  }
  operator ActivationQuery() const { return q; }  // NOLINT: implicit by design
};

std::vector<std::string> Ids(const std::vector<json::object>& docs) {
  std::vector<std::string> ids;
  for (const auto& d : docs) ids.emplace_back(d.at("activationId").as_string());
  return ids;
}

std::vector<std::string> List(Store& store, ActivationQuery q) {
  auto r = store.ListActivations(q);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? Ids(*r) : std::vector<std::string>{};
}

// Direct access to the database, to look behind the store's back.
void Sql(const fs::path& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "wow.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in " << sql;
  sqlite3_free(err);
  sqlite3_close(db);
}

int64_t SqlCount(const fs::path& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open((dir / "wow.db").c_str(), &db) != SQLITE_OK) return -1;
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* s = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
    n = sqlite3_column_int64(s, 0);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

int64_t CommittedActivations(const fs::path& dir) { return SqlCount(dir, "SELECT COUNT(*) FROM activations"); }

uintmax_t FileSize(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

// ---- subjects

TEST(StoreTest, SubjectsAuthenticate) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->PutSubject({"uuid-1", "secret-key", "guest", "guest"}).ok());
  ASSERT_TRUE(store->PutSubject({"uuid-2", "other-key", "alice", "alice-ns"}).ok());

  auto ok = store->Authenticate("uuid-1", "secret-key");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_TRUE(ok->has_value());
  EXPECT_EQ((*ok)->name, "guest");
  EXPECT_EQ((*ok)->namespace_, "guest");

  for (const auto& [uuid, key] : std::vector<std::pair<std::string, std::string>>{{"uuid-1", "secret-kez"},
                                                                                  {"uuid-1", "secret-ke"},
                                                                                  {"uuid-1", "secret-key2"},
                                                                                  {"uuid-1", ""},
                                                                                  {"uuid-1", "other-key"},
                                                                                  {"uuid-3", "secret-key"}}) {
    auto r = store->Authenticate(uuid, key);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value()) << uuid << ":" << key;
  }

  // A new key replaces the old one.
  ASSERT_TRUE(store->PutSubject({"uuid-1", "new-key", "guest", "guest"}).ok());
  EXPECT_FALSE(store->Authenticate("uuid-1", "secret-key")->has_value());
  EXPECT_TRUE(store->Authenticate("uuid-1", "new-key")->has_value());

  EXPECT_EQ((*store->Authenticate("uuid-1", "new-key"))->key, "new-key");

  auto all = store->ListSubjects();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].uuid, "uuid-1");
  EXPECT_EQ((*all)[0].name, "guest");
  EXPECT_EQ((*all)[1].namespace_, "alice-ns");
  EXPECT_EQ((*all)[1].key, "") << "keys are not stored";

  store.reset();
  store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->Authenticate("uuid-2", "other-key")->has_value());
}

// ---- actions

StoredAction Action(const std::string& ns, const std::string& name, const std::string& version) {
  json::object doc;
  doc["namespace"] = ns;
  doc["name"] = name;
  doc["version"] = version;
  doc["exec"] = json::object{{"kind", "wasm"}, {"code", "AGFzbQ=="}, {"binary", true}};
  doc["updated"] = 1700000000000;
  return StoredAction{ns, name, std::move(doc)};
}

std::vector<std::string> Names(const std::vector<StoredAction>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions) out.push_back(a.name);
  return out;
}

TEST(StoreTest, Actions) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  for (const char* name : {"zeta", "alpha", "pkg/b", "pkg/a", "mid"}) {
    ASSERT_TRUE(store->PutAction(Action("guest", name, "0.0.1"), false).ok()) << name;
  }
  ASSERT_TRUE(store->PutAction(Action("other", "alpha", "0.0.1"), false).ok());

  Status again = store->PutAction(Action("guest", "alpha", "0.0.2"), false);
  EXPECT_EQ(again.code(), Code::kAlreadyExists) << again.ToString();
  EXPECT_EQ(store->GetAction("guest", "alpha")->value().doc.at("version"), "0.0.1");
  ASSERT_TRUE(store->PutAction(Action("guest", "alpha", "0.0.2"), true).ok());
  auto got = store->GetAction("guest", "alpha");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->doc.at("version"), "0.0.2");
  EXPECT_EQ((*got)->namespace_, "guest");
  EXPECT_EQ((*got)->doc.at("exec").at("kind"), "wasm");
  EXPECT_FALSE(store->GetAction("guest", "nope")->has_value());
  EXPECT_FALSE(store->GetAction("nobody", "alpha")->has_value());

  auto all = store->ListActions("guest", 0, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Names(*all), (std::vector<std::string>{"alpha", "mid", "pkg/a", "pkg/b", "zeta"}));
  EXPECT_EQ(Names(*store->ListActions("guest", 2, 0)), (std::vector<std::string>{"alpha", "mid"}));
  EXPECT_EQ(Names(*store->ListActions("guest", 2, 2)), (std::vector<std::string>{"pkg/a", "pkg/b"}));
  EXPECT_EQ(Names(*store->ListActions("guest", 2, 4)), (std::vector<std::string>{"zeta"}));
  EXPECT_EQ(Names(*store->ListActions("guest", 0, 3)), (std::vector<std::string>{"pkg/b", "zeta"}));
  EXPECT_TRUE(store->ListActions("guest", 10, 5)->empty());
  EXPECT_EQ(Names(*store->ListActions("other", 0, 0)), (std::vector<std::string>{"alpha"}));
  EXPECT_EQ(*store->CountActions("guest"), 5u);
  EXPECT_EQ(*store->CountActions("other"), 1u);
  EXPECT_EQ(*store->CountActions("nobody"), 0u);

  auto deleted = store->DeleteAction("guest", "pkg/a");
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(*deleted);
  EXPECT_FALSE(*store->DeleteAction("guest", "pkg/a"));
  EXPECT_FALSE(store->GetAction("guest", "pkg/a")->has_value());
  EXPECT_EQ(*store->CountActions("guest"), 4u);

  store.reset();
  store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(Names(*store->ListActions("guest", 0, 0)), (std::vector<std::string>{"alpha", "mid", "pkg/b", "zeta"}));
  EXPECT_EQ(store->GetAction("guest", "alpha")->value().doc.at("version"), "0.0.2");
  EXPECT_EQ(SqlCount(dir.path(), "SELECT updated FROM actions WHERE name = 'zeta'"), 1700000000000);
}

TEST(StoreTest, InvalidInputIsRefused) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->PutAction(Action("", "a", "0.0.1"), false).code(), Code::kInvalidArgument);
  json::object doc = Activation("id1", "guest", "a", 1);
  doc.erase("activationId");
  EXPECT_EQ(store->CompleteActivation(doc).code(), Code::kInvalidArgument);
  doc = Activation("id1", "guest", "a", 1);
  doc["start"] = "yesterday";
  EXPECT_EQ(store->CompleteActivation(doc).code(), Code::kInvalidArgument);
  EXPECT_EQ(store->AcceptActivation("", "guest", "a", 1).code(), Code::kInvalidArgument);
  EXPECT_TRUE(store->Flush().ok());
  EXPECT_EQ(CommittedActivations(dir.path()), 0);
}

// ---- action versions

StoredAction WithCode(StoredAction a, const std::string& code) {
  a.doc["exec"].as_object()["code"] = code;
  return a;
}

std::string CodeOf(const Result<std::optional<StoredAction>>& a) {
  if (!a.ok() || !a->has_value()) return "<none>";
  return std::string((*a)->doc.at("exec").at("code").as_string());
}

// Regression (issue 12, finding 10): an activation admitted for a version
// cold-starts after an update; the store still has that version's code.
TEST(StoreTest, SupersededVersionsAreKeptUpToTheCap) {
  TempDir dir;
  StoreOptions o = KeepAll();
  o.superseded_versions_kept = 2;
  auto store = OpenStore(dir.path(), o);
  ASSERT_TRUE(store);
  std::vector<int64_t> revisions;
  for (int v = 1; v <= 4; ++v) {
    auto a = WithCode(Action("guest", "a", fmt::format("0.0.{}", v)), fmt::format("code-{}", v));
    ASSERT_TRUE(store->PutAction(a, /*overwrite=*/v > 1).ok()) << v;
    auto got = store->GetAction("guest", "a");
    ASSERT_TRUE(got.ok() && got->has_value());
    revisions.push_back((*got)->revision);
    if (v > 1) {
      EXPECT_GT(revisions[v - 1], revisions[v - 2]) << "revisions grow";
    }
    // A neighbour's updates never touch these.
    ASSERT_TRUE(store->PutAction(WithCode(Action("guest", "b", "0.0.1"), "b"), v > 1).ok());
  }
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "a", revisions[3])), "code-4");  // current
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "a", revisions[2])), "code-3");
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "a", revisions[1])), "code-2");
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "a", revisions[0])), "<none>") << "past the cap";
  auto old = store->GetActionRevision("guest", "a", revisions[2]);
  ASSERT_TRUE(old.ok() && old->has_value());
  EXPECT_EQ((*old)->doc.at("version"), "0.0.3");
  EXPECT_EQ((*old)->revision, revisions[2]);
  // Not another action's revision, nor another namespace's.
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "b", revisions[2])), "<none>");
  EXPECT_EQ(CodeOf(store->GetActionRevision("other", "a", revisions[2])), "<none>");
  EXPECT_EQ(SqlCount(dir.path(), "SELECT COUNT(*) FROM superseded_actions WHERE name = 'a'"), 2);
  EXPECT_EQ(SqlCount(dir.path(), "SELECT COUNT(*) FROM superseded_actions WHERE name = 'b'"), 2);

  // Kept across a restart; deleted with the action.
  store.reset();
  store = OpenStore(dir.path(), o);
  ASSERT_TRUE(store);
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "a", revisions[2])), "code-3");
  ASSERT_TRUE(*store->DeleteAction("guest", "a"));
  for (int64_t r : revisions) EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "a", r)), "<none>") << r;
  EXPECT_EQ(SqlCount(dir.path(), "SELECT COUNT(*) FROM superseded_actions WHERE name = 'a'"), 0);
  EXPECT_EQ(SqlCount(dir.path(), "SELECT COUNT(*) FROM superseded_actions WHERE name = 'b'"), 2);

  // 0 keeps none.
  store.reset();
  o.superseded_versions_kept = 0;
  store = OpenStore(dir.path(), o);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->PutAction(WithCode(Action("guest", "b", "0.0.2"), "b2"), true).ok());
  EXPECT_EQ(SqlCount(dir.path(), "SELECT COUNT(*) FROM superseded_actions"), 0);
}

// Regression (issue 12, finding 10): delete + re-create starts again at
// version 0.0.1, but never at a revision the deleted action had.
TEST(StoreTest, RevisionsAreNeverReused) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  std::set<int64_t> seen;
  auto put = [&](const std::string& code, bool overwrite) {
    EXPECT_TRUE(store->PutAction(WithCode(Action("guest", "a", "0.0.1"), code), overwrite).ok());
    auto got = store->GetAction("guest", "a");
    EXPECT_TRUE(got.ok() && got->has_value());
    int64_t r = got.ok() && got->has_value() ? (*got)->revision : 0;
    EXPECT_GT(r, 0);
    EXPECT_TRUE(seen.insert(r).second) << "revision " << r << " came twice";
    return r;
  };
  int64_t first = put("one", false);
  ASSERT_TRUE(*store->DeleteAction("guest", "a"));
  int64_t second = put("two", false);
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "a", first)), "<none>") << "the deleted action's code";
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "a", second)), "two");
  // Reserved ones are never handed out again either, also after a restart
  // (the last revision was deleted: the counter, not the rows, remembers).
  auto reserved = store->NewActionRevision();
  ASSERT_TRUE(reserved.ok());
  EXPECT_TRUE(seen.insert(*reserved).second);
  ASSERT_TRUE(*store->DeleteAction("guest", "a"));
  store.reset();
  store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  put("three", false);
  // A caller's revision is stored as given, and the counter moves past it.
  auto a = WithCode(Action("guest", "a", "0.0.2"), "four");
  a.revision = *reserved;
  ASSERT_TRUE(store->PutAction(a, true).ok());
  EXPECT_EQ(store->GetAction("guest", "a")->value().revision, *reserved);
  a.revision = 1'000'000;
  ASSERT_TRUE(store->PutAction(a, true).ok());
  EXPECT_GT(*store->NewActionRevision(), 1'000'000);
  auto listed = store->ListActions("guest", 0, 0);
  ASSERT_TRUE(listed.ok() && listed->size() == 1u);
  EXPECT_EQ((*listed)[0].revision, 1'000'000);
}

// A database of schema version 2 (no revisions) opens and keeps working.
TEST(StoreTest, MigratesActionsOfSchemaVersion2) {
  TempDir dir;
  Sql(dir.path(),
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE subjects(uuid TEXT PRIMARY KEY NOT NULL, salt TEXT NOT NULL, key_hash TEXT NOT NULL,"
      "  name TEXT NOT NULL, namespace TEXT NOT NULL);"
      "CREATE TABLE actions(namespace TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
      "  updated INTEGER NOT NULL, PRIMARY KEY(namespace, name));"
      "CREATE TABLE activations(activation_id TEXT PRIMARY KEY NOT NULL, namespace TEXT NOT NULL,"
      "  name TEXT NOT NULL, start INTEGER NOT NULL, doc TEXT NOT NULL);"
      "CREATE INDEX activations_by_namespace ON activations(namespace, start DESC, activation_id DESC);"
      "CREATE INDEX activations_by_name ON activations(namespace, name, start DESC, activation_id DESC);"
      "CREATE INDEX activations_by_start ON activations(start);"
      "PRAGMA user_version = 2;");
  for (const char* name : {"x", "y"}) {
    Sql(dir.path(), fmt::format("INSERT INTO actions VALUES('guest', '{}', '{}', 1)", name,
                                ToJson(WithCode(Action("guest", name, "0.0.3"), std::string("old-") + name).doc)));
  }
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(SqlCount(dir.path(), "PRAGMA user_version"), 3);
  auto x = store->GetAction("guest", "x");
  auto y = store->GetAction("guest", "y");
  ASSERT_TRUE(x.ok() && x->has_value() && y.ok() && y->has_value());
  EXPECT_GT((*x)->revision, 0);
  EXPECT_GT((*y)->revision, 0);
  EXPECT_NE((*x)->revision, (*y)->revision);
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "x", (*x)->revision)), "old-x");
  // An update keeps the migrated version for its activations and numbers
  // the new one past every existing revision.
  ASSERT_TRUE(store->PutAction(WithCode(Action("guest", "x", "0.0.4"), "new-x"), true).ok());
  auto updated = store->GetAction("guest", "x");
  ASSERT_TRUE(updated.ok() && updated->has_value());
  EXPECT_GT((*updated)->revision, std::max((*x)->revision, (*y)->revision));
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "x", (*x)->revision)), "old-x");
  EXPECT_EQ(CodeOf(store->GetActionRevision("guest", "x", (*updated)->revision)), "new-x");
}

// ---- activations

TEST(StoreTest, ActivationVisibleAtOnceThenCommitted) {
  TempDir dir;
  auto store = OpenStore(dir.path(), Lazy());
  ASSERT_TRUE(store);
  json::object doc = Activation("0123abcd", "guest", "hello", 1000);
  ASSERT_TRUE(store->CompleteActivation(doc).ok());

  auto pending = store->GetActivation("guest", "0123abcd");
  ASSERT_TRUE(pending.ok() && pending->has_value());
  EXPECT_EQ(**pending, doc);
  EXPECT_EQ(CommittedActivations(dir.path()), 0) << "the batch interval is an hour";
  EXPECT_FALSE(store->GetActivation("other", "0123abcd")->has_value());
  EXPECT_FALSE(store->GetActivation("guest", "missing")->has_value());
  EXPECT_EQ(List(*store, Q("guest")), std::vector<std::string>{"0123abcd"});

  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(CommittedActivations(dir.path()), 1);
  auto committed = store->GetActivation("guest", "0123abcd");
  ASSERT_TRUE(committed.ok() && committed->has_value());
  EXPECT_EQ(**committed, doc);
  EXPECT_FALSE(store->GetActivation("other", "0123abcd")->has_value());
  EXPECT_EQ(List(*store, Q("guest")), std::vector<std::string>{"0123abcd"});
  EXPECT_EQ(FileSize(dir.path() / "activations.journal"), 0u) << "everything journaled is committed";
}

TEST(StoreTest, BatchWriterCommitsOnItsOwn) {
  TempDir dir;
  StoreOptions o = KeepAll();
  o.batch_interval = std::chrono::milliseconds(5);
  auto store = OpenStore(dir.path(), o);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CompleteActivation(Activation("a1", "guest", "x", 1)).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (CommittedActivations(dir.path()) != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(CommittedActivations(dir.path()), 1);
}

// The same queries give the same answers whether records are pending,
// committed, or some of each.
TEST(StoreTest, ListMergesPendingAndCommittedNewestFirst) {
  TempDir dir;
  auto store = OpenStore(dir.path(), Lazy());
  ASSERT_TRUE(store);
  // Starts 100..129; every third shares its start with the next one, so ties
  // are ordered by id. Even ones are committed, odd ones stay pending.
  std::vector<json::object> docs;
  for (int i = 0; i < 30; ++i) {
    std::string id = fmt::format("id{:02}", i);
    docs.push_back(Activation(id, i % 7 == 0 ? "other" : "guest", i % 2 ? "pkg/a" : "b", 100 + i - (i % 3 == 1)));
  }
  for (int i = 0; i < 30; i += 2) ASSERT_TRUE(store->CompleteActivation(docs[i]).ok());
  ASSERT_TRUE(store->Flush().ok());
  for (int i = 1; i < 30; i += 2) ASSERT_TRUE(store->CompleteActivation(docs[i]).ok());
  ASSERT_EQ(CommittedActivations(dir.path()), 15);

  // Expected: guest's records, newest first, ties by id descending.
  auto expected = [&](const ActivationQuery& q) {
    std::vector<const json::object*> match;
    for (const auto& d : docs) {
      int64_t start = d.at("start").as_int64();
      if (d.at("namespace") != q.namespace_.c_str()) continue;
      if (q.name && d.at("name") != q.name->c_str()) continue;
      if (q.since_ms && start < *q.since_ms) continue;
      if (q.upto_ms && start > *q.upto_ms) continue;
      match.push_back(&d);
    }
    std::sort(match.begin(), match.end(), [](const json::object* a, const json::object* b) {
      int64_t sa = a->at("start").as_int64(), sb = b->at("start").as_int64();
      if (sa != sb) return sa > sb;
      return a->at("activationId").as_string() > b->at("activationId").as_string();
    });
    std::vector<std::string> ids;
    for (size_t k = q.skip; k < match.size() && (q.limit == 0 || k < q.skip + q.limit); ++k) {
      ids.emplace_back(match[k]->at("activationId").as_string());
    }
    return ids;
  };
  std::vector<ActivationQuery> queries;
  for (size_t limit : {0, 1, 3, 7, 30}) {
    for (size_t skip : {0, 1, 2, 5, 11, 40}) {
      queries.push_back(Q("guest").Limit(limit).Skip(skip));
      queries.push_back(Q("guest").Name("pkg/a").Limit(limit).Skip(skip));
      queries.push_back(Q("guest").Since(105).Upto(120).Limit(limit).Skip(skip));
      queries.push_back(Q("guest").Name("b").Since(110).Limit(limit).Skip(skip));
      queries.push_back(Q("other").Upto(114).Limit(limit).Skip(skip));
    }
  }
  auto check_all = [&](const char* phase) {
    for (const auto& q : queries) {
      EXPECT_EQ(List(*store, q), expected(q))
          << phase << ": name=" << q.name.value_or("*") << " since=" << q.since_ms.value_or(-1)
          << " upto=" << q.upto_ms.value_or(-1) << " limit=" << q.limit << " skip=" << q.skip;
    }
  };
  check_all("mixed");
  // Sanity of the expectation itself: the newest guest record first.
  EXPECT_EQ(List(*store, Q("guest").Limit(2)), (std::vector<std::string>{"id29", "id27"}));
  EXPECT_EQ(List(*store, Q("guest").Limit(30)).size(), 25u);
  EXPECT_EQ(List(*store, Q("nobody")).size(), 0u);

  // A record the writer has committed but not yet dropped from pending is
  // listed once.
  Sql(dir.path(),
      "INSERT INTO activations(activation_id, namespace, name, start, doc) "
      "SELECT 'id29', 'guest', 'pkg/a', 129, '{}'");
  Sql(dir.path(),
      "INSERT INTO activations(activation_id, namespace, name, start, doc) "
      "SELECT 'id27', 'guest', 'pkg/a', 127, '{}'");
  check_all("committed twice");
  Sql(dir.path(), "DELETE FROM activations WHERE activation_id IN ('id29', 'id27')");

  ASSERT_TRUE(store->Flush().ok());
  ASSERT_EQ(CommittedActivations(dir.path()), 30);
  check_all("committed");
  store.reset();
  store = OpenStore(dir.path(), Lazy());
  ASSERT_TRUE(store);
  check_all("reopened");
}

TEST(StoreTest, PathAnnotationNamesPackagedAction) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  json::object doc = Activation("p1", "guest", "a", 10);
  doc["annotations"] = json::array{json::object{{"key", "path"}, {"value", "guest/pkg/a"}}};
  ASSERT_TRUE(store->CompleteActivation(doc).ok());
  EXPECT_EQ(List(*store, Q("guest").Name("pkg/a")), std::vector<std::string>{"p1"});
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(List(*store, Q("guest").Name("pkg/a")), std::vector<std::string>{"p1"});
  EXPECT_TRUE(List(*store, Q("guest").Name("a")).empty());
}

TEST(StoreTest, TenThousandRecordsSurviveReopen) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(store->CompleteActivation(Activation(fmt::format("r{:05}", i), "guest", "n", 1'000'000 + i)).ok());
  }
  store.reset();  // the destructor flushes
  EXPECT_EQ(CommittedActivations(dir.path()), 10'000);
  store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->recovered(), 0u);
  auto all = List(*store, Q("guest").Limit(0));
  ASSERT_EQ(all.size(), 10'000u);
  EXPECT_EQ(all.front(), "r09999");
  EXPECT_EQ(all.back(), "r00000");
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 10'000u);
  auto one = store->GetActivation("guest", "r04242");
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->at("start").as_int64(), 1'004'242);
}

// ---- crash recovery

// Runs `body` in a child that then dies by SIGKILL: no destructor, no flush.
void InChildThenKill(const std::function<bool()>& body) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!body()) ::_exit(3);
    ::kill(::getpid(), SIGKILL);
    ::_exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
}

void ExpectInterrupted(Store& store, const std::string& id, const std::string& name, int64_t start) {
  auto r = store.GetActivation("guest", id);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->has_value()) << id;
  const json::object& doc = **r;
  EXPECT_EQ(doc.at("activationId"), id.c_str());
  EXPECT_EQ(doc.at("namespace"), "guest");
  EXPECT_EQ(doc.at("name"), name.c_str());
  EXPECT_EQ(doc.at("start").as_int64(), start);
  EXPECT_EQ(doc.at("end").as_int64(), start);
  EXPECT_EQ(doc.at("duration").as_int64(), 0);
  const json::object& response = doc.at("response").as_object();
  EXPECT_EQ(response.at("status"), "whisk internal error");
  EXPECT_EQ(response.at("statusCode").as_int64(), 3);
  EXPECT_EQ(response.at("success"), false);
  EXPECT_EQ(response.at("result").at("error"),
            "The activation was interrupted: the platform stopped before it finished.");
  EXPECT_TRUE(doc.at("logs").as_array().empty());
}

TEST(StoreTest, KillNineRecoversCompletedAndMarksInterrupted) {
  TempDir dir;
  InChildThenKill([&] {
    auto store = Store::Open(dir.path(), Lazy());
    if (!store.ok()) return false;
    for (int i = 0; i < 5; ++i) {
      std::string id = fmt::format("done{}", i);
      if (!(*store)->AcceptActivation(id, "guest", "pkg/a", 500 + i).ok()) return false;
      if (!(*store)->CompleteActivation(Activation(id, "guest", "pkg/a", 500 + i)).ok()) return false;
    }
    // Completed without an accept line.
    if (!(*store)->CompleteActivation(Activation("done-noaccept", "guest", "b", 600)).ok()) return false;
    for (int i = 0; i < 3; ++i) {
      if (!(*store)->AcceptActivation(fmt::format("running{}", i), "guest", "pkg/a", 700 + i).ok()) return false;
    }
    std::unique_ptr<Store> leak = std::move(store).value();
    (void)leak.release();
    return true;
  });
  EXPECT_GT(FileSize(dir.path() / "activations.journal"), 0u);
  EXPECT_EQ(CommittedActivations(dir.path()), 0) << "the child never committed";

  auto store = OpenStore(dir.path(), Lazy());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->recovered(), 9u);
  EXPECT_EQ(store->interrupted(), 3u);
  EXPECT_EQ(store->skipped(), 0u);
  EXPECT_EQ(CommittedActivations(dir.path()), 9) << "recovery commits before it clears the journal";
  EXPECT_EQ(FileSize(dir.path() / "activations.journal"), 0u);
  for (int i = 0; i < 5; ++i) {
    std::string id = fmt::format("done{}", i);
    auto r = store->GetActivation("guest", id);
    ASSERT_TRUE(r.ok() && r->has_value()) << id;
    EXPECT_EQ(**r, Activation(id, "guest", "pkg/a", 500 + i));
  }
  EXPECT_TRUE(store->GetActivation("guest", "done-noaccept")->has_value());
  for (int i = 0; i < 3; ++i) ExpectInterrupted(*store, fmt::format("running{}", i), "pkg/a", 700 + i);
  EXPECT_EQ(List(*store, Q("guest").Name("pkg/a").Limit(0)).size(), 8u);

  // Idempotent: a second open finds nothing to recover.
  store.reset();
  store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->recovered(), 0u);
  EXPECT_EQ(CommittedActivations(dir.path()), 9);
}

TEST(StoreTest, KillNineAfterPartialCommitRecoversOnlyMissing) {
  TempDir dir;
  InChildThenKill([&] {
    auto store = Store::Open(dir.path(), Lazy());
    if (!store.ok()) return false;
    // A running activation keeps the committed records' lines in the journal.
    if (!(*store)->AcceptActivation("slow", "guest", "s", 1).ok()) return false;
    for (int i = 0; i < 3; ++i) {
      if (!(*store)->CompleteActivation(Activation(fmt::format("early{}", i), "guest", "n", 10 + i)).ok()) return false;
    }
    if (!(*store)->Flush().ok()) return false;
    for (int i = 0; i < 2; ++i) {
      if (!(*store)->CompleteActivation(Activation(fmt::format("late{}", i), "guest", "n", 20 + i)).ok()) return false;
    }
    (void)std::move(store).value().release();
    return true;
  });
  EXPECT_EQ(CommittedActivations(dir.path()), 3);
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->recovered(), 3u) << "late0, late1 and slow (the early ones were committed)";
  EXPECT_EQ(store->interrupted(), 1u);
  EXPECT_EQ(List(*store, Q("guest").Limit(0)),
            (std::vector<std::string>{"late1", "late0", "early2", "early1", "early0", "slow"}));
  ExpectInterrupted(*store, "slow", "s", 1);
}

TEST(StoreTest, TornAndCorruptJournalLinesAreSkipped) {
  TempDir dir;
  std::string good = "c " + ToJson(Activation("good", "guest", "n", 5)) + "\n";
  std::string accepted = R"(a {"activationId":"acc","namespace":"guest","name":"n","start":7})"
                         "\n";
  std::string torn = "c " + ToJson(Activation("torn", "guest", "n", 9));
  torn.resize(torn.size() / 2);
  {
    std::ofstream f(dir.path() / "activations.journal", std::ios::binary);
    f << "garbage line\n"
      << "c {\"activationId\": \n"                    // not JSON
      << "c {\"namespace\":\"guest\",\"start\":1}\n"  // no id
      << "\n"
      << good << accepted << torn;
  }
  {
    // A previous rotation's file is read too.
    std::ofstream f(dir.path() / "activations.journal.old", std::ios::binary);
    f << "c " << ToJson(Activation("older", "guest", "n", 3)) << "\n";
  }
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->skipped(), 4u);
  EXPECT_EQ(store->recovered(), 3u);
  EXPECT_EQ(store->interrupted(), 1u);
  EXPECT_EQ(List(*store, Q("guest")), (std::vector<std::string>{"acc", "good", "older"}));
  ExpectInterrupted(*store, "acc", "n", 7);
  EXPECT_FALSE(store->GetActivation("guest", "torn")->has_value());
  EXPECT_FALSE(fs::exists(dir.path() / "activations.journal.old"));
  EXPECT_EQ(FileSize(dir.path() / "activations.journal"), 0u);
}

// ---- journal size

TEST(StoreTest, JournalStaysBoundedUnderLoad) {
  TempDir dir;
  StoreOptions o = KeepAll();
  o.journal_rotate_bytes = 256 << 10;
  // This loop produces faster than the writer commits: the journal holds
  // what is not committed yet, so the backlog bounds it.
  o.max_pending = 4096;
  auto store = OpenStore(dir.path(), o);
  ASSERT_TRUE(store);
  // Running all along: its accept line must survive every rotation.
  ASSERT_TRUE(store->AcceptActivation("long-running", "guest", "slow", 1).ok());
  const int kRecords = 100'000;
  json::object base = Activation("x", "guest", "n", 0);
  uintmax_t max_size = 0;
  bool rotated = false;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kRecords; ++i) {
    json::object doc = base;
    doc["activationId"] = fmt::format("{:032x}", i);
    doc["start"] = 2'000'000 + i;
    ASSERT_TRUE(store->CompleteActivation(std::move(doc)).ok());
    if (i % 1000 == 0) {
      max_size = std::max(
          max_size, FileSize(dir.path() / "activations.journal") + FileSize(dir.path() / "activations.journal.old"));
      rotated = rotated || fs::exists(dir.path() / "activations.journal.old");
    }
  }
  ASSERT_TRUE(store->Flush().ok());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[          ] %d records completed and committed in %.3f s: %.0f records/s\n", kRecords, seconds,
              kRecords / seconds);
  uintmax_t record_bytes = ToJson(base).size() + 40;
  std::printf("[          ] journal: at most %ju bytes (%ju records' worth), rotated: %s\n", max_size,
              max_size / record_bytes, rotated ? "yes" : "no");
  EXPECT_EQ(CommittedActivations(dir.path()), kRecords);
  // Everything journaled is committed: only the running activation's line.
  EXPECT_FALSE(fs::exists(dir.path() / "activations.journal.old"));
  EXPECT_LT(FileSize(dir.path() / "activations.journal"), (64u << 10) + 4096);
  EXPECT_GT(FileSize(dir.path() / "activations.journal"), 0u);
  // The current file and the old one, each up to the rotation size plus what
  // the bounded backlog adds before the next rotation (100k records: ~34 MB).
  EXPECT_LT(max_size, 2 * o.journal_rotate_bytes + 4 * o.max_pending * record_bytes);

  store.reset();
  store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->interrupted(), 1u) << "the running activation's accept line was kept";
  ExpectInterrupted(*store, "long-running", "slow", 1);
  EXPECT_EQ(CommittedActivations(dir.path()), kRecords + 1);
}

TEST(StoreTest, ConcurrentCompletesFromEightThreads) {
  TempDir dir;
  StoreOptions o = KeepAll();
  o.batch_size = 64;
  auto store = OpenStore(dir.path(), o);
  ASSERT_TRUE(store);
  const int kThreads = 8, kEach = 2000;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string id = fmt::format("t{}-{:05}", t, i);
        if (!store->AcceptActivation(id, "guest", fmt::format("f{}", t), i).ok()) ++failures;
        if (!store->CompleteActivation(Activation(id, "guest", fmt::format("f{}", t), i)).ok()) ++failures;
        if (i % 100 == 0) {
          auto got = store->GetActivation("guest", id);
          if (!got.ok() || !got->has_value()) ++failures;
          auto listed = store->ListActivations(Q("guest").Name(fmt::format("f{}", t)).Limit(1));
          if (!listed.ok() || listed->size() != 1 || (*listed)[0].at("activationId") != id.c_str()) ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(CommittedActivations(dir.path()), kThreads * kEach);
  auto all = List(*store, Q("guest").Limit(0));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), size_t{kThreads * kEach});
  EXPECT_EQ(FileSize(dir.path() / "activations.journal"), 0u);
  store.reset();
  store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->recovered(), 0u);
}

// ---- robustness

TEST(StoreTest, CorruptRowsAreErrorsNotCrashes) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->PutAction(Action("guest", "fine", "0.0.1"), false).ok());
  ASSERT_TRUE(store->CompleteActivation(Activation("fine", "guest", "n", 2)).ok());
  ASSERT_TRUE(store->Flush().ok());
  Sql(dir.path(), "INSERT INTO actions(namespace, name, doc, updated) VALUES('guest', 'bad', '{not json', 0)");
  Sql(dir.path(), "INSERT INTO actions(namespace, name, doc, updated) VALUES('guest', 'arr', '[1]', 0)");
  Sql(dir.path(),
      "INSERT INTO activations(activation_id, namespace, name, start, doc) "
      "VALUES('bad', 'guest', 'n', 3, 'nope')");

  auto bad = store->GetAction("guest", "bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("guest/bad"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(store->GetAction("guest", "arr").ok());
  EXPECT_EQ(Names(*store->ListActions("guest", 0, 0)), std::vector<std::string>{"fine"});
  EXPECT_FALSE(store->GetActivation("guest", "bad").ok());
  EXPECT_EQ(List(*store, Q("guest")), std::vector<std::string>{"fine"});
}

TEST(StoreTest, WriterFailureIsReportedAndRetried) {
  TempDir dir;
  auto store = OpenStore(dir.path(), Lazy());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->CompleteActivation(Activation("kept", "guest", "n", 1)).ok());
  Sql(dir.path(), "DROP TABLE activations");
  Status failed = store->Flush();
  ASSERT_FALSE(failed.ok());
  std::printf("[          ] %s\n", failed.ToString().c_str());
  EXPECT_NE(failed.message().find("no such table"), std::string::npos) << failed.ToString();
  EXPECT_NE(failed.message().find("activation"), std::string::npos) << failed.ToString();
  // Still pending, still visible.
  auto got = store->GetActivation("guest", "kept");
  ASSERT_TRUE(got.ok() && got->has_value());

  Sql(dir.path(),
      "CREATE TABLE activations(activation_id TEXT PRIMARY KEY NOT NULL, namespace TEXT NOT NULL,"
      "  name TEXT NOT NULL, start INTEGER NOT NULL, doc TEXT NOT NULL)");
  // The writer retries with a backoff; a retry may still have failed before
  // the table was back.
  Status retried = store->Flush();
  for (int i = 0; i < 20 && !retried.ok(); ++i) retried = store->Flush();
  EXPECT_TRUE(retried.ok()) << retried.ToString();
  EXPECT_EQ(CommittedActivations(dir.path()), 1);
}

TEST(StoreTest, OneStorePerDirectory) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  auto second = Store::Open(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("in use"), std::string::npos) << second.status().message();
  store.reset();
  EXPECT_TRUE(Store::Open(dir.path()).ok());
}

TEST(StoreTest, NewerSchemaOrNotADatabaseIsRefused) {
  TempDir dir;
  ASSERT_TRUE(OpenStore(dir.path()));
  Sql(dir.path(), "PRAGMA user_version = 99");
  auto newer = Store::Open(dir.path());
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.status().message().find("newer"), std::string::npos) << newer.status().message();

  TempDir junk;
  ASSERT_TRUE(WriteFileAtomically(junk.path() / "wow.db", std::string(8192, 'x')).ok());
  auto notdb = Store::Open(junk.path());
  ASSERT_FALSE(notdb.ok());
  EXPECT_NE(notdb.status().message().find("not a database"), std::string::npos) << notdb.status().message();
}

TEST(StoreTest, SchemaHasTheIndexedColumns) {
  TempDir dir;
  ASSERT_TRUE(OpenStore(dir.path()));
  EXPECT_EQ(SqlCount(dir.path(), "PRAGMA user_version"), 3);
  EXPECT_EQ(
      SqlCount(dir.path(), "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'activations_by_%'"),
      3);
  EXPECT_EQ(SqlCount(dir.path(),
                     "SELECT COUNT(*) FROM pragma_table_info('subjects') "
                     "WHERE name IN ('uuid', 'salt', 'key_hash', 'name', 'namespace')"),
            5);
  EXPECT_EQ(SqlCount(dir.path(), "SELECT COUNT(*) FROM pragma_table_info('subjects') WHERE name = 'key'"), 0);
  EXPECT_EQ(SqlCount(dir.path(),
                     "SELECT COUNT(*) FROM pragma_table_info('activations') "
                     "WHERE name IN ('activation_id', 'namespace', 'name', 'start', 'doc')"),
            5);
}

// ---- private files and keys

// The regular files under `dir` whose mode lets anyone but the owner in.
std::vector<std::string> OpenToOthers(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0) continue;
    if ((st.st_mode & 0077) != 0) out.push_back(fmt::format("{} {:o}", entry.path().string(), st.st_mode & 07777));
  }
  return out;
}

mode_t Mode(const fs::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// umask 0 while alive: files get exactly the mode they are created with.
struct NoUmask {
  mode_t old = ::umask(0);
  ~NoUmask() { ::umask(old); }
};

TEST(StoreTest, DirectoryAndEveryFileArePrivate) {
  TempDir parent;
  const fs::path dir = parent.path() / "nested" / "data";
  NoUmask no_umask;
  auto store = OpenStore(dir, Lazy());
  ASSERT_TRUE(store);
  EXPECT_EQ(Mode(dir), 0700u);
  ASSERT_TRUE(store->PutSubject({"uuid-1", "secret-key", "guest", "guest"}).ok());
  ASSERT_TRUE(store->AcceptActivation("running", "guest", "n", 1).ok());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store->CompleteActivation(Activation(fmt::format("a{}", i), "guest", "n", i)).ok());
  }
  ASSERT_TRUE(store->Flush().ok());
  for (const char* name : {"wow.db", "wow.db-wal", "wow.db-shm", "activations.journal", "store.lock"}) {
    EXPECT_TRUE(fs::exists(dir / name)) << name;
  }
  EXPECT_EQ(OpenToOthers(parent.path() / "nested" / "data"), std::vector<std::string>{});
  store.reset();
  EXPECT_EQ(OpenToOthers(dir), std::vector<std::string>{});

  // Files an older wow left 0644 are narrowed on Open, the journal's too.
  for (const auto& entry : fs::directory_iterator(dir)) ::chmod(entry.path().c_str(), 0644);
  ::chmod(dir.c_str(), 0755);
  store = OpenStore(dir, Lazy());
  ASSERT_TRUE(store);
  EXPECT_EQ(OpenToOthers(dir), std::vector<std::string>{});
  EXPECT_EQ(Mode(dir), 0755u) << "the store narrows its files; the caller decides about an existing directory";
}

bool FileHas(const fs::path& p, std::string_view needle) {
  auto bytes = ReadFile(p);
  return bytes.ok() && bytes->find(needle) != std::string::npos;
}

bool AnyDatabaseFileHas(const fs::path& dir, std::string_view needle) {
  return FileHas(dir / "wow.db", needle) || FileHas(dir / "wow.db-wal", needle);
}

TEST(StoreTest, KeysAreStoredAsSaltedHashes) {
  TempDir dir;
  const std::string key = "Kq3" + std::string(58, 'z') + "Xy9";
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->PutSubject({"uuid-1", key, "guest", "guest"}).ok());
  ASSERT_TRUE(store->PutSubject({"uuid-2", key, "other", "other"}).ok());
  EXPECT_FALSE(AnyDatabaseFileHas(dir.path(), key)) << "the key is in the database in plain text";
  EXPECT_TRUE(store->Authenticate("uuid-1", key)->has_value());
  EXPECT_FALSE(store->Authenticate("uuid-1", key + "x")->has_value());
  EXPECT_FALSE(store->Authenticate("uuid-1", key.substr(1))->has_value());
  // Per-subject salts: the same key hashes differently.
  EXPECT_EQ(SqlCount(dir.path(), "SELECT COUNT(DISTINCT key_hash) FROM subjects"), 2);
  EXPECT_EQ(SqlCount(dir.path(), "SELECT COUNT(DISTINCT salt) FROM subjects"), 2);
  EXPECT_EQ(SqlCount(dir.path(), "SELECT length(key_hash) FROM subjects WHERE uuid = 'uuid-1'"), 64);
  store.reset();
  EXPECT_FALSE(AnyDatabaseFileHas(dir.path(), key));
}

TEST(StoreTest, MigratesPlainKeysOfSchemaVersion1) {
  TempDir dir;
  const std::string key = "Old" + std::string(58, 'k') + "Key";
  // A database as the first version wrote it (WAL, plain keys).
  Sql(dir.path(),
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE subjects(uuid TEXT PRIMARY KEY NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,"
      "  namespace TEXT NOT NULL);"
      "CREATE TABLE actions(namespace TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
      "  updated INTEGER NOT NULL, PRIMARY KEY(namespace, name));"
      "CREATE TABLE activations(activation_id TEXT PRIMARY KEY NOT NULL, namespace TEXT NOT NULL,"
      "  name TEXT NOT NULL, start INTEGER NOT NULL, doc TEXT NOT NULL);"
      "CREATE INDEX activations_by_namespace ON activations(namespace, start DESC, activation_id DESC);"
      "CREATE INDEX activations_by_name ON activations(namespace, name, start DESC, activation_id DESC);"
      "PRAGMA user_version = 1;");
  Sql(dir.path(), "INSERT INTO subjects VALUES('uuid-old', '" + key + "', 'guest', 'guest')");
  Sql(dir.path(), "INSERT INTO subjects VALUES('uuid-two', 'second-" + key + "', 'alice', 'alice-ns')");
  Sql(dir.path(),
      "INSERT INTO activations VALUES('act1', 'guest', 'n', 7, '" + ToJson(Activation("act1", "guest", "n", 7)) + "')");
  ASSERT_TRUE(AnyDatabaseFileHas(dir.path(), key)) << "the old database should hold the key in plain text";

  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(SqlCount(dir.path(), "PRAGMA user_version"), 3);
  auto found = store->Authenticate("uuid-old", key);
  ASSERT_TRUE(found.ok() && found->has_value()) << "the migrated credential does not work";
  EXPECT_EQ((*found)->namespace_, "guest");
  EXPECT_TRUE(store->Authenticate("uuid-two", "second-" + key)->has_value());
  EXPECT_FALSE(store->Authenticate("uuid-old", "second-" + key)->has_value());
  EXPECT_FALSE(store->Authenticate("uuid-old", "")->has_value());
  EXPECT_FALSE(AnyDatabaseFileHas(dir.path(), key)) << "the plain key is still in the database's pages";
  auto act = store->GetActivation("guest", "act1");
  ASSERT_TRUE(act.ok() && act->has_value()) << "the activations survive the migration";

  store.reset();
  store = OpenStore(dir.path());
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->Authenticate("uuid-old", key)->has_value());
}

// ---- retention

// Waits (10 s at most) until `done`.
bool WaitFor(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(StoreTest, RetentionByCountKeepsTheLastWritten) {
  TempDir dir;
  StoreOptions o = KeepAll();
  o.max_activations_stored = 10;
  o.prune_interval = std::chrono::milliseconds(10);
  auto store = OpenStore(dir.path(), o);
  ASSERT_TRUE(store);
  // Running all along, started before every other one.
  ASSERT_TRUE(store->AcceptActivation("running", "guest", "slow", 0).ok());
  for (int i = 1; i <= 25; ++i) {
    ASSERT_TRUE(store->CompleteActivation(Activation(fmt::format("a{:02}", i), "guest", "n", i)).ok());
    if (i % 5 == 0) {
      ASSERT_TRUE(store->Flush().ok());
    }
  }
  ASSERT_TRUE(WaitFor([&] { return CommittedActivations(dir.path()) == 10; })) << CommittedActivations(dir.path());
  EXPECT_EQ(List(*store, Q("guest").Limit(0)),
            (std::vector<std::string>{"a25", "a24", "a23", "a22", "a21", "a20", "a19", "a18", "a17", "a16"}));
  EXPECT_EQ(store->pruned(), 15u);
  // The running one completes now: it is kept, the first written goes.
  ASSERT_TRUE(store->CompleteActivation(Activation("running", "guest", "slow", 0)).ok());
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(WaitFor([&] { return store->pruned() == 16u; })) << store->pruned();
  EXPECT_EQ(CommittedActivations(dir.path()), 10);
  EXPECT_TRUE(store->GetActivation("guest", "running")->has_value());
  EXPECT_FALSE(store->GetActivation("guest", "a16")->has_value());
}

TEST(StoreTest, RetentionByAgeDeletesOnlyOldRecords) {
  TempDir dir;
  StoreOptions o = KeepAll();
  o.activation_retention = std::chrono::hours(1);
  o.prune_interval = std::chrono::milliseconds(10);
  auto store = OpenStore(dir.path(), o);
  ASSERT_TRUE(store);
  const int64_t now = NowMs();
  const int64_t two_hours_ago = now - 2 * 3600 * 1000;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store->CompleteActivation(Activation(fmt::format("old{}", i), "guest", "n", two_hours_ago + i)).ok());
    ASSERT_TRUE(store->CompleteActivation(Activation(fmt::format("new{}", i), "guest", "n", now + i)).ok());
  }
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(WaitFor([&] { return CommittedActivations(dir.path()) == 5; })) << CommittedActivations(dir.path());
  EXPECT_EQ(List(*store, Q("guest").Limit(0)), (std::vector<std::string>{"new4", "new3", "new2", "new1", "new0"}));
  EXPECT_EQ(store->pruned(), 5u);
}

TEST(StoreTest, RetentionPrunesAtStartUpInBatches) {
  TempDir dir;
  const int64_t old_start = NowMs() - 30 * 24 * 3600 * 1000ll;
  auto store = OpenStore(dir.path());  // keeps everything
  ASSERT_TRUE(store);
  const int kOld = 2500, kNew = 20;  // more than one prune transaction's worth
  for (int i = 0; i < kOld; ++i) {
    ASSERT_TRUE(store->CompleteActivation(Activation(fmt::format("old{:05}", i), "guest", "n", old_start + i)).ok());
  }
  for (int i = 0; i < kNew; ++i) {
    ASSERT_TRUE(store->CompleteActivation(Activation(fmt::format("new{:05}", i), "guest", "n", NowMs())).ok());
  }
  store.reset();
  ASSERT_EQ(CommittedActivations(dir.path()), kOld + kNew);

  StoreOptions o = KeepAll();
  o.activation_retention = std::chrono::hours(168);
  o.max_activations_stored = 15;
  o.prune_interval = std::chrono::hours(1);  // only the start-up round
  store = OpenStore(dir.path(), o);
  ASSERT_TRUE(store);
  ASSERT_TRUE(WaitFor([&] { return CommittedActivations(dir.path()) == 15; })) << CommittedActivations(dir.path());
  EXPECT_EQ(store->pruned(), uint64_t{kOld + 5});
  auto left = List(*store, Q("guest").Limit(0));
  EXPECT_TRUE(std::all_of(left.begin(), left.end(), [](const std::string& id) { return id.rfind("new", 0) == 0; }));
}

// ---- the pending queue

TEST(StoreTest, PendingQueueIsBoundedByBytes) {
  TempDir dir;
  StoreOptions o = Lazy();                                                       // the writer waits for Flush
  o.max_pending = 0;                                                             // bytes only
  const size_t line = ToJson(Activation("p000", "guest", "n", 100)).size() + 3;  // "c " ... "\n"
  o.max_pending_bytes = 10 * line;
  auto store = OpenStore(dir.path(), o);
  ASSERT_TRUE(store);
  std::atomic<int> completed{0};
  std::thread producer([&] {
    for (int i = 0; i < 30; ++i) {
      if (store->CompleteActivation(Activation(fmt::format("p{:03}", i), "guest", "n", 100 + i)).ok()) ++completed;
    }
  });
  ASSERT_TRUE(WaitFor([&] { return completed.load() == 10; })) << completed.load();
  // Full: the eleventh waits for the writer (a short look that it stays so).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(completed.load(), 10);
  // Flushing makes room; everything is written in the end.
  ASSERT_TRUE(WaitFor([&] {
    EXPECT_TRUE(store->Flush().ok());
    return completed.load() == 30;
  }));
  producer.join();
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(CommittedActivations(dir.path()), 30);
}

}  // namespace
}  // namespace wow::controller
