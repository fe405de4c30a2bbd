// SPDX-License-Identifier: Apache-2.0
// Console sessions on a manual clock: ids and CSRF tokens, idle and absolute expiry, the size
// bound, and the cookie strings.
#include "adapters/web/session.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "operator_test_support.hpp"

using namespace zonegate::adapters::web;
using zonegate::core::Instant;
using zonegate::test::t0;
using namespace std::chrono_literals;

namespace {

Session must_create(SessionTable& table, const std::string& name, Role role, Instant now) {
  auto s = table.create(name, role, now);
  REQUIRE(s.ok());
  return *s;
}

}  // namespace

TEST_CASE("a session has a random id and a separate random CSRF token", "[web][sessions]") {
  SessionTable table;
  const std::regex token(R"([A-Za-z0-9_-]{43})");  // 32 bytes, base64url, no padding
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const Session s = must_create(table, "night.guard", Role::guard, t0());
    CHECK(std::regex_match(s.id, token));
    CHECK(std::regex_match(s.csrf_token, token));
    CHECK(s.id != s.csrf_token);
    CHECK(seen.insert(s.id).second);
    CHECK(seen.insert(s.csrf_token).second);
  }
  CHECK(table.size() == 50);
}

TEST_CASE("lookup finds the session; unknown and malformed ids find nothing", "[web][sessions]") {
  SessionTable table;
  const Session s = must_create(table, "ext-auditor", Role::auditor, t0());
  const auto found = table.lookup(s.id, t0(1000));
  REQUIRE(found);
  CHECK(found->operator_name == "ext-auditor");
  CHECK(found->role == Role::auditor);
  CHECK(found->csrf_token == s.csrf_token);
  CHECK(found->created_at == t0());
  CHECK(found->last_seen == t0(1000));
  // The CSRF token is not a session id.
  CHECK_FALSE(table.lookup(s.csrf_token, t0(1000)));
  std::string other = s.id;
  other[0] = other[0] == 'A' ? 'B' : 'A';
  CHECK_FALSE(table.lookup(other, t0(1000)));
  CHECK_FALSE(table.lookup("", t0(1000)));
  CHECK_FALSE(table.lookup(s.id + "A", t0(1000)));
  CHECK_FALSE(table.lookup(s.id.substr(0, 42) + "=", t0(1000)));
  CHECK(table.lookup(s.id, t0(2000)));
}

TEST_CASE("15 minutes idle ends a session; each lookup restarts the idle timer", "[web][sessions]") {
  SessionTable table;
  const Session s = must_create(table, "night.guard", Role::guard, t0());
  CHECK(table.lookup(s.id, t0() + 15min - 1ms));
  // Refreshed: another 14:59 later it is still there, far past 15 minutes after login.
  CHECK(table.lookup(s.id, t0() + 30min - 2ms));
  CHECK_FALSE(table.lookup(s.id, t0() + 45min - 2ms));
  CHECK(table.size() == 0);  // removed, not just hidden
  // Once gone, going back in time does not revive it.
  CHECK_FALSE(table.lookup(s.id, t0() + 31min));
}

TEST_CASE("12 hours after login a session ends however busy it is", "[web][sessions]") {
  SessionTable table;
  const Session s = must_create(table, "night.guard", Role::guard, t0());
  Instant now = t0();
  while (now + 10min < t0() + 12h) {
    now += 10min;
    REQUIRE(table.lookup(s.id, now));
  }
  CHECK(table.lookup(s.id, t0() + 12h - 1ms));
  CHECK_FALSE(table.lookup(s.id, t0() + 12h));
}

TEST_CASE("the lifetimes are configurable", "[web][sessions]") {
  SessionTable table(SessionLimits{5min, 1h, 10});
  const Session s = must_create(table, "night.guard", Role::guard, t0());
  CHECK(table.lookup(s.id, t0() + 4min));
  CHECK_FALSE(table.lookup(s.id, t0() + 9min));
  const Session u = must_create(table, "night.guard", Role::guard, t0());
  // Used every 4 minutes: never idle for 5, so only the absolute hour ends it.
  for (int i = 1; i <= 16; ++i) {
    INFO(i * 4 << " min");
    const bool alive = table.lookup(u.id, t0() + i * 4min).has_value();
    CHECK(alive == (i * 4min < 1h));
  }
}

