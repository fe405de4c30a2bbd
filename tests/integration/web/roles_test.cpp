// SPDX-License-Identifier: Apache-2.0
// The role matrix: every action for every role against the intended matrix, written here from
// issue 5 independently of the implementation's table, and the documentation's copy of it.
#include "adapters/web/roles.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

using namespace zonegate::adapters::web;

namespace {

// guard: alarms, doors, occupancy and the actions on them; auditor: the trail, read-only;
// admin: people, badges, operators — and nothing else (docs/console.md gives the reasons).
const std::map<std::string, std::set<std::string>>& intended() {
  static const std::map<std::string, std::set<std::string>> m = {
      {"guard",
       {"view_alarms", "ack_alarm", "release_held", "view_doors", "view_occupancy", "unlock_door", "lockdown",
        "lift_lockdown"}},
      {"auditor", {"view_audit", "export_audit", "verify_audit"}},
      {"admin", {"view_people", "manage_badges", "manage_people", "manage_operators"}},
  };
  return m;
}

const std::set<std::string> kEveryAction = {
    "view_alarms",  "ack_alarm",   "release_held",  "view_doors",    "view_occupancy",
    "unlock_door",  "lockdown",    "lift_lockdown", "view_audit",    "export_audit",
    "verify_audit", "view_people", "manage_badges", "manage_people", "manage_operators",
};

}  // namespace

TEST_CASE("the enum covers exactly the actions of the console", "[web][roles]") {
  std::set<std::string> names;
  for (std::size_t i = 0; i < kActionCount; ++i) names.emplace(to_string(static_cast<Action>(i)));
  CHECK(names == kEveryAction);
  for (const auto& name : kEveryAction) {
    const auto a = action_from_string(name);
    REQUIRE(a);
    CHECK(to_string(*a) == name);
  }
  CHECK_FALSE(action_from_string("delete_audit"));
  CHECK_FALSE(action_from_string(""));
}

TEST_CASE("every action x role is as intended", "[web][roles]") {
  for (const auto& [role_name, granted] : intended()) {
    const auto role = role_from_string(role_name);
    REQUIRE(role);
    CHECK(to_string(*role) == role_name);
    for (std::size_t i = 0; i < kActionCount; ++i) {
      const auto action = static_cast<Action>(i);
      const std::string action_name(to_string(action));
      INFO(role_name << " " << action_name);
      CHECK(allowed(*role, action) == (granted.count(action_name) == 1));
    }
  }
  CHECK(kAllRoles.size() == intended().size());
  CHECK_FALSE(role_from_string("root"));
  CHECK_FALSE(role_from_string("Guard"));
}

TEST_CASE("read-only and separated duties", "[web][roles]") {
  // No role but guard changes the site; no role but auditor reads or exports the trail.
  for (const Role r : {Role::auditor, Role::admin}) {
    for (const Action a :
         {Action::unlock_door, Action::lockdown, Action::lift_lockdown, Action::ack_alarm, Action::release_held}) {
      CHECK_FALSE(allowed(r, a));
    }
  }
  for (const Role r : {Role::guard, Role::admin}) {
    CHECK_FALSE(allowed(r, Action::export_audit));
    CHECK_FALSE(allowed(r, Action::view_audit));
  }
  // An out-of-range action (a corrupted value) is refused for everyone.
  for (const Role r : kAllRoles) CHECK_FALSE(allowed(r, Action::count_));
}

TEST_CASE("docs/console.md carries the matrix as generated", "[web][roles]") {
  const auto doc = std::filesystem::path(__FILE__).parent_path() / ".." / ".." / ".." / "docs" / "console.md";
  std::ifstream in(doc);
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  INFO("expected in " << doc.string() << ":\n" << role_matrix_markdown());
  CHECK(text.str().find(role_matrix_markdown()) != std::string::npos);
}
