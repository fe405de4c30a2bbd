// SPDX-License-Identifier: Apache-2.0
// `zonegate audit verify --upstream` (verify_against_central): a real local trail, its copy
// uploaded to a real central database, then the local log truncated, edited, rewritten or
// replaced by another history, and the central checkpoints forged.
#include <sqlite3.h>

#include <cstring>
#include <fstream>

#include "adapters/audit/audit_codec.hpp"
#include "adapters/upstream/central_verify.hpp"
#include "central_test_util.hpp"

namespace zonegate::testing {
namespace {

namespace audit = adapters::audit;
namespace up = adapters::upstream;

constexpr std::int64_t kStartMs = 1764300000000;  // 2025-11-28

class StateDir {
 public:
  StateDir() {
    char pattern[] = "/tmp/zgverify.XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path_ = pattern;
  }
  ~StateDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

audit::Options store_options(const std::filesystem::path& dir, bool read_only = false) {
  audit::Options o;
  o.state_dir = dir;
  o.gateway_id = "gw-a";
  o.read_only = read_only;
  return o;
}

std::unique_ptr<audit::AuditStore> open_store(const std::filesystem::path& dir, bool read_only = false) {
  auto s = audit::AuditStore::open(store_options(dir, read_only));
  if (!s) FAIL("opening the audit store: " << s.error().message);
  return std::move(s.value());
}

/// Appends `n` records (one with personal data in ten) starting at `start_ms`, a checkpoint after
/// every 25.
void append_records(audit::AuditStore& store, int n, std::int64_t start_ms, const std::string& tag = "e") {
  for (int i = 0; i < n; ++i) {
    audit::Entry e;
    e.at = core::Instant(core::Duration(start_ms + i * 1000));
    e.kind = audit::EntryKind::operator_action;
    e.event = tag + std::to_string(i);
    if (i % 10 == 0) e.person = "alice";
    e.door = "lobby";
    REQUIRE(store.append_entries(std::span<const audit::Entry>(&e, 1)).ok());
    if (store.last_seq() % 25 == 0) REQUIRE(store.checkpoint(e.at).ok());
  }
}

struct Sqlite {
  sqlite3* db = nullptr;
  explicit Sqlite(const std::filesystem::path& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  }
  ~Sqlite() { sqlite3_close_v2(db); }
  Sqlite(const Sqlite&) = delete;
  Sqlite& operator=(const Sqlite&) = delete;
  void exec(const std::string& sql) const {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      const std::string text = msg != nullptr ? msg : "?";
      sqlite3_free(msg);
      FAIL("sqlite: " << sql << ": " << text);
    }
  }
};

/// What an attacker with a shell does first: the append-only triggers go.
void drop_local_triggers(const Sqlite& db) {
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db.db, "SELECT name FROM sqlite_master WHERE type = 'trigger'", -1, &st, nullptr) ==
          SQLITE_OK);
  std::vector<std::string> names;
  while (sqlite3_step(st) == SQLITE_ROW) names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  for (const auto& n : names) db.exec("DROP TRIGGER \"" + n + "\"");
}

pg::Param blob_param(sqlite3_stmt* st, int col) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL) return pg::Param::null();
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(st, col));
  return pg::Param::binary(std::span<const std::uint8_t>(p, static_cast<std::size_t>(sqlite3_column_bytes(st, col))));
}

pg::Param text_param(sqlite3_stmt* st, int col) {
  if (sqlite3_column_type(st, col) == SQLITE_NULL) return pg::Param::null();
  return pg::Param::text(reinterpret_cast<const char*>(sqlite3_column_text(st, col)));
}

/// Uploads the local records and checkpoints with seq <= up_to, column for column, as the sync
/// does (here with plain INSERTs, as the gateway's own role).
void upload(PGconn* conn, const std::filesystem::path& db_path, std::uint64_t up_to) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "SELECT seq, time_ms, kind, event, person, badge, door, zone, direction, verdict, reason,"
                             " alarm, severity, source, ref, detail, salt, personal_digest, purged_by, prev_hash, hash"
                             " FROM records WHERE seq <= ? ORDER BY seq",
                             -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(up_to));
  must(conn, "BEGIN");
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<pg::Param> p{pg::Param::text("gw-a")};
    for (int c = 0; c < 21; ++c) {
      const bool blob = c == 16 || c == 17 || c == 19 || c == 20;
      p.push_back(blob ? blob_param(st, c) : text_param(st, c));
    }
    must(
        conn,
        "INSERT INTO zonegate.events (gateway_id, seq, time_ms, kind, event, person, badge, door, zone, direction,"
        " verdict, reason, alarm, severity, source, ref, detail, salt, personal_digest, purged_by, prev_hash, hash)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
        p);
  }
  sqlite3_finalize(st);
  REQUIRE(sqlite3_prepare_v2(
              db, "SELECT seq, time_ms, hash, key_id, signature FROM checkpoints WHERE seq <= ? ORDER BY seq", -1, &st,
              nullptr) == SQLITE_OK);
  sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(up_to));
  while (sqlite3_step(st) == SQLITE_ROW) {
    must(conn,
         "INSERT INTO zonegate.checkpoints (gateway_id, seq, time_ms, hash, key_id, signature)"
         " VALUES ('gw-a', $1, $2, $3, $4, $5)",
         {text_param(st, 0), text_param(st, 1), blob_param(st, 2), blob_param(st, 3), blob_param(st, 4)});
  }
  sqlite3_finalize(st);
  sqlite3_close_v2(db);
  must(conn, "COMMIT");
  REQUIRE(scalar(conn, "SELECT faulted::text FROM zonegate.chain_heads") == "false");
}

