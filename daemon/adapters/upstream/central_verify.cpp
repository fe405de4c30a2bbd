// SPDX-License-Identifier: Apache-2.0
#include "adapters/upstream/central_verify.hpp"

#include <openssl/pem.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "adapters/audit/audit_codec.hpp"
#include "adapters/audit/signing_key.hpp"
#include "adapters/upstream/pg.hpp"

namespace zonegate::adapters::upstream {
namespace {

using audit::Hash;

struct CentralCheckpoint {
  std::uint64_t seq = 0;
  Hash hash{};
  bool matched = false;  // its seq was met while streaming the records
};

/// One record as both sides are compared: its links, and time and kind to tell an edited record
/// (same event, altered) from another history (a different event at this seq).
struct Link {
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;
  std::string kind;
  Hash prev{};
  Hash hash{};
};

bool to_hash(const std::optional<std::vector<std::uint8_t>>& bytes, Hash& out) {
  if (!bytes || bytes->size() != out.size()) return false;
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return true;
}

bool to_hash(const void* blob, int size, Hash& out) {
  if (blob == nullptr || size != static_cast<int>(out.size())) return false;
  std::memcpy(out.data(), blob, out.size());
  return true;
}

std::string short_hex(const Hash& h) { return audit::to_hex(h).substr(0, 16); }

CentralVerifyResult error(std::string message) {
  CentralVerifyResult r;
  r.status = CentralVerifyStatus::error;
  r.message = std::move(message);
  return r;
}

/// The local trail, read in seq order through its own read-only connection (one read
/// transaction: a consistent snapshot while the daemon appends).
class LocalReader {
 public:
  bool open(const std::filesystem::path& db_path, std::string& err) {
    if (sqlite3_open_v2(db_path.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      err = "cannot open " + db_path.string() + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
      return false;
    }
    sqlite3_busy_timeout(db_, 5000);
    if (!prepare("BEGIN", begin_, err) ||
        !prepare("SELECT seq, time_ms, kind, prev_hash, hash FROM records ORDER BY seq", scan_, err) ||
        !prepare("SELECT hash FROM records WHERE seq = ?", lookup_, err) ||
        !prepare("SELECT coalesce(max(seq), 0) FROM records", last_, err)) {
      return false;
    }
    // BEGIN then a read: the snapshot is taken here, after the central one.
    if (sqlite3_step(begin_) != SQLITE_DONE || sqlite3_step(last_) != SQLITE_ROW) {
      err = std::string("cannot read the local trail: ") + sqlite3_errmsg(db_);
      return false;
    }
    last_seq_ = static_cast<std::uint64_t>(sqlite3_column_int64(last_, 0));
    return true;
  }
  ~LocalReader() {
    for (sqlite3_stmt* s : {begin_, scan_, lookup_, last_}) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
  }

  [[nodiscard]] std::uint64_t last_seq() const { return last_seq_; }

  /// The next record in seq order; false at the end (or on an error: see `failed`).
  bool next(Link& out) {
    const int rc = sqlite3_step(scan_);
    if (rc != SQLITE_ROW) {
      failed_ = rc != SQLITE_DONE;
      return false;
    }
    out.seq = static_cast<std::uint64_t>(sqlite3_column_int64(scan_, 0));
    out.time_ms = sqlite3_column_int64(scan_, 1);
    const auto* kind = sqlite3_column_text(scan_, 2);
    out.kind = kind != nullptr ? reinterpret_cast<const char*>(kind) : "";
    out.prev.fill(0);
    out.hash.fill(0);
    to_hash(sqlite3_column_blob(scan_, 3), sqlite3_column_bytes(scan_, 3), out.prev);
    to_hash(sqlite3_column_blob(scan_, 4), sqlite3_column_bytes(scan_, 4), out.hash);
    return true;
  }
  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] std::string error_text() const { return sqlite3_errmsg(db_); }

