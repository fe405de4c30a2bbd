// SPDX-License-Identifier: Apache-2.0
/// @file
/// `zonegate policy who-can`: who could enter a zone at an instant, from the static rules
/// (validity, clearance, schedules, credential strength) of every door on the way in, and under
/// which conditions (escort, screening, two-person rule, DESFire card).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "core/policy.hpp"
#include "zonegate/people.hpp"

namespace zonegate::cli {

/// Someone to evaluate: a person of a people file, or "anyone holding exactly this role".
struct Subject {
  std::string name;
  std::string roles;  ///< role names, comma separated
  core::Holder holder;
};

struct WhoCanRow {
  std::string subject;
  std::string roles;
  bool allowed = false;
  core::Reason reason = core::Reason::ok;  ///< when not allowed: the first static rule that refuses
  std::string blocked_at;                  ///< when not allowed: the door that refuses
  std::vector<std::string> conditions;     ///< when allowed: e.g. "screening at view-gate"
};

/// Every chain of doors (taken in the `in` direction) from the root zone to `target`, shortest
/// first. Empty for the root itself (nothing to pass) and for an unreachable zone.
std::vector<std::vector<core::DoorIdx>> entry_routes(const core::Policy& policy, core::ZoneIdx target);

/// One subject per role of the policy, each holding only that role with a DESFire card.
std::vector<Subject> subjects_for_roles(const core::Policy& policy);
std::vector<Subject> subjects_for_people(const core::Policy& policy, const People& people);

/// Evaluates each subject. A subject is allowed if every door of some route lets them in;
/// the route with the fewest conditions is reported.
std::vector<WhoCanRow> who_can(const core::Policy& policy, core::ZoneIdx zone, core::Instant at,
                               const std::vector<Subject>& subjects);

/// Prints the table. Without `all` only allowed rows are printed. `role_mode` prints a role
/// column instead of person and roles.
void print_who_can(std::ostream& out, const std::vector<WhoCanRow>& rows, bool all, bool role_mode);

}  // namespace zonegate::cli
