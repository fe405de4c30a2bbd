// SPDX-License-Identifier: Apache-2.0
// The operator store: accounts, password checks, lockout on a manual clock, unknown names,
// disabled accounts, the password policy, and the database file's mode.
#include "adapters/web/operator_store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "operator_test_support.hpp"

using namespace zonegate::adapters::web;
using zonegate::core::Instant;
using zonegate::test::OperatorTempDir;
using zonegate::test::t0;
using namespace std::chrono_literals;

namespace {

constexpr const char* kGoodPassword = "correct horse battery";
constexpr const char* kOtherPassword = "tr0ub4dor&3 is not it";

std::unique_ptr<OperatorStore> open_store(const OperatorTempDir& dir, const OperatorStoreOptions& options = {}) {
  auto s = OperatorStore::open(dir.path() / kOperatorDbFile, options);
  INFO((s ? "" : s.error().message));
  REQUIRE(s.ok());
  return std::move(*s);
}

Operator must_find(OperatorStore& store, const std::string& name) {
  auto op = store.find(name);
  REQUIRE(op.ok());
  REQUIRE(op->has_value());
  return **op;
}

AuthOutcome login(OperatorStore& store, const std::string& name, const std::string& password, Instant now) {
  auto r = store.authenticate(name, password, now);
  INFO((r ? "" : r.error().message));
  REQUIRE(r.ok());
  return r->outcome;
}

/// One column of a raw query on the database file.
std::string raw_text(const OperatorTempDir& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((dir.path() / kOperatorDbFile).c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW) out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

}  // namespace

TEST_CASE("operators are added, found and listed; the database is private", "[web][operators]") {
  OperatorTempDir dir;
  auto store = open_store(dir);
  struct stat st {};
  REQUIRE(::stat((dir.path() / kOperatorDbFile).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  REQUIRE(store->add("night.guard", Role::guard, kGoodPassword, t0()).ok());
  REQUIRE(store->add("ext-auditor", Role::auditor, kOtherPassword, t0(1000)).ok());
  const Operator g = must_find(*store, "night.guard");
  CHECK(g.role == Role::guard);
  CHECK(g.created_at == t0());
  CHECK_FALSE(g.disabled);
  CHECK(g.failed_count == 0);
  CHECK_FALSE(g.locked_until);
  CHECK_FALSE(g.last_login);
  auto none = store->find("nobody");
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());

  auto all = store->list();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].name == "ext-auditor");  // name order
  CHECK((*all)[0].role == Role::auditor);
  CHECK((*all)[1].name == "night.guard");

  // The stored hash is scrypt in the self-describing form, never the password.
  const std::string stored = raw_text(dir, "SELECT password FROM operators WHERE name = 'night.guard'");
  CHECK(stored.rfind("scrypt$15$8$1$", 0) == 0);
  CHECK(stored.find(kGoodPassword) == std::string::npos);

  auto dup = store->add("night.guard", Role::admin, kOtherPassword, t0());
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code == Errc::conflict);
  CHECK(must_find(*store, "night.guard").role == Role::guard);

  auto bad_name = store->add("Night Guard", Role::guard, kGoodPassword, t0());
  REQUIRE_FALSE(bad_name.ok());
  CHECK(bad_name.error().code == Errc::invalid_argument);

  // Survives reopening.
  store.reset();
  auto again = open_store(dir);
  CHECK(must_find(*again, "ext-auditor").role == Role::auditor);
  CHECK(login(*again, "ext-auditor", kOtherPassword, t0(2000)) == AuthOutcome::ok);
}

