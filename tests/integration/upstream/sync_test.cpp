// SPDX-License-Identifier: Apache-2.0
// The gateway's sync client (adapters/upstream/sync.hpp) against a real PostgreSQL server: a large
// backlog drains and the centre's chain equals the local one; the server crashes mid-drain; the
// link is cut for minutes of simulated time; badges come down, only the gateway's site's.
#include "adapters/upstream/sync.hpp"

#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "app/system_clock.hpp"
#include "central_test_util.hpp"
#include "config/loader.hpp"

namespace zonegate::testing {
namespace {

namespace up = adapters::upstream;
namespace audit = adapters::audit;
namespace creds = adapters::credentials;
using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t kBigBacklog = 100000;
#else
constexpr std::uint64_t kBigBacklog = 1000000;
#endif

const core::Instant kStart = core::Instant{core::Duration{1764300000000}};  // 2025-11-28

/// A temporary state directory with an audit trail and a credential store of gateway `gw`.
struct Gateway {
  std::filesystem::path dir;
  std::unique_ptr<audit::AuditStore> audit;
  std::unique_ptr<creds::CredentialStore> credentials;

  explicit Gateway(const std::string& gw) {
    char pattern[] = "/tmp/zg-sync-test.XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    dir = pattern;
    audit::Options o;
    o.state_dir = dir;
    o.gateway_id = gw;
    o.checkpoint_every_records = 1000000000;
    auto a = audit::AuditStore::open(o);
    if (!a) FAIL("audit store: " << a.error().message);
    audit = std::move(*a);
    auto c = creds::CredentialStore::open(dir / "credentials.db");
    if (!c) FAIL("credential store: " << c.error().message);
    credentials = std::move(*c);
  }
  ~Gateway() {
    audit.reset();
    credentials.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  /// Appends `n` records in transactions of up to 50,000. Texts carry the characters COPY's text
  /// format must escape, so the central copy only rehashes right if they survive.
  void append(std::uint64_t n, core::Instant at, std::uint64_t salt = 0) {
    std::vector<audit::Entry> batch;
    while (n > 0) {
      const std::uint64_t k = std::min<std::uint64_t>(n, 50000);
      batch.clear();
      batch.reserve(k);
      for (std::uint64_t i = 0; i < k; ++i) {
        audit::Entry e;
        e.at = at + core::Duration{static_cast<std::int64_t>(i)};
        e.kind = audit::EntryKind::system;
        e.event = "test";
        e.source = "sync-test";
        if (i % 7 == 0) e.detail = "tab\there, newline\nthere, back\\slash, \\N, salt " + std::to_string(salt);
        if (i % 11 == 0) e.person = "p-" + std::to_string(i % 1000);
        batch.push_back(std::move(e));
      }
      auto r = audit->append_entries(batch);
      if (!r) FAIL("append: " << r.error().message);
      n -= k;
    }
  }

  up::SyncOptions options(const std::string& dsn) const {
    up::SyncOptions o;
    o.gateway_id = audit->gateway_id();
    o.dsn = dsn;
    o.sslmode = "disable";
    o.audit_db = audit->database_path();
    o.tick = 2ms;
    if (std::getenv("ZG_SYNC_TEST_LOG") != nullptr) {
      o.log = [](up::SyncLogLevel, std::string_view m) {
        std::fprintf(stderr, "%.*s\n", static_cast<int>(m.size()), m.data());
      };
    }
    return o;
  }
};

/// Runs the loop until `done()` or `limit` of real time passes; returns done().
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    io.restart();
    io.run_for(5ms);
  }
  return true;
}

void pump(boost::asio::io_context& io, std::chrono::milliseconds d) {
  io.restart();
  io.run_for(d);
}

/// seq and hash of every record of the local trail, in order.
std::vector<std::pair<std::int64_t, std::string>> local_chain(const std::filesystem::path& db_path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT seq, hash FROM records ORDER BY seq", -1, &st, nullptr) == SQLITE_OK);
  std::vector<std::pair<std::int64_t, std::string>> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(st, 1));
    out.emplace_back(sqlite3_column_int64(st, 0),
                     std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, 1))));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

