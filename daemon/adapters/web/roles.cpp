// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/roles.hpp"

namespace zonegate::adapters::web {
namespace {

struct Row {
  Action action;
  std::string_view name;
  bool guard;
  bool auditor;
  bool admin;
};

// One row per action, in enum order (checked below). Least privilege and separation of duties:
// - guard: the live site — alarms, doors, who is where — and the actions on it.
// - auditor: the trail, read-only: search, export, verify. Nothing that changes the site.
// - admin: who may enter and who may operate. No guard actions (granting access and opening doors
//   are different duties), and no audit trail or occupancy: those are movement records of people,
//   personal data the admin has no purpose for; the admin's own changes are what the auditor reviews.
constexpr std::array<Row, kActionCount> kMatrix{{
    {Action::view_alarms, "view_alarms", true, false, false},
    {Action::ack_alarm, "ack_alarm", true, false, false},
    {Action::release_held, "release_held", true, false, false},
    {Action::view_doors, "view_doors", true, false, false},
    {Action::view_occupancy, "view_occupancy", true, false, false},
    {Action::unlock_door, "unlock_door", true, false, false},
    {Action::lockdown, "lockdown", true, false, false},
    {Action::lift_lockdown, "lift_lockdown", true, false, false},
    {Action::view_audit, "view_audit", false, true, false},
    {Action::export_audit, "export_audit", false, true, false},
    {Action::verify_audit, "verify_audit", false, true, false},
    {Action::view_people, "view_people", false, false, true},
    {Action::manage_badges, "manage_badges", false, false, true},
    {Action::manage_people, "manage_people", false, false, true},
    {Action::manage_operators, "manage_operators", false, false, true},
}};

constexpr bool matrix_in_enum_order() {
  for (std::size_t i = 0; i < kMatrix.size(); ++i) {
    if (static_cast<std::size_t>(kMatrix[i].action) != i) return false;
  }
  return true;
}
static_assert(matrix_in_enum_order(), "kMatrix rows must follow the order of enum Action");

}  // namespace

bool allowed(Role role, Action action) noexcept {
  const auto i = static_cast<std::size_t>(action);
  if (i >= kMatrix.size()) return false;
  switch (role) {
    case Role::guard:
      return kMatrix[i].guard;
    case Role::auditor:
      return kMatrix[i].auditor;
    case Role::admin:
      return kMatrix[i].admin;
  }
  return false;
}

std::string_view to_string(Role role) noexcept {
  switch (role) {
    case Role::guard:
      return "guard";
    case Role::auditor:
      return "auditor";
    case Role::admin:
      return "admin";
  }
  return "unknown";
}

std::string_view to_string(Action action) noexcept {
  const auto i = static_cast<std::size_t>(action);
  return i < kMatrix.size() ? kMatrix[i].name : std::string_view("unknown");
}

std::optional<Role> role_from_string(std::string_view text) noexcept {
  for (const Role r : kAllRoles) {
    if (to_string(r) == text) return r;
  }
  return std::nullopt;
}

std::optional<Action> action_from_string(std::string_view text) noexcept {
  for (const auto& row : kMatrix) {
    if (row.name == text) return row.action;
  }
  return std::nullopt;
}

std::string role_matrix_markdown() {
  std::string out = "| action |";
  std::string rule = "|---|";
  for (const Role r : kAllRoles) {
    out += ' ';
    out += to_string(r);
    out += " |";
    rule += "---|";
  }
  out += '\n' + rule + '\n';
  for (const auto& row : kMatrix) {
    out += "| `";
    out += row.name;
    out += "` |";
    for (const Role r : kAllRoles) out += allowed(r, row.action) ? " yes |" : " — |";
    out += '\n';
  }
  return out;
}

}  // namespace zonegate::adapters::web
