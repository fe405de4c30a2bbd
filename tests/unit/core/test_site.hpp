// SPDX-License-Identifier: Apache-2.0
/// @file
/// The sample site (zones.yaml) built as a core::Policy in code, so that the core's tests do not
/// depend on the config loader. Header-only: the unit-test build only compiles *_test.cpp files.
///
///   outside (root) -> office (max 400, APB soft) -> db-view (max 20, hard, desfire)
///                                                 -> db-ops (max 6, hard, desfire)
///   lobby     outside -> office   fire egress, request-to-exit
///   view-door office  -> db-view  gate view-gate (in+out, hold on exit alarm, 15 s), fire egress
///   ops-door  db-view -> db-ops   gate ops-gate (in+out, hold), two-person on in (15 s),
///                                 no-lone-zone deny (15 s), fire egress
///   interlock secure-core = {view-door, ops-door}
///
/// Use sample_site() for the site as is, or sample_site([](Policy& p) { ... }) to change it before
/// finalize() runs (role tables are already sized, so role grants may be edited in the tweak).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/policy.hpp"
#include "core/timezone.hpp"
#include "core/types.hpp"

namespace zonegate::test_site {

using core::CredentialKind;
using core::Instant;
using core::Policy;
using core::RoleIdx;
using core::RoleMask;

// Indices of the sample site (stable: the builder below fixes the order).
inline constexpr core::ZoneIdx kOutside = 0;
inline constexpr core::ZoneIdx kOffice = 1;
inline constexpr core::ZoneIdx kDbView = 2;
inline constexpr core::ZoneIdx kDbOps = 3;

inline constexpr core::DoorIdx kLobby = 0;
inline constexpr core::DoorIdx kViewDoor = 1;
inline constexpr core::DoorIdx kOpsDoor = 2;

inline constexpr core::GateIdx kViewGate = 0;
inline constexpr core::GateIdx kOpsGate = 1;

inline constexpr std::uint16_t kOfficeHours = 0;
inline constexpr std::uint16_t kDbHours = 1;
inline constexpr std::uint16_t kAlways = 2;

inline constexpr RoleIdx kEmployee = 0;
inline constexpr RoleIdx kDbViewer = 1;
inline constexpr RoleIdx kDbOperator = 2;
inline constexpr RoleIdx kContractor = 3;
inline constexpr RoleIdx kGuard = 4;

inline constexpr std::uint16_t kCabinetLid = 0;
inline constexpr std::uint16_t kSecureCore = 0;

inline constexpr std::uint8_t kWeekdays = 0x1F;  // Monday..Friday
inline constexpr std::uint8_t kEveryDay = 0x7F;

inline constexpr RoleMask role_bit(RoleIdx r) { return RoleMask{1} << r; }

inline constexpr core::CapabilityMask kAllCaps = static_cast<core::CapabilityMask>(
    core::cap_bit(core::Capability::forgive) | core::cap_bit(core::Capability::release) |
    core::cap_bit(core::Capability::lockdown) | core::cap_bit(core::Capability::unlock));

inline constexpr std::int32_t kJstOffset = 9 * 3600;

/// An instant given as site-local (JST, +09:00) wall-clock time.
inline Instant jst(std::int32_t year, unsigned month, unsigned day, int hour = 0, int minute = 0, int second = 0,
                   int milli = 0) {
  const std::int64_t s =
      std::int64_t{core::days_from_civil(year, month, day)} * 86400 + hour * 3600 + minute * 60 + second - kJstOffset;
  return Instant{std::chrono::milliseconds{s * 1000 + milli}};
}

/// An instant given as UTC wall-clock time.
inline Instant utc(std::int32_t year, unsigned month, unsigned day, int hour = 0, int minute = 0, int second = 0) {
  const std::int64_t s =
      std::int64_t{core::days_from_civil(year, month, day)} * 86400 + hour * 3600 + minute * 60 + second;
  return Instant{std::chrono::seconds{s}};
}

/// The sample site with every field set but before finalize(): role tables are sized, so a test may
/// change anything, then call finalize() itself (or use sample_site(tweak)).
inline Policy sample_site_draft() {
  using namespace std::chrono_literals;
  Policy p;
  p.site_name = "sample-site";
  p.source_hash = "test-site";
  p.time_zone = core::TimeZone::fixed("Asia/Tokyo", kJstOffset);
  p.holidays = {core::days_from_civil(2027, 1, 3), core::days_from_civil(2026, 12, 31),
                core::days_from_civil(2027, 1, 1), core::days_from_civil(2027, 1, 2),
                core::days_from_civil(2027, 1, 1)};  // unsorted + duplicate on purpose: finalize sorts

  auto zone = [](std::string id, core::ZoneIdx parent, std::uint32_t max, core::AntiPassback apb, CredentialKind cred) {
    core::Zone z;
    z.id = std::move(id);
    z.parent = parent;
    z.max_occupancy = max;
    z.anti_passback = apb;
    z.min_credential = cred;
    return z;
  };
  p.zones.push_back(zone("outside", core::kNoIdx, 0, core::AntiPassback::off, CredentialKind::uid));
  p.zones.push_back(zone("office", kOutside, 400, core::AntiPassback::soft, CredentialKind::uid));
  p.zones.push_back(zone("db-view", kOffice, 20, core::AntiPassback::hard, CredentialKind::desfire));
  p.zones.push_back(zone("db-ops", kDbView, 6, core::AntiPassback::hard, CredentialKind::desfire));

  auto door = [](std::string id, core::ZoneIdx outer, core::ZoneIdx inner) {
    core::Door d;
    d.id = std::move(id);
    d.outer = outer;
    d.inner = inner;
    d.fire_egress = true;
    d.unlock_time = 5s;
    d.held_prealarm = 20s;
    d.held_alarm = 30s;
    d.escort_window = 15s;
    return d;
  };
  auto gate_ref = [](core::GateIdx g) {
    core::GateRef r;
    r.gate = g;
    r.screens_in = true;
    r.screens_out = true;
    r.hold_on_exit_alarm = true;
    r.window = 15s;
    return r;
  };
  core::Door lobby = door("lobby", kOutside, kOffice);
  lobby.request_to_exit = true;
  core::Door view = door("view-door", kOffice, kDbView);
  view.gate = gate_ref(kViewGate);
  view.interlock = kSecureCore;
  core::Door ops = door("ops-door", kDbView, kDbOps);
  ops.gate = gate_ref(kOpsGate);
  ops.interlock = kSecureCore;
  ops.two_person.on_in = true;
  ops.two_person.window = 15s;
  ops.no_lone_zone.mode = core::LoneZoneMode::deny;
  ops.no_lone_zone.window = 15s;
  p.doors = {lobby, view, ops};

  p.gates.push_back(core::Gate{"view-gate", kViewDoor});
  p.gates.push_back(core::Gate{"ops-gate", kOpsDoor});
  p.interlocks.push_back(core::InterlockGroup{"secure-core", {kViewDoor, kOpsDoor}});
  p.tampers.push_back(core::TamperInput{"cabinet-lid"});

  auto schedule = [](std::string id, std::uint8_t days, std::int32_t from, std::int32_t to, bool holidays) {
    core::Schedule s;
    s.id = std::move(id);
    s.windows.push_back(core::WeeklyWindow{days, from, to});
    s.open_on_holidays = holidays;
    return s;
  };
  p.schedules.push_back(schedule("office-hours", kWeekdays, 7 * 60, 22 * 60, false));
  p.schedules.push_back(schedule("db-hours", kWeekdays, 8 * 60, 20 * 60, false));
  p.schedules.push_back(schedule("always", kEveryDay, 0, 24 * 60, true));

  for (const char* id : {"employee", "db-viewer", "db-operator", "contractor", "guard"}) {
    core::Role r;
    r.id = id;
    r.zones.resize(p.zones.size());
    r.may_escort.resize(p.zones.size(), false);
    p.roles.push_back(std::move(r));
  }
  auto grant = [](std::uint16_t schedule_idx, RoleMask escort_by = 0) {
    core::ZoneGrant g;
    g.schedule = schedule_idx;
    g.escort_by = escort_by;
    return g;
  };
  core::Role& employee = p.roles[kEmployee];
  employee.zones[kOffice] = grant(kOfficeHours);
  employee.may_escort[kOffice] = true;

  core::Role& viewer = p.roles[kDbViewer];
  viewer.zones[kOffice] = grant(kDbHours);
  viewer.zones[kDbView] = grant(kDbHours);

  core::Role& operator_ = p.roles[kDbOperator];
  operator_.zones[kOffice] = grant(kDbHours);
  operator_.zones[kDbView] = grant(kDbHours);
  operator_.zones[kDbOps] = grant(kDbHours);
  operator_.may_escort[kDbView] = true;

  core::Role& contractor = p.roles[kContractor];
  contractor.zones[kOffice] = grant(kOfficeHours, role_bit(kEmployee));
  contractor.zones[kDbView] = grant(kDbHours, role_bit(kDbOperator));

  core::Role& guard = p.roles[kGuard];
  guard.zones[kOffice] = grant(kAlways);
  guard.zones[kDbView] = grant(kAlways);
  guard.zones[kDbOps] = grant(kAlways);
  guard.capabilities = kAllCaps;
  return p;
}

/// The sample site, finalized. `tweak` (optional) edits the draft before finalize().
inline Policy sample_site(const std::function<void(Policy&)>& tweak = {}) {
  Policy p = sample_site_draft();
  if (tweak) tweak(p);
  p.finalize();
  return p;
}

/// The sample site as the engine takes it.
inline std::shared_ptr<const Policy> shared_site(const std::function<void(Policy&)>& tweak = {}) {
  return std::make_shared<const Policy>(sample_site(tweak));
}

/// A badge holder of the sample site.
inline core::Holder holder(std::string person, RoleMask roles, CredentialKind enrolled = CredentialKind::desfire) {
  core::Holder h;
  h.person_id = std::move(person);
  h.roles = roles;
  h.enrolled = enrolled;
  return h;
}

}  // namespace zonegate::test_site