  /// The stored hash of record `seq`, if it exists.
  std::optional<Hash> hash_of(std::uint64_t seq) {
    sqlite3_reset(lookup_);
    sqlite3_bind_int64(lookup_, 1, static_cast<sqlite3_int64>(seq));
    std::optional<Hash> out;
    Hash h{};
    if (sqlite3_step(lookup_) == SQLITE_ROW &&
        to_hash(sqlite3_column_blob(lookup_, 0), sqlite3_column_bytes(lookup_, 0), h)) {
      out = h;
    }
    sqlite3_reset(lookup_);
    return out;
  }

 private:
  bool prepare(const char* sql, sqlite3_stmt*& stmt, std::string& err) {
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) {
      err = std::string("cannot read the local trail: ") + sqlite3_errmsg(db_);
      return false;
    }
    return true;
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* scan_ = nullptr;
  sqlite3_stmt* lookup_ = nullptr;
  sqlite3_stmt* last_ = nullptr;
  std::uint64_t last_seq_ = 0;
  bool failed_ = false;
};

audit::Result<audit::PublicKey> key_from_pem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return audit::Error{audit::Errc::internal, "out of memory"};
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
                                                          &EVP_PKEY_free);
  if (!key) return audit::Error{audit::Errc::signing_key, "the registered public key is not a PEM public key"};
  return audit::PublicKey::from_pkey(key.get());
}

/// Classifies the local trail's own verification failure.
std::string local_kind(const std::string& message) {
  if (message.find("truncated") != std::string::npos) return "truncated";
  if (message.find("anchor") != std::string::npos || message.find("signed checkpoint") != std::string::npos) {
    return "forked";
  }
  if (message.find("hash mismatch") != std::string::npos || message.find("redacted") != std::string::npos ||
      message.find("broken link") != std::string::npos || message.find("missing") != std::string::npos) {
    return "edited";
  }
  return "local";
}

}  // namespace

