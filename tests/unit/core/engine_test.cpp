// SPDX-License-Identifier: Apache-2.0
// Behaviour of the decision engine against docs/rules.md, on the sample site built in code.
#include "core/engine.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "unit/core/test_site.hpp"

using namespace zonegate::core;
using namespace zonegate::test_site;
using namespace std::chrono_literals;

namespace {

// Tuesday 2026-12-01 10:00 in Tokyo: every schedule of the sample site is open.
const Instant kT0 = jst(2026, 12, 1, 10, 0);

const Holder kEmp = holder("emp", role_bit(kEmployee), CredentialKind::uid);
const Holder kEmp2 = holder("emp2", role_bit(kEmployee), CredentialKind::desfire);
const Holder kViewer = holder("viewer", role_bit(kDbViewer));
const Holder kViewer2 = holder("viewer2", role_bit(kDbViewer));
const Holder kOp1 = holder("op1", role_bit(kDbOperator));
const Holder kOp2 = holder("op2", role_bit(kDbOperator));
const Holder kOp3 = holder("op3", role_bit(kDbOperator));
const Holder kCon = holder("con", role_bit(kContractor));
const Holder kCon2 = holder("con2", role_bit(kContractor));
const Holder kGuardian = holder("guard", role_bit(kGuard));

Holder op(int n) { return holder("op" + std::to_string(n), role_bit(kDbOperator)); }

BadgePresented tap(const Holder& h, DoorIdx door, Direction dir = Direction::in) {
  BadgePresented b;
  b.door = door;
  b.dir = dir;
  b.badge = "b-" + h.person_id;
  b.presented = h.enrolled;
  b.holder = h;
  return b;
}

GuardCommand command(GuardAction action, std::string actor = "guard", CapabilityMask caps = kAllCaps) {
  GuardCommand g;
  g.action = action;
  g.actor = std::move(actor);
  g.actor_caps = caps;
  g.note = "test";
  return g;
}

std::vector<Decision> decisions(const Effects& fx) {
  std::vector<Decision> out;
  for (const Record& r : fx.records) {
    if (const auto* d = std::get_if<Decision>(&r)) out.push_back(*d);
  }
  return out;
}

std::string describe(const Decision& d) {
  return std::string(to_string(d.verdict)) + " " + std::string(to_string(d.reason));
}

/// "verdict reason" of the last decision about `person` in the batch, or "no decision".
std::string outcome(const Effects& fx, std::string_view person) {
  std::string out = "no decision";
  for (const Decision& d : decisions(fx)) {
    if (d.person == person) out = describe(d);
  }
  return out;
}

/// The last decision about `person` in the batch.
Decision decision_of(const Effects& fx, std::string_view person) {
  std::optional<Decision> found;
  for (const Decision& d : decisions(fx)) {
    if (d.person == person) found = d;
  }
  if (!found) FAIL("no decision for " << person);
  return *found;
}

std::vector<Alarm> alarms(const Effects& fx, AlarmKind kind) {
  std::vector<Alarm> out;
  for (const Record& r : fx.records) {
    if (const auto* a = std::get_if<Alarm>(&r); a && a->kind == kind) out.push_back(*a);
  }
  return out;
}

std::size_t alarm_count(const Effects& fx) {
  return static_cast<std::size_t>(std::count_if(fx.records.begin(), fx.records.end(),
                                                [](const Record& r) { return std::holds_alternative<Alarm>(r); }));
}

std::vector<Note> notes(const Effects& fx, std::string_view kind) {
  std::vector<Note> out;
  for (const Record& r : fx.records) {
    if (const auto* n = std::get_if<Note>(&r); n && n->kind == kind) out.push_back(*n);
  }
  return out;
}

std::vector<DoorCommand> commands(const Effects& fx, DoorIdx door, DoorCommand::Kind kind) {
  std::vector<DoorCommand> out;
  for (const DoorCommand& c : fx.commands) {
    if (c.door == door && c.kind == kind) out.push_back(c);
  }
  return out;
}

std::size_t unlocks(const Effects& fx, DoorIdx door) { return commands(fx, door, DoorCommand::Kind::unlock).size(); }
std::size_t locks(const Effects& fx, DoorIdx door) { return commands(fx, door, DoorCommand::Kind::lock).size(); }

/// An engine on the sample site with a clock the test moves by hand.
struct Rig {
  std::shared_ptr<const Policy> policy;
  Engine engine;
  Instant now;
  Effects fx;  ///< effects of the last step only

  explicit Rig(std::shared_ptr<const Policy> p = shared_site(), Instant start = kT0)
      : policy(p), engine(std::move(p)), now(start) {}
  explicit Rig(Instant start) : Rig(shared_site(), start) {}

  Effects& on(const Event& e) {
    fx.clear();
    engine.handle(e, now, fx);
    return fx;
  }
  Effects& wait(Duration d) {
    now += d;
    fx.clear();
    engine.advance(now, fx);
    return fx;
  }
  Effects& badge(const Holder& h, DoorIdx door, Direction dir = Direction::in) { return on(tap(h, door, dir)); }
  Effects& open(DoorIdx door) { return on(DoorSensor{door, true}); }
  Effects& close(DoorIdx door) { return on(DoorSensor{door, false}); }
  Effects& clear(GateIdx gate) { return on(GateSignal{gate, GateSignalKind::clear}); }
  Effects& gate_alarm(GateIdx gate) { return on(GateSignal{gate, GateSignalKind::alarm}); }
  Effects& rex(DoorIdx door) { return on(RexPressed{door}); }
  Effects& fire(bool active) { return on(FireInput{active}); }
  Effects& guard(const GuardCommand& g) { return on(g); }
  void place(const Holder& h, ZoneIdx zone) { engine.place(h.person_id, zone); }
  Location where(const Holder& h) const { return engine.location_of(h.person_id); }

  /// Puts `h` in db-view, has them badge out at the view-door and the gate alarm: they are held.
  void hold_at_view_door(const Holder& h) {
    place(h, kDbView);
    REQUIRE(outcome(badge(h, kViewDoor, Direction::out), h.person_id) == "pending screening");
    REQUIRE(outcome(gate_alarm(kViewGate), h.person_id) == "deny screening_failed");
  }
};

}  // namespace

// =============================================================================================
// Reason codes, one by one
// =============================================================================================

TEST_CASE("engine: a cleared badge is granted ok and unlocks the door for its unlock time", "[engine][reason]") {
  Rig r;
  const Effects& fx = r.badge(kEmp, kLobby);
  REQUIRE(decisions(fx).size() == 1);
  const Decision d = decisions(fx).front();
  CHECK(describe(d) == "grant ok");
  CHECK(d.person == "emp");
  CHECK(d.badge == "b-emp");
  CHECK(d.door == kLobby);
  CHECK(d.dir == Direction::in);
  CHECK(d.at == kT0);
  CHECK_FALSE(d.alarm_raised);
  CHECK(d.request != 0);
  REQUIRE(fx.commands.size() == 1);
  CHECK(fx.commands[0].kind == DoorCommand::Kind::unlock);
  CHECK(fx.commands[0].door == kLobby);
  CHECK(fx.commands[0].duration == 5s);
  CHECK(r.engine.door_status(kLobby).unlocked);
  CHECK(r.engine.door_status(kLobby).unlock_until == kT0 + 5s);
  CHECK(r.engine.unlocked_doors() == std::vector<DoorIdx>{kLobby});
  // Granted is not yet passed: the location changes when the door opens.
  CHECK(r.where(kEmp).zone == kOutside);
  CHECK(alarm_count(fx) == 0);
}

TEST_CASE("engine: unknown badge is denied unknown_badge", "[engine][reason]") {
  Rig r;
  BadgePresented b;
  b.door = kLobby;
  b.badge = "04:A2:19:FF";
  const Effects& fx = r.on(b);
  REQUIRE(decisions(fx).size() == 1);
  const Decision d = decisions(fx).front();
  CHECK(describe(d) == "deny unknown_badge");
  CHECK(d.person.empty());
  CHECK(d.badge == "04:A2:19:FF");
  CHECK(fx.commands.empty());
  CHECK_FALSE(r.engine.door_status(kLobby).unlocked);
}

TEST_CASE("engine: a failed DESFire authentication is denied credential_auth_failed", "[engine][reason]") {
  Rig r;
  BadgePresented b = tap(kViewer, kLobby);
  b.auth_failed = true;
  CHECK(outcome(r.on(b), "viewer") == "deny credential_auth_failed");
  CHECK(r.fx.commands.empty());
  // Even for a card the credential store does not know.
  b.holder.reset();
  CHECK(describe(decisions(r.on(b)).at(0)) == "deny credential_auth_failed");
}

TEST_CASE("engine: revoked badge is denied revoked", "[engine][reason]") {
  Rig r;
  Holder h = kEmp;
  h.revoked = true;
  CHECK(outcome(r.badge(h, kLobby), "emp") == "deny revoked");
  CHECK(r.fx.commands.empty());
}

TEST_CASE("engine: validity window edges (valid_from and valid_until inclusive)", "[engine][reason]") {
  Rig r;
  Holder h = kEmp;
  SECTION("valid_from") {
    h.valid_from = kT0 + 1s;
    CHECK(outcome(r.badge(h, kLobby), "emp") == "deny not_yet_valid");
    r.wait(999ms);
    CHECK(outcome(r.badge(h, kLobby), "emp") == "deny not_yet_valid");
    r.wait(1ms);
    CHECK(outcome(r.badge(h, kLobby), "emp") == "grant ok");
  }
  SECTION("valid_until") {
    h.valid_until = kT0 + 1s;
    CHECK(outcome(r.badge(h, kLobby), "emp") == "grant ok");
    r.wait(1s);
    CHECK(outcome(r.badge(h, kLobby), "emp") == "grant ok");
    r.wait(1ms);
    CHECK(outcome(r.badge(h, kLobby), "emp") == "deny expired");
  }
}

TEST_CASE("engine: a UID-only credential is refused weak_credential where DESFire is required", "[engine][reason]") {
  Rig r;
  r.place(kViewer, kOffice);
  BadgePresented b = tap(kViewer, kViewDoor);
  b.presented = CredentialKind::uid;  // a DESFire card read without the AES login
  CHECK(outcome(r.on(b), "viewer") == "deny weak_credential");
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
  // The office accepts UID badges.
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "grant ok");
  // Exits of the DB zones need the strong credential too.
  r.place(kViewer2, kDbView);
  BadgePresented out = tap(kViewer2, kViewDoor, Direction::out);
  out.presented = CredentialKind::uid;
  CHECK(outcome(r.on(out), "viewer2") == "deny weak_credential");
}

TEST_CASE("engine: no role granting the zone is denied no_clearance", "[engine][reason]") {
  Rig r;
  r.place(kEmp2, kOffice);
  CHECK(outcome(r.badge(kEmp2, kViewDoor), "emp2") == "deny no_clearance");
  r.place(kViewer, kDbView);
  CHECK(outcome(r.badge(kViewer, kOpsDoor), "viewer") == "deny no_clearance");
  CHECK(outcome(r.badge(holder("nobody", 0), kLobby), "nobody") == "deny no_clearance");
  CHECK(r.engine.pending().empty());
}

TEST_CASE("engine: exits skip clearance, schedule and lockdown", "[engine][reason]") {
  Rig r(jst(2026, 12, 1, 23, 0));  // every schedule but the guard's is closed
  r.place(kEmp, kOffice);
  CHECK(outcome(r.badge(kEmp, kLobby, Direction::out), "emp") == "grant ok");
  r.place(kViewer, kDbView);
  r.guard(command(GuardAction::lockdown));  // whole site
  CHECK(outcome(r.badge(kViewer, kViewDoor, Direction::out), "viewer") == "pending screening");
  // ...but an entry at that hour is refused.
  r.place(kEmp2, kOutside);
  CHECK(outcome(r.badge(kEmp2, kLobby), "emp2") == "deny outside_schedule");
}

