// SPDX-License-Identifier: Apache-2.0
#include "core/types.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <string_view>

#include "core/timezone.hpp"

using namespace zonegate::core;

namespace {

template <typename E>
E nth(std::size_t i) {
  return static_cast<E>(i);
}

Instant at_ms(std::int64_t ms) { return Instant{std::chrono::milliseconds{ms}}; }

}  // namespace

TEST_CASE("types: every reason code round-trips through its name, names are unique", "[types]") {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < static_cast<std::size_t>(Reason::count_); ++i) {
    const Reason r = nth<Reason>(i);
    const std::string_view name = to_string(r);
    INFO("reason #" << i << " = " << name);
    CHECK_FALSE(name.empty());
    CHECK(seen.insert(name).second);
    const auto back = reason_from_string(name);
    REQUIRE(back.has_value());
    CHECK(*back == r);
  }
  CHECK(seen.size() == static_cast<std::size_t>(Reason::count_));
}

TEST_CASE("types: reason names are the machine-readable codes of the audit trail", "[types]") {
  CHECK(to_string(Reason::ok) == "ok");
  CHECK(to_string(Reason::unknown_badge) == "unknown_badge");
  CHECK(to_string(Reason::revoked) == "revoked");
  CHECK(to_string(Reason::not_yet_valid) == "not_yet_valid");
  CHECK(to_string(Reason::expired) == "expired");
  CHECK(to_string(Reason::weak_credential) == "weak_credential");
  CHECK(to_string(Reason::credential_auth_failed) == "credential_auth_failed");
  CHECK(to_string(Reason::lockdown) == "lockdown");
  CHECK(to_string(Reason::no_clearance) == "no_clearance");
  CHECK(to_string(Reason::outside_schedule) == "outside_schedule");
  CHECK(to_string(Reason::anti_passback) == "anti_passback");
  CHECK(to_string(Reason::occupancy_full) == "occupancy_full");
  CHECK(to_string(Reason::held) == "held");
  CHECK(to_string(Reason::escort_required) == "escort_required");
  CHECK(to_string(Reason::escort_timeout) == "escort_timeout");
  CHECK(to_string(Reason::two_person) == "two_person");
  CHECK(to_string(Reason::two_person_timeout) == "two_person_timeout");
  CHECK(to_string(Reason::lone_zone) == "lone_zone");
  CHECK(to_string(Reason::screening) == "screening");
  CHECK(to_string(Reason::screening_failed) == "screening_failed");
  CHECK(to_string(Reason::screening_timeout) == "screening_timeout");
  CHECK(to_string(Reason::interlock_busy) == "interlock_busy");
  CHECK(to_string(Reason::released) == "released");
  CHECK(to_string(Reason::fire) == "fire");
  CHECK(to_string(Reason::forgiven) == "forgiven");
  CHECK(to_string(Reason::cancelled) == "cancelled");
  CHECK(to_string(Reason::audit_unavailable) == "audit_unavailable");
}

TEST_CASE("types: every alarm kind round-trips through its name", "[types]") {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < static_cast<std::size_t>(AlarmKind::count_); ++i) {
    const AlarmKind a = nth<AlarmKind>(i);
    const std::string_view name = to_string(a);
    INFO("alarm #" << i << " = " << name);
    CHECK_FALSE(name.empty());
    CHECK(seen.insert(name).second);
    const auto back = alarm_from_string(name);
    REQUIRE(back.has_value());
    CHECK(*back == a);
  }
  CHECK(to_string(AlarmKind::door_forced) == "door_forced");
  CHECK(to_string(AlarmKind::door_held_prealarm) == "door_held_prealarm");
  CHECK(to_string(AlarmKind::door_held) == "door_held");
  CHECK(to_string(AlarmKind::screening_alarm) == "screening_alarm");
  CHECK(to_string(AlarmKind::anti_passback) == "anti_passback");
  CHECK(to_string(AlarmKind::lone_zone) == "lone_zone");
  CHECK(to_string(AlarmKind::tamper) == "tamper");
  CHECK(to_string(AlarmKind::fire) == "fire");
  CHECK(to_string(AlarmKind::reader_offline) == "reader_offline");
  CHECK(to_string(AlarmKind::audit_failure) == "audit_failure");
}

TEST_CASE("types: verdicts, directions, credentials and capabilities round-trip", "[types]") {
  for (Verdict v : {Verdict::grant, Verdict::deny, Verdict::pending}) {
    const auto back = verdict_from_string(to_string(v));
    REQUIRE(back.has_value());
    CHECK(*back == v);
  }
  CHECK(to_string(Verdict::grant) == "grant");
  CHECK(to_string(Verdict::deny) == "deny");
  CHECK(to_string(Verdict::pending) == "pending");

  for (Direction d : {Direction::in, Direction::out}) {
    const auto back = direction_from_string(to_string(d));
    REQUIRE(back.has_value());
    CHECK(*back == d);
  }
  CHECK(to_string(Direction::in) == "in");
  CHECK(to_string(Direction::out) == "out");

  for (CredentialKind c : {CredentialKind::uid, CredentialKind::desfire}) {
    const auto back = credential_from_string(to_string(c));
    REQUIRE(back.has_value());
    CHECK(*back == c);
  }
  CHECK(to_string(CredentialKind::uid) == "uid");
  CHECK(to_string(CredentialKind::desfire) == "desfire");
  CHECK(CredentialKind::uid < CredentialKind::desfire);  // ordered: stronger compares greater

  for (Capability c : {Capability::forgive, Capability::release, Capability::lockdown, Capability::unlock}) {
    const auto back = capability_from_string(to_string(c));
    REQUIRE(back.has_value());
    CHECK(*back == c);
  }
  CHECK(to_string(Capability::forgive) == "forgive");
  CHECK(to_string(Capability::release) == "release");
  CHECK(to_string(Capability::lockdown) == "lockdown");
  CHECK(to_string(Capability::unlock) == "unlock");

  CHECK(to_string(Severity::info) == "info");
  CHECK(to_string(Severity::warning) == "warning");
  CHECK(to_string(Severity::critical) == "critical");
}

