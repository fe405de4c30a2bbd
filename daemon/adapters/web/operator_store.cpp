// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/operator_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "adapters/web/secure_random.hpp"

namespace zonegate::adapters::web {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS operators (
  name         TEXT PRIMARY KEY,
  role         TEXT NOT NULL CHECK (role IN ('guard', 'auditor', 'admin')),
  password     TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  disabled     INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  failed_count INTEGER NOT NULL DEFAULT 0,
  locked_until INTEGER,
  last_login   INTEGER
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES ('unknown_name_failures', 0);
)sql";

constexpr const char* kColumns = "name, role, created_at, disabled, failed_count, locked_until, last_login";

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

/// Reads the columns of kColumns; false if the stored role is not one we know.
bool read_operator(const Stmt& st, Operator& out) {
  out.name = st.col_text(0);
  const auto role = role_from_string(st.col_text(1));
  if (!role) return false;
  out.role = *role;
  out.created_at = instant_of(st.col_int(2));
  out.disabled = st.col_int(3) != 0;
  out.failed_count = static_cast<std::uint32_t>(st.col_int(4));
  out.locked_until = st.col_time(5);
  out.last_login = st.col_time(6);
  return true;
}

/// Creates the file with mode 0600 before SQLite does (SQLite would use 0644 less the umask), or
/// tightens an existing one. The -wal and -shm files SQLite creates take the database's mode.
std::optional<std::string> prepare_private_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return "cannot open " + path.string() + ": " + std::strerror(errno);
  struct stat st {};
  std::optional<std::string> error;
  if (::fstat(fd, &st) != 0) {
    error = "cannot stat " + path.string() + ": " + std::strerror(errno);
  } else if ((st.st_mode & 077) != 0 && ::fchmod(fd, 0600) != 0) {
    error = "cannot chmod 0600 " + path.string() + ": " + std::strerror(errno);
  }
  ::close(fd);
  return error;
}

}  // namespace

std::string_view to_string(AuthOutcome outcome) {
  switch (outcome) {
    case AuthOutcome::ok:
      return "ok";
    case AuthOutcome::bad_credentials:
      return "bad_credentials";
    case AuthOutcome::locked:
      return "locked";
    case AuthOutcome::disabled:
      return "disabled";
  }
  return "bad_credentials";
}

class OperatorStore::Impl {
 public:
  sqlite3* db = nullptr;
  OperatorStoreOptions options;
  std::string dummy_hash;
  Stmt begin, commit, rollback, insert, find, list, auth_read, set_password, set_role, set_disabled, login_ok,
      login_failed, unknown_failed;

  ~Impl() {
    for (Stmt* s : {&begin, &commit, &rollback, &insert, &find, &list, &auth_read, &set_password, &set_role,
                    &set_disabled, &login_ok, &login_failed, &unknown_failed}) {
      *s = Stmt();
    }
    sqlite3_close_v2(db);
  }

  Error sqlite_error(int rc, std::string_view what) const {
    return Error{errc_of(rc), std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc))};
  }
  int run(Stmt& st) {
    Reset r(st);
    const int rc = st.step();
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : sqlite3_extended_errcode(db);
  }
  void rollback_if_open() {
    if (sqlite3_get_autocommit(db) == 0) (void)run(rollback);
  }
  /// Runs an UPDATE keyed by name; not_found if it touched no row.
  Result<Done> update_one(Stmt& st, std::string_view name, std::string_view what) {
    const int rc = run(st);
    if (rc != SQLITE_OK) return sqlite_error(rc, what);
    if (sqlite3_changes(db) == 0) return Error{Errc::not_found, "no operator '" + std::string(name) + "'"};
    return Done{};
  }
};

OperatorStore::OperatorStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OperatorStore::~OperatorStore() = default;

