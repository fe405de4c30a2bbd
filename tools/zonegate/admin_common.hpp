// SPDX-License-Identifier: Apache-2.0
/// @file
/// Shared by `zonegate badge` and `zonegate audit`: the site configuration (for role names, the site
/// time zone and the gateway id), the acting operator, and opening the audit trail.
#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "adapters/audit/audit_store.hpp"
#include "core/policy.hpp"

namespace zonegate::cli {

struct SiteInfo {
  std::shared_ptr<const core::Policy> policy;  ///< null when the configuration was not readable
  std::string gateway_id = "gw-local";         ///< daemon.gateway_id of the configuration
};

/// Loads `config` (default kDefaultConfig). A file that does not exist gives an empty SiteInfo
/// unless the path was given explicitly (`explicit_path`); a file that exists but is invalid is an
/// error. On error prints to `err` and returns nullopt.
std::optional<SiteInfo> load_site(const std::optional<std::string>& config, std::ostream& err);

/// "unix:<login>" of the calling user (getpwuid(getuid())), "unix:uid<N>" without a passwd entry.
std::string unix_actor();

/// Opens the audit trail of `state_dir` for appending. The gateway id is `gateway` if given;
/// otherwise an existing trail keeps its own and a new one takes site.gateway_id.
adapters::audit::Result<std::unique_ptr<adapters::audit::AuditStore>> open_audit_writable(
    const std::string& state_dir, const std::optional<std::string>& gateway, const SiteInfo& site);

/// Opens the audit trail of `state_dir` read-only (nothing is created).
adapters::audit::Result<std::unique_ptr<adapters::audit::AuditStore>> open_audit_read_only(
    const std::string& state_dir);

/// Current time.
core::Instant now_instant();

/// A time for printing: site local time when the policy is known, else UTC.
std::string format_time(core::Instant t, const SiteInfo& site);

/// Parses a TIME argument (site local time allowed when the site is known); prints to err on failure.
std::optional<core::Instant> parse_time_arg(const std::string& option, const std::string& text, const SiteInfo& site,
                                            std::ostream& err);

/// One line of `audit tail` / `audit query`: seq, time, kind, event or verdict+reason, person,
/// badge, door, zone, source, detail (empty fields left out).
std::string format_audit_row(const adapters::audit::Row& row, const SiteInfo& site);

}  // namespace zonegate::cli
