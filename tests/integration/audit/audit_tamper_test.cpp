// SPDX-License-Identifier: Apache-2.0
// An attacker with a shell on the gateway: the schema refuses edits, and when the triggers are
// dropped, verify names what was done and where.
#include <catch2/catch.hpp>
#include <cstring>

#include "adapters/audit/audit_codec.hpp"
#include "adapters/audit/audit_store.hpp"
#include "test_support.hpp"

namespace zonegate::adapters::audit {
namespace {

using test::day;
using test::RawDb;
using test::TempDir;

Options options_for(const TempDir& dir) {
  Options o;
  o.state_dir = dir.path() / "state";
  o.gateway_id = "gw-tamper";
  return o;
}

/// A log of `n` operator records in batches of 10 (n / 10 for long logs), with a checkpoint after
/// every `cp_every` records (0: none; a multiple of the batch size). Closed again on return.
void make_log(const Options& o, int n, int cp_every) {
  auto s = AuditStore::open(o);
  REQUIRE(s.ok());
  auto& store = *s.value();
  const int step = n > 1000 ? n / 10 : 10;
  for (int i = 0; i < n; i += step) {
    std::vector<Entry> batch;
    for (int k = i; k < std::min(n, i + step); ++k) {
      Entry e;
      e.at = day(0, k * 1000);
      e.kind = EntryKind::operator_action;
      e.event = "ack";
      e.person = "guard" + std::to_string(k % 3);
      e.door = "lobby";
      e.detail = "alarm " + std::to_string(k);
      batch.push_back(e);
    }
    REQUIRE(store.append_entries(batch).ok());
    if (cp_every != 0 && (i + step) % cp_every == 0) REQUIRE(store.checkpoint(day(0, (i + step) * 1000)).ok());
  }
}

/// Verifies with one thread and with three (ranges checked in parallel, links across ranges
/// afterwards): both must say the same thing.
VerifyResult verify(const Options& o, VerifyOptions vo = {}) {
  auto s = AuditStore::open(o);
  REQUIRE(s.ok());
  vo.threads = 1;
  const VerifyResult one = s.value()->verify(vo);
  vo.threads = 3;
  const VerifyResult three = s.value()->verify(vo);
  INFO("1 thread: " << one.message << "; 3 threads: " << three.message);
  CHECK(one.ok == three.ok);
  CHECK(one.message == three.message);
  CHECK(one.first_bad_seq == three.first_bad_seq);
  CHECK(one.records_checked == three.records_checked);
  CHECK(one.last_seq == three.last_seq);
  return one;
}

std::filesystem::path db_of(const Options& o) { return o.state_dir / o.db_file; }

/// Recomputes every record's prev_hash and hash from its contents, as an attacker who knows the
/// encoding (it is documented) but not the signing key would after editing rows.
void rehash_all(RawDb& db) {
  REQUIRE(db.exec("DROP TRIGGER IF EXISTS records_no_update") == SQLITE_OK);
  struct R {
    std::int64_t seq, time, ref;
    std::string f[13];  // kind … source, person, badge, detail
    std::string salt;
  };
  std::vector<R> rows;
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db.get(),
                             "SELECT seq, time_ms, ref, kind, event, door, zone, direction, verdict, reason, alarm, "
                             "severity, source, person, badge, detail, salt FROM records ORDER BY seq",
                             -1, &st, nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    R r;
    r.seq = sqlite3_column_int64(st, 0);
    r.time = sqlite3_column_int64(st, 1);
    r.ref = sqlite3_column_int64(st, 2);
    for (int i = 0; i < 14; ++i) {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(st, 3 + i));
      const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, 3 + i));
      (i < 13 ? r.f[i] : r.salt) = p != nullptr ? std::string(p, n) : std::string();
    }
    rows.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  codec::Encoder enc;
  Hash prev{};
  REQUIRE(sqlite3_prepare_v2(db.get(), "UPDATE records SET prev_hash = ?, hash = ? WHERE seq = ?", -1, &st, nullptr) ==
          SQLITE_OK);
  for (const R& r : rows) {
    codec::Fields f;
    f.seq = static_cast<Seq>(r.seq);
    f.time_ms = r.time;
    f.ref = r.ref;
    f.kind = r.f[0];
    f.event = r.f[1];
    f.door = r.f[2];
    f.zone = r.f[3];
    f.direction = r.f[4];
    f.verdict = r.f[5];
    f.reason = r.f[6];
    f.alarm = r.f[7];
    f.severity = r.f[8];
    f.source = r.f[9];
    f.person = r.f[10];
    f.badge = r.f[11];
    f.detail = r.f[12];
    codec::Salt salt{};
    if (r.salt.size() == salt.size()) std::memcpy(salt.data(), r.salt.data(), salt.size());
    Hash pd{};
    Hash h{};
    REQUIRE(enc.personal_digest(f, salt, pd));
    REQUIRE(enc.record_hash(f, pd, prev, h));
    sqlite3_bind_blob(st, 1, prev.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, h.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, r.seq);
    REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_reset(st);
    prev = h;
  }
  sqlite3_finalize(st);
}

