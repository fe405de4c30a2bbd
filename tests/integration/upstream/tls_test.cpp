// SPDX-License-Identifier: Apache-2.0
// The gateway's sync client against a TLS-only PostgreSQL server (pg-test-server.sh --tls) whose
// pg_hba.conf lets the gateway's role in by its client certificate alone: with sslmode=verify-full,
// the CA and the certificate it uploads and pulls; a wrong CA, a host name the server certificate
// does not name, a missing client certificate and a connection without TLS are all refused before
// a single record leaves the gateway.
#include <sqlite3.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "adapters/upstream/sync.hpp"
#include "app/system_clock.hpp"
#include "central_test_util.hpp"

namespace zonegate::testing {
namespace {

namespace up = adapters::upstream;
namespace audit = adapters::audit;
namespace creds = adapters::credentials;
using namespace std::chrono_literals;

const core::Instant kStart = core::Instant{core::Duration{1764300000000}};  // 2025-11-28
const std::string kGateway = "gw-tls";
const std::string kRole = "zg_gw_gw_tls";  // default_gateway_role(kGateway): the client certificate's CN

/// A TLS-only central database whose gateway gw-tls (site tls-site) has a login role without a
/// password: the client certificate is its only credential. One person with one badge at its site.
struct TlsCentral {
  PgServer server{PgServer::Tls{kRole}};
  pg::Conn super;

  TlsCentral() {
    REQUIRE(up::default_gateway_role(kGateway) == kRole);
    super = connect_or_fail(server.dsn());
    auto init = up::init_schema(super.get());
    if (!init.ok) FAIL("init_schema: " << init.message);
    up::GatewaySpec spec;
    spec.gateway_id = kGateway;
    spec.site = "tls-site";
    auto r = up::add_gateway(super.get(), spec);
    if (!r.ok) FAIL("add_gateway: " << r.message);
    must(super.get(),
         "INSERT INTO zonegate.people (site, person_id, name, roles) VALUES ('tls-site', 'tia', 'Tia', '{employee}')");
    must(super.get(),
         "INSERT INTO zonegate.badges (site, uid, person_id, kind) VALUES ('tls-site', '04C0FFEE', 'tia', 'uid')");
  }

  /// The gateway's DSN: no password, no passfile.
  [[nodiscard]] std::string gateway_dsn(const std::string& host_part = "host=127.0.0.1") const {
    return host_part + " port=" + std::to_string(server.port()) + " dbname=zonegate user=" + kRole;
  }

  std::int64_t central_events() {
    return std::stoll(
        scalar(super.get(), "SELECT count(*) FROM zonegate.events WHERE gateway_id = $1", {pg::Param::text(kGateway)}));
  }
};

/// A temporary state directory with an audit trail and a credential store of gw-tls.
struct TlsGateway {
  std::filesystem::path dir;
  std::unique_ptr<audit::AuditStore> audit;
  std::unique_ptr<creds::CredentialStore> credentials;

