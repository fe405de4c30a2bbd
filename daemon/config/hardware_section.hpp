// SPDX-License-Identifier: Apache-2.0
/// @file
/// Internal to the config loader: compiling the `hardware:` and `daemon:` sections of zones.yaml.
/// Called by the loader after the policy sections, with the names they defined. Not a public API.
#pragma once

#include <vector>

#include "config/daemon_settings.hpp"
#include "config/hardware.hpp"
#include "config/reader.hpp"
#include "core/policy.hpp"

namespace zonegate::config::detail {

/// What the policy sections defined, for resolving the ids the hardware section names.
struct SiteNames {
  const core::Policy& policy;
  const NameTable& doors;    ///< in policy order
  const NameTable& gates;    ///< in policy order
  const NameTable& tampers;  ///< in policy order
  /// Where each door, gate and tamper input is defined (policy order), for reporting a clash of
  /// the line names made up for them.
  const std::vector<Item>& door_items;
  const std::vector<Item>& gate_items;
  const std::vector<Item>& tamper_items;
  /// False when the section defining them is missing or unreadable: completeness is not checked
  /// and unknown ids are not reported (the section's own error says why).
  bool doors_known = true;
  bool gates_known = true;
  bool tampers_known = true;
};

/// Compiles `hardware:`; `section` is null when the file has none (everything simulated).
HardwareConfig compile_hardware(Reader& reader, const Item* section, const SiteNames& site);

/// Compiles `daemon:`; `section` is null when the file has none (all defaults).
DaemonSettings compile_daemon(Reader& reader, const Item* section);

}  // namespace zonegate::config::detail