TEST_CASE("engine: hard anti-passback denies with an alarm, on entry and on exit", "[engine][reason][apb]") {
  Rig r;
  SECTION("entry from a zone the person is not in") {
    // Never seen: outside, not in the office the view-door leads from.
    const Effects& fx = r.badge(kViewer, kViewDoor);
    const Decision d = decision_of(fx, "viewer");
    CHECK(describe(d) == "deny anti_passback");
    CHECK(d.alarm_raised);
    const auto a = alarms(fx, AlarmKind::anti_passback);
    REQUIRE(a.size() == 1);
    CHECK(a[0].person == "viewer");
    CHECK(a[0].source == "view-door");
    CHECK(a[0].severity == Severity::warning);
    CHECK(fx.commands.empty());
  }
  SECTION("exit from a zone the person is not in") {
    r.place(kViewer, kOffice);
    const Effects& fx = r.badge(kViewer, kViewDoor, Direction::out);
    CHECK(outcome(fx, "viewer") == "deny anti_passback");
    CHECK(alarms(fx, AlarmKind::anti_passback).size() == 1);
  }
}

TEST_CASE("engine: soft anti-passback grants with reason anti_passback and raises the alarm", "[engine][reason][apb]") {
  Rig r;
  r.place(kEmp, kOffice);  // badging in at the lobby although already inside
  const Effects& fx = r.badge(kEmp, kLobby);
  const Decision d = decision_of(fx, "emp");
  CHECK(describe(d) == "grant anti_passback");
  CHECK(d.alarm_raised);
  REQUIRE(alarms(fx, AlarmKind::anti_passback).size() == 1);
  CHECK(alarms(fx, AlarmKind::anti_passback)[0].person == "emp");
  CHECK(unlocks(fx, kLobby) == 1);
  r.open(kLobby);
  CHECK(r.where(kEmp).zone == kOffice);
}

TEST_CASE("engine: anti-passback off raises nothing", "[engine][reason][apb]") {
  Rig r(shared_site([](Policy& p) { p.zones[kOffice].anti_passback = AntiPassback::off; }));
  REQUIRE(r.policy->doors[kLobby].anti_passback == AntiPassback::off);
  r.place(kEmp, kOffice);
  const Effects& fx = r.badge(kEmp, kLobby);
  CHECK(outcome(fx, "emp") == "grant ok");
  CHECK(alarm_count(fx) == 0);
}

TEST_CASE("engine: an unknown location passes anti-passback from any zone", "[engine][reason][apb]") {
  Rig r;
  r.place(kViewer, kDbOps);  // the controller believes the viewer is deep inside
  GuardCommand f = command(GuardAction::forgive);
  f.person = "viewer";
  r.guard(f);
  REQUIRE_FALSE(r.where(kViewer).known);
  const Effects& fx = r.badge(kViewer, kViewDoor);
  CHECK(outcome(fx, "viewer") == "pending screening");
  CHECK(alarm_count(fx) == 0);
}

TEST_CASE("engine: occupancy_full when db-ops already holds its six", "[engine][reason][occupancy]") {
  Rig r;
  for (int i = 1; i <= 6; ++i) r.place(op(i), kDbOps);
  CHECK(r.engine.occupancy(kDbOps) == 6);
  CHECK(r.engine.occupancy(kDbView) == 6);  // sub-zones count
  CHECK(r.engine.occupancy(kOffice) == 6);
  r.place(op(7), kDbView);
  r.place(op(8), kDbView);
  CHECK(outcome(r.badge(op(7), kOpsDoor), "op7") == "deny occupancy_full");
  CHECK(r.engine.pending().empty());
  // Leaving makes room (entries only are limited).
  r.place(op(6), kDbView);
  CHECK(outcome(r.badge(op(7), kOpsDoor), "op7") == "pending two_person");
}

TEST_CASE("engine: occupancy counts people in sub-zones", "[engine][reason][occupancy]") {
  Rig r;
  for (int i = 1; i <= 6; ++i) r.place(op(i), kDbOps);
  for (int i = 7; i <= 19; ++i) r.place(op(i), kDbView);
  r.place(kViewer, kOffice);
  REQUIRE(r.engine.occupancy(kDbView) == 19);
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");  // the 20th
  r.place(kViewer2, kOffice);
  // The viewer's pending request counts: 19 + 1 pending + 1 = 21 > 20.
  CHECK(outcome(r.badge(kViewer2, kViewDoor), "viewer2") == "deny occupancy_full");
}

TEST_CASE("engine: occupancy counts pending requests heading into the zone", "[engine][reason][occupancy]") {
  Rig r;
  for (int i = 1; i <= 5; ++i) r.place(op(i), kDbOps);
  r.place(op(6), kDbView);
  r.place(op(7), kDbView);
  CHECK(outcome(r.badge(op(6), kOpsDoor), "op6") == "pending two_person");
  // 5 inside + 1 pending + op7 = 7 > 6: the second person is refused, not joined.
  CHECK(outcome(r.badge(op(7), kOpsDoor), "op7") == "deny occupancy_full");
}

TEST_CASE("engine: occupancy counts unused grants heading into the zone", "[engine][reason][occupancy]") {
  Rig r(shared_site([](Policy& p) {
    p.doors[kOpsDoor].two_person.on_in = false;
    p.doors[kOpsDoor].gate.reset();
  }));
  for (int i = 1; i <= 5; ++i) r.place(op(i), kDbOps);
  r.place(op(6), kDbView);
  r.place(op(7), kDbView);
  CHECK(outcome(r.badge(op(6), kOpsDoor), "op6") == "grant ok");
  CHECK(outcome(r.badge(op(7), kOpsDoor), "op7") == "deny occupancy_full");
  // The grant expires unused: room again.
  CHECK(notes(r.wait(5s), "grant_unused").size() == 1);
  CHECK(outcome(r.badge(op(7), kOpsDoor), "op7") == "grant ok");
}

TEST_CASE("engine: occupancy does not count the mover twice in a zone that encloses the source",
          "[engine][reason][occupancy]") {
  // rules.md: an entry is denied if it would exceed "the target zone or any zone enclosing it
  // (that does not already enclose the source)". Moving office -> db-view does not change the
  // office count, so a full office must not block it.
  Rig r(shared_site([](Policy& p) { p.zones[kOffice].max_occupancy = 2; }));
  r.place(kViewer, kOffice);
  r.place(kEmp, kOffice);
  REQUIRE(r.engine.occupancy(kOffice) == 2);
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
}

TEST_CASE("engine: the root zone counts every located person, including first-time movers", "[engine][occupancy]") {
  // occupancy(z) = known people in z and its sub-zones; the root (outside) encloses everything.
  Rig r;
  r.place(kViewer, kOffice);
  REQUIRE(r.engine.occupancy(kOutside) == 1);
  REQUIRE(outcome(r.badge(kEmp, kLobby), "emp") == "grant ok");  // emp never seen before
  r.open(kLobby);
  REQUIRE(r.where(kEmp).zone == kOffice);
  CHECK(r.engine.occupancy(kOffice) == 2);
  CHECK(r.engine.occupancy(kOutside) == 2);
}

// =============================================================================================
// Order of checks
// =============================================================================================

TEST_CASE("engine: order of checks — the first failing check decides", "[engine][order]") {
  Rig r;
  SECTION("auth failure beats unknown badge") {
    BadgePresented b;
    b.door = kLobby;
    b.badge = "x";
    b.auth_failed = true;
    CHECK(describe(decisions(r.on(b)).at(0)) == "deny credential_auth_failed");
  }
  SECTION("unknown badge beats the fire release") {
    r.fire(true);
    BadgePresented b;
    b.door = kLobby;
    b.dir = Direction::out;
    b.badge = "x";
    CHECK(describe(decisions(r.on(b)).at(0)) == "deny unknown_badge");
  }
  SECTION("fire at an egress door comes before revocation (check 3 before 4)") {
    Holder h = kEmp;
    h.revoked = true;
    r.place(h, kOffice);
    r.fire(true);
    CHECK(outcome(r.badge(h, kLobby, Direction::out), "emp") == "grant fire");
  }
  SECTION("revoked beats validity, credential and clearance") {
    Holder h = kEmp;
    h.revoked = true;
    h.valid_until = kT0 - 1h;
    r.place(h, kOffice);
    CHECK(outcome(r.badge(h, kViewDoor), "emp") == "deny revoked");
  }
  SECTION("expired beats a weak credential") {
    Holder h = kViewer;
    h.valid_until = kT0 - 1ms;
    BadgePresented b = tap(h, kViewDoor);
    b.presented = CredentialKind::uid;
    r.place(h, kOffice);
    CHECK(outcome(r.on(b), "viewer") == "deny expired");
  }
  SECTION("weak credential beats held") {
    r.hold_at_view_door(kViewer);
    BadgePresented b = tap(kViewer, kViewDoor, Direction::out);
    b.presented = CredentialKind::uid;
    CHECK(outcome(r.on(b), "viewer") == "deny weak_credential");
  }
  SECTION("held beats clearance") {
    r.hold_at_view_door(kViewer);
    CHECK(outcome(r.badge(kViewer, kOpsDoor), "viewer") == "deny held");
  }
  SECTION("weak credential beats no clearance") {
    r.place(kEmp, kOffice);  // UID-only employee at the DESFire door
    CHECK(outcome(r.badge(kEmp, kViewDoor), "emp") == "deny weak_credential");
  }
  SECTION("no clearance beats schedule") {
    r.now = jst(2026, 12, 1, 23, 0);
    r.place(kEmp2, kOffice);
    CHECK(outcome(r.badge(kEmp2, kViewDoor), "emp2") == "deny no_clearance");
  }
  SECTION("schedule beats lockdown") {
    r.guard(command(GuardAction::lockdown));
    r.now = jst(2026, 12, 1, 23, 0);
    CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "deny outside_schedule");
  }
  SECTION("lockdown beats anti-passback (and raises no anti-passback alarm)") {
    GuardCommand g = command(GuardAction::lockdown);
    g.zone = kDbView;
    r.guard(g);
    const Effects& fx = r.badge(kViewer, kViewDoor);  // never seen: would also fail anti-passback
    CHECK(outcome(fx, "viewer") == "deny lockdown");
    CHECK(alarms(fx, AlarmKind::anti_passback).empty());
  }
  SECTION("anti-passback beats occupancy") {
    for (int i = 1; i <= 20; ++i) r.place(op(i), kDbView);
    CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "deny anti_passback");
  }
  SECTION("occupancy beats group requirements") {
    for (int i = 1; i <= 6; ++i) r.place(op(i), kDbOps);
    r.place(op(7), kDbView);
    CHECK(outcome(r.badge(op(7), kOpsDoor), "op7") == "deny occupancy_full");
  }
  SECTION("group requirements come before screening") {
    r.place(kOp1, kDbView);
    CHECK(outcome(r.badge(kOp1, kOpsDoor), "op1") == "pending two_person");
  }
  SECTION("screening comes before the interlock") {
    r.open(kOpsDoor);  // forced open: the vestibule is busy
    r.place(kViewer, kOffice);
    CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
    CHECK(outcome(r.clear(kViewGate), "viewer") == "deny interlock_busy");
  }
}

// =============================================================================================
// Schedules, holidays, time zone
// =============================================================================================

TEST_CASE("engine: schedule windows are [from, to) by minute", "[engine][schedule]") {
  CHECK(outcome(Rig(jst(2026, 12, 1, 6, 59, 59)).badge(kEmp, kLobby), "emp") == "deny outside_schedule");
  CHECK(outcome(Rig(jst(2026, 12, 1, 7, 0, 0)).badge(kEmp, kLobby), "emp") == "grant ok");
  CHECK(outcome(Rig(jst(2026, 12, 1, 21, 59, 59)).badge(kEmp, kLobby), "emp") == "grant ok");
  CHECK(outcome(Rig(jst(2026, 12, 1, 22, 0, 0)).badge(kEmp, kLobby), "emp") == "deny outside_schedule");
  // The same person, the clock moving across 07:00.
  Rig r(jst(2026, 12, 1, 6, 59, 59, 999));
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "deny outside_schedule");
  r.wait(1ms);
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "grant ok");
}

