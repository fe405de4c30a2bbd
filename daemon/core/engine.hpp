// SPDX-License-Identifier: Apache-2.0
/// @file
/// The decision engine: a deterministic state machine over events and time. No clock reads, no
/// I/O, no threads, no exceptions on the decision path.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/events.hpp"
#include "core/policy.hpp"

namespace zonegate::core {

/// Where the engine believes a person is.
struct Location {
  ZoneIdx zone = 0;
  bool known = true;  ///< false after a fire or a guard's forgive without a zone
};

struct DoorStatus {
  bool unlocked = false;  ///< strike released now
  bool open = false;      ///< door-position sensor reads open
  bool forced = false;    ///< opened without a grant, REX or fire and not yet closed
  bool held_prealarm = false;
  bool held_alarm = false;
  bool fire_release = false;  ///< unlocked because of the fire alarm
  Instant unlock_until{};
  Instant open_since{};
};

/// A badge request that waits for something (screening, a second person, an escort, the last
/// person of a no-lone zone).
struct PendingView {
  std::uint64_t request = 0;
  DoorIdx door = kNoIdx;
  Direction dir = Direction::in;
  Reason waiting_for = Reason::screening;
  std::vector<std::string> people;
  Instant deadline{};
};

struct HeldView {
  std::string person;
  DoorIdx door = kNoIdx;
  Instant since{};
};

class Engine {
 public:
  explicit Engine(std::shared_ptr<const Policy> policy);

  /// Applies one event at `now` (timers due at or before `now` fire first). `now` must not go
  /// backwards; an earlier time is treated as `now` of the last call.
  void handle(const Event& event, Instant now, Effects& out);
  /// Fires every timer due at or before `now`.
  void advance(Instant now, Effects& out);
  /// The earliest instant at which advance() would do something, if any.
  [[nodiscard]] std::optional<Instant> next_deadline() const;

  /// Puts a person in a zone without a door passage (scenario set-up, restoring state). `since`:
  /// when they got there, if known (location_since()).
  void place(std::string_view person, ZoneIdx zone, std::optional<Instant> since = std::nullopt);
  /// Swaps in a new policy (SIGHUP reload). Locations, door states and lockdowns carry over by
  /// id; pending requests are cancelled (denied) because their rules may have changed.
  void replace_policy(std::shared_ptr<const Policy> policy, Instant now, Effects& out);

  /// Tells the engine whether the audit trail can be written. While it cannot, every request at a
  /// door that needs a cryptographic credential (the DB zones) is denied `audit_unavailable`: those
  /// zones fail secure. Other doors keep working; their records wait in the daemon's queue.
  void set_audit_available(bool available) { audit_available_ = available; }
  [[nodiscard]] bool audit_available() const { return audit_available_; }
  /// True if this door fails secure when the audit trail is unavailable.
  [[nodiscard]] bool fails_secure(DoorIdx door) const;

  [[nodiscard]] const Policy& policy() const { return *policy_; }
  [[nodiscard]] std::shared_ptr<const Policy> policy_ptr() const { return policy_; }
  /// nullopt: never seen, so outside (the root zone).
  [[nodiscard]] Location location_of(std::string_view person) const;
  /// When the person's location last changed — entering their zone, or becoming unknown (fire, a
  /// guard's forgive) — as the time of the event that changed it. nullopt: never seen, or placed
  /// without a time. A refused request changes nothing. Not kept across a daemon restart, which
  /// starts everyone afresh outside.
  [[nodiscard]] std::optional<Instant> location_since(std::string_view person) const;
  /// Known people in the zone or its sub-zones.
  [[nodiscard]] std::uint32_t occupancy(ZoneIdx zone) const;
  /// People located directly in `zone` (not sub-zones), sorted; people with an unknown location
  /// are listed by unknown_locations().
  [[nodiscard]] std::vector<std::string> people_in(ZoneIdx zone) const;
  [[nodiscard]] std::vector<std::string> unknown_locations() const;
  [[nodiscard]] const DoorStatus& door_status(DoorIdx door) const { return doors_[door]; }
  [[nodiscard]] std::vector<DoorIdx> unlocked_doors() const;
  [[nodiscard]] std::vector<PendingView> pending() const;
  [[nodiscard]] std::vector<HeldView> held() const;
  [[nodiscard]] bool fire_active() const { return fire_; }
  /// Zones under lockdown (a zone's lockdown covers its sub-zones).
  [[nodiscard]] std::vector<ZoneIdx> lockdowns() const;
  [[nodiscard]] std::size_t located_count() const { return people_.size(); }
  /// Reserves room for `n` located people (benchmarks, large sites).
  void reserve_people(std::size_t n) { people_.reserve(n); }

