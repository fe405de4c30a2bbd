// SPDX-License-Identifier: Apache-2.0
/// @file
/// Port: the live site as the console's API sees it. The daemon implements it over its Controller
/// (app/console.hpp); tests implement it with a fake. Every call runs on the daemon's event loop.
/// `actor` is the operator as the audit trail names them: "console:<name>".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/policy.hpp"

namespace zonegate::adapters::web {

/// Outcome of a guard action: HTTP status, and for a refusal the error code and message of the
/// API's error body; `body` is returned on success.
struct SiteResult {
  unsigned status = 200;
  std::string error;  ///< e.g. "not_found", "conflict", "refused"
  std::string message;
  nlohmann::json body = nlohmann::json::object();

  static SiteResult ok(nlohmann::json body = nlohmann::json::object()) {
    return SiteResult{200, {}, {}, std::move(body)};
  }
  static SiteResult fail(unsigned status, std::string error, std::string message) {
    return SiteResult{status, std::move(error), std::move(message), nlohmann::json::object()};
  }
};

/// Kinds of audit records the console writes.
enum class AuditKind : std::uint8_t { operator_action, export_ };

class SiteBackend {
 public:
  virtual ~SiteBackend() = default;

  /// `{"alarms":[{"id","kind","severity","source","person","detail","at","acknowledged","ack_by","ack_note"}]}`
  [[nodiscard]] virtual nlohmann::json alarms() const = 0;
  /// `{"doors":[{"id","name","state","locked","lockdown","held":[person…]}],"fire":bool}`
  [[nodiscard]] virtual nlohmann::json doors() const = 0;
  /// `{"zones":[{"id","name","people":[{"person","name","since"}]}],"outside":[…]}`
  [[nodiscard]] virtual nlohmann::json occupancy() const = 0;
  /// The policy in force (zone and role names).
  [[nodiscard]] virtual const core::Policy& policy() const = 0;

  virtual SiteResult acknowledge(std::uint64_t alarm_id, const std::string& actor, const std::string& note) = 0;
  /// Momentary unlock of a door.
  virtual SiteResult unlock(const std::string& door, const std::string& actor, const std::string& reason) = 0;
  /// Releases everyone held at a door, or one person.
  virtual SiteResult release(const std::string& door, const std::optional<std::string>& person,
                             const std::string& actor, const std::string& note) = 0;
  /// Lockdown (or its lift) of a zone, or of the whole site when `zone` is empty.
  virtual SiteResult lockdown(bool lift, const std::optional<std::string>& zone, const std::string& actor,
                              const std::string& reason) = 0;

  /// Appends an operator action to the audit trail (logins, denials, badge changes, exports).
  virtual void record(AuditKind kind, const std::string& actor, const std::string& event, const std::string& detail,
                      const std::string& person = {}, const std::string& badge = {}) = 0;
  /// False while the audit trail cannot be written: exports are then refused, as the CLI does,
  /// because they could not be recorded.
  [[nodiscard]] virtual bool audit_writable() const = 0;
};

}  // namespace zonegate::adapters::web