TEST_CASE("the schema refuses UPDATE and DELETE", "[audit][tamper]") {
  TempDir dir;
  const auto o = options_for(dir);
  make_log(o, 20, 10);
  RawDb db(db_of(o));
  std::string err;
  CHECK(db.exec("UPDATE records SET verdict = 'grant' WHERE seq = 3", &err) == SQLITE_CONSTRAINT);
  CHECK_THAT(err, Catch::Contains("append-only"));
  CHECK(db.exec("DELETE FROM records WHERE seq = 20", &err) == SQLITE_CONSTRAINT);
  CHECK_THAT(err, Catch::Contains("append-only"));
  CHECK(db.exec("DELETE FROM records", &err) == SQLITE_CONSTRAINT);
  CHECK(db.exec("UPDATE checkpoints SET time_ms = 0", &err) == SQLITE_CONSTRAINT);
  CHECK(db.exec("DELETE FROM checkpoints", &err) == SQLITE_CONSTRAINT);
  CHECK(db.exec("UPDATE meta SET value = 'gw-evil' WHERE key = 'gateway_id'", &err) == SQLITE_CONSTRAINT);
  // Inserting out of sequence, or off the chain, is refused too.
  CHECK(db.exec("INSERT INTO records(seq, time_ms, kind, prev_hash, hash) VALUES (25, 0, 'x', zeroblob(32), "
                "zeroblob(32))",
                &err) == SQLITE_CONSTRAINT);
  CHECK_THAT(err, Catch::Contains("extend the chain"));
  CHECK(db.exec("INSERT INTO records(seq, time_ms, kind, prev_hash, hash) VALUES (21, 0, 'x', zeroblob(32), "
                "zeroblob(32))",
                &err) == SQLITE_CONSTRAINT);
  // A redaction that no recorded purge covers is refused even when it looks like one.
  CHECK(db.exec("UPDATE records SET person = '<purged>', detail = '<purged>', salt = NULL, "
                "personal_digest = zeroblob(32), purged_by = 20 WHERE seq = 3",
                &err) == SQLITE_CONSTRAINT);
  CHECK(db.scalar("SELECT count(*) FROM records") == 20);
  CHECK(verify(o).ok);
}

TEST_CASE("an edited row is detected and named", "[audit][tamper]") {
  TempDir dir;
  const auto o = options_for(dir);
  make_log(o, 30, 10);
  {
    RawDb db(db_of(o));
    REQUIRE(db.exec("DROP TRIGGER records_no_update") == SQLITE_OK);
    SECTION("a public field") { REQUIRE(db.exec("UPDATE records SET door = 'ops-door' WHERE seq = 12") == SQLITE_OK); }
    SECTION("a personal field") {
      REQUIRE(db.exec("UPDATE records SET person = 'mallory' WHERE seq = 12") == SQLITE_OK);
    }
    SECTION("the time") { REQUIRE(db.exec("UPDATE records SET time_ms = time_ms + 1 WHERE seq = 12") == SQLITE_OK); }
  }
  const auto v = verify(o);
  CHECK_FALSE(v.ok);
  CHECK(v.first_bad_seq == 12);
  CHECK(v.message == "record 12: hash mismatch (edited?)");
  CHECK(v.records_checked == 11);
}

