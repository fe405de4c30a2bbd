// SPDX-License-Identifier: Apache-2.0
// The central schema against a real PostgreSQL server: idempotent init, the roles' rights, chain
// continuity enforced by the insert trigger, checkpoints, pull-down of badges, partitions.
#include <fstream>
#include <iterator>

#include "central_test_util.hpp"

namespace zonegate::testing {
namespace {

namespace up = adapters::upstream;

constexpr const char* kInsufficientPrivilege = "42501";

std::int64_t count(PGconn* conn, const std::string& sql, const std::vector<pg::Param>& params = {}) {
  return std::stoll(scalar(conn, sql, params));
}

std::string head(PGconn* conn, const std::string& gateway) {
  return scalar(
      conn, "SELECT seq || CASE WHEN faulted THEN ' t' ELSE ' f' END FROM zonegate.chain_heads WHERE gateway_id = $1",
      {pg::Param::text(gateway)});
}

// COPY in text format, as the sync uploads: bytea as \\x… (the backslash escaped for COPY).
std::string copy_line(const std::string& gateway, std::uint64_t seq, std::int64_t time_ms) {
  const auto hex = [](const std::vector<std::uint8_t>& b) {
    static const char* digits = "0123456789abcdef";
    std::string s = "\\\\x";
    for (auto v : b) s += {digits[v >> 4], digits[v & 15]};
    return s;
  };
  return gateway + '\t' + std::to_string(seq) + '\t' + std::to_string(time_ms) + "\tsystem\tcopied\t" +
         hex(fake_hash(seq - 1)) + '\t' + hex(fake_hash(seq)) + '\n';
}

/// Runs COPY FROM STDIN with `data`; returns the error text ("" on success).
std::string copy_in(PGconn* conn, const std::string& data) {
  pg::Res res(PQexec(conn, "COPY zonegate.events (gateway_id, seq, time_ms, kind, event, prev_hash, hash) FROM STDIN"));
  if (PQresultStatus(res.get()) != PGRES_COPY_IN) return pg::error_text(res.get());
  if (PQputCopyData(conn, data.data(), static_cast<int>(data.size())) != 1) return pg::error_text(conn);
  if (PQputCopyEnd(conn, nullptr) != 1) return pg::error_text(conn);
  pg::Res done(PQgetResult(conn));
  const std::string error = PQresultStatus(done.get()) == PGRES_COMMAND_OK ? "" : pg::error_text(done.get());
  while (pg::Res more{PQgetResult(conn)}) {
  }
  return error;
}

}  // namespace

TEST_CASE("upstream init is idempotent and says what it did", "[upstream][schema]") {
  PgServer server;
  auto conn = connect_or_fail(server.dsn());
  const auto first = up::init_schema(conn.get());
  REQUIRE(first.ok);
  const auto has = [&](const std::string& action) {
    return std::find(first.actions.begin(), first.actions.end(), action) != first.actions.end();
  };
  CHECK(has("created table zonegate.events"));
  CHECK(has("created table zonegate.events_default"));
  CHECK(has("created function zonegate.pull_changes(since bigint, max_rows integer)"));
  CHECK(has("created role zonegate_gateway"));
  CHECK(has("created role zonegate_auditor"));

  const auto second = up::init_schema(conn.get());
  REQUIRE(second.ok);
  CHECK(second.actions.empty());
  CHECK_THAT(second.message, Catch::Contains("nothing changed"));

  // A drifted object is put back, and reported.
  must(conn.get(), "REVOKE INSERT ON zonegate.events FROM zonegate_gateway");
  const auto third = up::init_schema(conn.get());
  REQUIRE(third.ok);
  CHECK(third.actions == std::vector<std::string>{"updated table zonegate.events"});
}

TEST_CASE("a failed init leaves nothing behind", "[upstream][schema]") {
  PgServer server;
  auto super = connect_or_fail(server.dsn());
  // May create roles but not schemas: fails after the roles, which must be rolled back too.
  must(super.get(), "CREATE ROLE weak LOGIN CREATEROLE PASSWORD 'pw'");
  auto weak = connect_or_fail(server.role_dsn("weak", "pw"));
  const auto r = up::init_schema(weak.get());
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("permission denied"));
  CHECK(scalar(super.get(), "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'zonegate_%'") == "0");
  CHECK(scalar(super.get(), "SELECT count(*) FROM pg_namespace WHERE nspname = 'zonegate'") == "0");
}