/// Rewrites record `seq` with `event` and recomputes the chain from there on, as an attacker
/// without the signing key can (and drops the local checkpoints that would give it away).
void rewrite_from(const std::filesystem::path& db_path, std::uint64_t seq, const std::string& event) {
  Sqlite db(db_path);
  drop_local_triggers(db);
  db.exec("UPDATE records SET event = '" + event + "' WHERE seq = " + std::to_string(seq));
  db.exec("DELETE FROM checkpoints WHERE seq >= " + std::to_string(seq));
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db.db,
                             "SELECT seq, time_ms, kind, event, door, zone, direction, verdict, reason, alarm,"
                             " severity, source, ref, person, badge, detail, salt FROM records WHERE seq >= ?"
                             " ORDER BY seq",
                             -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(seq));
  audit::Hash prev{};
  {
    sqlite3_stmt* p = nullptr;
    REQUIRE(sqlite3_prepare_v2(db.db, "SELECT hash FROM records WHERE seq = ?", -1, &p, nullptr) == SQLITE_OK);
    sqlite3_bind_int64(p, 1, static_cast<sqlite3_int64>(seq - 1));
    if (sqlite3_step(p) == SQLITE_ROW) std::memcpy(prev.data(), sqlite3_column_blob(p, 0), prev.size());
    sqlite3_finalize(p);
  }
  struct Row {
    std::uint64_t seq;
    audit::Hash prev, hash;
  };
  std::vector<Row> rewritten;
  audit::codec::Encoder enc;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const auto txt = [&](int c) {
      const auto* t = sqlite3_column_text(st, c);
      return t == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(t));
    };
    audit::codec::Fields f;
    f.seq = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
    f.time_ms = sqlite3_column_int64(st, 1);
    f.kind = txt(2);
    f.event = txt(3);
    f.door = txt(4);
    f.zone = txt(5);
    f.direction = txt(6);
    f.verdict = txt(7);
    f.reason = txt(8);
    f.alarm = txt(9);
    f.severity = txt(10);
    f.source = txt(11);
    f.ref = sqlite3_column_int64(st, 12);
    f.person = txt(13);
    f.badge = txt(14);
    f.detail = txt(15);
    audit::codec::Salt salt{};
    if (sqlite3_column_type(st, 16) == SQLITE_BLOB) std::memcpy(salt.data(), sqlite3_column_blob(st, 16), salt.size());
    audit::Hash personal{};
    if (f.has_personal()) REQUIRE(enc.personal_digest(f, salt, personal));
    Row r{f.seq, prev, {}};
    REQUIRE(enc.record_hash(f, personal, prev, r.hash));
    prev = r.hash;
    rewritten.push_back(r);
  }
  sqlite3_finalize(st);
  for (const auto& r : rewritten) {
    sqlite3_stmt* u = nullptr;
    REQUIRE(sqlite3_prepare_v2(db.db, "UPDATE records SET prev_hash = ?, hash = ? WHERE seq = ?", -1, &u, nullptr) ==
            SQLITE_OK);
    sqlite3_bind_blob(u, 1, r.prev.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(u, 2, r.hash.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(u, 3, static_cast<sqlite3_int64>(r.seq));
    REQUIRE(sqlite3_step(u) == SQLITE_DONE);
    sqlite3_finalize(u);
  }
}

up::CentralVerifyResult verify(const std::string& auditor_dsn, const std::filesystem::path& dir,
                               const up::CentralVerifyOptions& options = {}) {
  auto conn = connect_or_fail(auditor_dsn);
  auto store = open_store(dir, true);
  auto r = up::verify_against_central(conn.get(), *store, options);
  INFO(r.message);
  return r;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("verify --upstream: the local trail against the centre's copy", "[upstream][verify]") {
  CentralDb db;
  StateDir state;
  {
    auto store = open_store(state.path());
    append_records(*store, 120, kStartMs);
  }
  auto gw = connect_or_fail(db.gw_a);
  upload(gw.get(), state.path() / "audit.db", 100);
  CHECK(scalar(db.super.get(),
               "SELECT seq || '/' || checkpoint_seq FROM zonegate.chain_heads WHERE gateway_id = 'gw-a'") == "100/100");
  // The key the centre knows (verify falls back to the state dir's audit-signing.pub without it).
  up::GatewaySpec spec{"gw-a", "north", "", "", read_text(state.path() / "audit-signing.pub")};
  REQUIRE(up::add_gateway(db.super.get(), spec).ok);

  SECTION("an intact trail, ahead of the centre, verifies") {
    const auto r = verify(db.auditor, state.path());
    CHECK(r.status == up::CentralVerifyStatus::ok);
    CHECK(r.records_compared == 100);
    CHECK(r.checkpoints_checked == 4);
    CHECK(r.local_last == 120);
    CHECK_THAT(r.message, Catch::Contains("20 not uploaded yet"));
    // Paging does not change the outcome.
    up::CentralVerifyOptions small;
    small.page_rows = 7;
    const auto paged = verify(db.auditor, state.path(), small);
    CHECK(paged.status == up::CentralVerifyStatus::ok);
    CHECK(paged.records_compared == 100);
    CHECK(paged.checkpoints_checked == 4);
  }

  SECTION("a truncated local log") {
    {
      Sqlite local(state.path() / "audit.db");
      drop_local_triggers(local);
      local.exec("DELETE FROM records WHERE seq > 60");
      local.exec("DELETE FROM checkpoints WHERE seq > 60");
    }
    const auto r = verify(db.auditor, state.path());
    CHECK(r.status == up::CentralVerifyStatus::mismatch);
    CHECK(r.kind == "truncated");
    CHECK(r.seq == 61);
  }

  SECTION("a record edited in place") {
    {
      Sqlite local(state.path() / "audit.db");
      drop_local_triggers(local);
      local.exec("UPDATE records SET door = 'vault' WHERE seq = 42");
    }
    const auto r = verify(db.auditor, state.path());
    CHECK(r.status == up::CentralVerifyStatus::mismatch);
    CHECK(r.kind == "edited");
    CHECK(r.seq == 42);
  }

  SECTION("a record edited and the chain recomputed without the key") {
    rewrite_from(state.path() / "audit.db", 37, "innocent");
    const auto r = verify(db.auditor, state.path());
    CHECK(r.status == up::CentralVerifyStatus::mismatch);
    CHECK(r.kind == "edited");
    CHECK(r.seq == 37);
    CHECK_THAT(r.message, Catch::Contains("record 37"));
  }

  SECTION("a forked log: cut back and continued with another history") {
    {
      Sqlite local(state.path() / "audit.db");
      drop_local_triggers(local);
      local.exec("DELETE FROM records WHERE seq > 80");
      local.exec("DELETE FROM checkpoints WHERE seq > 80");
    }
    {
      auto store = open_store(state.path());
      append_records(*store, 30, kStartMs + 500000, "other");
    }
    const auto r = verify(db.auditor, state.path());
    CHECK(r.status == up::CentralVerifyStatus::mismatch);
    CHECK(r.kind == "forked");
    CHECK(r.seq == 81);
  }

  SECTION("a forged central checkpoint") {
    must(db.super.get(),
         "UPDATE zonegate.checkpoints SET time_ms = time_ms + 1 WHERE gateway_id = 'gw-a' AND seq = 50");
    const auto r = verify(db.auditor, state.path());
    CHECK(r.status == up::CentralVerifyStatus::mismatch);
    CHECK(r.kind == "signature");
    CHECK(r.seq == 50);
  }

  SECTION("a checkpoint signed by another key") {
    StateDir other;
    { open_store(other.path()); }
    up::CentralVerifyOptions o;
    o.public_key = other.path() / "audit-signing.pub";
    const auto r = verify(db.auditor, state.path(), o);
    CHECK(r.status == up::CentralVerifyStatus::mismatch);
    CHECK(r.kind == "signature");
    CHECK(r.seq == 25);
  }

  SECTION("the gateway must be known, and the caller must be allowed to read") {
    up::CentralVerifyOptions o;
    o.gateway_id = "gw-b";
    CHECK(verify(db.auditor, state.path(), o).status == up::CentralVerifyStatus::error);
    const auto r = verify(db.gw_a, state.path());
    CHECK(r.status == up::CentralVerifyStatus::error);
    CHECK_THAT(r.message, Catch::Contains("permission denied"));
  }
}

}  // namespace zonegate::testing