TEST_CASE("engine: a weekday holiday closes the employee's schedule but not the guard's", "[engine][schedule]") {
  Rig r(jst(2026, 12, 31, 10, 0));  // Thursday, a holiday
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "deny outside_schedule");
  CHECK(outcome(r.badge(kGuardian, kLobby), "guard") == "grant ok");
  Rig ny(jst(2027, 1, 1, 10, 0));  // Friday, a holiday
  CHECK(outcome(ny.badge(kEmp, kLobby), "emp") == "deny outside_schedule");
  Rig after(jst(2027, 1, 4, 10, 0));  // Monday after the holidays
  CHECK(outcome(after.badge(kEmp, kLobby), "emp") == "grant ok");
}

TEST_CASE("engine: weekends are closed for office hours, open for the guard", "[engine][schedule]") {
  Rig r(jst(2026, 12, 5, 10, 0));  // Saturday
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "deny outside_schedule");
  CHECK(outcome(r.badge(kGuardian, kLobby), "guard") == "grant ok");
  Rig s(jst(2026, 12, 6, 23, 59, 59));  // Sunday night
  CHECK(outcome(s.badge(kGuardian, kLobby), "guard") == "grant ok");
}

TEST_CASE("engine: schedules are read in the site time zone, not UTC", "[engine][schedule]") {
  SECTION("Monday 23:30 UTC is Tuesday 08:30 in Tokyo: db-hours open") {
    Rig r(utc(2026, 11, 30, 23, 30));
    r.place(kViewer, kOffice);
    CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
  }
  SECTION("Tuesday 11:30 UTC is 20:30 in Tokyo: db-hours closed") {
    Rig r(utc(2026, 12, 1, 11, 30));
    r.place(kViewer, kOffice);
    CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "deny outside_schedule");
  }
  SECTION("Friday 22:00 UTC is Saturday 07:00 in Tokyo: weekend, closed") {
    Rig r(utc(2026, 12, 4, 22, 0));
    CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "deny outside_schedule");
  }
}

TEST_CASE("engine: role union — any role with an open schedule admits", "[engine][schedule]") {
  // 21:00: db-hours are closed, office-hours open.
  Rig r(jst(2026, 12, 1, 21, 0));
  const Holder both = holder("both", role_bit(kDbViewer) | role_bit(kEmployee));
  CHECK(outcome(r.badge(both, kLobby), "both") == "grant ok");
  CHECK(outcome(r.badge(kViewer, kLobby), "viewer") == "deny outside_schedule");
  // A contractor who is also an employee needs no escort.
  const Holder ce = holder("ce", role_bit(kContractor) | role_bit(kEmployee));
  CHECK(outcome(r.badge(ce, kLobby), "ce") == "grant ok");
}

// =============================================================================================
// Doors: unlock, open, close, forced, held, REX
// =============================================================================================

TEST_CASE("engine: an unused grant expires: relock, grant_unused, no location change", "[engine][door]") {
  Rig r;
  r.badge(kEmp, kLobby);
  CHECK(r.engine.next_deadline() == kT0 + 5s);
  CHECK(r.wait(4999ms).empty());
  CHECK(r.engine.door_status(kLobby).unlocked);
  const Effects& fx = r.wait(1ms);
  const auto unused = notes(fx, "grant_unused");
  REQUIRE(unused.size() == 1);
  CHECK(unused[0].subject == "lobby");
  CHECK(unused[0].person == "emp");
  CHECK(unused[0].at == kT0 + 5s);
  CHECK(locks(fx, kLobby) == 1);
  CHECK(notes(fx, "relocked").size() == 1);
  CHECK_FALSE(r.engine.door_status(kLobby).unlocked);
  CHECK(r.where(kEmp).zone == kOutside);
  CHECK(r.engine.occupancy(kOffice) == 0);
  CHECK_FALSE(r.engine.next_deadline().has_value());
}

TEST_CASE("engine: opening within the unlock time moves the person; closing relocks", "[engine][door]") {
  Rig r;
  r.badge(kEmp, kLobby);
  r.wait(4999ms);
  const Effects& opened = r.open(kLobby);
  const auto moved = notes(opened, "moved");
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].subject == "office");
  CHECK(moved[0].person == "emp");
  CHECK(alarms(opened, AlarmKind::door_forced).empty());
  CHECK(r.where(kEmp).zone == kOffice);
  CHECK(r.where(kEmp).known);
  CHECK(r.engine.occupancy(kOffice) == 1);
  CHECK(r.engine.people_in(kOffice) == std::vector<std::string>{"emp"});
  CHECK(r.engine.door_status(kLobby).open);

  const Effects& closed = r.close(kLobby);
  CHECK(locks(closed, kLobby) == 1);
  CHECK(notes(closed, "door_closed").size() == 1);
  CHECK_FALSE(r.engine.door_status(kLobby).unlocked);
  CHECK_FALSE(r.engine.door_status(kLobby).open);
  // The grant was used: nothing expires later.
  CHECK(notes(r.wait(1min), "grant_unused").empty());
}

TEST_CASE("engine: opening at the end of the unlock time is a forced opening", "[engine][door]") {
  Rig r;
  r.badge(kEmp, kLobby);
  r.wait(5s);
  const Effects& fx = r.open(kLobby);
  CHECK(alarms(fx, AlarmKind::door_forced).size() == 1);
  CHECK(notes(fx, "moved").empty());
  CHECK(r.where(kEmp).zone == kOutside);
}

TEST_CASE("engine: a door opening while locked raises door_forced", "[engine][door]") {
  Rig r;
  const Effects& fx = r.open(kViewDoor);
  const auto a = alarms(fx, AlarmKind::door_forced);
  REQUIRE(a.size() == 1);
  CHECK(a[0].source == "view-door");
  CHECK(a[0].severity == Severity::critical);
  CHECK(r.engine.door_status(kViewDoor).forced);
  CHECK(r.open(kViewDoor).empty());  // a repeated edge changes nothing
  r.close(kViewDoor);
  CHECK_FALSE(r.engine.door_status(kViewDoor).forced);
}

TEST_CASE("engine: held-open pre-alarm at 20 s and alarm at 30 s exactly, not before; closing resets",
          "[engine][door]") {
  Rig r;
  r.badge(kEmp, kLobby);
  r.open(kLobby);
  const Instant opened = r.now;
  CHECK(alarms(r.wait(19999ms), AlarmKind::door_held_prealarm).empty());
  const auto pre = alarms(r.wait(1ms), AlarmKind::door_held_prealarm);
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].at == opened + 20s);
  CHECK(pre[0].source == "lobby");
  CHECK(pre[0].severity == Severity::warning);
  CHECK(r.engine.door_status(kLobby).held_prealarm);
  CHECK_FALSE(r.engine.door_status(kLobby).held_alarm);
  CHECK(r.engine.next_deadline() == opened + 30s);
  CHECK(alarms(r.wait(9999ms), AlarmKind::door_held).empty());
  const auto held = alarms(r.wait(1ms), AlarmKind::door_held);
  REQUIRE(held.size() == 1);
  CHECK(held[0].at == opened + 30s);
  CHECK(held[0].severity == Severity::critical);
  CHECK(r.engine.door_status(kLobby).held_alarm);
  CHECK(r.wait(1h).empty());  // raised once

  r.close(kLobby);
  CHECK_FALSE(r.engine.door_status(kLobby).held_prealarm);
  CHECK_FALSE(r.engine.door_status(kLobby).held_alarm);
  CHECK_FALSE(r.engine.next_deadline().has_value());

  // Timing restarts on the next opening (here a forced one).
  r.open(kLobby);
  const Instant reopened = r.now;
  CHECK(alarms(r.wait(19999ms), AlarmKind::door_held_prealarm).empty());
  CHECK(alarms(r.wait(1ms), AlarmKind::door_held_prealarm).at(0).at == reopened + 20s);
}

TEST_CASE("engine: closing before 20 s raises no held-open alarm", "[engine][door]") {
  Rig r;
  r.badge(kEmp, kLobby);
  r.open(kLobby);
  r.wait(19s);
  r.close(kLobby);
  const Effects& fx = r.wait(1h);
  CHECK(alarms(fx, AlarmKind::door_held_prealarm).empty());
  CHECK(alarms(fx, AlarmKind::door_held).empty());
}

TEST_CASE("engine: REX unlocks a door with request_to_exit", "[engine][door][rex]") {
  Rig r;
  const Effects& fx = r.rex(kLobby);
  CHECK(notes(fx, "rex").size() == 1);
  REQUIRE(unlocks(fx, kLobby) == 1);
  CHECK(commands(fx, kLobby, DoorCommand::Kind::unlock)[0].duration == 5s);
  CHECK(decisions(fx).empty());
  const Effects& opened = r.open(kLobby);
  CHECK(alarms(opened, AlarmKind::door_forced).empty());
  CHECK(notes(opened, "moved").empty());
}

TEST_CASE("engine: REX is ignored where request_to_exit is off", "[engine][door][rex]") {
  Rig r;
  const Effects& fx = r.rex(kViewDoor);
  CHECK(notes(fx, "rex_ignored").size() == 1);
  CHECK(fx.commands.empty());
  CHECK_FALSE(r.engine.door_status(kViewDoor).unlocked);
  CHECK(alarms(r.open(kViewDoor), AlarmKind::door_forced).size() == 1);
}

TEST_CASE("engine: REX is refused while an interlocked door is busy", "[engine][door][rex][interlock]") {
  Rig r(shared_site([](Policy& p) { p.doors[kViewDoor].request_to_exit = true; }));
  GuardCommand u = command(GuardAction::unlock);
  u.door = kOpsDoor;
  REQUIRE(unlocks(r.guard(u), kOpsDoor) == 1);
  const Effects& fx = r.rex(kViewDoor);
  CHECK(notes(fx, "rex_refused").size() == 1);
  CHECK(fx.commands.empty());
  CHECK_FALSE(r.engine.door_status(kViewDoor).unlocked);
  r.wait(5s);  // the ops-door relocks
  CHECK(unlocks(r.rex(kViewDoor), kViewDoor) == 1);
}

// =============================================================================================
// Screening
// =============================================================================================

TEST_CASE("engine: screening pends until the gate clears, then grants", "[engine][screening]") {
  Rig r;
  r.place(kViewer, kOffice);
  const Effects& fx = r.badge(kViewer, kViewDoor);
  CHECK(outcome(fx, "viewer") == "pending screening");
  CHECK(fx.commands.empty());
  const auto p = r.engine.pending();
  REQUIRE(p.size() == 1);
  CHECK(p[0].waiting_for == Reason::screening);
  CHECK(p[0].people == std::vector<std::string>{"viewer"});
  CHECK(p[0].deadline == kT0 + 15s);
  CHECK(r.engine.next_deadline() == kT0 + 15s);
  r.wait(3s);
  const Effects& cleared = r.clear(kViewGate);
  CHECK(notes(cleared, "gate_clear").size() == 1);
  CHECK(outcome(cleared, "viewer") == "grant ok");
  CHECK(unlocks(cleared, kViewDoor) == 1);
  CHECK(r.engine.pending().empty());
  r.open(kViewDoor);
  CHECK(r.where(kViewer).zone == kDbView);
}

TEST_CASE("engine: gate clears go to the oldest screening request first (FIFO)", "[engine][screening]") {
  Rig r;
  r.place(kViewer, kOffice);
  r.place(kViewer2, kOffice);
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
  r.wait(1s);
  CHECK(outcome(r.badge(kViewer2, kViewDoor), "viewer2") == "pending screening");
  const Effects& first = r.clear(kViewGate);
  CHECK(outcome(first, "viewer") == "grant ok");
  CHECK(outcome(first, "viewer2") == "no decision");
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].people == std::vector<std::string>{"viewer2"});
  CHECK(outcome(r.clear(kViewGate), "viewer2") == "grant ok");
}

