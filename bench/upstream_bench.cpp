// SPDX-License-Identifier: Apache-2.0
// The upstream sync against a real, throw-away PostgreSQL 15 (tools/scripts/pg-test-server.sh,
// data directory in a new zgpg-bench.XXXXXX under --pg-dir, default /dev/shm, stopped and removed
// at exit), two measurements in one run. /dev/shm is tmpfs, a device apart from the gateway's
// disk: it stands in for the central server's own machine, so that the server's WAL writes and
// fsyncs (fsync stays on) do not queue on the disk that the gateway's audit trail fsyncs to.
//
//   drain   — a local audit trail with a backlog of --records records (built with
//             AuditStore::append in batches of 5,000) is drained by the real UpstreamSync, logged
//             in as the gateway's own role, into zonegate.events (chain trigger, partitions by
//             month). Reference in the same server: a raw COPY of the same rows, same columns,
//             same COPY text encoding as the sync's, as the superuser into zg_bench.events, a table
//             of the same shape (same columns, constraints, indexes and monthly partitions) without
//             the chain triggers. Two raw variants: one COPY in one transaction for all rows (the
//             reference of the target), and one COPY per transaction of --batch rows (what the sync
//             does, without its chain check). For the diagnosis, not the target, a third: that
//             batched COPY into zonegate.events itself (chain triggers included) from a blocking
//             client. Before every timed part both tables are emptied, the chain head reset and a
//             CHECKPOINT taken; the order of the parts alternates by run.
//   latency — badge -> strike latency through the real Controller (as bench/e2e_bench.cpp: one
//             io_context, SystemClock, SimReader taps in, SimLines strike observer out, the real
//             AuditStore with WAL and synchronous=FULL), in blocks of --samples samples that
//             alternate between (a) idle: no sync running, and (b) drain: an UpstreamSync on the
//             same io_context uploading a large backlog (the one above; the centre is reset when
//             less than half of it is left).
//
// Usage: upstream_bench [--records N] [--batch N] [--runs N] [--blocks N] [--samples N]
//                       [--only drain|latency] [--dir PATH] [--pg-dir PATH] [--zones PATH]
//                       [--debounce-ms N] [--keep]
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "adapters/upstream/central_admin.hpp"
#include "adapters/upstream/pg.hpp"
#include "adapters/upstream/sync.hpp"
#include "app/controller.hpp"
#include "app/log.hpp"
#include "app/system_clock.hpp"
#include "config/loader.hpp"
#include "sim/sim_lines.hpp"
#include "sim/sim_reader.hpp"

#ifndef ZONEGATE_SOURCE_DIR
#error "ZONEGATE_SOURCE_DIR must name the source tree"
#endif

namespace {

using namespace zonegate;
namespace fs = std::filesystem;
namespace up = adapters::upstream;
namespace pg = adapters::upstream::pg;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kBadge = "04A1B2C3D4E5F6";
constexpr const char* kEventColumns =
    "gateway_id, seq, time_ms, kind, event, person, badge, door, zone, direction, verdict, reason, alarm, "
    "severity, source, ref, detail, salt, personal_digest, purged_by, prev_hash, hash";
// The sync's own SELECT (adapters/upstream/sync.cpp), so the raw COPY sends the same rows.
constexpr const char* kLocalSelect =
    "SELECT seq, time_ms, kind, event, person, badge, door, zone, direction, verdict, reason, alarm, severity, "
    "source, ref, detail, salt, personal_digest, purged_by, prev_hash, hash FROM records WHERE seq > ?1 "
    "ORDER BY seq LIMIT ?2";
constexpr int kLocalColumns = 21;
constexpr std::size_t kCopyPiece = 64 * 1024;

struct Args {
  std::uint64_t records = 1'000'000;
  std::uint32_t batch = 5000;
  int runs = 3;
  int blocks = 6;
  std::size_t samples = 250;
  std::string only;
  fs::path dir;
  fs::path pg_dir = "/dev/shm";
  std::string zones = "zones.yaml";
  int debounce_ms = 1;
  bool keep = false;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: upstream_bench [--records N] [--batch N] [--runs N] [--blocks N] [--samples N]\n"
               "                      [--only drain|latency] [--dir PATH] [--pg-dir PATH] [--zones PATH]\n"
               "                      [--debounce-ms N] [--keep]\n"
               "  --records N   local backlog (default 1000000)\n"
               "  --batch N     the sync's records per upload transaction (default 5000, the daemon's)\n"
               "  --runs N      drain measurements, each: sync, raw one COPY, raw batched COPY, blocking COPY\n"
               "                with the chain triggers (default 3)\n"
               "  --blocks N    latency: pairs of blocks idle / draining (default 6)\n"
               "  --samples N   latency: badge -> strike samples per block (default 250)\n"
               "  --dir PATH    state directory of the gateway (default: a new upstream-bench-XXXXXX under\n"
               "                the current directory; it should be on the disk under test)\n"
               "  --pg-dir PATH the throw-away server's data goes in a new zgpg-bench.XXXXXX here (default\n"
               "                /dev/shm: tmpfs, apart from the gateway's disk, as a central server on its own\n"
               "                machine would be; fsync stays on). A directory on the gateway's disk puts\n"
               "                the server's fsyncs in the same queue as the gateway's\n");
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--keep") {
      a.keep = true;
      continue;
    }
    if (k == "--help" || k == "-h" || i + 1 >= argc) usage();
    const std::string v = argv[++i];
    const auto num = [&] { return std::strtoull(v.c_str(), nullptr, 10); };
    if (k == "--records") {
      a.records = num();
    } else if (k == "--batch") {
      a.batch = static_cast<std::uint32_t>(std::clamp<unsigned long long>(num(), 1, 100000));
    } else if (k == "--runs") {
      a.runs = static_cast<int>(num());
    } else if (k == "--blocks") {
      a.blocks = static_cast<int>(num());
    } else if (k == "--samples") {
      a.samples = static_cast<std::size_t>(num());
    } else if (k == "--only") {
      a.only = v;
    } else if (k == "--dir") {
      a.dir = v;
    } else if (k == "--pg-dir") {
      a.pg_dir = v;
    } else if (k == "--zones") {
      a.zones = v;
    } else if (k == "--debounce-ms") {
      a.debounce_ms = std::atoi(v.c_str());
    } else {
      usage();
    }
  }
  if (a.records == 0 || a.samples == 0) usage();
  if (!a.only.empty() && a.only != "drain" && a.only != "latency") usage();
  return a;
}