  TlsGateway() {
    char pattern[] = "/tmp/zg-tls-test.XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    dir = pattern;
    audit::Options o;
    o.state_dir = dir;
    o.gateway_id = kGateway;
    o.checkpoint_every_records = 1000000000;
    auto a = audit::AuditStore::open(o);
    if (!a) FAIL("audit store: " << a.error().message);
    audit = std::move(*a);
    auto c = creds::CredentialStore::open(dir / "credentials.db");
    if (!c) FAIL("credential store: " << c.error().message);
    credentials = std::move(*c);
  }
  ~TlsGateway() {
    audit.reset();
    credentials.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  TlsGateway(const TlsGateway&) = delete;
  TlsGateway& operator=(const TlsGateway&) = delete;

  void append(std::uint64_t n, core::Instant at) {
    std::vector<audit::Entry> batch;
    for (std::uint64_t i = 0; i < n; ++i) {
      audit::Entry e;
      e.at = at + core::Duration{static_cast<std::int64_t>(i)};
      e.kind = audit::EntryKind::system;
      e.event = "test";
      e.source = "tls-test";
      batch.push_back(std::move(e));
    }
    auto r = audit->append_entries(batch);
    if (!r) FAIL("append: " << r.error().message);
  }

  /// verify-full with the server's CA and the role's client certificate, as a gateway's
  /// zones.yaml would configure it.
  up::SyncOptions options(const TlsCentral& central, const std::string& dsn) const {
    up::SyncOptions o;
    o.gateway_id = kGateway;
    o.dsn = dsn;
    o.sslmode = "verify-full";
    o.sslrootcert = central.server.ca_file().string();
    o.sslcert = central.server.client_cert().string();
    o.sslkey = central.server.client_key().string();
    o.audit_db = audit->database_path();
    o.batch = 1000;
    o.tick = 2ms;
    return o;
  }

  /// Lower-case hex of the hash of the last local record.
  [[nodiscard]] std::string last_hash_hex() const {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(audit->database_path().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT lower(hex(hash)) FROM records ORDER BY seq DESC LIMIT 1", -1, &st,
                               nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW) out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }
};

bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    io.restart();
    io.run_for(5ms);
  }
  return true;
}

/// Runs a sync with `o` on a manual clock until its first connection attempt has failed (the
/// clock never moves, so there is no second attempt) and returns its status.
up::SyncStatus first_failure(TlsGateway& gw, const up::SyncOptions& o) {
  boost::asio::io_context io;
  app::ManualClock clock(kStart);
  up::UpstreamSync sync(io, clock, *gw.audit, *gw.credentials, o);
  REQUIRE_FALSE(sync.start());
  const bool failed = run_until(
      io, [&] { return sync.status().state == up::SyncState::backoff; }, std::chrono::seconds(30));
  INFO("status: " << sync.status_json().dump());
  REQUIRE(failed);
  const up::SyncStatus s = sync.status();
  sync.stop();
  return s;
}

/// A self-signed CA that signed nothing of this server's, written next to the server's files.
std::filesystem::path make_other_ca(const PgServer& server) {
  const std::filesystem::path key = server.dir() / "other-ca.key";
  const std::filesystem::path pem = server.dir() / "other-ca.pem";
  const std::string cmd =
      "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
      "-subj '/CN=some other CA' -keyout '" +
      key.string() + "' -out '" + pem.string() + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) FAIL("openssl could not make a second CA: " << cmd);
  return pem;
}

}  // namespace

TEST_CASE("over TLS with verify-full and a client certificate the sync uploads and pulls", "[upstream][tls]") {
  TlsCentral central;
  TlsGateway gw;
  gw.append(2500, kStart);
  auto cp = gw.audit->checkpoint(kStart + 10s);
  REQUIRE(cp);
  const audit::Seq last = gw.audit->last_seq();

  boost::asio::io_context io;
  app::ManualClock clock(kStart + 10s);
  const up::SyncOptions o = gw.options(central, central.gateway_dsn());
  REQUIRE(o.passfile.empty());
  up::UpstreamSync sync(io, clock, *gw.audit, *gw.credentials, o);
  REQUIRE_FALSE(sync.start());
  const bool done = run_until(
      io,
      [&] {
        const up::SyncStatus st = sync.status();
        return st.central_seq == last && st.central_checkpoint_seq == cp->seq && st.state == up::SyncState::idle &&
               gw.credentials->find("04C0FFEE").has_value();
      },
      std::chrono::seconds(60));
  INFO("status: " << sync.status_json().dump());
  REQUIRE(done);
  CHECK(sync.status().records_uploaded == last);
  CHECK(sync.status().failures == 0);

  PGconn* su = central.super.get();
  // The sync's session is TLS and authenticated by the certificate: its role has no password.
  pg::Res ssl = must(su,
                     "SELECT s.ssl::text, coalesce(s.client_dn, '') FROM pg_stat_ssl s JOIN pg_stat_activity a "
                     "USING (pid) WHERE a.application_name = $1",
                     {pg::Param::text("zonegated/" + kGateway)});
  REQUIRE(PQntuples(ssl.get()) == 1);
  CHECK(std::string(pg::text(ssl.get(), 0, 0)) == "true");
  CHECK(std::string(pg::text(ssl.get(), 0, 1)) == "/CN=" + kRole);
  CHECK(scalar(su, "SELECT (rolpassword IS NULL)::text FROM pg_authid WHERE rolname = $1", {pg::Param::text(kRole)}) ==
        "true");

  CHECK(central.central_events() == static_cast<std::int64_t>(last));
  CHECK(scalar(su, "SELECT seq FROM zonegate.chain_heads WHERE gateway_id = $1", {pg::Param::text(kGateway)}) ==
        std::to_string(last));
  CHECK(scalar(su, "SELECT encode(hash, 'hex') FROM zonegate.chain_heads WHERE gateway_id = $1",
               {pg::Param::text(kGateway)}) == gw.last_hash_hex());
  CHECK(scalar(su, "SELECT count(*) FROM zonegate.checkpoints WHERE gateway_id = $1", {pg::Param::text(kGateway)}) ==
        "1");
  CHECK(scalar(su, "SELECT count(*) FROM zonegate.chain_faults") == "0");
  sync.stop();
}