/// seq and hash of every central event of `gw`, in order (binary results).
std::vector<std::pair<std::int64_t, std::string>> central_chain(PGconn* conn, const std::string& gw) {
  std::string error;
  pg::Res r = pg::exec_binary(conn, "SELECT seq, hash FROM zonegate.events WHERE gateway_id = $1 ORDER BY seq",
                              {pg::Param::text(gw)}, &error);
  if (!r) FAIL("reading central events: " << error);
  std::vector<std::pair<std::int64_t, std::string>> out;
  out.reserve(static_cast<std::size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    std::uint64_t be = 0;
    std::memcpy(&be, PQgetvalue(r.get(), i, 0), 8);
    out.emplace_back(static_cast<std::int64_t>(be64toh(be)),
                     std::string(PQgetvalue(r.get(), i, 1), static_cast<std::size_t>(PQgetlength(r.get(), i, 1))));
  }
  return out;
}

std::int64_t count(PGconn* conn, const std::string& sql, const std::vector<pg::Param>& params = {}) {
  return std::stoll(scalar(conn, sql, params));
}

/// A TCP proxy on loopback whose link can be black-holed: while cut, it accepts connections but
/// moves no byte in either direction (like a dead route), and resumes when restored.
class Proxy {
 public:
  explicit Proxy(int target_port) : target_port_(target_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener_, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Proxy() {
    stop_ = true;
    thread_.join();
    for (auto& p : pairs_) close_pair(p);
    ::close(listener_);
  }
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  [[nodiscard]] int port() const { return port_; }
  void cut(bool on) { cut_ = on; }
  [[nodiscard]] std::uint64_t accepted() const { return accepted_; }

 private:
  struct Pair {
    int client = -1;
    int server = -1;
  };

  static void close_pair(Pair& p) {
    if (p.client >= 0) ::close(p.client);
    if (p.server >= 0) ::close(p.server);
    p.client = p.server = -1;
  }

  int connect_target() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(target_port_));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  /// Moves what is readable from `from` to `to`; false on EOF or error.
  static bool pass(int from, int to) {
    char buf[65536];
    const ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0) return false;
    for (ssize_t off = 0; off < n;) {
      const ssize_t w = ::write(to, buf + off, static_cast<std::size_t>(n - off));
      if (w <= 0) return false;
      off += w;
    }
    return true;
  }

  void run() {
    while (!stop_) {
      const bool cut = cut_;
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      if (!cut) {
        for (auto& p : pairs_) {
          if (p.server < 0) p.server = connect_target();
          if (p.server < 0) {
            close_pair(p);
            continue;
          }
          fds.push_back({p.client, POLLIN, 0});
          fds.push_back({p.server, POLLIN, 0});
        }
      }
      if (::poll(fds.data(), fds.size(), 5) <= 0) continue;
      if ((fds[0].revents & POLLIN) != 0) {
        const int c = ::accept(listener_, nullptr, nullptr);
        if (c >= 0) {
          pairs_.push_back(Pair{c, -1});
          ++accepted_;
        }
      }
      if (cut) continue;
      std::size_t i = 1;
      for (auto& p : pairs_) {
        if (p.client < 0) continue;
        if (i + 1 >= fds.size() || fds[i].fd != p.client) break;  // accepted during this round
        bool ok = true;
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) ok = pass(p.client, p.server);
        if (ok && (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) ok = pass(p.server, p.client);
        if (!ok) close_pair(p);
        i += 2;
      }
      std::erase_if(pairs_, [](const Pair& p) { return p.client < 0; });
    }
  }

  int target_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_{false};
  std::atomic<std::uint64_t> accepted_{0};
  std::vector<Pair> pairs_;  // proxy thread only
  std::thread thread_;
};

/// gw-a's DSN through the proxy: its port, and a passfile entry for any port.
std::string via_proxy(const Gateway& gw, const PgServer& server, int port) {
  const std::filesystem::path passfile = gw.dir / "pgpass";
  {
    std::ofstream out(passfile);
    out << "127.0.0.1:*:*:zg_gw_gw_a:secret-a\n";
  }
  std::filesystem::permissions(passfile, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::replace);
  (void)server;
  return "host=127.0.0.1 port=" + std::to_string(port) +
         " dbname=zonegate user=zg_gw_gw_a passfile=" + passfile.string() + " sslmode=disable";
}

}  // namespace

