// SPDX-License-Identifier: Apache-2.0
/// @file
/// The `daemon:` section of zones.yaml, compiled: settings of zonegated that are not part of the
/// site policy. Returned by the loader next to the policy (config::LoadResult::daemon). The key
/// reference is docs/config.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace zonegate::config {

struct DaemonSettings {
  /// This gateway's id upstream (events are idempotent on gateway id + sequence): 1 to 63 of
  /// a-z, 0-9, '-'.
  std::string gateway_id = "gw-local";
  /// The audit trail signs a checkpoint after this many records ...
  std::uint32_t checkpoint_every = 1000;
  /// ... or after this long, whichever comes first.
  std::chrono::milliseconds checkpoint_interval{300000};
  /// Personal data in the audit trail is deleted after this long (1 to 3650 days).
  std::chrono::hours retention{400 * 24};
  /// Group allowed to use the control socket besides root; empty: root only.
  std::string control_socket_group;
  /// debug, info, notice, warning or error.
  std::string log_level = "info";
};

}  // namespace zonegate::config