// ---- the throw-away server --------------------------------------------------------------------

/// tools/scripts/pg-test-server.sh on a new PG_DIR/zgpg-bench.XXXXXX; stopped and removed by
/// stop_server(), which die() also calls.
struct Server {
  fs::path dir;
  std::string dsn;  ///< superuser
  int port = 0;
  bool running = false;
};
Server g_server;

int script(const std::string& command, const std::string& extra, std::string& output) {
  const std::string cmd = std::string("bash '") + ZONEGATE_SOURCE_DIR + "/tools/scripts/pg-test-server.sh' " + command +
                          " '" + g_server.dir.string() + "' " + extra + " 2>&1";
  output.clear();
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[512];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void stop_server() {
  if (g_server.dir.empty()) return;
  std::string ignored;
  if (g_server.running) script("stop", "fast", ignored);
  g_server.running = false;
  std::error_code ec;
  fs::remove_all(g_server.dir, ec);
  g_server.dir.clear();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "upstream_bench: %s\n", what.c_str());
  stop_server();
  std::exit(1);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string last_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  const auto nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

void start_server(const fs::path& parent) {
  std::string pattern = (parent / "zgpg-bench.XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp " + pattern + " failed");
  g_server.dir = pattern;
  std::string output;
  int status = -1;
  // A random port may be taken on a shared machine: try a few.
  for (int attempt = 0; attempt < 4 && status != 0; ++attempt) status = script("start", "", output);
  if (status != 0) die("pg-test-server.sh start failed: " + output + read_file(g_server.dir / "server.log"));
  g_server.running = true;
  g_server.dsn = last_line(output);
  g_server.port = std::atoi(last_line(read_file(g_server.dir / "port")).c_str());
}

pg::Conn connect(const std::string& dsn) {
  std::string error;
  // Long statement timeout: the raw reference is one COPY of the whole backlog.
  pg::Conn c = pg::connect(dsn, std::chrono::minutes(30), &error);
  if (!c) die("connect: " + error);
  pg::exec(c.get(), "SET client_min_messages = warning");
  return c;
}

/// Runs `sql` (the simple protocol: several statements allowed) or dies.
pg::Res must(PGconn* c, const std::string& sql) {
  pg::Res r(PQexec(c, sql.c_str()));
  const ExecStatusType st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    die("SQL failed: " + sql + ": " + (r ? pg::error_text(r.get()) : pg::error_text(c)));
  }
  return r;
}

std::int64_t scalar(PGconn* c, const std::string& sql) {
  pg::Res r = must(c, sql);
  if (PQntuples(r.get()) != 1) die("expected one row: " + sql);
  return pg::int64(r.get(), 0, 0).value_or(-1);
}

// ---- small helpers ----------------------------------------------------------------------------

double seconds(Steady::duration d) { return std::chrono::duration<double>(d).count(); }
double us(Steady::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Stats {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};

/// Nearest-rank percentiles.
Stats stats(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const auto rank = [&](double p) {
    auto r = static_cast<std::size_t>(p * static_cast<double>(v.size()) + 0.999999);
    return v[std::clamp<std::size_t>(r, 1, v.size()) - 1];
  };
  return Stats{rank(0.50), rank(0.90), rank(0.99), v.back()};
}

double load_average() {
  double l[1] = {0};
  return ::getloadavg(l, 1) == 1 ? l[0] : -1;
}

std::string random_hex(std::size_t bytes) {
  std::random_device rd;
  std::string out;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < bytes; ++i) {
    const auto b = rd() & 0xFFU;
    out += kDigits[b >> 4U];
    out += kDigits[b & 15U];
  }
  return out;
}

