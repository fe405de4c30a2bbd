// SPDX-License-Identifier: Apache-2.0
// Benchmarks of the SQLite adapters:
//   append  — audit append throughput under a burst (group commit, batches of --batch) against a
//             raw SQLite insert of the same rows in the same run (same columns and indexes, same
//             WAL + synchronous=FULL, one transaction per batch; and one transaction for all, with
//             single-row and, for reference, 64-row INSERT statements);
//   verify  — verify() of --verify records;
//   query   — person x zone x day-range queries on --query-records records (the database is built
//             once and kept in --query-db for later runs);
//   lookup  — credential lookup latency at --badges badges.
// Usage: audit_bench [--only append|verify|query|lookup] [--dir DIR] [--burst N] [--batch N]
//                    [--verify N] [--query-records N] [--query-db PATH] [--badges N]
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "core/events.hpp"
#include "core/policy.hpp"

namespace {

namespace fs = std::filesystem;
namespace audit = zonegate::adapters::audit;
namespace creds = zonegate::adapters::credentials;
namespace core = zonegate::core;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// CPU time of this process: on a loaded machine wall time shows the load, CPU time the work.
double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

/// Wall and CPU time since construction.
struct Timer {
  Clock::time_point wall0 = Clock::now();
  double cpu0 = cpu_seconds();
  [[nodiscard]] double wall() const { return seconds_since(wall0); }
  [[nodiscard]] double cpu() const { return cpu_seconds() - cpu0; }
};

struct Rate {
  double wall_per_s;
  double cpu_per_s;
};

struct Args {
  std::string only;
  fs::path dir;
  std::size_t burst = 20000;
  std::size_t batch = 64;
  std::size_t verify = 1'000'000;
  std::size_t query_records = 10'000'000;
  fs::path query_db;
  std::size_t badges = 2'000'000;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: audit_bench [--only append|verify|query|lookup] [--dir DIR] [--burst N] [--batch N]\n"
               "                   [--verify N] [--query-records N] [--query-db PATH] [--badges N]\n");
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) usage();
    const std::string v = argv[++i];
    auto num = [&] { return static_cast<std::size_t>(std::stoull(v)); };
    if (k == "--only") {
      a.only = v;
    } else if (k == "--dir") {
      a.dir = v;
    } else if (k == "--burst") {
      a.burst = num();
    } else if (k == "--batch") {
      a.batch = std::max<std::size_t>(1, num());
    } else if (k == "--verify") {
      a.verify = num();
    } else if (k == "--query-records") {
      a.query_records = num();
    } else if (k == "--query-db") {
      a.query_db = v;
    } else if (k == "--badges") {
      a.badges = num();
    } else {
      usage();
    }
  }
  return a;
}

/// A site like the sample one: four nested zones, a door into each, a few roles.
core::Policy bench_policy() {
  core::Policy p;
  p.site_name = "bench";
  const char* zones[] = {"outside", "office", "db-view", "db-ops"};
  for (std::size_t i = 0; i < 4; ++i) {
    core::Zone z;
    z.id = zones[i];
    z.parent = i == 0 ? core::kNoIdx : static_cast<core::ZoneIdx>(i - 1);
    p.zones.push_back(z);
  }
  const char* doors[] = {"lobby", "view-door", "ops-door"};
  for (std::size_t i = 0; i < 3; ++i) {
    core::Door d;
    d.id = doors[i];
    d.outer = static_cast<core::ZoneIdx>(i);
    d.inner = static_cast<core::ZoneIdx>(i + 1);
    p.doors.push_back(d);
  }
  for (const char* r : {"employee", "dba", "guard", "contractor"}) {
    core::Role role;
    role.id = r;
    role.zones.resize(p.zones.size());
    role.may_escort.resize(p.zones.size(), false);
    p.roles.push_back(role);
  }
  p.finalize();
  return p;
}

constexpr std::int64_t kEpochMs = 1767225600000LL;  // 2026-01-01T00:00:00Z
constexpr std::size_t kPeople = 2000;

