// SPDX-License-Identifier: Apache-2.0
#include "core/policy.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "core/timezone.hpp"
#include "unit/core/test_site.hpp"

using namespace zonegate::core;
using namespace zonegate::test_site;
using namespace std::chrono_literals;

namespace {

// 2026-12-01 is a Tuesday; 2026-12-31 (Thursday) and 2027-01-01..03 are holidays.
const Instant kTuesday10 = jst(2026, 12, 1, 10, 0);

LocalTime local(const Policy& p, Instant t) { return p.time_zone.local(t); }

}  // namespace

TEST_CASE("policy: names resolve to the indices of the sample site", "[policy]") {
  const Policy p = sample_site();
  CHECK(p.zone_index("outside") == kOutside);
  CHECK(p.zone_index("office") == kOffice);
  CHECK(p.zone_index("db-view") == kDbView);
  CHECK(p.zone_index("db-ops") == kDbOps);
  CHECK(p.door_index("lobby") == kLobby);
  CHECK(p.door_index("view-door") == kViewDoor);
  CHECK(p.door_index("ops-door") == kOpsDoor);
  CHECK(p.gate_index("view-gate") == kViewGate);
  CHECK(p.gate_index("ops-gate") == kOpsGate);
  CHECK(p.role_index("employee") == kEmployee);
  CHECK(p.role_index("guard") == kGuard);
  CHECK(p.tamper_index("cabinet-lid") == kCabinetLid);
  CHECK(p.interlock_index("secure-core") == kSecureCore);

  CHECK_FALSE(p.zone_index("Office").has_value());
  CHECK_FALSE(p.zone_index("").has_value());
  CHECK_FALSE(p.door_index("back-door").has_value());
  CHECK_FALSE(p.gate_index("lobby").has_value());
  CHECK_FALSE(p.role_index("admin").has_value());
  CHECK_FALSE(p.tamper_index("lid").has_value());
  CHECK_FALSE(p.interlock_index("mantrap").has_value());
}

TEST_CASE("policy: finalize derives door credential and anti-passback from both zones", "[policy]") {
  const Policy p = sample_site();
  CHECK(p.doors[kLobby].min_credential == CredentialKind::uid);
  CHECK(p.doors[kViewDoor].min_credential == CredentialKind::desfire);
  CHECK(p.doors[kOpsDoor].min_credential == CredentialKind::desfire);
  CHECK(p.doors[kLobby].anti_passback == AntiPassback::soft);  // off outside, soft office
  CHECK(p.doors[kViewDoor].anti_passback == AntiPassback::hard);
  CHECK(p.doors[kOpsDoor].anti_passback == AntiPassback::hard);

  // The door's own requirement counts too.
  const Policy q = sample_site([](Policy& d) { d.doors[kLobby].min_credential = CredentialKind::desfire; });
  CHECK(q.doors[kLobby].min_credential == CredentialKind::desfire);
}

TEST_CASE("policy: finalize computes depths, sizes role tables, sorts holidays", "[policy]") {
  Policy p = sample_site_draft();
  p.roles.push_back(Role{"auditor", {}, {}, 0});  // unsized on purpose
  p.finalize();
  CHECK(p.zones[kOutside].depth == 0);
  CHECK(p.zones[kOffice].depth == 1);
  CHECK(p.zones[kDbView].depth == 2);
  CHECK(p.zones[kDbOps].depth == 3);
  CHECK(p.roles.back().zones.size() == p.zones.size());
  CHECK(p.roles.back().may_escort.size() == p.zones.size());
  CHECK(p.role_index("auditor") == 5);
  const std::vector<std::int32_t> expected = {days_from_civil(2026, 12, 31), days_from_civil(2027, 1, 1),
                                              days_from_civil(2027, 1, 2), days_from_civil(2027, 1, 3)};
  CHECK(p.holidays == expected);
}

TEST_CASE("policy: zone_within follows the zone tree", "[policy]") {
  const Policy p = sample_site();
  CHECK(p.zone_within(kDbOps, kDbOps));
  CHECK(p.zone_within(kDbOps, kDbView));
  CHECK(p.zone_within(kDbOps, kOffice));
  CHECK(p.zone_within(kDbOps, kOutside));
  CHECK(p.zone_within(kOffice, kOutside));
  CHECK(p.zone_within(kOutside, kOutside));
  CHECK_FALSE(p.zone_within(kOffice, kDbView));
  CHECK_FALSE(p.zone_within(kOutside, kOffice));
  CHECK_FALSE(p.zone_within(kDbView, kDbOps));
  CHECK_FALSE(p.zone_within(kNoIdx, kOutside));
  CHECK_FALSE(p.zone_within(static_cast<ZoneIdx>(99), kOutside));
}