TEST_CASE("an existing database file readable by others is made private", "[web][operators]") {
  OperatorTempDir dir;
  { std::ofstream touch(dir.path() / kOperatorDbFile); }
  REQUIRE(::chmod((dir.path() / kOperatorDbFile).c_str(), 0644) == 0);
  auto store = open_store(dir);
  struct stat st {};
  REQUIRE(::stat((dir.path() / kOperatorDbFile).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("the password policy is enforced on add and set_password", "[web][operators]") {
  OperatorTempDir dir;
  auto store = open_store(dir);
  auto short_pw = store->add("alice", Role::admin, "short pass", t0());
  REQUIRE_FALSE(short_pw.ok());
  CHECK(short_pw.error().code == Errc::weak_password);
  CHECK(short_pw.error().message.find("shorter than 12") != std::string::npos);
  auto name_pw = store->add("alice.admin.x", Role::admin, "alice.admin.x", t0());
  REQUIRE_FALSE(name_pw.ok());
  CHECK(name_pw.error().code == Errc::weak_password);
  auto none = store->list();
  REQUIRE(none.ok());
  CHECK(none->empty());

  REQUIRE(store->add("alice", Role::admin, kGoodPassword, t0()).ok());
  auto weak = store->set_password("alice", "tooshort", t0());
  REQUIRE_FALSE(weak.ok());
  CHECK(weak.error().code == Errc::weak_password);
  CHECK(login(*store, "alice", kGoodPassword, t0(1)) == AuthOutcome::ok);
}

TEST_CASE("right and wrong passwords", "[web][operators]") {
  OperatorTempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->add("night.guard", Role::guard, kGoodPassword, t0()).ok());

  auto ok = store->authenticate("night.guard", kGoodPassword, t0(5000));
  REQUIRE(ok.ok());
  CHECK(ok->outcome == AuthOutcome::ok);
  REQUIRE(ok->role);
  CHECK(*ok->role == Role::guard);
  CHECK(must_find(*store, "night.guard").last_login == t0(5000));

  auto wrong = store->authenticate("night.guard", kOtherPassword, t0(6000));
  REQUIRE(wrong.ok());
  CHECK(wrong->outcome == AuthOutcome::bad_credentials);
  CHECK_FALSE(wrong->role);
  CHECK(must_find(*store, "night.guard").failed_count == 1);
  CHECK(must_find(*store, "night.guard").last_login == t0(5000));
  // Close is not enough, and case matters.
  CHECK(login(*store, "night.guard", "correct horse batter", t0(7000)) == AuthOutcome::bad_credentials);
  CHECK(login(*store, "night.guard", "Correct horse battery", t0(8000)) == AuthOutcome::bad_credentials);
  CHECK(login(*store, "night.guard", "", t0(9000)) == AuthOutcome::bad_credentials);
  // A success clears the count.
  CHECK(login(*store, "night.guard", kGoodPassword, t0(10000)) == AuthOutcome::ok);
  CHECK(must_find(*store, "night.guard").failed_count == 0);
}

TEST_CASE("five failures lock the account for 15 minutes", "[web][operators][lockout]") {
  OperatorTempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->add("night.guard", Role::guard, kGoodPassword, t0()).ok());
  const Instant start = t0(60'000);
  for (int i = 0; i < 4; ++i) {
    CHECK(login(*store, "night.guard", kOtherPassword, start + std::chrono::seconds(i)) ==
          AuthOutcome::bad_credentials);
  }
  const Instant fifth = start + 4s;
  auto r = store->authenticate("night.guard", kOtherPassword, fifth);
  REQUIRE(r.ok());
  CHECK(r->outcome == AuthOutcome::locked);
  REQUIRE(r->locked_until);
  CHECK(*r->locked_until == fifth + 15min);
  CHECK(must_find(*store, "night.guard").locked_until == fifth + 15min);

  // Locked: even the right password is refused, up to the last millisecond.
  CHECK(login(*store, "night.guard", kGoodPassword, fifth + 1s) == AuthOutcome::locked);
  CHECK(login(*store, "night.guard", kGoodPassword, fifth + 15min - 1ms) == AuthOutcome::locked);
  // Unlocked after 15 minutes.
  CHECK(login(*store, "night.guard", kGoodPassword, fifth + 15min) == AuthOutcome::ok);
  const Operator after = must_find(*store, "night.guard");
  CHECK(after.failed_count == 0);
  CHECK_FALSE(after.locked_until);
}

TEST_CASE("a lock that ran out starts the count afresh", "[web][operators][lockout]") {
  OperatorTempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->add("night.guard", Role::guard, kGoodPassword, t0()).ok());
  for (int i = 0; i < 5; ++i) (void)login(*store, "night.guard", kOtherPassword, t0(i));
  REQUIRE(must_find(*store, "night.guard").locked_until == t0(4) + 15min);
  // One wrong password after the lock ran out is one failure, not a new lock.
  CHECK(login(*store, "night.guard", kOtherPassword, t0(4) + 16min) == AuthOutcome::bad_credentials);
  CHECK(must_find(*store, "night.guard").failed_count == 1);
  CHECK(login(*store, "night.guard", kGoodPassword, t0(4) + 16min + 1s) == AuthOutcome::ok);
}

TEST_CASE("failures must be consecutive to lock", "[web][operators][lockout]") {
  OperatorTempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->add("night.guard", Role::guard, kGoodPassword, t0()).ok());
  for (int i = 0; i < 4; ++i)
    CHECK(login(*store, "night.guard", kOtherPassword, t0(i)) == AuthOutcome::bad_credentials);
  CHECK(login(*store, "night.guard", kGoodPassword, t0(10)) == AuthOutcome::ok);
  for (int i = 0; i < 4; ++i) {
    CHECK(login(*store, "night.guard", kOtherPassword, t0(20 + i)) == AuthOutcome::bad_credentials);
  }
  CHECK(login(*store, "night.guard", kGoodPassword, t0(30)) == AuthOutcome::ok);
}