TEST_CASE("expire() sweeps ended sessions", "[web][sessions]") {
  SessionTable table;
  const Session a = must_create(table, "a", Role::guard, t0());
  const Session b = must_create(table, "b", Role::guard, t0() + 10min);
  CHECK(table.expire(t0() + 20min) == 1);
  CHECK(table.size() == 1);
  CHECK_FALSE(table.lookup(a.id, t0() + 20min));
  CHECK(table.lookup(b.id, t0() + 20min));
}

TEST_CASE("CSRF tokens are checked exactly", "[web][sessions]") {
  SessionTable table;
  const Session a = must_create(table, "a", Role::guard, t0());
  const Session b = must_create(table, "b", Role::guard, t0());
  CHECK(SessionTable::check_csrf(a, a.csrf_token));
  CHECK_FALSE(SessionTable::check_csrf(a, b.csrf_token));
  CHECK_FALSE(SessionTable::check_csrf(a, a.id));
  CHECK_FALSE(SessionTable::check_csrf(a, ""));
  CHECK_FALSE(SessionTable::check_csrf(a, a.csrf_token.substr(0, 42)));
  CHECK_FALSE(SessionTable::check_csrf(a, a.csrf_token + "x"));
  std::string flipped = a.csrf_token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  CHECK_FALSE(SessionTable::check_csrf(a, flipped));
  Session empty = a;
  empty.csrf_token.clear();
  CHECK_FALSE(SessionTable::check_csrf(empty, ""));
}

TEST_CASE("at most 1000 sessions: the least recently used is evicted", "[web][sessions]") {
  SessionTable table;
  REQUIRE(table.limits().max_sessions == 1000);
  std::vector<Session> all;
  for (int i = 0; i < 1000; ++i) all.push_back(must_create(table, "op" + std::to_string(i), Role::guard, t0(i)));
  CHECK(table.size() == 1000);
  // The first session is in use; the second is now the least recently used.
  REQUIRE(table.lookup(all[0].id, t0(5000)));
  const Session extra = must_create(table, "late", Role::guard, t0(6000));
  CHECK(table.size() == 1000);
  CHECK(table.lookup(all[0].id, t0(7000)));
  CHECK_FALSE(table.lookup(all[1].id, t0(7000)));
  CHECK(table.lookup(all[2].id, t0(7000)));
  CHECK(table.lookup(extra.id, t0(7000)));
}

TEST_CASE("a full table drops expired sessions before evicting live ones", "[web][sessions]") {
  SessionTable table(SessionLimits{15min, 12h, 3});
  const Session old = must_create(table, "old", Role::guard, t0());
  const Session a = must_create(table, "a", Role::guard, t0() + 10min);
  const Session b = must_create(table, "b", Role::guard, t0() + 11min);
  const Session c = must_create(table, "c", Role::guard, t0() + 16min);  // `old` is idle by now
  CHECK(table.size() == 3);
  CHECK(table.lookup(a.id, t0() + 17min));
  CHECK(table.lookup(b.id, t0() + 17min));
  CHECK(table.lookup(c.id, t0() + 17min));
  CHECK_FALSE(table.lookup(old.id, t0() + 17min));
}

TEST_CASE("logout and operator-wide ends", "[web][sessions]") {
  SessionTable table;
  const Session a1 = must_create(table, "alice", Role::admin, t0());
  const Session a2 = must_create(table, "alice", Role::admin, t0());
  const Session b = must_create(table, "bob", Role::guard, t0());
  CHECK(table.destroy(a1.id));
  CHECK_FALSE(table.destroy(a1.id));
  CHECK_FALSE(table.lookup(a1.id, t0(1)));
  CHECK(table.lookup(a2.id, t0(1)));
  CHECK(table.destroy_operator("alice") == 1);
  CHECK_FALSE(table.lookup(a2.id, t0(2)));
  CHECK(table.lookup(b.id, t0(2)));
}