/// Runs the loop one handler at a time until `done` holds; false after `limit` without it.
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = Steady::now() + limit;
  io.restart();
  while (!done()) {
    if (Steady::now() >= deadline) return false;
    io.run_one_for(50ms);
    if (io.stopped()) io.restart();
  }
  return true;
}

// ---- COPY text encoding, as the sync's (adapters/upstream/sync.cpp) ----------------------------

void append_copy_text(std::string& out, const char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    switch (p[i]) {
      case '\\':
        out += "\\\\";
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
        out += p[i];
    }
  }
}

constexpr bool is_bytea_column(int c) { return c == 16 || c == 17 || c == 19 || c == 20; }

/// Reads the local trail in pieces of `rows` records and encodes each as COPY text rows.
std::vector<std::string> encode_trail(const fs::path& db_path, const std::string& gateway_id, std::uint32_t rows) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    die("open " + db_path.string());
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, kLocalSelect, -1, &st, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db));
  static constexpr char kDigits[] = "0123456789abcdef";
  std::vector<std::string> out;
  std::int64_t after = 0;
  for (;;) {
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, rows);
    std::string data;
    data.reserve(static_cast<std::size_t>(rows) * 400);
    int rc = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      after = sqlite3_column_int64(st, 0);
      append_copy_text(data, gateway_id.data(), gateway_id.size());
      for (int col = 0; col < kLocalColumns; ++col) {
        data += '\t';
        const int type = sqlite3_column_type(st, col);
        if (type == SQLITE_NULL) {
          data += "\\N";
        } else if (is_bytea_column(col)) {
          const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(st, col));
          const auto n = static_cast<std::size_t>(sqlite3_column_bytes(st, col));
          data += "\\\\x";
          for (std::size_t i = 0; i < n; ++i) {
            data += kDigits[p[i] >> 4U];
            data += kDigits[p[i] & 15U];
          }
        } else if (type == SQLITE_INTEGER) {
          data += std::to_string(sqlite3_column_int64(st, col));
        } else {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
          append_copy_text(data, p, static_cast<std::size_t>(sqlite3_column_bytes(st, col)));
        }
      }
      data += '\n';
    }
    if (rc != SQLITE_DONE) die(std::string("reading the trail: ") + sqlite3_errmsg(db));
    sqlite3_reset(st);
    if (data.empty()) break;
    out.push_back(std::move(data));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

/// One blocking COPY of `pieces` into `table`; the caller owns the transaction.
void copy_into(PGconn* c, const std::string& table, const std::vector<std::string>& pieces, std::size_t from,
               std::size_t to) {
  pg::Res r(PQexec(c, ("COPY " + table + " (" + kEventColumns + ") FROM STDIN").c_str()));
  if (PQresultStatus(r.get()) != PGRES_COPY_IN) die("COPY into " + table + ": " + pg::error_text(r.get()));
  for (std::size_t i = from; i < to; ++i) {
    const std::string& d = pieces[i];
    for (std::size_t off = 0; off < d.size(); off += kCopyPiece) {
      const int n = static_cast<int>(std::min(kCopyPiece, d.size() - off));
      if (PQputCopyData(c, d.data() + off, n) != 1) die("PQputCopyData: " + pg::error_text(c));
    }
  }
  if (PQputCopyEnd(c, nullptr) != 1) die("PQputCopyEnd: " + pg::error_text(c));
  for (;;) {
    pg::Res end(PQgetResult(c));
    if (!end) break;
    if (PQresultStatus(end.get()) != PGRES_COMMAND_OK) die("COPY into " + table + ": " + pg::error_text(end.get()));
  }
}

// ---- the local trail ----------------------------------------------------------------------------

/// Decision i of a backlog of n over the 60 days before `end`: people badging through the site's
/// doors both ways, 1 in 8 denied (as bench/audit_bench.cpp's synthetic decisions).
core::Decision synthetic(std::uint64_t i, std::uint64_t n, std::int64_t end_ms, std::size_t doors,
                         std::mt19937_64& rng) {
  constexpr std::int64_t kSpan = 60LL * 86'400'000;
  core::Decision d;
  d.at = core::Instant{core::Duration{end_ms - kSpan +
                                      static_cast<std::int64_t>(i) *
                                          (kSpan / static_cast<std::int64_t>(std::max<std::uint64_t>(n, 1)))}};
  const auto person = rng() % 2000;
  d.person = "p" + std::to_string(person);
  char badge[16];
  std::snprintf(badge, sizeof badge, "04%06llX", static_cast<unsigned long long>(person));
  d.badge = badge;
  d.door = static_cast<core::DoorIdx>(rng() % doors);
  d.dir = rng() % 2 == 0 ? core::Direction::in : core::Direction::out;
  const bool deny = rng() % 8 == 0;
  d.verdict = deny ? core::Verdict::deny : core::Verdict::grant;
  d.reason = deny ? core::Reason::no_clearance : core::Reason::ok;
  d.request = i + 1;
  return d;
}