TEST_CASE("engine: gate clears go to the group that entered screening first", "[engine][screening]") {
  // rules.md: "The gate cannot see badges: passes go to the oldest group in screening at that
  // door." The viewer entered screening at +1 s; the contractor's group was created earlier
  // (gathering for an escort) but entered screening only at +2 s. The first person through the
  // gate is the viewer, so the first clear must be theirs.
  Rig r;
  r.place(kCon, kOffice);
  r.place(kViewer, kOffice);
  r.place(kOp1, kOffice);
  REQUIRE(outcome(r.badge(kCon, kViewDoor), "con") == "pending escort_required");
  r.wait(1s);
  REQUIRE(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
  r.wait(1s);
  REQUIRE(outcome(r.badge(kOp1, kViewDoor), "op1") == "pending screening");
  CHECK(outcome(r.clear(kViewGate), "viewer") == "grant ok");
}

TEST_CASE("engine: a clear with nobody screening is recorded and does nothing else", "[engine][screening]") {
  Rig r;
  const Effects& fx = r.clear(kViewGate);
  REQUIRE(fx.records.size() == 1);
  CHECK(notes(fx, "gate_clear").size() == 1);
  CHECK(notes(fx, "gate_clear")[0].subject == "view-gate");
  CHECK(fx.commands.empty());
}

TEST_CASE("engine: a gate alarm with no pending request raises screening_alarm", "[engine][screening]") {
  Rig r;
  const auto a = alarms(r.gate_alarm(kViewGate), AlarmKind::screening_alarm);
  REQUIRE(a.size() == 1);
  CHECK(a[0].source == "view-gate");
  CHECK(a[0].severity == Severity::critical);
  // A request still gathering (not yet screening) does not absorb the alarm.
  r.place(kOp1, kDbView);
  REQUIRE(outcome(r.badge(kOp1, kOpsDoor), "op1") == "pending two_person");
  const Effects& fx = r.gate_alarm(kOpsGate);
  CHECK(alarms(fx, AlarmKind::screening_alarm).size() == 1);
  CHECK(decisions(fx).empty());
  CHECK(r.engine.pending().size() == 1);
}

TEST_CASE("engine: a gate alarm on entry denies screening_failed without holding", "[engine][screening]") {
  Rig r;
  r.place(kViewer, kOffice);
  r.badge(kViewer, kViewDoor);
  const Effects& fx = r.gate_alarm(kViewGate);
  CHECK(outcome(fx, "viewer") == "deny screening_failed");
  const auto a = alarms(fx, AlarmKind::screening_alarm);
  REQUIRE(a.size() == 1);
  CHECK(a[0].person == "viewer");
  CHECK(fx.commands.empty());
  CHECK(r.engine.held().empty());
  CHECK(r.engine.pending().empty());
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
}

TEST_CASE("engine: no clear pass within the gate window is screening_timeout", "[engine][screening]") {
  Rig r;
  r.place(kViewer, kOffice);
  r.badge(kViewer, kViewDoor);
  CHECK(decisions(r.wait(14999ms)).empty());
  const Effects& fx = r.wait(1ms);
  CHECK(outcome(fx, "viewer") == "deny screening_timeout");
  CHECK(decision_of(fx, "viewer").at == kT0 + 15s);
  CHECK(r.engine.pending().empty());
  // A clear arriving late is just recorded.
  CHECK(decisions(r.clear(kViewGate)).empty());
}

TEST_CASE("engine: hold on exit alarm — held, badge refused held, guard release grants released",
          "[engine][screening][hold]") {
  Rig r;
  r.place(kViewer, kDbView);
  CHECK(outcome(r.badge(kViewer, kViewDoor, Direction::out), "viewer") == "pending screening");
  const Effects& fx = r.gate_alarm(kViewGate);
  CHECK(outcome(fx, "viewer") == "deny screening_failed");
  REQUIRE(alarms(fx, AlarmKind::screening_alarm).size() == 1);
  CHECK(alarms(fx, AlarmKind::screening_alarm)[0].detail == "held");
  CHECK(notes(fx, "held").size() == 1);
  CHECK(fx.commands.empty());
  CHECK_FALSE(r.engine.door_status(kViewDoor).unlocked);
  REQUIRE(r.engine.held().size() == 1);
  CHECK(r.engine.held()[0].person == "viewer");
  CHECK(r.engine.held()[0].door == kViewDoor);
  CHECK(r.engine.held()[0].since == kT0);
  CHECK(r.where(kViewer).zone == kDbView);

  // Every badge of theirs is refused, at any door.
  CHECK(outcome(r.badge(kViewer, kViewDoor, Direction::out), "viewer") == "deny held");
  CHECK(outcome(r.badge(kViewer, kLobby, Direction::out), "viewer") == "deny held");

  // Someone without the release capability cannot let them go.
  GuardCommand weak = command(GuardAction::release, "emp", cap_bit(Capability::forgive));
  weak.person = "viewer";
  const Effects& refused = r.guard(weak);
  CHECK(outcome(refused, "emp") == "deny no_clearance");
  CHECK(notes(refused, "guard_refused").size() == 1);
  CHECK(refused.commands.empty());
  CHECK(r.engine.held().size() == 1);

  GuardCommand rel = command(GuardAction::release);
  rel.person = "viewer";
  rel.note = "keys in pocket";
  const Effects& released = r.guard(rel);
  const Decision d = decision_of(released, "viewer");
  CHECK(describe(d) == "grant released");
  CHECK(d.door == kViewDoor);
  CHECK(d.dir == Direction::out);
  CHECK(unlocks(released, kViewDoor) == 1);
  CHECK(notes(released, "guard_release").size() == 1);
  CHECK(r.engine.held().empty());
  CHECK(r.where(kViewer).zone == kDbView);  // not until the door opens
  r.open(kViewDoor);
  CHECK(r.where(kViewer).zone == kOffice);
}

TEST_CASE("engine: release by door releases those held there only", "[engine][screening][hold]") {
  Rig r;
  r.hold_at_view_door(kViewer);
  GuardCommand other = command(GuardAction::release);
  other.door = kOpsDoor;
  const Effects& none = r.guard(other);
  CHECK(notes(none, "guard_release_none").size() == 1);
  CHECK(none.commands.empty());
  CHECK(r.engine.held().size() == 1);
  GuardCommand here = command(GuardAction::release);
  here.door = kViewDoor;
  CHECK(outcome(r.guard(here), "viewer") == "grant released");
  CHECK(r.engine.held().empty());
}

TEST_CASE("engine: a gate alarm on exit without hold_on_exit_alarm does not hold", "[engine][screening][hold]") {
  Rig r(shared_site([](Policy& p) { p.doors[kViewDoor].gate->hold_on_exit_alarm = false; }));
  r.place(kViewer, kDbView);
  r.badge(kViewer, kViewDoor, Direction::out);
  CHECK(outcome(r.gate_alarm(kViewGate), "viewer") == "deny screening_failed");
  CHECK(r.engine.held().empty());
  CHECK(outcome(r.badge(kViewer, kViewDoor, Direction::out), "viewer") == "pending screening");
}

TEST_CASE("engine: a repeated tap while screening neither adds a member nor needs another clear",
          "[engine][screening]") {
  Rig r;
  r.place(kViewer, kOffice);
  r.badge(kViewer, kViewDoor);
  r.wait(2s);
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].people.size() == 1);
  CHECK(r.engine.pending()[0].deadline == kT0 + 15s);
  CHECK(outcome(r.clear(kViewGate), "viewer") == "grant ok");
}

TEST_CASE("engine: each requirement waits for its own configured window", "[engine][screening]") {
  Rig r(shared_site([](Policy& p) {
    p.doors[kLobby].escort_window = 30s;
    p.doors[kOpsDoor].two_person.window = 20s;
    p.doors[kOpsDoor].no_lone_zone.window = 25s;
    p.doors[kViewDoor].gate->window = 10s;
  }));
  r.badge(kCon, kLobby);
  r.place(kOp1, kDbView);
  r.badge(kOp1, kOpsDoor);
  r.place(kOp2, kDbOps);
  r.place(kOp3, kDbOps);
  r.badge(kOp2, kOpsDoor, Direction::out);
  r.place(kViewer, kOffice);
  r.badge(kViewer, kViewDoor);
  const auto p = r.engine.pending();
  REQUIRE(p.size() == 4);
  CHECK(p[0].waiting_for == Reason::escort_required);
  CHECK(p[0].deadline == kT0 + 30s);
  CHECK(p[1].waiting_for == Reason::two_person);
  CHECK(p[1].deadline == kT0 + 20s);
  CHECK(p[2].waiting_for == Reason::lone_zone);
  CHECK(p[2].deadline == kT0 + 25s);
  CHECK(p[3].waiting_for == Reason::screening);
  CHECK(p[3].deadline == kT0 + 10s);
}

// =============================================================================================
// Two-person rule
// =============================================================================================

TEST_CASE("engine: two-person rule — two distinct badges within the window, then screening", "[engine][two_person]") {
  Rig r;
  r.place(kOp1, kDbView);
  r.place(kOp2, kDbView);
  const Effects& first = r.badge(kOp1, kOpsDoor);
  CHECK(outcome(first, "op1") == "pending two_person");
  CHECK(first.commands.empty());
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].waiting_for == Reason::two_person);
  CHECK(r.engine.pending()[0].deadline == kT0 + 15s);
  r.wait(10s);
  const Effects& second = r.badge(kOp2, kOpsDoor);
  CHECK(outcome(second, "op1") == "pending screening");
  CHECK(outcome(second, "op2") == "pending screening");
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].people == std::vector<std::string>{"op1", "op2"});
  CHECK(r.engine.pending()[0].deadline == kT0 + 25s);  // the gate window runs from completion
  CHECK(decisions(r.clear(kOpsGate)).empty());         // one clear per member
  const Effects& granted = r.clear(kOpsGate);
  CHECK(outcome(granted, "op1") == "grant ok");
  CHECK(outcome(granted, "op2") == "grant ok");
  CHECK(unlocks(granted, kOpsDoor) == 1);
  r.open(kOpsDoor);
  CHECK(r.where(kOp1).zone == kDbOps);
  CHECK(r.where(kOp2).zone == kDbOps);
  CHECK(r.engine.occupancy(kDbOps) == 2);
}

TEST_CASE("engine: two-person rule — a repeated tap of the same badge does not count", "[engine][two_person]") {
  Rig r;
  r.place(kOp1, kDbView);
  r.badge(kOp1, kOpsDoor);
  r.wait(10s);
  const Effects& again = r.badge(kOp1, kOpsDoor);
  CHECK(outcome(again, "op1") == "pending two_person");
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].people.size() == 1);
  CHECK(r.engine.pending()[0].deadline == kT0 + 15s);  // not reset by the repeat
  CHECK(decisions(r.wait(4999ms)).empty());
  const Effects& fx = r.wait(1ms);
  CHECK(outcome(fx, "op1") == "deny two_person_timeout");
  CHECK(decision_of(fx, "op1").at == kT0 + 15s);
  CHECK(r.engine.pending().empty());
}

TEST_CASE("engine: two-person rule — no second person in time is two_person_timeout", "[engine][two_person]") {
  Rig r;
  r.place(kOp1, kDbView);
  r.place(kOp2, kDbView);
  r.badge(kOp1, kOpsDoor);
  r.wait(15s);  // the window closed exactly now
  CHECK(outcome(r.fx, "op1") == "deny two_person_timeout");
  CHECK(outcome(r.badge(kOp2, kOpsDoor), "op2") == "pending two_person");  // starts afresh
}

TEST_CASE("engine: two-person rule — a second person failing the checks does not count", "[engine][two_person]") {
  Rig r;
  r.place(kOp1, kDbView);
  r.place(kViewer, kDbView);
  r.badge(kOp1, kOpsDoor);
  CHECK(outcome(r.badge(kViewer, kOpsDoor), "viewer") == "deny no_clearance");
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].people == std::vector<std::string>{"op1"});
}

TEST_CASE("engine: two-person rule with one_of_role needs a member holding that role", "[engine][two_person]") {
  Rig r(shared_site([](Policy& p) { p.doors[kOpsDoor].two_person.one_of_role = kGuard; }));
  r.place(kOp1, kDbView);
  r.place(kOp2, kDbView);
  r.place(kGuardian, kDbView);
  CHECK(outcome(r.badge(kOp1, kOpsDoor), "op1") == "pending two_person");
  CHECK(outcome(r.badge(kOp2, kOpsDoor), "op2") == "pending two_person");  // two, but no guard
  const Effects& fx = r.badge(kGuardian, kOpsDoor);
  CHECK(outcome(fx, "op1") == "pending screening");
  CHECK(outcome(fx, "op2") == "pending screening");
  CHECK(outcome(fx, "guard") == "pending screening");
  SECTION("an operator and the guard suffice") {
    Rig q(r.policy);
    q.place(kOp1, kDbView);
    q.place(kGuardian, kDbView);
    q.badge(kOp1, kOpsDoor);
    CHECK(outcome(q.badge(kGuardian, kOpsDoor), "guard") == "pending screening");
  }
}

