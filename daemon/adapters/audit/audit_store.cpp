// SPDX-License-Identifier: Apache-2.0
#include "adapters/audit/audit_store.hpp"

#include <openssl/rand.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <ostream>
#include <thread>

#include "adapters/audit/audit_codec.hpp"
#include "adapters/audit/fault_vfs.hpp"
#include "adapters/audit/signing_key.hpp"
#include "adapters/audit/sqlite_handle.hpp"

namespace zonegate::adapters::audit {
namespace {

namespace fs = std::filesystem;

constexpr int kSchemaVersion = 1;

// Rows per multi-row INSERT, largest first (write_batch), and the columns bound per row.
constexpr std::size_t kChunkRows[] = {64, 8, 1};
constexpr std::size_t kInsertColumns = 19;

// Append-only is enforced by the schema itself, so that a mistaken UPDATE from a shell or a bug in
// another tool fails loudly. It does not stop someone who drops the triggers: the hash chain and
// the signed checkpoints are what make such edits detectable.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS records (
  seq             INTEGER PRIMARY KEY,
  time_ms         INTEGER NOT NULL,
  kind            TEXT NOT NULL,
  event           TEXT,
  person          TEXT,
  badge           TEXT,
  door            TEXT,
  zone            TEXT,
  direction       TEXT,
  verdict         TEXT,
  reason          TEXT,
  alarm           TEXT,
  severity        TEXT,
  source          TEXT,
  ref             INTEGER,
  detail          TEXT,
  salt            BLOB CHECK (salt IS NULL OR length(salt) = 16),
  personal_digest BLOB CHECK (personal_digest IS NULL OR length(personal_digest) = 32),
  purged_by       INTEGER,
  prev_hash       BLOB NOT NULL CHECK (length(prev_hash) = 32),
  hash            BLOB NOT NULL CHECK (length(hash) = 32)
);

CREATE INDEX IF NOT EXISTS records_person_zone_time ON records(person, zone, time_ms) WHERE person IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_badge_time ON records(badge, time_ms) WHERE badge IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_door_time ON records(door, time_ms) WHERE door IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_zone_time ON records(zone, time_ms) WHERE zone IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_reason_time ON records(reason, time_ms) WHERE reason IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_verdict_time ON records(verdict, time_ms) WHERE verdict IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_kind_time ON records(kind, time_ms);
CREATE INDEX IF NOT EXISTS records_time ON records(time_ms);

CREATE TRIGGER IF NOT EXISTS records_insert_extends_chain BEFORE INSERT ON records
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM records)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM records WHERE seq = NEW.seq - 1), zeroblob(32))
  OR NEW.purged_by IS NOT NULL OR NEW.personal_digest IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'audit: a record must extend the chain (next seq, prev_hash of the last record)'); END;

CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'audit: records are append-only (DELETE refused)'); END;

CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
WHEN NOT (
  OLD.purged_by IS NULL AND NEW.purged_by IS NOT NULL AND NEW.purged_by > OLD.seq
  AND NEW.seq IS OLD.seq AND NEW.time_ms IS OLD.time_ms AND NEW.kind IS OLD.kind AND NEW.event IS OLD.event
  AND NEW.door IS OLD.door AND NEW.zone IS OLD.zone AND NEW.direction IS OLD.direction
  AND NEW.verdict IS OLD.verdict AND NEW.reason IS OLD.reason AND NEW.alarm IS OLD.alarm
  AND NEW.severity IS OLD.severity AND NEW.source IS OLD.source AND NEW.ref IS OLD.ref
  AND NEW.prev_hash IS OLD.prev_hash AND NEW.hash IS OLD.hash
  AND NEW.salt IS NULL AND length(NEW.personal_digest) = 32
  AND (NEW.person IS NULL) = (OLD.person IS NULL) AND (NEW.person IS NULL OR NEW.person = '<purged>')
  AND (NEW.badge IS NULL) = (OLD.badge IS NULL) AND (NEW.badge IS NULL OR NEW.badge = '<purged>')
  AND (NEW.detail IS NULL) = (OLD.detail IS NULL) AND (NEW.detail IS NULL OR NEW.detail = '<purged>')
  AND EXISTS (SELECT 1 FROM records r WHERE r.seq = NEW.purged_by AND r.kind = 'retention' AND r.ref > OLD.time_ms)
)
BEGIN SELECT RAISE(ABORT, 'audit: records are append-only (UPDATE refused; only a recorded retention purge may redact personal fields)'); END;

CREATE TABLE IF NOT EXISTS checkpoints (
  seq        INTEGER PRIMARY KEY,
  time_ms    INTEGER NOT NULL,
  hash       BLOB NOT NULL CHECK (length(hash) = 32),
  gateway_id TEXT NOT NULL,
  key_id     BLOB NOT NULL CHECK (length(key_id) = 32),
  signature  BLOB NOT NULL CHECK (length(signature) = 64)
);

CREATE TRIGGER IF NOT EXISTS checkpoints_insert BEFORE INSERT ON checkpoints
WHEN NEW.seq <= (SELECT coalesce(max(seq), 0) FROM checkpoints)
  OR NEW.hash IS NOT (SELECT hash FROM records WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'audit: a checkpoint must sign an existing record after the last checkpoint'); END;

CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'audit: checkpoints are append-only (UPDATE refused)'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'audit: checkpoints are append-only (DELETE refused)'); END;

CREATE TRIGGER IF NOT EXISTS meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'audit: meta is append-only'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_delete BEFORE DELETE ON meta
BEGIN SELECT RAISE(ABORT, 'audit: meta is append-only'); END;
)sql";

constexpr const char* kRowColumns =
    "seq, time_ms, kind, event, person, badge, door, zone, direction, verdict, reason, alarm, severity, source, ref, "
    "detail, purged_by, prev_hash, hash";

constexpr const char* kVerifySql =
    "SELECT seq, time_ms, kind, event, door, zone, direction, verdict, reason, alarm, severity, source, ref, "
    "person, badge, detail, salt, personal_digest, purged_by, prev_hash, hash FROM records "
    "WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq";

Errc errc_of(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_FULL:
      return Errc::disk_full;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return Errc::io_error;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Errc::corrupt;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Errc::busy;
    case SQLITE_CONSTRAINT:
      return Errc::refused;
    case SQLITE_READONLY:
      return Errc::read_only;
    default:
      return Errc::internal;
  }
}

std::int64_t ms_of(core::Instant t) { return t.time_since_epoch().count(); }
core::Instant instant_of(std::int64_t ms) { return core::Instant{core::Duration{ms}}; }

template <std::size_t N>
bool copy_blob(std::string_view b, std::array<std::uint8_t, N>& out) {
  if (b.size() != N) return false;
  std::memcpy(out.data(), b.data(), N);
  return true;
}

/// Names the engine uses as note subjects that are neither doors, zones nor people.
bool is_known_subject(const core::Policy& p, std::string_view s) {
  static constexpr std::string_view kWords[] = {"site", "fire", "lockdown", "lift", "release", "forgive", "unlock"};
  for (auto w : kWords) {
    if (s == w) return true;
  }
  return s == p.site_name || p.gate_index(s).has_value() || p.tamper_index(s).has_value() ||
         p.interlock_index(s).has_value();
}

/// sqlite3 function zg_personal_digest(salt, person, badge, detail): the per-record digest of the
/// personal fields, computed inside the purge's UPDATE so that the redaction is one statement.
void personal_digest_fn(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  auto* enc = static_cast<codec::Encoder*>(sqlite3_user_data(ctx));
  if (argc != 4) {
    sqlite3_result_error(ctx, "zg_personal_digest: 4 arguments expected", -1);
    return;
  }
  auto text = [&](int i) -> std::string_view {
    const auto* p = sqlite3_value_text(argv[i]);
    if (p == nullptr) return {};
    return {reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_value_bytes(argv[i]))};
  };
  codec::Fields f;
  f.person = text(1);
  f.badge = text(2);
  f.detail = text(3);
  codec::Salt salt{};
  if (f.has_personal()) {
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB || sqlite3_value_bytes(argv[0]) != codec::kSaltSize) {
      sqlite3_result_error(ctx, "zg_personal_digest: a record with personal data has no salt", -1);
      return;
    }
    std::memcpy(salt.data(), sqlite3_value_blob(argv[0]), salt.size());
  }
  Hash out{};
  if (!enc->personal_digest(f, salt, out)) {
    sqlite3_result_error(ctx, "zg_personal_digest: SHA-256 failed", -1);
    return;
  }
  sqlite3_result_blob(ctx, out.data(), static_cast<int>(out.size()), SQLITE_TRANSIENT);
}