TEST_CASE("policy: holidays", "[policy]") {
  const Policy p = sample_site();
  CHECK(p.is_holiday(days_from_civil(2026, 12, 31)));
  CHECK(p.is_holiday(days_from_civil(2027, 1, 1)));
  CHECK(p.is_holiday(days_from_civil(2027, 1, 3)));
  CHECK_FALSE(p.is_holiday(days_from_civil(2026, 12, 30)));
  CHECK_FALSE(p.is_holiday(days_from_civil(2027, 1, 4)));
}

TEST_CASE("policy: schedule windows are [from, to) by minute on their weekdays", "[policy]") {
  const Policy p = sample_site();
  // Tuesday 2026-12-01.
  CHECK_FALSE(p.schedule_open(kOfficeHours, local(p, jst(2026, 12, 1, 6, 59, 59))));
  CHECK(p.schedule_open(kOfficeHours, local(p, jst(2026, 12, 1, 7, 0, 0))));
  CHECK(p.schedule_open(kOfficeHours, local(p, jst(2026, 12, 1, 21, 59, 59))));
  CHECK_FALSE(p.schedule_open(kOfficeHours, local(p, jst(2026, 12, 1, 22, 0, 0))));
  CHECK_FALSE(p.schedule_open(kDbHours, local(p, jst(2026, 12, 1, 7, 59, 59))));
  CHECK(p.schedule_open(kDbHours, local(p, jst(2026, 12, 1, 8, 0, 0))));
  CHECK(p.schedule_open(kDbHours, local(p, jst(2026, 12, 1, 19, 59, 59))));
  CHECK_FALSE(p.schedule_open(kDbHours, local(p, jst(2026, 12, 1, 20, 0, 0))));
  // Monday and Friday are in, Saturday and Sunday out.
  CHECK(p.schedule_open(kOfficeHours, local(p, jst(2026, 11, 30, 12, 0))));
  CHECK(p.schedule_open(kOfficeHours, local(p, jst(2026, 12, 4, 12, 0))));
  CHECK_FALSE(p.schedule_open(kOfficeHours, local(p, jst(2026, 12, 5, 12, 0))));
  CHECK_FALSE(p.schedule_open(kOfficeHours, local(p, jst(2026, 12, 6, 12, 0))));
  // Always: every minute of every day, holidays included.
  CHECK(p.schedule_open(kAlways, local(p, jst(2026, 12, 6, 0, 0))));
  CHECK(p.schedule_open(kAlways, local(p, jst(2026, 12, 6, 23, 59, 59))));
  CHECK(p.schedule_open(kAlways, local(p, jst(2027, 1, 1, 3, 0))));
  // Out-of-range schedule index: closed.
  CHECK_FALSE(p.schedule_open(99, local(p, kTuesday10)));
}

TEST_CASE("policy: a holiday closes schedules not open on holidays", "[policy]") {
  const Policy p = sample_site();
  const LocalTime thursday_holiday = local(p, jst(2026, 12, 31, 12, 0));
  CHECK(thursday_holiday.weekday == 3);
  CHECK_FALSE(p.schedule_open(kOfficeHours, thursday_holiday));
  CHECK_FALSE(p.schedule_open(kDbHours, thursday_holiday));
  CHECK(p.schedule_open(kAlways, thursday_holiday));
  CHECK_FALSE(p.schedule_open(kOfficeHours, local(p, jst(2027, 1, 1, 12, 0))));  // Friday, holiday
  CHECK(p.schedule_open(kOfficeHours, local(p, jst(2027, 1, 4, 12, 0))));        // Monday after
}