TEST_CASE("a large backlog drains exactly once and the centre's chain equals the local one", "[upstream][sync]") {
  CentralDb central;
  Gateway gw("gw-a");
  gw.append(kBigBacklog / 2, kStart);
  auto cp1 = gw.audit->checkpoint(kStart);
  REQUIRE(cp1);
  // The second half a month later: the upload spans two monthly partitions.
  gw.append(kBigBacklog - kBigBacklog / 2, kStart + std::chrono::hours(24 * 31));
  auto cp2 = gw.audit->checkpoint(kStart + std::chrono::hours(24 * 31));
  REQUIRE(cp2);
  const audit::Seq last = gw.audit->last_seq();
  REQUIRE(last == kBigBacklog);

  boost::asio::io_context io;
  app::SystemClock clock;
  up::SyncOptions o = gw.options(central.gw_a);
  o.batch = 5000;
  up::UpstreamSync sync(io, clock, *gw.audit, *gw.credentials, o);
  REQUIRE_FALSE(sync.start());
  const auto t0 = std::chrono::steady_clock::now();
  const bool drained = run_until(
      io,
      [&] {
        const up::SyncStatus st = sync.status();
        return st.central_seq == last && st.central_checkpoint_seq == cp2->seq && st.state == up::SyncState::idle;
      },
      std::chrono::seconds(900));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO("status: " << sync.status_json().dump());
  REQUIRE(drained);
  WARN("drained " << last << " records in " << secs << " s (" << static_cast<double>(last) / secs << " records/s)");
  const up::SyncStatus s = sync.status();
  CHECK(s.state == up::SyncState::idle);
  CHECK(s.lag_records == 0);
  CHECK(s.lag_seconds == 0);
  CHECK(s.records_uploaded == last);
  sync.stop();

  PGconn* su = central.super.get();
  CHECK(count(su, "SELECT count(*) FROM zonegate.events WHERE gateway_id = 'gw-a'") == static_cast<std::int64_t>(last));
  CHECK(count(su, "SELECT count(*) FROM zonegate.chain_faults") == 0);
  CHECK(count(su, "SELECT count(*) FROM pg_tables WHERE schemaname = 'zonegate' AND tablename LIKE 'events_y%'") >= 2);
  CHECK(count(su, "SELECT count(*) FROM zonegate.checkpoints WHERE gateway_id = 'gw-a'") == 2);
  const auto local = local_chain(gw.audit->database_path());
  const auto remote = central_chain(su, "gw-a");
  REQUIRE(remote.size() == local.size());
  CHECK(remote == local);
  // A record with escaped characters arrived byte for byte.
  CHECK(scalar(su, "SELECT detail FROM zonegate.events WHERE gateway_id = 'gw-a' AND seq = 1") ==
        "tab\there, newline\nthere, back\\slash, \\N, salt 0");
  CHECK(scalar(su, "SELECT count(*) FROM zonegate.events WHERE gateway_id = 'gw-a' AND detail IS NULL AND seq = 2") ==
        "1");
}

