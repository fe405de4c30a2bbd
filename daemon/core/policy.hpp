// SPDX-License-Identifier: Apache-2.0
/// @file
/// The compiled, immutable site policy: zones, doors, gates, schedules and roles with every name
/// resolved to an index. Built by config::load_policy; shared read-only by the engine and tools.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/timezone.hpp"
#include "core/types.hpp"

namespace zonegate::core {

enum class AntiPassback : std::uint8_t { off, soft, hard };
/// What happens when an exit would leave one person alone in a no-lone zone.
enum class LoneZoneMode : std::uint8_t { off, deny, alarm };

struct Zone {
  std::string id;
  ZoneIdx parent = kNoIdx;          ///< kNoIdx for the root (the public outside)
  std::uint32_t max_occupancy = 0;  ///< 0 = unlimited; counts everyone in the zone and its sub-zones
  AntiPassback anti_passback = AntiPassback::off;
  CredentialKind min_credential = CredentialKind::uid;
  std::uint32_t depth = 0;  ///< root = 0
};

/// One weekly opening window, local time, [from, to) minutes of the day on the given weekdays.
struct WeeklyWindow {
  std::uint8_t days = 0;  ///< bit 0 = Monday … bit 6 = Sunday
  std::int32_t from_minute = 0;
  std::int32_t to_minute = 0;  ///< exclusive; 1440 = end of day
};

struct Schedule {
  std::string id;
  std::vector<WeeklyWindow> windows;
  bool open_on_holidays = false;  ///< false: a holiday closes every window of this schedule
};

/// What one role grants for one zone.
struct ZoneGrant {
  std::uint16_t schedule = kNoIdx;  ///< index into Policy::schedules
  RoleMask escort_by = 0;           ///< non-zero: entry needs an escort holding one of these roles
};

struct Role {
  std::string id;
  std::vector<std::optional<ZoneGrant>> zones;  ///< indexed by ZoneIdx
  std::vector<bool> may_escort;                 ///< indexed by ZoneIdx: may escort others into it
  CapabilityMask capabilities = 0;
};

struct GateRef {
  GateIdx gate = kNoIdx;
  bool screens_in = false;
  bool screens_out = false;
  bool hold_on_exit_alarm = false;  ///< a gate alarm on exit holds the person until a guard releases
  Duration window{15000};           ///< every member of the group must pass clear within this
};

struct TwoPersonRule {
  bool on_in = false;
  bool on_out = false;
  Duration window{15000};
  std::optional<RoleIdx> one_of_role;  ///< if set, at least one member must hold this role
};

struct LoneZoneRule {
  LoneZoneMode mode = LoneZoneMode::off;
  Duration window{15000};
};

struct Door {
  std::string id;
  ZoneIdx outer = kNoIdx;  ///< dir `in` goes outer -> inner
  ZoneIdx inner = kNoIdx;
  CredentialKind min_credential = CredentialKind::uid;  ///< max of the door's own and both zones'
  AntiPassback anti_passback = AntiPassback::off;       ///< strictest of both zones'
  std::optional<GateRef> gate;
  TwoPersonRule two_person;
  LoneZoneRule no_lone_zone;  ///< applies to exits from the inner zone
  Duration escort_window{15000};
  std::uint16_t interlock = kNoIdx;  ///< index into Policy::interlocks
  bool fire_egress = false;          ///< unlocked while the fire alarm is on
  bool request_to_exit = false;      ///< a REX press unlocks (false: logged, door stays locked)
  Duration unlock_time{5000};
  Duration held_prealarm{20000};
  Duration held_alarm{30000};
};

struct Gate {
  std::string id;
  DoorIdx door = kNoIdx;
};

struct InterlockGroup {
  std::string id;
  std::vector<DoorIdx> doors;
};

struct TamperInput {
  std::string id;
};

class Policy {
 public:
  std::string site_name;
  std::string source_hash;  ///< SHA-256 (hex) of the config bytes, filled by the loader
  TimeZone time_zone;
  std::vector<std::int32_t> holidays;  ///< local days since epoch, sorted, unique
  std::vector<Zone> zones;             ///< index 0 is the root
  std::vector<Door> doors;
  std::vector<Gate> gates;
  std::vector<InterlockGroup> interlocks;
  std::vector<Schedule> schedules;
  std::vector<Role> roles;
  std::vector<TamperInput> tampers;

