// SPDX-License-Identifier: Apache-2.0
// `policy who-can` on the real zones.yaml.
#include "zonegate/who_can.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "config/loader.hpp"
#include "zonegate/commands.hpp"
#include "zonegate/time_parse.hpp"

namespace cli = zonegate::cli;
namespace core = zonegate::core;

namespace {

/// A fresh directory under the system temp dir, unique per process, removed afterwards.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& stem)
      : path(std::filesystem::temp_directory_path() / (stem + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

const std::string kSite = std::string(ZONEGATE_SOURCE_DIR) + "/zones.yaml";

std::shared_ptr<const core::Policy> site() {
  static const auto loaded = zonegate::config::load_policy_file(kSite);
  REQUIRE(loaded.ok());
  return loaded.policy;
}

core::Instant at(const char* text) {
  auto t = cli::parse_time(text, &site()->time_zone, nullptr);
  REQUIRE(t);
  return *t;
}

const cli::WhoCanRow& row_for(const std::vector<cli::WhoCanRow>& rows, const std::string& subject) {
  for (const auto& r : rows) {
    if (r.subject == subject) return r;
  }
  FAIL("no row for " << subject);
  throw std::logic_error("unreachable");
}

std::vector<cli::WhoCanRow> by_role(const char* zone, const char* time) {
  const auto& p = *site();
  const auto z = p.zone_index(zone);
  REQUIRE(z);
  return cli::who_can(p, *z, at(time), cli::subjects_for_roles(p));
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

struct Cmd {
  int status;
  std::string out;
  std::string err;
};

Cmd who_can_cmd(std::vector<std::string> args) {
  std::ostringstream out;
  std::ostringstream err;
  const int status = cli::run_who_can(args, out, err);
  return {status, out.str(), err.str()};
}

}  // namespace

TEST_CASE("routes into a zone follow the doors from the root", "[cli][who-can]") {
  const auto& p = *site();
  const auto routes = cli::entry_routes(p, *p.zone_index("db-ops"));
  REQUIRE(routes.size() == 1);
  REQUIRE(routes[0].size() == 3);
  CHECK(p.doors[routes[0][0]].id == "lobby");
  CHECK(p.doors[routes[0][1]].id == "view-door");
  CHECK(p.doors[routes[0][2]].id == "ops-door");
  CHECK(cli::entry_routes(p, 0).empty());
}

TEST_CASE("weekday morning: a db-operator enters db-ops with screening and two-person", "[cli][who-can]") {
  const auto rows = by_role("db-ops", "2026-12-01T09:00+09:00");
  const auto& op = row_for(rows, "db-operator");
  CHECK(op.allowed);
  CHECK(has(op.conditions, "screening at view-gate"));
  CHECK(has(op.conditions, "screening at ops-gate"));
  CHECK(has(op.conditions, "two-person at ops-door"));
  CHECK(has(op.conditions, "desfire required"));
  const auto& contractor = row_for(rows, "contractor");
  CHECK_FALSE(contractor.allowed);
  CHECK(contractor.reason == core::Reason::no_clearance);
  CHECK(contractor.blocked_at == "ops-door");
  CHECK_FALSE(row_for(rows, "db-viewer").allowed);
  CHECK_FALSE(row_for(rows, "employee").allowed);
  CHECK(row_for(rows, "guard").allowed);
}

TEST_CASE("a contractor enters db-view only escorted by a db-operator", "[cli][who-can]") {
  const auto rows = by_role("db-view", "2026-12-01T09:00+09:00");
  const auto& c = row_for(rows, "contractor");
  CHECK(c.allowed);
  CHECK(has(c.conditions, "escort by db-operator at view-door"));
  CHECK(has(c.conditions, "screening at view-gate"));
  const auto& viewer = row_for(rows, "db-viewer");
  CHECK(viewer.allowed);
  for (const auto& cond : viewer.conditions) CHECK(cond.find("escort") == std::string::npos);
  CHECK_FALSE(row_for(rows, "employee").allowed);
}

TEST_CASE("evening: db-viewer is outside its schedule", "[cli][who-can]") {
  const auto rows = by_role("db-view", "2026-12-01T21:00+09:00");
  const auto& viewer = row_for(rows, "db-viewer");
  CHECK_FALSE(viewer.allowed);
  CHECK(viewer.reason == core::Reason::outside_schedule);
  CHECK(row_for(rows, "guard").allowed);
}

TEST_CASE("on a holiday only the guard can enter any zone", "[cli][who-can]") {
  for (const char* zone : {"office", "db-view", "db-ops"}) {
    for (const char* time : {"2027-01-01T00:00", "2027-01-01T10:00", "2027-01-01T23:59"}) {
      INFO(zone << " at " << time);
      for (const auto& r : by_role(zone, time)) {
        CHECK(r.allowed == (r.subject == "guard"));
        if (r.subject != "guard" && r.reason != core::Reason::no_clearance) {
          CHECK(r.reason == core::Reason::outside_schedule);
        }
      }
    }
  }
  // The day after the holidays (Monday 2027-01-04) is a normal working day.
  CHECK(row_for(by_role("office", "2027-01-04T10:00"), "employee").allowed);
}

TEST_CASE("who-can command: table, --all, people file, errors", "[cli][who-can]") {
  SECTION("per role, allowed rows only") {
    const Cmd c = who_can_cmd({"--zone", "db-ops", "--at", "2026-12-01T09:00:00+09:00", "--site", kSite});
    INFO(c.out << c.err);
    CHECK(c.status == 0);
    CHECK_THAT(c.out, Catch::Contains("who can enter db-ops at 2026-12-01T09:00:00+09:00"));
    CHECK_THAT(c.out, Catch::Contains("ROLE"));
    CHECK_THAT(c.out, Catch::Contains("db-operator  yes"));
    CHECK_THAT(c.out, Catch::Contains("two-person at ops-door"));
    CHECK_THAT(c.out, !Catch::Contains("contractor"));
  }
  SECTION("--all lists refusals with their reason") {
    const Cmd c = who_can_cmd({"--zone=db-ops", "--at=2026-12-01T09:00:00+09:00", "--site=" + kSite, "--all"});
    INFO(c.out << c.err);
    CHECK(c.status == 0);
    CHECK_THAT(c.out, Catch::Contains("contractor   no (no_clearance)"));
  }
  SECTION("people file (a scenario-style file)") {
    const TempDir dir("zonegate-who-can-test");
    const auto file = (dir.path / "people.yaml").string();
    std::ofstream(file) << "site: whatever.yaml\n"
                           "people:\n"
                           "  alice: {roles: [employee, db-operator], credential: desfire}\n"
                           "  carol: {roles: [contractor], credential: uid, valid_until: 2026-11-30T23:59:59}\n"
                           "  dave:  {roles: [employee], credential: uid, revoked: true}\n"
                           "  erin:  {roles: [db-viewer], credential: uid}\n"
                           "scenarios: []\n";
    const Cmd c =
        who_can_cmd({"--zone", "db-view", "--at", "2026-12-01T09:00", "--site", kSite, "--people", file, "--all"});
    INFO(c.out << c.err);
    CHECK(c.status == 0);
    CHECK_THAT(c.out, Catch::Contains("PERSON"));
    CHECK_THAT(c.out, Catch::Contains("alice   employee,db-operator  yes"));
    CHECK_THAT(c.out, Catch::Contains("no (expired)"));
    CHECK_THAT(c.out, Catch::Contains("no (revoked)"));
    CHECK_THAT(c.out, Catch::Contains("no (weak_credential)"));
  }
  SECTION("usage errors exit 2") {
    CHECK(who_can_cmd({"--zone", "db-ops", "--site", kSite}).status == 2);
    CHECK(who_can_cmd({"--at", "2026-12-01T09:00Z", "--site", kSite}).status == 2);
    CHECK(who_can_cmd({"--zone", "db-ops", "--at"}).status == 2);
    CHECK(who_can_cmd({"--zone", "db-ops", "--at", "2026-12-01T09:00Z", "--bogus"}).status == 2);
    const Cmd unknown_zone = who_can_cmd({"--zone", "vault", "--at", "2026-12-01T09:00Z", "--site", kSite});
    CHECK(unknown_zone.status == 2);
    CHECK_THAT(unknown_zone.err, Catch::Contains("unknown zone 'vault'"));
    const Cmd bad_time = who_can_cmd({"--zone", "office", "--at", "tomorrow", "--site", kSite});
    CHECK(bad_time.status == 2);
    CHECK_THAT(bad_time.err, Catch::Contains("invalid time 'tomorrow'"));
  }
}