void fill_trail(adapters::audit::AuditStore& store, const core::Policy& policy, std::uint64_t n, std::int64_t end_ms) {
  std::mt19937_64 rng(7);
  std::vector<core::Record> recs;
  std::uint64_t since_cp = 0;
  for (std::uint64_t i = 0; i < n;) {
    recs.clear();
    for (std::uint64_t k = 0; k < 5000 && i < n; ++k, ++i)
      recs.emplace_back(synthetic(i, n, end_ms, policy.doors.size(), rng));
    if (auto r = store.append(recs, policy); !r) die("append: " + r.error().message);
    since_cp += recs.size();
    if (since_cp >= 10000 || i == n) {
      since_cp = 0;
      if (auto cp = store.checkpoint(std::get<core::Decision>(recs.back()).at); !cp) {
        die("checkpoint: " + cp.error().message);
      }
    }
  }
}

// ---- the centre -----------------------------------------------------------------------------------

struct Centre {
  pg::Conn super;
  std::string gateway_id;
  std::string gateway_dsn;
  std::string passfile;
};

/// Empties both event tables and the checkpoints, resets the gateway's chain head, and takes a
/// CHECKPOINT so that no part pays for the dirty pages of the one before.
void reset_centre(Centre& c) {
  must(c.super.get(),
       "TRUNCATE zonegate.events, zonegate.checkpoints, zonegate.chain_faults, zg_bench.events; "
       "UPDATE zonegate.chain_heads SET seq = 0, hash = '\\x" +
           std::string(64, '0') +
           "'::bytea, time_ms = NULL, checkpoint_seq = 0, faulted = false, updated_at = NULL; "
           "CHECKPOINT");
}

up::SyncOptions sync_options(const Centre& c, adapters::audit::AuditStore& audit, std::uint32_t batch) {
  up::SyncOptions o;
  o.gateway_id = c.gateway_id;
  o.dsn = c.gateway_dsn;
  o.passfile = c.passfile;
  o.sslmode = "disable";  // loopback; the bench measures the sync, not TLS
  o.batch = batch;
  o.audit_db = audit.database_path();
  o.timeout = 60s;
  o.log = [](up::SyncLogLevel level, std::string_view m) {
    if (level >= up::SyncLogLevel::warning)
      std::fprintf(stderr, "  [sync] %.*s\n", static_cast<int>(m.size()), m.data());
  };
  return o;
}

// ---- measurement 1: drain rate --------------------------------------------------------------------

struct DrainRun {
  double sync_s = 0, raw_one_s = 0, raw_batched_s = 0, raw_chain_s = 0, checkpoints_s = 0;
};

double time_raw_one(Centre& c, const std::vector<std::string>& pieces) {
  reset_centre(c);
  const auto t0 = Steady::now();
  must(c.super.get(), "BEGIN");
  copy_into(c.super.get(), "zg_bench.events", pieces, 0, pieces.size());
  must(c.super.get(), "COMMIT");
  return seconds(Steady::now() - t0);
}

double time_raw_batched(Centre& c, const std::vector<std::string>& pieces, const std::string& table) {
  reset_centre(c);
  const auto t0 = Steady::now();
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    must(c.super.get(), "BEGIN");
    copy_into(c.super.get(), table, pieces, i, i + 1);
    must(c.super.get(), "COMMIT");
  }
  return seconds(Steady::now() - t0);
}

/// Drains the backlog with a fresh UpstreamSync; returns seconds to the last record and sets
/// *checkpoints_s to the seconds until the last checkpoint was uploaded too.
double time_sync(Centre& c, adapters::audit::AuditStore& audit, adapters::credentials::CredentialStore& creds,
                 std::uint32_t batch, std::uint64_t last_seq, std::uint64_t last_checkpoint, double* checkpoints_s) {
  reset_centre(c);
  boost::asio::io_context io(1);
  app::SystemClock clock;
  up::UpstreamSync sync(io, clock, audit, creds, sync_options(c, audit, batch));
  const auto t0 = Steady::now();
  if (auto e = sync.start()) die("sync start: " + *e);
  const auto stuck = [&] {
    const auto s = sync.status();
    if (s.state == up::SyncState::faulted) die("sync faulted: " + s.last_error);
    return false;
  };
  double records_s = 0;
  if (!run_until(
          io, [&] { return stuck() || sync.status().central_seq >= last_seq; }, 60min)) {
    die("the sync did not drain within 60 min: " + sync.status_json().dump());
  }
  records_s = seconds(Steady::now() - t0);
  if (!run_until(
          io, [&] { return stuck() || sync.status().central_checkpoint_seq >= last_checkpoint; }, 5min)) {
    std::printf("  checkpoints not all uploaded within 5 min: %s\n", sync.status_json().dump().c_str());
  }
  *checkpoints_s = seconds(Steady::now() - t0);
  const up::SyncStatus s = sync.status();
  std::printf("  sync: %llu records in %llu batches, %llu checkpoints, %llu connects, %llu failures%s%s\n",
              static_cast<unsigned long long>(s.records_uploaded), static_cast<unsigned long long>(s.batches_uploaded),
              static_cast<unsigned long long>(s.checkpoints_uploaded), static_cast<unsigned long long>(s.connects),
              static_cast<unsigned long long>(s.failures),
              s.last_error.empty() ? "" : ", last error: ", s.last_error.c_str());
  sync.stop();
  return records_s;
}