// =============================================================================================
// Escort
// =============================================================================================

TEST_CASE("engine: escort — the visitor waits, an escort-capable employee completes the group", "[engine][escort]") {
  Rig r;
  const Effects& first = r.badge(kCon, kLobby);
  CHECK(outcome(first, "con") == "pending escort_required");
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].waiting_for == Reason::escort_required);
  CHECK(r.engine.pending()[0].deadline == kT0 + 15s);
  r.wait(14s);
  const Effects& fx = r.badge(kEmp, kLobby);
  CHECK(outcome(fx, "con") == "grant ok");
  CHECK(outcome(fx, "emp") == "grant ok");
  CHECK(unlocks(fx, kLobby) == 1);
  // The group passes together on one opening.
  const Effects& opened = r.open(kLobby);
  CHECK(notes(opened, "moved").size() == 2);
  CHECK(r.where(kCon).zone == kOffice);
  CHECK(r.where(kEmp).zone == kOffice);
}

TEST_CASE("engine: escort — an escort badging first is granted alone and does not count", "[engine][escort]") {
  Rig r;
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "grant ok");
  r.wait(1s);
  CHECK(outcome(r.badge(kCon, kLobby), "con") == "pending escort_required");
  r.wait(14999ms);
  CHECK(outcome(r.fx, "con") == "no decision");
  CHECK(outcome(r.wait(1ms), "con") == "deny escort_timeout");
}

TEST_CASE("engine: escort — only holders of the escort_by roles with may_escort serve", "[engine][escort]") {
  Rig r;
  r.badge(kCon, kLobby);
  // A db-viewer is not an employee: granted alone, the contractor still waits.
  const Effects& fx = r.badge(kViewer, kLobby);
  CHECK(outcome(fx, "viewer") == "grant ok");
  CHECK(outcome(fx, "con") == "no decision");
  // Another visitor joins the wait but escorts nobody.
  CHECK(outcome(r.badge(kCon2, kLobby), "con2") == "pending escort_required");
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].people.size() == 2);
  const Effects& timeout = r.wait(15s);
  CHECK(outcome(timeout, "con") == "deny escort_timeout");
  CHECK(outcome(timeout, "con2") == "deny escort_timeout");
}

TEST_CASE("engine: escort whose own access is closed cannot escort", "[engine][escort]") {
  // Employee without may_escort for the office.
  Rig r(shared_site([](Policy& p) { p.roles[kEmployee].may_escort[kOffice] = false; }));
  r.badge(kCon, kLobby);
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "grant ok");
  CHECK(r.engine.pending().size() == 1);
}

TEST_CASE("engine: escort + screening — the group needs one clear per member", "[engine][escort][screening]") {
  Rig r;
  r.place(kCon, kOffice);
  r.place(kOp1, kOffice);
  CHECK(outcome(r.badge(kCon, kViewDoor), "con") == "pending escort_required");
  const Effects& fx = r.badge(kOp1, kViewDoor);
  CHECK(outcome(fx, "con") == "pending screening");
  CHECK(outcome(fx, "op1") == "pending screening");
  CHECK(decisions(r.clear(kViewGate)).empty());
  const Effects& granted = r.clear(kViewGate);
  CHECK(outcome(granted, "con") == "grant ok");
  CHECK(outcome(granted, "op1") == "grant ok");
  r.open(kViewDoor);
  CHECK(r.where(kCon).zone == kDbView);
}

TEST_CASE("engine: a gate alarm fails the whole screening group", "[engine][escort][screening]") {
  Rig r;
  r.place(kCon, kOffice);
  r.place(kOp1, kOffice);
  r.badge(kCon, kViewDoor);
  r.badge(kOp1, kViewDoor);
  r.clear(kViewGate);
  const Effects& fx = r.gate_alarm(kViewGate);
  CHECK(outcome(fx, "con") == "deny screening_failed");
  CHECK(outcome(fx, "op1") == "deny screening_failed");
  CHECK(alarms(fx, AlarmKind::screening_alarm).size() == 1);
  CHECK(r.engine.held().empty());  // an entry: nobody held
}

TEST_CASE("engine: escort + screening — one clear of two is screening_timeout", "[engine][escort][screening]") {
  Rig r;
  r.place(kCon, kOffice);
  r.place(kOp1, kOffice);
  r.badge(kCon, kViewDoor);
  r.badge(kOp1, kViewDoor);
  r.clear(kViewGate);
  const Effects& fx = r.wait(15s);
  CHECK(outcome(fx, "con") == "deny screening_timeout");
  CHECK(outcome(fx, "op1") == "deny screening_timeout");
}

// =============================================================================================
// No-lone-zone
// =============================================================================================

TEST_CASE("engine: no-lone-zone — the second-to-last waits for the last, both leave together", "[engine][lone_zone]") {
  Rig r;
  r.place(kOp1, kDbOps);
  r.place(kOp2, kDbOps);
  const Effects& first = r.badge(kOp1, kOpsDoor, Direction::out);
  CHECK(outcome(first, "op1") == "pending lone_zone");
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].waiting_for == Reason::lone_zone);
  const Effects& second = r.badge(kOp2, kOpsDoor, Direction::out);
  CHECK(outcome(second, "op1") == "pending screening");
  CHECK(outcome(second, "op2") == "pending screening");
  r.clear(kOpsGate);
  const Effects& granted = r.clear(kOpsGate);
  CHECK(outcome(granted, "op1") == "grant ok");
  CHECK(outcome(granted, "op2") == "grant ok");
  r.open(kOpsDoor);
  CHECK(r.engine.occupancy(kDbOps) == 0);
  CHECK(r.where(kOp1).zone == kDbView);
}

TEST_CASE("engine: no-lone-zone — nobody following in time is denied lone_zone", "[engine][lone_zone]") {
  Rig r;
  r.place(kOp1, kDbOps);
  r.place(kOp2, kDbOps);
  r.badge(kOp1, kOpsDoor, Direction::out);
  CHECK(decisions(r.wait(14999ms)).empty());
  CHECK(outcome(r.wait(1ms), "op1") == "deny lone_zone");
  CHECK(r.where(kOp1).zone == kDbOps);
}

TEST_CASE("engine: no-lone-zone — leaving two or more behind, or nobody, goes ahead", "[engine][lone_zone]") {
  Rig r;
  SECTION("three inside") {
    r.place(kOp1, kDbOps);
    r.place(kOp2, kDbOps);
    r.place(kOp3, kDbOps);
    CHECK(outcome(r.badge(kOp1, kOpsDoor, Direction::out), "op1") == "pending screening");
  }
  SECTION("the last one out") {
    r.place(kOp1, kDbOps);
    CHECK(outcome(r.badge(kOp1, kOpsDoor, Direction::out), "op1") == "pending screening");
  }
  SECTION("entry is not affected") {
    r.place(kOp1, kDbView);
    r.place(kOp2, kDbView);
    r.badge(kOp1, kOpsDoor);
    CHECK(outcome(r.badge(kOp2, kOpsDoor), "op2") == "pending screening");
  }
}

TEST_CASE("engine: no-lone-zone in alarm mode lets the exit go ahead and raises lone_zone", "[engine][lone_zone]") {
  Rig r(shared_site([](Policy& p) { p.doors[kOpsDoor].no_lone_zone.mode = LoneZoneMode::alarm; }));
  r.place(kOp1, kDbOps);
  r.place(kOp2, kDbOps);
  const Effects& fx = r.badge(kOp1, kOpsDoor, Direction::out);
  CHECK(outcome(fx, "op1") == "pending screening");
  const auto a = alarms(fx, AlarmKind::lone_zone);
  REQUIRE(a.size() == 1);
  CHECK(a[0].source == "db-ops");
  CHECK(a[0].person == "op1");
}

TEST_CASE("engine: no-lone-zone counts exit requests already under way", "[engine][lone_zone]") {
  // Three inside; op1's exit is being screened. op2's exit would now leave op3 alone: it must wait
  // for op3 (pending lone_zone), not go ahead.
  Rig r;
  r.place(kOp1, kDbOps);
  r.place(kOp2, kDbOps);
  r.place(kOp3, kDbOps);
  REQUIRE(outcome(r.badge(kOp1, kOpsDoor, Direction::out), "op1") == "pending screening");
  CHECK(outcome(r.badge(kOp2, kOpsDoor, Direction::out), "op2") == "pending lone_zone");
  // op3 completes op2's group: nobody is left.
  const Effects& fx = r.badge(kOp3, kOpsDoor, Direction::out);
  CHECK(outcome(fx, "op2") == "pending screening");
  CHECK(outcome(fx, "op3") == "pending screening");
}

TEST_CASE("engine: no-lone-zone counts granted exits not yet walked through", "[engine][lone_zone]") {
  Rig r;
  r.place(kOp1, kDbOps);
  r.place(kOp2, kDbOps);
  r.place(kOp3, kDbOps);
  r.badge(kOp1, kOpsDoor, Direction::out);
  REQUIRE(outcome(r.clear(kOpsGate), "op1") == "grant ok");  // door unlocked, op1 still inside
  REQUIRE(r.where(kOp1).zone == kDbOps);
  CHECK(outcome(r.badge(kOp2, kOpsDoor, Direction::out), "op2") == "pending lone_zone");
}

// =============================================================================================
// Interlock
// =============================================================================================

TEST_CASE("engine: interlock — view-door refused while the ops-door is unlocked", "[engine][interlock]") {
  Rig r;
  GuardCommand u = command(GuardAction::unlock);
  u.door = kOpsDoor;
  r.guard(u);
  r.place(kViewer, kOffice);
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
  const Effects& fx = r.clear(kViewGate);
  CHECK(outcome(fx, "viewer") == "deny interlock_busy");
  CHECK(fx.commands.empty());
  CHECK_FALSE(r.engine.door_status(kViewDoor).unlocked);
  // Once the ops-door relocks the vestibule is free again.
  r.wait(5s);
  r.badge(kViewer, kViewDoor);
  CHECK(outcome(r.clear(kViewGate), "viewer") == "grant ok");
}

TEST_CASE("engine: interlock — ops-door refused while the view-door is open", "[engine][interlock]") {
  Rig r;
  r.place(kOp1, kDbView);
  r.place(kOp2, kDbView);
  r.open(kViewDoor);  // propped open (forced)
  r.badge(kOp1, kOpsDoor);
  r.badge(kOp2, kOpsDoor);
  r.clear(kOpsGate);
  const Effects& fx = r.clear(kOpsGate);
  CHECK(outcome(fx, "op1") == "deny interlock_busy");
  CHECK(outcome(fx, "op2") == "deny interlock_busy");
  CHECK(fx.commands.empty());
  r.close(kViewDoor);
  r.badge(kOp1, kOpsDoor);
  r.badge(kOp2, kOpsDoor);
  r.clear(kOpsGate);
  CHECK(outcome(r.clear(kOpsGate), "op2") == "grant ok");
}

TEST_CASE("engine: interlock — a door does not block itself", "[engine][interlock]") {
  Rig r;
  r.place(kViewer, kOffice);
  r.place(kViewer2, kOffice);
  r.badge(kViewer, kViewDoor);
  r.badge(kViewer2, kViewDoor);
  CHECK(outcome(r.clear(kViewGate), "viewer") == "grant ok");
  CHECK(outcome(r.clear(kViewGate), "viewer2") == "grant ok");
}

// =============================================================================================
// Lockdown
// =============================================================================================