TEST_CASE("the lockout policy is configurable", "[web][operators][lockout]") {
  OperatorTempDir dir;
  OperatorStoreOptions options;
  options.lockout = {2, std::chrono::minutes(1)};
  auto store = open_store(dir, options);
  REQUIRE(store->add("night.guard", Role::guard, kGoodPassword, t0()).ok());
  CHECK(login(*store, "night.guard", kOtherPassword, t0(1)) == AuthOutcome::bad_credentials);
  CHECK(login(*store, "night.guard", kOtherPassword, t0(2)) == AuthOutcome::locked);
  CHECK(login(*store, "night.guard", kGoodPassword, t0(2) + 59s) == AuthOutcome::locked);
  CHECK(login(*store, "night.guard", kGoodPassword, t0(2) + 60s) == AuthOutcome::ok);
}

TEST_CASE("unknown names: bad_credentials, the same scrypt work, never a lock", "[web][operators]") {
  OperatorTempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->add("night.guard", Role::guard, kGoodPassword, t0()).ok());
  for (int i = 0; i < 7; ++i) {
    CHECK(login(*store, "day.guard", kGoodPassword, t0(i)) == AuthOutcome::bad_credentials);
  }
  // Names that could never exist, including SQL-shaped ones, are answered the same way.
  CHECK(login(*store, "x'); DROP TABLE operators; --", kGoodPassword, t0(8)) == AuthOutcome::bad_credentials);
  CHECK(login(*store, "", kGoodPassword, t0(9)) == AuthOutcome::bad_credentials);
  CHECK(login(*store, "Night.Guard", kGoodPassword, t0(10)) == AuthOutcome::bad_credentials);
  CHECK(login(*store, "night.guard", std::string(5000, 'x'), t0(11)) == AuthOutcome::bad_credentials);
  // The failure is written like a known name's failure (one counter, no name stored).
  CHECK(raw_text(dir, "SELECT value FROM meta WHERE key = 'unknown_name_failures'") == "11");
  CHECK(login(*store, "night.guard", kGoodPassword, t0(12)) == AuthOutcome::ok);

  // Timing: without a dummy hash an unknown name would answer in microseconds, a known one in
  // about 0.1 s. Medians of three, and a generous factor, so a busy machine does not fail this.
  const auto median_ms = [&](const std::string& name) {
    std::vector<double> ms;
    for (int i = 0; i < 3; ++i) {
      const auto a = std::chrono::steady_clock::now();
      (void)login(*store, name, kOtherPassword, t0(100 + i));
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[1];
  };
  const double known = median_ms("night.guard");
  const double unknown = median_ms("nobody.here");
  INFO("known " << known << " ms, unknown " << unknown << " ms");
  CHECK(unknown > 0.3 * known);
  CHECK(unknown < 3.0 * known);
}

