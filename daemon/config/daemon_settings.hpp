// SPDX-License-Identifier: Apache-2.0
/// @file
/// The `daemon:` section of zones.yaml, compiled: settings of zonegated that are not part of the
/// site policy. Returned by the loader next to the policy (config::LoadResult::daemon). The key
/// reference is docs/config.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace zonegate::config {

/// `daemon.upstream`: the central PostgreSQL database this gateway reports to (docs/upstream.md).
struct UpstreamSettings {
  /// libpq connection string (key=value or URI). The loader checks only that it is a non-empty
  /// string; libpq's own parser (adapters/upstream/dsn.hpp check_dsn, which also refuses a
  /// password in it) runs when zonegated starts, reporting `dsn_line`/`dsn_column`.
  std::string dsn;
  int dsn_line = 0;      ///< where the dsn value is written in the file
  int dsn_column = 0;    ///< (for errors found at daemon start)
  std::string passfile;  ///< libpq passfile; empty: libpq's default
  /// disable, require, verify-ca or verify-full; overrides an sslmode in the dsn.
  std::string sslmode = "verify-full";
  std::string sslrootcert;  ///< empty: libpq's default
  std::string sslcert;
  std::string sslkey;
  std::uint32_t batch = 5000;                      ///< records per upload transaction (1 to 100000)
  std::chrono::milliseconds pull_interval{30000};  ///< badge pull-down period (1s to 24h)
  std::chrono::milliseconds backoff_max{300000};   ///< reconnect backoff cap (1s to 1h; starts at 1s)
  std::chrono::milliseconds timeout{10000};        ///< connect and per-statement timeout (1s to 10m)

  bool operator==(const UpstreamSettings&) const = default;
};

/// `daemon.console`: the guard and auditor console (HTTPS) served by the daemon (docs/console.md).
struct ConsoleConfig {
  std::string host = "127.0.0.1";  ///< listen address: an IPv4/IPv6 literal
  std::uint16_t port = 8443;
  std::string cert;  ///< PEM certificate; empty (with key): self-signed, generated into the state dir
  std::string key;   ///< its private key (PEM, mode 0600)
  std::chrono::milliseconds session_idle{15 * 60 * 1000};  ///< an idle session ends after this (1m to 8h)

  bool operator==(const ConsoleConfig&) const = default;
};

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
  /// `daemon.upstream`; nullopt: this gateway reports to no central database.
  std::optional<UpstreamSettings> upstream;
  /// The HTTPS console; absent: not served.
  std::optional<ConsoleConfig> console;
};

}  // namespace zonegate::config
