// SPDX-License-Identifier: Apache-2.0
// The JSON API through a real TLS client: login and lockout, CSRF, session expiry, the role matrix
// on every route (with the audit record of each refusal), bad bodies and hostile search terms.
#include <catch2/catch.hpp>

#include "adapters/web/roles.hpp"
#include "https_fixture.hpp"

namespace {

using namespace zg_test;

struct RouteCase {
  http::verb method;
  std::string target;
  json body;
  web::Action action;
};

/// One request per route of the contract, with a body that passes validation.
std::vector<RouteCase> all_routes() {
  return {
      {http::verb::get, "/api/v1/alarms", {}, web::Action::view_alarms},
      {http::verb::post, "/api/v1/alarms/1/ack", {{"note", "seen on camera"}}, web::Action::ack_alarm},
      {http::verb::get, "/api/v1/doors", {}, web::Action::view_doors},
      {http::verb::post, "/api/v1/doors/lobby/unlock", {{"reason", "courier"}}, web::Action::unlock_door},
      {http::verb::post, "/api/v1/held/release", {{"door", "lobby"}, {"note", "cleared"}}, web::Action::release_held},
      {http::verb::post, "/api/v1/lockdown", {{"reason", "drill"}}, web::Action::lockdown},
      {http::verb::post, "/api/v1/lockdown/lift", {{"reason", "drill over"}}, web::Action::lift_lockdown},
      {http::verb::get, "/api/v1/occupancy", {}, web::Action::view_occupancy},
      {http::verb::get, "/api/v1/audit?limit=5", {}, web::Action::view_audit},
      {http::verb::get, "/api/v1/audit/export?format=csv", {}, web::Action::export_audit},
      {http::verb::get, "/api/v1/audit/verify", {}, web::Action::verify_audit},
      {http::verb::get, "/api/v1/stats/entries.svg", {}, web::Action::view_audit},
      {http::verb::get, "/api/v1/stats/denials.svg", {}, web::Action::view_audit},
      {http::verb::get, "/api/v1/people", {}, web::Action::view_people},
      {http::verb::post,
       "/api/v1/people",
       {{"id", "p-new"}, {"name", "New"}, {"roles", json::array()}},
       web::Action::manage_people},
      {http::verb::get, "/api/v1/badges", {}, web::Action::view_people},
      {http::verb::post, "/api/v1/badges", {{"uid", "04A1B2C3"}, {"person", "p-new"}}, web::Action::manage_badges},
      {http::verb::patch,
       "/api/v1/badges/04A1B2C3",
       {{"valid_until", "2027-01-01T00:00:00Z"}},
       web::Action::manage_badges},
      {http::verb::post, "/api/v1/badges/04A1B2C3/revoke", {{"reason", "lost"}}, web::Action::manage_badges},
      {http::verb::get, "/api/v1/operators", {}, web::Action::manage_operators},
      {http::verb::post,
       "/api/v1/operators",
       {{"name", "guard2"}, {"role", "guard"}, {"password", kPassword}},
       web::Action::manage_operators},
      {http::verb::post, "/api/v1/operators/guard2/disable", json::object(), web::Action::manage_operators},
      {http::verb::post, "/api/v1/operators/guard2/enable", json::object(), web::Action::manage_operators},
  };
}

Response call(Client& c, const RouteCase& r) {
  if (r.method == http::verb::get) return c.get(r.target);
  return c.act(r.method, r.target, r.body);
}

}  // namespace