TEST_CASE("the server crashes mid-drain and a link drops mid-COPY: nothing lost, nothing twice", "[upstream][sync]") {
  CentralDb central;
  Gateway gw("gw-a");
  const std::uint64_t n = kBigBacklog / 5;
  gw.append(n, kStart);

  boost::asio::io_context io;
  app::SystemClock clock;
  up::SyncOptions o = gw.options(central.gw_a);
  o.batch = 2000;
  o.timeout = 5s;
  up::UpstreamSync sync(io, clock, *gw.audit, *gw.credentials, o);
  REQUIRE_FALSE(sync.start());
  // A link that drops in the middle of a COPY: the batch is rolled back and sent again.
  REQUIRE(run_until(
      io, [&] { return sync.status().central_seq >= 4000; }, std::chrono::seconds(60)));
  sync.inject(up::SyncFaults{100000});
  REQUIRE(run_until(
      io, [&] { return sync.status().failures >= 1; }, std::chrono::seconds(60)));
  CHECK(sync.status().last_error.find("injected") != std::string::npos);

  REQUIRE(run_until(
      io, [&] { return sync.status().central_seq >= n / 3; }, std::chrono::seconds(120)));
  central.super.reset();
  central.server.stop("immediate");
  const std::uint64_t failures = sync.status().failures;
  REQUIRE(run_until(
      io, [&] { return sync.status().failures > failures; }, std::chrono::seconds(60)));
  CHECK(sync.status().state == up::SyncState::backoff);
  central.server.start();
  REQUIRE(run_until(
      io, [&] { return sync.status().central_seq == n; }, std::chrono::seconds(600)));
  CHECK(sync.status().lag_records == 0);
  sync.stop();

  central.super = connect_or_fail(central.server.dsn());
  PGconn* su = central.super.get();
  CHECK(count(su, "SELECT count(*) FROM zonegate.events WHERE gateway_id = 'gw-a'") == static_cast<std::int64_t>(n));
  CHECK(count(su, "SELECT count(DISTINCT seq) FROM zonegate.events WHERE gateway_id = 'gw-a'") ==
        static_cast<std::int64_t>(n));
  CHECK(count(su, "SELECT max(seq) FROM zonegate.events WHERE gateway_id = 'gw-a'") == static_cast<std::int64_t>(n));
  CHECK(count(su, "SELECT count(*) FROM zonegate.chain_faults") == 0);
  const auto head = pg::bytea(must(su, "SELECT hash FROM zonegate.chain_heads WHERE gateway_id = 'gw-a'").get(), 0, 0);
  REQUIRE(head);
  const audit::Hash local = gw.audit->last_hash();
  CHECK(std::equal(local.begin(), local.end(), head->begin(), head->end()));
}

TEST_CASE("a link cut for minutes: records are buffered, retries back off, then the backlog drains",
          "[upstream][sync]") {
  CentralDb central;
  Gateway gw("gw-a");
  Proxy proxy(central.server.port());
  app::ManualClock clock(kStart);
  gw.append(3000, clock.now());

  boost::asio::io_context io;
  up::SyncOptions o = gw.options(via_proxy(gw, central.server, proxy.port()));
  o.batch = 1000;
  o.timeout = 10s;
  o.backoff_max = 60s;
  up::UpstreamSync sync(io, clock, *gw.audit, *gw.credentials, o);
  REQUIRE_FALSE(sync.start());
  REQUIRE(run_until(
      io, [&] { return sync.status().central_seq == 3000; }, std::chrono::seconds(60)));

  proxy.cut(true);
  const core::Instant cut_at = clock.now();
  gw.append(500, clock.now());
  // The upload of the new records hangs on the dead link until the statement timeout.
  REQUIRE(run_until(
      io, [&] { return sync.status().state == up::SyncState::uploading; }, std::chrono::seconds(10)));
  pump(io, 50ms);
  CHECK(sync.status().state == up::SyncState::uploading);  // no clock time has passed: no timeout yet

  // Six minutes of simulated time in steps of 250 ms; note when each attempt starts and fails.
  std::vector<core::Instant> failed_at;
  std::vector<core::Instant> attempt_at;
  std::vector<std::chrono::milliseconds> backoff_of;
  std::uint64_t failures = sync.status().failures;
  std::uint64_t connects = sync.status().connects;
  const core::Duration step = 250ms;
  while (clock.now() - cut_at < std::chrono::minutes(6)) {
    clock.advance(step);
    if ((clock.now() - cut_at) % std::chrono::minutes(1) == core::Duration{0}) gw.append(100, clock.now());
    pump(io, 3ms);
    const up::SyncStatus s = sync.status();
    if (s.failures > failures) {
      failures = s.failures;
      failed_at.push_back(clock.now());
      REQUIRE(s.next_attempt_at);
      backoff_of.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(*s.next_attempt_at - clock.now()));
      CHECK(s.state == up::SyncState::backoff);
    }
    if (s.connects > connects) {
      connects = s.connects;
      attempt_at.push_back(clock.now());
    }
  }
  // Every failure came after a full timeout of clock time (the link is silent, not refusing).
  REQUIRE(failed_at.size() >= 6);
  CHECK(failed_at[0] - cut_at >= 10s);
  CHECK(failed_at[0] - cut_at <= 10s + step);
  // The retry delays double from 1 s and stop at backoff_max; each attempt waits for its delay.
  std::chrono::milliseconds expected = 1s;
  for (std::size_t i = 0; i < failed_at.size(); ++i) {
    INFO("failure " << i);
    CHECK(backoff_of[i] == expected);
    if (i < attempt_at.size()) {
      CHECK(attempt_at[i] - failed_at[i] >= expected);
      CHECK(attempt_at[i] - failed_at[i] <= expected + step);
    }
    if (i + 1 < failed_at.size() && i < attempt_at.size()) {
      CHECK(failed_at[i + 1] - attempt_at[i] >= 10s);
      CHECK(failed_at[i + 1] - attempt_at[i] <= 10s + step);
    }
    expected = std::min<std::chrono::milliseconds>(expected * 2, 60s);
  }
  CHECK(backoff_of.back() == 60s);
  // Buffered locally: the centre lags by the records appended since the cut, and by the time.
  const up::SyncStatus during = sync.status();
  CHECK(during.central_seq == 3000);
  CHECK(during.local_seq == gw.audit->last_seq());
  CHECK(during.lag_records == gw.audit->last_seq() - 3000);
  CHECK(during.lag_seconds >= 359.0);
  CHECK(count(central.super.get(), "SELECT seq FROM zonegate.chain_heads WHERE gateway_id = 'gw-a'") == 3000);

  // The link returns; the next attempt (at most backoff_max later) drains the backlog.
  proxy.cut(false);
  const core::Instant restored = clock.now();
  REQUIRE(run_until(
      io,
      [&] {
        const up::SyncStatus s = sync.status();
        if (s.central_seq == gw.audit->last_seq()) return true;
        // Time moves only while the sync waits for its retry, never under a statement.
        if (s.state == up::SyncState::backoff) clock.advance(step);
        return false;
      },
      std::chrono::seconds(120)));
  CHECK(clock.now() - restored <= 60s + 10s + step);
  const up::SyncStatus after = sync.status();
  CHECK(after.lag_records == 0);
  CHECK(after.lag_seconds == 0);
  CHECK(after.backoff == 1s);  // a successful batch resets the backoff
  CHECK(count(central.super.get(), "SELECT count(*) FROM zonegate.events WHERE gateway_id = 'gw-a'") ==
        static_cast<std::int64_t>(gw.audit->last_seq()));
  CHECK(count(central.super.get(), "SELECT count(*) FROM zonegate.chain_faults") == 0);
  sync.stop();
  CHECK(sync.status().state == up::SyncState::disabled);
}