TEST_CASE("add-gateway creates a login role and is idempotent", "[upstream][schema]") {
  PgServer server;
  auto conn = connect_or_fail(server.dsn());
  REQUIRE(up::init_schema(conn.get()).ok);
  up::GatewaySpec spec{"gw-east-1", "east", "", "pw-1", ""};
  auto r = up::add_gateway(conn.get(), spec);
  REQUIRE(r.ok);
  CHECK(r.actions.size() == 3);  // role, password, gateway row (the head comes with the row)
  CHECK(head(conn.get(), "gw-east-1") == "0 f");
  CHECK(scalar(conn.get(), "SELECT role_name FROM zonegate.gateways WHERE gateway_id = 'gw-east-1'") ==
        "zg_gw_gw_east_1");

  spec.password.clear();
  r = up::add_gateway(conn.get(), spec);
  REQUIRE(r.ok);
  CHECK(r.actions.empty());
  CHECK_THAT(r.message, Catch::Contains("nothing changed"));

  // The gateway can log in with its password, and only as itself.
  auto gw = connect_or_fail(server.role_dsn("zg_gw_gw_east_1", "pw-1"));
  CHECK(scalar(gw.get(), "SELECT zonegate.current_gateway()") == "gw-east-1");

  spec.site = "west";
  r = up::add_gateway(conn.get(), spec);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("belongs to site east"));

  must(conn.get(), "CREATE ROLE powerful LOGIN CREATEROLE");
  r = up::add_gateway(conn.get(), up::GatewaySpec{"gw-x", "east", "powerful", "", ""});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("privileged"));
  CHECK(count(conn.get(), "SELECT count(*) FROM zonegate.gateways WHERE gateway_id = 'gw-x'") == 0);

  r = up::add_gateway(conn.get(), up::GatewaySpec{"GW_BAD", "east", "", "", ""});
  CHECK_FALSE(r.ok);
  r = up::add_gateway(conn.get(), up::GatewaySpec{"gw-y", "east", "", "", "-----BEGIN PUBLIC KEY-----\nnope\n"});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("public key"));
}

TEST_CASE("a gateway inserts only its own events and checkpoints", "[upstream][schema]") {
  CentralDb db;
  auto a = connect_or_fail(db.gw_a);
  std::string error;
  CHECK_FALSE(insert_event(a.get(), "gw-b", 1, 1764300000000, fake_hash(0), fake_hash(1), &error));
  CHECK_THAT(error, Catch::Contains("may not insert records of gateway gw-b"));
  CHECK(refused(a.get(),
                "INSERT INTO zonegate.checkpoints (gateway_id, seq, time_ms, hash, key_id, signature)"
                " VALUES ('gw-b', 1, 1, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'),"
                " decode(repeat('00', 64), 'hex'))") == kInsufficientPrivilege);
  CHECK(head(db.super.get(), "gw-b") == "0 f");
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.chain_faults") == 0);

  insert_chain(a.get(), "gw-a", 1, 3);
  CHECK(head(db.super.get(), "gw-a") == "3 f");

  // Its own state is visible to it, other gateways' is not.
  CHECK(count(a.get(), "SELECT count(*) FROM zonegate.chain_heads") == 1);
  CHECK(count(a.get(), "SELECT count(*) FROM zonegate.my_events") == 3);
  auto b = connect_or_fail(db.gw_b);
  CHECK(count(b.get(), "SELECT count(*) FROM zonegate.my_events") == 0);
  CHECK(refused(b.get(), "SELECT count(*) FROM zonegate.events") == kInsufficientPrivilege);

  // A role in zonegate_gateway that is not registered as a gateway inserts nothing.
  must(db.super.get(), "CREATE ROLE stray LOGIN PASSWORD 'pw' IN ROLE zonegate_gateway");
  auto stray = connect_or_fail(db.server.role_dsn("stray", "pw"));
  CHECK_FALSE(insert_event(stray.get(), "gw-a", 4, 1764300000004, fake_hash(3), fake_hash(4), &error));
  CHECK_THAT(error, Catch::Contains("not registered as a gateway"));
}