TEST_CASE("cookie strings", "[web][sessions]") {
  CHECK(session_cookie("abc_-123") == "zg_session=abc_-123; Path=/; Secure; HttpOnly; SameSite=Strict");
  const std::string gone = expired_session_cookie();
  CHECK(gone.rfind("zg_session=;", 0) == 0);
  CHECK(gone.find("Max-Age=0") != std::string::npos);
  CHECK(gone.find("Expires=Thu, 01 Jan 1970 00:00:00 GMT") != std::string::npos);
  for (const char* attr : {"Path=/", "Secure", "HttpOnly", "SameSite=Strict"}) {
    INFO(attr);
    CHECK(gone.find(attr) != std::string::npos);
  }
}

TEST_CASE("peek finds a session without restarting its idle timer", "[web][sessions]") {
  SessionTable table;
  const Session s = must_create(table, "night.guard", Role::guard, t0());
  // Background refreshes every few minutes do not keep an unattended console logged in.
  for (auto t = 3min; t < 15min; t += 3min) {
    const auto found = table.peek(s.id, t0() + t);
    REQUIRE(found);
    CHECK(found->last_seen == t0());
  }
  CHECK_FALSE(table.peek(s.id, t0() + 15min));
  CHECK(table.size() == 0);

  // A foreground lookup does restart it; a later peek sees that.
  const Session u = must_create(table, "night.guard", Role::guard, t0());
  REQUIRE(table.lookup(u.id, t0() + 10min));
  CHECK(table.peek(u.id, t0() + 24min));
  CHECK_FALSE(table.peek(u.id, t0() + 25min));
  CHECK_FALSE(table.peek("", t0()));
  CHECK_FALSE(table.peek(u.csrf_token, t0()));
}

TEST_CASE("the end observer hears of every session that expires or is evicted, and why", "[web][sessions]") {
  SessionTable table(SessionLimits{15min, 1h, 3});
  std::vector<std::pair<std::string, SessionEnd>> ended;
  table.set_end_observer([&](const Session& s, SessionEnd why) {
    ended.emplace_back(s.operator_name, why);
    CHECK_FALSE(s.id.empty());
  });
  const Session idle = must_create(table, "idle", Role::guard, t0());
  const Session busy = must_create(table, "busy", Role::guard, t0());
  const Session bye = must_create(table, "bye", Role::guard, t0());
  // Logout and operator-wide ends are the caller's doing: not reported.
  CHECK(table.destroy(bye.id));
  CHECK(ended.empty());
  for (auto t = 10min; t < 1h; t += 10min) REQUIRE(table.lookup(busy.id, t0() + t));
  // The sweep finds the idle one; the busy one ends at the absolute hour.
  CHECK(table.expire(t0() + 20min) == 1);
  REQUIRE(ended.size() == 1);
  CHECK(ended[0] == std::pair<std::string, SessionEnd>{"idle", SessionEnd::idle});
  CHECK_FALSE(table.lookup(busy.id, t0() + 1h));
  REQUIRE(ended.size() == 2);
  CHECK(ended[1] == std::pair<std::string, SessionEnd>{"busy", SessionEnd::absolute});
  CHECK(table.size() == 0);
  CHECK(table.expire(t0() + 2h) == 0);
  CHECK(ended.size() == 2);  // reported once

  // A full table evicts the least recently used live session, and says so.
  const Session a = must_create(table, "a", Role::guard, t0() + 2h);
  const Session b = must_create(table, "b", Role::guard, t0() + 2h + 1min);
  const Session c = must_create(table, "c", Role::guard, t0() + 2h + 2min);
  must_create(table, "d", Role::guard, t0() + 2h + 3min);
  REQUIRE(ended.size() == 3);
  CHECK(ended[2] == std::pair<std::string, SessionEnd>{"a", SessionEnd::evicted});
  CHECK_FALSE(table.peek(a.id, t0() + 2h + 3min));
  CHECK(table.peek(b.id, t0() + 2h + 3min));
  CHECK(table.peek(c.id, t0() + 2h + 3min));
  CHECK(to_string(SessionEnd::idle) == "idle");
  CHECK(to_string(SessionEnd::absolute) == "absolute");
  CHECK(to_string(SessionEnd::evicted) == "evicted");
}
