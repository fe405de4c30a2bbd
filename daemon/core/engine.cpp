// SPDX-License-Identifier: Apache-2.0
#include "core/engine.hpp"

#include <algorithm>
#include <utility>

namespace zonegate::core {
namespace {

constexpr Instant kNever = Instant::max();

bool has_cap(CapabilityMask caps, Capability c) { return (caps & cap_bit(c)) != 0; }

// Members' timeouts name the requirement that was still missing when the window closed.
Reason timeout_reason(Reason waiting_for) {
  switch (waiting_for) {
    case Reason::two_person:
      return Reason::two_person_timeout;
    case Reason::escort_required:
      return Reason::escort_timeout;
    case Reason::screening:
      return Reason::screening_timeout;
    default:
      return waiting_for;  // lone_zone stays lone_zone: the exit is denied for it
  }
}

}  // namespace

Engine::Engine(std::shared_ptr<const Policy> policy) : policy_(std::move(policy)) {
  occupancy_.assign(policy_->zones.size(), 0);
  doors_.assign(policy_->doors.size(), DoorStatus{});
  lockdown_.assign(policy_->zones.size(), false);
  tamper_active_.assign(policy_->tampers.size(), false);
}

// ---------------------------------------------------------------------------------------------
// People and locations
// ---------------------------------------------------------------------------------------------

Engine::PersonState* Engine::find_person(std::string_view person) {
  auto it = people_.find(person);
  return it == people_.end() ? nullptr : &it->second;
}

const Engine::PersonState* Engine::find_person(std::string_view person) const {
  auto it = people_.find(person);
  return it == people_.end() ? nullptr : &it->second;
}

Location Engine::location_of(std::string_view person) const {
  if (const PersonState* p = find_person(person)) return p->loc;
  return Location{0, true};
}

std::optional<Instant> Engine::location_since(std::string_view person) const {
  if (const PersonState* p = find_person(person)) return p->since;
  return std::nullopt;
}

std::uint32_t Engine::occupancy(ZoneIdx zone) const { return zone < occupancy_.size() ? occupancy_[zone] : 0; }

std::vector<std::string> Engine::people_in(ZoneIdx zone) const {
  std::vector<std::string> out;
  for (const auto& [id, st] : people_) {
    if (st.loc.known && st.loc.zone == zone) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Engine::unknown_locations() const {
  std::vector<std::string> out;
  for (const auto& [id, st] : people_) {
    if (!st.loc.known) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Engine::PersonState& Engine::person_entry(std::string_view person) {
  auto [it, inserted] = people_.try_emplace(std::string(person));
  // People never seen are outside; once tracked they are counted there like everyone else.
  if (inserted && !occupancy_.empty()) ++occupancy_[0];
  return it->second;
}

void Engine::place(std::string_view person, ZoneIdx zone, std::optional<Instant> since) {
  if (zone >= occupancy_.size()) return;
  PersonState& st = person_entry(person);
  // A passage into the zone they are in already (a soft anti-passback grant) is no move: the
  // muster list keeps the time they really arrived.
  if (!st.loc.known || st.loc.zone != zone || !st.since) st.since = since;
  if (st.loc.known) {
    for (ZoneIdx z = st.loc.zone; z != kNoIdx && z < occupancy_.size(); z = policy_->zones[z].parent) {
      if (occupancy_[z] > 0) --occupancy_[z];
    }
  }
  st.loc = Location{zone, true};
  for (ZoneIdx z = zone; z != kNoIdx && z < occupancy_.size(); z = policy_->zones[z].parent) ++occupancy_[z];
}

void Engine::lose_location(PersonState& st, Instant now) {
  if (!st.loc.known) return;
  for (ZoneIdx z = st.loc.zone; z != kNoIdx && z < occupancy_.size(); z = policy_->zones[z].parent) {
    if (occupancy_[z] > 0) --occupancy_[z];
  }
  st.loc.known = false;
  st.since = now;
}

void Engine::move_person(const std::string& person, ZoneIdx to, Instant now, Effects& out) {
  const Location from = location_of(person);
  place(person, to, now);
  note(out, now, "moved", policy_->zones[to].id, person,
       from.known ? "from " + policy_->zones[from.zone].id : std::string("from unknown"));
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

std::vector<DoorIdx> Engine::unlocked_doors() const {
  std::vector<DoorIdx> out;
  for (std::size_t i = 0; i < doors_.size(); ++i) {
    if (doors_[i].unlocked) out.push_back(static_cast<DoorIdx>(i));
  }
  return out;
}

std::vector<PendingView> Engine::pending() const {
  std::vector<PendingView> out;
  for (const Group& g : groups_) {
    PendingView v{g.id, g.door,    g.dir, g.stage == Group::Stage::screening ? Reason::screening : g.waiting_for,
                  {},   g.deadline};
    for (const Member& m : g.members) v.people.push_back(m.person);
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<HeldView> Engine::held() const {
  std::vector<HeldView> out;
  for (const auto& [id, st] : people_) {
    if (st.held_at) out.push_back(HeldView{id, *st.held_at, st.held_since});
  }
  std::sort(out.begin(), out.end(), [](const HeldView& a, const HeldView& b) { return a.person < b.person; });
  return out;
}

std::vector<ZoneIdx> Engine::lockdowns() const {
  std::vector<ZoneIdx> out;
  for (std::size_t i = 0; i < lockdown_.size(); ++i) {
    if (lockdown_[i]) out.push_back(static_cast<ZoneIdx>(i));
  }
  return out;
}

bool Engine::zone_locked_down(ZoneIdx z) const {
  for (std::size_t guard = 0; z != kNoIdx && z < lockdown_.size() && guard <= lockdown_.size(); ++guard) {
    if (lockdown_[z]) return true;
    z = policy_->zones[z].parent;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

void Engine::decide(Effects& out, Instant now, std::uint64_t request, const std::string& person,
                    const std::string& badge, DoorIdx door, Direction dir, Verdict v, Reason r, bool alarm) {
  out.records.emplace_back(Decision{now, request, person, badge, door, dir, v, r, alarm});
}

void Engine::raise(Effects& out, Instant now, AlarmKind kind, std::string source, std::string person,
                   std::string detail) {
  out.records.emplace_back(
      Alarm{now, kind, severity_of(kind), std::move(source), std::move(person), std::move(detail)});
}

void Engine::note(Effects& out, Instant now, std::string kind, std::string subject, std::string person,
                  std::string detail) {
  out.records.emplace_back(Note{now, std::move(kind), std::move(subject), std::move(person), std::move(detail)});
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

std::optional<Instant> Engine::next_deadline() const {
  Instant t = kNever;
  for (std::size_t i = 0; i < doors_.size(); ++i) {
    const DoorStatus& s = doors_[i];
    const Door& d = policy_->doors[i];
    if (s.unlocked && !s.fire_release) t = std::min(t, s.unlock_until);
    if (s.open && !s.fire_release) {
      if (!s.held_prealarm)
        t = std::min(t, s.open_since + d.held_prealarm);
      else if (!s.held_alarm)
        t = std::min(t, s.open_since + d.held_alarm);
    }
  }
  for (const Group& g : groups_) t = std::min(t, g.deadline);
  for (const Grant& g : grants_) t = std::min(t, g.until);
  if (t == kNever) return std::nullopt;
  return t;
}

void Engine::advance(Instant now, Effects& out) {
  if (now < last_) now = last_;
  // Fire timers one instant at a time, in order, each stamped with its own due time, so that the
  // audit trail reads as the events happened even when the caller advances in large steps.
  for (auto due = next_deadline(); due && *due <= now; due = next_deadline()) {
    last_ = std::max(last_, *due);
    fire_timers(*due, out);
  }
  last_ = now;
}

void Engine::fire_timers(Instant t, Effects& out) {
  // Unused grants expire: the person did not pass, nothing changes but the record.
  for (std::size_t i = 0; i < grants_.size();) {
    if (grants_[i].until <= t) {
      note(out, t, "grant_unused", policy_->doors[grants_[i].door].id, grants_[i].person);
      grants_.erase(grants_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  for (std::size_t i = 0; i < doors_.size(); ++i) {
    DoorStatus& s = doors_[i];
    const Door& d = policy_->doors[i];
    const auto door = static_cast<DoorIdx>(i);
    if (s.unlocked && !s.fire_release && s.unlock_until <= t) {
      s.unlocked = false;
      out.commands.push_back(DoorCommand{DoorCommand::Kind::lock, door, Duration{0}});
      note(out, t, "relocked", d.id);
    }
    if (s.open && !s.fire_release) {
      if (!s.held_prealarm && s.open_since + d.held_prealarm <= t) {
        s.held_prealarm = true;
        raise(out, t, AlarmKind::door_held_prealarm, d.id);
      }
      if (s.held_prealarm && !s.held_alarm && s.open_since + d.held_alarm <= t) {
        s.held_alarm = true;
        raise(out, t, AlarmKind::door_held, d.id);
      }
    }
  }
  // Groups whose window closed are denied with the requirement they were still waiting for.
  for (std::size_t i = 0; i < groups_.size();) {
    if (groups_[i].deadline <= t) {
      const Reason r = groups_[i].stage == Group::Stage::screening ? Reason::screening_timeout
                                                                   : timeout_reason(groups_[i].waiting_for);
      finish_group(i, Verdict::deny, r, t, out);
    } else {
      ++i;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

void Engine::handle(const Event& event, Instant now, Effects& out) {
  advance(now, out);
  now = last_;
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, BadgePresented>)
          on_badge(e, now, out);
        else if constexpr (std::is_same_v<T, GateSignal>)
          on_gate(e, now, out);
        else if constexpr (std::is_same_v<T, DoorSensor>)
          on_door_sensor(e, now, out);
        else if constexpr (std::is_same_v<T, RexPressed>)
          on_rex(e, now, out);
        else if constexpr (std::is_same_v<T, FireInput>)
          on_fire(e, now, out);
        else if constexpr (std::is_same_v<T, TamperSignal>)
          on_tamper(e, now, out);
        else if constexpr (std::is_same_v<T, GuardCommand>)
          on_guard(e, now, out);
      },
      event);
}

// ---------------------------------------------------------------------------------------------
// Badges
// ---------------------------------------------------------------------------------------------

bool Engine::needs_two_person(const Door& d, Direction dir) const {
  return dir == Direction::in ? d.two_person.on_in : d.two_person.on_out;
}

bool Engine::needs_screening(const Door& d, Direction dir) const {
  if (!d.gate) return false;
  return dir == Direction::in ? d.gate->screens_in : d.gate->screens_out;
}

bool Engine::occupancy_allows(ZoneIdx target, ZoneIdx source, std::uint32_t extra) const {
  // Every zone that contains the target gains the newcomers, except zones that already contain
  // the source: moving deeper into db-ops does not add anyone to a full db-view.
  for (ZoneIdx z = target; z != kNoIdx; z = policy_->zones[z].parent) {
    const std::uint32_t max = policy_->zones[z].max_occupancy;
    if (max == 0 || policy_->zone_within(source, z)) continue;
    std::uint32_t incoming = extra;
    for (const Grant& g : grants_) {
      const Door& d = policy_->doors[g.door];
      const ZoneIdx to = g.dir == Direction::in ? d.inner : d.outer;
      const ZoneIdx from = g.dir == Direction::in ? d.outer : d.inner;
      if (policy_->zone_within(to, z) && !policy_->zone_within(from, z)) ++incoming;
    }
    for (const Group& gr : groups_) {
      const Door& d = policy_->doors[gr.door];
      const ZoneIdx to = gr.dir == Direction::in ? d.inner : d.outer;
      const ZoneIdx from = gr.dir == Direction::in ? d.outer : d.inner;
      if (policy_->zone_within(to, z) && !policy_->zone_within(from, z)) {
        incoming += static_cast<std::uint32_t>(gr.members.size());
      }
    }
    if (occupancy_[z] + incoming > max) return false;
  }
  return true;
}

bool Engine::fails_secure(DoorIdx door) const {
  return door < policy_->doors.size() && policy_->doors[door].min_credential == CredentialKind::desfire;
}

bool Engine::interlock_busy(DoorIdx door) const {
  const Door& d = policy_->doors[door];
  if (d.interlock == kNoIdx) return false;
  for (DoorIdx other : policy_->interlocks[d.interlock].doors) {
    if (other == door) continue;
    if (doors_[other].unlocked || doors_[other].open) return true;
  }
  return false;
}

Engine::Check Engine::check_person(const BadgePresented& e, Instant now) const {
  Check c;
  const Policy& p = *policy_;
  const Door& d = p.doors[e.door];
  const Holder& h = *e.holder;
  const ZoneIdx target = e.dir == Direction::in ? d.inner : d.outer;
  const ZoneIdx source = e.dir == Direction::in ? d.outer : d.inner;
  // Leaving towards an enclosing zone is an exit: clearance, schedule and lockdown do not apply,
  // nobody is trapped inside because their hours ended.
  const bool entering = !p.zone_within(source, target);

  if (h.revoked) return Check{Reason::revoked};
  if (h.valid_from && now < *h.valid_from) return Check{Reason::not_yet_valid};
  if (h.valid_until && now > *h.valid_until) return Check{Reason::expired};
  if (e.presented < d.min_credential) return Check{Reason::weak_credential};
  if (const PersonState* st = find_person(h.person_id); st && st->held_at) return Check{Reason::held};

  const LocalTime local = p.time_zone.local(now);
  if (entering) {
    const Eligibility access = zone_access(p, h, target, local);
    if (access.reason != Reason::ok) return Check{access.reason};
    c.needs_escort = access.needs_escort;
    c.escort_roles = access.escort_roles;
    if (zone_locked_down(target) && !has_cap(p.capabilities_of(h.roles), Capability::lockdown)) {
      return Check{Reason::lockdown};
    }
    // The roles in which this person can escort someone else through here right now.
    if (!c.needs_escort) {
      for (std::size_t i = 0; i < p.roles.size(); ++i) {
        if (((h.roles >> i) & 1U) == 0) continue;
        const Role& r = p.roles[i];
        if (target < r.may_escort.size() && r.may_escort[target]) c.escort_as |= RoleMask{1} << i;
      }
    }
  }

  if (d.anti_passback != AntiPassback::off) {
    const Location loc = location_of(h.person_id);
    if (loc.known && loc.zone != source) {
      if (d.anti_passback == AntiPassback::hard) {
        c.reason = Reason::anti_passback;
        return c;
      }
      c.soft_apb = true;
    }
  }

  if (entering && !occupancy_allows(target, source, 1)) {
    c.reason = Reason::occupancy_full;
    return c;
  }
  return c;
}

bool Engine::would_leave_lone(const Door& d, Direction dir, const Group* with) const {
  if (d.no_lone_zone.mode == LoneZoneMode::off) return false;
  if (dir != Direction::out) return false;
  const ZoneIdx zone = d.inner;
  const auto inside_zone = [&](const std::string& person) {
    const Location loc = location_of(person);
    return loc.known && policy_->zone_within(loc.zone, zone);
  };
  const auto leaves_zone = [&](DoorIdx door, Direction direction) {
    const Door& x = policy_->doors[door];
    const ZoneIdx to = direction == Direction::in ? x.inner : x.outer;
    return !policy_->zone_within(to, zone);
  };
  // Everyone already on their way out counts as gone: granted exits not yet walked through and
  // other exit requests in progress. Otherwise two people could leave a third alone in turn.
  std::uint32_t leaving = 0;
  for (const Grant& g : grants_) {
    if (leaves_zone(g.door, g.dir) && inside_zone(g.person)) ++leaving;
  }
  for (const Group& g : groups_) {
    if (&g == with || !leaves_zone(g.door, g.dir)) continue;
    for (const Member& m : g.members) {
      if (inside_zone(m.person)) ++leaving;
    }
  }
  if (with != nullptr) {
    for (const Member& m : with->members) {
      if (inside_zone(m.person)) ++leaving;
    }
  }
  const std::uint32_t inside = occupancy_[zone];
  return inside >= leaving && inside - leaving == 1;
}

bool Engine::group_complete(const Group& g) const {
  const Door& d = policy_->doors[g.door];
  // Every visitor needs an escort in the group who may escort in one of the required roles.
  RoleMask escorts = 0;
  for (const Member& m : g.members) escorts |= m.escort_as;
  for (const Member& m : g.members) {
    if (m.needs_escort && (m.escort_roles & escorts) == 0) return false;
  }
  if (needs_two_person(d, g.dir)) {
    if (g.members.size() < 2) return false;
    if (d.two_person.one_of_role) {
      const RoleMask need = RoleMask{1} << *d.two_person.one_of_role;
      bool found = false;
      for (const Member& m : g.members) found = found || (m.roles & need) != 0;
      if (!found) return false;
    }
  }
  if (d.no_lone_zone.mode == LoneZoneMode::deny && would_leave_lone(d, g.dir, &g)) return false;
  return true;
}

void Engine::on_badge(const BadgePresented& e, Instant now, Effects& out) {
  const std::uint64_t request = next_request_++;
  if (e.door >= policy_->doors.size()) return;
  const Door& d = policy_->doors[e.door];
  const std::string person = e.holder ? e.holder->person_id : std::string();

  // A failed cryptographic login is never downgraded to a UID-only read.
  if (e.auth_failed) {
    decide(out, now, request, person, e.badge, e.door, e.dir, Verdict::deny, Reason::credential_auth_failed);
    return;
  }
  if (!e.holder) {
    decide(out, now, request, person, e.badge, e.door, e.dir, Verdict::deny, Reason::unknown_badge);
    return;
  }

  // Life safety first: during a fire, egress doors stand open; a badge there records who left.
  if (fire_ && d.fire_egress) {
    const Holder& h = *e.holder;
    const Reason r = Reason::fire;
    Verdict v = Verdict::grant;
    const ZoneIdx target = e.dir == Direction::in ? d.inner : d.outer;
    const ZoneIdx source = e.dir == Direction::in ? d.outer : d.inner;
    const bool entering = !policy_->zone_within(source, target);
    if (entering && !has_cap(policy_->capabilities_of(h.roles), Capability::lockdown)) {
      v = Verdict::deny;  // nobody but guards goes further in during an evacuation
    }
    decide(out, now, request, person, e.badge, e.door, e.dir, v, r);
    if (v == Verdict::grant) {
      // The door already stands unlocked; the grant keeps it so for its unlock time even if the
      // fire alarm ends meanwhile.
      doors_[e.door].unlock_until = std::max(doors_[e.door].unlock_until, now + d.unlock_time);
      if (doors_[e.door].open) {
        move_person(person, target, now, out);
      } else {
        grants_.push_back(Grant{person, e.door, e.dir, now + d.unlock_time, request});
      }
    }
    return;
  }

  if (!audit_available_ && fails_secure(e.door)) {
    decide(out, now, request, person, e.badge, e.door, e.dir, Verdict::deny, Reason::audit_unavailable);
    return;
  }

  Check c = check_person(e, now);
  if (c.reason != Reason::ok) {
    const bool alarm = c.reason == Reason::anti_passback;
    decide(out, now, request, person, e.badge, e.door, e.dir, Verdict::deny, c.reason, alarm);
    if (alarm) raise(out, now, AlarmKind::anti_passback, d.id, person, "hard");
    return;
  }
  if (c.soft_apb) raise(out, now, AlarmKind::anti_passback, d.id, person, "soft");

  Member m;
  m.person = person;
  m.badge = e.badge;
  m.roles = e.holder->roles;
  m.request = request;
  m.needs_escort = c.needs_escort;
  m.escort_roles = c.escort_roles;
  m.escort_as = c.escort_as;
  m.soft_apb = c.soft_apb;

  // Join a group that is gathering at this door and direction, if this person serves it.
  for (Group& g : groups_) {
    if (g.door != e.door || g.dir != e.dir) continue;
    const bool already =
        std::any_of(g.members.begin(), g.members.end(), [&](const Member& x) { return x.person == person; });
    if (already) {
      // A repeated tap neither adds a second person nor resets the window.
      const Reason waiting = g.stage == Group::Stage::screening ? Reason::screening : g.waiting_for;
      decide(out, now, request, person, e.badge, e.door, e.dir, Verdict::pending, waiting);
      return;
    }
    if (g.stage != Group::Stage::gathering) continue;
    bool serves = false;
    switch (g.waiting_for) {
      case Reason::two_person:
      case Reason::lone_zone:
        serves = true;
        break;
      case Reason::escort_required: {
        RoleMask wanted = 0;
        for (const Member& x : g.members) {
          if (x.needs_escort) wanted |= x.escort_roles;
        }
        serves = (m.escort_as & wanted) != 0 || m.needs_escort;
        break;
      }
      default:
        break;
    }
    if (!serves) continue;
    g.members.push_back(std::move(m));
    advance_group(g, now, out);
    // advance_group may have completed and removed the group: nothing below uses `g`.
    return;
  }

  Group g;
  g.id = request;
  g.door = e.door;
  g.dir = e.dir;
  g.members.push_back(std::move(m));
  g.deadline = now;  // set by advance_group
  groups_.push_back(std::move(g));
  advance_group(groups_.back(), now, out);
}

void Engine::advance_group(Group& g, Instant now, Effects& out) {
  const Door& d = policy_->doors[g.door];
  const std::size_t index = static_cast<std::size_t>(&g - groups_.data());
  if (g.stage == Group::Stage::gathering) {
    if (!group_complete(g)) {
      // Work out what is still missing; the window runs from the first badge of the group.
      Reason waiting = Reason::two_person;
      Duration window = d.two_person.window;
      RoleMask escorts = 0;
      for (const Member& m : g.members) escorts |= m.escort_as;
      const bool escort_missing = std::any_of(g.members.begin(), g.members.end(), [&](const Member& m) {
        return m.needs_escort && (m.escort_roles & escorts) == 0;
      });
      if (escort_missing) {
        waiting = Reason::escort_required;
        window = d.escort_window;
      } else if (needs_two_person(d, g.dir) && g.members.size() < 2) {
        waiting = Reason::two_person;
        window = d.two_person.window;
      } else if (needs_two_person(d, g.dir) && d.two_person.one_of_role) {
        waiting = Reason::two_person;
        window = d.two_person.window;
      } else {
        waiting = Reason::lone_zone;
        window = d.no_lone_zone.window;
      }
      if (g.members.size() == 1) g.deadline = now + window;
      g.waiting_for = waiting;
      const Member& last = g.members.back();
      decide(out, now, last.request, last.person, last.badge, g.door, g.dir, Verdict::pending, waiting);
      return;
    }
    // Alarm-mode lone zone: the exit goes ahead, the guards are told.
    if (d.no_lone_zone.mode == LoneZoneMode::alarm && would_leave_lone(d, g.dir, &g)) {
      raise(out, now, AlarmKind::lone_zone, policy_->zones[d.inner].id, g.members.front().person);
    }
    if (needs_screening(d, g.dir)) {
      g.stage = Group::Stage::screening;
      g.screening_order = next_screening_order_++;
      g.deadline = now + d.gate->window;
      for (const Member& m : g.members) {
        decide(out, now, m.request, m.person, m.badge, g.door, g.dir, Verdict::pending, Reason::screening);
      }
      return;
    }
  } else {
    const auto screened = static_cast<std::size_t>(
        std::count_if(g.members.begin(), g.members.end(), [](const Member& m) { return m.screened; }));
    if (screened < g.members.size()) return;
  }
  // Every requirement met: grant, unless another door of the vestibule is in use.
  if (interlock_busy(g.door)) {
    finish_group(index, Verdict::deny, Reason::interlock_busy, now, out);
    return;
  }
  finish_group(index, Verdict::grant, Reason::ok, now, out);
}

void Engine::finish_group(std::size_t index, Verdict v, Reason r, Instant now, Effects& out) {
  Group g = std::move(groups_[index]);
  groups_.erase(groups_.begin() + static_cast<std::ptrdiff_t>(index));
  if (v == Verdict::grant) {
    grant_members(g, r, now, out);
    return;
  }
  for (const Member& m : g.members) decide(out, now, m.request, m.person, m.badge, g.door, g.dir, v, r);
}

void Engine::grant_members(Group& g, Reason r, Instant now, Effects& out) {
  const Door& d = policy_->doors[g.door];
  for (const Member& m : g.members) {
    const Reason mr = (r == Reason::ok && m.soft_apb) ? Reason::anti_passback : r;
    decide(out, now, m.request, m.person, m.badge, g.door, g.dir, Verdict::grant, mr, m.soft_apb);
    if (doors_[g.door].open) {
      // The door already stands open: the person walks through now.
      move_person(m.person, g.dir == Direction::in ? d.inner : d.outer, now, out);
    } else {
      grants_.push_back(Grant{m.person, g.door, g.dir, now + d.unlock_time, m.request});
    }
  }
  unlock(g.door, d.unlock_time, now, out);
}

void Engine::unlock(DoorIdx door, Duration d, Instant now, Effects& out) {
  DoorStatus& s = doors_[door];
  s.unlocked = true;
  s.unlock_until = std::max(s.unlock_until, now + d);
  out.commands.push_back(DoorCommand{DoorCommand::Kind::unlock, door, d});
}

// ---------------------------------------------------------------------------------------------
// Gates, doors, REX
// ---------------------------------------------------------------------------------------------

void Engine::on_gate(const GateSignal& e, Instant now, Effects& out) {
  if (e.gate >= policy_->gates.size()) return;
  const Gate& gate = policy_->gates[e.gate];
  // The gate cannot identify people: passes are matched to screening groups in badge order.
  std::size_t index = groups_.size();
  for (std::size_t i = 0; i < groups_.size(); ++i) {
    const Group& g = groups_[i];
    if (g.door != gate.door || g.stage != Group::Stage::screening) continue;
    // People walk through the gate in the order they were sent to it.
    if (index == groups_.size() || g.screening_order < groups_[index].screening_order) index = i;
  }
  if (e.signal == GateSignalKind::clear) {
    note(out, now, "gate_clear", gate.id);
    if (index == groups_.size()) return;
    Group& g = groups_[index];
    for (Member& m : g.members) {
      if (!m.screened) {
        m.screened = true;
        break;
      }
    }
    advance_group(g, now, out);
    return;
  }
  // A metal-detector alarm: fail the whole group, and hold those on their way out if configured.
  if (index == groups_.size()) {
    raise(out, now, AlarmKind::screening_alarm, gate.id, {}, "no badge pending");
    return;
  }
  Group g = std::move(groups_[index]);
  groups_.erase(groups_.begin() + static_cast<std::ptrdiff_t>(index));
  const Door& d = policy_->doors[g.door];
  const bool hold = g.dir == Direction::out && d.gate && d.gate->hold_on_exit_alarm;
  std::string names;
  for (const Member& m : g.members) {
    if (!names.empty()) names += ',';
    names += m.person;
  }
  raise(out, now, AlarmKind::screening_alarm, gate.id, names, hold ? "held" : "");
  for (const Member& m : g.members) {
    decide(out, now, m.request, m.person, m.badge, g.door, g.dir, Verdict::deny, Reason::screening_failed);
    if (hold) {
      PersonState& st = person_entry(m.person);
      st.held_at = g.door;
      st.held_since = now;
      note(out, now, "held", d.id, m.person);
    }
  }
}

void Engine::on_door_sensor(const DoorSensor& e, Instant now, Effects& out) {
  if (e.door >= doors_.size()) return;
  DoorStatus& s = doors_[e.door];
  const Door& d = policy_->doors[e.door];
  if (e.open == s.open) return;  // repeated edge: nothing changed
  if (e.open) {
    s.open = true;
    s.open_since = now;
    s.held_prealarm = false;
    s.held_alarm = false;
    if (!s.unlocked) {
      s.forced = true;
      note(out, now, "door_open", d.id, {}, "forced");
      raise(out, now, AlarmKind::door_forced, d.id);
      return;
    }
    note(out, now, "door_open", d.id);
    // Everyone granted at this door passes now; the grant is used.
    for (std::size_t i = 0; i < grants_.size();) {
      if (grants_[i].door == e.door) {
        const Grant gr = grants_[i];
        grants_.erase(grants_.begin() + static_cast<std::ptrdiff_t>(i));
        move_person(gr.person, gr.dir == Direction::in ? d.inner : d.outer, now, out);
      } else {
        ++i;
      }
    }
    return;
  }
  s.open = false;
  s.forced = false;
  s.held_prealarm = false;
  s.held_alarm = false;
  note(out, now, "door_closed", d.id);
  // The strike relocks as the door closes behind the people who were let through.
  if (s.unlocked && !s.fire_release) {
    s.unlocked = false;
    s.unlock_until = now;
    out.commands.push_back(DoorCommand{DoorCommand::Kind::lock, e.door, Duration{0}});
  }
}

void Engine::on_rex(const RexPressed& e, Instant now, Effects& out) {
  if (e.door >= doors_.size()) return;
  const Door& d = policy_->doors[e.door];
  if (!d.request_to_exit) {
    note(out, now, "rex_ignored", d.id, {}, "request-to-exit disabled: exits are badged and screened");
    return;
  }
  if (interlock_busy(e.door)) {
    note(out, now, "rex_refused", d.id, {}, "interlock_busy");
    return;
  }
  note(out, now, "rex", d.id);
  unlock(e.door, d.unlock_time, now, out);
}

void Engine::relock_if_due(DoorIdx door, Instant now, Effects& out) {
  DoorStatus& s = doors_[door];
  if (s.unlocked && s.unlock_until <= now) {
    s.unlocked = false;
    out.commands.push_back(DoorCommand{DoorCommand::Kind::lock, door, Duration{0}});
  }
}

// ---------------------------------------------------------------------------------------------
// Fire, tamper
// ---------------------------------------------------------------------------------------------

void Engine::on_fire(const FireInput& e, Instant now, Effects& out) {
  if (e.active == fire_) return;
  fire_ = e.active;
  if (fire_) {
    raise(out, now, AlarmKind::fire, "site");
    // Pending requests are void: nobody waits at a gate during an evacuation.
    while (!groups_.empty()) finish_group(0, Verdict::deny, Reason::fire, now, out);
    for (auto& [id, st] : people_) {
      if (st.held_at) {
        st.held_at.reset();
        note(out, now, "hold_lifted", "fire", id);
      }
    }
    // Locations are unknown once doors stand open: nobody is counted where they may not be.
    for (auto& [id, st] : people_) {
      if (st.loc.known) st.since = now;
      st.loc.known = false;
    }
    std::fill(occupancy_.begin(), occupancy_.end(), 0U);
    for (std::size_t i = 0; i < doors_.size(); ++i) {
      if (!policy_->doors[i].fire_egress) continue;
      DoorStatus& s = doors_[i];
      s.fire_release = true;
      s.unlocked = true;
      s.forced = false;
      out.commands.push_back(DoorCommand{DoorCommand::Kind::unlock, static_cast<DoorIdx>(i), Duration{0}});
    }
    note(out, now, "fire_on", "site");
    return;
  }
  note(out, now, "fire_off", "site");
  for (std::size_t i = 0; i < doors_.size(); ++i) {
    DoorStatus& s = doors_[i];
    if (!s.fire_release) continue;
    s.fire_release = false;
    s.open_since = now;  // held-open timing starts when the release ends
    relock_if_due(static_cast<DoorIdx>(i), now, out);
  }
}

void Engine::on_tamper(const TamperSignal& e, Instant now, Effects& out) {
  if (e.tamper >= tamper_active_.size()) return;
  const std::string& id = policy_->tampers[e.tamper].id;
  if (e.active && !tamper_active_[e.tamper]) raise(out, now, AlarmKind::tamper, id);
  if (!e.active && tamper_active_[e.tamper]) note(out, now, "tamper_cleared", id);
  tamper_active_[e.tamper] = e.active;
}

// ---------------------------------------------------------------------------------------------
// Guards
// ---------------------------------------------------------------------------------------------

void Engine::on_guard(const GuardCommand& e, Instant now, Effects& out) {
  static constexpr const char* kNames[] = {"lockdown", "lift", "release", "forgive", "unlock"};
  const std::string action = kNames[static_cast<std::size_t>(e.action)];
  Capability needed = Capability::lockdown;
  switch (e.action) {
    case GuardAction::lockdown:
    case GuardAction::lift:
      needed = Capability::lockdown;
      break;
    case GuardAction::release:
      needed = Capability::release;
      break;
    case GuardAction::forgive:
      needed = Capability::forgive;
      break;
    case GuardAction::unlock:
      needed = Capability::unlock;
      break;
  }
  const DoorIdx door = e.door.value_or(kNoIdx);
  if (!has_cap(e.actor_caps, needed)) {
    decide(out, now, next_request_++, e.actor, {}, door, Direction::in, Verdict::deny, Reason::no_clearance);
    note(out, now, "guard_refused", action, e.actor, "lacks capability " + std::string(to_string(needed)));
    return;
  }
  const bool bad_zone = e.zone && *e.zone >= policy_->zones.size();
  const bool bad_door = e.door && *e.door >= policy_->doors.size();
  const bool needs_door = e.action == GuardAction::unlock && !e.door;
  if (bad_zone || bad_door || needs_door) {
    note(out, now, "guard_refused", action, e.actor,
         needs_door ? "no door given"
         : bad_zone ? "unknown zone"
                    : "unknown door");
    return;
  }
  const std::string subject = e.person                                    ? *e.person
                              : e.door && *e.door < policy_->doors.size() ? policy_->doors[*e.door].id
                              : e.zone && *e.zone < policy_->zones.size() ? policy_->zones[*e.zone].id
                                                                          : std::string("site");
  switch (e.action) {
    case GuardAction::lockdown: {
      const ZoneIdx z = e.zone.value_or(0);
      lockdown_[z] = true;
      note(out, now, "guard_lockdown", policy_->zones[z].id, e.actor, e.note);
      // Requests waiting to enter the locked zone are refused now, not when their window ends.
      for (std::size_t i = 0; i < groups_.size();) {
        const Door& d = policy_->doors[groups_[i].door];
        const ZoneIdx target = groups_[i].dir == Direction::in ? d.inner : d.outer;
        const ZoneIdx source = groups_[i].dir == Direction::in ? d.outer : d.inner;
        const bool entering = !policy_->zone_within(source, target);
        const bool all_guards = std::all_of(groups_[i].members.begin(), groups_[i].members.end(), [&](const Member& m) {
          return has_cap(policy_->capabilities_of(m.roles), Capability::lockdown);
        });
        if (entering && zone_locked_down(target) && !all_guards) {
          finish_group(i, Verdict::deny, Reason::lockdown, now, out);
        } else {
          ++i;
        }
      }
      return;
    }
    case GuardAction::lift: {
      if (e.zone) {
        if (*e.zone < lockdown_.size()) lockdown_[*e.zone] = false;
      } else {
        std::fill(lockdown_.begin(), lockdown_.end(), false);
      }
      note(out, now, "guard_lift", subject, e.actor, e.note);
      return;
    }
    case GuardAction::release: {
      bool any = false;
      for (auto& [id, st] : people_) {
        if (!st.held_at) continue;
        if (e.person && id != *e.person) continue;
        if (e.door && *st.held_at != *e.door) continue;
        const DoorIdx at = *st.held_at;
        any = true;
        const Door& d = policy_->doors[at];
        const std::uint64_t request = next_request_++;
        if (interlock_busy(at)) {
          // The vestibule's other door is in use: the person stays held until it is free.
          decide(out, now, request, id, {}, at, Direction::out, Verdict::deny, Reason::interlock_busy);
          continue;
        }
        st.held_at.reset();
        // The held person was on the way out: the guard lets them finish the exit.
        decide(out, now, request, id, {}, at, Direction::out, Verdict::grant, Reason::released);
        note(out, now, "guard_release", d.id, id, "by " + e.actor + (e.note.empty() ? "" : ": " + e.note));
        grants_.push_back(Grant{id, at, Direction::out, now + d.unlock_time, request});
        unlock(at, d.unlock_time, now, out);
      }
      if (!any) note(out, now, "guard_release_none", subject, e.actor, "nobody held");
      return;
    }
    case GuardAction::forgive: {
      if (!e.person) {
        // Without a person: everyone whose location is unknown or disputed starts afresh.
        for (auto& [id, st] : people_) {
          if (st.loc.known) st.since = now;
          st.loc.known = false;
        }
        std::fill(occupancy_.begin(), occupancy_.end(), 0U);
        note(out, now, "guard_forgive", "site", e.actor, e.note);
        return;
      }
      if (e.zone) {
        place(*e.person, *e.zone, now);
      } else {
        lose_location(person_entry(*e.person), now);
      }
      decide(out, now, next_request_++, *e.person, {}, kNoIdx, Direction::in, Verdict::grant, Reason::forgiven);
      note(out, now, "guard_forgive", subject, *e.person,
           "by " + e.actor + (e.zone ? " into " + policy_->zones[*e.zone].id : std::string()) +
               (e.note.empty() ? "" : ": " + e.note));
      return;
    }
    case GuardAction::unlock: {
      if (e.note.empty()) {
        note(out, now, "guard_refused", "unlock", e.actor, "a momentary unlock needs a reason");
        return;
      }
      if (interlock_busy(*e.door)) {
        note(out, now, "guard_refused", policy_->doors[*e.door].id, e.actor, "interlock_busy");
        return;
      }
      note(out, now, "guard_unlock", policy_->doors[*e.door].id, e.actor, e.note);
      unlock(*e.door, policy_->doors[*e.door].unlock_time, now, out);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reload
// ---------------------------------------------------------------------------------------------

void Engine::replace_policy(std::shared_ptr<const Policy> policy, Instant now, Effects& out) {
  advance(now, out);
  now = last_;
  while (!groups_.empty()) finish_group(0, Verdict::deny, Reason::cancelled, now, out);
  const Policy& old = *policy_;
  const Policy& neu = *policy;

  std::vector<DoorStatus> doors(neu.doors.size());
  for (std::size_t i = 0; i < old.doors.size(); ++i) {
    if (auto j = neu.door_index(old.doors[i].id)) doors[*j] = doors_[i];
  }
  std::vector<Grant> grants;
  for (const Grant& g : grants_) {
    if (auto j = neu.door_index(old.doors[g.door].id)) {
      Grant ng = g;
      ng.door = *j;
      grants.push_back(std::move(ng));
    }
  }
  std::vector<bool> lockdown(neu.zones.size(), false);
  for (std::size_t i = 0; i < old.zones.size(); ++i) {
    if (!lockdown_[i]) continue;
    if (auto j = neu.zone_index(old.zones[i].id)) lockdown[*j] = true;
  }
  std::vector<bool> tamper(neu.tampers.size(), false);
  for (std::size_t i = 0; i < old.tampers.size(); ++i) {
    if (auto j = neu.tamper_index(old.tampers[i].id)) tamper[*j] = tamper_active_[i];
  }
  for (auto& [id, st] : people_) {
    if (st.held_at) {
      if (auto j = neu.door_index(old.doors[*st.held_at].id)) {
        st.held_at = *j;
      } else {
        st.held_at.reset();
      }
    }
    if (auto j = neu.zone_index(old.zones[st.loc.zone].id)) {
      st.loc.zone = *j;
    } else {
      if (st.loc.known) st.since = now;
      st.loc = Location{0, false};
    }
  }
  policy_ = std::move(policy);
  doors_ = std::move(doors);
  grants_ = std::move(grants);
  lockdown_ = std::move(lockdown);
  tamper_active_ = std::move(tamper);
  occupancy_.assign(neu.zones.size(), 0);
  for (const auto& [id, st] : people_) {
    if (!st.loc.known) continue;
    for (ZoneIdx z = st.loc.zone; z != kNoIdx; z = neu.zones[z].parent) ++occupancy_[z];
  }
  note(out, now, "policy_replaced", neu.site_name, {}, neu.source_hash);
}

}  // namespace zonegate::core