TEST_CASE("gateways and auditors cannot update, delete or truncate the trail", "[upstream][schema]") {
  CentralDb db;
  insert_chain(db.super.get(), "gw-a", 1, 2);
  auto a = connect_or_fail(db.gw_a);
  auto aud = connect_or_fail(db.auditor);
  for (PGconn* c : {a.get(), aud.get()}) {
    for (const char* table : {"zonegate.events", "zonegate.checkpoints", "zonegate.chain_heads",
                              "zonegate.chain_faults", "zonegate.events_default"}) {
      CAPTURE(PQuser(c), table);
      CHECK(refused(c, std::string("UPDATE ") + table + " SET seq = seq + 1") == kInsufficientPrivilege);
      CHECK(refused(c, std::string("DELETE FROM ") + table) == kInsufficientPrivilege);
      CHECK(refused(c, std::string("TRUNCATE ") + table) == kInsufficientPrivilege);
    }
    CHECK(refused(c, "ALTER TABLE zonegate.events DISABLE TRIGGER ALL") == kInsufficientPrivilege);
  }
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events") == 2);
}

TEST_CASE("the auditor reads everything and writes nothing", "[upstream][schema]") {
  CentralDb db;
  insert_chain(db.super.get(), "gw-a", 1, 2);
  insert_chain(db.super.get(), "gw-c", 1, 1);
  auto adm = connect_or_fail(db.admin);
  must(adm.get(), "INSERT INTO zonegate.people (site, person_id, name) VALUES ('north', 'p1', 'Ann')");
  auto aud = connect_or_fail(db.auditor);
  CHECK(count(aud.get(), "SELECT count(*) FROM zonegate.events") == 3);
  CHECK(count(aud.get(), "SELECT count(*) FROM zonegate.chain_heads") == 3);
  CHECK(count(aud.get(), "SELECT count(*) FROM zonegate.people") == 1);
  CHECK(count(aud.get(), "SELECT count(*) FROM zonegate.gateways") == 3);
  CHECK(count(aud.get(), "SELECT count(*) FROM zonegate.checkpoints") == 0);
  std::string error;
  CHECK_FALSE(insert_event(aud.get(), "gw-a", 3, 1764300000003, fake_hash(2), fake_hash(3), &error));
  CHECK(refused(aud.get(), "INSERT INTO zonegate.people (site, person_id) VALUES ('north', 'p2')") ==
        kInsufficientPrivilege);
  CHECK(refused(aud.get(), "UPDATE zonegate.people SET name = 'x'") == kInsufficientPrivilege);
  CHECK(refused(aud.get(), "UPDATE zonegate.gateways SET site = 'x'") == kInsufficientPrivilege);
  CHECK(refused(aud.get(), "SELECT zonegate.pull_changes(0, 10)") == kInsufficientPrivilege);
  CHECK(refused(aud.get(), "SELECT zonegate.ensure_partitions(0, 1)") == kInsufficientPrivilege);
  CHECK(head(db.super.get(), "gw-a") == "2 f");
}