TEST_CASE("policy: schedules are evaluated in the site time zone", "[policy]") {
  const Policy p = sample_site();
  // Monday 23:30 UTC is Tuesday 08:30 in Tokyo: db-hours open.
  CHECK(p.schedule_open(kDbHours, local(p, utc(2026, 11, 30, 23, 30))));
  // Tuesday 11:30 UTC is 20:30 in Tokyo: closed, although 11:30 would be open in UTC.
  CHECK_FALSE(p.schedule_open(kDbHours, local(p, utc(2026, 12, 1, 11, 30))));
  // Friday 16:00 UTC is Saturday 01:00 in Tokyo: weekend, closed.
  CHECK_FALSE(p.schedule_open(kOfficeHours, local(p, utc(2026, 12, 4, 16, 0))));
}

TEST_CASE("policy: capabilities_of unions the roles' capabilities", "[policy]") {
  const Policy p = sample_site();
  CHECK(p.capabilities_of(0) == 0);
  CHECK(p.capabilities_of(role_bit(kEmployee)) == 0);
  CHECK(p.capabilities_of(role_bit(kGuard)) == kAllCaps);
  CHECK(p.capabilities_of(role_bit(kEmployee) | role_bit(kGuard)) == kAllCaps);
  const Policy q = sample_site([](Policy& d) {
    d.roles[kEmployee].capabilities = cap_bit(Capability::forgive);
    d.roles[kDbViewer].capabilities = cap_bit(Capability::unlock);
  });
  CHECK(q.capabilities_of(role_bit(kEmployee) | role_bit(kDbViewer)) ==
        (cap_bit(Capability::forgive) | cap_bit(Capability::unlock)));
}

TEST_CASE("policy: role_names lists roles in policy order; roles_from_names reports unknowns", "[policy]") {
  const Policy p = sample_site();
  CHECK(p.role_names(0).empty());
  CHECK(p.role_names(role_bit(kGuard) | role_bit(kEmployee)) == "employee,guard");
  CHECK(p.role_names(role_bit(kDbOperator)) == "db-operator");
  CHECK(p.role_names(RoleMask{1} << 40) == "");  // bits beyond the roles are ignored

  std::vector<std::string> unknown;
  CHECK(p.roles_from_names({"guard", "db-viewer", "janitor", "Guard"}, &unknown) ==
        (role_bit(kGuard) | role_bit(kDbViewer)));
  CHECK(unknown == std::vector<std::string>{"janitor", "Guard"});
  CHECK(p.roles_from_names({"janitor"}, nullptr) == 0);
  CHECK(p.roles_from_names({}, nullptr) == 0);
}

TEST_CASE("policy: static_entry_check passes a cleared person and reports the door's needs", "[policy]") {
  const Policy p = sample_site();
  const Holder viewer = holder("v", role_bit(kDbViewer));
  const Eligibility e = static_entry_check(p, viewer, kViewDoor, kTuesday10, CredentialKind::desfire);
  CHECK(e.reason == Reason::ok);
  CHECK(e.screening);
  CHECK_FALSE(e.two_person);
  CHECK_FALSE(e.needs_escort);
  CHECK(e.credential_needed == CredentialKind::desfire);

  const Holder op = holder("o", role_bit(kDbOperator));
  const Eligibility o = static_entry_check(p, op, kOpsDoor, kTuesday10, std::nullopt);
  CHECK(o.reason == Reason::ok);
  CHECK(o.two_person);
  CHECK(o.screening);

  const Holder emp = holder("e", role_bit(kEmployee), CredentialKind::uid);
  const Eligibility l = static_entry_check(p, emp, kLobby, kTuesday10, std::nullopt);
  CHECK(l.reason == Reason::ok);
  CHECK_FALSE(l.screening);
  CHECK(l.credential_needed == CredentialKind::uid);
}