void check_central_copy(Centre& c, std::uint64_t n, const adapters::audit::Hash& last_hash) {
  const std::int64_t rows = scalar(c.super.get(), "SELECT count(*) FROM zonegate.events");
  const std::int64_t faults = scalar(c.super.get(), "SELECT count(*) FROM zonegate.chain_faults");
  pg::Res head = must(c.super.get(),
                      "SELECT encode(hash, 'hex') FROM zonegate.chain_heads WHERE gateway_id = '" + c.gateway_id + "'");
  const std::string head_hex(pg::text(head.get(), 0, 0));
  const bool ok = rows == static_cast<std::int64_t>(n) && faults == 0 && head_hex == adapters::audit::to_hex(last_hash);
  std::printf("  centre after the sync: %lld rows, %lld chain faults, head hash %s the local last hash\n",
              static_cast<long long>(rows), static_cast<long long>(faults), ok ? "equals" : "DIFFERS FROM");
  if (!ok) die("the central copy does not match the local trail");
}

void bench_drain(const Args& a, Centre& c, adapters::audit::AuditStore& audit,
                 adapters::credentials::CredentialStore& creds) {
  const std::uint64_t n = audit.last_seq();
  auto cps = audit.checkpoints(0, 1000000);
  if (!cps || cps->empty()) die("no local checkpoints");
  const std::uint64_t last_cp = cps->back().seq;
  std::printf("== drain: %llu records (%zu checkpoints), sync batch %u, %d run(s)\n",
              static_cast<unsigned long long>(n), cps->size(), a.batch, a.runs);
  auto t0 = Steady::now();
  const std::vector<std::string> pieces = encode_trail(audit.database_path(), c.gateway_id, a.batch);
  std::size_t bytes = 0;
  for (const auto& p : pieces) bytes += p.size();
  std::printf("  raw COPY data encoded in advance (not timed): %.1f MB in %zu pieces of %u rows, %.1f s\n",
              static_cast<double>(bytes) / 1e6, pieces.size(), a.batch, seconds(Steady::now() - t0));

  std::vector<DrainRun> runs;
  for (int r = 0; r < a.runs; ++r) {
    DrainRun d;
    std::printf("-- run %d (load average %.1f)\n", r + 1, load_average());
    const auto run_sync = [&] {
      d.sync_s = time_sync(c, audit, creds, a.batch, n, last_cp, &d.checkpoints_s);
      check_central_copy(c, n, audit.last_hash());
    };
    const auto run_raw = [&] {
      d.raw_one_s = time_raw_one(c, pieces);
      if (scalar(c.super.get(), "SELECT count(*) FROM zg_bench.events") != static_cast<std::int64_t>(n)) {
        die("raw COPY stored a different number of rows");
      }
      d.raw_batched_s = time_raw_batched(c, pieces, "zg_bench.events");
      // Not a reference for the target: the same batched COPY from a blocking client into the real
      // table, chain triggers included, tells the server's share of the gap from the client's.
      d.raw_chain_s = time_raw_batched(c, pieces, "zonegate.events");
      if (scalar(c.super.get(), "SELECT seq FROM zonegate.chain_heads WHERE gateway_id = '" + c.gateway_id + "'") !=
          static_cast<std::int64_t>(n)) {
        die("the blocking COPY into zonegate.events did not advance the chain head to the end");
      }
    };
    // Alternate the order: whichever runs second may find the server's caches warmer or colder.
    if (r % 2 == 0) {
      run_sync();
      run_raw();
    } else {
      run_raw();
      run_sync();
    }
    const double nn = static_cast<double>(n);
    std::printf(
        "  sync %.1f s = %.0f records/s (with checkpoints %.1f s) | raw one COPY %.1f s = %.0f records/s | "
        "raw COPY per %u-row transaction %.1f s = %.0f records/s | blocking COPY into zonegate.events "
        "(chain triggers) %.1f s = %.0f records/s | sync / raw one COPY = %.0f %%\n",
        d.sync_s, nn / d.sync_s, d.checkpoints_s, d.raw_one_s, nn / d.raw_one_s, a.batch, d.raw_batched_s,
        nn / d.raw_batched_s, d.raw_chain_s, nn / d.raw_chain_s, 100.0 * d.raw_one_s / d.sync_s);
    runs.push_back(d);
  }
  std::vector<double> sync_rate, one_rate, batched_rate, chain_rate, ratio, ratio_batched, ratio_chain;
  for (const auto& d : runs) {
    const double nn = static_cast<double>(n);
    sync_rate.push_back(nn / d.sync_s);
    one_rate.push_back(nn / d.raw_one_s);
    batched_rate.push_back(nn / d.raw_batched_s);
    ratio.push_back(d.raw_one_s / d.sync_s);
    ratio_batched.push_back(d.raw_batched_s / d.sync_s);
    chain_rate.push_back(nn / d.raw_chain_s);
    ratio_chain.push_back(d.raw_chain_s / d.sync_s);
  }
  const double m = median(ratio);
  std::printf(
      "== drain, median of %d run(s): sync %.0f records/s, raw one COPY %.0f records/s, raw batched COPY %.0f "
      "records/s\n   sync / raw one COPY = %.0f %% (target >= 50 %%: %s); sync / raw batched COPY = %.0f %%\n",
      a.runs, median(sync_rate), median(one_rate), median(batched_rate), 100 * m, m >= 0.5 ? "met" : "NOT met",
      100 * median(ratio_batched));
  std::printf(
      "   blocking COPY with the chain triggers %.0f records/s: sync / it = %.0f %%; it / raw one COPY = %.0f %%\n",
      median(chain_rate), 100 * median(ratio_chain), 100 * median(chain_rate) / median(one_rate));
}

