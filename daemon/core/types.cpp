// SPDX-License-Identifier: Apache-2.0
#include "core/types.hpp"

#include <array>
#include <cstdio>

#include "core/timezone.hpp"

namespace zonegate::core {
namespace {

constexpr std::array<std::string_view, static_cast<std::size_t>(Reason::count_)> kReasons = {
    "ok",
    "unknown_badge",
    "revoked",
    "not_yet_valid",
    "expired",
    "weak_credential",
    "credential_auth_failed",
    "lockdown",
    "no_clearance",
    "outside_schedule",
    "anti_passback",
    "occupancy_full",
    "held",
    "escort_required",
    "escort_timeout",
    "two_person",
    "two_person_timeout",
    "lone_zone",
    "screening",
    "screening_failed",
    "screening_timeout",
    "interlock_busy",
    "released",
    "fire",
    "forgiven",
    "cancelled",
    "audit_unavailable",
};

constexpr std::array<std::string_view, static_cast<std::size_t>(AlarmKind::count_)> kAlarms = {
    "door_forced", "door_held_prealarm", "door_held",     "screening_alarm", "anti_passback", "lone_zone", "tamper",
    "fire",        "reader_offline",     "audit_failure",
};

template <typename E, std::size_t N>
std::optional<E> lookup(const std::array<std::string_view, N>& names, std::string_view s) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, 3> kVerdicts = {"grant", "deny", "pending"};
constexpr std::array<std::string_view, 2> kDirections = {"in", "out"};
constexpr std::array<std::string_view, 2> kCredentials = {"uid", "desfire"};
constexpr std::array<std::string_view, 4> kCapabilities = {"forgive", "release", "lockdown", "unlock"};
constexpr std::array<std::string_view, 3> kSeverities = {"info", "warning", "critical"};

}  // namespace

std::string_view to_string(Verdict v) { return kVerdicts[static_cast<std::size_t>(v)]; }
std::string_view to_string(Reason r) { return kReasons[static_cast<std::size_t>(r)]; }
std::string_view to_string(AlarmKind a) { return kAlarms[static_cast<std::size_t>(a)]; }
std::string_view to_string(Direction d) { return kDirections[static_cast<std::size_t>(d)]; }
std::string_view to_string(CredentialKind c) { return kCredentials[static_cast<std::size_t>(c)]; }
std::string_view to_string(Capability c) { return kCapabilities[static_cast<std::size_t>(c)]; }
std::string_view to_string(Severity s) { return kSeverities[static_cast<std::size_t>(s)]; }

Severity severity_of(AlarmKind a) {
  switch (a) {
    case AlarmKind::door_held_prealarm:
    case AlarmKind::anti_passback:
      return Severity::warning;
    case AlarmKind::reader_offline:
    case AlarmKind::lone_zone:
      return Severity::warning;
    case AlarmKind::door_forced:
    case AlarmKind::door_held:
    case AlarmKind::screening_alarm:
    case AlarmKind::tamper:
    case AlarmKind::fire:
    case AlarmKind::audit_failure:
    case AlarmKind::count_:
      break;
  }
  return Severity::critical;
}

std::optional<Verdict> verdict_from_string(std::string_view s) { return lookup<Verdict>(kVerdicts, s); }
std::optional<Reason> reason_from_string(std::string_view s) { return lookup<Reason>(kReasons, s); }
std::optional<AlarmKind> alarm_from_string(std::string_view s) { return lookup<AlarmKind>(kAlarms, s); }
std::optional<Direction> direction_from_string(std::string_view s) { return lookup<Direction>(kDirections, s); }
std::optional<CredentialKind> credential_from_string(std::string_view s) {
  return lookup<CredentialKind>(kCredentials, s);
}
std::optional<Capability> capability_from_string(std::string_view s) { return lookup<Capability>(kCapabilities, s); }

std::string format_utc(Instant t) {
  const auto ms = t.time_since_epoch().count();
  std::int64_t secs = ms / 1000;
  std::int64_t milli = ms % 1000;
  if (milli < 0) {
    milli += 1000;
    secs -= 1;
  }
  std::int64_t days = secs / 86400;
  std::int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    days -= 1;
  }
  const CivilDate d = civil_from_days(static_cast<std::int32_t>(days));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", d.year, d.month, d.day,
                static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60),
                static_cast<int>(milli));
  return buf;
}

}  // namespace zonegate::core