TEST_CASE("policy: static_entry_check refuses in the documented order", "[policy]") {
  const Policy p = sample_site();
  Holder h = holder("v", role_bit(kDbViewer));

  SECTION("revoked beats everything else") {
    h.revoked = true;
    h.valid_until = kTuesday10 - 1h;
    CHECK(static_entry_check(p, h, kViewDoor, kTuesday10, CredentialKind::uid).reason == Reason::revoked);
  }
  SECTION("validity window, valid_until inclusive") {
    h.valid_from = kTuesday10;
    h.valid_until = kTuesday10 + 1h;
    CHECK(static_entry_check(p, h, kViewDoor, kTuesday10 - 1ms, std::nullopt).reason == Reason::not_yet_valid);
    CHECK(static_entry_check(p, h, kViewDoor, kTuesday10, std::nullopt).reason == Reason::ok);
    CHECK(static_entry_check(p, h, kViewDoor, kTuesday10 + 1h, std::nullopt).reason == Reason::ok);
    CHECK(static_entry_check(p, h, kViewDoor, kTuesday10 + 1h + 1ms, std::nullopt).reason == Reason::expired);
  }
  SECTION("expired beats a weak credential") {
    h.valid_until = kTuesday10 - 1ms;
    CHECK(static_entry_check(p, h, kViewDoor, kTuesday10, CredentialKind::uid).reason == Reason::expired);
  }
  SECTION("weak credential: presented, or the enrolled one when nothing was presented") {
    CHECK(static_entry_check(p, h, kViewDoor, kTuesday10, CredentialKind::uid).reason == Reason::weak_credential);
    h.enrolled = CredentialKind::uid;
    CHECK(static_entry_check(p, h, kViewDoor, kTuesday10, std::nullopt).reason == Reason::weak_credential);
    CHECK(static_entry_check(p, h, kViewDoor, kTuesday10, CredentialKind::desfire).reason == Reason::ok);
  }
  SECTION("weak credential beats no clearance") {
    const Holder emp = holder("e", role_bit(kEmployee), CredentialKind::uid);
    CHECK(static_entry_check(p, emp, kViewDoor, kTuesday10, std::nullopt).reason == Reason::weak_credential);
  }
  SECTION("no clearance, then schedule") {
    const Holder emp = holder("e", role_bit(kEmployee));
    CHECK(static_entry_check(p, emp, kViewDoor, kTuesday10, std::nullopt).reason == Reason::no_clearance);
    CHECK(static_entry_check(p, h, kViewDoor, jst(2026, 12, 1, 7, 59), std::nullopt).reason ==
          Reason::outside_schedule);
    CHECK(static_entry_check(p, holder("n", 0), kLobby, kTuesday10, std::nullopt).reason == Reason::no_clearance);
  }
}

TEST_CASE("policy: static_entry_check reports escort needs; any direct role removes them", "[policy]") {
  const Policy p = sample_site();
  const Holder con = holder("c", role_bit(kContractor));
  const Eligibility lobby = static_entry_check(p, con, kLobby, kTuesday10, std::nullopt);
  CHECK(lobby.reason == Reason::ok);
  CHECK(lobby.needs_escort);
  CHECK(lobby.escort_roles == role_bit(kEmployee));
  const Eligibility view = static_entry_check(p, con, kViewDoor, kTuesday10, std::nullopt);
  CHECK(view.reason == Reason::ok);
  CHECK(view.needs_escort);
  CHECK(view.escort_roles == role_bit(kDbOperator));

  // Role union: a contractor who is also an employee needs no escort into the office.
  const Holder both = holder("b", role_bit(kContractor) | role_bit(kEmployee));
  const Eligibility u = static_entry_check(p, both, kLobby, kTuesday10, std::nullopt);
  CHECK(u.reason == Reason::ok);
  CHECK_FALSE(u.needs_escort);
  CHECK(u.escort_roles == 0);

  // At 21:00 db-hours are closed but office-hours open: the employee role alone decides.
  const Holder ve = holder("ve", role_bit(kDbViewer) | role_bit(kEmployee));
  CHECK(static_entry_check(p, ve, kLobby, jst(2026, 12, 1, 21, 0), std::nullopt).reason == Reason::ok);
  CHECK(static_entry_check(p, ve, kViewDoor, jst(2026, 12, 1, 21, 0), std::nullopt).reason == Reason::outside_schedule);
}

TEST_CASE("policy: zone_access checks clearance and schedule only", "[policy]") {
  const Policy p = sample_site();
  const LocalTime saturday = local(p, jst(2026, 12, 5, 12, 0));
  CHECK(zone_access(p, holder("e", role_bit(kEmployee)), kOffice, saturday).reason == Reason::outside_schedule);
  CHECK(zone_access(p, holder("g", role_bit(kGuard)), kDbOps, saturday).reason == Reason::ok);
  CHECK(zone_access(p, holder("e", role_bit(kEmployee)), kDbOps, saturday).reason == Reason::no_clearance);
  // Revocation is not part of zone access.
  Holder r = holder("r", role_bit(kGuard));
  r.revoked = true;
  CHECK(zone_access(p, r, kDbOps, saturday).reason == Reason::ok);
}
