// SPDX-License-Identifier: Apache-2.0
/// @file
/// Parsing and printing of the times and durations the CLI accepts on its command line and in
/// scenario and people files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/timezone.hpp"
#include "core/types.hpp"

namespace zonegate::cli {

/// Parses an ISO-8601 date-time: `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z`, `±HH:MM`,
/// `±HHMM` or `±HH`. Without an offset the text is wall-clock time in `site_tz`; if `site_tz` is
/// null such text is refused. A local time that does not exist (skipped by a DST change) is
/// refused; one that occurs twice (DST ends) means the earlier instant. At most millisecond
/// precision. On failure returns nullopt and sets *error (if not null) to a one-line reason.
std::optional<core::Instant> parse_time(std::string_view text, const core::TimeZone* site_tz, std::string* error);

/// The instant at which the wall clock of `tz` reads `local_ms` (milliseconds since the local
/// epoch 1970-01-01T00:00). nullopt if the local time falls into a DST gap.
std::optional<core::Instant> instant_from_local(const core::TimeZone& tz, std::int64_t local_ms);

/// Parses a non-negative duration made of `<digits><unit>` parts with units d, h, m, s, ms in
/// decreasing order, each at most once: `500ms`, `4s`, `15m`, `2h`, `1d`, `1m30s`, `1h0m5s250ms`.
/// No sign, no spaces, no fractions, and at most about 100 years in total.
std::optional<core::Duration> parse_duration(std::string_view text, std::string* error);

/// The shortest text parse_duration reads back as `d` (e.g. 90000ms -> "1m30s", 0 -> "0s").
std::string format_duration(core::Duration d);

/// `2026-12-01T09:00:00+09:00` (milliseconds shown only when non-zero).
std::string format_local(core::Instant t, const core::TimeZone& tz);

}  // namespace zonegate::cli