TEST_CASE("a disabled account is refused whatever the password", "[web][operators]") {
  OperatorTempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->add("night.guard", Role::guard, kGoodPassword, t0()).ok());
  REQUIRE(store->disable("night.guard", t0(1)).ok());
  REQUIRE(store->disable("night.guard", t0(2)).ok());  // twice is fine
  CHECK(must_find(*store, "night.guard").disabled);
  CHECK(login(*store, "night.guard", kGoodPassword, t0(3)) == AuthOutcome::disabled);
  CHECK(login(*store, "night.guard", kOtherPassword, t0(4)) == AuthOutcome::disabled);
  CHECK_FALSE(must_find(*store, "night.guard").last_login);
  REQUIRE(store->enable("night.guard", t0(5)).ok());
  CHECK(login(*store, "night.guard", kGoodPassword, t0(6)) == AuthOutcome::ok);

  auto missing = store->disable("nobody", t0(7));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::not_found);
}

TEST_CASE("set_password replaces the password and clears a lockout; enable clears it too", "[web][operators]") {
  OperatorTempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->add("night.guard", Role::guard, kGoodPassword, t0()).ok());
  for (int i = 0; i < 5; ++i) (void)login(*store, "night.guard", kOtherPassword, t0(i));
  REQUIRE(login(*store, "night.guard", kGoodPassword, t0(10)) == AuthOutcome::locked);
  REQUIRE(store->set_password("night.guard", "a brand new passphrase", t0(20)).ok());
  CHECK(login(*store, "night.guard", kGoodPassword, t0(30)) == AuthOutcome::bad_credentials);
  CHECK(login(*store, "night.guard", "a brand new passphrase", t0(40)) == AuthOutcome::ok);

  for (int i = 0; i < 5; ++i) (void)login(*store, "night.guard", kOtherPassword, t0(50 + i));
  REQUIRE(login(*store, "night.guard", "a brand new passphrase", t0(60)) == AuthOutcome::locked);
  REQUIRE(store->enable("night.guard", t0(70)).ok());
  CHECK(login(*store, "night.guard", "a brand new passphrase", t0(80)) == AuthOutcome::ok);

  auto missing = store->set_password("nobody", "a brand new passphrase", t0(90));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::not_found);
}

TEST_CASE("set_role changes what the next login gets", "[web][operators]") {
  OperatorTempDir dir;
  auto store = open_store(dir);
  REQUIRE(store->add("pat", Role::guard, kGoodPassword, t0()).ok());
  REQUIRE(store->set_role("pat", Role::auditor, t0(1)).ok());
  auto r = store->authenticate("pat", kGoodPassword, t0(2));
  REQUIRE(r.ok());
  REQUIRE(r->role);
  CHECK(*r->role == Role::auditor);
  auto missing = store->set_role("nobody", Role::admin, t0(3));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::not_found);
}

TEST_CASE("raising the scrypt cost upgrades a hash at the next login", "[web][operators]") {
  OperatorTempDir dir;
  {
    OperatorStoreOptions cheap;
    cheap.kdf = {12, 8, 1};
    auto store = open_store(dir, cheap);
    REQUIRE(store->add("pat", Role::guard, kGoodPassword, t0()).ok());
  }
  CHECK(raw_text(dir, "SELECT password FROM operators").rfind("scrypt$12$8$1$", 0) == 0);
  auto store = open_store(dir);
  CHECK(login(*store, "pat", kOtherPassword, t0(1)) == AuthOutcome::bad_credentials);
  CHECK(raw_text(dir, "SELECT password FROM operators").rfind("scrypt$12$8$1$", 0) == 0);
  CHECK(login(*store, "pat", kGoodPassword, t0(2)) == AuthOutcome::ok);
  CHECK(raw_text(dir, "SELECT password FROM operators").rfind("scrypt$15$8$1$", 0) == 0);
  CHECK(login(*store, "pat", kGoodPassword, t0(3)) == AuthOutcome::ok);
}

TEST_CASE("out-of-range scrypt parameters are refused at open", "[web][operators]") {
  OperatorTempDir dir;
  OperatorStoreOptions options;
  options.kdf = {30, 8, 1};
  auto s = OperatorStore::open(dir.path() / kOperatorDbFile, options);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == Errc::invalid_argument);
}