/// A query's SQL and its bound values.
struct BuiltQuery {
  std::string sql;
  std::vector<std::string_view> texts;  // bound in order of `order`
  std::vector<std::int64_t> ints;
  std::vector<bool> order;  // true: next from texts, false: next from ints
  void text(std::string_view s) {
    texts.push_back(s);
    order.push_back(true);
  }
  void integer(std::int64_t v) {
    ints.push_back(v);
    order.push_back(false);
  }
};

BuiltQuery build_query(const Filter& f, const Page* page) {
  BuiltQuery q;
  q.sql = "SELECT ";
  q.sql += kRowColumns;
  q.sql += " FROM records";
  // Exactly one index drives the plan, the one of the most selective column given; the other
  // equalities are written `+col = ?`, which SQLite cannot serve from an index, so the plan never
  // depends on statistics. Indexes are (column, time_ms): a time range narrows the same scan and
  // rows come out in (time_ms, seq) order with no sort. The person index is (person, zone,
  // time_ms), so that person x zone x time reads only matching rows; for a person alone, time is
  // still checked inside the index and the person's rows are sorted.
  const std::pair<const char*, const std::optional<std::string>*> indexed[] = {
      {"person", &f.person}, {"badge", &f.badge},     {"door", &f.door}, {"zone", &f.zone},
      {"reason", &f.reason}, {"verdict", &f.verdict}, {"kind", &f.kind},
  };
  const char* sep = " WHERE ";
  auto clause = [&](const std::string& c) {
    q.sql += sep;
    q.sql += c;
    sep = " AND ";
  };
  const char* driver = nullptr;
  for (const auto& [col, val] : indexed) {
    if (!val->has_value()) continue;
    // The person index is (person, zone, time_ms): with both given, both narrow it.
    const bool indexable =
        driver == nullptr || (std::string_view(driver) == "person" && std::string_view(col) == "zone");
    clause(std::string(indexable ? "" : "+") + col + " = ?");
    q.text(**val);
    if (driver == nullptr) driver = col;
  }
  if (f.event) {
    clause("event = ?");
    q.text(*f.event);
  }
  if (f.from) {
    clause("time_ms >= ?");
    q.integer(ms_of(*f.from));
  }
  if (f.to) {
    clause("time_ms < ?");
    q.integer(ms_of(*f.to));
  }
  if (page != nullptr && page->after) {
    clause("time_ms >= ? AND (time_ms > ? OR seq > ?)");
    q.integer(ms_of(page->after->at));
    q.integer(ms_of(page->after->at));
    q.integer(static_cast<std::int64_t>(page->after->seq));
  }
  q.sql += " ORDER BY time_ms, seq";
  if (page != nullptr) {
    q.sql += " LIMIT ? OFFSET ?";
    q.integer(page->limit);
    q.integer(static_cast<std::int64_t>(page->offset));
  }
  return q;
}

void bind_query(sql::Stmt& st, const BuiltQuery& q) {
  std::size_t ti = 0;
  std::size_t ii = 0;
  for (std::size_t i = 0; i < q.order.size(); ++i) {
    const int idx = static_cast<int>(i + 1);
    if (q.order[i]) {
      st.bind_text(idx, q.texts[ti++]);
    } else {
      st.bind_int64(idx, q.ints[ii++]);
    }
  }
}

void read_row(const sql::Stmt& st, Row& r) {
  r.seq = static_cast<Seq>(st.int64(0));
  r.at = instant_of(st.int64(1));
  r.kind = st.text(2);
  r.event = st.text(3);
  r.person = st.text(4);
  r.badge = st.text(5);
  r.door = st.text(6);
  r.zone = st.text(7);
  r.direction = st.text(8);
  r.verdict = st.text(9);
  r.reason = st.text(10);
  r.alarm = st.text(11);
  r.severity = st.text(12);
  r.source = st.text(13);
  r.ref = st.int64(14);
  r.detail = st.text(15);
  r.purged_by = static_cast<Seq>(st.int64(16));
  if (!copy_blob(st.blob(17), r.prev_hash)) r.prev_hash.fill(0);
  if (!copy_blob(st.blob(18), r.hash)) r.hash.fill(0);
}

constexpr const char* kCsvHeader =
    "seq,time,kind,event,person,badge,door,zone,direction,verdict,reason,alarm,severity,source,ref,detail,"
    "purged_by,prev_hash,hash\r\n";

void csv_line(std::string& out, const Row& r) {
  out += std::to_string(r.seq);
  out += ',';
  append_csv_export_field(out, core::format_utc(r.at));
  // Every text field can carry what a badge, an operator or a config file put there; numbers and
  // hashes are written by the store and cannot start a formula.
  for (const std::string* s : {&r.kind, &r.event, &r.person, &r.badge, &r.door, &r.zone, &r.direction, &r.verdict,
                               &r.reason, &r.alarm, &r.severity, &r.source}) {
    out += ',';
    append_csv_export_field(out, *s);
  }
  out += ',';
  if (r.ref != 0) out += std::to_string(r.ref);
  out += ',';
  append_csv_export_field(out, r.detail);
  out += ',';
  if (r.purged_by != 0) out += std::to_string(r.purged_by);
  out += ',';
  out += to_hex(r.prev_hash);
  out += ',';
  out += to_hex(r.hash);
  out += "\r\n";
}

void json_line(std::string& out, const Row& r) {
  out += "{\"seq\":";
  out += std::to_string(r.seq);
  out += ",\"time\":";
  append_json_string(out, core::format_utc(r.at));
  out += ",\"time_ms\":";
  out += std::to_string(ms_of(r.at));
  const std::pair<const char*, const std::string*> fields[] = {
      {"kind", &r.kind},     {"event", &r.event}, {"person", &r.person},       {"badge", &r.badge},
      {"door", &r.door},     {"zone", &r.zone},   {"direction", &r.direction}, {"verdict", &r.verdict},
      {"reason", &r.reason}, {"alarm", &r.alarm}, {"severity", &r.severity},   {"source", &r.source},
      {"detail", &r.detail},
  };
  for (const auto& [key, val] : fields) {
    out += ",\"";
    out += key;
    out += "\":";
    append_json_string(out, *val);
  }
  out += ",\"ref\":";
  out += std::to_string(r.ref);
  out += ",\"purged_by\":";
  out += std::to_string(r.purged_by);
  out += ",\"prev_hash\":\"";
  out += to_hex(r.prev_hash);
  out += "\",\"hash\":\"";
  out += to_hex(r.hash);
  out += "\"}\n";
}

}  // namespace

std::string_view to_string(Errc e) {
  switch (e) {
    case Errc::disk_full:
      return "disk_full";
    case Errc::io_error:
      return "io_error";
    case Errc::corrupt:
      return "corrupt";
    case Errc::busy:
      return "busy";
    case Errc::refused:
      return "refused";
    case Errc::read_only:
      return "read_only";
    case Errc::signing_key:
      return "signing_key";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::internal:
      break;
  }
  return "internal";
}

std::string_view to_string(EntryKind k) {
  switch (k) {
    case EntryKind::operator_action:
      return "operator";
    case EntryKind::config:
      return "config";
    case EntryKind::reader:
      return "reader";
    case EntryKind::export_:
      return "export";
    case EntryKind::system:
      break;
  }
  return "system";
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0x0F];
  }
  return out;
}

void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_csv_export_field(std::string& out, std::string_view field) {
  // OWASP's list of characters that start a formula in Excel, LibreOffice and Google Sheets
  // (TAB and CR because some of them strip leading whitespace before looking).
  if (field.empty() || std::string_view("=+-@\t\r").find(field.front()) == std::string_view::npos) {
    append_csv_field(out, field);
    return;
  }
  std::string quoted;
  quoted.reserve(field.size() + 1);
  quoted += '\'';
  quoted += field;
  append_csv_field(out, quoted);
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out += kDigits[c >> 4];
            out += kDigits[c & 0x0F];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // Validate one UTF-8 sequence (no overlongs, no surrogates, at most U+10FFFF).
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1FU;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0FU;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07U;
    }
    bool valid = len != 0 && i + len <= s.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0U) != 0x80U) {
        valid = false;
      } else {
        cp = (cp << 6) | (cc & 0x3FU);
      }
    }
    if (valid) {
      valid = !(len == 3 && cp < 0x800) && !(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) &&
              !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (!valid) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      out += cp == 0x2028 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  out += '"';
}