TEST_CASE("a row with a wrong prev_hash is skipped, flagged, and faults the head", "[upstream][schema]") {
  CentralDb db;
  auto a = connect_or_fail(db.gw_a);
  insert_chain(a.get(), "gw-a", 1, 3);
  auto res = insert_event(a.get(), "gw-a", 4, 1764300000004, fake_hash(3, 7), fake_hash(4));
  REQUIRE(res);
  CHECK(std::string(PQcmdTuples(res.get())) == "0");  // skipped, not an error: a COPY goes on
  CHECK(head(a.get(), "gw-a") == "3 t");
  CHECK(scalar(a.get(), "SELECT kind || ' ' || seq FROM zonegate.chain_faults") == "prev_hash_mismatch 4");
  CHECK(scalar(a.get(), "SELECT expected_prev = $1 AND got_prev = $2 FROM zonegate.chain_faults",
               {pg::Param::binary(fake_hash(3)), pg::Param::binary(fake_hash(3, 7))}) == "t");
  // Once faulted, even a correct row is not accepted.
  REQUIRE(insert_event(a.get(), "gw-a", 4, 1764300000004, fake_hash(3), fake_hash(4)));
  CHECK(head(a.get(), "gw-a") == "3 t");
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events WHERE gateway_id = 'gw-a'") == 3);
  // Other gateways carry on.
  auto b = connect_or_fail(db.gw_b);
  insert_chain(b.get(), "gw-b", 1, 2);
  CHECK(head(db.super.get(), "gw-b") == "2 f");
}

TEST_CASE("a gap is flagged", "[upstream][schema]") {
  CentralDb db;
  auto a = connect_or_fail(db.gw_a);
  insert_chain(a.get(), "gw-a", 1, 2);
  REQUIRE(insert_event(a.get(), "gw-a", 4, 1764300000004, fake_hash(3), fake_hash(4)));
  CHECK(head(a.get(), "gw-a") == "2 t");
  CHECK(scalar(a.get(), "SELECT kind || ' ' || seq FROM zonegate.chain_faults") == "gap 4");
}

TEST_CASE("a retried identical row is skipped silently; a fork is flagged", "[upstream][schema]") {
  CentralDb db;
  auto a = connect_or_fail(db.gw_a);
  insert_chain(a.get(), "gw-a", 1, 5);
  // The retry of a batch whose COMMIT acknowledgement was lost: same rows again, then new ones.
  must(a.get(), "BEGIN");
  insert_chain(a.get(), "gw-a", 3, 7);
  must(a.get(), "COMMIT");
  CHECK(head(a.get(), "gw-a") == "7 f");
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events WHERE gateway_id = 'gw-a'") == 7);
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.chain_faults") == 0);

  // Seq 4 again with another hash: a fork.
  REQUIRE(insert_event(a.get(), "gw-a", 4, 1764300000004, fake_hash(3), fake_hash(4, 9)));
  CHECK(head(a.get(), "gw-a") == "7 t");
  CHECK(scalar(a.get(), "SELECT kind || ' ' || seq FROM zonegate.chain_faults") == "fork 4");
  CHECK(scalar(a.get(), "SELECT stored_hash = $1 AND got_hash = $2 FROM zonegate.chain_faults",
               {pg::Param::binary(fake_hash(4)), pg::Param::binary(fake_hash(4, 9))}) == "t");
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events WHERE gateway_id = 'gw-a'") == 7);
}

TEST_CASE("a gateway uploads with COPY; a retried COPY is a no-op", "[upstream][schema]") {
  CentralDb db;
  auto a = connect_or_fail(db.gw_a);
  std::string data;
  for (std::uint64_t s = 1; s <= 500; ++s) data += copy_line("gw-a", s, 1764300000000 + static_cast<std::int64_t>(s));
  must(a.get(), "BEGIN");
  CHECK(copy_in(a.get(), data) == "");
  must(a.get(), "COMMIT");
  CHECK(head(a.get(), "gw-a") == "500 f");
  CHECK(copy_in(a.get(), data) == "");
  CHECK(head(a.get(), "gw-a") == "500 f");
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events") == 500);
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.chain_faults") == 0);
  // Rolled back: neither rows nor head move.
  must(a.get(), "BEGIN");
  CHECK(copy_in(a.get(), copy_line("gw-a", 501, 1764300000501)) == "");
  must(a.get(), "ROLLBACK");
  CHECK(head(a.get(), "gw-a") == "500 f");
  // Another gateway's rows abort the COPY.
  CHECK_THAT(copy_in(a.get(), copy_line("gw-b", 1, 1764300000000)), Catch::Contains("may not insert"));
}