TEST_CASE("badges come down at the next pull, only the gateway's site's", "[upstream][sync]") {
  CentralDb central;
  pg::Conn adm = connect_or_fail(central.admin);
  must(adm.get(),
       "INSERT INTO zonegate.people (site, person_id, name, roles) VALUES ('north', 'ann', 'Ann', '{employee}'), "
       "('south', 'bob', 'Bob', '{employee}')");
  must(adm.get(),
       "INSERT INTO zonegate.badges (site, uid, person_id, kind) VALUES ('north', '04A1B2C3', 'ann', 'uid'), "
       "('south', '04D4E5F6', 'bob', 'uid')");
  auto policy = config::load_policy_file(std::string(ZONEGATE_SOURCE_DIR) + "/zones.yaml");
  REQUIRE(policy.ok());

  Gateway gw("gw-a");
  app::ManualClock clock(kStart);
  boost::asio::io_context io;
  up::SyncOptions o = gw.options(central.gw_a);
  o.pull_interval = 30s;
  up::UpstreamSync sync(io, clock, *gw.audit, *gw.credentials, o);
  REQUIRE_FALSE(sync.start());
  REQUIRE(run_until(
      io, [&] { return gw.credentials->find("04A1B2C3").has_value(); }, std::chrono::seconds(30)));
  auto ann = gw.credentials->lookup("04A1B2C3", *policy.policy);
  REQUIRE(ann);
  CHECK(ann->person_id == "ann");
  CHECK_FALSE(ann->revoked);
  CHECK(ann->roles != 0);
  CHECK_FALSE(gw.credentials->find("04D4E5F6"));
  CHECK(gw.credentials->list(creds::ListOptions{std::string("bob"), std::nullopt, 10})->empty());
  const std::int64_t v1 = sync.status().last_pull_version;
  CHECK(v1 > 0);

  must(adm.get(), "UPDATE zonegate.badges SET revoked = true WHERE site = 'north' AND uid = '04A1B2C3'");
  must(adm.get(), "UPDATE zonegate.badges SET valid_until = now() WHERE site = 'south' AND uid = '04D4E5F6'");
  // Not before the next pull: the clock has not moved.
  pump(io, 100ms);
  CHECK_FALSE(gw.credentials->lookup("04A1B2C3", *policy.policy)->revoked);
  clock.advance(30s);
  REQUIRE(run_until(
      io, [&] { return gw.credentials->lookup("04A1B2C3", *policy.policy)->revoked; }, std::chrono::seconds(30)));
  CHECK(sync.status().last_pull_version > v1);
  CHECK_FALSE(gw.credentials->find("04D4E5F6"));

  // A person deleted centrally disappears with their badges.
  must(adm.get(), "UPDATE zonegate.people SET deleted = true WHERE site = 'north' AND person_id = 'ann'");
  clock.advance(30s);
  REQUIRE(run_until(
      io, [&] { return !gw.credentials->find("04A1B2C3").has_value(); }, std::chrono::seconds(30)));
  sync.stop();
}