/// Decision i of a synthetic year: people badge through doors in both directions, 1 in 8 denied.
core::Decision synthetic(std::size_t i, std::size_t total, std::mt19937_64& rng) {
  core::Decision d;
  const std::int64_t span = 365LL * 86'400'000;
  d.at = core::Instant{core::Duration{
      kEpochMs + static_cast<std::int64_t>(i) * (span / static_cast<std::int64_t>(std::max<std::size_t>(total, 1)))}};
  const auto person = rng() % kPeople;
  d.person = "p" + std::to_string(person);
  char badge[16];
  std::snprintf(badge, sizeof badge, "04%06zX", static_cast<std::size_t>(person));
  d.badge = badge;
  d.door = static_cast<core::DoorIdx>(rng() % 3);
  d.dir = rng() % 2 == 0 ? core::Direction::in : core::Direction::out;
  const bool deny = rng() % 8 == 0;
  d.verdict = deny ? core::Verdict::deny : core::Verdict::grant;
  d.reason = deny ? core::Reason::no_clearance : core::Reason::ok;
  d.request = i + 1;
  return d;
}

std::unique_ptr<audit::AuditStore> open_audit(const fs::path& dir) {
  audit::Options o;
  o.state_dir = dir;
  o.gateway_id = "gw-bench";
  auto s = audit::AuditStore::open(o);
  if (!s) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), s.error().message.c_str());
    std::exit(1);
  }
  return std::move(s.value());
}

/// Appends `n` synthetic decisions in batches of `batch`, checkpointing every 10000.
void fill_audit(audit::AuditStore& store, const core::Policy& policy, std::size_t n, std::size_t batch,
                std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<core::Record> recs;
  std::size_t since_cp = 0;
  for (std::size_t i = 0; i < n;) {
    recs.clear();
    for (std::size_t k = 0; k < batch && i < n; ++k, ++i) recs.emplace_back(synthetic(i, n, rng));
    auto r = store.append(recs, policy);
    if (!r) {
      std::fprintf(stderr, "append: %s\n", r.error().message.c_str());
      std::exit(1);
    }
    since_cp += recs.size();
    if (since_cp >= 10000 || i == n) {
      since_cp = 0;
      const auto& last = std::get<core::Decision>(recs.back());
      if (auto cp = store.checkpoint(last.at); !cp) {
        std::fprintf(stderr, "checkpoint: %s\n", cp.error().message.c_str());
        std::exit(1);
      }
    }
    if (n >= 1'000'000 && i % 1'000'000 < batch) {
      std::fprintf(stderr, "  ... %zu records\n", i);
    }
  }
}

// ---------------------------------------------------------------------------------------------

/// Exits with SQLite's message when a call of the raw baseline fails: a baseline that silently
/// skips rows (e.g. a table left over from an earlier run) would look fast.
void check_rc(sqlite3* db, int rc, int ok, const char* what) {
  if (rc == ok) return;
  std::fprintf(stderr, "raw insert: %s: %s\n", what, sqlite3_errmsg(db));
  std::exit(1);
}