CentralVerifyResult verify_against_central(PGconn* conn, audit::AuditStore& local,
                                           const CentralVerifyOptions& options) {
  const std::string gateway = options.gateway_id.empty() ? local.gateway_id() : options.gateway_id;
  if (gateway != local.gateway_id()) {
    return error("the local audit trail belongs to gateway " + local.gateway_id() + ", not " + gateway);
  }
  const std::uint32_t page = std::clamp<std::uint32_t>(options.page_rows, 1, 1000000);
  std::string err;

  // 1. The central snapshot (before the local one: the local trail can only be ahead of it).
  struct Rollback {
    PGconn* c;
    ~Rollback() { pg::exec(c, "ROLLBACK"); }
  };
  if (!pg::exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}, &err)) return error(err);
  const Rollback rollback{conn};
  pg::Res res = pg::exec(conn,
                         "SELECT g.public_key_pem, h.seq, h.faulted, (SELECT count(*) FROM zonegate.chain_faults f"
                         " WHERE f.gateway_id = g.gateway_id) FROM zonegate.gateways g"
                         " LEFT JOIN zonegate.chain_heads h ON h.gateway_id = g.gateway_id WHERE g.gateway_id = $1",
                         {pg::Param::text(gateway)}, &err);
  if (!res) return error("reading the central database: " + err);
  if (PQntuples(res.get()) != 1) return error("gateway " + gateway + " is not registered in the central database");
  CentralVerifyResult out;
  const std::string registered_pem = pg::is_null(res.get(), 0, 0) ? "" : std::string(pg::text(res.get(), 0, 0));
  out.central_faulted = pg::text(res.get(), 0, 2) == "t";
  const auto fault_count = pg::int64(res.get(), 0, 3).value_or(0);

  // 2. The central checkpoints, their signatures first.
  std::optional<audit::PublicKey> key;
  std::string key_source;
  if (options.public_key) {
    auto k = audit::PublicKey::load(*options.public_key);
    if (!k) return error(k.error().message);
    key = std::move(k.value());
    key_source = options.public_key->string();
  } else if (!registered_pem.empty()) {
    auto k = key_from_pem(registered_pem);
    if (!k) return error(k.error().message);
    key = std::move(k.value());
    key_source = "the key registered in zonegate.gateways";
  } else {
    const auto path = local.database_path().parent_path() / audit::kPublicKeyFile;
    if (auto k = audit::PublicKey::load(path)) {
      key = std::move(k.value());
      key_source = path.string();
    }
  }
  // The local trail's own check (step 4) runs before the comparison, so that the earlier of the
  // two divergences is the one reported.
  std::optional<audit::VerifyResult> local_check;
  const auto mismatch = [&](std::string kind, std::uint64_t seq, std::string message) {
    if (local_check && !local_check->ok && local_check->first_bad_seq != 0 && local_check->first_bad_seq < seq) {
      kind = local_kind(local_check->message);
      seq = local_check->first_bad_seq;
      message = "local log: " + local_check->message;
    }
    out.status = CentralVerifyStatus::mismatch;
    out.kind = std::move(kind);
    out.seq = seq;
    out.message = std::move(message);
    return out;
  };

  std::vector<CentralCheckpoint> checkpoints;
  for (std::uint64_t after = 0;;) {
    res = pg::exec(
        conn,
        "SELECT seq, time_ms, hash, key_id, signature FROM zonegate.checkpoints"
        " WHERE gateway_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        {pg::Param::text(gateway), pg::Param::integer(static_cast<std::int64_t>(after)), pg::Param::integer(page)},
        &err);
    if (!res) return error("reading the central checkpoints: " + err);
    const int n = PQntuples(res.get());
    for (int i = 0; i < n; ++i) {
      CentralCheckpoint cp;
      cp.seq = static_cast<std::uint64_t>(pg::int64(res.get(), i, 0).value_or(0));
      const std::int64_t time_ms = pg::int64(res.get(), i, 1).value_or(0);
      Hash key_id{};
      audit::Signature sig{};
      const auto sig_bytes = pg::bytea(res.get(), i, 4);
      if (!to_hash(pg::bytea(res.get(), i, 2), cp.hash) || !to_hash(pg::bytea(res.get(), i, 3), key_id) || !sig_bytes ||
          sig_bytes->size() != sig.size()) {
        return mismatch("central", cp.seq, "central checkpoint at seq " + std::to_string(cp.seq) + ": malformed");
      }
      std::copy(sig_bytes->begin(), sig_bytes->end(), sig.begin());
      if (!key) {
        return error(
            "no public key to check the central checkpoints with: register it (zonegate upstream "
            "add-gateway --public-key) or pass --public-key");
      }
      if (key_id != key->id()) {
        return mismatch("signature", cp.seq,
                        "central checkpoint at seq " + std::to_string(cp.seq) + ": signed by key " + short_hex(key_id) +
                            ", not by " + short_hex(key->id()) + " (" + key_source + ")");
      }
      if (!key->verify(audit::codec::checkpoint_message(gateway, cp.seq, cp.hash, time_ms), sig)) {
        return mismatch("signature", cp.seq,
                        "central checkpoint at seq " + std::to_string(cp.seq) +
                            ": bad signature (forged, or altered in the central database)");
      }
      checkpoints.push_back(cp);
      ++out.checkpoints_checked;
      after = cp.seq;
    }
    if (n < static_cast<int>(page)) break;
  }

  // 4 (first). The local trail's own check: catches a row edited in place (its stored hash
  // unchanged, so equal to the centre's), anchored at the last central checkpoint.
  audit::VerifyOptions vo;
  if (!checkpoints.empty()) vo.anchor = std::make_pair(checkpoints.back().seq, checkpoints.back().hash);
  local_check = local.verify(vo);

  // 3. The local snapshot, and the records side by side in seq order.
  LocalReader reader;
  if (!reader.open(local.database_path(), err)) return error(err);
  out.local_last = reader.last_seq();
  auto next_cp = checkpoints.begin();
  Link l;
  Link c;
  std::uint64_t expect = 1;
  for (bool done = false; !done;) {
    res = pg::exec(
        conn,
        "SELECT seq, time_ms, kind, prev_hash, hash FROM zonegate.events"
        " WHERE gateway_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
        {pg::Param::text(gateway), pg::Param::integer(static_cast<std::int64_t>(expect)), pg::Param::integer(page)},
        &err);
    if (!res) return error("reading the central events: " + err);
    const int n = PQntuples(res.get());
    done = n < static_cast<int>(page);
    for (int i = 0; i < n; ++i) {
      c.seq = static_cast<std::uint64_t>(pg::int64(res.get(), i, 0).value_or(0));
      c.time_ms = pg::int64(res.get(), i, 1).value_or(0);
      c.kind = std::string(pg::text(res.get(), i, 2));
      if (!to_hash(pg::bytea(res.get(), i, 3), c.prev) || !to_hash(pg::bytea(res.get(), i, 4), c.hash)) {
        return mismatch("central", c.seq, "central record " + std::to_string(c.seq) + ": malformed hash");
      }
      if (c.seq != expect) {
        return mismatch("central", expect,
                        "the central copy has no record " + std::to_string(expect) + " (the next one is " +
                            std::to_string(c.seq) + ")");
      }
      out.central_head = c.seq;
      if (!reader.next(l)) {
        if (reader.failed()) return error("reading the local trail: " + reader.error_text());
        return mismatch("truncated", c.seq,
                        "local log truncated: it ends at seq " + std::to_string(out.local_last) +
                            " but the central database holds record " + std::to_string(c.seq) + " and later");
      }
      if (l.seq != c.seq) {
        return mismatch("edited", c.seq,
                        "record " + std::to_string(c.seq) + " is missing from the local log (the next one is " +
                            std::to_string(l.seq) + ")");
      }
      if (l.hash != c.hash || l.prev != c.prev) {
        if (l.prev != c.prev) {
          return mismatch("forked", c.seq,
                          "record " + std::to_string(c.seq) +
                              ": the local log links to another predecessor than the central copy (forked)");
        }
        if (l.time_ms == c.time_ms && l.kind == c.kind) {
          return mismatch("edited", c.seq,
                          "record " + std::to_string(c.seq) +
                              ": hash differs from the central copy (same time and kind: edited, chain recomputed)");
        }
        return mismatch("forked", c.seq,
                        "record " + std::to_string(c.seq) +
                            ": the local log holds another record than the central copy from here on (forked)");
      }
      while (next_cp != checkpoints.end() && next_cp->seq <= c.seq) {
        if (next_cp->seq == c.seq) {
          if (next_cp->hash != c.hash) {
            return mismatch("central", c.seq,
                            "central checkpoint at seq " + std::to_string(c.seq) +
                                " does not match the central record (the central copy was altered)");
          }
          next_cp->matched = true;
        }
        ++next_cp;
      }
      ++out.records_compared;
      ++expect;
    }
  }
  // Checkpoints beyond the central records (the centre refuses those, but its rows can be edited).
  for (const auto& cp : checkpoints) {
    if (cp.matched) continue;
    const auto h = reader.hash_of(cp.seq);
    if (!h) {
      return mismatch("truncated", cp.seq,
                      "local log truncated: the central database holds a checkpoint at seq " + std::to_string(cp.seq) +
                          " but the local log ends at seq " + std::to_string(out.local_last));
    }
    if (*h != cp.hash) {
      return mismatch("checkpoint", cp.seq,
                      "central checkpoint at seq " + std::to_string(cp.seq) + " is not in the local chain");
    }
  }

  if (!local_check->ok) {
    return mismatch(local_kind(local_check->message), local_check->first_bad_seq, "local log: " + local_check->message);
  }

  out.status = CentralVerifyStatus::ok;
  out.message = "ok: " + std::to_string(out.records_compared) + " record(s) and " +
                std::to_string(out.checkpoints_checked) + " checkpoint(s) match the central copy of gateway " +
                gateway + "; local last seq " + std::to_string(out.local_last) + ", central head " +
                std::to_string(out.central_head);
  if (out.local_last > out.central_head) {
    out.message += " (" + std::to_string(out.local_last - out.central_head) + " not uploaded yet)";
  }
  if (out.central_faulted || fault_count > 0) {
    out.message += "; warning: the centre recorded " + std::to_string(fault_count) + " chain fault(s) for " + gateway +
                   (out.central_faulted ? " and stopped accepting its records" : "") + " (zonegate upstream status)";
  }
  return out;
}

}  // namespace zonegate::adapters::upstream