TEST_CASE("a wrong CA, a name mismatch, no client certificate or no TLS: refused, nothing uploaded",
          "[upstream][tls]") {
  TlsCentral central;
  TlsGateway gw;
  gw.append(100, kStart);

  SECTION("a CA that did not sign the server's certificate") {
    up::SyncOptions o = gw.options(central, central.gateway_dsn());
    o.sslrootcert = make_other_ca(central.server).string();
    const up::SyncStatus s = first_failure(gw, o);
    INFO("last_error: " << s.last_error);
    CHECK(s.last_error.find("certificate verify failed") != std::string::npos);
    CHECK(s.records_uploaded == 0);
    CHECK(central.central_events() == 0);
  }

  SECTION("verify-full against a host name the server's certificate does not name") {
    // hostaddr reaches the right server; host is the name the certificate is checked against.
    const std::string dsn = central.gateway_dsn("hostaddr=127.0.0.1 host=central.wrong-name.example");
    const up::SyncStatus s = first_failure(gw, gw.options(central, dsn));
    INFO("last_error: " << s.last_error);
    CHECK(s.last_error.find("does not match host name \"central.wrong-name.example\"") != std::string::npos);
    CHECK(s.records_uploaded == 0);
    CHECK(central.central_events() == 0);

    // The name was the only thing wrong: verify-ca (chain only) with the same DSN gets through.
    up::SyncOptions ca_only = gw.options(central, dsn);
    ca_only.sslmode = "verify-ca";
    boost::asio::io_context io;
    app::ManualClock clock(kStart);
    up::UpstreamSync sync(io, clock, *gw.audit, *gw.credentials, ca_only);
    REQUIRE_FALSE(sync.start());
    CHECK(run_until(
        io, [&] { return sync.status().central_seq == 100; }, std::chrono::seconds(30)));
    sync.stop();
    CHECK(central.central_events() == 100);
  }

  SECTION("the right CA but no client certificate: the role has no other credential") {
    up::SyncOptions o = gw.options(central, central.gateway_dsn());
    o.sslcert.clear();
    o.sslkey.clear();
    const up::SyncStatus s = first_failure(gw, o);
    INFO("last_error: " << s.last_error);
    CHECK(s.last_error.find("certificate") != std::string::npos);
    CHECK(s.records_uploaded == 0);
    CHECK(central.central_events() == 0);
  }

  SECTION("no TLS at all: the server refuses the plain connection") {
    up::SyncOptions o = gw.options(central, central.gateway_dsn());
    o.sslmode = "disable";
    const up::SyncStatus s = first_failure(gw, o);
    INFO("last_error: " << s.last_error);
    CHECK(s.last_error.find("pg_hba.conf rejects connection") != std::string::npos);
    CHECK(s.last_error.find("no encryption") != std::string::npos);
    CHECK(s.records_uploaded == 0);
    CHECK(central.central_events() == 0);
  }

  CHECK(scalar(central.super.get(), "SELECT seq FROM zonegate.chain_heads WHERE gateway_id = $1",
               {pg::Param::text(kGateway)}) == std::to_string(central.central_events()));
}

}  // namespace zonegate::testing
