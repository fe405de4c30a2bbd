// SPDX-License-Identifier: Apache-2.0
#include "zonegate/who_can.hpp"

#include <algorithm>
#include <functional>

#include "config/loader.hpp"
#include "zonegate/commands.hpp"
#include "zonegate/time_parse.hpp"

namespace zonegate::cli {
namespace {

constexpr std::size_t kMaxRoutes = 256;

void add_unique(std::vector<std::string>& v, std::string s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
}

std::string escort_text(const core::Policy& policy, core::RoleMask roles) {
  std::string names = policy.role_names(roles);
  std::string out;
  for (const char c : names) {
    if (c == ',') {
      out += " or ";
    } else {
      out += c;
    }
  }
  return "escort by " + out;
}

struct RouteOutcome {
  bool allowed = true;
  std::size_t passed = 0;  ///< doors passed before the refusing one
  core::Reason reason = core::Reason::ok;
  core::DoorIdx blocked_at = core::kNoIdx;
  std::vector<std::string> conditions;
};

RouteOutcome evaluate_route(const core::Policy& policy, const core::Holder& holder,
                            const std::vector<core::DoorIdx>& route, core::Instant at) {
  RouteOutcome r;
  bool desfire = false;
  for (const core::DoorIdx d : route) {
    const core::Eligibility e = core::static_entry_check(policy, holder, d, at, std::nullopt);
    if (e.reason != core::Reason::ok) {
      r.allowed = false;
      r.reason = e.reason;
      r.blocked_at = d;
      return r;
    }
    ++r.passed;
    const core::Door& door = policy.doors[d];
    if (e.needs_escort) add_unique(r.conditions, escort_text(policy, e.escort_roles) + " at " + door.id);
    if (e.screening && door.gate && door.gate->gate < policy.gates.size()) {
      add_unique(r.conditions, "screening at " + policy.gates[door.gate->gate].id);
    }
    if (e.two_person) {
      std::string text = "two-person at " + door.id;
      if (door.two_person.one_of_role && *door.two_person.one_of_role < policy.roles.size()) {
        text += " (one a " + policy.roles[*door.two_person.one_of_role].id + ")";
      }
      add_unique(r.conditions, std::move(text));
    }
    if (e.credential_needed == core::CredentialKind::desfire) desfire = true;
  }
  if (desfire) r.conditions.emplace_back("desfire required");
  return r;
}

}  // namespace

std::vector<std::vector<core::DoorIdx>> entry_routes(const core::Policy& policy, core::ZoneIdx target) {
  std::vector<std::vector<core::DoorIdx>> routes;
  if (policy.zones.empty() || target == 0) return routes;
  std::vector<core::DoorIdx> path;
  std::vector<bool> visited(policy.zones.size(), false);
  // Depth-first over the doors in their `in` direction; zones are never revisited, so every
  // route is simple and the search ends. Sites have a handful of zones; the cap guards the rest.
  std::function<void(core::ZoneIdx)> walk = [&](core::ZoneIdx at) {
    if (routes.size() >= kMaxRoutes) return;
    if (at == target) {
      routes.push_back(path);
      return;
    }
    visited[at] = true;
    for (std::size_t i = 0; i < policy.doors.size(); ++i) {
      const core::Door& d = policy.doors[i];
      if (d.outer != at || d.inner >= policy.zones.size() || visited[d.inner]) continue;
      path.push_back(static_cast<core::DoorIdx>(i));
      walk(d.inner);
      path.pop_back();
    }
    visited[at] = false;
  };
  walk(0);
  std::stable_sort(routes.begin(), routes.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
  return routes;
}

std::vector<Subject> subjects_for_roles(const core::Policy& policy) {
  std::vector<Subject> out;
  for (std::size_t i = 0; i < policy.roles.size(); ++i) {
    Subject s;
    s.name = policy.roles[i].id;
    s.roles = policy.roles[i].id;
    s.holder.person_id = policy.roles[i].id;
    s.holder.roles = core::RoleMask{1} << i;
    s.holder.enrolled = core::CredentialKind::desfire;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Subject> subjects_for_people(const core::Policy& policy, const People& people) {
  std::vector<Subject> out;
  for (const auto& p : people.list) out.push_back(Subject{p.id, policy.role_names(p.holder.roles), p.holder});
  return out;
}

std::vector<WhoCanRow> who_can(const core::Policy& policy, core::ZoneIdx zone, core::Instant at,
                               const std::vector<Subject>& subjects) {
  const auto routes = entry_routes(policy, zone);
  std::vector<WhoCanRow> rows;
  for (const auto& s : subjects) {
    WhoCanRow row;
    row.subject = s.name;
    row.roles = s.roles;
    if (zone == 0) {
      // The root is public: there is no door to pass.
      row.allowed = true;
      rows.push_back(std::move(row));
      continue;
    }
    if (routes.empty()) {
      row.reason = core::Reason::no_clearance;
      row.blocked_at = "(no door leads into the zone)";
      rows.push_back(std::move(row));
      continue;
    }
    std::optional<RouteOutcome> best_yes;
    std::optional<RouteOutcome> best_no;
    for (const auto& route : routes) {
      RouteOutcome r = evaluate_route(policy, s.holder, route, at);
      if (r.allowed) {
        if (!best_yes || r.conditions.size() < best_yes->conditions.size()) best_yes = std::move(r);
      } else if (!best_no || r.passed > best_no->passed) {
        best_no = std::move(r);
      }
    }
    if (best_yes) {
      row.allowed = true;
      row.conditions = std::move(best_yes->conditions);
    } else {
      row.reason = best_no->reason;
      row.blocked_at = policy.doors[best_no->blocked_at].id;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void print_who_can(std::ostream& out, const std::vector<WhoCanRow>& rows, bool all, bool role_mode) {
  std::vector<std::vector<std::string>> table;
  if (role_mode) {
    table.push_back({"ROLE", "RESULT", "CONDITIONS"});
  } else {
    table.push_back({"PERSON", "ROLES", "RESULT", "CONDITIONS"});
  }
  for (const auto& r : rows) {
    if (!r.allowed && !all) continue;
    std::string result = r.allowed ? "yes" : "no (" + std::string(core::to_string(r.reason)) + ")";
    std::string conditions;
    if (r.allowed) {
      for (const auto& c : r.conditions) conditions += (conditions.empty() ? "" : ", ") + c;
      if (conditions.empty()) conditions = "-";
    } else {
      conditions = "at " + r.blocked_at;
    }
    if (role_mode) {
      table.push_back({r.subject, result, conditions});
    } else {
      table.push_back({r.subject, r.roles.empty() ? "-" : r.roles, result, conditions});
    }
  }
  if (table.size() == 1) {
    out << (all ? "(no one listed)\n" : "(nobody)\n");
    return;
  }
  std::vector<std::size_t> width(table[0].size(), 0);
  for (const auto& line : table) {
    for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  }
  for (const auto& line : table) {
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text += std::string(width[i] - line[i].size() + 2, ' ');
    }
    out << text << '\n';
  }
}

int run_who_can(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  constexpr const char* kUsage =
      "usage: zonegate policy who-can --zone ZONE --at TIME [--site zones.yaml] [--people FILE] [--all]\n";
  std::optional<std::string> zone_id;
  std::optional<std::string> at_text;
  std::string site = "zones.yaml";
  std::optional<std::string> people_file;
  bool all = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    if (arg == "--all" && !inline_value) {
      all = true;
      continue;
    }
    if (arg != "--zone" && arg != "--at" && arg != "--site" && arg != "--people") {
      err << "zonegate policy who-can: unknown argument '" << args[i] << "'\n" << kUsage;
      return kExitUsage;
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      err << "zonegate policy who-can: " << arg << " needs a value\n" << kUsage;
      return kExitUsage;
    }
    if (arg == "--zone") zone_id = value;
    if (arg == "--at") at_text = value;
    if (arg == "--site") site = value;
    if (arg == "--people") people_file = value;
  }
  if (!zone_id || !at_text) {
    err << "zonegate policy who-can: --zone and --at are required\n" << kUsage;
    return kExitUsage;
  }
  const config::LoadResult loaded = config::load_policy_file(site);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) err << e.to_string() << '\n';
    err << site << ": " << loaded.errors.size() << " error(s)\n";
    return kExitFailed;
  }
  const core::Policy& policy = *loaded.policy;
  const auto zone = policy.zone_index(*zone_id);
  if (!zone) {
    std::string known;
    for (const auto& z : policy.zones) known += (known.empty() ? "" : ", ") + z.id;
    err << "zonegate policy who-can: unknown zone '" << *zone_id << "' (zones: " << known << ")\n";
    return kExitUsage;
  }
  std::string why;
  const auto at = parse_time(*at_text, &policy.time_zone, &why);
  if (!at) {
    err << "zonegate policy who-can: " << why << '\n';
    return kExitUsage;
  }
  std::vector<Subject> subjects;
  if (people_file) {
    Diagnostics errors;
    auto people = load_people_file(*people_file, policy, errors);
    if (!people) {
      for (const auto& e : errors) err << e.to_string() << '\n';
      err << *people_file << ": " << errors.size() << " error(s)\n";
      return kExitFailed;
    }
    subjects = subjects_for_people(policy, *people);
  } else {
    subjects = subjects_for_roles(policy);
  }
  const core::LocalTime local = policy.time_zone.local(*at);
  static constexpr const char* kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  out << "who can enter " << *zone_id << " at " << format_local(*at, policy.time_zone) << " ("
      << kDays[local.weekday % 7] << (policy.is_holiday(local.day) ? ", holiday" : "") << ", site " << policy.site_name
      << ", " << policy.time_zone.name() << ")\n";
  print_who_can(out, who_can(policy, *zone, *at, subjects), all, !people_file);
  out << "static rules only: lockdown, anti-passback, occupancy and interlocks depend on the moment\n";
  return kExitOk;
}

}  // namespace zonegate::cli