TEST_CASE("login: right password, wrong password, lockout", "[web][api]") {
  Server server;
  Client client(server);

  SECTION("a good login sets a strict session cookie and returns the CSRF token") {
    const auto res = client.login("guard1");
    REQUIRE(res.result() == http::status::ok);
    const std::string set(res[http::field::set_cookie]);
    CHECK(set.rfind("zg_session=", 0) == 0);
    for (const char* attr : {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"}) {
      CHECK(set.find(attr) != std::string::npos);
    }
    const json body = body_json(res);
    CHECK(body["operator"] == "guard1");
    CHECK(body["role"] == "guard");
    CHECK(body["idle_timeout_s"] == 60);
    CHECK(body["csrf"].get<std::string>().size() >= 32);
    const auto again = client.get("/api/v1/session");
    CHECK(again.result() == http::status::ok);
    CHECK(body_json(again)["csrf"] == body["csrf"]);
    CHECK(server.site->count_records("console:guard1", "login") == 1);
  }

  SECTION("a wrong password is 401 and audited; the third failure locks the account") {
    for (int i = 0; i < 2; ++i) {
      const auto bad = client.login("guard1", "not-the-password!");
      CHECK(bad.result() == http::status::unauthorized);
      CHECK(body_json(bad)["error"] == "bad_credentials");
      CHECK(bad[http::field::set_cookie].empty());
    }
    CHECK(server.site->count_records("console:guard1", "login_failed") == 2);
    const auto third = client.login("guard1", "not-the-password!");
    CHECK(third.result() == http::status::locked);
    const auto locked = client.login("guard1");  // right password, but locked
    CHECK(locked.result() == http::status::locked);
    CHECK(body_json(locked)["error"] == "locked");
    CHECK(client.cookie.empty());
    CHECK(server.site->count_records("console:guard1", "login_locked") == 2);
  }

  SECTION("an unknown operator is the same 401") {
    const auto res = client.login("nobody");
    CHECK(res.result() == http::status::unauthorized);
    CHECK(body_json(res)["error"] == "bad_credentials");
  }

  SECTION("logout ends the session") {
    REQUIRE(client.login("guard1").result() == http::status::ok);
    const auto out = client.act(http::verb::delete_, "/api/v1/session");
    CHECK(out.result() == http::status::no_content);
    CHECK(client.get("/api/v1/alarms").result() == http::status::unauthorized);
    CHECK(server.site->count_records("console:guard1", "logout") == 1);
  }
}

TEST_CASE("a state change without the right CSRF token is 403 and changes nothing", "[web][api]") {
  Server server;
  Client client(server);
  REQUIRE(client.login("guard1").result() == http::status::ok);
  const std::string body = json{{"reason", "drill"}}.dump();

  const auto missing = client.request(http::verb::post, "/api/v1/lockdown", body);
  CHECK(missing.result() == http::status::forbidden);
  CHECK(body_json(missing)["error"] == "csrf");
  const auto wrong = client.request(http::verb::post, "/api/v1/lockdown", body, client.csrf + "x");
  CHECK(wrong.result() == http::status::forbidden);
  const auto logout = client.request(http::verb::delete_, "/api/v1/session", {}, "nope");
  CHECK(logout.result() == http::status::forbidden);
  CHECK(server.site->lockdowns == 0);
  CHECK(client.get("/api/v1/alarms").result() == http::status::ok);  // still logged in

  // A foreign Origin is refused even with the token.
  auto s = client.connect();
  http::request<http::string_body> req{http::verb::post, "/api/v1/lockdown", 11};
  req.set(http::field::content_type, "application/json");
  req.set("X-CSRF-Token", client.csrf);
  req.set(http::field::origin, "https://evil.example");
  req.body() = body;
  CHECK(client.send(*s, req).result() == http::status::forbidden);
  CHECK(server.site->lockdowns == 0);

  const auto ok = client.request(http::verb::post, "/api/v1/lockdown", body, client.csrf);
  CHECK(ok.result() == http::status::ok);
  CHECK(server.site->lockdowns == 1);
}

TEST_CASE("an idle session expires: 401 session_expired", "[web][api]") {
  Server server;  // idle timeout 60 s
  Client client(server);
  REQUIRE(client.login("guard1").result() == http::status::ok);
  server.clock.advance(59s);
  CHECK(client.get("/api/v1/alarms").result() == http::status::ok);  // use restarts the idle timer
  server.clock.advance(59s);
  CHECK(client.get("/api/v1/alarms").result() == http::status::ok);
  server.clock.advance(61s);
  const auto res = client.get("/api/v1/alarms");
  CHECK(res.result() == http::status::unauthorized);
  CHECK(body_json(res)["error"] == "session_expired");
  const auto act = client.act(http::verb::post, "/api/v1/lockdown", {{"reason", "x"}});
  CHECK(act.result() == http::status::unauthorized);
  CHECK(server.site->lockdowns == 0);
}

TEST_CASE("no route answers without a session", "[web][api]") {
  Server server;
  Client client(server);
  for (const auto& r : all_routes()) {
    INFO(r.target);
    const auto res =
        r.method == http::verb::get ? client.get(r.target) : client.request(r.method, r.target, r.body.dump(), "x");
    CHECK(res.result() == http::status::unauthorized);
  }
  CHECK(server.site->actions == 0);
}

TEST_CASE("the role matrix holds on every route, and each refusal is audited", "[web][api]") {
  Server server;
  server.site->add_alarm(1);
  for (const auto& [name, role] : {std::pair<const char*, web::Role>{"guard1", web::Role::guard},
                                   {"auditor1", web::Role::auditor},
                                   {"admin1", web::Role::admin}}) {
    Client client(server);
    REQUIRE(client.login(name).result() == http::status::ok);
    for (const auto& r : all_routes()) {
      const auto res = call(client, r);
      INFO(name << " " << http::to_string(r.method) << " " << r.target << " -> " << res.result_int() << " "
                << res.body());
      if (web::allowed(role, r.action)) {
        CHECK(res.result() != http::status::forbidden);
        CHECK(res.result() != http::status::unauthorized);
        CHECK(res.result_int() < 400);
      } else {
        CHECK(res.result() == http::status::forbidden);
        CHECK(body_json(res)["error"] == "forbidden");
      }
    }
  }
  // Every refusal left a "denied" record naming the operator and the route.
  std::size_t denied = 0;
  for (const auto& [name, role] : {std::pair<const char*, web::Role>{"guard1", web::Role::guard},
                                   {"auditor1", web::Role::auditor},
                                   {"admin1", web::Role::admin}}) {
    std::size_t expect = 0;
    for (const auto& r : all_routes()) expect += web::allowed(role, r.action) ? 0 : 1;
    CHECK(server.site->count_records(std::string("console:") + name, "denied") == expect);
    denied += expect;
  }
  CHECK(denied > 0);
}

TEST_CASE("a guard cannot export and an auditor cannot unlock: 403 and an audit record", "[web][api]") {
  Server server;
  Client guard(server);
  Client auditor(server);
  REQUIRE(guard.login("guard1").result() == http::status::ok);
  REQUIRE(auditor.login("auditor1").result() == http::status::ok);

  CHECK(guard.get("/api/v1/audit/export?format=csv").result() == http::status::forbidden);
  CHECK(auditor.act(http::verb::post, "/api/v1/doors/lobby/unlock", {{"reason", "let me in"}}).result() ==
        http::status::forbidden);
  CHECK(server.site->unlocks == 0);

  // The auditor finds both refusals in the trail.
  const auto rows = auditor.get("/api/v1/audit?kind=operator&limit=500");
  REQUIRE(rows.result() == http::status::ok);
  const json listed = body_json(rows);
  bool guard_denied = false;
  bool auditor_denied = false;
  for (const auto& r : listed["rows"]) {
    if (r["event"] != "denied") continue;
    const std::string detail = r["detail"];
    if (r["person"] == "console:guard1" && detail.find("/api/v1/audit/export") != std::string::npos) {
      guard_denied = true;
    }
    if (r["person"] == "console:auditor1" && detail.find("/unlock") != std::string::npos) auditor_denied = true;
  }
  CHECK(guard_denied);
  CHECK(auditor_denied);
}

TEST_CASE("invalid JSON, wrong content type and missing fields are 4xx and change nothing", "[web][api]") {
  Server server;
  Client client(server);
  REQUIRE(client.login("guard1").result() == http::status::ok);
  for (const std::string& body : {std::string("{bad"), std::string("[1,2]"), std::string("\"text\""),
                                  std::string(100, '[') + std::string(100, ']'), std::string("{\"reason\": 5}"),
                                  std::string("{}"), std::string("{\"reason\": \"\"}")}) {
    INFO(body);
    const auto res = client.request(http::verb::post, "/api/v1/lockdown", body, client.csrf);
    CHECK(res.result() == http::status::bad_request);
  }
  const auto ct = client.request(http::verb::post, "/api/v1/lockdown", "reason=x", client.csrf, "text/plain");
  CHECK(ct.result() == http::status::unsupported_media_type);
  const auto bad_login = client.request(http::verb::post, "/api/v1/session", "{\"name\":");
  CHECK(bad_login.result() == http::status::bad_request);
  CHECK(server.site->lockdowns == 0);
  // Unknown routes and methods.
  CHECK(client.get("/api/v1/nothing").result() == http::status::not_found);
  const auto m = client.act(http::verb::put, "/api/v1/alarms");
  CHECK(m.result() == http::status::method_not_allowed);
  CHECK(m[http::field::allow] == "GET");
}

TEST_CASE("hostile search terms are only values: no error, no rows, nothing changed", "[web][api]") {
  Server server;
  Client auditor(server);
  REQUIRE(auditor.login("auditor1").result() == http::status::ok);
  const auto before = body_json(auditor.get("/api/v1/audit/verify"));
  REQUIRE(before["ok"] == true);
  for (const char* q : {"person=x%27%20OR%20%271%27%3D%271", "zone=%27%3B%20DROP%20TABLE%20records%3B--",
                        "door=%22%20OR%201%3D1%20--", "reason=%25", "verdict=grant%27--", "kind=*", "badge=%00%01"}) {
    INFO(q);
    const auto res = auditor.get(std::string("/api/v1/audit?") + q);
    CHECK(res.result() == http::status::ok);
    CHECK(body_json(res)["rows"].empty());
  }
  const auto after = body_json(auditor.get("/api/v1/audit/verify"));
  CHECK(after["ok"] == true);
  // Only the auditor's own login was added since.
  CHECK(after["last_seq"] == before["last_seq"]);
  // Malformed parameters are 400, never a server error.
  for (const char* q : {"limit=0", "limit=501", "limit=abc", "from=yesterday", "after=123", "nope=1",
                        "person=a&person=b", "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z"}) {
    INFO(q);
    CHECK(auditor.get(std::string("/api/v1/audit?") + q).result() == http::status::bad_request);
  }
}

TEST_CASE("audit search pages with an opaque cursor; export and charts", "[web][api]") {
  Server server;
  // Decisions at the sample site, appended before the server thread touches the store.
  const core::Policy& p = *server.cfg.policy;
  std::vector<core::Record> records;
  for (int i = 0; i < 7; ++i) {
    core::Decision d;
    d.at = kStart + std::chrono::minutes(10 * i);
    d.person = "p" + std::to_string(i);
    d.badge = "04A1B2C" + std::to_string(i);
    d.door = 0;
    d.dir = core::Direction::in;
    d.verdict = i % 3 == 0 ? core::Verdict::deny : core::Verdict::grant;
    d.reason = i % 3 == 0 ? core::Reason::outside_schedule : core::Reason::ok;
    records.emplace_back(d);
  }
  server.on_loop([&] { REQUIRE(server.audit_store->append(records, p)); });
  server.clock.set(kStart + 2h);

  Client auditor(server);
  REQUIRE(auditor.login("auditor1").result() == http::status::ok);
  std::vector<std::string> people;
  std::string next;
  for (int page = 0; page < 5; ++page) {
    const auto res =
        auditor.get("/api/v1/audit?kind=decision&limit=3" + (next.empty() ? std::string() : "&after=" + next));
    REQUIRE(res.result() == http::status::ok);
    const json body = body_json(res);
    for (const auto& r : body["rows"]) people.push_back(r["person"]);
    if (body["next"].is_null()) break;
    next = body["next"];
  }
  CHECK(people == std::vector<std::string>{"p0", "p1", "p2", "p3", "p4", "p5", "p6"});

  const auto csv = auditor.get("/api/v1/audit/export?format=csv&verdict=deny");
  REQUIRE(csv.result() == http::status::ok);
  CHECK(csv[http::field::content_type] == "text/csv; charset=utf-8");
  CHECK(std::string(csv[http::field::content_disposition]).rfind("attachment; filename=\"zonegate-audit-", 0) == 0);
  CHECK(csv.body().find("p0") != std::string::npos);
  CHECK(csv.body().find("p1") == std::string::npos);
  const auto jsonl = auditor.get("/api/v1/audit/export?format=jsonl&person=p4");
  REQUIRE(jsonl.result() == http::status::ok);
  CHECK(jsonl[http::field::content_type] == "application/x-ndjson");
  CHECK(json::parse(jsonl.body().substr(0, jsonl.body().find('\n')))["person"] == "p4");
  CHECK(server.site->count_records("console:auditor1", "export") == 2);
  CHECK(auditor.get("/api/v1/audit/export?format=xml").result() == http::status::bad_request);

  const auto verify = body_json(auditor.get("/api/v1/audit/verify"));
  CHECK(verify["ok"] == true);
  CHECK(verify["records_checked"].get<std::uint64_t>() >= 7);

  const auto entries = auditor.get("/api/v1/stats/entries.svg?from=2026-12-01T00:00:00Z&to=2026-12-01T06:00:00Z");
  REQUIRE(entries.result() == http::status::ok);
  CHECK(entries[http::field::content_type] == "image/svg+xml");
  const std::string zone = p.zones[p.doors[0].inner].id;
  CHECK(entries.body().find(zone + " (4)") != std::string::npos);  // 4 grants into that zone
  CHECK(entries.body().find("<script") == std::string::npos);
  const auto denials = auditor.get("/api/v1/stats/denials.svg?from=2026-12-01T00:00:00Z&to=2026-12-01T06:00:00Z");
  REQUIRE(denials.result() == http::status::ok);
  CHECK(denials.body().find("outside_schedule: 3") != std::string::npos);
  CHECK(auditor.get("/api/v1/stats/entries.svg?from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z").result() ==
        http::status::bad_request);
}

TEST_CASE("admin manages people, badges and operators; each change is audited", "[web][api]") {
  Server server;
  Client admin(server);
  REQUIRE(admin.login("admin1").result() == http::status::ok);
  const std::string role = server.cfg.policy->roles.front().id;
  CHECK(admin.act(http::verb::post, "/api/v1/people", {{"id", "ana"}, {"name", "Ana"}, {"roles", {role}}}).result() ==
        http::status::ok);
  CHECK(admin.act(http::verb::post, "/api/v1/people", {{"id", "bo"}, {"roles", {"no-such-role"}}}).result() ==
        http::status::bad_request);
  CHECK(admin.act(http::verb::post, "/api/v1/badges", {{"uid", "04:A2:2B:C1"}, {"person", "ana"}, {"kind", "uid"}})
            .result() == http::status::ok);
  CHECK(admin.act(http::verb::post, "/api/v1/badges", {{"uid", "04A22BC1"}, {"person", "ana"}}).result() ==
        http::status::conflict);
  const auto patched =
      admin.act(http::verb::patch, "/api/v1/badges/04A22BC1", {{"valid_until", "2027-06-30T00:00:00Z"}});
  REQUIRE(patched.result() == http::status::ok);
  CHECK(body_json(patched)["valid_until"] == "2027-06-30T00:00:00.000Z");
  CHECK(body_json(patched)["name"] == "Ana");
  const auto revoked = admin.act(http::verb::post, "/api/v1/badges/04A22BC1/revoke", {{"reason", "lost"}});
  REQUIRE(revoked.result() == http::status::ok);
  CHECK(body_json(revoked)["revoked"] == true);
  const auto people = body_json(admin.get("/api/v1/people"));
  REQUIRE(people["people"].size() == 1);
  CHECK(people["people"][0]["id"] == "ana");

  CHECK(admin.act(http::verb::post, "/api/v1/operators", {{"name", "g2"}, {"role", "guard"}, {"password", "short"}})
            .result() == http::status::bad_request);
  CHECK(admin.act(http::verb::post, "/api/v1/operators", {{"name", "g2"}, {"role", "guard"}, {"password", kPassword}})
            .result() == http::status::ok);
  Client g2(server);
  REQUIRE(g2.login("g2").result() == http::status::ok);
  CHECK(admin.act(http::verb::post, "/api/v1/operators/g2/disable").result() == http::status::ok);
  CHECK(g2.get("/api/v1/alarms").result() == http::status::unauthorized);  // logged out at once
  CHECK(g2.login("g2").result() == http::status::unauthorized);
  const auto ops = body_json(admin.get("/api/v1/operators"));
  CHECK(ops["operators"].size() == 4);

  for (const char* event :
       {"person_put", "badge_add", "badge_validity", "badge_revoke", "operator_add", "operator_disable"}) {
    INFO(event);
    CHECK(server.site->count_records("console:admin1", event) == 1);
  }
}

TEST_CASE("an operator disabled or given another role by the CLI loses the console session within seconds",
          "[web][api]") {
  Server server;
  Client guard(server);
  Client auditor(server);
  REQUIRE(guard.login("guard1").result() == http::status::ok);
  REQUIRE(auditor.login("auditor1").result() == http::status::ok);
  REQUIRE(guard.get("/api/v1/alarms").result() == http::status::ok);

  // What `zonegate operator disable` / `operator role` do: another handle on the same database.
  web::OperatorStoreOptions oo;
  oo.kdf.log2_n = 10;
  auto cli = web::OperatorStore::open(server.dir / "operators.db", oo);
  REQUIRE(cli);
  REQUIRE((*cli)->disable("guard1", kStart));
  REQUIRE((*cli)->set_role("auditor1", web::Role::guard, kStart));

  // The server polls the store every 2 s (real time); allow a few periods.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  http::status g = http::status::ok;
  http::status a = http::status::ok;
  while (std::chrono::steady_clock::now() < deadline && (g == http::status::ok || a == http::status::ok)) {
    std::this_thread::sleep_for(200ms);
    g = guard.get("/api/v1/alarms").result();
    a = auditor.get("/api/v1/audit?limit=1").result();
  }
  CHECK(g == http::status::unauthorized);
  CHECK(a == http::status::unauthorized);
  // The disabled operator cannot log in again; the other one logs in with the new role.
  CHECK(guard.login("guard1").result() != http::status::ok);
  REQUIRE(auditor.login("auditor1").result() == http::status::ok);
  CHECK(auditor.get("/api/v1/alarms").result() == http::status::ok);
}

TEST_CASE("people are listed from the people table: badgeless ones too, paged by id, with badge counts",
          "[web][api][people]") {
  Server server;
  Client admin(server);
  REQUIRE(admin.login("admin1").result() == http::status::ok);
  const std::string role = server.cfg.policy->roles.front().id;
  for (const char* id : {"dora", "ana", "cy", "bo"}) {
    REQUIRE(admin
                .act(http::verb::post, "/api/v1/people",
                     {{"id", id}, {"name", std::string("Name ") + id}, {"roles", {role}}})
                .result() == http::status::ok);
  }
  // Only ana holds badges: one active, one revoked.
  REQUIRE(admin.act(http::verb::post, "/api/v1/badges", {{"uid", "0A000001"}, {"person", "ana"}}).result() ==
          http::status::ok);
  REQUIRE(admin.act(http::verb::post, "/api/v1/badges", {{"uid", "0A000002"}, {"person", "ana"}}).result() ==
          http::status::ok);
  REQUIRE(admin.act(http::verb::post, "/api/v1/badges/0A000002/revoke", {{"reason", "lost"}}).result() ==
          http::status::ok);

  const auto first = admin.get("/api/v1/people?limit=3");
  REQUIRE(first.result() == http::status::ok);
  const json page1 = body_json(first);
  REQUIRE(page1["people"].size() == 3);
  CHECK(page1["people"][0]["id"] == "ana");
  CHECK(page1["people"][0]["name"] == "Name ana");
  CHECK(page1["people"][0]["roles"] == json::array({role}));
  CHECK(page1["people"][0]["badges"] == 2);
  CHECK(page1["people"][0]["active_badges"] == 1);
  CHECK(page1["people"][0]["updated_at"].is_string());
  CHECK(page1["people"][1]["id"] == "bo");
  CHECK(page1["people"][1]["badges"] == 0);  // no badge, still listed
  CHECK(page1["people"][2]["id"] == "cy");
  REQUIRE(page1["next"] == "cy");
  const json page2 = body_json(admin.get("/api/v1/people?limit=3&after=cy"));
  REQUIRE(page2["people"].size() == 1);
  CHECK(page2["people"][0]["id"] == "dora");
  CHECK(page2["next"].is_null());
  CHECK(admin.get("/api/v1/people?limit=0").result() == http::status::bad_request);
  CHECK(admin.get("/api/v1/people?limit=501").result() == http::status::bad_request);
}

TEST_CASE("PATCH of a badge's validity: one end or both, refusals change nothing, audited", "[web][api][people]") {
  Server server;
  Client admin(server);
  REQUIRE(admin.login("admin1").result() == http::status::ok);
  REQUIRE(admin.act(http::verb::post, "/api/v1/people", {{"id", "ana"}, {"name", "Ana"}}).result() == http::status::ok);
  REQUIRE(
      admin
          .act(http::verb::post, "/api/v1/badges",
               {{"uid", "04A22BC1"}, {"person", "ana"}, {"kind", "desfire"}, {"valid_from", "2026-12-01T00:00:00Z"}})
          .result() == http::status::ok);

  // Only the end is sent: the start is kept.
  const auto end =
      admin.act(http::verb::patch, "/api/v1/badges/04:a2:2b:c1", {{"valid_until", "2027-06-30T12:00:00Z"}});
  REQUIRE(end.result() == http::status::ok);
  CHECK(body_json(end)["valid_from"] == "2026-12-01T00:00:00.000Z");
  CHECK(body_json(end)["valid_until"] == "2027-06-30T12:00:00.000Z");
  CHECK(body_json(end)["kind"] == "desfire");
  CHECK(body_json(end)["person"] == "ana");

  // Refusals: unknown badge, end before start, nonsense — nothing changes, nothing is audited.
  const auto unknown =
      admin.act(http::verb::patch, "/api/v1/badges/0BADBAD0", {{"valid_until", "2027-01-01T00:00:00Z"}});
  CHECK(unknown.result() == http::status::not_found);
  CHECK(body_json(unknown)["error"] == "not_found");
  const auto reversed =
      admin.act(http::verb::patch, "/api/v1/badges/04A22BC1", {{"valid_from", "2027-07-01T00:00:00Z"}});
  CHECK(reversed.result() == http::status::bad_request);
  CHECK(admin.act(http::verb::patch, "/api/v1/badges/04A22BC1", {{"valid_until", 5}}).result() ==
        http::status::bad_request);
  CHECK(server.site->count_records("console:admin1", "badge_validity") == 1);
  auto info = server.creds->find("04A22BC1");
  REQUIRE(info);
  CHECK(info->badge.valid_until == core::Instant{std::chrono::sys_days{std::chrono::year{2027} / 6 / 30}} + 12h);

  // null clears an end; a revoked badge stays revoked.
  REQUIRE(admin.act(http::verb::post, "/api/v1/badges/04A22BC1/revoke", {{"reason", "lost"}}).result() ==
          http::status::ok);
  const auto cleared = admin.act(http::verb::patch, "/api/v1/badges/04A22BC1", {{"valid_from", nullptr}});
  REQUIRE(cleared.result() == http::status::ok);
  CHECK(body_json(cleared)["valid_from"].is_null());
  CHECK(body_json(cleared)["valid_until"] == "2027-06-30T12:00:00.000Z");
  CHECK(body_json(cleared)["revoked"] == true);
  CHECK(server.site->count_records("console:admin1", "badge_validity") == 2);
}

TEST_CASE("background requests do not keep a session alive; foreground ones do", "[web][api][sessions]") {
  Server server;  // idle timeout 60 s
  Client client(server);
  REQUIRE(client.login("guard1").result() == http::status::ok);
  const auto background = [&](const std::string& target) {
    auto s = client.connect();
    http::request<http::string_body> req{http::verb::get, target, 11};
    req.set("X-Zonegate-Background", "1");
    return client.send(*s, std::move(req));
  };
  server.clock.advance(40s);
  CHECK(background("/api/v1/doors").result() == http::status::ok);  // authenticated …
  server.clock.advance(15s);
  CHECK(background("/api/v1/session").result() == http::status::ok);
  server.clock.advance(4s);
  CHECK(background("/api/v1/alarms").result() == http::status::ok);
  server.clock.advance(2s);  // … but 61 s after the login, with only background requests since
  const auto gone = background("/api/v1/alarms");
  CHECK(gone.result() == http::status::unauthorized);
  CHECK(body_json(gone)["error"] == "session_expired");
  CHECK(client.get("/api/v1/alarms").result() == http::status::unauthorized);

  // The same timeline with one foreground request in it keeps the session.
  REQUIRE(client.login("guard1").result() == http::status::ok);
  server.clock.advance(40s);
  CHECK(client.get("/api/v1/doors").result() == http::status::ok);
  server.clock.advance(40s);
  CHECK(background("/api/v1/alarms").result() == http::status::ok);
  server.clock.advance(19s);
  CHECK(background("/api/v1/alarms").result() == http::status::ok);  // 59 s after the foreground one
  server.clock.advance(2s);
  CHECK(background("/api/v1/alarms").result() == http::status::unauthorized);
  // Each expired session left one record naming the operator.
  CHECK(server.site->count_records("console:guard1", "session_expired") == 2);
}

TEST_CASE("a live socket closes within seconds once its session idles out, and the end is audited",
          "[web][api][sessions][live]") {
  using Ws = websocket::stream<TlsStream>;
  Server server;  // idle timeout 60 s
  Client guard(server);
  Client other(server);
  REQUIRE(guard.login("guard1").result() == http::status::ok);
  REQUIRE(other.login("guard1").result() == http::status::ok);
  const auto open = [&](Client& c) {
    auto tls = c.connect();
    auto ws = std::make_unique<Ws>(std::move(*tls));
    ws->set_option(websocket::stream_base::decorator([&c](websocket::request_type& req) {
      req.set(http::field::cookie, c.cookie);
      req.set(http::field::origin, "https://" + c.host());
    }));
    REQUIRE(!await(c.ioc(), [&](auto h) { ws->async_handshake(c.host(), "/api/v1/live", h); }));
    beast::flat_buffer buf;
    REQUIRE(!await(c.ioc(), [&](auto h) { ws->async_read(buf, h); }));  // hello
    CHECK(beast::buffers_to_string(buf.data()).find("\"hello\"") != std::string::npos);
    return ws;
  };
  auto ws = open(guard);
  auto kept = open(other);

  // 50 s on, `other` is used in the foreground, `guard` only in the background.
  server.clock.advance(50s);
  REQUIRE(other.get("/api/v1/alarms").result() == http::status::ok);
  auto s = guard.connect();
  http::request<http::string_body> req{http::verb::get, "/api/v1/doors", 11};
  req.set("X-Zonegate-Background", "1");
  REQUIRE(guard.send(*s, std::move(req)).result() == http::status::ok);
  server.clock.advance(11s);  // guard's session: 61 s without use; other's: 11 s

  // No request comes: the server's sweep (every 2 s) ends the session and closes the socket.
  const auto t0 = std::chrono::steady_clock::now();
  beast::flat_buffer buf;
  const auto ec = await(
      guard.ioc(), [&](auto h) { ws->async_read(buf, h); }, 6000ms);
  CHECK(ec);
  CHECK(ec != beast::error::timeout);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(guard.get("/api/v1/alarms").result() == http::status::unauthorized);
  CHECK(server.site->count_records("console:guard1", "session_expired") == 1);
  bool named = false;
  for (const json& r : server.site->records()) {
    if (r["event"] == "session_expired") named = r["actor"] == "console:guard1" && r["detail"] == "idle for 60 s";
  }
  CHECK(named);

  // The other live socket is still open and still served.
  std::size_t clients = 0;
  server.on_loop([&] { clients = server.server->live_clients(); });
  CHECK(clients == 1);
  CHECK(other.get("/api/v1/alarms").result() == http::status::ok);
  server.on_loop([&] { server.server->broadcast(json{{"type", "doors"}}, web::Action::view_doors); });
  beast::flat_buffer msg;
  REQUIRE(!await(other.ioc(), [&](auto h) { kept->async_read(msg, h); }));
  CHECK(beast::buffers_to_string(msg.data()) == R"({"type":"doors"})");
}