TEST_CASE("a rewritten chain is caught by the signed checkpoints", "[audit][tamper]") {
  TempDir dir;
  const auto o = options_for(dir);
  make_log(o, 30, 10);
  {
    RawDb db(db_of(o));
    REQUIRE(db.exec("DROP TRIGGER records_no_update") == SQLITE_OK);
    REQUIRE(db.exec("UPDATE records SET door = 'ops-door' WHERE seq = 12") == SQLITE_OK);
    rehash_all(db);
    SECTION("checkpoints left alone") {}
    SECTION("checkpoint hashes rewritten too") {
      REQUIRE(db.exec("DROP TRIGGER checkpoints_no_update") == SQLITE_OK);
      REQUIRE(db.exec("UPDATE checkpoints SET hash = (SELECT hash FROM records r WHERE r.seq = checkpoints.seq)") ==
              SQLITE_OK);
    }
  }
  const auto v = verify(o);
  CHECK_FALSE(v.ok);
  INFO(v.message);
  CHECK(v.first_bad_seq == 20);
  const bool named = v.message == "record 20: hash differs from the signed checkpoint (chain rewritten?)" ||
                     v.message == "checkpoint at seq 20: bad signature (forged or altered)";
  CHECK(named);
}

TEST_CASE("a gap and a broken link are detected", "[audit][tamper]") {
  TempDir dir;
  const auto o = options_for(dir);
  make_log(o, 20, 0);
  SECTION("gap") {
    {
      RawDb db(db_of(o));
      REQUIRE(db.exec("DROP TRIGGER records_no_delete") == SQLITE_OK);
      REQUIRE(db.exec("DELETE FROM records WHERE seq = 7") == SQLITE_OK);
    }
    const auto v = verify(o);
    CHECK_FALSE(v.ok);
    CHECK(v.first_bad_seq == 7);
    CHECK(v.message == "record 7 missing (gap: the next record is 8)");
  }
  SECTION("gap at the end of a range") {
    {
      RawDb db(db_of(o));
      REQUIRE(db.exec("DROP TRIGGER records_no_delete") == SQLITE_OK);
      REQUIRE(db.exec("DELETE FROM records WHERE seq IN (5, 6)") == SQLITE_OK);  // 20 records: ranges 1-6, 7-12, 13-20
    }
    const auto v = verify(o);
    CHECK_FALSE(v.ok);
    CHECK(v.first_bad_seq == 5);
    CHECK(v.message == "record 5 missing (gap: the next record is 7)");
  }
  SECTION("broken link at the start of a range") {
    {
      RawDb db(db_of(o));
      REQUIRE(db.exec("DROP TRIGGER records_no_update") == SQLITE_OK);
      REQUIRE(db.exec("UPDATE records SET prev_hash = zeroblob(32) WHERE seq = 7") == SQLITE_OK);
    }
    const auto v = verify(o);
    CHECK_FALSE(v.ok);
    CHECK(v.first_bad_seq == 7);
    CHECK(v.message == "record 7: broken link (prev_hash is not the hash of the previous record)");
  }
  SECTION("broken link") {
    {
      RawDb db(db_of(o));
      REQUIRE(db.exec("DROP TRIGGER records_no_update") == SQLITE_OK);
      REQUIRE(db.exec("UPDATE records SET prev_hash = zeroblob(32) WHERE seq = 4") == SQLITE_OK);
    }
    const auto v = verify(o);
    CHECK_FALSE(v.ok);
    CHECK(v.first_bad_seq == 4);
    CHECK(v.message == "record 4: broken link (prev_hash is not the hash of the previous record)");
  }
  SECTION("redaction without a recorded purge") {
    {
      RawDb db(db_of(o));
      REQUIRE(db.exec("DROP TRIGGER records_no_update") == SQLITE_OK);
      REQUIRE(db.exec("UPDATE records SET person = '<purged>', detail = '<purged>', salt = NULL, "
                      "personal_digest = zeroblob(32), purged_by = 999 WHERE seq = 5") == SQLITE_OK);
    }
    const auto v = verify(o);
    CHECK_FALSE(v.ok);
    CHECK(v.first_bad_seq == 5);
    CHECK(v.message == "record 5: redacted without a matching retention record (seq 999)");
  }
}