// ---- measurement 2: badge -> strike latency, idle and while draining ------------------------------

void bench_latency(const Args& a, const config::LoadResult& loaded, Centre& c, adapters::audit::AuditStore& audit,
                   adapters::credentials::CredentialStore& creds) {
  config::LoadResult cfg = loaded;
  auto hw = std::make_shared<config::HardwareConfig>(*cfg.hardware);
  hw->readers = config::ReaderBackend::sim;
  hw->gpio = config::GpioBackend::sim;
  const config::DoorHardware* lobby = nullptr;
  for (auto& d : hw->doors) {
    if (d.door == "lobby") {
      // Only the door cycle between samples waits for the debounce; it is not on the measured path.
      d.sensor->debounce = std::chrono::milliseconds(a.debounce_ms);
      lobby = &d;
    }
  }
  if (lobby == nullptr || !lobby->strike || !lobby->sensor) die("zones.yaml has no lobby with a strike and a sensor");
  cfg.hardware = hw;
  const std::string strike = lobby->strike->name;
  const std::string sensor = lobby->sensor->name;
  const core::DoorIdx lobby_idx = lobby->index;

  app::SystemClock clock;
  if (auto r = creds.put_person(adapters::credentials::Person{"bench-guard", "Bench Guard", {"guard"}}, clock.now());
      !r) {
    die("enrol: " + r.error().message);
  }
  adapters::credentials::Badge badge;
  badge.uid = kBadge;
  badge.person = "bench-guard";
  badge.kind = core::CredentialKind::uid;
  if (auto r = creds.add(badge, clock.now()); !r) die("enrol: " + r.error().message);

  boost::asio::io_context io(1);
  std::vector<std::string> names = hw->all_input_names();
  for (auto& nm : hw->all_output_names()) names.push_back(nm);
  sim::SimLines lines(io, names);
  std::map<core::Direction, sim::SimReader*> lobby_readers;
  std::vector<std::unique_ptr<ports::BadgeReader>> readers;
  for (const auto& d : hw->doors) {
    for (core::Direction dir : {core::Direction::in, core::Direction::out}) {
      auto r = std::make_unique<sim::SimReader>(io, config::sim_reader_id(d.door, dir));
      if (d.door == "lobby") lobby_readers[dir] = r.get();
      readers.push_back(std::move(r));
    }
  }
  bool waiting = false;
  bool strike_seen = false;
  Steady::time_point strike_at{};
  lines.set_observer([&](const std::string& name, bool active) {
    if (waiting && active && name == strike) {
      strike_at = Steady::now();
      strike_seen = true;
      waiting = false;
    }
  });
  app::Controller controller(io, clock, audit, creds, lines, std::move(readers), cfg);
  std::size_t alarms = 0;
  controller.set_alarm_observer([&](const app::ActiveAlarm&) { ++alarms; });
  if (auto err = controller.start()) die("controller start: " + *err);
  run_until(
      io, [] { return false; }, 100ms);

  up::UpstreamSync sync(io, clock, audit, creds, sync_options(c, audit, a.batch));
  bool sync_running = false;
  std::uint64_t resets = 0;
  const auto start_draining = [&] {
    // Keep the backlog large: reset the centre when less than half of it is left. The first
    // block always starts from an empty centre (the drain measurement left it full).
    if (resets == 0 || sync.status().lag_records < a.records / 2) {
      sync.stop();
      sync_running = false;
      reset_centre(c);
      ++resets;
    }
    if (!sync_running) {
      if (auto e = sync.start()) die("sync start: " + *e);
      sync_running = true;
    }
    if (!run_until(
            io, [&] { return sync.status().state == up::SyncState::uploading; }, 60s)) {
      die("the sync did not start uploading: " + sync.status_json().dump());
    }
  };

  std::vector<double> idle, draining;
  std::vector<double> idle_block_p99, drain_block_p99;
  std::size_t caught_up_samples = 0;
  std::uint64_t uploaded_during = 0;
  double drain_block_s = 0;
  const auto wall0 = Steady::now();
  std::size_t iteration = 0;
  std::printf(
      "== latency: %d pairs of blocks, %zu badge -> strike samples each, idle / while draining "
      "(load average %.1f)\n",
      a.blocks, a.samples, load_average());
  for (int b = 0; b < 2 * a.blocks; ++b) {
    // Pairs alternate their order: idle, drain | drain, idle | idle, drain …
    const bool drain = ((b / 2) % 2 == 0) == (b % 2 == 1);
    std::uint64_t seq0 = 0;
    if (drain) {
      start_draining();
      seq0 = sync.status().central_seq;
    } else if (sync_running) {
      sync.stop();
      sync_running = false;
    }
    std::vector<double> block;
    const auto b0 = Steady::now();
    for (std::size_t i = 0; i < a.samples; ++i, ++iteration) {
      const core::Direction dir = iteration % 2 == 0 ? core::Direction::in : core::Direction::out;
      if (drain && sync.status().lag_records == 0) ++caught_up_samples;
      strike_seen = false;
      waiting = true;
      const auto t0 = Steady::now();
      lobby_readers[dir]->tap(kBadge, core::CredentialKind::uid);
      if (!run_until(io, [&] { return strike_seen; })) die("the strike was not released within 5 s");
      block.push_back(us(strike_at - t0));
      if (auto err = lines.inject(sensor, true)) die(*err);
      if (!run_until(io, [&] { return controller.engine().door_status(lobby_idx).open; })) die("door did not open");
      if (auto err = lines.inject(sensor, false)) die(*err);
      if (!run_until(io, [&] {
            const auto& s = controller.engine().door_status(lobby_idx);
            return !s.open && !s.unlocked && !lines.level(strike).value_or(true);
          })) {
        die("door did not close and relock");
      }
    }
    const Stats s = stats(block);
    if (drain) {
      const auto st = sync.status();
      if (st.state == up::SyncState::faulted || st.state == up::SyncState::backoff) {
        die("sync in state " + std::string(up::to_string(st.state)) + ": " + st.last_error);
      }
      uploaded_during += st.central_seq - seq0;
      drain_block_s += seconds(Steady::now() - b0);
      drain_block_p99.push_back(s.p99);
      draining.insert(draining.end(), block.begin(), block.end());
    } else {
      idle_block_p99.push_back(s.p99);
      idle.insert(idle.end(), block.begin(), block.end());
    }
    std::printf("  block %2d %-8s p50 %8.1f us  p99 %8.1f us  max %8.1f us  (%.1f s%s)\n", b + 1,
                drain ? "draining" : "idle", s.p50, s.p99, s.max, seconds(Steady::now() - b0),
                drain ? (", centre at seq " + std::to_string(sync.status().central_seq)).c_str() : "");
  }
  sync.stop();
  controller.stop();
  const Stats si = stats(idle);
  const Stats sd = stats(draining);
  std::vector<double> pair_ratio;
  for (std::size_t i = 0; i < drain_block_p99.size() && i < idle_block_p99.size(); ++i)
    pair_ratio.push_back(drain_block_p99[i] / idle_block_p99[i]);
  std::printf("  wall %.1f s, alarms raised %zu (expected 0), centre resets %llu, samples taken while caught up %zu\n",
              seconds(Steady::now() - wall0), alarms, static_cast<unsigned long long>(resets), caught_up_samples);
  std::printf("  uploaded during the draining blocks: %llu records in %.1f s (%.0f records/s)\n",
              static_cast<unsigned long long>(uploaded_during), drain_block_s,
              drain_block_s > 0 ? static_cast<double>(uploaded_during) / drain_block_s : 0.0);
  std::printf("  idle      (%zu samples) p50 %8.1f us  p90 %8.1f us  p99 %8.1f us  max %8.1f us\n", idle.size(), si.p50,
              si.p90, si.p99, si.max);
  std::printf("  draining  (%zu samples) p50 %8.1f us  p90 %8.1f us  p99 %8.1f us  max %8.1f us\n", draining.size(),
              sd.p50, sd.p90, sd.p99, sd.max);
  const double ratio = sd.p99 / si.p99;
  std::printf(
      "== latency: p99 draining / p99 idle = %.2f (target <= 1.10: %s); median of per-pair block p99 ratios "
      "%.2f; p50 ratio %.2f\n",
      ratio, ratio <= 1.10 ? "met" : "NOT met", median(pair_ratio), sd.p50 / si.p50);
}

