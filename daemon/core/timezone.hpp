// SPDX-License-Identifier: Apache-2.0
/// @file
/// Site time zone: UTC offsets from a table of transitions and, past the last one, a POSIX TZ rule.
/// Pure computation; the TZif file is read and parsed by config/tzif.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace zonegate::core {

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31).
std::int32_t days_from_civil(std::int32_t year, unsigned month, unsigned day);

struct CivilDate {
  std::int32_t year;
  unsigned month;  ///< 1..12
  unsigned day;    ///< 1..31
};
CivilDate civil_from_days(std::int32_t days);

/// 0 = Monday … 6 = Sunday.
unsigned weekday_from_days(std::int32_t days);

/// A wall-clock reading in the site's time zone.
struct LocalTime {
  std::int32_t day;             ///< local calendar days since 1970-01-01
  std::int32_t minute_of_day;   ///< 0..1439
  std::int32_t second_of_day;   ///< 0..86399
  unsigned weekday;             ///< 0 = Monday … 6 = Sunday
  std::int32_t offset_seconds;  ///< UTC offset in force (local = UTC + offset)
};

/// A POSIX TZ rule such as "JST-9" or "CET-1CEST,M3.5.0,M10.5.0/3". Parsed by parse_posix_tz.
struct PosixTzRule {
  struct DateRule {
    enum class Kind : std::uint8_t { julian_no_leap, julian_zero, month_week_day } kind{};
    std::int32_t day = 0;              ///< Jn: 1..365; n: 0..365; M: day of week 0..6 (0 = Sunday)
    std::int32_t month = 0;            ///< M form: 1..12
    std::int32_t week = 0;             ///< M form: 1..5 (5 = last)
    std::int32_t time_seconds = 7200;  ///< local time of the change, may be negative or > 24h
  };
  std::int32_t std_offset_seconds = 0;  ///< local = UTC + offset (note: POSIX text has the opposite sign)
  bool has_dst = false;
  std::int32_t dst_offset_seconds = 0;
  DateRule dst_start{};
  DateRule dst_end{};
};

/// Parses a POSIX TZ string; returns nullopt and sets *error on malformed text.
std::optional<PosixTzRule> parse_posix_tz(std::string_view text, std::string* error);

/// An immutable time zone.
class TimeZone {
 public:
  struct Transition {
    std::int64_t at_utc_seconds;  ///< first instant the offset applies
    std::int32_t offset_seconds;
  };

  TimeZone();  ///< UTC
  static TimeZone fixed(std::string name, std::int32_t offset_seconds);
  /// `transitions` must be sorted by time; `initial_offset` applies before the first one; `rule`
  /// applies after the last one (if absent, the last offset stays in force).
  static TimeZone from_table(std::string name, std::vector<Transition> transitions, std::int32_t initial_offset,
                             std::optional<PosixTzRule> rule);

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::int32_t offset_at(Instant t) const;
  [[nodiscard]] LocalTime local(Instant t) const;

 private:
  std::string name_;
  std::vector<Transition> transitions_;
  std::int32_t initial_offset_ = 0;
  std::optional<PosixTzRule> rule_;
};

}  // namespace zonegate::core