TEST_CASE("a deleted tail is detected against the last checkpoint", "[audit][tamper]") {
  TempDir dir;
  const auto o = options_for(dir);
  make_log(o, 5000, 5000);
  {
    RawDb db(db_of(o));
    REQUIRE(db.exec("DROP TRIGGER records_no_delete") == SQLITE_OK);
    REQUIRE(db.exec("DELETE FROM records WHERE seq > 4990") == SQLITE_OK);
  }
  auto v = verify(o);
  CHECK_FALSE(v.ok);
  CHECK(v.first_bad_seq == 4991);
  CHECK(v.message == "log truncated: checkpoint at seq 5000 but last record is 4990");
  CHECK(v.records_checked == 4990);

  // Deleting the checkpoints as well hides the truncation locally, but not from a checkpoint held
  // elsewhere (the central database).
  Hash at_4000{};
  {
    RawDb db(db_of(o));
    REQUIRE(db.exec("DROP TRIGGER checkpoints_no_delete") == SQLITE_OK);
    REQUIRE(db.exec("DELETE FROM checkpoints") == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db.get(), "SELECT hash FROM records WHERE seq = 4000", -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    std::memcpy(at_4000.data(), sqlite3_column_blob(st, 0), 32);
    sqlite3_finalize(st);
  }
  CHECK(verify(o).ok);
  VerifyOptions anchored;
  anchored.anchor = std::make_pair(Seq{5000}, Hash{});
  v = verify(o, anchored);
  CHECK_FALSE(v.ok);
  CHECK(v.message == "log truncated: anchor at seq 5000 but last record is 4990");
  anchored.anchor = std::make_pair(Seq{4000}, at_4000);
  CHECK(verify(o, anchored).ok);
  anchored.anchor = std::make_pair(Seq{4000}, Hash{});
  v = verify(o, anchored);
  CHECK_FALSE(v.ok);
  CHECK(v.first_bad_seq == 4000);
}

TEST_CASE("a forged checkpoint signature is detected", "[audit][tamper]") {
  TempDir dir;
  const auto o = options_for(dir);
  make_log(o, 30, 10);
  {
    RawDb db(db_of(o));
    REQUIRE(db.exec("DROP TRIGGER checkpoints_no_update") == SQLITE_OK);
    SECTION("a flipped signature bit") {
      // Byte 11 is set to a value it does not already have (a constant could equal it by chance).
      REQUIRE(db.exec("UPDATE checkpoints SET signature = CAST(substr(signature, 1, 10) || "
                      "CASE WHEN substr(signature, 11, 1) = X'FF' THEN X'00' ELSE X'FF' END || "
                      "substr(signature, 12) AS BLOB) WHERE seq = 20") == SQLITE_OK);
    }
    SECTION("a different time") { REQUIRE(db.exec("UPDATE checkpoints SET time_ms = 1 WHERE seq = 20") == SQLITE_OK); }
  }
  const auto v = verify(o);
  CHECK_FALSE(v.ok);
  CHECK(v.first_bad_seq == 20);
  CHECK(v.message == "checkpoint at seq 20: bad signature (forged or altered)");
}

TEST_CASE("a checkpoint signed by another key is refused", "[audit][tamper]") {
  TempDir dir;
  TempDir other;
  const auto o = options_for(dir);
  make_log(o, 10, 10);
  auto o2 = o;
  o2.state_dir = other.path() / "state";
  make_log(o2, 10, 10);
  {
    // Replace gateway 1's checkpoint by gateway 2's signature and key id (same gateway id).
    RawDb db(db_of(o));
    REQUIRE(db.exec("DROP TRIGGER checkpoints_no_update") == SQLITE_OK);
    REQUIRE(db.exec("ATTACH '" + db_of(o2).string() + "' AS other") == SQLITE_OK);
    REQUIRE(db.exec("UPDATE main.checkpoints SET key_id = (SELECT key_id FROM other.checkpoints WHERE seq = 10), "
                    "signature = (SELECT signature FROM other.checkpoints WHERE seq = 10)") == SQLITE_OK);
  }
  auto v = verify(o);
  CHECK_FALSE(v.ok);
  CHECK_THAT(v.message, Catch::StartsWith("checkpoint at seq 10: signed by an unknown key"));
  // Checked with gateway 2's public key instead, the signature does not match gateway 1's records.
  VerifyOptions with_other;
  with_other.public_key = o2.state_dir / "audit-signing.pub";
  v = verify(o, with_other);
  CHECK_FALSE(v.ok);
  CHECK(v.message == "checkpoint at seq 10: bad signature (forged or altered)");
}

}  // namespace
}  // namespace zonegate::adapters::audit