TEST_CASE("checkpoints must sign a stored event", "[upstream][schema]") {
  CentralDb db;
  auto a = connect_or_fail(db.gw_a);
  insert_chain(a.get(), "gw-a", 1, 10);
  const auto insert_cp = [&](std::uint64_t seq, const std::vector<std::uint8_t>& hash, std::uint8_t sig) {
    return must(
        a.get(),
        "INSERT INTO zonegate.checkpoints (gateway_id, seq, time_ms, hash, key_id, signature)"
        " VALUES ('gw-a', $1, 1764300009999, $2, $3, $4)",
        {pg::Param::integer(static_cast<std::int64_t>(seq)), pg::Param::binary(hash),
         pg::Param::binary(std::vector<std::uint8_t>(32, 1)), pg::Param::binary(std::vector<std::uint8_t>(64, sig))});
  };
  CHECK(std::string(PQcmdTuples(insert_cp(5, fake_hash(5), 1).get())) == "1");
  CHECK(scalar(a.get(), "SELECT checkpoint_seq FROM zonegate.chain_heads") == "5");
  CHECK(count(a.get(), "SELECT count(*) FROM zonegate.my_checkpoints") == 1);
  CHECK(std::string(PQcmdTuples(insert_cp(5, fake_hash(5), 1).get())) == "0");  // identical: skipped
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.chain_faults") == 0);
  // Beyond the head: not stored, flagged, the head stays usable.
  CHECK(std::string(PQcmdTuples(insert_cp(11, fake_hash(11), 1).get())) == "0");
  CHECK(head(a.get(), "gw-a") == "10 f");
  // Contradicting a stored event: flagged, and the chains have diverged.
  CHECK(std::string(PQcmdTuples(insert_cp(8, fake_hash(8, 3), 1).get())) == "0");
  CHECK(head(a.get(), "gw-a") == "10 t");
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.chain_faults WHERE kind = 'checkpoint_mismatch'") == 2);
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.checkpoints") == 1);
}

