// SPDX-License-Identifier: Apache-2.0
#include "zonegate/time_parse.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <vector>

namespace zonegate::cli {
namespace {

constexpr std::int64_t kMsPerSecond = 1000;
constexpr std::int64_t kMsPerDay = 86'400'000;

bool set_error(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

/// Input text as it may appear inside a one-line message: control characters, quotes,
/// backslashes and bytes above 0x7e are written as \xNN, and long text is cut, so that a hostile
/// argument or file line cannot forge log lines or flood a terminal.
std::string shown(std::string_view s) {
  constexpr std::size_t kMax = 64;
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c > 0x7e || c == '\\' || c == '\'') {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += "...";
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// Reads exactly `n` digits at `pos`; advances `pos`.
bool read_fixed(std::string_view s, std::size_t& pos, std::size_t n, int& value) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (!is_digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  value = v;
  pos += n;
  return true;
}

bool is_leap(int year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

int days_in_month(int year, int month) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : kDays[static_cast<std::size_t>(month - 1)];
}

bool expect_char(std::string_view s, std::size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

core::Instant instant_at_ms(std::int64_t ms) { return core::Instant{core::Duration{ms}}; }

}  // namespace

std::optional<core::Instant> instant_from_local(const core::TimeZone& tz, std::int64_t local_ms) {
  // The UTC offset in force near a wall-clock reading is one of the offsets in force within a
  // day or two of it (no real zone is ever more than a day off UTC). Try each and keep those
  // that are consistent; two consistent answers mean the reading occurs twice (DST end): take
  // the earlier one. None means it falls in a gap (DST start).
  std::vector<std::int32_t> offsets;
  for (const std::int64_t probe_days : {-2, -1, 0, 1, 2}) {
    const std::int32_t o = tz.offset_at(instant_at_ms(local_ms + probe_days * kMsPerDay));
    if (std::find(offsets.begin(), offsets.end(), o) == offsets.end()) offsets.push_back(o);
  }
  std::optional<core::Instant> best;
  for (const std::int32_t o : offsets) {
    const core::Instant t = instant_at_ms(local_ms - std::int64_t{o} * kMsPerSecond);
    if (tz.offset_at(t) != o) continue;
    if (!best || t < *best) best = t;
  }
  return best;
}

std::optional<core::Instant> parse_time(std::string_view s, const core::TimeZone* site_tz, std::string* error) {
  const auto fail = [&](const std::string& why) -> std::optional<core::Instant> {
    set_error(error, "invalid time '" + shown(s) + "': " + why);
    return std::nullopt;
  };
  constexpr const char* kShape = "expected YYYY-MM-DDTHH:MM[:SS[.fff]] with an optional Z or +HH:MM offset";
  std::size_t pos = 0;
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int milli = 0;
  if (!read_fixed(s, pos, 4, year) || !expect_char(s, pos, '-') || !read_fixed(s, pos, 2, month) ||
      !expect_char(s, pos, '-') || !read_fixed(s, pos, 2, day)) {
    return fail(kShape);
  }
  if (pos == s.size()) return fail("a date alone is not a time; " + std::string(kShape));
  if (!expect_char(s, pos, 'T') || !read_fixed(s, pos, 2, hour) || !expect_char(s, pos, ':') ||
      !read_fixed(s, pos, 2, minute)) {
    return fail(kShape);
  }
  if (expect_char(s, pos, ':')) {
    if (!read_fixed(s, pos, 2, second)) return fail(kShape);
    if (expect_char(s, pos, '.')) {
      std::size_t digits = 0;
      while (pos < s.size() && is_digit(s[pos])) {
        if (digits == 3) return fail("at most millisecond precision (3 fraction digits)");
        milli = milli * 10 + (s[pos] - '0');
        ++digits;
        ++pos;
      }
      if (digits == 0) return fail("digits expected after '.'");
      for (std::size_t i = digits; i < 3; ++i) milli *= 10;
    }
  }
  if (month < 1 || month > 12) return fail("month out of range");
  if (day < 1 || day > days_in_month(year, month)) return fail("day out of range for the month");
  if (hour > 23) return fail("hour out of range");
  if (minute > 59) return fail("minute out of range");
  if (second > 59) return fail("second out of range");

  std::optional<std::int32_t> offset_seconds;
  if (pos < s.size()) {
    const char c = s[pos++];
    if (c == 'Z') {
      offset_seconds = 0;
    } else if (c == '+' || c == '-') {
      int oh = 0;
      int om = 0;
      if (!read_fixed(s, pos, 2, oh)) return fail("offset must be +HH:MM, +HHMM or +HH");
      if (expect_char(s, pos, ':')) {
        if (!read_fixed(s, pos, 2, om)) return fail("offset must be +HH:MM, +HHMM or +HH");
      } else if (pos < s.size()) {
        if (!read_fixed(s, pos, 2, om)) return fail("offset must be +HH:MM, +HHMM or +HH");
      }
      if (om > 59 || oh * 60 + om > 18 * 60) return fail("offset out of range (at most 18:00)");
      offset_seconds = (c == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    } else {
      return fail("unexpected '" + shown(std::string_view(&c, 1)) + "' after the time; " + kShape);
    }
    if (pos != s.size()) return fail("unexpected text after the offset");
  }

  const std::int64_t days = core::days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t local_ms =
      days * kMsPerDay + ((std::int64_t{hour} * 60 + minute) * 60 + second) * kMsPerSecond + milli;
  if (offset_seconds) return instant_at_ms(local_ms - std::int64_t{*offset_seconds} * kMsPerSecond);
  if (site_tz == nullptr) return fail("no UTC offset given and no site time zone to read it in");
  auto t = instant_from_local(*site_tz, local_ms);
  if (!t) return fail("this wall-clock time does not exist in " + site_tz->name() + " (skipped by a DST change)");
  return t;
}

std::optional<core::Duration> parse_duration(std::string_view s, std::string* error) {
  const auto fail = [&](const std::string& why) -> std::optional<core::Duration> {
    set_error(error, "invalid duration '" + shown(s) + "': " + why);
    return std::nullopt;
  };
  struct Unit {
    std::string_view name;
    std::int64_t ms;
  };
  // Decreasing order; "ms" is tried before "m" at each position.
  static constexpr std::array<Unit, 5> kUnits = {Unit{"d", kMsPerDay}, Unit{"h", 3'600'000}, Unit{"m", 60'000},
                                                 Unit{"s", 1'000}, Unit{"ms", 1}};
  constexpr std::int64_t kMaxMs = 36'500 * kMsPerDay;  // about 100 years
  if (s.empty()) return fail("empty; expected e.g. 500ms, 4s, 15m, 2h, 1d or 1m30s");
  std::size_t pos = 0;
  std::size_t next_unit = 0;  // units must appear in decreasing order
  std::int64_t total = 0;
  while (pos < s.size()) {
    std::int64_t value = 0;
    std::size_t digits = 0;
    while (pos < s.size() && is_digit(s[pos])) {
      if (digits == 12) return fail("number too large");
      value = value * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) {
      return fail(pos == 0 ? "must start with a number (no sign, no spaces)"
                           : "expected a number at '" + shown(s.substr(pos)) + "'");
    }
    if (pos == s.size()) return fail("number without a unit (use d, h, m, s or ms)");
    std::optional<std::size_t> unit;
    if (s.substr(pos, 2) == "ms") {
      unit = 4;
    } else {
      for (std::size_t u = 0; u < 4; ++u) {
        if (s[pos] == kUnits[u].name[0]) unit = u;
      }
    }
    if (!unit) return fail("unknown unit at '" + shown(s.substr(pos)) + "' (use d, h, m, s or ms)");
    if (*unit < next_unit) return fail("units must go from largest to smallest, each at most once");
    pos += kUnits[*unit].name.size();
    next_unit = *unit + 1;
    // Checked before multiplying: 12 digits of days would overflow 64 bits.
    if (value > (kMaxMs - total) / kUnits[*unit].ms) return fail("too long (at most 36500d)");
    total += value * kUnits[*unit].ms;
  }
  return core::Duration{total};
}

std::string format_duration(core::Duration d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  const std::array<std::pair<std::int64_t, const char*>, 5> units = {
      std::pair{kMsPerDay, "d"}, std::pair{std::int64_t{3'600'000}, "h"}, std::pair{std::int64_t{60'000}, "m"},
      std::pair{std::int64_t{1'000}, "s"}, std::pair{std::int64_t{1}, "ms"}};
  for (const auto& [size, name] : units) {
    if (ms >= size) {
      out += std::to_string(ms / size) + name;
      ms %= size;
    }
  }
  return out;
}

std::string format_local(core::Instant t, const core::TimeZone& tz) {
  const std::int32_t offset = tz.offset_at(t);
  const std::int64_t local_ms = t.time_since_epoch().count() + std::int64_t{offset} * kMsPerSecond;
  std::int64_t days = local_ms / kMsPerDay;
  std::int64_t rem = local_ms % kMsPerDay;
  if (rem < 0) {
    rem += kMsPerDay;
    days -= 1;
  }
  const core::CivilDate date = core::civil_from_days(static_cast<std::int32_t>(days));
  const auto sec = rem / kMsPerSecond;
  const auto milli = rem % kMsPerSecond;
  const std::int32_t abs_off = offset < 0 ? -offset : offset;
  char buf[64];
  if (milli != 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03d%c%02d:%02d", date.year, date.month, date.day,
                  static_cast<int>(sec / 3600), static_cast<int>(sec / 60 % 60), static_cast<int>(sec % 60),
                  static_cast<int>(milli), offset < 0 ? '-' : '+', abs_off / 3600, abs_off / 60 % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d%c%02d:%02d", date.year, date.month, date.day,
                  static_cast<int>(sec / 3600), static_cast<int>(sec / 60 % 60), static_cast<int>(sec % 60),
                  offset < 0 ? '-' : '+', abs_off / 3600, abs_off / 60 % 60);
  }
  return buf;
}

}  // namespace zonegate::cli