  [[nodiscard]] std::optional<ZoneIdx> zone_index(std::string_view id) const;
  [[nodiscard]] std::optional<DoorIdx> door_index(std::string_view id) const;
  [[nodiscard]] std::optional<GateIdx> gate_index(std::string_view id) const;
  [[nodiscard]] std::optional<RoleIdx> role_index(std::string_view id) const;
  [[nodiscard]] std::optional<std::uint16_t> tamper_index(std::string_view id) const;
  [[nodiscard]] std::optional<std::uint16_t> interlock_index(std::string_view id) const;

  /// Builds the name lookup tables and derived fields; called once by the loader.
  void finalize();

  /// True if `z` is `ancestor` or lies inside it.
  [[nodiscard]] bool zone_within(ZoneIdx z, ZoneIdx ancestor) const;
  [[nodiscard]] bool is_holiday(std::int32_t local_day) const;
  [[nodiscard]] bool schedule_open(std::uint16_t schedule, const LocalTime& t) const;
  [[nodiscard]] CapabilityMask capabilities_of(RoleMask roles) const;
  /// Role names of a mask, in policy order, for messages and audit records.
  [[nodiscard]] std::string role_names(RoleMask roles) const;
  /// Resolves role names to a mask; unknown names are returned in *unknown.
  [[nodiscard]] RoleMask roles_from_names(const std::vector<std::string>& names,
                                          std::vector<std::string>* unknown) const;

 private:
  std::unordered_map<std::string, ZoneIdx> zone_by_id_;
  std::unordered_map<std::string, DoorIdx> door_by_id_;
  std::unordered_map<std::string, GateIdx> gate_by_id_;
  std::unordered_map<std::string, RoleIdx> role_by_id_;
  std::unordered_map<std::string, std::uint16_t> tamper_by_id_;
  std::unordered_map<std::string, std::uint16_t> interlock_by_id_;
};

/// The credential holder behind a badge, as the credential store knows them.
struct Holder {
  std::string person_id;
  RoleMask roles = 0;
  CredentialKind enrolled = CredentialKind::uid;
  std::optional<Instant> valid_from;
  std::optional<Instant> valid_until;  ///< inclusive
  bool revoked = false;
};

/// What a person could do at a zone at one instant, from the static rules only (identity,
/// validity, clearance, schedule, credential). Used by the engine and by `policy who-can`.
struct Eligibility {
  Reason reason = Reason::ok;  ///< ok, or the first static rule that refuses
  bool needs_escort = false;
  RoleMask escort_roles = 0;  ///< roles that may escort this person into the zone
  bool screening = false;     ///< the door into the zone screens on entry
  bool two_person = false;    ///< the door into the zone needs a second person
  CredentialKind credential_needed = CredentialKind::uid;
};

/// Static eligibility of `h` passing `door` inwards (into its inner zone) at `t`: identity,
/// validity, credential strength, clearance, schedule and escort needs. `presented` is the
/// credential actually presented (nullopt: assume the enrolled one).
Eligibility static_entry_check(const Policy& p, const Holder& h, DoorIdx door, Instant t,
                               std::optional<CredentialKind> presented);

/// Clearance and schedule part only: may `h` be in `zone` at local time `t`, and with an escort?
/// Sets reason to ok, no_clearance or outside_schedule.
Eligibility zone_access(const Policy& p, const Holder& h, ZoneIdx zone, const LocalTime& t);

}  // namespace zonegate::core