TEST_CASE("gateways get their site's badge changes only through pull_changes", "[upstream][schema]") {
  CentralDb db;
  auto adm = connect_or_fail(db.admin);
  must(adm.get(),
       "INSERT INTO zonegate.people (site, person_id, name, roles) VALUES"
       " ('north', 'ann', 'Ann', '{staff}'), ('south', 'bob', 'Bob', '{staff,lab}')");
  must(adm.get(),
       "INSERT INTO zonegate.badges (site, uid, person_id, kind, valid_until) VALUES"
       " ('north', '04A1B2C3', 'ann', 'uid', '2030-01-01T00:00:00Z'),"
       " ('south', '04D4E5F6', 'bob', 'desfire', NULL)");
  auto a = connect_or_fail(db.gw_a);
  CHECK(refused(a.get(), "SELECT * FROM zonegate.people") == kInsufficientPrivilege);
  CHECK(refused(a.get(), "SELECT * FROM zonegate.badges") == kInsufficientPrivilege);
  CHECK(refused(a.get(), "UPDATE zonegate.badges SET revoked = true") == kInsufficientPrivilege);

  const char* pull =
      "SELECT version, what, id, person_id, coalesce(name, ''), coalesce(array_to_string(roles, ';'), ''),"
      " coalesce(kind, ''), coalesce(valid_until_ms::text, ''), coalesce(revoked::text, ''), deleted"
      " FROM zonegate.pull_changes($1, $2)";
  auto res = must(a.get(), pull, {pg::Param::integer(0), pg::Param::integer(100)});
  REQUIRE(PQntuples(res.get()) == 2);
  CHECK(pg::text(res.get(), 0, 1) == "person");
  CHECK(pg::text(res.get(), 0, 2) == "ann");
  CHECK(pg::text(res.get(), 0, 5) == "staff");
  CHECK(pg::text(res.get(), 1, 1) == "badge");
  CHECK(pg::text(res.get(), 1, 2) == "04A1B2C3");
  CHECK(pg::text(res.get(), 1, 7) == "1893456000000");
  CHECK(pg::text(res.get(), 1, 8) == "false");
  const auto last = *pg::int64(res.get(), 1, 0);

  // Nothing new, nothing returned; a revocation comes as one row with a higher version.
  CHECK(PQntuples(must(a.get(), pull, {pg::Param::integer(last), pg::Param::integer(100)}).get()) == 0);
  must(adm.get(), "UPDATE zonegate.badges SET revoked = true WHERE uid = '04A1B2C3'");
  must(adm.get(), "UPDATE zonegate.badges SET revoked = true WHERE uid = '04D4E5F6'");  // south: not for gw-a
  res = must(a.get(), pull, {pg::Param::integer(last), pg::Param::integer(100)});
  REQUIRE(PQntuples(res.get()) == 1);
  CHECK(pg::text(res.get(), 0, 2) == "04A1B2C3");
  CHECK(pg::text(res.get(), 0, 8) == "true");
  CHECK(*pg::int64(res.get(), 0, 0) > last);

  // The south gateway sees only south.
  auto c = connect_or_fail(db.gw_c);
  res = must(c.get(), pull, {pg::Param::integer(0), pg::Param::integer(100)});
  REQUIRE(PQntuples(res.get()) == 2);
  CHECK(pg::text(res.get(), 0, 2) == "bob");
  CHECK(pg::text(res.get(), 1, 2) == "04D4E5F6");

  // A page cut before the person's newer row still brings the person along with the badge.
  must(adm.get(), "INSERT INTO zonegate.people (site, person_id, name) VALUES ('north', 'cy', 'Cy')");
  must(adm.get(), "INSERT INTO zonegate.badges (site, uid, person_id, kind) VALUES ('north', '04000001', 'cy', 'uid')");
  must(adm.get(), "UPDATE zonegate.people SET name = 'Cyrus' WHERE person_id = 'cy'");
  const auto before_cy =
      *pg::int64(must(adm.get(), "SELECT version FROM zonegate.people WHERE person_id = 'ann'").get(), 0, 0);
  res = must(a.get(), pull,
             {pg::Param::integer(*pg::int64(
                  must(adm.get(), "SELECT max(version) FROM zonegate.badges WHERE uid = '04A1B2C3'").get(), 0, 0)),
              pg::Param::integer(1)});
  REQUIRE(PQntuples(res.get()) == 2);
  CHECK(pg::text(res.get(), 0, 1) == "person");
  CHECK(pg::text(res.get(), 0, 4) == "Cyrus");
  CHECK(pg::text(res.get(), 1, 1) == "badge");
  CHECK(pg::text(res.get(), 0, 0) == pg::text(res.get(), 1, 0));  // reported at the badge's version
  CHECK(before_cy < *pg::int64(res.get(), 0, 0));

  // Deletion is an UPDATE that gateways see; DELETE is not granted.
  CHECK(refused(adm.get(), "DELETE FROM zonegate.badges WHERE uid = '04000001'") == kInsufficientPrivilege);
  must(adm.get(), "UPDATE zonegate.badges SET deleted = true WHERE uid = '04000001'");
  res = must(a.get(), "SELECT id, deleted FROM zonegate.pull_changes($1, 100) WHERE what = 'badge'",
             {pg::Param::integer(*pg::int64(res.get(), 1, 0))});
  REQUIRE(PQntuples(res.get()) == 1);
  CHECK(pg::text(res.get(), 0, 0) == "04000001");
  CHECK(pg::text(res.get(), 0, 1) == "t");

  // Keys do not move; a non-gateway cannot pull.
  CHECK(refused(adm.get(), "UPDATE zonegate.badges SET uid = '04000002' WHERE uid = '04000001'") == "23000");
  CHECK(refused(db.super.get(), "SELECT * FROM zonegate.pull_changes(0, 10)") == kInsufficientPrivilege);
}