TEST_CASE("engine: lockdown of a zone denies entries into it and its sub-zones, guards and exits pass",
          "[engine][lockdown]") {
  Rig r;
  GuardCommand lock = command(GuardAction::lockdown);
  lock.zone = kDbView;
  lock.note = "drill";
  const Effects& fx = r.guard(lock);
  const auto n = notes(fx, "guard_lockdown");
  REQUIRE(n.size() == 1);
  CHECK(n[0].subject == "db-view");
  CHECK(n[0].person == "guard");
  CHECK(n[0].detail == "drill");
  CHECK(r.engine.lockdowns() == std::vector<ZoneIdx>{kDbView});

  r.place(kViewer, kOffice);
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "deny lockdown");
  r.place(kOp1, kDbView);
  CHECK(outcome(r.badge(kOp1, kOpsDoor), "op1") == "deny lockdown");  // sub-zone
  r.place(kGuardian, kOffice);
  CHECK(outcome(r.badge(kGuardian, kViewDoor), "guard") == "pending screening");
  r.place(kViewer2, kDbView);
  CHECK(outcome(r.badge(kViewer2, kViewDoor, Direction::out), "viewer2") == "pending screening");
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "grant ok");  // the office is not locked

  GuardCommand lift = command(GuardAction::lift);
  lift.zone = kDbView;
  CHECK(notes(r.guard(lift), "guard_lift").size() == 1);
  CHECK(r.engine.lockdowns().empty());
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
}

TEST_CASE("engine: lockdown denies pending entries into the zone at once", "[engine][lockdown]") {
  Rig r;
  r.place(kViewer, kOffice);
  r.place(kViewer2, kDbView);
  r.badge(kViewer, kViewDoor);                   // entry, screening
  r.badge(kViewer2, kViewDoor, Direction::out);  // exit, screening
  r.wait(2s);
  GuardCommand lock = command(GuardAction::lockdown);
  lock.zone = kDbView;
  const Effects& fx = r.guard(lock);
  const Decision d = decision_of(fx, "viewer");
  CHECK(describe(d) == "deny lockdown");
  CHECK(d.at == kT0 + 2s);
  CHECK(outcome(fx, "viewer2") == "no decision");
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].people == std::vector<std::string>{"viewer2"});
}

TEST_CASE("engine: lockdown spares pending requests made only of guards", "[engine][lockdown]") {
  Rig r;
  r.place(kGuardian, kOffice);
  r.badge(kGuardian, kViewDoor);  // guard alone, screening
  const Holder guard2 = holder("guard2", role_bit(kGuard));
  r.place(kOp1, kDbView);
  r.place(guard2, kDbView);
  r.badge(kOp1, kOpsDoor);
  r.badge(guard2, kOpsDoor);  // operator + guard, screening
  REQUIRE(r.engine.pending().size() == 2);
  GuardCommand lock = command(GuardAction::lockdown);
  lock.zone = kDbView;
  const Effects& fx = r.guard(lock);
  CHECK(outcome(fx, "guard") == "no decision");
  CHECK(outcome(fx, "op1") == "deny lockdown");
  CHECK(outcome(fx, "guard2") == "deny lockdown");
  REQUIRE(r.engine.pending().size() == 1);
  CHECK(r.engine.pending()[0].people == std::vector<std::string>{"guard"});
  CHECK(outcome(r.clear(kViewGate), "guard") == "grant ok");
}

TEST_CASE("engine: whole-site lockdown and lift without a zone", "[engine][lockdown]") {
  Rig r;
  r.guard(command(GuardAction::lockdown));
  CHECK(r.engine.lockdowns() == std::vector<ZoneIdx>{kOutside});
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "deny lockdown");
  CHECK(outcome(r.badge(kGuardian, kLobby), "guard") == "grant ok");
  r.place(kEmp2, kOffice);
  CHECK(outcome(r.badge(kEmp2, kLobby, Direction::out), "emp2") == "grant ok");
  GuardCommand office = command(GuardAction::lockdown);
  office.zone = kOffice;
  r.guard(office);
  REQUIRE(r.engine.lockdowns().size() == 2);
  r.guard(command(GuardAction::lift));
  CHECK(r.engine.lockdowns().empty());
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "grant ok");
}

TEST_CASE("engine: lifting one zone leaves the others locked", "[engine][lockdown]") {
  Rig r;
  GuardCommand a = command(GuardAction::lockdown);
  a.zone = kOffice;
  r.guard(a);
  GuardCommand b = command(GuardAction::lockdown);
  b.zone = kDbOps;
  r.guard(b);
  GuardCommand lift = command(GuardAction::lift);
  lift.zone = kDbOps;
  r.guard(lift);
  CHECK(r.engine.lockdowns() == std::vector<ZoneIdx>{kOffice});
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "deny lockdown");
}

// =============================================================================================
// Fire
// =============================================================================================

TEST_CASE("engine: fire on — egress doors released, pending denied, holds lifted, locations unknown",
          "[engine][fire]") {
  Rig r;
  r.hold_at_view_door(kViewer2);
  r.place(kViewer, kOffice);
  r.badge(kViewer, kViewDoor);  // pending screening
  r.place(kEmp, kOffice);
  r.place(kOp1, kDbOps);
  r.wait(1s);

  const Effects& fx = r.fire(true);
  CHECK(r.engine.fire_active());
  const auto a = alarms(fx, AlarmKind::fire);
  REQUIRE(a.size() == 1);
  CHECK(a[0].severity == Severity::critical);
  for (DoorIdx d : {kLobby, kViewDoor, kOpsDoor}) {
    INFO("door " << d);
    const auto u = commands(fx, d, DoorCommand::Kind::unlock);
    REQUIRE(u.size() == 1);
    CHECK(u[0].duration == Duration{0});
    CHECK(r.engine.door_status(d).unlocked);
    CHECK(r.engine.door_status(d).fire_release);
  }
  CHECK(outcome(fx, "viewer") == "deny fire");
  CHECK(r.engine.pending().empty());
  CHECK(notes(fx, "hold_lifted").size() == 1);
  CHECK(r.engine.held().empty());
  CHECK(notes(fx, "fire_on").size() == 1);
  for (const Holder* h : {&kViewer, &kViewer2, &kEmp, &kOp1}) CHECK_FALSE(r.where(*h).known);
  CHECK(r.engine.unknown_locations() == std::vector<std::string>{"emp", "op1", "viewer", "viewer2"});
  CHECK(r.engine.occupancy(kOffice) == 0);
  CHECK(r.engine.occupancy(kDbOps) == 0);
  CHECK(r.engine.people_in(kOffice).empty());
  // A repeated fire input changes nothing.
  CHECK(r.fire(true).empty());
}

TEST_CASE("engine: during a fire exits are granted fire, entries denied except for guards", "[engine][fire]") {
  Rig r;
  r.place(kEmp, kOffice);
  r.place(kViewer, kDbView);
  r.fire(true);
  CHECK(outcome(r.badge(kViewer, kViewDoor, Direction::out), "viewer") == "grant fire");
  CHECK(outcome(r.badge(kEmp2, kLobby), "emp2") == "deny fire");
  CHECK(outcome(r.badge(kOp1, kViewDoor), "op1") == "deny fire");
  CHECK(outcome(r.badge(kGuardian, kLobby), "guard") == "grant fire");
  // The viewer passes: location known again.
  r.open(kViewDoor);
  CHECK(r.where(kViewer).known);
  CHECK(r.where(kViewer).zone == kOffice);
  // At an open door the exit counts at once.
  r.open(kLobby);
  CHECK(outcome(r.badge(kEmp, kLobby, Direction::out), "emp") == "grant fire");
  CHECK(r.where(kEmp).known);
  CHECK(r.where(kEmp).zone == kOutside);
}

TEST_CASE("engine: during a fire doors open without forced or held alarms, interlocks suspended", "[engine][fire]") {
  Rig r;
  r.fire(true);
  const Effects& a = r.open(kViewDoor);
  const Effects a_copy = a;
  const Effects& b = r.open(kOpsDoor);
  CHECK(alarms(a_copy, AlarmKind::door_forced).empty());
  CHECK(alarms(b, AlarmKind::door_forced).empty());
  CHECK_FALSE(r.engine.next_deadline().has_value());
  const Effects& later = r.wait(10min);
  CHECK(alarms(later, AlarmKind::door_held_prealarm).empty());
  CHECK(alarms(later, AlarmKind::door_held).empty());
  // Interlocked doors are both open; a guard still gets through without interlock_busy.
  CHECK(outcome(r.badge(kGuardian, kViewDoor), "guard") == "grant fire");
}

TEST_CASE("engine: fire off relocks the egress doors and restarts held-open timing", "[engine][fire]") {
  Rig r;
  r.fire(true);
  r.open(kLobby);
  r.wait(1min);
  const Effects& fx = r.fire(false);
  const Instant off = r.now;
  CHECK_FALSE(r.engine.fire_active());
  CHECK(notes(fx, "fire_off").size() == 1);
  for (DoorIdx d : {kLobby, kViewDoor, kOpsDoor}) {
    INFO("door " << d);
    CHECK(locks(fx, d) == 1);
    CHECK_FALSE(r.engine.door_status(d).unlocked);
    CHECK_FALSE(r.engine.door_status(d).fire_release);
  }
  CHECK(alarms(r.wait(19999ms), AlarmKind::door_held_prealarm).empty());
  const auto pre = alarms(r.wait(1ms), AlarmKind::door_held_prealarm);
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].at == off + 20s);
  // Closed egress doors are locked again: opening one is forced.
  CHECK(alarms(r.open(kViewDoor), AlarmKind::door_forced).size() == 1);
}

TEST_CASE("engine: fire off keeps a door unlocked that a grant from before the fire holds", "[engine][fire]") {
  Rig r;
  r.badge(kEmp, kLobby);  // unlocked until +5 s
  r.wait(1s);
  r.fire(true);
  r.wait(1s);
  const Effects& fx = r.fire(false);
  CHECK(locks(fx, kLobby) == 0);
  CHECK(locks(fx, kViewDoor) == 1);
  CHECK(r.engine.door_status(kLobby).unlocked);
  CHECK(locks(r.wait(3s), kLobby) == 1);
}

TEST_CASE("engine: fire off keeps a door unlocked that a grant made during the fire holds", "[engine][fire]") {
  // rules.md: "fire: off relocks the egress doors (unless a grant made during the fire still holds
  // one for its unlock time)". A person granted `fire` at a closed egress door one second before the
  // fire ends must still get through.
  Rig r;
  r.place(kEmp, kOffice);
  r.fire(true);
  r.wait(10s);
  REQUIRE(outcome(r.badge(kEmp, kLobby, Direction::out), "emp") == "grant fire");
  r.wait(1s);
  const Effects& fx = r.fire(false);
  CHECK(locks(fx, kLobby) == 0);
  CHECK(r.engine.door_status(kLobby).unlocked);
  const Effects& opened = r.open(kLobby);
  CHECK(alarms(opened, AlarmKind::door_forced).empty());
  CHECK(r.where(kEmp).zone == kOutside);
  CHECK(locks(r.close(kLobby), kLobby) == 1);
}

TEST_CASE("engine: fire off relocks a door whose fire grant has run out", "[engine][fire]") {
  Rig r;
  r.place(kEmp, kOffice);
  r.fire(true);
  r.badge(kEmp, kLobby, Direction::out);  // granted, never used
  r.wait(6s);
  const Effects& fx = r.fire(false);
  CHECK(locks(fx, kLobby) == 1);
  CHECK_FALSE(r.engine.door_status(kLobby).unlocked);
}

// =============================================================================================
// Audit trail unavailable (engine.hpp: the DB zones fail secure)
// =============================================================================================

TEST_CASE("engine: without an audit trail the DESFire doors fail secure, the lobby keeps working", "[engine][audit]") {
  Rig r;
  CHECK(r.engine.audit_available());
  CHECK_FALSE(r.engine.fails_secure(kLobby));
  CHECK(r.engine.fails_secure(kViewDoor));
  CHECK(r.engine.fails_secure(kOpsDoor));
  CHECK_FALSE(r.engine.fails_secure(static_cast<DoorIdx>(99)));

  r.place(kViewer, kOffice);
  r.place(kViewer2, kDbView);
  r.engine.set_audit_available(false);
  CHECK_FALSE(r.engine.audit_available());
  const Effects& in = r.badge(kViewer, kViewDoor);
  CHECK(outcome(in, "viewer") == "deny audit_unavailable");
  CHECK(in.commands.empty());
  CHECK(outcome(r.badge(kViewer2, kViewDoor, Direction::out), "viewer2") == "deny audit_unavailable");
  CHECK(r.engine.pending().empty());
  CHECK(outcome(r.badge(kEmp, kLobby), "emp") == "grant ok");

  r.engine.set_audit_available(true);
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
}

