// SPDX-License-Identifier: Apache-2.0
// The scenario runner on inline scenario text against the real zones.yaml and the real engine.
#include "zonegate/scenario.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "zonegate/commands.hpp"

using zonegate::cli::run_policy_test;
using zonegate::cli::run_scenario_text;
using zonegate::cli::RunTotals;
using zonegate::cli::totals_line;

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

const std::filesystem::path kRoot{ZONEGATE_SOURCE_DIR};

constexpr const char* kPeople = R"(site: zones.yaml
people:
  alice: {roles: [employee, db-operator], credential: desfire}
  bob:   {roles: [db-operator], credential: desfire}
  carol: {roles: [contractor], credential: uid, valid_until: 2026-12-31T23:59:59+09:00}
  dave:  {roles: [employee], credential: uid, revoked: true}
)";

struct Run {
  RunTotals totals;
  std::string output;
};

Run run(const std::string& scenarios) {
  std::ostringstream out;
  Run r;
  r.totals = run_scenario_text(std::string(kPeople) + scenarios, "inline.yaml", kRoot, out);
  r.output = out.str();
  return r;
}

/// The last line of `text`, which must end with a newline.
std::string last_line(const std::string& text) {
  REQUIRE(text.size() >= 2);
  REQUIRE(text.back() == '\n');
  const std::string body = text.substr(0, text.size() - 1);
  const auto newline = body.rfind('\n');
  return newline == std::string::npos ? body : body.substr(newline + 1);
}

Run run_raw(const std::string& text) {
  std::ostringstream out;
  Run r;
  r.totals = run_scenario_text(text, "inline.yaml", kRoot, out);
  r.output = out.str();
  return r;
}

constexpr const char* kPassing = R"(scenarios:
  - name: operator enters db-view after a clear screening
    start: 2026-12-01T09:00:00+09:00
    where: {alice: office}
    steps:
      - {badge: alice, door: view-door, dir: in, expect: {decision: pending, reason: screening}}
      - {after: 4s, gate: view-gate, signal: clear, expect: {decision: grant, reason: ok, unlocked: [view-door]}}
      - {door: view-door, sensor: open}
      - {door: view-door, sensor: closed, expect: {where: {alice: db-view}, occupancy: {db-view: 1, office: 1}}}
      - {after: 60s, expect: {alarms: [], unlocked: [], held: []}}
)";

}  // namespace

TEST_CASE("a passing scenario counts as passed", "[cli][scenario]") {
  const Run r = run(kPassing);
  INFO(r.output);
  CHECK(r.totals.passed == 1);
  CHECK(r.totals.failed == 0);
  CHECK_THAT(r.output, Catch::Contains("ok   inline.yaml: operator enters db-view after a clear screening"));
  CHECK_THAT(r.output, !Catch::Contains("FAIL"));
}

TEST_CASE("a wrong expectation fails and names step, expectation and actual value", "[cli][scenario]") {
  const Run r = run(R"(scenarios:
  - name: screening too late
    start: 2026-12-01T09:00:00+09:00
    where: {alice: office}
    steps:
      - {badge: alice, door: view-door, dir: in, expect: {decision: pending}}
      - {after: 20s, gate: view-gate, signal: clear, expect: {decision: grant, unlocked: [view-door]}}
      - {after: 1s, expect: {where: {alice: db-view}, occupancy: {db-view: 1}, alarms: [door_forced]}}
      - {after: 1s, expect: {decision: grant}}
      - {badge: mallory, door: lobby, dir: in, expect: {decision: grant}}
)");
  INFO(r.output);
  CHECK(r.totals.passed == 0);
  CHECK(r.totals.failed == 1);
  CHECK_THAT(r.output, Catch::Contains("FAIL inline.yaml: screening too late"));
  CHECK_THAT(r.output, Catch::Contains("  step 2 {after: 20s, gate: view-gate, signal: clear}: expected decision "
                                       "grant, got deny (screening_timeout)"));
  CHECK_THAT(r.output, Catch::Contains("  step 2 {after: 20s, gate: view-gate, signal: clear}: expected unlocked "
                                       "[view-door], got []"));
  CHECK_THAT(r.output, Catch::Contains("  step 3 {after: 1s}: expected where alice: db-view, got office"));
  CHECK_THAT(r.output, Catch::Contains("  step 3 {after: 1s}: expected occupancy db-view: 1, got 0"));
  CHECK_THAT(r.output, Catch::Contains("  step 3 {after: 1s}: expected alarms [door_forced], got []"));
  CHECK_THAT(r.output, Catch::Contains("  step 4 {after: 1s}: expected decision grant, got no decision"));
  CHECK_THAT(r.output, Catch::Contains("  step 5 {badge: mallory, door: lobby, dir: in}: expected decision grant, "
                                       "got deny (unknown_badge)"));
  // Step 1 met its expectation and is not listed.
  CHECK_THAT(r.output, !Catch::Contains("step 1 "));
}