TEST_CASE("a local trail that forks from the centre's stops the upload", "[upstream][sync]") {
  CentralDb central;
  boost::asio::io_context io;
  app::ManualClock clock(kStart);
  {
    Gateway first("gw-a");
    first.append(100, kStart);
    up::UpstreamSync sync(io, clock, *first.audit, *first.credentials, first.options(central.gw_a));
    REQUIRE_FALSE(sync.start());
    REQUIRE(run_until(
        io, [&] { return sync.status().central_seq == 100; }, std::chrono::seconds(30)));
  }
  // Another trail of the same gateway (a replaced disk, a restored old image): record 100 differs.
  Gateway second("gw-a");
  second.append(200, kStart, 1);
  up::UpstreamSync sync(io, clock, *second.audit, *second.credentials, second.options(central.gw_a));
  REQUIRE_FALSE(sync.start());
  REQUIRE(run_until(
      io, [&] { return sync.status().state == up::SyncState::faulted; }, std::chrono::seconds(30)));
  pump(io, 100ms);
  CHECK(sync.status().state == up::SyncState::faulted);
  CHECK(sync.status().last_error.find("fork") != std::string::npos);
  CHECK(sync.status().central_seq == 100);
  CHECK(count(central.super.get(), "SELECT count(*) FROM zonegate.events WHERE gateway_id = 'gw-a'") == 100);
}

TEST_CASE("the sync refuses a DSN with a password and reports its state as JSON", "[upstream][sync]") {
  Gateway gw("gw-a");
  boost::asio::io_context io;
  app::ManualClock clock(kStart);
  up::SyncOptions o = gw.options("host=127.0.0.1 port=1 dbname=zonegate user=x password=secret");
  up::UpstreamSync bad(io, clock, *gw.audit, *gw.credentials, o);
  auto err = bad.start();
  REQUIRE(err);
  CHECK(err->find("password") != std::string::npos);
  CHECK(err->find("secret") == std::string::npos);

  // Nothing listens on port 1: the connection fails and the sync backs off.
  o.dsn = "host=127.0.0.1 port=1 dbname=zonegate user=x connect_timeout=2";
  up::UpstreamSync sync(io, clock, *gw.audit, *gw.credentials, o);
  gw.append(10, kStart);
  clock.advance(5s);
  REQUIRE_FALSE(sync.start());
  REQUIRE(run_until(
      io, [&] { return sync.status().state == up::SyncState::backoff; }, std::chrono::seconds(10)));
  const nlohmann::json j = sync.status_json();
  CHECK(j["state"] == "backoff");
  CHECK(j["local_seq"] == 10);
  CHECK(j["central_seq"] == 0);
  CHECK(j["lag_records"] == 10);
  CHECK(j["lag_seconds"] == 5.0);
  CHECK(j["last_upload_at"].is_null());
  CHECK_FALSE(j["last_error"].get<std::string>().empty());
  CHECK(j["dsn"].get<std::string>().find("port=1") != std::string::npos);
}

}  // namespace zonegate::testing