Result<std::unique_ptr<OperatorStore>> OperatorStore::open(const std::filesystem::path& db_file,
                                                           const OperatorStoreOptions& options) {
  if (auto e = prepare_private_file(db_file)) return Error{Errc::io_error, *e};
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  // Unknown names are checked against this: current parameters, a random salt and a random key no
  // password derives, so the work is the same as for a real operator and the answer is always "no".
  {
    std::array<std::uint8_t, kSaltBytes> salt{};
    std::array<std::uint8_t, kKeyBytes> key{};
    if (!random_bytes(salt) || !random_bytes(key)) return Error{Errc::crypto, "the random generator failed"};
    const ScryptParams& p = options.kdf;
    impl->dummy_hash = "scrypt$" + std::to_string(p.log2_n) + '$' + std::to_string(p.r) + '$' + std::to_string(p.p) +
                       '$' + base64_encode(salt) + '$' + base64_encode(key);
    if (!parse_password_hash(impl->dummy_hash)) return Error{Errc::invalid_argument, "scrypt parameters out of range"};
  }
  int rc = sqlite3_open_v2(db_file.c_str(), &impl->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                           nullptr);
  if (rc != SQLITE_OK) return impl->sqlite_error(rc, "opening " + db_file.string());
  sqlite3_busy_timeout(impl->db, 2000);
  rc = sqlite3_exec(impl->db,
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA trusted_schema=OFF; "
                    "PRAGMA secure_delete=ON;",
                    nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_exec(impl->db, kSchema, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return impl->sqlite_error(rc, "creating the operator schema in " + db_file.string());

  const std::string select = std::string("SELECT ") + kColumns + " FROM operators";
  struct {
    Stmt* st;
    std::string text;
  } const prepared[] = {
      {&impl->begin, "BEGIN IMMEDIATE"},
      {&impl->commit, "COMMIT"},
      {&impl->rollback, "ROLLBACK"},
      {&impl->insert,
       "INSERT INTO operators(name, role, password, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)"},
      {&impl->find, select + " WHERE name = ?1"},
      {&impl->list, select + " ORDER BY name"},
      {&impl->auth_read, "SELECT role, password, disabled, failed_count, locked_until FROM operators WHERE name = ?1"},
      {&impl->set_password,
       "UPDATE operators SET password = ?2, failed_count = 0, locked_until = NULL, updated_at = ?3 WHERE name = ?1"},
      {&impl->set_role, "UPDATE operators SET role = ?2, updated_at = ?3 WHERE name = ?1"},
      {&impl->set_disabled,
       "UPDATE operators SET disabled = ?2, updated_at = ?3, "
       "failed_count = CASE WHEN ?2 = 0 THEN 0 ELSE failed_count END, "
       "locked_until = CASE WHEN ?2 = 0 THEN NULL ELSE locked_until END WHERE name = ?1"},
      {&impl->login_ok,
       "UPDATE operators SET failed_count = 0, locked_until = NULL, last_login = ?2, "
       "password = coalesce(?3, password) WHERE name = ?1"},
      {&impl->login_failed, "UPDATE operators SET failed_count = ?2, locked_until = ?3 WHERE name = ?1"},
      {&impl->unknown_failed, "UPDATE meta SET value = value + 1 WHERE key = 'unknown_name_failures'"},
  };
  for (const auto& p : prepared) {
    *p.st = Stmt(impl->db, p.text, &rc);
    if (rc != SQLITE_OK) return impl->sqlite_error(rc, "preparing " + p.text);
  }
  return std::unique_ptr<OperatorStore>(new OperatorStore(std::move(impl)));
}

Result<Done> OperatorStore::add(std::string_view name, Role role, std::string_view password, core::Instant now) {
  if (!valid_operator_name(name)) {
    return Error{Errc::invalid_argument, "'" + std::string(name) + "' is not a valid operator name"};
  }
  if (auto why = password_policy_violation(name, password)) return Error{Errc::weak_password, *why};
  auto hash = hash_password(password, impl_->options.kdf);
  if (!hash) return hash.error();
  Stmt& st = impl_->insert;
  st.text(1, name);
  st.text(2, to_string(role));
  st.text(3, *hash);
  st.int64(4, ms_of(now));
  const int rc = impl_->run(st);
  if ((rc & 0xFF) == SQLITE_CONSTRAINT) {
    return Error{Errc::conflict, "operator '" + std::string(name) + "' exists already"};
  }
  if (rc != SQLITE_OK) return impl_->sqlite_error(rc, "adding operator " + std::string(name));
  return Done{};
}

Result<Done> OperatorStore::set_password(std::string_view name, std::string_view password, core::Instant now) {
  if (auto why = password_policy_violation(name, password)) return Error{Errc::weak_password, *why};
  auto hash = hash_password(password, impl_->options.kdf);
  if (!hash) return hash.error();
  Stmt& st = impl_->set_password;
  st.text(1, name);
  st.text(2, *hash);
  st.int64(3, ms_of(now));
  return impl_->update_one(st, name, "setting the password");
}

Result<Done> OperatorStore::set_role(std::string_view name, Role role, core::Instant now) {
  Stmt& st = impl_->set_role;
  st.text(1, name);
  st.text(2, to_string(role));
  st.int64(3, ms_of(now));
  return impl_->update_one(st, name, "setting the role");
}

Result<Done> OperatorStore::disable(std::string_view name, core::Instant now) {
  Stmt& st = impl_->set_disabled;
  st.text(1, name);
  st.int64(2, 1);
  st.int64(3, ms_of(now));
  return impl_->update_one(st, name, "disabling");
}

Result<Done> OperatorStore::enable(std::string_view name, core::Instant now) {
  Stmt& st = impl_->set_disabled;
  st.text(1, name);
  st.int64(2, 0);
  st.int64(3, ms_of(now));
  return impl_->update_one(st, name, "enabling");
}

Result<std::optional<Operator>> OperatorStore::find(std::string_view name) {
  Stmt& st = impl_->find;
  Reset r(st);
  st.text(1, name);
  const int rc = st.step();
  if (rc == SQLITE_DONE) return std::optional<Operator>();
  if (rc != SQLITE_ROW) return impl_->sqlite_error(rc, "reading operator");
  Operator op;
  if (!read_operator(st, op)) return Error{Errc::corrupt, "operator '" + std::string(name) + "' has an unknown role"};
  return std::optional<Operator>(std::move(op));
}

Result<std::vector<Operator>> OperatorStore::list() {
  Stmt& st = impl_->list;
  Reset r(st);
  std::vector<Operator> out;
  for (;;) {
    const int rc = st.step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return impl_->sqlite_error(rc, "listing operators");
    Operator op;
    if (!read_operator(st, op)) return Error{Errc::corrupt, "operator '" + op.name + "' has an unknown role"};
    out.push_back(std::move(op));
  }
  return out;
}

Result<AuthResult> OperatorStore::authenticate(std::string_view name, std::string_view password, core::Instant now) {
  Impl& im = *impl_;
  // Over-long passwords are refused before any work; the policy never let one be set.
  const bool plausible = valid_operator_name(name) && password.size() <= kMaxPasswordBytes;
  struct Stored {
    Role role = Role::guard;
    std::string hash;
    bool disabled = false;
    std::uint32_t failed = 0;
    std::optional<core::Instant> locked_until;
  };
  // Reads the row inside or outside a transaction; nullopt = no such operator.
  const auto read = [&](Stored& out) -> Result<bool> {
    Stmt& st = im.auth_read;
    Reset r(st);
    st.text(1, name);
    const int rc = st.step();
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return im.sqlite_error(rc, "reading operator");
    const auto role = role_from_string(st.col_text(0));
    if (!role) return Error{Errc::corrupt, "operator '" + std::string(name) + "' has an unknown role"};
    out.role = *role;
    out.hash = st.col_text(1);
    out.disabled = st.col_int(2) != 0;
    out.failed = static_cast<std::uint32_t>(st.col_int(3));
    out.locked_until = st.col_time(4);
    return true;
  };

  Stored row;
  bool known = false;
  if (plausible) {
    auto found = read(row);
    if (!found) return found.error();
    known = *found;
  }
  if (!known) {
    // Same scrypt work and the same kind of synchronous write as a failure on a real operator, so
    // neither the answer nor its timing tells whether the name exists.
    (void)verify_password(password.substr(0, kMaxPasswordBytes), im.dummy_hash);
    if (const int rc = im.run(im.unknown_failed); rc != SQLITE_OK) return im.sqlite_error(rc, "recording a failure");
    return AuthResult{AuthOutcome::bad_credentials, std::nullopt, std::nullopt};
  }
  if (row.locked_until && now < *row.locked_until && !row.disabled) {
    // No password check while locked: guessing is pointless until the lock runs out.
    return AuthResult{AuthOutcome::locked, std::nullopt, row.locked_until};
  }
  // The expensive part runs outside the write transaction so it never blocks other writers.
  const bool match = verify_password(password, row.hash);
  if (row.disabled) return AuthResult{AuthOutcome::disabled, std::nullopt, std::nullopt};
  std::optional<std::string> upgraded;
  if (match && needs_rehash(row.hash, im.options.kdf)) {
    if (auto h = hash_password(password, im.options.kdf)) upgraded = std::move(*h);
  }

  if (const int rc = im.run(im.begin); rc != SQLITE_OK) return im.sqlite_error(rc, "beginning a transaction");
  Stored current;
  auto again = read(current);
  if (!again || !*again || current.hash != row.hash || current.disabled) {
    // Removed, re-keyed or disabled while the password was being checked: the check proves nothing.
    im.rollback_if_open();
    if (!again) return again.error();
    return AuthResult{current.disabled ? AuthOutcome::disabled : AuthOutcome::bad_credentials, std::nullopt,
                      std::nullopt};
  }
  const bool lock_expired = current.locked_until && *current.locked_until <= now;
  if (current.locked_until && !lock_expired) {
    // Another login locked it in the meantime.
    im.rollback_if_open();
    return AuthResult{AuthOutcome::locked, std::nullopt, current.locked_until};
  }
  AuthResult result;
  int rc = SQLITE_OK;
  if (match) {
    Stmt& st = im.login_ok;
    st.text(1, name);
    st.int64(2, ms_of(now));
    if (upgraded) st.text(3, *upgraded);
    rc = im.run(st);
    result.outcome = AuthOutcome::ok;
    result.role = current.role;
  } else {
    const std::uint32_t failed = (lock_expired ? 0 : current.failed) + 1;
    std::optional<core::Instant> lock;
    if (failed >= im.options.lockout.max_failures) lock = now + im.options.lockout.lock_for;
    Stmt& st = im.login_failed;
    st.text(1, name);
    st.int64(2, failed);
    st.opt_time(3, lock);
    rc = im.run(st);
    result.outcome = lock ? AuthOutcome::locked : AuthOutcome::bad_credentials;
    result.locked_until = lock;
  }
  if (rc == SQLITE_OK) rc = im.run(im.commit);
  if (rc != SQLITE_OK) {
    im.rollback_if_open();
    return im.sqlite_error(rc, "recording the login");
  }
  return result;
}

}  // namespace zonegate::adapters::web