TEST_CASE("a reason mismatch alone is reported", "[cli][scenario]") {
  const Run r = run(R"(scenarios:
  - name: revoked badge
    start: 2026-12-01T09:00:00+09:00
    steps:
      - {badge: dave, door: lobby, dir: in, expect: {reason: expired}}
      - {badge: dave, door: lobby, dir: in, expect: {decision: deny, reason: revoked}}
)");
  INFO(r.output);
  CHECK(r.totals.failed == 1);
  CHECK_THAT(r.output, Catch::Contains("step 1 {badge: dave, door: lobby, dir: in}: expected reason expired, got "
                                       "deny (revoked)"));
  CHECK_THAT(r.output, !Catch::Contains("step 2"));
}

TEST_CASE("badge step options reach the engine", "[cli][scenario]") {
  // carol's card is UID-only: refused at the DESFire door whatever her clearance; asserting a
  // DESFire login that failed is refused as well.
  const Run r = run(R"(scenarios:
  - name: credentials
    start: 2026-12-01T09:00:00+09:00
    where: {carol: office, alice: office}
    steps:
      - {badge: carol, door: view-door, dir: in, expect: {decision: deny, reason: weak_credential}}
      - {badge: alice, door: view-door, dir: in, credential: uid, expect: {decision: deny, reason: weak_credential}}
      - {badge: alice, door: view-door, dir: in, auth: failed, expect: {decision: deny}}
)");
  INFO(r.output);
  CHECK(r.totals.passed == 1);
  CHECK(r.totals.failed == 0);
}

TEST_CASE("scenarios run on a fresh engine each", "[cli][scenario]") {
  const Run r = run(R"(scenarios:
  - name: first moves alice
    start: 2026-12-01T09:00:00+09:00
    steps:
      - {badge: alice, door: lobby, dir: in, expect: {decision: grant}}
      - {door: lobby, sensor: open}
      - {door: lobby, sensor: closed, expect: {where: {alice: office}}}
  - name: second starts from scratch
    start: 2026-12-01T09:00:00+09:00
    steps:
      - {after: 1s, expect: {where: {alice: outside}, occupancy: {office: 0}}}
)");
  INFO(r.output);
  CHECK(r.totals.passed == 2);
  CHECK(r.totals.failed == 0);
}