TEST_CASE("ensure_partitions creates UTC monthly partitions and moves rows out of the default", "[upstream][schema]") {
  CentralDb db;
  // 2025-11-28 lands in the default partition first.
  insert_chain(db.super.get(), "gw-a", 1, 3, 1764300000000);
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events_default") == 3);
  auto a = connect_or_fail(db.gw_a);
  // 2025-10-15 .. 2026-01-02: October, November, December, January.
  CHECK(scalar(a.get(), "SELECT zonegate.ensure_partitions(1760486400000, 1767312000000)") == "4");
  CHECK(scalar(a.get(), "SELECT zonegate.ensure_partitions(1760486400000, 1767312000000)") == "0");
  const auto parts = must(db.super.get(),
                          "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
                          " JOIN pg_class c ON c.oid = i.inhrelid"
                          " WHERE i.inhparent = 'zonegate.events'::regclass ORDER BY c.relname");
  std::vector<std::string> names;
  for (int i = 0; i < PQntuples(parts.get()); ++i) names.emplace_back(pg::text(parts.get(), i, 0));
  CHECK(names == std::vector<std::string>{"events_default", "events_y2025m10", "events_y2025m11", "events_y2025m12",
                                          "events_y2026m01"});
  CHECK(pg::text(parts.get(), 2, 1) == "FOR VALUES FROM ('1761955200000') TO ('1764547200000')");
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events_default") == 0);
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events_y2025m11") == 3);
  // The chain goes on across the new partition; a retry is still recognised.
  insert_chain(a.get(), "gw-a", 2, 4, 1764300000000);
  CHECK(head(a.get(), "gw-a") == "4 f");
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events_y2025m11") == 4);
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.chain_faults") == 0);
  // A second run of init leaves the partitions alone.
  CHECK(up::init_schema(db.super.get()).actions == std::vector<std::string>{});
}

TEST_CASE("a forged head cache in the session cannot write for another gateway or skip records", "[upstream][schema]") {
  // The trigger keeps each gateway's running head in a session setting (zonegate.head_<gateway>)
  // for speed; a gateway can set that setting itself, so the per-statement check must not trust it.
  CentralDb db;
  auto a = connect_or_fail(db.gw_a);
  insert_chain(a.get(), "gw-a", 1, 2);
  const auto hex = [](const std::vector<std::uint8_t>& h) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (const auto b : h) {
      out += digits[b >> 4];
      out += digits[b & 15];
    }
    return out;
  };
  std::string error;

  // Claim gw-b's chain is empty and write its first record.
  must(a.get(), "SELECT set_config('zonegate.head_gw_b', 'f:0:" + hex(fake_hash(0)) + "', false)");
  CHECK_FALSE(insert_event(a.get(), "gw-b", 1, 1764300000001, fake_hash(0), fake_hash(1), &error));
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events WHERE gateway_id = 'gw-b'") == 0);
  CHECK(head(db.super.get(), "gw-b") == "0 f");

  // Claim its own head is 41 and skip records 3 to 41.
  must(a.get(), "SELECT set_config('zonegate.head_gw_a', 'f:41:" + hex(fake_hash(41)) + "', false)");
  CHECK_FALSE(insert_event(a.get(), "gw-a", 42, 1764300000042, fake_hash(41), fake_hash(42), &error));
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.events WHERE gateway_id = 'gw-a'") == 2);
  CHECK(head(db.super.get(), "gw-a") == "2 f");

  // Mark another gateway's head faulted through the cache: its head stays healthy.
  must(a.get(), "SELECT set_config('zonegate.head_gw_b', 't:0:" + hex(fake_hash(0)) + "', false)");
  (void)insert_event(a.get(), "gw-b", 1, 1764300000001, fake_hash(0), fake_hash(1), &error);
  CHECK(head(db.super.get(), "gw-b") == "0 f");
  CHECK(count(db.super.get(), "SELECT count(*) FROM zonegate.chain_faults") == 0);

  // gw-b itself still writes its chain normally.
  auto b = connect_or_fail(db.gw_b);
  insert_chain(b.get(), "gw-b", 1, 2);
  CHECK(head(db.super.get(), "gw-b") == "2 f");
}

}  // namespace zonegate::testing
