// SPDX-License-Identifier: Apache-2.0
#include "core/timezone.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zonegate::core {

namespace {

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::int64_t kSecondsPerHour = 3600;

// Instants are clamped to about +-2.7 million years before any calendar arithmetic, so that local
// day numbers always fit the int32 fields of LocalTime and no intermediate value can overflow.
// Nothing meaningful about a time zone can be said that far out anyway.
constexpr std::int64_t kClampDays = 1'000'000'000;
constexpr std::int64_t kClampSeconds = kClampDays * kSecondsPerDay;

// Floor division: C++ '/' truncates toward zero, which would put 1969-12-31T23:00Z on day 0.
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

constexpr std::int64_t floor_mod(std::int64_t a, std::int64_t b) { return a - floor_div(a, b) * b; }

// 64-bit form used internally so that rule evaluation for far years cannot overflow.
// The era/day-of-era decomposition follows the well-known civil-calendar algorithms: shift the
// year to start in March so the leap day is the last day of the shifted year.
constexpr std::int64_t days_from_civil64(std::int64_t year, std::int64_t month, std::int64_t day) {
  const std::int64_t y = month <= 2 ? year - 1 : year;
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;                          // [0, 399]
  const std::int64_t mp = month > 2 ? month - 3 : month + 9;       // [0, 11], March = 0
  const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;           // [0, 365]
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;  // [0, 146096]
  return era * 146097 + doe - 719468;                              // 719468 = days 0000-03-01..1970-01-01
}

struct Civil64 {
  std::int64_t year;
  std::int64_t month;
  std::int64_t day;
};

constexpr Civil64 civil_from_days64(std::int64_t days) {
  const std::int64_t z = days + 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;                                       // [0, 146096]
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const std::int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11]
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;                           // [1, 31]
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;                            // [1, 12]
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

static_assert(days_from_civil64(1970, 1, 1) == 0);
static_assert(days_from_civil64(2000, 3, 1) == 11017);
static_assert(civil_from_days64(-1).year == 1969 && civil_from_days64(-1).day == 31);

constexpr bool is_leap(std::int64_t year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

std::int64_t seconds_of(Instant t) {
  const std::int64_t s = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
  return std::clamp(s, -kClampSeconds, kClampSeconds);
}

// ---- POSIX TZ text ------------------------------------------------------------------------------

class TzParser {
 public:
  TzParser(std::string_view text, std::string* error) : text_(text), error_(error) {}

  std::optional<PosixTzRule> parse() {
    PosixTzRule rule;
    if (!parse_name("standard time name")) return std::nullopt;
    std::int32_t posix_offset = 0;
    if (!parse_hms("standard time offset ([+-]hh[:mm[:ss]], hours 0..24)", 24, &posix_offset)) {
      return std::nullopt;
    }
    // POSIX counts offsets westward ("EST5" is five hours behind UTC); we store local = UTC + offset.
    rule.std_offset_seconds = -posix_offset;
    if (at_end()) return rule;

    rule.has_dst = true;
    if (!parse_name("daylight time name or end of text")) return std::nullopt;
    rule.dst_offset_seconds = rule.std_offset_seconds + static_cast<std::int32_t>(kSecondsPerHour);
    if (!at_end() && peek() != ',') {
      if (!parse_hms("daylight time offset ([+-]hh[:mm[:ss]], hours 0..24) or ','", 24, &posix_offset)) {
        return std::nullopt;
      }
      rule.dst_offset_seconds = -posix_offset;
    }
    if (at_end()) {
      // POSIX leaves the rule implementation-defined; like the reference tz code we fall back to
      // the current US rules rather than rejecting "EST5EDT".
      rule.dst_start = {PosixTzRule::DateRule::Kind::month_week_day, 0, 3, 2, 7200};
      rule.dst_end = {PosixTzRule::DateRule::Kind::month_week_day, 0, 11, 1, 7200};
      return rule;
    }
    if (!expect(',', "',' before the daylight time start rule")) return std::nullopt;
    if (!parse_date_rule("daylight time start", &rule.dst_start)) return std::nullopt;
    if (!expect(',', "',' before the daylight time end rule")) return std::nullopt;
    if (!parse_date_rule("daylight time end", &rule.dst_end)) return std::nullopt;
    if (!at_end()) {
      fail("end of text");
      return std::nullopt;
    }
    return rule;
  }

 private:
  [[nodiscard]] bool at_end() const { return pos_ >= text_.size(); }
  [[nodiscard]] char peek() const { return at_end() ? '\0' : text_[pos_]; }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

  bool fail(std::string_view expected) {
    if (error_ != nullptr) {
      *error_ = "TZ string '" + std::string(text_) + "': expected " + std::string(expected) + " at position " +
                std::to_string(pos_);
    }
    return false;
  }

  bool expect(char c, std::string_view what) {
    if (peek() != c) return fail(what);
    ++pos_;
    return true;
  }

  // Either at least three letters, or '<' at least three of [A-Za-z0-9+-] '>'.
  bool parse_name(std::string_view what) {
    std::size_t length = 0;
    if (peek() == '<') {
      const std::size_t start = pos_;
      ++pos_;
      while (!at_end() && (is_alpha(peek()) || is_digit(peek()) || peek() == '+' || peek() == '-')) {
        ++pos_;
        ++length;
      }
      if (peek() != '>' || length < 3) {
        pos_ = start;
        return fail(std::string(what) + " ('<' three or more of A-Z a-z 0-9 + - '>')");
      }
      ++pos_;
      return true;
    }
    while (!at_end() && is_alpha(peek())) {
      ++pos_;
      ++length;
    }
    if (length < 3) {
      pos_ -= length;
      return fail(std::string(what) + " (three or more letters, or <quoted>)");
    }
    return true;
  }

  // Reads up to `max_digits` decimal digits; at least one is required.
  bool parse_number(std::size_t max_digits, std::int32_t* value) {
    std::int32_t v = 0;
    std::size_t digits = 0;
    while (!at_end() && is_digit(peek())) {
      if (digits == max_digits) return false;
      v = v * 10 + (peek() - '0');
      ++digits;
      ++pos_;
    }
    *value = v;
    return digits > 0;
  }

  // [+-]h[h[h]][:mm[:ss]] → seconds, with hours limited to max_hours.
  bool parse_hms(std::string_view what, std::int32_t max_hours, std::int32_t* seconds) {
    const std::size_t start = pos_;
    std::int32_t sign = 1;
    if (peek() == '+' || peek() == '-') {
      if (peek() == '-') sign = -1;
      ++pos_;
    }
    std::int32_t hours = 0;
    std::int32_t minutes = 0;
    std::int32_t secs = 0;
    bool ok = parse_number(3, &hours) && hours <= max_hours;
    if (ok && peek() == ':') {
      ++pos_;
      ok = parse_number(2, &minutes) && minutes <= 59;
      if (ok && peek() == ':') {
        ++pos_;
        ok = parse_number(2, &secs) && secs <= 59;
      }
    }
    if (!ok) {
      pos_ = start;
      return fail(what);
    }
    *seconds = sign * (hours * 3600 + minutes * 60 + secs);
    return true;
  }

  bool parse_date_rule(std::string_view which, PosixTzRule::DateRule* rule) {
    using Kind = PosixTzRule::DateRule::Kind;
    const std::size_t start = pos_;
    std::int32_t value = 0;
    if (peek() == 'J') {
      ++pos_;
      if (!parse_number(3, &value) || value < 1 || value > 365) {
        pos_ = start;
        return fail(std::string(which) + " date Jn with n in 1..365");
      }
      rule->kind = Kind::julian_no_leap;
      rule->day = value;
    } else if (peek() == 'M') {
      ++pos_;
      std::int32_t month = 0;
      std::int32_t week = 0;
      std::int32_t weekday = 0;
      const bool ok = parse_number(2, &month) && month >= 1 && month <= 12 && expect_silently('.') &&
                      parse_number(1, &week) && week >= 1 && week <= 5 && expect_silently('.') &&
                      parse_number(1, &weekday) && weekday <= 6;
      if (!ok) {
        pos_ = start;
        return fail(std::string(which) + " date Mm.w.d with m 1..12, w 1..5, d 0..6");
      }
      rule->kind = Kind::month_week_day;
      rule->month = month;
      rule->week = week;
      rule->day = weekday;
    } else {
      if (!parse_number(3, &value) || value > 365) {
        pos_ = start;
        return fail(std::string(which) + " date (Jn, n or Mm.w.d)");
      }
      rule->kind = Kind::julian_zero;
      rule->day = value;
    }
    rule->time_seconds = 7200;
    if (peek() == '/') {
      ++pos_;
      // RFC 8536 section 3.3.1 extends the POSIX 0..24 hour range to -167..167.
      if (!parse_hms(std::string(which) + " time ([+-]hhh[:mm[:ss]], hours 0..167)", 167, &rule->time_seconds)) {
        return false;
      }
    }
    return true;
  }

  bool expect_silently(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  std::string_view text_;
  std::string* error_;
  std::size_t pos_ = 0;
};

// Local calendar day (days since epoch) on which a rule's change falls in `year`.
std::int64_t rule_day(const PosixTzRule::DateRule& rule, std::int64_t year) {
  using Kind = PosixTzRule::DateRule::Kind;
  const std::int64_t jan1 = days_from_civil64(year, 1, 1);
  switch (rule.kind) {
    case Kind::julian_no_leap:
      // Jn never counts 29 February: J60 is 1 March in every year.
      return jan1 + rule.day - 1 + ((is_leap(year) && rule.day >= 60) ? 1 : 0);
    case Kind::julian_zero:
      return jan1 + rule.day;
    case Kind::month_week_day:
      break;
  }
  const std::int64_t first = days_from_civil64(year, rule.month, 1);
  const std::int64_t next_first =
      rule.month == 12 ? days_from_civil64(year + 1, 1, 1) : days_from_civil64(year, rule.month + 1, 1);
  // Day-of-week with 0 = Sunday as POSIX counts it; 1970-01-01 was a Thursday (4).
  const std::int64_t first_wday = floor_mod(first + 4, 7);
  std::int64_t day = first + floor_mod(rule.day - first_wday, 7) + 7 * (rule.week - 1);
  while (day >= next_first) day -= 7;  // week 5 means "last", which may be the 4th
  return day;
}

std::int32_t rule_offset_at(const PosixTzRule& rule, std::int64_t t) {
  if (!rule.has_dst) return rule.std_offset_seconds;
  struct Change {
    std::int64_t at;
    int order;  // at equal instants an end sorts before a start, so "DST all year" rules stay DST
    std::int32_t offset;
  };
  // Change times are local wall-clock readings: the start is read on standard time, the end on
  // daylight time. Collecting the changes of the neighbouring years and taking the latest one
  // at or before t handles southern-hemisphere rules (start after end) and year wrap-around
  // without special cases.
  const std::int64_t year = civil_from_days64(floor_div(t, kSecondsPerDay)).year;
  std::array<Change, 6> changes{};
  std::size_t n = 0;
  for (std::int64_t y = year - 1; y <= year + 1; ++y) {
    changes[n++] = {
        rule_day(rule.dst_start, y) * kSecondsPerDay + rule.dst_start.time_seconds - rule.std_offset_seconds, 1,
        rule.dst_offset_seconds};
    changes[n++] = {rule_day(rule.dst_end, y) * kSecondsPerDay + rule.dst_end.time_seconds - rule.dst_offset_seconds, 0,
                    rule.std_offset_seconds};
  }
  std::sort(changes.begin(), changes.end(),
            [](const Change& a, const Change& b) { return a.at != b.at ? a.at < b.at : a.order < b.order; });
  const Change* last = nullptr;
  for (const Change& c : changes) {
    if (c.at > t) break;
    last = &c;
  }
  if (last != nullptr) return last->offset;
  // t precedes every collected change (only possible with extreme /167h times early in January):
  // the offset in force is the one the earliest change leaves.
  return changes.front().order == 1 ? rule.std_offset_seconds : rule.dst_offset_seconds;
}

}  // namespace

std::int32_t days_from_civil(std::int32_t year, unsigned month, unsigned day) {
  return static_cast<std::int32_t>(days_from_civil64(year, month, day));
}

CivilDate civil_from_days(std::int32_t days) {
  const Civil64 c = civil_from_days64(days);
  return {static_cast<std::int32_t>(c.year), static_cast<unsigned>(c.month), static_cast<unsigned>(c.day)};
}

unsigned weekday_from_days(std::int32_t days) {
  // 1970-01-01 was a Thursday, which is 3 when Monday is 0.
  return static_cast<unsigned>(floor_mod(static_cast<std::int64_t>(days) + 3, 7));
}

std::optional<PosixTzRule> parse_posix_tz(std::string_view text, std::string* error) {
  return TzParser(text, error).parse();
}

TimeZone::TimeZone() : name_("UTC") {}

TimeZone TimeZone::fixed(std::string name, std::int32_t offset_seconds) {
  TimeZone tz;
  tz.name_ = std::move(name);
  tz.initial_offset_ = offset_seconds;
  return tz;
}

TimeZone TimeZone::from_table(std::string name, std::vector<Transition> transitions, std::int32_t initial_offset,
                              std::optional<PosixTzRule> rule) {
  TimeZone tz;
  tz.name_ = std::move(name);
  // Binary search needs sorted input; sorting here is cheap insurance against a careless caller.
  const auto by_time = [](const Transition& a, const Transition& b) { return a.at_utc_seconds < b.at_utc_seconds; };
  if (!std::is_sorted(transitions.begin(), transitions.end(), by_time)) {
    std::stable_sort(transitions.begin(), transitions.end(), by_time);
  }
  tz.transitions_ = std::move(transitions);
  tz.initial_offset_ = initial_offset;
  tz.rule_ = std::move(rule);
  return tz;
}

std::int32_t TimeZone::offset_at(Instant t) const {
  const std::int64_t s = seconds_of(t);
  if (transitions_.empty()) {
    // RFC 8536: with no transitions the footer rule, if any, governs all times.
    return rule_ ? rule_offset_at(*rule_, s) : initial_offset_;
  }
  // First transition strictly after s; the one before it is in force.
  const auto it = std::upper_bound(transitions_.begin(), transitions_.end(), s,
                                   [](std::int64_t v, const Transition& tr) { return v < tr.at_utc_seconds; });
  if (it == transitions_.begin()) return initial_offset_;
  if (it == transitions_.end() && rule_ && s > transitions_.back().at_utc_seconds) {
    return rule_offset_at(*rule_, s);
  }
  return std::prev(it)->offset_seconds;
}

LocalTime TimeZone::local(Instant t) const {
  const std::int32_t offset = offset_at(t);
  const std::int64_t local_seconds = seconds_of(t) + offset;
  const std::int64_t day = floor_div(local_seconds, kSecondsPerDay);
  const std::int64_t second_of_day = local_seconds - day * kSecondsPerDay;
  LocalTime lt{};
  lt.day = static_cast<std::int32_t>(day);
  lt.second_of_day = static_cast<std::int32_t>(second_of_day);
  lt.minute_of_day = static_cast<std::int32_t>(second_of_day / 60);
  lt.weekday = weekday_from_days(lt.day);
  lt.offset_seconds = offset;
  return lt;
}

}  // namespace zonegate::core
