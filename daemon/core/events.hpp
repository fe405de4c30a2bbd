// SPDX-License-Identifier: Apache-2.0
/// @file
/// Inputs to the engine (events) and what it produces (effects). Both are plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/policy.hpp"
#include "core/types.hpp"

namespace zonegate::core {

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// A badge read at a door reader. The adapter has already resolved the badge to its holder
/// (nullopt: not enrolled) and says how strongly the card proved itself.
struct BadgePresented {
  DoorIdx door = kNoIdx;
  Direction dir = Direction::in;
  std::string badge;                               ///< badge id / UID text, for the audit trail
  CredentialKind presented = CredentialKind::uid;  ///< desfire only after a successful AES login
  bool auth_failed = false;                        ///< a DESFire card failed cryptographic authentication
  std::optional<Holder> holder;
};

enum class GateSignalKind : std::uint8_t { clear, alarm };
struct GateSignal {
  GateIdx gate = kNoIdx;
  GateSignalKind signal = GateSignalKind::clear;
};

struct DoorSensor {
  DoorIdx door = kNoIdx;
  bool open = false;
};

struct RexPressed {
  DoorIdx door = kNoIdx;
};

struct FireInput {
  bool active = false;
};

struct TamperSignal {
  std::uint16_t tamper = kNoIdx;
  bool active = true;
};

enum class GuardAction : std::uint8_t { lockdown, lift, release, forgive, unlock };

/// An operator's action. The caller states who acts and what they may do; the engine checks the
/// capability and records the action whatever its outcome.
struct GuardCommand {
  GuardAction action = GuardAction::lockdown;
  std::string actor;  ///< person or operator id
  CapabilityMask actor_caps = 0;
  std::optional<ZoneIdx> zone;        ///< lockdown/lift: zone (nullopt = whole site); forgive: place person here
  std::optional<DoorIdx> door;        ///< release: everyone held at this door; unlock: momentary unlock
  std::optional<std::string> person;  ///< release / forgive one person
  std::string note;                   ///< the reason given by the operator
};

using Event = std::variant<BadgePresented, GateSignal, DoorSensor, RexPressed, FireInput, TamperSignal, GuardCommand>;

// ---------------------------------------------------------------------------------------------
// Effects
// ---------------------------------------------------------------------------------------------

/// A decision about one person at one door.
struct Decision {
  Instant at;
  std::uint64_t request = 0;  ///< id of the badge request this decision resolves
  std::string person;         ///< empty for an unknown badge
  std::string badge;
  DoorIdx door = kNoIdx;
  Direction dir = Direction::in;
  Verdict verdict = Verdict::deny;
  Reason reason = Reason::ok;
  bool alarm_raised = false;  ///< e.g. soft anti-passback: granted, with an alarm
};

struct DoorCommand {
  enum class Kind : std::uint8_t { unlock, lock } kind = Kind::lock;
  DoorIdx door = kNoIdx;
  Duration duration{0};  ///< for unlock: how long (0 = until told to lock, e.g. fire)
};

struct Alarm {
  Instant at;
  AlarmKind kind = AlarmKind::door_forced;
  Severity severity = Severity::warning;
  std::string source;  ///< door, gate, zone, tamper input or reader id
  std::string person;  ///< if the alarm concerns one person
  std::string detail;
};

/// A fact for the audit trail that is neither a decision nor an alarm: a door or gate signal, a
/// guard action, a location change, a fire transition, an expired grant.
struct Note {
  Instant at;
  std::string kind;     ///< e.g. "door_open", "door_closed", "gate_clear", "guard_lockdown", "moved"
  std::string subject;  ///< door, gate, zone or person
  std::string person;
  std::string detail;
};

/// One record of what happened, in the order it happened. Adapters must make every record of an
/// Effects batch durable before they execute its door commands (a grant is logged before the
/// strike fires).
using Record = std::variant<Decision, Alarm, Note>;

struct Effects {
  std::vector<Record> records;
  std::vector<DoorCommand> commands;

  void clear() {
    records.clear();
    commands.clear();
  }
  [[nodiscard]] bool empty() const { return records.empty() && commands.empty(); }
};

}  // namespace zonegate::core