TEST_CASE("malformed scenario files give file:line:col errors", "[cli][scenario]") {
  SECTION("unknown key") {
    const Run r = run(R"(scenarios:
  - name: x
    start: 2026-12-01T09:00:00+09:00
    steps:
      - {badge: alice, door: lobby, dir: in, colour: red}
)");
    CHECK(r.totals.failed == 1);
    CHECK(r.totals.passed == 0);
    CHECK_THAT(r.output, Catch::Contains("inline.yaml:11:46: scenarios[0].steps[0].colour: unknown key"));
    CHECK_THAT(r.output, Catch::Contains("FAIL inline.yaml: not run"));
  }
  SECTION("unknown door") {
    const Run r = run(R"(scenarios:
  - name: x
    start: 2026-12-01T09:00:00+09:00
    steps:
      - {badge: alice, door: back-door, dir: in}
)");
    CHECK(r.totals.failed == 1);
    CHECK_THAT(r.output, Catch::Contains("inline.yaml:11:30: scenarios[0].steps[0].door: unknown door 'back-door'"));
  }
  SECTION("bad duration") {
    const Run r = run(R"(scenarios:
  - name: x
    start: 2026-12-01T09:00:00+09:00
    steps:
      - {after: 4 s}
)");
    CHECK(r.totals.failed == 1);
    CHECK_THAT(r.output, Catch::Contains("inline.yaml:11:17: scenarios[0].steps[0].after: invalid duration '4 s'"));
  }
  SECTION("bad time") {
    const Run r = run(R"(scenarios:
  - name: x
    start: 2026-02-30T09:00:00+09:00
    steps:
      - {after: 4s}
)");
    CHECK(r.totals.failed == 1);
    CHECK_THAT(r.output,
               Catch::Contains("inline.yaml:9:12: scenarios[0].start: invalid time '2026-02-30T09:00:00+09:00'"));
  }
  SECTION("unknown names of every kind are reported together") {
    const Run r = run(R"(scenarios:
  - name: x
    start: 2026-12-01T09:00:00+09:00
    where: {zed: office, alice: attic}
    steps:
      - {gate: side-gate, signal: clear}
      - {after: 1s, expect: {reason: bad_luck, alarms: [smoke], held: [zed]}}
)");
    CHECK(r.totals.failed == 1);
    for (const char* needle : {"inline.yaml:10:13: scenarios[0].where.zed: unknown person 'zed'",
                               "inline.yaml:10:33: scenarios[0].where.alice: unknown zone 'attic'",
                               "inline.yaml:12:16: scenarios[0].steps[0].gate: unknown gate 'side-gate'",
                               "inline.yaml:13:38: scenarios[0].steps[1].expect.reason: unknown reason 'bad_luck'",
                               "inline.yaml:13:57: scenarios[0].steps[1].expect.alarms[0]: unknown alarm kind 'smoke'",
                               "inline.yaml:13:72: scenarios[0].steps[1].expect.held[0]: unknown person 'zed'"}) {
      INFO(r.output);
      CHECK_THAT(r.output, Catch::Contains(needle));
    }
  }
  SECTION("unknown role in people") {
    const Run r = run_raw(R"(site: zones.yaml
people:
  eve: {roles: [janitor], credential: uid}
scenarios:
  - {name: x, start: 2026-12-01T09:00:00+09:00, steps: [{after: 1s}]}
)");
    CHECK(r.totals.failed == 1);
    CHECK_THAT(r.output, Catch::Contains("inline.yaml:3:17: people.eve.roles[0]: unknown role 'janitor'"));
  }
  SECTION("two inputs in one step") {
    const Run r = run(R"(scenarios:
  - name: x
    start: 2026-12-01T09:00:00+09:00
    steps:
      - {gate: view-gate, signal: clear, rex: lobby}
)");
    CHECK_THAT(r.output, Catch::Contains("inline.yaml:11:47: scenarios[0].steps[0].rex: a step has one input"));
  }
  SECTION("YAML syntax error") {
    const Run r = run_raw("site: zones.yaml\nscenarios: [\n");
    CHECK(r.totals.failed == 1);
    CHECK_THAT(r.output, Catch::Contains("inline.yaml:3:1: YAML syntax error"));
  }
  SECTION("missing or broken site") {
    const Run r = run_raw(
        "site: no-such-zones.yaml\nscenarios: [{name: x, start: 2026-12-01T09:00:00Z, steps: [{after: 1s}]}]\n");
    CHECK(r.totals.failed == 1);
    CHECK_THAT(r.output, Catch::Contains("inline.yaml:1:7: site: cannot load the site"));
  }
}

TEST_CASE("policy test prints the totals as its last line", "[cli][scenario]") {
  const TempDir tmp("zonegate-scenario-test");
  const auto& dir = tmp.path;
  const std::string site = (kRoot / "zones.yaml").string();
  // The same people as kPeople, with the site given as an absolute path.
  const std::string people = std::string(kPeople).substr(std::string(kPeople).find('\n') + 1);
  const auto write = [&](const std::string& name, const std::string& body) {
    std::ofstream(dir / name) << "site: " << site << "\n" << people << body;
    return (dir / name).string();
  };
  const std::string pass = write("pass.yaml", kPassing);
  const std::string fail = write("fail.yaml", R"(scenarios:
  - name: wrong
    start: 2026-12-01T09:00:00+09:00
    steps:
      - {badge: dave, door: lobby, dir: in, expect: {decision: grant}}
)");

  std::ostringstream out;
  std::ostringstream err;
  CHECK(run_policy_test({pass}, out, err) == 0);
  CHECK(last_line(out.str()) == "1 passed, 0 failed");

  out.str("");
  CHECK(run_policy_test({pass, fail, pass}, out, err) == 1);
  INFO(out.str());
  CHECK(last_line(out.str()) == "2 passed, 1 failed");

  out.str("");
  CHECK(run_policy_test({(dir / "missing.yaml").string()}, out, err) == 1);
  CHECK(last_line(out.str()) == "0 passed, 1 failed");

  CHECK(run_policy_test({}, out, err) == 2);
  CHECK(totals_line(RunTotals{3, 0}) == "3 passed, 0 failed");
}