std::string fs_type(const fs::path& dir) {
  struct statfs sf {};
  if (::statfs(dir.c_str(), &sf) != 0) return "unknown";
  if (static_cast<long>(sf.f_type) == 0x01021994) return "tmpfs";
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(sf.f_type));
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Args a = parse(argc, argv);
  app::Log::init(app::LogLevel::warning);

  const config::LoadResult cfg = config::load_policy_file(a.zones);
  if (!cfg.ok()) die(a.zones + ": " + (cfg.errors.empty() ? "invalid" : cfg.errors.front().to_string()));

  fs::path dir = a.dir;
  const bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = (fs::current_path() / "upstream-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) die("cannot create a directory under " + fs::current_path().string());
    dir = tmpl;
  } else {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) die(dir.string() + ": " + ec.message());
  }
  const std::time_t now_t = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now_t));
  std::printf("upstream_bench %s: %llu records, state dir %s (file system type %s), load average %.1f\n", date,
              static_cast<unsigned long long>(a.records), dir.c_str(), fs_type(dir).c_str(), load_average());

  // --- the gateway's local state: the audit trail with its backlog, the credential store ------
  adapters::audit::Options ao;
  ao.state_dir = dir;
  ao.gateway_id = cfg.daemon->gateway_id;
  ao.checkpoint_every_records = cfg.daemon->checkpoint_every;
  ao.checkpoint_every = cfg.daemon->checkpoint_interval;
  auto audit = adapters::audit::AuditStore::open(ao);
  if (!audit) die("audit trail: " + audit.error().message);
  auto creds = adapters::credentials::CredentialStore::open(dir / "credentials.db");
  if (!creds) die("credential store: " + creds.error().message);
  if ((*audit)->last_seq() < a.records) {
    if ((*audit)->last_seq() != 0) die(dir.string() + " holds a shorter trail; remove it");
    const auto t0 = Steady::now();
    fill_trail(**audit, *cfg.policy, a.records,
               app::SystemClock().now().time_since_epoch().count() - 3'600'000);  // up to an hour ago
    std::printf("local trail: %llu records built in %.1f s\n", static_cast<unsigned long long>(a.records),
                seconds(Steady::now() - t0));
  }

  // --- the centre ---------------------------------------------------------------------------
  start_server(a.pg_dir);
  Centre c;
  c.gateway_id = cfg.daemon->gateway_id;
  c.super = connect(g_server.dsn);
  struct stat gw_st {
  }, pg_st{};
  const bool same_device =
      ::stat(dir.c_str(), &gw_st) == 0 && ::stat(g_server.dir.c_str(), &pg_st) == 0 && gw_st.st_dev == pg_st.st_dev;
  std::printf("PostgreSQL: %s, data in %s (file system type %s, %s device as the gateway's state dir), fsync %s\n",
              std::string(pg::text(must(c.super.get(), "SHOW server_version").get(), 0, 0)).c_str(),
              g_server.dir.c_str(), fs_type(g_server.dir).c_str(), same_device ? "SAME" : "another",
              std::string(pg::text(must(c.super.get(), "SHOW fsync").get(), 0, 0)).c_str());
  if (auto r = up::init_schema(c.super.get()); !r.ok) die("init_schema: " + r.message);
  up::GatewaySpec spec;
  spec.gateway_id = c.gateway_id;
  spec.site = cfg.policy->site_name.empty() ? "bench" : cfg.policy->site_name;
  spec.password = random_hex(24);
  if (auto r = up::add_gateway(c.super.get(), spec); !r.ok) die("add_gateway: " + r.message);
  const std::string role = up::default_gateway_role(c.gateway_id);
  c.passfile = (g_server.dir / ("pgpass." + role)).string();
  {
    std::ofstream out(c.passfile, std::ios::trunc);
    out << "127.0.0.1:" << g_server.port << ":*:" << role << ':' << spec.password << '\n';
  }
  ::chmod(c.passfile.c_str(), 0600);
  c.gateway_dsn = "host=127.0.0.1 port=" + std::to_string(g_server.port) + " dbname=zonegate user=" + role;

  // The monthly partitions of the backlog exist before any timed part (so no part pays for
  // creating them), and the raw table gets the same ones.
  auto first = (*audit)->query({}, adapters::audit::Page{1, 0, std::nullopt});
  if (!first || first->empty()) die("cannot read the first local record");
  const std::int64_t from_ms = first->front().at.time_since_epoch().count();
  const std::int64_t to_ms = app::SystemClock().now().time_since_epoch().count() + 86'400'000;
  must(c.super.get(),
       "SELECT zonegate.ensure_partitions(" + std::to_string(from_ms) + ", " + std::to_string(to_ms) + ")");
  must(c.super.get(),
       "CREATE SCHEMA zg_bench; "
       "CREATE TABLE zg_bench.events (LIKE zonegate.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES) "
       "PARTITION BY RANGE (time_ms)");
  pg::Res parts = must(c.super.get(),
                       "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                       "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'zonegate.events'::regclass "
                       "ORDER BY 1");
  for (int i = 0; i < PQntuples(parts.get()); ++i) {
    must(c.super.get(), "CREATE TABLE zg_bench." + std::string(pg::text(parts.get(), i, 0)) +
                            " PARTITION OF zg_bench.events " + std::string(pg::text(parts.get(), i, 1)));
  }
  std::printf("event partitions: %d (the same in zonegate.events and zg_bench.events)\n", PQntuples(parts.get()));

  if (a.only.empty() || a.only == "drain") bench_drain(a, c, **audit, **creds);
  if (a.only.empty() || a.only == "latency") bench_latency(a, cfg, c, **audit, **creds);

  c.super.reset();
  stop_server();
  audit->reset();
  creds->reset();
  if (own_dir && !a.keep) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return 0;
}
