// SPDX-License-Identifier: Apache-2.0
#include "core/policy.hpp"

#include <algorithm>

namespace zonegate::core {
namespace {

template <typename Map>
auto find_index(const Map& m, std::string_view id) -> std::optional<typename Map::mapped_type> {
  // The maps are keyed by std::string; a temporary is cheap next to a config lookup's other work.
  auto it = m.find(std::string(id));
  if (it == m.end()) return std::nullopt;
  return it->second;
}

}  // namespace

std::optional<ZoneIdx> Policy::zone_index(std::string_view id) const { return find_index(zone_by_id_, id); }
std::optional<DoorIdx> Policy::door_index(std::string_view id) const { return find_index(door_by_id_, id); }
std::optional<GateIdx> Policy::gate_index(std::string_view id) const { return find_index(gate_by_id_, id); }
std::optional<RoleIdx> Policy::role_index(std::string_view id) const { return find_index(role_by_id_, id); }
std::optional<std::uint16_t> Policy::tamper_index(std::string_view id) const { return find_index(tamper_by_id_, id); }
std::optional<std::uint16_t> Policy::interlock_index(std::string_view id) const {
  return find_index(interlock_by_id_, id);
}

void Policy::finalize() {
  zone_by_id_.clear();
  door_by_id_.clear();
  gate_by_id_.clear();
  role_by_id_.clear();
  tamper_by_id_.clear();
  interlock_by_id_.clear();
  for (std::size_t i = 0; i < zones.size(); ++i) zone_by_id_.emplace(zones[i].id, static_cast<ZoneIdx>(i));
  for (std::size_t i = 0; i < doors.size(); ++i) door_by_id_.emplace(doors[i].id, static_cast<DoorIdx>(i));
  for (std::size_t i = 0; i < gates.size(); ++i) gate_by_id_.emplace(gates[i].id, static_cast<GateIdx>(i));
  for (std::size_t i = 0; i < roles.size(); ++i) role_by_id_.emplace(roles[i].id, static_cast<RoleIdx>(i));
  for (std::size_t i = 0; i < tampers.size(); ++i) {
    tamper_by_id_.emplace(tampers[i].id, static_cast<std::uint16_t>(i));
  }
  for (std::size_t i = 0; i < interlocks.size(); ++i) {
    interlock_by_id_.emplace(interlocks[i].id, static_cast<std::uint16_t>(i));
  }

  // Depth: the loader has rejected cycles, but stay bounded regardless.
  for (auto& z : zones) {
    std::uint32_t depth = 0;
    ZoneIdx p = z.parent;
    while (p != kNoIdx && p < zones.size() && depth <= zones.size()) {
      ++depth;
      p = zones[p].parent;
    }
    z.depth = depth;
  }
  for (auto& d : doors) {
    if (d.outer >= zones.size() || d.inner >= zones.size()) continue;
    const Zone& a = zones[d.outer];
    const Zone& b = zones[d.inner];
    d.min_credential = std::max({d.min_credential, a.min_credential, b.min_credential});
    d.anti_passback = std::max(a.anti_passback, b.anti_passback);
  }
  for (auto& r : roles) {
    r.zones.resize(zones.size());
    r.may_escort.resize(zones.size(), false);
  }
  std::sort(holidays.begin(), holidays.end());
  holidays.erase(std::unique(holidays.begin(), holidays.end()), holidays.end());
}

bool Policy::zone_within(ZoneIdx z, ZoneIdx ancestor) const {
  std::size_t guard = 0;
  while (z != kNoIdx && z < zones.size() && guard++ <= zones.size()) {
    if (z == ancestor) return true;
    z = zones[z].parent;
  }
  return false;
}

bool Policy::is_holiday(std::int32_t local_day) const {
  return std::binary_search(holidays.begin(), holidays.end(), local_day);
}

bool Policy::schedule_open(std::uint16_t schedule, const LocalTime& t) const {
  if (schedule >= schedules.size()) return false;
  const Schedule& s = schedules[schedule];
  if (!s.open_on_holidays && is_holiday(t.day)) return false;
  const auto day_bit = static_cast<std::uint8_t>(1U << t.weekday);
  for (const auto& w : s.windows) {
    if ((w.days & day_bit) != 0 && t.minute_of_day >= w.from_minute && t.minute_of_day < w.to_minute) return true;
  }
  return false;
}

CapabilityMask Policy::capabilities_of(RoleMask mask) const {
  CapabilityMask caps = 0;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if ((mask >> i) & 1U) caps = static_cast<CapabilityMask>(caps | roles[i].capabilities);
  }
  return caps;
}

std::string Policy::role_names(RoleMask mask) const {
  std::string out;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if ((mask >> i) & 1U) {
      if (!out.empty()) out += ',';
      out += roles[i].id;
    }
  }
  return out;
}

RoleMask Policy::roles_from_names(const std::vector<std::string>& names, std::vector<std::string>* unknown) const {
  RoleMask mask = 0;
  for (const auto& n : names) {
    if (auto r = role_index(n)) {
      mask |= RoleMask{1} << *r;
    } else if (unknown != nullptr) {
      unknown->push_back(n);
    }
  }
  return mask;
}

Eligibility static_entry_check(const Policy& p, const Holder& h, DoorIdx door, Instant t,
                               std::optional<CredentialKind> presented) {
  Eligibility e;
  const Door& d = p.doors[door];
  e.credential_needed = d.min_credential;
  e.screening = d.gate.has_value() && d.gate->screens_in;
  e.two_person = d.two_person.on_in;
  if (h.revoked) {
    e.reason = Reason::revoked;
    return e;
  }
  if (h.valid_from && t < *h.valid_from) {
    e.reason = Reason::not_yet_valid;
    return e;
  }
  if (h.valid_until && t > *h.valid_until) {
    e.reason = Reason::expired;
    return e;
  }
  if (presented.value_or(h.enrolled) < d.min_credential) {
    e.reason = Reason::weak_credential;
    return e;
  }
  const Eligibility access = zone_access(p, h, d.inner, p.time_zone.local(t));
  e.reason = access.reason;
  e.needs_escort = access.needs_escort;
  e.escort_roles = access.escort_roles;
  return e;
}

Eligibility zone_access(const Policy& p, const Holder& h, ZoneIdx zone, const LocalTime& local) {
  Eligibility e;
  bool any_grant = false;
  bool open_direct = false;
  bool open_escorted = false;
  RoleMask escort_roles = 0;
  const std::size_t n = std::min<std::size_t>(p.roles.size(), kMaxRoles);
  for (std::size_t i = 0; i < n; ++i) {
    if (((h.roles >> i) & 1U) == 0) continue;
    const auto& zones = p.roles[i].zones;
    if (zone >= zones.size() || !zones[zone]) continue;
    const ZoneGrant& g = *zones[zone];
    any_grant = true;
    if (!p.schedule_open(g.schedule, local)) continue;
    if (g.escort_by == 0) {
      open_direct = true;
    } else {
      open_escorted = true;
      escort_roles |= g.escort_by;
    }
  }
  if (!any_grant) {
    e.reason = Reason::no_clearance;
  } else if (!open_direct && !open_escorted) {
    e.reason = Reason::outside_schedule;
  } else if (!open_direct) {
    e.needs_escort = true;
    e.escort_roles = escort_roles;
  }
  return e;
}

}  // namespace zonegate::core
