// SPDX-License-Identifier: Apache-2.0
/// @file
/// Vocabulary types of the decision core: time, compiled indices, verdicts and reason codes.
/// The core links nothing but the C++ standard library.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zonegate::core {

/// Milliseconds since the Unix epoch, UTC. The core never reads a clock: time is an argument.
using Duration = std::chrono::milliseconds;
using Instant = std::chrono::sys_time<Duration>;

/// Compiled indices into Policy tables. Indices are stable for the lifetime of one Policy.
using ZoneIdx = std::uint16_t;
using DoorIdx = std::uint16_t;
using GateIdx = std::uint16_t;
using RoleIdx = std::uint8_t;
inline constexpr std::uint16_t kNoIdx = 0xFFFF;

/// A set of roles (at most 64 per site) as a bit mask.
using RoleMask = std::uint64_t;
inline constexpr std::size_t kMaxRoles = 64;

/// Which way a person passes a door: `in` goes from the door's outer zone into its inner zone.
enum class Direction : std::uint8_t { in, out };

/// Strength of a credential, ordered: a door requiring `desfire` refuses `uid`.
enum class CredentialKind : std::uint8_t { uid, desfire };

enum class Verdict : std::uint8_t { grant, deny, pending };

/// Guard capabilities a role may carry.
enum class Capability : std::uint8_t { forgive = 0, release = 1, lockdown = 2, unlock = 3 };
using CapabilityMask = std::uint8_t;
constexpr CapabilityMask cap_bit(Capability c) { return static_cast<CapabilityMask>(1U << static_cast<unsigned>(c)); }

/// Machine-readable reason attached to every decision. The order of checks is documented in
/// docs/rules.md; `ok` is used for a plain grant.
enum class Reason : std::uint8_t {
  ok,
  unknown_badge,
  revoked,
  not_yet_valid,
  expired,
  weak_credential,
  credential_auth_failed,
  lockdown,
  no_clearance,
  outside_schedule,
  anti_passback,
  occupancy_full,
  held,
  escort_required,
  escort_timeout,
  two_person,
  two_person_timeout,
  lone_zone,
  screening,
  screening_failed,
  screening_timeout,
  interlock_busy,
  released,
  fire,
  forgiven,
  cancelled,
  audit_unavailable,
  count_  // sentinel, keep last
};

/// Alarm kinds the core raises; adapters add their own (reader_offline, audit_failure).
enum class AlarmKind : std::uint8_t {
  door_forced,
  door_held_prealarm,
  door_held,
  screening_alarm,
  anti_passback,
  lone_zone,
  tamper,
  fire,
  reader_offline,
  audit_failure,
  count_
};

enum class Severity : std::uint8_t { info, warning, critical };

std::string_view to_string(Verdict v);
std::string_view to_string(Reason r);
std::string_view to_string(AlarmKind a);
std::string_view to_string(Direction d);
std::string_view to_string(CredentialKind c);
std::string_view to_string(Capability c);
std::string_view to_string(Severity s);
Severity severity_of(AlarmKind a);

std::optional<Verdict> verdict_from_string(std::string_view s);
std::optional<Reason> reason_from_string(std::string_view s);
std::optional<AlarmKind> alarm_from_string(std::string_view s);
std::optional<Direction> direction_from_string(std::string_view s);
std::optional<CredentialKind> credential_from_string(std::string_view s);
std::optional<Capability> capability_from_string(std::string_view s);

/// ISO-8601 UTC text of an instant with millisecond precision, e.g. 2026-12-01T00:00:00.000Z.
std::string format_utc(Instant t);

}  // namespace zonegate::core
