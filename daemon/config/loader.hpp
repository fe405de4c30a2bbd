// SPDX-License-Identifier: Apache-2.0
/// @file
/// Loading `zones.yaml` into an immutable core::Policy, plus the gateway's hardware wiring and daemon
/// settings (which are not part of the policy). The text is parsed, every key and value is
/// validated, every name is resolved, and all problems found are reported together, each with
/// file, line, column and the dotted key path. The key reference is docs/config.md.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/daemon_settings.hpp"
#include "config/hardware.hpp"
#include "core/policy.hpp"
#include "core/timezone.hpp"

namespace zonegate::config {

/// One problem in a configuration file.
struct ConfigError {
  std::string file;
  int line = 0;     ///< 1-based; 0 when the problem is not at a place in the text
  int column = 0;   ///< 1-based; 0 when the problem is not at a place in the text
  std::string key;  ///< dotted key path, e.g. `doors.lobby.from` or `schedules.x.weekly[0].to`; may be empty
  std::string message;

  /// "FILE:LINE:COL: KEY: MESSAGE".
  [[nodiscard]] std::string to_string() const;
};

/// The outcome of a load: a policy with its hardware and daemon settings, or the errors that
/// prevent them. The three pointers are all set (without errors) or all null (with errors).
struct LoadResult {
  std::shared_ptr<const core::Policy> policy;  ///< null whenever errors is not empty
  /// The `hardware:` section; when the file has none, every door, gate, fire and tamper input is
  /// simulated with default line names (see HardwareConfig).
  std::shared_ptr<const HardwareConfig> hardware;
  /// The `daemon:` section; DaemonSettings{} when the file has none.
  std::shared_ptr<const DaemonSettings> daemon;
  std::vector<ConfigError> errors;  ///< sorted by line, then column
  [[nodiscard]] bool ok() const { return policy && hardware && daemon && errors.empty(); }
};

/// Resolves an IANA time zone name; returns nullopt and sets *error (if not null) when it cannot.
using TimeZoneLoader = std::function<std::optional<core::TimeZone>(std::string_view name, std::string* error)>;

/// Compiles the text of a zones.yaml. `file_name` is only used in errors. An empty `tz` uses
/// config::load_time_zone (the system tz database). Never throws.
LoadResult load_policy_text(std::string_view text, const std::string& file_name, const TimeZoneLoader& tz = {});

/// Reads and compiles a zones.yaml file. An unreadable file gives one error
/// "PATH:0:0: : cannot read file: <reason>". Never throws.
LoadResult load_policy_file(const std::string& path);

}  // namespace zonegate::config