/// The same rows through a bare prepared INSERT: same columns, same indexes as the audit schema
/// (docs/audit.md), same pragmas; no chain, no hash, no triggers. `rows_per_stmt` > 1 uses
/// multi-row INSERT statements, as the audit store does.
Rate raw_insert(const fs::path& file, const core::Policy& policy, std::size_t n, std::size_t batch, bool indexes,
                std::size_t rows_per_stmt = 1) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(file.string() + suffix);
  sqlite3* db = nullptr;
  check_rc(db, sqlite3_open(file.c_str(), &db), SQLITE_OK, "open");
  check_rc(db,
           sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-16384;", nullptr,
                        nullptr, nullptr),
           SQLITE_OK, "pragmas");
  check_rc(db,
           sqlite3_exec(db,
                        "CREATE TABLE records (seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, kind TEXT NOT NULL, "
                        "event TEXT, person TEXT, badge TEXT, door TEXT, zone TEXT, direction TEXT, verdict TEXT, "
                        "reason TEXT, alarm TEXT, severity TEXT, source TEXT, ref INTEGER, detail TEXT, salt BLOB, "
                        "personal_digest BLOB, purged_by INTEGER, prev_hash BLOB NOT NULL, hash BLOB NOT NULL)",
                        nullptr, nullptr, nullptr),
           SQLITE_OK, "create table");
  if (indexes) {
    check_rc(db,
             sqlite3_exec(db,
                          "CREATE INDEX a ON records(person, zone, time_ms) WHERE person IS NOT NULL;"
                          "CREATE INDEX b ON records(badge, time_ms) WHERE badge IS NOT NULL;"
                          "CREATE INDEX c ON records(door, time_ms) WHERE door IS NOT NULL;"
                          "CREATE INDEX d ON records(zone, time_ms) WHERE zone IS NOT NULL;"
                          "CREATE INDEX e ON records(reason, time_ms) WHERE reason IS NOT NULL;"
                          "CREATE INDEX f ON records(verdict, time_ms) WHERE verdict IS NOT NULL;"
                          "CREATE INDEX g ON records(kind, time_ms); CREATE INDEX h ON records(time_ms);",
                          nullptr, nullptr, nullptr),
             SQLITE_OK, "create indexes");
  }
  constexpr int kCols = 14;
  auto prepare = [&](std::size_t rows) {
    std::string text =
        "INSERT INTO records(seq, time_ms, kind, person, badge, door, zone, direction, verdict, reason, ref, salt, "
        "prev_hash, hash) VALUES ";
    for (std::size_t r = 0; r < rows; ++r)
      text += r == 0 ? "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt* st = nullptr;
    check_rc(db, sqlite3_prepare_v2(db, text.c_str(), -1, &st, nullptr), SQLITE_OK, "prepare");
    return st;
  };
  sqlite3_stmt* multi = prepare(rows_per_stmt);
  sqlite3_stmt* single = prepare(1);
  std::mt19937_64 rng(42);
  std::vector<core::Decision> rows;
  rows.reserve(n);
  for (std::size_t i = 0; i < n; ++i) rows.push_back(synthetic(i, n, rng));
  const unsigned char blob[32] = {};
  const Timer t;
  for (std::size_t i = 0; i < n;) {
    check_rc(db, sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK, "begin");
    const std::size_t end = std::min(n, i + batch);
    while (i < end) {
      const std::size_t k = end - i >= rows_per_stmt ? rows_per_stmt : 1;
      sqlite3_stmt* st = k == rows_per_stmt ? multi : single;
      for (std::size_t r = 0; r < k; ++r, ++i) {
        const int b = static_cast<int>(r) * kCols;
        const auto& d = rows[i];
        const auto& door = policy.doors[d.door];
        sqlite3_bind_int64(st, b + 1, static_cast<sqlite3_int64>(i + 1));
        sqlite3_bind_int64(st, b + 2, d.at.time_since_epoch().count());
        sqlite3_bind_text(st, b + 3, "decision", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, b + 4, d.person.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, b + 5, d.badge.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, b + 6, door.id.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, b + 7, policy.zones[d.dir == core::Direction::in ? door.inner : door.outer].id.c_str(),
                          -1, SQLITE_STATIC);
        sqlite3_bind_text(st, b + 8, d.dir == core::Direction::in ? "in" : "out", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, b + 9, d.verdict == core::Verdict::grant ? "grant" : "deny", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, b + 10, d.reason == core::Reason::ok ? "ok" : "no_clearance", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, b + 11, static_cast<sqlite3_int64>(d.request));
        sqlite3_bind_blob(st, b + 12, blob, 16, SQLITE_STATIC);
        sqlite3_bind_blob(st, b + 13, blob, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, b + 14, blob, 32, SQLITE_STATIC);
      }
      check_rc(db, sqlite3_step(st), SQLITE_DONE, "insert");
      sqlite3_reset(st);
    }
    check_rc(db, sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK, "commit");
  }
  const Rate r{static_cast<double>(n) / t.wall(), static_cast<double>(n) / t.cpu()};
  sqlite3_finalize(multi);
  sqlite3_finalize(single);
  sqlite3_close(db);
  return r;
}

