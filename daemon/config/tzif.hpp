// SPDX-License-Identifier: Apache-2.0
/// @file
/// Reading the site time zone from the system's compiled tz database (TZif files, RFC 8536).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/timezone.hpp"

namespace zonegate::config {

/// Parses the bytes of a TZif file (versions 1 to 3; version 4 is read like 3). For version 2 and
/// later the 64-bit data block and the footer TZ string are used, which then governs instants
/// after the last transition. The input is treated as untrusted: every count and index is
/// checked against the buffer and against fixed limits. Files with leap-second records
/// ("right/" zones) are rejected. Returns nullopt and sets *error (if not null) on failure.
std::optional<core::TimeZone> parse_tzif(std::string_view zone_name, std::string_view bytes, std::string* error);

/// Loads the zone `name` (e.g. "Europe/Berlin") from `$TZDIR/<name>`, or from
/// `/usr/share/zoneinfo/<name>` when TZDIR is unset or empty. "UTC" is built in and needs no file.
/// Names must consist of A-Z a-z 0-9 '_' '+' '-' '/', must not start with '/' and must not
/// contain "..". Returns nullopt and sets *error (if not null) on failure.
std::optional<core::TimeZone> load_time_zone(std::string_view name, std::string* error);

}  // namespace zonegate::config
