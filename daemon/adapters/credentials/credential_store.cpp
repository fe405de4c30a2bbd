// SPDX-License-Identifier: Apache-2.0
#include "adapters/credentials/credential_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <istream>

namespace zonegate::adapters::credentials {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS people (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL DEFAULT '',
  roles      TEXT NOT NULL DEFAULT '',
  updated_at INTEGER NOT NULL,
  version    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS badges (
  uid         TEXT PRIMARY KEY,
  person      TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  kind        TEXT NOT NULL CHECK (kind IN ('uid', 'desfire')),
  valid_from  INTEGER,
  valid_until INTEGER,
  revoked     INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
  updated_at  INTEGER NOT NULL,
  version     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS badges_person ON badges(person);
)sql";

constexpr const char* kBadgeColumns =
    "b.uid, b.person, b.kind, b.valid_from, b.valid_until, b.revoked, b.updated_at, b.version, p.name, p.roles";

Errc errc_of(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_FULL:
      return Errc::disk_full;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return Errc::io_error;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Errc::corrupt;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Errc::busy;
    case SQLITE_CONSTRAINT:
      return Errc::conflict;
    default:
      return Errc::internal;
  }
}

std::int64_t ms_of(core::Instant t) { return t.time_since_epoch().count(); }
core::Instant instant_of(std::int64_t ms) { return core::Instant{core::Duration{ms}}; }

std::string join_roles(std::span<const std::string> roles) {
  std::string out;
  for (const auto& r : roles) {
    if (!out.empty()) out += ';';
    out += r;
  }
  return out;
}

class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3* db, std::string_view text, int* rc) {
    *rc = sqlite3_prepare_v3(db, text.data(), static_cast<int>(text.size()), SQLITE_PREPARE_PERSISTENT, &s_, nullptr);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt(Stmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stmt& operator=(Stmt&& o) noexcept {
    if (this != &o) {
      sqlite3_finalize(s_);
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  [[nodiscard]] sqlite3_stmt* get() const { return s_; }
  int step() { return sqlite3_step(s_); }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  void text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void int64(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void opt_time(int i, const std::optional<core::Instant>& t) {
    if (t) {
      sqlite3_bind_int64(s_, i, ms_of(*t));
    } else {
      sqlite3_bind_null(s_, i);
    }
  }
  [[nodiscard]] std::string_view col_text(int c) const {
    const auto* p = sqlite3_column_text(s_, c);
    if (p == nullptr) return {};
    return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, c))};
  }
  [[nodiscard]] std::int64_t col_int(int c) const { return sqlite3_column_int64(s_, c); }
  [[nodiscard]] std::optional<core::Instant> col_time(int c) const {
    if (sqlite3_column_type(s_, c) == SQLITE_NULL) return std::nullopt;
    return instant_of(sqlite3_column_int64(s_, c));
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

class Reset {
 public:
  explicit Reset(Stmt& s) : s_(s) {}
  Reset(const Reset&) = delete;
  Reset& operator=(const Reset&) = delete;
  ~Reset() { s_.reset(); }

 private:
  Stmt& s_;
};

/// Reads the columns of kBadgeColumns.
void read_badge(const Stmt& st, BadgeInfo& out) {
  out.badge.uid = st.col_text(0);
  out.badge.person = st.col_text(1);
  out.badge.kind = st.col_text(2) == "desfire" ? core::CredentialKind::desfire : core::CredentialKind::uid;
  out.badge.valid_from = st.col_time(3);
  out.badge.valid_until = st.col_time(4);
  out.badge.revoked = st.col_int(5) != 0;
  out.badge.updated_at = instant_of(st.col_int(6));
  out.badge.version = st.col_int(7);
  out.name = st.col_text(8);
  out.roles.clear();
  const std::string_view roles = st.col_text(9);
  std::size_t start = 0;
  while (start < roles.size()) {
    std::size_t end = roles.find(';', start);
    if (end == std::string_view::npos) end = roles.size();
    if (end > start) out.roles.emplace_back(roles.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

std::string_view to_string(Errc e) {
  switch (e) {
    case Errc::not_found:
      return "not_found";
    case Errc::conflict:
      return "conflict";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::disk_full:
      return "disk_full";
    case Errc::io_error:
      return "io_error";
    case Errc::corrupt:
      return "corrupt";
    case Errc::busy:
      return "busy";
    case Errc::internal:
      break;
  }
  return "internal";
}

core::RoleMask role_mask(std::span<const std::string> names, const core::Policy& policy,
                         std::vector<std::string>* unknown) {
  core::RoleMask mask = 0;
  for (const auto& n : names) {
    if (auto r = policy.role_index(n); r && *r < core::kMaxRoles) {
      mask |= core::RoleMask{1} << *r;
    } else if (unknown != nullptr) {
      unknown->push_back(n);
    }
  }
  return mask;
}

class CredentialStore::Impl {
 public:
  sqlite3* db = nullptr;
  Stmt lookup, begin, commit, rollback, upsert_person, upsert_person_keep_name, import_badge, upstream_badge,
      insert_badge, revoke, set_version, set_validity, list_people;

  ~Impl() {
    // Statements first, then the connection.
    lookup = Stmt();
    begin = Stmt();
    commit = Stmt();
    rollback = Stmt();
    upsert_person = Stmt();
    upsert_person_keep_name = Stmt();
    import_badge = Stmt();
    upstream_badge = Stmt();
    insert_badge = Stmt();
    revoke = Stmt();
    set_version = Stmt();
    set_validity = Stmt();
    list_people = Stmt();
    sqlite3_close_v2(db);
  }

  Error sqlite_error(int rc, std::string_view what) const {
    return Error{errc_of(rc), std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc))};
  }
  int exec(const char* sql_text) { return sqlite3_exec(db, sql_text, nullptr, nullptr, nullptr); }
  void rollback_if_open() {
    if (sqlite3_get_autocommit(db) == 0) {
      rollback.step();
      rollback.reset();
    }
  }
  int run(Stmt& st) {
    Reset r(st);
    const int rc = st.step();
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
  }
  int begin_tx() {
    Reset r(begin);
    return begin.step() == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
  }
  int commit_tx() {
    Reset r(commit);
    return commit.step() == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(db);
  }

  int put_person(const Person& p, std::int64_t now_ms, std::int64_t version, bool keep_name) {
    Stmt& st = keep_name ? upsert_person_keep_name : upsert_person;
    st.text(1, p.id);
    st.text(2, p.name);
    const std::string roles = join_roles(p.roles);
    st.text(3, roles);
    st.int64(4, now_ms);
    st.int64(5, version);
    return run(st);
  }

  int put_badge(Stmt& st, const Badge& b, std::int64_t now_ms, std::int64_t version) {
    st.text(1, b.uid);
    st.text(2, b.person);
    st.text(3, core::to_string(b.kind));
    st.opt_time(4, b.valid_from);
    st.opt_time(5, b.valid_until);
    st.int64(6, b.revoked ? 1 : 0);
    st.int64(7, now_ms);
    st.int64(8, version);
    return run(st);
  }

  Result<std::int64_t> count_badges() {
    int rc = 0;
    Stmt st(db, "SELECT count(*) FROM badges", &rc);
    if (rc != SQLITE_OK) return sqlite_error(rc, "counting badges");
    if ((rc = st.step()) != SQLITE_ROW) return sqlite_error(rc, "counting badges");
    return st.col_int(0);
  }
};

CredentialStore::CredentialStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CredentialStore::~CredentialStore() = default;

Result<std::unique_ptr<CredentialStore>> CredentialStore::open(const std::filesystem::path& db_file,
                                                               std::int64_t cache_kib) {
  auto impl = std::make_unique<Impl>();
  int rc = sqlite3_open_v2(db_file.c_str(), &impl->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                           nullptr);
  if (rc != SQLITE_OK) return impl->sqlite_error(rc, "opening " + db_file.string());
  sqlite3_busy_timeout(impl->db, 2000);
  // A revocation must survive a power cut as surely as an audit record.
  const std::string pragmas =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF; "
      "PRAGMA cache_size=-" +
      std::to_string(cache_kib) + ";";
  rc = impl->exec(pragmas.c_str());
  if (rc == SQLITE_OK) rc = impl->exec(kSchema);
  if (rc != SQLITE_OK) return impl->sqlite_error(rc, "creating the credential schema in " + db_file.string());

  struct {
    Stmt* st;
    const char* text;
  } const prepared[] = {
      {&impl->lookup,
       "SELECT b.person, b.kind, b.valid_from, b.valid_until, b.revoked, p.roles "
       "FROM badges b JOIN people p ON p.id = b.person WHERE b.uid = ?"},
      {&impl->begin, "BEGIN IMMEDIATE"},
      {&impl->commit, "COMMIT"},
      {&impl->rollback, "ROLLBACK"},
      {&impl->upsert_person,
       "INSERT INTO people(id, name, roles, updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5) "
       "ON CONFLICT(id) DO UPDATE SET name = excluded.name, roles = excluded.roles, "
       "updated_at = excluded.updated_at, version = excluded.version"},
      {&impl->upsert_person_keep_name,
       "INSERT INTO people(id, name, roles, updated_at, version) VALUES (?1, ?2, ?3, ?4, ?5) "
       "ON CONFLICT(id) DO UPDATE SET roles = excluded.roles, updated_at = excluded.updated_at, "
       "version = excluded.version"},
      // Import never clears a revocation: re-importing an HR list must not bring a revoked badge back.
      {&impl->import_badge,
       "INSERT INTO badges(uid, person, kind, valid_from, valid_until, revoked, updated_at, version) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(uid) DO UPDATE SET person = excluded.person, "
       "kind = excluded.kind, valid_from = excluded.valid_from, valid_until = excluded.valid_until, "
       "revoked = max(revoked, excluded.revoked), updated_at = excluded.updated_at, version = excluded.version"},
      // Upstream is authoritative, revocation state included.
      {&impl->upstream_badge,
       "INSERT INTO badges(uid, person, kind, valid_from, valid_until, revoked, updated_at, version) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(uid) DO UPDATE SET person = excluded.person, "
       "kind = excluded.kind, valid_from = excluded.valid_from, valid_until = excluded.valid_until, "
       "revoked = excluded.revoked, updated_at = excluded.updated_at, version = excluded.version"},
      {&impl->insert_badge,
       "INSERT INTO badges(uid, person, kind, valid_from, valid_until, revoked, updated_at, version) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      {&impl->revoke, "UPDATE badges SET revoked = 1, updated_at = ?2, version = 0 WHERE uid = ?1"},
      {&impl->set_validity,
       "UPDATE badges SET valid_from = ?2, valid_until = ?3, updated_at = ?4, version = 0 WHERE uid = ?1"},
      // valid_until is inclusive, as for the engine (core::Holder).
      {&impl->list_people,
       "SELECT p.id, p.name, p.roles, p.updated_at, p.version, "
       "(SELECT count(*) FROM badges b WHERE b.person = p.id), "
       "(SELECT count(*) FROM badges b WHERE b.person = p.id AND b.revoked = 0 "
       "AND (b.valid_from IS NULL OR b.valid_from <= ?2) AND (b.valid_until IS NULL OR b.valid_until >= ?2)) "
       "FROM people p WHERE p.id > ?1 ORDER BY p.id LIMIT ?3"},
      {&impl->set_version,
       "INSERT INTO meta(key, value) VALUES ('version', ?1) "
       "ON CONFLICT(key) DO UPDATE SET value = excluded.value"},
  };
  for (const auto& p : prepared) {
    *p.st = Stmt(impl->db, p.text, &rc);
    if (rc != SQLITE_OK) return impl->sqlite_error(rc, std::string("preparing ") + p.text);
  }
  std::int64_t version = 0;
  {
    Stmt st(impl->db, "SELECT value FROM meta WHERE key = 'version'", &rc);
    if (rc != SQLITE_OK) return impl->sqlite_error(rc, "reading the version");
    if (st.step() == SQLITE_ROW) version = st.col_int(0);
  }
  std::unique_ptr<CredentialStore> store(new CredentialStore(std::move(impl)));
  store->version_ = version;
  return store;
}

std::optional<core::Holder> CredentialStore::lookup(std::string_view uid, const core::Policy& policy) {
  // The reader adapter hands over canonical text; normalise anyway so "04:a2:…" finds "04A2…".
  std::string canonical;
  if (auto n = normalize_uid(uid)) {
    canonical = std::move(*n);
  } else {
    return std::nullopt;
  }
  Stmt& st = impl_->lookup;
  Reset r(st);
  st.text(1, canonical);
  const int rc = st.step();
  if (rc != SQLITE_ROW) {
    if (rc != SQLITE_DONE) last_error_ = impl_->sqlite_error(rc, "badge lookup");
    return std::nullopt;
  }
  core::Holder h;
  h.person_id = st.col_text(0);
  h.enrolled = st.col_text(1) == "desfire" ? core::CredentialKind::desfire : core::CredentialKind::uid;
  h.valid_from = st.col_time(2);
  h.valid_until = st.col_time(3);
  h.revoked = st.col_int(4) != 0;
  const std::string_view roles = st.col_text(5);
  std::size_t start = 0;
  while (start < roles.size()) {
    std::size_t end = roles.find(';', start);
    if (end == std::string_view::npos) end = roles.size();
    if (auto idx = policy.role_index(roles.substr(start, end - start)); idx && *idx < core::kMaxRoles) {
      h.roles |= core::RoleMask{1} << *idx;
    }
    start = end + 1;
  }
  return h;
}

std::optional<BadgeInfo> CredentialStore::find(std::string_view uid) {
  auto canonical = normalize_uid(uid);
  if (!canonical) return std::nullopt;
  int rc = 0;
  Stmt st(impl_->db,
          std::string("SELECT ") + kBadgeColumns +
              " FROM badges b JOIN people p ON p.id = b.person "
              "WHERE b.uid = ?",
          &rc);
  if (rc != SQLITE_OK) {
    last_error_ = impl_->sqlite_error(rc, "badge find");
    return std::nullopt;
  }
  st.text(1, *canonical);
  rc = st.step();
  if (rc != SQLITE_ROW) {
    if (rc != SQLITE_DONE) last_error_ = impl_->sqlite_error(rc, "badge find");
    return std::nullopt;
  }
  BadgeInfo info;
  read_badge(st, info);
  return info;
}

Result<Done> CredentialStore::put_person(const Person& person, core::Instant now) {
  if (!valid_person_id(person.id)) return Error{Errc::invalid_argument, "person '" + person.id + "': invalid id"};
  std::string why;
  if (!split_roles(join_roles(person.roles), &why)) return Error{Errc::invalid_argument, "roles: " + why};
  const int rc = impl_->put_person(person, ms_of(now), 0, false);
  if (rc != SQLITE_OK) return impl_->sqlite_error(rc, "saving person " + person.id);
  return Done{};
}

Result<Done> CredentialStore::add(const Badge& badge, core::Instant now) {
  auto uid = normalize_uid(badge.uid);
  if (!uid) return Error{Errc::invalid_argument, "uid '" + badge.uid + "': expected 4 to 10 bytes in hex"};
  if (badge.valid_from && badge.valid_until && *badge.valid_until < *badge.valid_from) {
    return Error{Errc::invalid_argument, "valid_until precedes valid_from"};
  }
  Badge b = badge;
  b.uid = *uid;
  const int rc = impl_->put_badge(impl_->insert_badge, b, ms_of(now), 0);
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
    return Error{Errc::not_found, "person '" + b.person + "' does not exist"};
  }
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) return Error{Errc::conflict, "badge " + b.uid + " is enrolled already"};
  if (rc != SQLITE_OK) return impl_->sqlite_error(rc, "enrolling badge " + b.uid);
  return Done{};
}

Result<Done> CredentialStore::revoke(std::string_view uid, core::Instant now) {
  auto canonical = normalize_uid(uid);
  if (!canonical) return Error{Errc::invalid_argument, "uid '" + std::string(uid) + "': expected 4 to 10 bytes in hex"};
  Stmt& st = impl_->revoke;
  st.text(1, *canonical);
  st.int64(2, ms_of(now));
  const int rc = impl_->run(st);
  if (rc != SQLITE_OK) return impl_->sqlite_error(rc, "revoking badge " + *canonical);
  if (sqlite3_changes(impl_->db) == 0) return Error{Errc::not_found, "badge " + *canonical + " is not enrolled"};
  return Done{};
}

Result<std::vector<BadgeInfo>> CredentialStore::list(const ListOptions& o) {
  std::string q = std::string("SELECT ") + kBadgeColumns + " FROM badges b JOIN people p ON p.id = b.person";
  const char* sep = " WHERE ";
  if (o.person) {
    q += sep;
    q += "b.person = ?1";
    sep = " AND ";
  }
  if (o.after_uid) {
    q += sep;
    q += "b.uid > ?2";
  }
  q += " ORDER BY b.uid LIMIT ?3";
  int rc = 0;
  Stmt st(impl_->db, q, &rc);
  if (rc != SQLITE_OK) return impl_->sqlite_error(rc, "listing badges");
  if (o.person) st.text(1, *o.person);
  if (o.after_uid) st.text(2, *o.after_uid);
  st.int64(3, o.limit);
  std::vector<BadgeInfo> out;
  while ((rc = st.step()) == SQLITE_ROW) {
    BadgeInfo info;
    read_badge(st, info);
    out.push_back(std::move(info));
  }
  if (rc != SQLITE_DONE) return impl_->sqlite_error(rc, "listing badges");
  return out;
}

Result<Done> CredentialStore::set_badge_validity(std::string_view uid, std::optional<core::Instant> valid_from,
                                                 std::optional<core::Instant> valid_until, core::Instant now) {
  auto canonical = normalize_uid(uid);
  if (!canonical) return Error{Errc::invalid_argument, "uid '" + std::string(uid) + "': expected 4 to 10 bytes in hex"};
  if (valid_from && valid_until && *valid_until < *valid_from) {
    return Error{Errc::invalid_argument, "valid_until precedes valid_from"};
  }
  Stmt& st = impl_->set_validity;
  st.text(1, *canonical);
  st.opt_time(2, valid_from);
  st.opt_time(3, valid_until);
  st.int64(4, ms_of(now));
  const int rc = impl_->run(st);
  if (rc != SQLITE_OK) return impl_->sqlite_error(rc, "setting the validity of badge " + *canonical);
  if (sqlite3_changes(impl_->db) == 0) return Error{Errc::not_found, "badge " + *canonical + " is not enrolled"};
  return Done{};
}

Result<std::vector<PersonInfo>> CredentialStore::list_people(std::string_view after_id, std::uint32_t limit,
                                                             core::Instant now) {
  if (limit < 1 || limit > 10000) return Error{Errc::invalid_argument, "limit must be 1 to 10000"};
  // One range scan of the people primary key; each person's counts are a seek into badges_person
  // (the total is answered by that index alone, the active count reads the person's badge rows),
  // so a page costs the same at 2,000,000 badges as at 20.
  Stmt& st = impl_->list_people;
  Reset r(st);
  st.text(1, after_id);
  st.int64(2, ms_of(now));
  st.int64(3, limit);
  std::vector<PersonInfo> out;
  int rc = 0;
  while ((rc = st.step()) == SQLITE_ROW) {
    PersonInfo p;
    p.person.id = st.col_text(0);
    p.person.name = st.col_text(1);
    const std::string_view roles = st.col_text(2);
    std::size_t start = 0;
    while (start < roles.size()) {
      std::size_t end = roles.find(';', start);
      if (end == std::string_view::npos) end = roles.size();
      if (end > start) p.person.roles.emplace_back(roles.substr(start, end - start));
      start = end + 1;
    }
    p.updated_at = instant_of(st.col_int(3));
    p.version = st.col_int(4);
    p.badges = static_cast<std::uint32_t>(st.col_int(5));
    p.active_badges = static_cast<std::uint32_t>(st.col_int(6));
    out.push_back(std::move(p));
  }
  if (rc != SQLITE_DONE) return impl_->sqlite_error(rc, "listing people");
  return out;
}

namespace {

ImportReport do_import(CredentialStore::Impl& im, std::istream& in, core::Instant now, const core::Policy* policy) {
  ImportReport rep;
  auto store_error = [&](int rc, std::string_view what) {
    rep.errors.push_back(CsvError{0, im.sqlite_error(rc, what).message});
    rep.applied = false;
    im.rollback_if_open();
    return rep;
  };
  // Cross-row checks (a uid twice, one person with two role sets) use temporary tables, so memory
  // stays flat however large the file.
  int rc = im.exec(
      "CREATE TEMP TABLE IF NOT EXISTS import_uids(uid TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;"
      "CREATE TEMP TABLE IF NOT EXISTS import_people(person TEXT PRIMARY KEY, roles TEXT NOT NULL, "
      "line INTEGER NOT NULL) WITHOUT ROWID;");
  if (rc != SQLITE_OK) return store_error(rc, "import: temporary tables");
  if ((rc = im.begin_tx()) != SQLITE_OK) return store_error(rc, "import: begin");
  if ((rc = im.exec("DELETE FROM temp.import_uids; DELETE FROM temp.import_people;")) != SQLITE_OK) {
    return store_error(rc, "import: temporary tables");
  }
  auto before = im.count_badges();
  if (!before) return store_error(SQLITE_ERROR, before.error().message);

  int prep_rc[4] = {};
  Stmt seen_uid(im.db, "SELECT line FROM temp.import_uids WHERE uid = ?", &prep_rc[0]);
  Stmt add_uid(im.db, "INSERT INTO temp.import_uids(uid, line) VALUES (?, ?)", &prep_rc[1]);
  Stmt seen_person(im.db, "SELECT roles, line FROM temp.import_people WHERE person = ?", &prep_rc[2]);
  Stmt add_person(im.db, "INSERT INTO temp.import_people(person, roles, line) VALUES (?, ?, ?)", &prep_rc[3]);
  for (int prc : prep_rc) {
    if (prc != SQLITE_OK) return store_error(prc, "import: preparing");
  }

  BadgeCsvParser parser(in, policy);
  CsvBadge row;
  std::vector<CsvError> cross;  // errors found here, merged with the parser's by line
  const std::int64_t now_ms = ms_of(now);
  std::size_t applied_rows = 0;
  while (parser.next(row)) {
    {
      Reset r(seen_uid);
      seen_uid.text(1, row.uid);
      if (seen_uid.step() == SQLITE_ROW) {
        cross.push_back(
            CsvError{row.line, "uid " + row.uid + " already appears on line " + std::to_string(seen_uid.col_int(0))});
        continue;
      }
    }
    add_uid.text(1, row.uid);
    add_uid.int64(2, static_cast<std::int64_t>(row.line));
    if ((rc = im.run(add_uid)) != SQLITE_OK) return store_error(rc, "import");
    std::vector<std::string> sorted = row.roles;
    std::sort(sorted.begin(), sorted.end());
    const std::string role_key = join_roles(sorted);
    {
      Reset r(seen_person);
      seen_person.text(1, row.person);
      if (seen_person.step() == SQLITE_ROW) {
        if (seen_person.col_text(0) != role_key) {
          cross.push_back(CsvError{
              row.line, "person " + row.person + ": roles differ from line " + std::to_string(seen_person.col_int(1))});
          continue;
        }
      } else {
        seen_person.reset();
        add_person.text(1, row.person);
        add_person.text(2, role_key);
        add_person.int64(3, static_cast<std::int64_t>(row.line));
        if ((rc = im.run(add_person)) != SQLITE_OK) return store_error(rc, "import");
      }
    }
    // After the first bad row nothing more is written (the transaction will be rolled back), but
    // every row is still checked so that one run reports every problem.
    if (!cross.empty() || !parser.errors().empty()) continue;
    Person p{row.person, {}, row.roles};
    if ((rc = im.put_person(p, now_ms, 0, true)) != SQLITE_OK)
      return store_error(rc, "import: line " + std::to_string(row.line));
    Badge b;
    b.uid = row.uid;
    b.person = row.person;
    b.kind = row.kind;
    b.valid_from = row.valid_from;
    b.valid_until = row.valid_until;
    if ((rc = im.put_badge(im.import_badge, b, now_ms, 0)) != SQLITE_OK) {
      return store_error(rc, "import: line " + std::to_string(row.line));
    }
    ++applied_rows;
  }
  rep.rows = parser.rows_seen();
  rep.errors = parser.errors();
  if (in.bad()) {
    // A read error looks like the end of the file to the parser: never commit a truncated import.
    rep.errors.push_back(CsvError{0, "the input could not be read to its end"});
  }
  rep.errors.insert(rep.errors.end(), cross.begin(), cross.end());
  std::stable_sort(rep.errors.begin(), rep.errors.end(),
                   [](const CsvError& a, const CsvError& b) { return a.line < b.line; });
  if (!rep.errors.empty()) {
    im.rollback_if_open();
    return rep;
  }
  auto after = im.count_badges();
  if (!after) return store_error(SQLITE_ERROR, after.error().message);
  if ((rc = im.commit_tx()) != SQLITE_OK) return store_error(rc, "import: commit");
  rep.applied = true;
  rep.added = static_cast<std::size_t>(*after - *before);
  rep.updated = applied_rows - rep.added;
  return rep;
}

}  // namespace

ImportReport CredentialStore::import_csv(std::istream& in, core::Instant now, const core::Policy* policy) {
  try {
    return do_import(*impl_, in, now, policy);
  } catch (const std::exception& e) {
    // A stream that throws (or memory running out) must not leave a transaction open.
    impl_->rollback_if_open();
    ImportReport rep;
    rep.errors.push_back(CsvError{0, std::string("import failed: ") + e.what()});
    return rep;
  }
}

Result<Done> CredentialStore::apply_changes(std::span<const Change> batch, std::int64_t version, core::Instant now) {
  Impl& im = *impl_;
  int rc = im.begin_tx();
  if (rc != SQLITE_OK) return im.sqlite_error(rc, "applying changes: begin");
  auto fail = [&](Error e) {
    im.rollback_if_open();
    return e;
  };
  // Re-read under the write lock: another process may have applied a batch.
  std::int64_t current = 0;
  {
    Stmt st(im.db, "SELECT value FROM meta WHERE key = 'version'", &rc);
    if (rc != SQLITE_OK) return fail(im.sqlite_error(rc, "applying changes"));
    if (st.step() == SQLITE_ROW) current = st.col_int(0);
  }
  if (version <= current) {
    return fail(Error{Errc::conflict, "change batch version " + std::to_string(version) +
                                          " is not newer than the store's " + std::to_string(current)});
  }
  const std::int64_t now_ms = ms_of(now);
  int rc2 = 0;
  Stmt del_person(im.db, "DELETE FROM people WHERE id = ?", &rc);
  Stmt del_badge(im.db, "DELETE FROM badges WHERE uid = ?", &rc2);
  if (rc != SQLITE_OK || rc2 != SQLITE_OK) return fail(im.sqlite_error(rc != SQLITE_OK ? rc : rc2, "applying changes"));
  std::size_t index = 0;
  for (const Change& c : batch) {
    const std::string at = "change " + std::to_string(index++);
    if (const auto* p = std::get_if<Person>(&c)) {
      std::string why;
      if (!valid_person_id(p->id))
        return fail(Error{Errc::invalid_argument, at + ": invalid person id '" + p->id + "'"});
      if (!split_roles(join_roles(p->roles), &why)) return fail(Error{Errc::invalid_argument, at + ": roles: " + why});
      rc = im.put_person(*p, now_ms, version, false);
    } else if (const auto* b = std::get_if<Badge>(&c)) {
      auto uid = normalize_uid(b->uid);
      if (!uid) return fail(Error{Errc::invalid_argument, at + ": invalid uid '" + b->uid + "'"});
      Badge copy = *b;
      copy.uid = *uid;
      rc = im.put_badge(im.upstream_badge, copy, now_ms, version);
    } else if (const auto* rp = std::get_if<RemovePerson>(&c)) {
      del_person.text(1, rp->id);
      rc = im.run(del_person);
    } else if (const auto* rb = std::get_if<RemoveBadge>(&c)) {
      auto uid = normalize_uid(rb->uid);
      if (!uid) return fail(Error{Errc::invalid_argument, at + ": invalid uid '" + rb->uid + "'"});
      del_badge.text(1, *uid);
      rc = im.run(del_badge);
    }
    if (rc != SQLITE_OK) return fail(im.sqlite_error(rc, at));
  }
  im.set_version.int64(1, version);
  if ((rc = im.run(im.set_version)) != SQLITE_OK) return fail(im.sqlite_error(rc, "applying changes: version"));
  // Foreign keys are deferred (a batch may name a person after their badge), so COMMIT is where
  // a badge of an unknown person is refused.
  if ((rc = im.commit_tx()) != SQLITE_OK) {
    Error e = (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
                  ? Error{Errc::invalid_argument,
                          "change batch " + std::to_string(version) + ": a badge names a person that does not exist"}
                  : im.sqlite_error(rc, "applying changes: commit");
    return fail(std::move(e));
  }
  version_ = version;
  return Done{};
}

}  // namespace zonegate::adapters::credentials