/// Median latency of write(16 KiB) + fdatasync on this file system: every group commit pays one.
double fsync_ms(const fs::path& dir) {
  const fs::path file = dir / "fsync-probe";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  std::vector<char> buf(16384, 'x');
  std::vector<double> ms;
  for (int i = 0; i < 30; ++i) {
    const auto t0 = Clock::now();
    if (::write(fd, buf.data(), buf.size()) != static_cast<ssize_t>(buf.size()) || ::fdatasync(fd) != 0) break;
    ms.push_back(1000.0 * seconds_since(t0));
  }
  ::close(fd);
  fs::remove(file);
  if (ms.empty()) return 0;
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void bench_append(const Args& a, const fs::path& dir, const core::Policy& policy) {
  std::printf("== append: burst of %zu decisions, group commit in batches of %zu, WAL, synchronous=FULL\n", a.burst,
              a.batch);
  // A fresh log each run: appending to an earlier run's records would measure a larger tree.
  const fs::path d = dir / "append";
  fs::remove_all(d);
  fs::create_directories(d);
  const double sync_ms = fsync_ms(d);
  std::printf("  fsync latency here: median %.2f ms -> at most %.0f commits/s, %.0f records/s at batch %zu\n", sync_ms,
              1000.0 / sync_ms, 1000.0 / sync_ms * static_cast<double>(a.batch), a.batch);
  auto store = open_audit(d);
  std::mt19937_64 rng(42);
  std::vector<core::Decision> rows;
  rows.reserve(a.burst);
  for (std::size_t i = 0; i < a.burst; ++i) rows.push_back(synthetic(i, a.burst, rng));
  std::vector<core::Record> recs;
  const Timer t;
  for (std::size_t i = 0; i < a.burst;) {
    recs.clear();
    for (std::size_t k = 0; k < a.batch && i < a.burst; ++k, ++i) recs.emplace_back(rows[i]);
    if (auto r = store->append(recs, policy); !r) {
      std::fprintf(stderr, "append: %s\n", r.error().message.c_str());
      std::exit(1);
    }
  }
  const Rate ours{static_cast<double>(a.burst) / t.wall(), static_cast<double>(a.burst) / t.cpu()};
  const double batches = static_cast<double>((a.burst + a.batch - 1) / a.batch);
  std::printf("  %-38s %9.0f records/s wall %9.0f records/s CPU  (%.2f ms per batch commit)\n",
              "audit append:", ours.wall_per_s, ours.cpu_per_s,
              1000.0 * static_cast<double>(a.burst) / ours.wall_per_s / batches);
  auto compare = [&](const char* what, const Rate& raw) {
    std::printf("  %-38s %9.0f records/s wall %9.0f records/s CPU  -> audit append is %.0f%% (wall), %.0f%% (CPU)\n",
                what, raw.wall_per_s, raw.cpu_per_s, 100.0 * ours.wall_per_s / raw.wall_per_s,
                100.0 * ours.cpu_per_s / raw.cpu_per_s);
  };
  compare("raw INSERT, same batches and indexes:", raw_insert(d / "raw.db", policy, a.burst, a.batch, true));
  compare("raw INSERT, same batches, no indexes:", raw_insert(d / "raw-noidx.db", policy, a.burst, a.batch, false));
  compare("raw INSERT, one transaction, indexes:", raw_insert(d / "raw-one.db", policy, a.burst, a.burst, true));
  // Not the target's baseline, printed so that the gain of the store's 64-row statements can be
  // told apart from the rest: the same one transaction with the store's statement shape.
  compare("raw, one transaction, 64-row INSERTs:",
          raw_insert(d / "raw-one-multi.db", policy, a.burst, a.burst, true, 64));
}

void bench_verify(const Args& a, const fs::path& dir, const core::Policy& policy) {
  std::printf("== verify: %zu records (checkpoint every 10000)\n", a.verify);
  const fs::path d = dir / "verify";
  fs::create_directories(d);
  auto store = open_audit(d);
  if (store->last_seq() == 0) {
    const Timer t;
    fill_audit(*store, policy, a.verify, 1000, 7);
    std::printf("  built in %.1f s (%.1f s CPU)\n", t.wall(), t.cpu());
  }
  store.reset();
  store = open_audit(d);
  for (int run = 0; run < 2; ++run) {
    const Timer t;
    const auto v = store->verify();
    const double wall = t.wall();
    const double cpu = t.cpu();
    std::printf("  verify run %d: %.3f s wall, %.3f s CPU (%.0f records/s wall) — %s\n", run + 1, wall, cpu,
                static_cast<double>(v.records_checked) / wall, v.message.c_str());
    if (!v.ok) std::exit(1);
  }
}

void bench_query(const Args& a, const fs::path& dir, const core::Policy& policy) {
  const fs::path d = a.query_db.empty() ? dir / "query" : a.query_db;
  fs::create_directories(d);
  auto store = open_audit(d);
  if (store->last_seq() < a.query_records) {
    std::printf("== query: building %zu records in %s (kept for later runs)\n", a.query_records, d.c_str());
    if (store->last_seq() != 0) {
      std::fprintf(stderr, "%s holds %llu records; remove it or pass --query-records %llu\n", d.c_str(),
                   static_cast<unsigned long long>(store->last_seq()),
                   static_cast<unsigned long long>(store->last_seq()));
      std::exit(1);
    }
    const Timer t;
    fill_audit(*store, policy, a.query_records, 5000, 11);
    std::printf("  built in %.1f s (%.1f s CPU)\n", t.wall(), t.cpu());
  }
  const std::size_t n = store->last_seq();
  std::printf("== query: person x zone x 7-day range on %zu records (%zu people, 1 year)\n", n, kPeople);
  store.reset();
  store = open_audit(d);
  std::mt19937_64 rng(99);
  const char* zones[] = {"outside", "office", "db-view", "db-ops"};
  std::vector<double> ms;
  std::size_t rows = 0;
  for (int i = 0; i < 200; ++i) {
    audit::Filter f;
    f.person = "p" + std::to_string(rng() % kPeople);
    f.zone = zones[rng() % 4];
    const std::int64_t start = kEpochMs + static_cast<std::int64_t>(rng() % 358) * 86'400'000LL;
    f.from = core::Instant{core::Duration{start}};
    f.to = core::Instant{core::Duration{start + 7 * 86'400'000LL}};
    const auto t0 = Clock::now();
    auto r = store->query(f, audit::Page{10000, 0, std::nullopt});
    ms.push_back(1000.0 * seconds_since(t0));
    if (!r) {
      std::fprintf(stderr, "query: %s\n", r.error().message.c_str());
      std::exit(1);
    }
    rows += r->size();
  }
  const double first = ms.front();
  std::sort(ms.begin(), ms.end());
  std::printf("  200 queries: first %.2f ms, median %.3f ms, p99 %.3f ms, max %.3f ms (%.1f rows per query)\n", first,
              ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back(), static_cast<double>(rows) / 200.0);

  // Who was in db-ops during one hour (zone x time), and one person's whole year.
  audit::Filter z;
  z.zone = "db-ops";
  z.from = core::Instant{core::Duration{kEpochMs + 100 * 86'400'000LL}};
  z.to = core::Instant{core::Duration{kEpochMs + 100 * 86'400'000LL + 3'600'000}};
  auto t0 = Clock::now();
  auto r = store->query(z, audit::Page{10000, 0, std::nullopt});
  std::printf("  zone x 1 hour: %.3f ms (%zu rows)\n", 1000.0 * seconds_since(t0), r ? r->size() : 0);
  audit::Filter p;
  p.person = "p42";
  t0 = Clock::now();
  r = store->query(p, audit::Page{100000, 0, std::nullopt});
  std::printf("  person x whole year: %.3f ms (%zu rows)\n", 1000.0 * seconds_since(t0), r ? r->size() : 0);
}

/// Badge uid k of the synthetic population: 6 bytes, spread over the key space.
std::string badge_uid(std::size_t k) {
  char uid[24];
  std::snprintf(uid, sizeof uid, "04%012llX", static_cast<unsigned long long>(k) * 2654435761ULL % 0xFFFFFFFFFFFFULL);
  return uid;
}

void bench_lookup(const Args& a, const fs::path& dir, const core::Policy& policy) {
  std::printf("== lookup: %zu badges\n", a.badges);
  const fs::path file = dir / "credentials.db";
  auto s = creds::CredentialStore::open(file);
  if (!s) {
    std::fprintf(stderr, "open: %s\n", s.error().message.c_str());
    std::exit(1);
  }
  auto& store = *s.value();
  if (store.find(badge_uid(a.badges - 1)) && store.find(badge_uid(0))) {
    std::printf("  reusing the %zu badges in %s\n", a.badges, file.c_str());
  } else {
    std::string csv = "uid,person,roles,kind,valid_from,valid_until\n";
    csv.reserve(a.badges * 48);
    const char* roles[] = {"employee", "employee;dba", "employee;guard", "contractor"};
    for (std::size_t i = 0; i < a.badges; ++i) {
      char line[96];
      std::snprintf(line, sizeof line, ",p%zu,%s,%s,2026-01-01,2027-12-31\n", i / 2, roles[(i / 2) % 4],
                    i % 3 == 0 ? "uid" : "desfire");
      csv += badge_uid(i);
      csv += line;
    }
    std::istringstream in(std::move(csv));
    const auto t0 = Clock::now();
    auto rep = store.import_csv(in, core::Instant{core::Duration{kEpochMs}}, &policy);
    std::printf("  import_csv of %zu rows: %.1f s (%s, %zu errors)\n", rep.rows, seconds_since(t0),
                rep.applied ? "applied" : "NOT applied", rep.errors.size());
    if (!rep.applied) {
      if (!rep.errors.empty()) std::fprintf(stderr, "line %zu: %s\n", rep.errors[0].line, rep.errors[0].reason.c_str());
      std::exit(1);
    }
  }
  std::mt19937_64 rng(5);
  const std::size_t lookups = 200000;
  std::vector<std::string> uids;
  uids.reserve(lookups);
  for (std::size_t i = 0; i < lookups; ++i) {
    uids.push_back(badge_uid(rng() % a.badges));
  }
  // Two passes over the same random badges: the first finds the pages on disk or in the OS cache,
  // the second in SQLite's cache, as the daemon's steady state does.
  for (const char* pass : {"first pass", "second pass"}) {
    std::vector<double> ns;
    ns.reserve(lookups);
    std::size_t found = 0;
    const auto t0 = Clock::now();
    for (const auto& u : uids) {
      const auto t1 = Clock::now();
      auto h = store.lookup(u, policy);
      ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t1).count());
      found += h.has_value() ? 1 : 0;
    }
    const double total = seconds_since(t0);
    std::sort(ns.begin(), ns.end());
    std::printf("  %s, %zu random lookups (%zu found): mean %.2f us, median %.2f us, p99 %.2f us, max %.1f us\n", pass,
                lookups, found, 1e6 * total / static_cast<double>(lookups), ns[ns.size() / 2] / 1000.0,
                ns[ns.size() * 99 / 100] / 1000.0, ns.back() / 1000.0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures appear as they are measured
  Args a = parse(argc, argv);
  bool own_dir = false;
  if (a.dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "zonegate-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return 1;
    a.dir = tmpl;
    own_dir = true;
  }
  std::printf("audit_bench in %s (SQLite %s)\n", a.dir.c_str(), sqlite3_libversion());
  const core::Policy policy = bench_policy();
  if (a.only.empty() || a.only == "append") bench_append(a, a.dir, policy);
  if (a.only.empty() || a.only == "verify") bench_verify(a, a.dir, policy);
  if (a.only.empty() || a.only == "query") bench_query(a, a.dir, policy);
  if (a.only.empty() || a.only == "lookup") bench_lookup(a, a.dir, policy);
  if (own_dir) {
    std::error_code ec;
    // The query database is kept only when --query-db names it.
    fs::remove_all(a.dir, ec);
  }
  return 0;
}
