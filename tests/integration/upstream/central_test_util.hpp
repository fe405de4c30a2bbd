// SPDX-License-Identifier: Apache-2.0
/// @file
/// Helpers for the tests of the central schema: connections, synthetic chains, row counts.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "adapters/upstream/central_admin.hpp"
#include "adapters/upstream/pg.hpp"
#include "pg_fixture.hpp"

namespace zonegate::testing {

namespace pg = adapters::upstream::pg;

inline pg::Conn connect_or_fail(const std::string& dsn) {
  std::string error;
  pg::Conn conn = pg::connect(dsn, std::chrono::seconds(10), &error);
  if (!conn) FAIL("cannot connect to " << dsn << ": " << error);
  pg::exec(conn.get(), "SET client_min_messages = warning");
  return conn;
}

/// Runs `sql` and FAILs the test if it does not succeed.
inline pg::Res must(PGconn* conn, const std::string& sql, const std::vector<pg::Param>& params = {}) {
  std::string error;
  pg::Res res = pg::exec(conn, sql.c_str(), params, &error);
  if (!res) FAIL("SQL failed: " << sql << ": " << error);
  return res;
}

/// Runs `sql`, expects it to fail, and returns the SQLSTATE.
inline std::string refused(PGconn* conn, const std::string& sql, const std::vector<pg::Param>& params = {}) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.kind == pg::Param::Kind::null ? nullptr : p.value.c_str());
  pg::Res res(
      PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
  const auto status = PQresultStatus(res.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) FAIL("expected a refusal, but it succeeded: " << sql);
  return pg::sqlstate(res.get());
}

/// One value of a one-row query, as text.
inline std::string scalar(PGconn* conn, const std::string& sql, const std::vector<pg::Param>& params = {}) {
  pg::Res res = must(conn, sql, params);
  REQUIRE(PQntuples(res.get()) == 1);
  return std::string(pg::text(res.get(), 0, 0));
}

/// A synthetic 32-byte hash for record `seq` of chain `variant` (0: the genuine chain).
inline std::vector<std::uint8_t> fake_hash(std::uint64_t seq, std::uint8_t variant = 0) {
  std::vector<std::uint8_t> h(32, 0);
  if (seq == 0) return h;  // the chain starts at 32 zero bytes
  for (int i = 0; i < 8; ++i) h[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(seq >> (8 * i));
  h[8] = 0xA5;
  h[9] = variant;
  return h;
}

/// Inserts one event row with the given links (binary bytea parameters).
inline pg::Res insert_event(PGconn* conn, const std::string& gateway, std::uint64_t seq, std::int64_t time_ms,
                            const std::vector<std::uint8_t>& prev, const std::vector<std::uint8_t>& hash,
                            std::string* error = nullptr) {
  return pg::exec(conn,
                  "INSERT INTO zonegate.events (gateway_id, seq, time_ms, kind, event, prev_hash, hash)"
                  " VALUES ($1, $2, $3, 'system', 'test', $4, $5)",
                  {pg::Param::text(gateway), pg::Param::integer(static_cast<std::int64_t>(seq)),
                   pg::Param::integer(time_ms), pg::Param::binary(prev), pg::Param::binary(hash)},
                  error);
}

/// Inserts records from..to of the genuine synthetic chain of `gateway`, one statement each.
inline void insert_chain(PGconn* conn, const std::string& gateway, std::uint64_t from, std::uint64_t to,
                         std::int64_t time_ms = 1764300000000) {
  for (std::uint64_t s = from; s <= to; ++s) {
    std::string error;
    if (!insert_event(conn, gateway, s, time_ms + static_cast<std::int64_t>(s), fake_hash(s - 1), fake_hash(s),
                      &error)) {
      FAIL("inserting record " << s << " of " << gateway << ": " << error);
    }
  }
}

/// A central database with the schema and three gateways: gw-a and gw-b at site north, gw-c at
/// site south, each with a login role and password, plus an auditor and an administrator.
struct CentralDb {
  PgServer server;
  pg::Conn super;
  std::string gw_a, gw_b, gw_c, auditor, admin;  ///< DSNs

  CentralDb() {
    super = connect_or_fail(server.dsn());
    auto init = adapters::upstream::init_schema(super.get());
    if (!init.ok) FAIL("init_schema: " << init.message);
    add("gw-a", "north", "secret-a");
    add("gw-b", "north", "secret-b");
    add("gw-c", "south", "secret-c");
    must(super.get(), "CREATE ROLE test_auditor LOGIN PASSWORD 'secret-aud' IN ROLE zonegate_auditor");
    must(super.get(), "CREATE ROLE test_admin LOGIN PASSWORD 'secret-adm' IN ROLE zonegate_admin");
    gw_a = server.role_dsn("zg_gw_gw_a", "secret-a");
    gw_b = server.role_dsn("zg_gw_gw_b", "secret-b");
    gw_c = server.role_dsn("zg_gw_gw_c", "secret-c");
    auditor = server.role_dsn("test_auditor", "secret-aud");
    admin = server.role_dsn("test_admin", "secret-adm");
  }

  void add(const std::string& id, const std::string& site, const std::string& password) {
    adapters::upstream::GatewaySpec spec;
    spec.gateway_id = id;
    spec.site = site;
    spec.password = password;
    auto r = adapters::upstream::add_gateway(super.get(), spec);
    if (!r.ok) FAIL("add_gateway " << id << ": " << r.message);
  }
};

}  // namespace zonegate::testing