TEST_CASE("engine: without an audit trail fire exits are still granted (life safety first)", "[engine][audit][fire]") {
  Rig r;
  r.place(kViewer, kDbView);
  r.engine.set_audit_available(false);
  r.fire(true);
  CHECK(outcome(r.badge(kViewer, kViewDoor, Direction::out), "viewer") == "grant fire");
}

// =============================================================================================
// Tamper
// =============================================================================================

TEST_CASE("engine: tamper is raised once per activation and recorded when it clears", "[engine][tamper]") {
  Rig r;
  const auto a = alarms(r.on(TamperSignal{kCabinetLid, true}), AlarmKind::tamper);
  REQUIRE(a.size() == 1);
  CHECK(a[0].source == "cabinet-lid");
  CHECK(a[0].severity == Severity::critical);
  CHECK(r.on(TamperSignal{kCabinetLid, true}).empty());
  CHECK(notes(r.on(TamperSignal{kCabinetLid, false}), "tamper_cleared").size() == 1);
  CHECK(r.on(TamperSignal{kCabinetLid, false}).empty());
  CHECK(alarms(r.on(TamperSignal{kCabinetLid, true}), AlarmKind::tamper).size() == 1);
  CHECK(r.on(TamperSignal{7, true}).empty());  // no such input
}

// =============================================================================================
// Guard actions
// =============================================================================================

TEST_CASE("engine: guard actions without the capability are refused no_clearance", "[engine][guard]") {
  struct Case {
    GuardAction action;
    Capability needed;
  };
  for (const Case c : {Case{GuardAction::lockdown, Capability::lockdown}, Case{GuardAction::lift, Capability::lockdown},
                       Case{GuardAction::release, Capability::release}, Case{GuardAction::forgive, Capability::forgive},
                       Case{GuardAction::unlock, Capability::unlock}}) {
    Rig r;
    r.place(kEmp, kOffice);
    r.hold_at_view_door(kViewer);
    const auto caps = static_cast<CapabilityMask>(kAllCaps & ~cap_bit(c.needed));
    GuardCommand g = command(c.action, "mallory", caps);
    g.door = kLobby;
    g.person = "viewer";
    INFO("action " << static_cast<int>(c.action));
    const Effects& fx = r.guard(g);
    CHECK(outcome(fx, "mallory") == "deny no_clearance");
    const auto n = notes(fx, "guard_refused");
    REQUIRE(n.size() == 1);
    CHECK(n[0].person == "mallory");
    CHECK(fx.commands.empty());
    CHECK(r.engine.lockdowns().empty());
    CHECK(r.engine.held().size() == 1);
    CHECK(r.where(kViewer).known);
    CHECK_FALSE(r.engine.door_status(kLobby).unlocked);
  }
}

TEST_CASE("engine: a guard's momentary unlock needs a note", "[engine][guard]") {
  Rig r;
  GuardCommand g = command(GuardAction::unlock);
  g.door = kViewDoor;
  g.note = "";
  const Effects& refused = r.guard(g);
  CHECK(notes(refused, "guard_refused").size() == 1);
  CHECK(refused.commands.empty());
  CHECK_FALSE(r.engine.door_status(kViewDoor).unlocked);

  g.note = "maintenance";
  const Effects& fx = r.guard(g);
  const auto n = notes(fx, "guard_unlock");
  REQUIRE(n.size() == 1);
  CHECK(n[0].subject == "view-door");
  CHECK(n[0].person == "guard");
  CHECK(n[0].detail == "maintenance");
  REQUIRE(unlocks(fx, kViewDoor) == 1);
  CHECK(commands(fx, kViewDoor, DoorCommand::Kind::unlock)[0].duration == 5s);
  CHECK(r.engine.door_status(kViewDoor).unlocked);
  CHECK(locks(r.wait(5s), kViewDoor) == 1);
}

TEST_CASE("engine: forgive with a zone places the person there", "[engine][guard][forgive]") {
  Rig r;
  GuardCommand g = command(GuardAction::forgive);
  g.person = "viewer";
  g.zone = kOffice;
  const Effects& fx = r.guard(g);
  const Decision d = decision_of(fx, "viewer");
  CHECK(describe(d) == "grant forgiven");
  CHECK(notes(fx, "guard_forgive").size() == 1);
  CHECK(r.where(kViewer).known);
  CHECK(r.where(kViewer).zone == kOffice);
  CHECK(r.engine.occupancy(kOffice) == 1);
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
}

TEST_CASE("engine: forgive without a zone makes the location unknown", "[engine][guard][forgive]") {
  Rig r;
  r.place(kViewer, kDbView);
  GuardCommand g = command(GuardAction::forgive);
  g.person = "viewer";
  CHECK(outcome(r.guard(g), "viewer") == "grant forgiven");
  CHECK_FALSE(r.where(kViewer).known);
  CHECK(r.engine.occupancy(kDbView) == 0);
  CHECK(r.engine.occupancy(kOffice) == 0);
  CHECK(r.engine.unknown_locations() == std::vector<std::string>{"viewer"});
  // Accepted from any zone now: in through the view-door, though the engine had them inside.
  CHECK(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
}

TEST_CASE("engine: forgive without a person resets everyone", "[engine][guard][forgive]") {
  Rig r;
  r.place(kViewer, kDbView);
  r.place(kEmp, kOffice);
  const Effects& fx = r.guard(command(GuardAction::forgive));
  CHECK(notes(fx, "guard_forgive").size() == 1);
  CHECK(decisions(fx).empty());  // a note, not a decision about one person
  CHECK(r.engine.unknown_locations() == std::vector<std::string>{"emp", "viewer"});
  CHECK(r.engine.occupancy(kOffice) == 0);
}

TEST_CASE("engine: a release is refused interlock_busy while the vestibule's other door is in use",
          "[engine][guard][interlock]") {
  Rig r;
  r.hold_at_view_door(kViewer);
  r.open(kOpsDoor);  // the other door of the vestibule stands open
  GuardCommand rel = command(GuardAction::release);
  rel.person = "viewer";
  const Effects& fx = r.guard(rel);
  CHECK(outcome(fx, "viewer") == "deny interlock_busy");
  CHECK(unlocks(fx, kViewDoor) == 0);
  CHECK_FALSE(r.engine.door_status(kViewDoor).unlocked);
  REQUIRE(r.engine.held().size() == 1);  // still held
  CHECK(outcome(r.badge(kViewer, kViewDoor, Direction::out), "viewer") == "deny held");
  r.close(kOpsDoor);
  CHECK(outcome(r.guard(rel), "viewer") == "grant released");
  CHECK(r.engine.held().empty());
}

TEST_CASE("engine: a guard's momentary unlock is refused while the interlock partner is in use",
          "[engine][guard][interlock]") {
  Rig r;
  GuardCommand a = command(GuardAction::unlock);
  a.door = kOpsDoor;
  REQUIRE(unlocks(r.guard(a), kOpsDoor) == 1);
  GuardCommand b = command(GuardAction::unlock);
  b.door = kViewDoor;
  const Effects& fx = r.guard(b);
  CHECK(fx.commands.empty());
  const auto refused = notes(fx, "guard_refused");
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].person == "guard");
  CHECK_FALSE(r.engine.door_status(kViewDoor).unlocked);
  r.wait(5s);
  CHECK(unlocks(r.guard(b), kViewDoor) == 1);
}

TEST_CASE("engine: forgiving an unseen person does not disturb the counts", "[engine][guard][forgive]") {
  // occupancy(outside) counts every known person (everything lies inside the root). Making a person
  // the engine never saw "unknown" must not take someone else off the count.
  Rig r;
  r.place(kEmp, kOffice);
  REQUIRE(r.engine.occupancy(kOutside) == 1);
  GuardCommand g = command(GuardAction::forgive);
  g.person = "ghost";
  CHECK(outcome(r.guard(g), "ghost") == "grant forgiven");
  CHECK(r.engine.occupancy(kOutside) == 1);
  CHECK(r.engine.occupancy(kOffice) == 1);
}

TEST_CASE("engine: every guard action is recorded, even one naming no valid door or zone", "[engine][guard]") {
  // rules.md: "Every action is recorded with who did it and the note they gave."
  Rig r;
  GuardCommand u = command(GuardAction::unlock);  // no door given
  u.note = "open up";
  CHECK_FALSE(r.guard(u).records.empty());
  GuardCommand l = command(GuardAction::lockdown);
  l.zone = static_cast<ZoneIdx>(99);
  CHECK_FALSE(r.guard(l).records.empty());
}

// Regression: this once read past the end of Policy::zones (heap-buffer-overflow under ASan).
TEST_CASE("engine: forgive into a zone index the policy does not have is refused safely", "[engine][guard]") {
  Rig r;
  GuardCommand g = command(GuardAction::forgive);
  g.person = "viewer";
  g.zone = static_cast<ZoneIdx>(99);
  const Effects& fx = r.guard(g);
  CHECK_FALSE(fx.records.empty());
  CHECK(r.where(kViewer).zone == kOutside);
}

// =============================================================================================
// Policy reload
// =============================================================================================

namespace {

/// The sample site with a new door inserted first, so every door index shifts by one.
std::shared_ptr<const Policy> site_with_side_door() {
  return shared_site([](Policy& p) {
    Door side = p.doors[kLobby];
    side.id = "side-door";
    side.request_to_exit = false;
    p.doors.insert(p.doors.begin(), side);
    for (Gate& g : p.gates) ++g.door;
    for (InterlockGroup& il : p.interlocks) {
      for (DoorIdx& d : il.doors) ++d;
    }
    p.source_hash = "v2";
  });
}

}  // namespace

TEST_CASE("engine: replace_policy cancels pending requests", "[engine][reload]") {
  Rig r;
  r.place(kViewer, kOffice);
  r.badge(kViewer, kViewDoor);
  r.place(kOp1, kDbView);
  r.badge(kOp1, kOpsDoor);
  r.wait(2s);
  Effects fx;
  r.engine.replace_policy(shared_site(), r.now, fx);
  CHECK(outcome(fx, "viewer") == "deny cancelled");
  CHECK(outcome(fx, "op1") == "deny cancelled");
  CHECK(decision_of(fx, "viewer").at == kT0 + 2s);
  CHECK(notes(fx, "policy_replaced").size() == 1);
  CHECK(r.engine.pending().empty());
}

TEST_CASE("engine: replace_policy carries locations, door states, grants, holds and lockdowns by id",
          "[engine][reload]") {
  Rig r;
  r.place(kOp1, kDbOps);
  r.place(kViewer, kOffice);
  r.hold_at_view_door(kViewer2);
  r.open(kOpsDoor);       // forced open
  r.badge(kEmp, kLobby);  // unlocked, grant unused so far
  GuardCommand lock = command(GuardAction::lockdown);
  lock.zone = kDbOps;
  r.guard(lock);
  r.on(TamperSignal{kCabinetLid, true});

  Effects fx;
  auto next = site_with_side_door();
  r.engine.replace_policy(next, r.now, fx);
  REQUIRE(&r.engine.policy() == next.get());
  const DoorIdx lobby = 1;
  const DoorIdx view = 2;
  const DoorIdx ops = 3;
  REQUIRE(next->door_index("lobby") == lobby);

  CHECK(r.where(kOp1).zone == kDbOps);
  CHECK(r.engine.occupancy(kDbOps) == 1);
  CHECK(r.engine.occupancy(kOffice) == 3);
  CHECK(r.engine.door_status(lobby).unlocked);
  CHECK(r.engine.door_status(ops).open);
  CHECK(r.engine.door_status(ops).forced);
  CHECK_FALSE(r.engine.door_status(0).unlocked);
  CHECK_FALSE(r.engine.door_status(0).open);
  REQUIRE(r.engine.held().size() == 1);
  CHECK(r.engine.held()[0].door == view);
  CHECK(r.engine.lockdowns() == std::vector<ZoneIdx>{kDbOps});
  CHECK(r.on(TamperSignal{kCabinetLid, true}).empty());  // still active: not raised again

  // The unused grant still lets the employee through the lobby (now index 1).
  const Effects& opened = r.open(lobby);
  CHECK(alarms(opened, AlarmKind::door_forced).empty());
  CHECK(r.where(kEmp).zone == kOffice);
  // Decisions now name the new indices.
  r.place(kViewer, kOffice);
  CHECK(decision_of(r.badge(kViewer, view), "viewer").door == view);
}