// -----------------------------------------------------------------------------------------------
// Impl
// -----------------------------------------------------------------------------------------------

class AuditStore::Impl {
 public:
  Options opt;
  fs::path db_path;
  std::unique_ptr<FaultVfs> vfs;  // declared before db: outlives the connection
  sql::Db db;
  std::optional<SigningKey> key;
  std::optional<PublicKey> own_public;
  std::string gateway_id;
  codec::Encoder enc;
  codec::Encoder purge_enc;  // used by zg_personal_digest inside SQLite

  sql::Stmt begin_stmt, commit_stmt, rollback_stmt, tail_stmt, last_cp_stmt, insert_cp_stmt;

  Seq last_seq = 0;
  Hash last_hash{};
  Seq cp_seq = 0;
  std::int64_t first_unsigned_ms = 0;  // time of the oldest record after the last checkpoint

  Error sqlite_error(int rc, std::string_view what) const {
    std::string msg(what);
    msg += ": ";
    msg += db.get() != nullptr ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc);
    return Error{errc_of(rc), std::move(msg)};
  }

  int exec(const char* sql_text) { return sqlite3_exec(db.get(), sql_text, nullptr, nullptr, nullptr); }

  void rollback_if_open() {
    if (sqlite3_get_autocommit(db.get()) == 0) {
      rollback_stmt.step();
      rollback_stmt.reset();
    }
  }

  Result<std::optional<std::string>> meta_get(const char* k) {
    int rc = 0;
    sql::Stmt st(db.get(), "SELECT value FROM meta WHERE key = ?", &rc);
    if (rc != SQLITE_OK) return sqlite_error(rc, "reading meta");
    st.bind_text(1, k);
    rc = st.step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(std::string(st.text(0)));
    if (rc != SQLITE_DONE) return sqlite_error(rc, "reading meta");
    return std::optional<std::string>();
  }

  int meta_put(const char* k, std::string_view v) {
    int rc = 0;
    sql::Stmt st(db.get(), "INSERT INTO meta(key, value) VALUES (?, ?)", &rc);
    if (rc != SQLITE_OK) return rc;
    st.bind_text(1, k);
    st.bind_text(2, v);
    rc = st.step();
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  /// Reads the last record's seq and hash (0 and zeros for an empty log).
  int read_tail(Seq& seq, Hash& hash) {
    sql::ResetGuard g(tail_stmt);
    const int rc = tail_stmt.step();
    if (rc == SQLITE_DONE) {
      seq = 0;
      hash.fill(0);
      return SQLITE_OK;
    }
    if (rc != SQLITE_ROW) return rc;
    seq = static_cast<Seq>(tail_stmt.int64(0));
    if (!copy_blob(tail_stmt.blob(1), hash)) return SQLITE_CORRUPT;
    return SQLITE_OK;
  }

  int read_last_checkpoint(Seq& seq, std::int64_t& time_ms, Hash* key_id) {
    sql::ResetGuard g(last_cp_stmt);
    const int rc = last_cp_stmt.step();
    if (rc == SQLITE_DONE) {
      seq = 0;
      time_ms = 0;
      return SQLITE_OK;
    }
    if (rc != SQLITE_ROW) return rc;
    seq = static_cast<Seq>(last_cp_stmt.int64(0));
    time_ms = last_cp_stmt.int64(1);
    if (key_id != nullptr && !copy_blob(last_cp_stmt.blob(2), *key_id)) return SQLITE_CORRUPT;
    return SQLITE_OK;
  }

  Result<bool> open_database();
  Result<bool> load_state();

  /// One record of the chunk being inserted: its fields, the strings they may point into, and
  /// the salt and hashes bound to the INSERT (SQLITE_STATIC: they must outlive the step).
  struct Slot {
    codec::Fields f;
    std::string scratch;  // detail text built for a note whose subject is a person
    codec::Salt salt{};
    Hash prev{};
    Hash hash{};
  };
  std::array<Slot, kChunkRows[0]> slots;
  std::array<sql::Stmt, std::size(kChunkRows)> insert_stmts;  // one per entry of kChunkRows
  std::vector<std::uint8_t> salt_pool;                        // the batch's salts, one RAND_bytes call

  /// Fills salt_pool with `n` fresh salts.
  bool draw_salts(std::size_t n) {
    salt_pool.resize(n * codec::kSaltSize);
    return RAND_bytes(salt_pool.data(), static_cast<int>(salt_pool.size())) == 1;
  }

  /// Computes the personal digest and the hash of a slot whose fields, salt and prev are set.
  bool hash_slot(Slot& s) {
    Hash pd{};
    return enc.personal_digest(s.f, s.salt, pd) && enc.record_hash(s.f, pd, s.prev, s.hash);
  }

  /// Prepares insert_stmts[which]: an INSERT of kChunkRows[which] rows.
  int prepare_insert(std::size_t which) {
    std::string text =
        "INSERT INTO records(seq, time_ms, kind, event, person, badge, door, zone, direction, verdict, reason, alarm, "
        "severity, source, ref, detail, salt, prev_hash, hash) VALUES ";
    for (std::size_t r = 0; r < kChunkRows[which]; ++r) {
      text += r == 0 ? "(" : ",(";
      for (std::size_t col = 0; col < kInsertColumns; ++col) text += col == 0 ? "?" : ",?";
      text += ')';
    }
    int rc = SQLITE_OK;
    insert_stmts[which] = sql::Stmt(db.get(), text, &rc);
    return rc;
  }

  /// Inserts slots[0..k) with the prepared statement for k rows (k is an entry of kChunkRows).
  int insert_chunk(std::size_t k) {
    std::size_t which = 0;
    while (kChunkRows[which] != k) ++which;
    if (!insert_stmts[which]) {
      const int rc = prepare_insert(which);
      if (rc != SQLITE_OK) return rc;
    }
    sql::Stmt& st = insert_stmts[which];
    sql::ResetGuard g(st);
    for (std::size_t j = 0; j < k; ++j) {
      const Slot& s = slots[j];
      const codec::Fields& f = s.f;
      const int b = static_cast<int>(j * kInsertColumns);
      st.bind_int64(b + 1, static_cast<std::int64_t>(f.seq));
      st.bind_int64(b + 2, f.time_ms);
      st.bind_text(b + 3, f.kind);
      st.bind_text_or_null(b + 4, f.event);
      st.bind_text_or_null(b + 5, f.person);
      st.bind_text_or_null(b + 6, f.badge);
      st.bind_text_or_null(b + 7, f.door);
      st.bind_text_or_null(b + 8, f.zone);
      st.bind_text_or_null(b + 9, f.direction);
      st.bind_text_or_null(b + 10, f.verdict);
      st.bind_text_or_null(b + 11, f.reason);
      st.bind_text_or_null(b + 12, f.alarm);
      st.bind_text_or_null(b + 13, f.severity);
      st.bind_text_or_null(b + 14, f.source);
      if (f.ref != 0) {
        st.bind_int64(b + 15, f.ref);
      } else {
        st.bind_null(b + 15);
      }
      st.bind_text_or_null(b + 16, f.detail);
      if (f.has_personal()) {
        st.bind_blob(b + 17, s.salt.data(), s.salt.size());
      } else {
        st.bind_null(b + 17);
      }
      st.bind_blob(b + 18, s.prev.data(), s.prev.size());
      st.bind_blob(b + 19, s.hash.data(), s.hash.size());
    }
    const int rc = st.step();
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  /// Inserts one record after `prev`, computing salt, personal digest and hash.
  int insert_row(const codec::Fields& f, const Hash& prev, Hash& hash) {
    Slot& s = slots[0];
    s.f = f;
    s.prev = prev;
    if (f.has_personal() && RAND_bytes(s.salt.data(), static_cast<int>(s.salt.size())) != 1) return SQLITE_INTERNAL;
    if (!hash_slot(s)) return SQLITE_INTERNAL;
    const int rc = insert_chunk(1);
    if (rc == SQLITE_OK) hash = s.hash;
    return rc;
  }

  /// One transaction: `fill(i, fields, scratch)` describes item i (`scratch` is a string the
  /// fields may point into); seq, chain and commit are done here.
  template <typename Fill>
  Result<Seq> write_batch(std::size_t n, Fill&& fill) {
    if (opt.read_only) return Error{Errc::read_only, "audit store opened read-only"};
    if (n == 0) return last_seq;
    try {
      // Salts first, outside the write lock, in one call: one DRBG call per record (about 6,600
      // instructions each) was the largest cost outside SQLite after the statement journal.
      if (!draw_salts(n)) return Error{Errc::internal, "audit append: no random bytes for the salts"};
      int rc = begin_stmt.step();
      begin_stmt.reset();
      if (rc != SQLITE_DONE) return sqlite_error(rc, "audit append: begin");
      Seq seq = 0;
      Hash prev{};
      // Re-read the tail under the write lock: another process (the CLI) may have appended.
      rc = read_tail(seq, prev);
      if (rc != SQLITE_OK) {
        auto err = sqlite_error(rc, "audit append: reading the last record");
        rollback_if_open();
        return err;
      }
      const Seq before = seq;
      std::int64_t first_ms = 0;
      // Rows go in multi-row INSERTs of kChunkRows: the schema's BEFORE INSERT trigger makes
      // SQLite keep a statement journal, and every statement copies each page it touches into it
      // (spilled to a temporary file past 64 KiB). One statement per chunk pays for that once per
      // chunk instead of once per row; the trigger still checks every row.
      std::size_t i = 0;
      while (i < n) {
        std::size_t k = 0;
        for (std::size_t c : kChunkRows) {
          if (c <= n - i) {
            k = c;
            break;
          }
        }
        for (std::size_t j = 0; j < k; ++j) {
          Slot& s = slots[j];
          s.f = codec::Fields{};
          fill(i + j, s.f, s.scratch);
          s.f.seq = ++seq;
          if (i + j == 0) first_ms = s.f.time_ms;
          s.prev = prev;
          if (s.f.has_personal()) {
            std::memcpy(s.salt.data(), salt_pool.data() + (i + j) * codec::kSaltSize, codec::kSaltSize);
          }
          if (!hash_slot(s)) {
            rollback_if_open();
            return Error{Errc::internal, "audit append: SHA-256 failed"};
          }
          prev = s.hash;
        }
        rc = insert_chunk(k);
        if (rc != SQLITE_OK) {
          const Seq first = slots[0].f.seq;
          auto err = sqlite_error(
              rc, k == 1 ? "audit append: record " + std::to_string(first)
                         : "audit append: records " + std::to_string(first) + " to " + std::to_string(first + k - 1));
          rollback_if_open();
          return err;
        }
        i += k;
      }
      rc = commit_stmt.step();
      commit_stmt.reset();
      if (rc != SQLITE_DONE) {
        auto err = sqlite_error(rc, "audit append: commit");
        rollback_if_open();
        return err;
      }
      if (before <= cp_seq) first_unsigned_ms = first_ms;
      last_seq = seq;
      last_hash = prev;
      return seq;
    } catch (const std::exception& e) {
      rollback_if_open();
      return Error{Errc::internal, std::string("audit append: ") + e.what()};
    } catch (...) {
      rollback_if_open();
      return Error{Errc::internal, "audit append: unknown exception"};
    }
  }

  static void fill_record(const core::Record& rec, const core::Policy& p, codec::Fields& f, std::string& scratch) {
    std::visit([&](const auto& r) { fill_one(r, p, f, scratch); }, rec);
  }

  static void fill_one(const core::Decision& d, const core::Policy& p, codec::Fields& f, std::string& /*scratch*/) {
    f.time_ms = ms_of(d.at);
    f.kind = "decision";
    f.person = d.person;
    f.badge = d.badge;
    if (d.door < p.doors.size()) {
      const core::Door& door = p.doors[d.door];
      f.door = door.id;
      const core::ZoneIdx z = d.dir == core::Direction::in ? door.inner : door.outer;
      if (z < p.zones.size()) f.zone = p.zones[z].id;
      f.direction = core::to_string(d.dir);
    }
    f.verdict = core::to_string(d.verdict);
    f.reason = core::to_string(d.reason);
    if (d.alarm_raised) f.alarm = "raised";
    f.ref = static_cast<std::int64_t>(d.request);
  }

  static void fill_one(const core::Alarm& a, const core::Policy& p, codec::Fields& f, std::string& /*scratch*/) {
    f.time_ms = ms_of(a.at);
    f.kind = "alarm";
    f.alarm = core::to_string(a.kind);
    f.severity = core::to_string(a.severity);
    f.source = a.source;
    if (p.door_index(a.source)) f.door = a.source;
    if (p.zone_index(a.source)) f.zone = a.source;
    f.person = a.person;
    f.detail = a.detail;
  }

  static void fill_one(const core::Note& n, const core::Policy& p, codec::Fields& f, std::string& scratch) {
    f.time_ms = ms_of(n.at);
    f.kind = "note";
    f.event = n.kind;
    f.person = n.person;
    f.detail = n.detail;
    const std::string& s = n.subject;
    if (s.empty() || s == n.person) return;
    if (p.door_index(s)) {
      f.door = s;
    } else if (p.zone_index(s)) {
      f.zone = s;
    } else if (is_known_subject(p, s)) {
      f.source = s;
    } else {
      // Anything else is a person named by a guard action: it belongs with the personal fields so
      // that retention removes it too.
      scratch = "subject " + s;
      if (!n.detail.empty()) scratch += "; " + n.detail;
      f.detail = scratch;
    }
  }

  static void fill_entry(const Entry& e, codec::Fields& f) {
    f.time_ms = ms_of(e.at);
    f.kind = to_string(e.kind);
    f.event = e.event;
    f.person = e.person;
    f.badge = e.badge;
    f.door = e.door;
    f.zone = e.zone;
    f.source = e.source;
    f.detail = e.detail;
  }

  Result<Checkpoint> checkpoint(core::Instant now);
  Result<std::vector<Checkpoint>> checkpoints(Seq after, std::uint32_t limit);
  VerifyResult verify(const VerifyOptions& o);
  template <typename OnRow>
  Result<std::uint64_t> for_each_row(const Filter& f, const Page* page, OnRow&& on_row);
  Result<PurgeReport> purge(core::Instant older_than, core::Instant now, std::string_view actor);
};

Result<bool> AuditStore::Impl::open_database() {
  int flags = SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOMUTEX;
  flags |= opt.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const char* vfs_name = nullptr;
  if (opt.fault_injection) {
    vfs = FaultVfs::create();
    if (!vfs) return Error{Errc::internal, "cannot register the fault-injection VFS"};
    vfs_name = vfs->name();
  }
  int rc = sqlite3_open_v2(db_path.c_str(), db.out(), flags, vfs_name);
  if (rc != SQLITE_OK) return sqlite_error(rc, "opening " + db_path.string());
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), static_cast<int>(opt.busy_timeout.count()));
  // trusted_schema=OFF: the schema may only use built-in, innocuous functions.
  const std::string pragmas = "PRAGMA trusted_schema=OFF; PRAGMA cache_size=-" + std::to_string(opt.cache_kib) +
                              "; PRAGMA foreign_keys=OFF; PRAGMA synchronous=FULL;";
  rc = exec(pragmas.c_str());
  if (rc != SQLITE_OK) return sqlite_error(rc, "configuring " + db_path.string());
  if (!opt.read_only) {
    {
      sql::Stmt st(db.get(), "PRAGMA journal_mode=WAL", &rc);
      if (rc != SQLITE_OK) return sqlite_error(rc, "enabling WAL");
      rc = st.step();
      if (rc != SQLITE_ROW || st.text(0) != "wal") return Error{Errc::io_error, "cannot switch the audit log to WAL"};
    }
    rc = exec("BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) return sqlite_error(rc, "creating the schema");
    rc = exec(kSchema);
    if (rc != SQLITE_OK) {
      auto err = sqlite_error(rc, "creating the schema");
      exec("ROLLBACK");
      return err;
    }
    auto stored_gw = meta_get("gateway_id");
    auto stored_version = meta_get("schema_version");
    if (!stored_gw || !stored_version) {
      exec("ROLLBACK");
      return !stored_gw ? stored_gw.error() : stored_version.error();
    }
    if (!stored_gw->has_value()) {
      if (opt.gateway_id.empty()) {
        exec("ROLLBACK");
        return Error{Errc::invalid_argument, "a new audit log needs a gateway id"};
      }
      rc = meta_put("gateway_id", opt.gateway_id);
      if (rc == SQLITE_OK) rc = meta_put("schema_version", std::to_string(kSchemaVersion));
      if (rc != SQLITE_OK) {
        auto err = sqlite_error(rc, "writing meta");
        exec("ROLLBACK");
        return err;
      }
      gateway_id = opt.gateway_id;
    } else {
      gateway_id = **stored_gw;
      if (!opt.gateway_id.empty() && opt.gateway_id != gateway_id) {
        exec("ROLLBACK");
        return Error{Errc::invalid_argument,
                     db_path.string() + " belongs to gateway '" + gateway_id + "', not '" + opt.gateway_id + "'"};
      }
      if (stored_version->value_or("") != std::to_string(kSchemaVersion)) {
        exec("ROLLBACK");
        return Error{Errc::invalid_argument, db_path.string() + " has schema version " + stored_version->value_or("?") +
                                                 ", expected " + std::to_string(kSchemaVersion)};
      }
    }
    rc = exec("COMMIT");
    if (rc != SQLITE_OK) {
      auto err = sqlite_error(rc, "creating the schema");
      exec("ROLLBACK");
      return err;
    }
    rc = sqlite3_create_function_v2(db.get(), "zg_personal_digest", 4,
                                    SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, &purge_enc,
                                    personal_digest_fn, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return sqlite_error(rc, "registering zg_personal_digest");
  } else {
    auto stored_gw = meta_get("gateway_id");
    if (!stored_gw) return stored_gw.error();
    if (!stored_gw->has_value()) return Error{Errc::corrupt, db_path.string() + " is not a zonegate audit log"};
    gateway_id = **stored_gw;
  }

  struct {
    sql::Stmt* st;
    const char* text;
  } const prepared[] = {
      {&begin_stmt, "BEGIN IMMEDIATE"},
      {&commit_stmt, "COMMIT"},
      {&rollback_stmt, "ROLLBACK"},
      {&tail_stmt, "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1"},
      {&last_cp_stmt, "SELECT seq, time_ms, key_id FROM checkpoints ORDER BY seq DESC LIMIT 1"},
  };
  for (const auto& p : prepared) {
    *p.st = sql::Stmt(db.get(), p.text, &rc);
    if (rc != SQLITE_OK) return sqlite_error(rc, std::string("preparing ") + p.text);
  }
  if (!opt.read_only) {
    // The single-row INSERT now, so that a schema problem shows at open; the multi-row ones (about
    // 170 KB of prepared statements together) when a burst first needs them.
    rc = prepare_insert(std::size(kChunkRows) - 1);
    if (rc != SQLITE_OK) return sqlite_error(rc, "preparing the insert");
    insert_cp_stmt = sql::Stmt(db.get(),
                               "INSERT INTO checkpoints(seq, time_ms, hash, gateway_id, key_id, signature) "
                               "VALUES (?, ?, ?, ?, ?, ?)",
                               &rc);
    if (rc != SQLITE_OK) return sqlite_error(rc, "preparing the checkpoint insert");
  }
  return true;
}

Result<bool> AuditStore::Impl::load_state() {
  int rc = read_tail(last_seq, last_hash);
  if (rc != SQLITE_OK) return sqlite_error(rc, "reading the last record");
  std::int64_t cp_time = 0;
  Hash cp_key{};
  rc = read_last_checkpoint(cp_seq, cp_time, &cp_key);
  if (rc != SQLITE_OK) return sqlite_error(rc, "reading the last checkpoint");
  first_unsigned_ms = cp_time;
  if (last_seq > cp_seq) {
    sql::Stmt st(db.get(), "SELECT time_ms FROM records WHERE seq = ?", &rc);
    if (rc != SQLITE_OK) return sqlite_error(rc, "reading the oldest unsigned record");
    st.bind_int64(1, static_cast<std::int64_t>(cp_seq + 1));
    if (st.step() == SQLITE_ROW) first_unsigned_ms = st.int64(0);
  }
  // A new signing key (the old one was lost or replaced) is itself a fact for the trail: later
  // checkpoints are signed by a key the earlier ones were not.
  if (!opt.read_only && key && cp_seq != 0 && cp_key != key->public_key().id()) {
    Entry e;
    e.at = instant_of(std::max(cp_time, first_unsigned_ms));
    e.kind = EntryKind::system;
    e.event = "signing_key_changed";
    e.source = "key:" + to_hex(key->public_key().id());
    e.detail = "previous checkpoints were signed by key:" + to_hex(cp_key);
    auto r = write_batch(1, [&](std::size_t, codec::Fields& f, std::string&) { fill_entry(e, f); });
    if (!r) return r.error();
  }
  return true;
}

Result<Checkpoint> AuditStore::Impl::checkpoint(core::Instant now) {
  if (opt.read_only || !key) return Error{Errc::read_only, "audit store opened read-only"};
  int rc = begin_stmt.step();
  begin_stmt.reset();
  if (rc != SQLITE_DONE) return sqlite_error(rc, "audit checkpoint: begin");
  auto fail = [&](Error e) {
    rollback_if_open();
    return e;
  };
  Seq seq = 0;
  Hash hash{};
  rc = read_tail(seq, hash);
  if (rc != SQLITE_OK) return fail(sqlite_error(rc, "audit checkpoint: reading the last record"));
  if (seq == 0) return fail(Error{Errc::invalid_argument, "audit checkpoint: the log is empty"});
  Seq last_cp = 0;
  std::int64_t cp_time = 0;
  rc = read_last_checkpoint(last_cp, cp_time, nullptr);
  if (rc != SQLITE_OK) return fail(sqlite_error(rc, "audit checkpoint: reading the last checkpoint"));
  if (last_cp == seq) {
    rollback_if_open();
    auto existing = checkpoints(seq - 1, 1);
    if (!existing) return existing.error();
    if (existing->empty()) return Error{Errc::internal, "audit checkpoint vanished"};
    cp_seq = seq;
    return existing->front();
  }
  Checkpoint cp;
  cp.seq = seq;
  cp.at = now;
  cp.hash = hash;
  cp.gateway_id = gateway_id;
  cp.key_id = key->public_key().id();
  auto sig = key->sign(codec::checkpoint_message(gateway_id, seq, hash, ms_of(now)));
  if (!sig) return fail(sig.error());
  cp.signature = *sig;
  {
    sql::ResetGuard g(insert_cp_stmt);
    insert_cp_stmt.bind_int64(1, static_cast<std::int64_t>(seq));
    insert_cp_stmt.bind_int64(2, ms_of(now));
    insert_cp_stmt.bind_blob(3, cp.hash.data(), cp.hash.size());
    insert_cp_stmt.bind_text(4, gateway_id);
    insert_cp_stmt.bind_blob(5, cp.key_id.data(), cp.key_id.size());
    insert_cp_stmt.bind_blob(6, cp.signature.data(), cp.signature.size());
    rc = insert_cp_stmt.step();
    if (rc != SQLITE_DONE) return fail(sqlite_error(rc, "audit checkpoint: insert"));
  }
  rc = commit_stmt.step();
  commit_stmt.reset();
  if (rc != SQLITE_DONE) return fail(sqlite_error(rc, "audit checkpoint: commit"));
  cp_seq = seq;
  last_seq = std::max(last_seq, seq);
  if (seq == last_seq) last_hash = hash;
  return cp;
}

Result<std::vector<Checkpoint>> AuditStore::Impl::checkpoints(Seq after, std::uint32_t limit) {
  int rc = 0;
  sql::Stmt st(db.get(),
               "SELECT seq, time_ms, hash, gateway_id, key_id, signature FROM checkpoints WHERE seq > ? "
               "ORDER BY seq LIMIT ?",
               &rc);
  if (rc != SQLITE_OK) return sqlite_error(rc, "reading checkpoints");
  st.bind_int64(1, static_cast<std::int64_t>(after));
  st.bind_int64(2, limit);
  std::vector<Checkpoint> out;
  while ((rc = st.step()) == SQLITE_ROW) {
    Checkpoint cp;
    cp.seq = static_cast<Seq>(st.int64(0));
    cp.at = instant_of(st.int64(1));
    cp.gateway_id = st.text(3);
    if (!copy_blob(st.blob(2), cp.hash) || !copy_blob(st.blob(4), cp.key_id) || !copy_blob(st.blob(5), cp.signature)) {
      return Error{Errc::corrupt, "checkpoint at seq " + std::to_string(cp.seq) + ": malformed"};
    }
    out.push_back(std::move(cp));
  }
  if (rc != SQLITE_DONE) return sqlite_error(rc, "reading checkpoints");
  return out;
}

namespace {

/// What one worker found in [from, to].
struct RangeResult {
  Seq checked = 0;  ///< records verified before the first fault (all of them if none)
  Seq bad = 0;      ///< first faulty seq, 0 if none
  std::string message;
  bool any = false;   ///< at least one row was read
  Hash first_prev{};  ///< prev_hash stored in the first row (for the link across ranges)
  Hash last_hash{};   ///< hash stored in the last row
};

/// Verifies records from..to on `db` (in a read transaction the caller opened), streaming them in
/// seq order with one prepared statement and no allocation per row. The link of the first row is
/// checked against zeros only when from == 1; otherwise the caller compares first_prev with the
/// previous range's last_hash.
RangeResult verify_range(sqlite3* db, Seq from, Seq to, const std::vector<Checkpoint>& cps,
                         const std::map<Seq, std::int64_t>& cutoffs) {
  RangeResult res;
  auto fail = [&](Seq bad, std::string msg) {
    res.bad = bad;
    res.message = std::move(msg);
    return res;
  };
  int rc = 0;
  sql::Stmt st(db, kVerifySql, &rc);
  if (rc != SQLITE_OK) return fail(from, std::string("verify: ") + sqlite3_errmsg(db));
  st.bind_int64(1, static_cast<std::int64_t>(from));
  st.bind_int64(2, static_cast<std::int64_t>(to));
  codec::Encoder enc;
  if (!enc.valid()) return fail(from, "verify: SHA-256 unavailable");
  Hash prev{};
  Hash stored_prev{};
  Hash stored{};
  Hash computed{};
  Hash personal{};
  codec::Salt salt{};
  Seq expected = from;
  auto next_cp = std::lower_bound(cps.begin(), cps.end(), from, [](const Checkpoint& c, Seq s) { return c.seq < s; });
  while ((rc = st.step()) == SQLITE_ROW) {
    codec::Fields f;
    f.seq = static_cast<Seq>(st.int64(0));
    // Built only for a message: the scan allocates nothing per row.
    auto at = [&f] { return "record " + std::to_string(f.seq); };
    if (f.seq != expected) {
      return fail(expected, "record " + std::to_string(expected) + " missing (gap: the next record is " +
                                std::to_string(f.seq) + ")");
    }
    f.time_ms = st.int64(1);
    f.kind = st.text(2);
    f.event = st.text(3);
    f.door = st.text(4);
    f.zone = st.text(5);
    f.direction = st.text(6);
    f.verdict = st.text(7);
    f.reason = st.text(8);
    f.alarm = st.text(9);
    f.severity = st.text(10);
    f.source = st.text(11);
    f.ref = st.int64(12);
    f.person = st.text(13);
    f.badge = st.text(14);
    f.detail = st.text(15);
    const std::string_view salt_blob = st.blob(16);
    const std::string_view digest_blob = st.blob(17);
    const Seq purged_by = static_cast<Seq>(st.int64(18));
    if (!copy_blob(st.blob(19), stored_prev) || !copy_blob(st.blob(20), stored)) {
      return fail(f.seq, at() + ": malformed hash");
    }
    if (!res.any) {
      res.any = true;
      res.first_prev = stored_prev;
      prev = stored_prev;
      if (from == 1 && stored_prev != Hash{}) {
        return fail(f.seq, at() + ": broken link (prev_hash is not the hash of the previous record)");
      }
    }
    if (stored_prev != prev) {
      return fail(f.seq, at() + ": broken link (prev_hash is not the hash of the previous record)");
    }
    if (purged_by != 0) {
      auto cut = cutoffs.find(purged_by);
      const bool tomb = (f.person.empty() || f.person == kTombstone) && (f.badge.empty() || f.badge == kTombstone) &&
                        (f.detail.empty() || f.detail == kTombstone);
      if (cut == cutoffs.end() || purged_by <= f.seq || f.time_ms >= cut->second || !salt_blob.empty() || !tomb) {
        return fail(f.seq,
                    at() + ": redacted without a matching retention record (seq " + std::to_string(purged_by) + ")");
      }
      if (!copy_blob(digest_blob, personal)) return fail(f.seq, at() + ": redacted record without a personal digest");
    } else {
      if (f.has_personal() && !copy_blob(salt_blob, salt)) return fail(f.seq, at() + ": hash mismatch (edited?)");
      if (!enc.personal_digest(f, salt, personal)) return fail(f.seq, "verify: SHA-256 failed");
    }
    if (!enc.record_hash(f, personal, prev, computed)) return fail(f.seq, "verify: SHA-256 failed");
    if (computed != stored) return fail(f.seq, at() + ": hash mismatch (edited?)");
    if (next_cp != cps.end() && next_cp->seq == f.seq) {
      if (next_cp->hash != stored) {
        return fail(f.seq, at() + ": hash differs from the signed checkpoint (chain rewritten?)");
      }
      ++next_cp;
    }
    prev = stored;
    res.last_hash = stored;
    ++res.checked;
    ++expected;
  }
  if (rc != SQLITE_DONE) return fail(expected, std::string("verify: reading records: ") + sqlite3_errmsg(db));
  if (expected <= to) {
    // Rows missing at the end of the range: name the next record that does exist.
    sql::Stmt n(db, "SELECT min(seq) FROM records WHERE seq > ?", &rc);
    std::string next = "none";
    if (rc == SQLITE_OK) {
      n.bind_int64(1, static_cast<std::int64_t>(expected));
      if (n.step() == SQLITE_ROW && !n.is_null(0)) next = std::to_string(n.int64(0));
    }
    return fail(expected, "record " + std::to_string(expected) + " missing (gap: the next record is " + next + ")");
  }
  return res;
}

}  // namespace

VerifyResult AuditStore::Impl::verify(const VerifyOptions& o) {
  VerifyResult res;
  auto fail = [&](Seq bad, std::string msg) {
    res.ok = false;
    res.first_bad_seq = bad;
    res.message = std::move(msg);
    exec("COMMIT");
    return res;
  };
  // One read transaction: a consistent snapshot even while the daemon appends.
  int rc = exec("BEGIN");
  if (rc != SQLITE_OK) {
    res.message = sqlite_error(rc, "verify").message;
    return res;
  }

  // Keys: the given one, or this gateway's.
  std::vector<PublicKey> keys;
  if (!o.public_key) {
    if (own_public) keys.push_back(*own_public);
  } else {
    auto k = PublicKey::load(*o.public_key);
    if (!k) return fail(0, k.error().message);
    keys.push_back(std::move(k.value()));
  }
  if (o.check_signatures && keys.empty()) return fail(0, "no public key to check checkpoint signatures with");

  auto cps = checkpoints(0, std::numeric_limits<std::uint32_t>::max());
  if (!cps) return fail(0, cps.error().message);
  if (o.check_signatures) {
    for (const Checkpoint& cp : *cps) {
      const PublicKey* k = nullptr;
      for (const auto& cand : keys) {
        if (cand.id() == cp.key_id) k = &cand;
      }
      auto at = [&cp] { return "checkpoint at seq " + std::to_string(cp.seq); };
      if (k == nullptr) return fail(cp.seq, at() + ": signed by an unknown key " + to_hex(cp.key_id).substr(0, 16));
      if (cp.gateway_id != gateway_id) {
        return fail(cp.seq, at() + ": names gateway '" + cp.gateway_id + "', expected '" + gateway_id + "'");
      }
      if (!k->verify(codec::checkpoint_message(cp.gateway_id, cp.seq, cp.hash, ms_of(cp.at)), cp.signature)) {
        return fail(cp.seq, at() + ": bad signature (forged or altered)");
      }
      ++res.checkpoints_checked;
    }
  }

  // Retention records' cutoffs, to check that every redaction was done by a recorded purge of
  // older records. They are themselves verified when the scan reaches them.
  std::map<Seq, std::int64_t> cutoffs;
  Seq last = 0;
  {
    sql::Stmt st(db.get(), "SELECT seq, ref FROM records WHERE kind = 'retention'", &rc);
    if (rc != SQLITE_OK) return fail(0, sqlite_error(rc, "verify").message);
    while ((rc = st.step()) == SQLITE_ROW) cutoffs[static_cast<Seq>(st.int64(0))] = st.int64(1);
    if (rc != SQLITE_DONE) return fail(0, sqlite_error(rc, "verify").message);
    Hash ignored{};
    rc = read_tail(last, ignored);
    if (rc != SQLITE_OK) return fail(0, sqlite_error(rc, "verify").message);
  }

  // Records are checked in ranges, in parallel: each record's hash depends only on its own row
  // (prev_hash is stored), and the links between ranges are checked afterwards. Rows up to `last`
  // are append-only, so workers on their own connections see the same records.
  unsigned threads = o.threads;
  if (threads == 0) threads = last < 200'000 ? 1U : std::min(4U, std::max(1U, std::thread::hardware_concurrency()));
  std::vector<std::pair<Seq, Seq>> ranges;
  const Seq per = last / threads;
  for (unsigned i = 0; i < threads; ++i) {
    const Seq from = 1 + per * i;
    const Seq to = i + 1 == threads ? last : per * (i + 1);
    if (from <= to || (i == 0 && last == 0)) ranges.emplace_back(from, to);
  }
  std::vector<RangeResult> results(ranges.size());
  {
    std::vector<std::thread> workers;
    for (std::size_t i = 1; i < ranges.size(); ++i) {
      workers.emplace_back([&, i] {
        try {
          sqlite3* conn = nullptr;
          const int orc = sqlite3_open_v2(db_path.c_str(), &conn,
                                          SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                                          vfs ? vfs->name() : nullptr);
          sql::Db owner(conn);
          if (orc != SQLITE_OK || sqlite3_exec(conn, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
            results[i].bad = ranges[i].first;
            results[i].message = std::string("verify: cannot open a reader: ") + sqlite3_errstr(orc);
            return;
          }
          sqlite3_busy_timeout(conn, static_cast<int>(opt.busy_timeout.count()));
          results[i] = verify_range(conn, ranges[i].first, ranges[i].second, *cps, cutoffs);
          sqlite3_exec(conn, "COMMIT", nullptr, nullptr, nullptr);
        } catch (const std::exception& e) {
          results[i].bad = ranges[i].first;
          results[i].message = std::string("verify: ") + e.what();
        }
      });
    }
    if (!ranges.empty()) results[0] = verify_range(db.get(), ranges[0].first, ranges[0].second, *cps, cutoffs);
    for (auto& w : workers) w.join();
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    const RangeResult& r = results[i];
    if (i > 0 && r.any && r.first_prev != results[i - 1].last_hash) {
      return fail(ranges[i].first, "record " + std::to_string(ranges[i].first) +
                                       ": broken link (prev_hash is not the hash of the previous record)");
    }
    res.records_checked += r.checked;
    if (r.bad != 0) return fail(r.bad, r.message);
  }
  res.last_seq = last;

  if (!cps->empty() && cps->back().seq > res.last_seq) {
    return fail(res.last_seq + 1, "log truncated: checkpoint at seq " + std::to_string(cps->back().seq) +
                                      " but last record is " + std::to_string(res.last_seq));
  }
  if (o.anchor) {
    const auto& [aseq, ahash] = *o.anchor;
    if (aseq > res.last_seq) {
      return fail(res.last_seq + 1, "log truncated: anchor at seq " + std::to_string(aseq) + " but last record is " +
                                        std::to_string(res.last_seq));
    }
    sql::Stmt a(db.get(), "SELECT hash FROM records WHERE seq = ?", &rc);
    if (rc != SQLITE_OK) return fail(0, sqlite_error(rc, "verify").message);
    a.bind_int64(1, static_cast<std::int64_t>(aseq));
    Hash h{};
    if (a.step() != SQLITE_ROW || !copy_blob(a.blob(0), h) || h != ahash) {
      return fail(aseq, "record " + std::to_string(aseq) + ": does not match the anchor (chain rewritten?)");
    }
  }
  exec("COMMIT");
  res.ok = true;
  res.message = "ok: " + std::to_string(res.records_checked) + " records, " + std::to_string(res.checkpoints_checked) +
                " checkpoints, last seq " + std::to_string(res.last_seq);
  return res;
}

template <typename OnRow>
Result<std::uint64_t> AuditStore::Impl::for_each_row(const Filter& f, const Page* page, OnRow&& on_row) {
  try {
    const BuiltQuery q = build_query(f, page);
    int rc = 0;
    sql::Stmt st(db.get(), q.sql, &rc);
    if (rc != SQLITE_OK) return sqlite_error(rc, "audit query");
    bind_query(st, q);
    Row row;
    std::uint64_t n = 0;
    while ((rc = st.step()) == SQLITE_ROW) {
      read_row(st, row);
      if (!on_row(row)) return Error{Errc::io_error, "audit export: the output stream failed"};
      ++n;
    }
    if (rc != SQLITE_DONE) return sqlite_error(rc, "audit query");
    return n;
  } catch (const std::exception& e) {
    return Error{Errc::internal, std::string("audit query: ") + e.what()};
  }
}

Result<PurgeReport> AuditStore::Impl::purge(core::Instant older_than, core::Instant now, std::string_view actor) {
  if (opt.read_only) return Error{Errc::read_only, "audit store opened read-only"};
  if (older_than > now) return Error{Errc::invalid_argument, "retention cutoff lies in the future"};
  const std::int64_t cutoff = ms_of(older_than);
  int rc = begin_stmt.step();
  begin_stmt.reset();
  if (rc != SQLITE_DONE) return sqlite_error(rc, "audit purge: begin");
  auto fail = [&](Error e) {
    rollback_if_open();
    return e;
  };
  constexpr const char* kEligible = "time_ms < ?1 AND purged_by IS NULL AND (person IS NOT NULL OR badge IS NOT NULL)";
  std::int64_t count = 0;
  {
    sql::Stmt st(db.get(), std::string("SELECT count(*) FROM records WHERE ") + kEligible, &rc);
    if (rc != SQLITE_OK) return fail(sqlite_error(rc, "audit purge: counting"));
    st.bind_int64(1, cutoff);
    rc = st.step();
    if (rc != SQLITE_ROW) return fail(sqlite_error(rc, "audit purge: counting"));
    count = st.int64(0);
  }
  // The purge record comes first: each redacted row points at it (purged_by), and the schema
  // accepts the redaction only for rows older than the cutoff it records.
  Seq seq = 0;
  Hash prev{};
  rc = read_tail(seq, prev);
  if (rc != SQLITE_OK) return fail(sqlite_error(rc, "audit purge: reading the last record"));
  // The count goes in `source`, not `detail`: the purge record names its actor, so a later purge
  // redacts its personal fields, and the count must survive that.
  const std::string summary =
      "redacted " + std::to_string(count) + " records older than " + core::format_utc(older_than);
  codec::Fields f;
  f.seq = seq + 1;
  f.time_ms = ms_of(now);
  f.kind = "retention";
  f.event = "purge_personal_data";
  f.person = actor;
  f.ref = cutoff;
  f.source = summary;
  Hash hash{};
  rc = insert_row(f, prev, hash);
  if (rc != SQLITE_OK) return fail(sqlite_error(rc, "audit purge: recording the purge"));
  {
    sql::Stmt st(db.get(),
                 std::string("UPDATE records SET personal_digest = zg_personal_digest(salt, person, badge, detail), "
                             "person = CASE WHEN person IS NULL THEN NULL ELSE '<purged>' END, "
                             "badge = CASE WHEN badge IS NULL THEN NULL ELSE '<purged>' END, "
                             "detail = CASE WHEN detail IS NULL THEN NULL ELSE '<purged>' END, "
                             "salt = NULL, purged_by = ?2 WHERE seq < ?2 AND ") +
                     kEligible,
                 &rc);
    if (rc != SQLITE_OK) return fail(sqlite_error(rc, "audit purge: preparing"));
    st.bind_int64(1, cutoff);
    st.bind_int64(2, static_cast<std::int64_t>(f.seq));
    rc = st.step();
    if (rc != SQLITE_DONE) return fail(sqlite_error(rc, "audit purge: redacting"));
  }
  const std::int64_t changed = sqlite3_changes64(db.get());
  if (changed != count) {
    return fail(Error{Errc::internal, "audit purge: counted " + std::to_string(count) + " records but redacted " +
                                          std::to_string(changed)});
  }
  rc = commit_stmt.step();
  commit_stmt.reset();
  if (rc != SQLITE_DONE) return fail(sqlite_error(rc, "audit purge: commit"));
  if (seq <= cp_seq) first_unsigned_ms = f.time_ms;
  last_seq = f.seq;
  last_hash = hash;
  return PurgeReport{f.seq, static_cast<std::uint64_t>(changed)};
}

// -----------------------------------------------------------------------------------------------
// AuditStore
// -----------------------------------------------------------------------------------------------

AuditStore::AuditStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditStore::~AuditStore() = default;

Result<std::unique_ptr<AuditStore>> AuditStore::open(const Options& options) {
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  impl->db_path = options.state_dir / options.db_file;
  if (!impl->enc.valid() || !impl->purge_enc.valid()) return Error{Errc::internal, "SHA-256 unavailable"};
  if (!options.read_only) {
    std::error_code ec;
    if (!fs::is_directory(options.state_dir, ec)) {
      if (::mkdir(options.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return Error{Errc::io_error, "cannot create " + options.state_dir.string() + ": " + std::strerror(errno)};
      }
    }
    auto key = SigningKey::load_or_create(options.state_dir);
    if (!key) return key.error();
    impl->key = std::move(key.value());
    impl->own_public = impl->key->public_key();
  } else {
    const fs::path pub = options.state_dir / kPublicKeyFile;
    std::error_code ec;
    if (fs::exists(pub, ec)) {
      auto k = PublicKey::load(pub);
      if (!k) return k.error();
      impl->own_public = std::move(k.value());
    }
  }
  if (auto r = impl->open_database(); !r) return r.error();
  if (auto r = impl->load_state(); !r) return r.error();
  return std::unique_ptr<AuditStore>(new AuditStore(std::move(impl)));
}

Result<Seq> AuditStore::append(std::span<const core::Record> records, const core::Policy& policy) {
  return impl_->write_batch(records.size(), [&](std::size_t i, codec::Fields& f, std::string& scratch) {
    Impl::fill_record(records[i], policy, f, scratch);
  });
}

Result<Seq> AuditStore::append_entries(std::span<const Entry> entries) {
  return impl_->write_batch(entries.size(),
                            [&](std::size_t i, codec::Fields& f, std::string&) { Impl::fill_entry(entries[i], f); });
}

Result<Checkpoint> AuditStore::checkpoint(core::Instant now) { return impl_->checkpoint(now); }

bool AuditStore::should_checkpoint(core::Instant now) const {
  const Impl& i = *impl_;
  if (i.last_seq <= i.cp_seq) return false;
  if (i.last_seq - i.cp_seq >= std::max<std::uint64_t>(i.opt.checkpoint_every_records, 1)) return true;
  return ms_of(now) - i.first_unsigned_ms >= i.opt.checkpoint_every.count();
}

Result<std::vector<Checkpoint>> AuditStore::checkpoints(Seq after_seq, std::uint32_t limit) {
  return impl_->checkpoints(after_seq, limit);
}

VerifyResult AuditStore::verify(const VerifyOptions& options) {
  try {
    return impl_->verify(options);
  } catch (const std::exception& e) {
    impl_->exec("COMMIT");
    VerifyResult r;
    r.message = std::string("verify: ") + e.what();
    return r;
  }
}

Result<std::vector<Row>> AuditStore::query(const Filter& filter, const Page& page) {
  std::vector<Row> rows;
  auto n = impl_->for_each_row(filter, &page, [&](const Row& r) {
    rows.push_back(r);
    return true;
  });
  if (!n) return n.error();
  return rows;
}

Result<std::uint64_t> AuditStore::export_csv(const Filter& filter, std::ostream& out) {
  std::string buf = kCsvHeader;
  auto n = impl_->for_each_row(filter, nullptr, [&](const Row& r) {
    csv_line(buf, r);
    if (buf.size() >= 64 * 1024) {
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    }
    return static_cast<bool>(out);
  });
  if (!n) return n.error();
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  out.flush();
  if (!out) return Error{Errc::io_error, "audit export: the output stream failed"};
  return n;
}

Result<std::uint64_t> AuditStore::export_jsonl(const Filter& filter, std::ostream& out) {
  std::string buf;
  auto n = impl_->for_each_row(filter, nullptr, [&](const Row& r) {
    json_line(buf, r);
    if (buf.size() >= 64 * 1024) {
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    }
    return static_cast<bool>(out);
  });
  if (!n) return n.error();
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  out.flush();
  if (!out) return Error{Errc::io_error, "audit export: the output stream failed"};
  return n;
}

Result<std::vector<HourZoneCount>> AuditStore::count_grants_by_hour_zone(core::Instant from, core::Instant to) {
  constexpr std::int64_t kHourMs = 3'600'000;
  // Buckets are counted from the hour that holds `from`: time_ms - base is never negative there,
  // so integer division is the floor.
  const std::int64_t base = ms_of(std::chrono::floor<std::chrono::hours>(from));
  // `verdict = 'grant'` drives the plan (the partial (verdict, time_ms) index: the time range is a
  // range of that index); `+kind` keeps the kind check off every other index.
  int rc = 0;
  sql::Stmt st(impl_->db.get(),
               "SELECT (time_ms - ?3) / 3600000 AS h, coalesce(zone, ''), count(*) FROM records "
               "WHERE verdict = 'grant' AND time_ms >= ?1 AND time_ms < ?2 AND +kind = 'decision' "
               "GROUP BY h, 2 ORDER BY h, 2",
               &rc);
  if (rc != SQLITE_OK) return impl_->sqlite_error(rc, "audit chart query");
  st.bind_int64(1, ms_of(from));
  st.bind_int64(2, ms_of(to));
  st.bind_int64(3, base);
  std::vector<HourZoneCount> out;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back(HourZoneCount{core::Instant{core::Duration{base + st.int64(0) * kHourMs}}, std::string(st.text(1)),
                                static_cast<std::uint64_t>(st.int64(2))});
  }
  if (rc != SQLITE_DONE) return impl_->sqlite_error(rc, "audit chart query");
  return out;
}

Result<std::vector<ReasonCount>> AuditStore::count_denials_by_reason(core::Instant from, core::Instant to) {
  int rc = 0;
  sql::Stmt st(impl_->db.get(),
               "SELECT coalesce(reason, ''), count(*) FROM records "
               "WHERE verdict = 'deny' AND time_ms >= ?1 AND time_ms < ?2 AND +kind = 'decision' "
               "GROUP BY 1 ORDER BY 1",
               &rc);
  if (rc != SQLITE_OK) return impl_->sqlite_error(rc, "audit chart query");
  st.bind_int64(1, ms_of(from));
  st.bind_int64(2, ms_of(to));
  std::vector<ReasonCount> out;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back(ReasonCount{std::string(st.text(0)), static_cast<std::uint64_t>(st.int64(1))});
  }
  if (rc != SQLITE_DONE) return impl_->sqlite_error(rc, "audit chart query");
  return out;
}

Result<PurgeReport> AuditStore::purge_personal_data(core::Instant older_than, core::Instant now,
                                                    std::string_view actor) {
  try {
    return impl_->purge(older_than, now, actor);
  } catch (const std::exception& e) {
    impl_->rollback_if_open();
    return Error{Errc::internal, std::string("audit purge: ") + e.what()};
  }
}

Seq AuditStore::last_seq() const { return impl_->last_seq; }
Hash AuditStore::last_hash() const { return impl_->last_hash; }
const std::string& AuditStore::gateway_id() const { return impl_->gateway_id; }
fs::path AuditStore::database_path() const { return impl_->db_path; }
Hash AuditStore::key_id() const { return impl_->own_public ? impl_->own_public->id() : Hash{}; }

bool AuditStore::inject_fault(std::optional<Fault> fault) {
  if (!impl_->vfs) return false;
  impl_->vfs->arm(fault);
  return true;
}

std::uint64_t AuditStore::faults_fired() const { return impl_->vfs ? impl_->vfs->fired() : 0; }

}  // namespace zonegate::adapters::audit