TEST_CASE("types: capability bits are distinct", "[types]") {
  const CapabilityMask all = static_cast<CapabilityMask>(cap_bit(Capability::forgive) | cap_bit(Capability::release) |
                                                         cap_bit(Capability::lockdown) | cap_bit(Capability::unlock));
  CHECK(all == 0x0F);
  CHECK(cap_bit(Capability::forgive) != cap_bit(Capability::release));
}

TEST_CASE("types: unknown or differently spelled names are rejected", "[types]") {
  CHECK_FALSE(reason_from_string("").has_value());
  CHECK_FALSE(reason_from_string("OK").has_value());
  CHECK_FALSE(reason_from_string("two_person_pending").has_value());
  CHECK_FALSE(reason_from_string("count_").has_value());
  CHECK_FALSE(reason_from_string("ok ").has_value());
  CHECK_FALSE(alarm_from_string("door-forced").has_value());
  CHECK_FALSE(alarm_from_string("").has_value());
  CHECK_FALSE(verdict_from_string("Grant").has_value());
  CHECK_FALSE(verdict_from_string("allow").has_value());
  CHECK_FALSE(direction_from_string("inward").has_value());
  CHECK_FALSE(direction_from_string("").has_value());
  CHECK_FALSE(credential_from_string("mifare").has_value());
  CHECK_FALSE(capability_from_string("admin").has_value());
}

TEST_CASE("types: alarm severities", "[types]") {
  CHECK(severity_of(AlarmKind::door_held_prealarm) == Severity::warning);
  CHECK(severity_of(AlarmKind::anti_passback) == Severity::warning);
  CHECK(severity_of(AlarmKind::lone_zone) == Severity::warning);
  CHECK(severity_of(AlarmKind::reader_offline) == Severity::warning);
  CHECK(severity_of(AlarmKind::door_forced) == Severity::critical);
  CHECK(severity_of(AlarmKind::door_held) == Severity::critical);
  CHECK(severity_of(AlarmKind::screening_alarm) == Severity::critical);
  CHECK(severity_of(AlarmKind::tamper) == Severity::critical);
  CHECK(severity_of(AlarmKind::fire) == Severity::critical);
  CHECK(severity_of(AlarmKind::audit_failure) == Severity::critical);
}

TEST_CASE("types: format_utc prints ISO-8601 UTC with milliseconds", "[types]") {
  CHECK(format_utc(at_ms(0)) == "1970-01-01T00:00:00.000Z");
  CHECK(format_utc(at_ms(1)) == "1970-01-01T00:00:00.001Z");
  CHECK(format_utc(at_ms(999)) == "1970-01-01T00:00:00.999Z");
  CHECK(format_utc(at_ms(86'399'999)) == "1970-01-01T23:59:59.999Z");
  CHECK(format_utc(at_ms(86'400'000)) == "1970-01-02T00:00:00.000Z");

  const std::int64_t dec1 = std::int64_t{days_from_civil(2026, 12, 1)} * 86'400'000;
  CHECK(format_utc(at_ms(dec1)) == "2026-12-01T00:00:00.000Z");
  CHECK(format_utc(at_ms(dec1 + ((1 * 60 + 2) * 60 + 3) * 1000 + 456)) == "2026-12-01T01:02:03.456Z");

  const std::int64_t leap = std::int64_t{days_from_civil(2028, 2, 29)} * 86'400'000;
  CHECK(format_utc(at_ms(leap + 43'200'000)) == "2028-02-29T12:00:00.000Z");
  CHECK(format_utc(at_ms(std::int64_t{days_from_civil(2000, 1, 1)} * 86'400'000 - 1)) == "1999-12-31T23:59:59.999Z");
}

TEST_CASE("types: format_utc floors instants before the epoch", "[types]") {
  CHECK(format_utc(at_ms(-1)) == "1969-12-31T23:59:59.999Z");
  CHECK(format_utc(at_ms(-1000)) == "1969-12-31T23:59:59.000Z");
  CHECK(format_utc(at_ms(-1001)) == "1969-12-31T23:59:58.999Z");
  CHECK(format_utc(at_ms(-86'400'000)) == "1969-12-31T00:00:00.000Z");
  CHECK(format_utc(at_ms(-86'400'001)) == "1969-12-30T23:59:59.999Z");
}