TEST_CASE("engine: replace_policy makes a location unknown when its zone disappears", "[engine][reload]") {
  Rig r;
  r.place(kOp1, kDbOps);
  r.place(kViewer, kDbView);
  auto smaller = shared_site([](Policy& p) {
    p.zones.pop_back();
    p.doors.pop_back();
    p.gates.pop_back();
    p.interlocks[0].doors = {kViewDoor};
    for (Role& role : p.roles) {
      role.zones.resize(p.zones.size());
      role.may_escort.resize(p.zones.size());
    }
  });
  Effects fx;
  r.engine.replace_policy(smaller, r.now, fx);
  CHECK_FALSE(r.where(kOp1).known);
  CHECK(r.where(kViewer).zone == kDbView);
  CHECK(r.engine.occupancy(kDbView) == 1);
  CHECK(r.engine.unknown_locations() == std::vector<std::string>{"op1"});
}

// =============================================================================================
// Time
// =============================================================================================

TEST_CASE("engine: next_deadline reports the earliest timer", "[engine][time]") {
  Rig r;
  CHECK_FALSE(r.engine.next_deadline().has_value());
  r.place(kViewer, kOffice);
  r.badge(kViewer, kViewDoor);
  CHECK(r.engine.next_deadline() == kT0 + 15s);
  r.wait(1s);
  r.badge(kEmp, kLobby);
  CHECK(r.engine.next_deadline() == kT0 + 6s);
  r.open(kLobby);
  CHECK(r.engine.next_deadline() == kT0 + 6s);  // unlock end before held pre-alarm
  r.wait(5s);
  CHECK(r.engine.next_deadline() == kT0 + 15s);  // the screening window
  r.wait(9s);
  CHECK(r.engine.next_deadline() == kT0 + 21s);  // pre-alarm of the lobby opened at +1 s
  r.wait(6s);
  CHECK(r.engine.next_deadline() == kT0 + 31s);
  r.wait(10s);
  CHECK_FALSE(r.engine.next_deadline().has_value());
  // Advancing with nothing due does nothing.
  CHECK(r.wait(1h).empty());
}

TEST_CASE("engine: advance in one large step stamps each record with its due time", "[engine][time]") {
  Rig r;
  r.badge(kEmp, kLobby);
  r.wait(1s);
  r.open(kLobby);
  const Instant opened = r.now;
  const Effects& fx = r.wait(10min);
  const auto relocked = notes(fx, "relocked");
  REQUIRE(relocked.size() == 1);
  CHECK(relocked[0].at == kT0 + 5s);
  const auto pre = alarms(fx, AlarmKind::door_held_prealarm);
  REQUIRE(pre.size() == 1);
  CHECK(pre[0].at == opened + 20s);
  const auto held = alarms(fx, AlarmKind::door_held);
  REQUIRE(held.size() == 1);
  CHECK(held[0].at == opened + 30s);
  // In the order they happened.
  std::vector<Instant> stamps;
  for (const Record& rec : fx.records) {
    std::visit([&](const auto& x) { stamps.push_back(x.at); }, rec);
  }
  CHECK(std::is_sorted(stamps.begin(), stamps.end()));
}

TEST_CASE("engine: timers due before an event fire first, stamped with their own time", "[engine][time]") {
  Rig r;
  r.place(kViewer, kOffice);
  r.badge(kViewer, kViewDoor);
  r.now += 1min;  // no advance in between
  const Effects& fx = r.badge(kEmp, kLobby);
  const auto ds = decisions(fx);
  REQUIRE(ds.size() == 2);
  CHECK(describe(ds[0]) == "deny screening_timeout");
  CHECK(ds[0].at == kT0 + 15s);
  CHECK(describe(ds[1]) == "grant ok");
  CHECK(ds[1].at == kT0 + 1min);
}

TEST_CASE("engine: time never goes backwards", "[engine][time]") {
  Rig r;
  r.wait(10s);
  r.now = kT0 + 5s;  // a clock step backwards
  const Effects& fx = r.badge(kEmp, kLobby);
  CHECK(decision_of(fx, "emp").at == kT0 + 10s);
  CHECK(r.engine.door_status(kLobby).unlock_until == kT0 + 15s);
  Effects none;
  r.engine.advance(kT0, none);
  CHECK(none.empty());
  CHECK(r.engine.door_status(kLobby).unlocked);
}

// =============================================================================================
// Records before commands
// =============================================================================================

TEST_CASE("engine: a grant's Decision record is in the same batch as its DoorCommand", "[engine][records]") {
  // The adapter makes every record of a batch durable before running its commands: a grant must
  // therefore never be issued as a command without its decision in the same batch.
  auto check_batch = [](const Effects& fx, const std::string& person, DoorIdx door) {
    REQUIRE(unlocks(fx, door) == 1);
    bool found = false;
    for (const Decision& d : decisions(fx)) {
      found = found || (d.person == person && d.verdict == Verdict::grant && d.door == door);
    }
    CHECK(found);
  };
  Rig r;
  check_batch(r.badge(kEmp, kLobby), "emp", kLobby);
  r.place(kViewer, kOffice);
  r.badge(kViewer, kViewDoor);
  check_batch(r.clear(kViewGate), "viewer", kViewDoor);
  r.wait(5s);
  r.hold_at_view_door(kViewer2);
  GuardCommand rel = command(GuardAction::release);
  rel.person = "viewer2";
  check_batch(r.guard(rel), "viewer2", kViewDoor);
}

TEST_CASE("engine: place() and queries", "[engine][state]") {
  Rig r;
  CHECK(r.engine.located_count() == 0);
  CHECK(r.where(kEmp).known);
  CHECK(r.where(kEmp).zone == kOutside);
  r.place(kEmp, kOffice);
  r.place(kViewer, kDbView);
  r.place(kOp1, kDbOps);
  CHECK(r.engine.located_count() == 3);
  CHECK(r.engine.occupancy(kOffice) == 3);
  CHECK(r.engine.occupancy(kDbView) == 2);
  CHECK(r.engine.occupancy(kDbOps) == 1);
  CHECK(r.engine.people_in(kDbView) == std::vector<std::string>{"viewer"});
  r.place(kOp1, kOffice);  // moving someone updates every count
  CHECK(r.engine.occupancy(kDbView) == 1);
  CHECK(r.engine.occupancy(kDbOps) == 0);
  CHECK(r.engine.people_in(kOffice) == std::vector<std::string>{"emp", "op1"});
  CHECK(r.engine.occupancy(static_cast<ZoneIdx>(42)) == 0);
}

// =============================================================================================
// Since when a person is where they are (the guard's muster list)
// =============================================================================================

TEST_CASE("engine: location_since is the instant the door opened on entry, not the badge time", "[engine][since]") {
  Rig r;
  CHECK_FALSE(r.engine.location_since("emp"));  // never seen
  r.badge(kEmp, kLobby);
  r.wait(3s);
  CHECK_FALSE(r.engine.location_since("emp"));  // granted, not through yet
  r.open(kLobby);
  CHECK(r.where(kEmp).zone == kOffice);
  CHECK(r.engine.location_since("emp") == kT0 + 3s);
  // Time passing and the door closing change nothing.
  r.close(kLobby);
  r.wait(10min);
  CHECK(r.engine.location_since("emp") == kT0 + 3s);
}

TEST_CASE("engine: location_since follows an exit and a move between zones", "[engine][since]") {
  Rig r;
  r.badge(kViewer, kLobby);
  r.open(kLobby);
  r.close(kLobby);
  REQUIRE(r.engine.location_since("viewer") == kT0);

  // office -> db-view through the gate: since is when the door opened after the clear.
  r.wait(1min);
  REQUIRE(outcome(r.badge(kViewer, kViewDoor), "viewer") == "pending screening");
  r.wait(4s);
  REQUIRE(outcome(r.clear(kViewGate), "viewer") == "grant ok");
  r.wait(2s);
  r.open(kViewDoor);
  r.close(kViewDoor);
  CHECK(r.where(kViewer).zone == kDbView);
  CHECK(r.engine.location_since("viewer") == kT0 + 1min + 6s);

  // Out again, to the office: the exit also sets it.
  r.wait(1h);
  REQUIRE(outcome(r.badge(kViewer, kViewDoor, Direction::out), "viewer") == "pending screening");
  r.wait(2s);
  REQUIRE(outcome(r.clear(kViewGate), "viewer") == "grant ok");
  r.open(kViewDoor);
  r.close(kViewDoor);
  CHECK(r.where(kViewer).zone == kOffice);
  CHECK(r.engine.location_since("viewer") == kT0 + 1h + 1min + 8s);

  // And out of the building.
  r.wait(5min);
  REQUIRE(outcome(r.badge(kViewer, kLobby, Direction::out), "viewer") == "grant ok");
  r.open(kLobby);
  CHECK(r.where(kViewer).zone == kOutside);
  CHECK(r.engine.location_since("viewer") == kT0 + 1h + 6min + 8s);
}

TEST_CASE("engine: a denied attempt or an unused grant does not change location_since", "[engine][since]") {
  Rig r;
  r.badge(kEmp2, kLobby);
  r.open(kLobby);
  r.close(kLobby);
  REQUIRE(r.engine.location_since("emp2") == kT0);
  r.wait(1h);
  CHECK(outcome(r.badge(kEmp2, kViewDoor), "emp2") == "deny no_clearance");
  CHECK(r.engine.location_since("emp2") == kT0);
  // A hard anti-passback refusal: leaving db-view while in the office.
  r.badge(kViewer, kLobby);
  r.open(kLobby);
  r.close(kLobby);
  REQUIRE(r.engine.location_since("viewer") == kT0 + 1h);
  r.wait(1min);
  CHECK(outcome(r.badge(kViewer, kViewDoor, Direction::out), "viewer") == "deny anti_passback");
  CHECK(r.where(kViewer).zone == kOffice);
  CHECK(r.engine.location_since("viewer") == kT0 + 1h);
  // Granted out but never opened: the grant expires, the person stays.
  REQUIRE(outcome(r.badge(kEmp2, kLobby, Direction::out), "emp2") == "grant ok");
  r.wait(1min);
  CHECK(r.where(kEmp2).zone == kOffice);
  CHECK(r.engine.location_since("emp2") == kT0);
}

TEST_CASE("engine: location_since marks when a location became unknown, and a forgive into a zone", "[engine][since]") {
  Rig r;
  r.badge(kEmp, kLobby);
  r.open(kLobby);
  r.close(kLobby);
  r.wait(2h);
  r.fire(true);
  CHECK_FALSE(r.where(kEmp).known);
  CHECK(r.engine.location_since("emp") == kT0 + 2h);
  r.wait(30min);
  r.fire(false);
  CHECK(r.engine.location_since("emp") == kT0 + 2h);  // still unknown since the fire
  r.wait(5min);
  GuardCommand g = command(GuardAction::forgive);
  g.person = "emp";
  g.zone = kOffice;
  r.guard(g);
  CHECK(r.where(kEmp).known);
  CHECK(r.engine.location_since("emp") == kT0 + 2h + 35min);
  // Placing without a time (scenario set-up) leaves it unknown.
  r.place(kEmp2, kOffice);
  CHECK_FALSE(r.engine.location_since("emp2"));
  r.engine.place("emp2", kDbView, kT0 + 1s);
  CHECK(r.engine.location_since("emp2") == kT0 + 1s);
}