 private:
  struct Member {
    std::string person;
    std::string badge;
    RoleMask roles = 0;
    std::uint64_t request = 0;
    bool needs_escort = false;
    RoleMask escort_roles = 0;
    RoleMask escort_as = 0;  ///< roles in which this member may escort others through here now
    bool soft_apb = false;   ///< granted through soft anti-passback: alarm was raised
    bool screened = false;   ///< passed the gate clear
  };
  struct Group {
    std::uint64_t id = 0;
    DoorIdx door = kNoIdx;
    Direction dir = Direction::in;
    enum class Stage : std::uint8_t { gathering, screening } stage = Stage::gathering;
    Reason waiting_for = Reason::two_person;
    std::vector<Member> members;
    Instant deadline{};
    std::uint32_t clears = 0;
    std::uint64_t screening_order = 0;  ///< when it entered screening: gate passes go in this order
  };
  struct Grant {
    std::string person;
    DoorIdx door = kNoIdx;
    Direction dir = Direction::in;
    Instant until{};
    std::uint64_t request = 0;
  };
  struct PersonState {
    Location loc;
    std::optional<Instant> since;    ///< when loc last changed (location_since())
    std::optional<DoorIdx> held_at;  ///< held after a gate alarm on exit
    Instant held_since{};
  };

  void fire_timers(Instant now, Effects& out);
  void on_badge(const BadgePresented& e, Instant now, Effects& out);
  void on_gate(const GateSignal& e, Instant now, Effects& out);
  void on_door_sensor(const DoorSensor& e, Instant now, Effects& out);
  void on_rex(const RexPressed& e, Instant now, Effects& out);
  void on_fire(const FireInput& e, Instant now, Effects& out);
  void on_tamper(const TamperSignal& e, Instant now, Effects& out);
  void on_guard(const GuardCommand& e, Instant now, Effects& out);

  /// Reason a single person may not pass now (ok if they may), plus the needs of their passage.
  struct Check {
    Reason reason = Reason::ok;
    bool soft_apb = false;
    bool needs_escort = false;
    RoleMask escort_roles = 0;
    RoleMask escort_as = 0;
  };
  Check check_person(const BadgePresented& e, Instant now) const;
  bool needs_two_person(const Door& d, Direction dir) const;
  bool would_leave_lone(const Door& d, Direction dir, const Group* with) const;
  bool needs_screening(const Door& d, Direction dir) const;
  bool group_complete(const Group& g) const;
  void advance_group(Group& g, Instant now, Effects& out);  ///< gathering -> screening -> grant
  void finish_group(std::size_t index, Verdict v, Reason r, Instant now, Effects& out);
  void grant_members(Group& g, Reason r, Instant now, Effects& out);
  bool interlock_busy(DoorIdx door) const;
  bool occupancy_allows(ZoneIdx target, ZoneIdx source, std::uint32_t extra) const;
  void unlock(DoorIdx door, Duration d, Instant now, Effects& out);
  void relock_if_due(DoorIdx door, Instant now, Effects& out);
  void decide(Effects& out, Instant now, std::uint64_t request, const std::string& person, const std::string& badge,
              DoorIdx door, Direction dir, Verdict v, Reason r, bool alarm = false);
  void raise(Effects& out, Instant now, AlarmKind kind, std::string source, std::string person = {},
             std::string detail = {});
  void note(Effects& out, Instant now, std::string kind, std::string subject, std::string person = {},
            std::string detail = {});
  void move_person(const std::string& person, ZoneIdx to, Instant now, Effects& out);
  /// Marks the person's location unknown (uncounting them), since `now` if it was known.
  void lose_location(PersonState& st, Instant now);
  bool zone_locked_down(ZoneIdx z) const;
  /// The person's state, created (located outside, counted there) if never seen.
  PersonState& person_entry(std::string_view person);
  PersonState* find_person(std::string_view person);
  const PersonState* find_person(std::string_view person) const;

  std::shared_ptr<const Policy> policy_;
  Instant last_{};
  std::uint64_t next_request_ = 1;
  std::uint64_t next_screening_order_ = 1;
  struct TransparentHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  /// Only people seen or placed. Looked up by string_view without building a temporary string.
  std::unordered_map<std::string, PersonState, TransparentHash, std::equal_to<>> people_;
  std::vector<std::uint32_t> occupancy_;  ///< per zone, inclusive of sub-zones
  std::vector<DoorStatus> doors_;
  std::vector<Group> groups_;
  std::vector<Grant> grants_;
  std::vector<bool> lockdown_;  ///< per zone
  bool fire_ = false;
  bool audit_available_ = true;
  std::vector<bool> tamper_active_;
};

}  // namespace zonegate::core
