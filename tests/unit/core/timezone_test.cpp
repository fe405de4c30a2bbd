// SPDX-License-Identifier: Apache-2.0
#include "core/timezone.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

using zonegate::core::civil_from_days;
using zonegate::core::days_from_civil;
using zonegate::core::Instant;
using zonegate::core::LocalTime;
using zonegate::core::parse_posix_tz;
using zonegate::core::PosixTzRule;
using zonegate::core::TimeZone;
using zonegate::core::weekday_from_days;
using Kind = PosixTzRule::DateRule::Kind;

namespace {

Instant utc(std::int32_t year, unsigned month, unsigned day, int hour = 0, int minute = 0, int second = 0) {
  const std::int64_t s = std::int64_t{days_from_civil(year, month, day)} * 86400 + hour * 3600 + minute * 60 + second;
  return Instant{std::chrono::seconds{s}};
}

PosixTzRule must_parse(const std::string& text) {
  std::string error;
  const auto rule = parse_posix_tz(text, &error);
  INFO(text << ": " << error);
  REQUIRE(rule.has_value());
  return *rule;
}

TimeZone rule_zone(const std::string& text) { return TimeZone::from_table(text, {}, 0, must_parse(text)); }

constexpr std::int32_t kHour = 3600;

}  // namespace

TEST_CASE("civil dates convert to and from day numbers", "[timezone][civil]") {
  CHECK(days_from_civil(1970, 1, 1) == 0);
  CHECK(days_from_civil(1970, 1, 2) == 1);
  CHECK(days_from_civil(1969, 12, 31) == -1);
  CHECK(days_from_civil(2000, 3, 1) == 11017);
  CHECK(days_from_civil(2026, 12, 1) == 20788);
  CHECK(days_from_civil(1900, 1, 1) == -25567);
  CHECK(days_from_civil(1, 1, 1) == -719162);
  CHECK(days_from_civil(0, 3, 1) == -719468);

  const auto d = civil_from_days(-1);
  CHECK(d.year == 1969);
  CHECK(d.month == 12U);
  CHECK(d.day == 31U);

  const auto e = civil_from_days(-719469);  // the day before 0000-03-01, in a leap year
  CHECK(e.year == 0);
  CHECK(e.month == 2U);
  CHECK(e.day == 29U);
}

TEST_CASE("leap years follow the Gregorian 4/100/400 rule", "[timezone][civil]") {
  auto day_before_march = [](std::int32_t year) { return civil_from_days(days_from_civil(year, 3, 1) - 1).day; };
  CHECK(day_before_march(2024) == 29U);
  CHECK(day_before_march(2000) == 29U);
  CHECK(day_before_march(1600) == 29U);
  CHECK(day_before_march(-4) == 29U);
  CHECK(day_before_march(2023) == 28U);
  CHECK(day_before_march(1900) == 28U);
  CHECK(day_before_march(2100) == 28U);
  CHECK(day_before_march(-100) == 28U);
  CHECK(days_from_civil(2001, 1, 1) - days_from_civil(2000, 1, 1) == 366);
  CHECK(days_from_civil(2101, 1, 1) - days_from_civil(2100, 1, 1) == 365);
}

TEST_CASE("civil conversion round-trips over a wide range including negative days", "[timezone][civil]") {
  auto prev = civil_from_days(-800001);
  unsigned prev_weekday = weekday_from_days(-800001);
  for (std::int32_t days = -800000; days <= 800000; ++days) {
    const auto c = civil_from_days(days);
    if (days_from_civil(c.year, c.month, c.day) != days) FAIL("round trip failed at day " << days);
    const bool next_in_month = c.year == prev.year && c.month == prev.month && c.day == prev.day + 1;
    const bool next_month =
        c.day == 1 && (c.month == prev.month + 1 || (c.month == 1 && prev.month == 12 && c.year == prev.year + 1));
    if (!next_in_month && !next_month) FAIL("dates not consecutive at day " << days);
    const unsigned wd = weekday_from_days(days);
    if (wd != (prev_weekday + 1) % 7) FAIL("weekday not consecutive at day " << days);
    prev = c;
    prev_weekday = wd;
  }
  SUCCEED();
}

TEST_CASE("weekdays count from Monday = 0", "[timezone][civil]") {
  CHECK(weekday_from_days(days_from_civil(2026, 12, 1)) == 1U);  // Tuesday
  CHECK(weekday_from_days(0) == 3U);                             // 1970-01-01 was a Thursday
  CHECK(weekday_from_days(-1) == 2U);                            // Wednesday
  CHECK(weekday_from_days(-4) == 6U);                            // Sunday 1969-12-28
  CHECK(weekday_from_days(days_from_civil(2000, 1, 1)) == 5U);   // Saturday
  CHECK(weekday_from_days(days_from_civil(1900, 1, 1)) == 0U);   // Monday
}

TEST_CASE("POSIX TZ: fixed offsets", "[timezone][posix]") {
  const auto jst = must_parse("JST-9");
  CHECK(jst.std_offset_seconds == 9 * kHour);
  CHECK_FALSE(jst.has_dst);

  const auto iran = must_parse("<+0330>-3:30");
  CHECK(iran.std_offset_seconds == 3 * kHour + 1800);
  CHECK_FALSE(iran.has_dst);

  CHECK(must_parse("<-03>3").std_offset_seconds == -3 * kHour);
  CHECK(must_parse("UTC0").std_offset_seconds == 0);
  CHECK(must_parse("EST+5").std_offset_seconds == -5 * kHour);
  CHECK(must_parse("XXX-5:45:30").std_offset_seconds == 5 * kHour + 45 * 60 + 30);
}

TEST_CASE("POSIX TZ: daylight-saving rules", "[timezone][posix]") {
  const auto cet = must_parse("CET-1CEST,M3.5.0,M10.5.0/3");
  CHECK(cet.std_offset_seconds == kHour);
  REQUIRE(cet.has_dst);
  CHECK(cet.dst_offset_seconds == 2 * kHour);  // default: one hour ahead of standard time
  CHECK(cet.dst_start.kind == Kind::month_week_day);
  CHECK(cet.dst_start.month == 3);
  CHECK(cet.dst_start.week == 5);
  CHECK(cet.dst_start.day == 0);
  CHECK(cet.dst_start.time_seconds == 2 * kHour);  // default 02:00
  CHECK(cet.dst_end.month == 10);
  CHECK(cet.dst_end.week == 5);
  CHECK(cet.dst_end.time_seconds == 3 * kHour);

  const auto est = must_parse("EST5EDT,M3.2.0,M11.1.0");
  CHECK(est.std_offset_seconds == -5 * kHour);
  CHECK(est.dst_offset_seconds == -4 * kHour);
  CHECK(est.dst_start.month == 3);
  CHECK(est.dst_start.week == 2);
  CHECK(est.dst_end.month == 11);
  CHECK(est.dst_end.week == 1);

  const auto aest = must_parse("AEST-10AEDT,M10.1.0,M4.1.0/3");
  CHECK(aest.std_offset_seconds == 10 * kHour);
  CHECK(aest.dst_offset_seconds == 11 * kHour);
  CHECK(aest.dst_start.month == 10);
  CHECK(aest.dst_end.month == 4);
  CHECK(aest.dst_end.time_seconds == 3 * kHour);

  const auto explicit_dst = must_parse("NZST-12NZDT-13,M9.5.0,M4.1.0/3");
  CHECK(explicit_dst.dst_offset_seconds == 13 * kHour);

  const auto julian = must_parse("XST3XDT,J60/1:30,300/-1");
  CHECK(julian.dst_start.kind == Kind::julian_no_leap);
  CHECK(julian.dst_start.day == 60);
  CHECK(julian.dst_start.time_seconds == kHour + 1800);
  CHECK(julian.dst_end.kind == Kind::julian_zero);
  CHECK(julian.dst_end.day == 300);
  CHECK(julian.dst_end.time_seconds == -kHour);

  // RFC 8536 extensions: hours up to 167 and negative times.
  const auto israel = must_parse("IST-2IDT,M3.4.4/26,M10.5.0");
  CHECK(israel.dst_start.time_seconds == 26 * kHour);
  CHECK(must_parse("<-02>2<-01>,M3.5.0/-1,M10.5.0/0").dst_start.time_seconds == -kHour);
  CHECK(must_parse("AAA1BBB,M3.5.0/167,M10.5.0/-167").dst_end.time_seconds == -167 * kHour);

  // Without rules, the US rules apply (as in the reference implementation).
  const auto bare = must_parse("EST5EDT");
  REQUIRE(bare.has_dst);
  CHECK(bare.dst_start.month == 3);
  CHECK(bare.dst_start.week == 2);
  CHECK(bare.dst_end.month == 11);
}

TEST_CASE("POSIX TZ: malformed text is rejected with an explanation", "[timezone][posix]") {
  const std::vector<std::string> bad = {
      "",                              // no name
      "JS-9",                          // name too short
      "JST",                           // no offset
      "JST-",                          // sign without hours
      "JST-25",                        // hours out of range
      "JST-9:60",                      // minutes out of range
      "JST-9:30:60",                   // seconds out of range
      "JST-9:",                        // colon without minutes
      "JST-9 ",                        // trailing junk (space is not a name)
      "JST-9x",                        // one-letter DST name
      "<AB>-9",                        // quoted name too short
      "<ABCD-9",                       // unterminated quoted name
      "<AB CD>-9",                     // invalid character in quoted name
      "CET-1CEST,M3.5.0",              // missing end rule
      "CET-1CEST,",                    // missing start rule
      "CET-1CEST;M3.5.0,M10.5.0",      // wrong separator
      "CET-1CEST,M13.5.0,M10.5.0",     // month 13
      "CET-1CEST,M0.5.0,M10.5.0",      // month 0
      "CET-1CEST,M3.6.0,M10.5.0",      // week 6
      "CET-1CEST,M3.0.0,M10.5.0",      // week 0
      "CET-1CEST,M3.5.7,M10.5.0",      // weekday 7
      "CET-1CEST,M3.5,M10.5.0",        // missing weekday
      "CET-1CEST,J0,J365",             // J0
      "CET-1CEST,J1,J366",             // J366
      "CET-1CEST,366,1",               // n > 365
      "CET-1CEST,M3.5.0/168,M10.5.0",  // time beyond 167h
      "CET-1CEST,M3.5.0/,M10.5.0",     // empty time
      "CET-1CEST,M3.5.0,M10.5.0/3,x",  // trailing junk
      "CET-1CEST-25,M3.5.0,M10.5.0",   // DST offset out of range
      "CET-0001",                      // too many hour digits
  };
  for (const auto& text : bad) {
    std::string error;
    const auto rule = parse_posix_tz(text, &error);
    INFO("input: '" << text << "' error: " << error);
    CHECK_FALSE(rule.has_value());
    CHECK(error.find("expected") != std::string::npos);
  }

  std::string error;
  REQUIRE_FALSE(parse_posix_tz("CET-1CEST,M13.5.0,M10.5.0", &error));
  CHECK(error.find("Mm.w.d") != std::string::npos);
  CHECK(error.find("position 10") != std::string::npos);
  CHECK_FALSE(parse_posix_tz("JST", nullptr).has_value());  // a null error pointer is allowed
}

TEST_CASE("fixed zones and UTC", "[timezone]") {
  const TimeZone utc_zone;
  CHECK(utc_zone.name() == "UTC");
  CHECK(utc_zone.offset_at(utc(2026, 6, 1)) == 0);

  const auto tokyo = TimeZone::fixed("Asia/Tokyo", 9 * kHour);
  CHECK(tokyo.name() == "Asia/Tokyo");
  const LocalTime lt = tokyo.local(utc(2026, 12, 1));
  CHECK(lt.day == days_from_civil(2026, 12, 1));
  CHECK(lt.minute_of_day == 9 * 60);
  CHECK(lt.second_of_day == 9 * 3600);
  CHECK(lt.weekday == 1U);
  CHECK(lt.offset_seconds == 9 * kHour);

  // Crossing midnight forwards.
  const LocalTime late = tokyo.local(utc(2026, 11, 30, 20, 30, 15));
  CHECK(late.day == days_from_civil(2026, 12, 1));
  CHECK(late.second_of_day == 5 * 3600 + 30 * 60 + 15);
  CHECK(late.minute_of_day == 5 * 60 + 30);
}

TEST_CASE("local() floors negative times", "[timezone]") {
  const TimeZone utc_zone;
  const LocalTime before_epoch = utc_zone.local(Instant{std::chrono::milliseconds{-1}});
  CHECK(before_epoch.day == -1);
  CHECK(before_epoch.second_of_day == 86399);
  CHECK(before_epoch.minute_of_day == 1439);
  CHECK(before_epoch.weekday == 2U);  // Wednesday 1969-12-31

  const auto new_york = TimeZone::fixed("EST", -5 * kHour);
  const LocalTime lt = new_york.local(utc(1970, 1, 1, 2));
  CHECK(lt.day == -1);
  CHECK(lt.minute_of_day == 21 * 60);
  CHECK(lt.weekday == 2U);

  const LocalTime old = utc_zone.local(utc(1900, 1, 1, 12));
  CHECK(old.day == days_from_civil(1900, 1, 1));
  CHECK(old.second_of_day == 12 * 3600);
  CHECK(old.weekday == 0U);
}

TEST_CASE("POSIX rule: central Europe changes on the last Sundays of March and October", "[timezone][dst]") {
  const TimeZone berlin = rule_zone("CET-1CEST,M3.5.0,M10.5.0/3");
  CHECK(berlin.offset_at(utc(2027, 1, 15)) == kHour);
  CHECK(berlin.offset_at(utc(2027, 3, 28, 0, 59, 59)) == kHour);
  CHECK(berlin.offset_at(utc(2027, 3, 28, 1)) == 2 * kHour);
  CHECK(berlin.offset_at(utc(2027, 7, 1)) == 2 * kHour);
  CHECK(berlin.offset_at(utc(2027, 10, 31, 0, 59, 59)) == 2 * kHour);
  CHECK(berlin.offset_at(utc(2027, 10, 31, 1)) == kHour);

  const LocalTime before = berlin.local(utc(2027, 3, 28, 0, 59));
  CHECK(before.minute_of_day == 60 + 59);
  const LocalTime after = berlin.local(utc(2027, 3, 28, 1));
  CHECK(after.minute_of_day == 3 * 60);  // 02:00 local does not exist
  CHECK(after.offset_seconds == 2 * kHour);
  CHECK(after.weekday == 6U);  // Sunday

  // 2026: last Sunday of March is the 29th.
  CHECK(berlin.offset_at(utc(2026, 3, 29, 0, 59, 59)) == kHour);
  CHECK(berlin.offset_at(utc(2026, 3, 29, 1)) == 2 * kHour);
}

TEST_CASE("POSIX rule: US changes on the second Sunday of March and first of November", "[timezone][dst]") {
  const TimeZone ny = rule_zone("EST5EDT,M3.2.0,M11.1.0");
  CHECK(ny.offset_at(utc(2027, 3, 14, 6, 59, 59)) == -5 * kHour);
  CHECK(ny.offset_at(utc(2027, 3, 14, 7)) == -4 * kHour);
  CHECK(ny.offset_at(utc(2027, 11, 7, 5, 59, 59)) == -4 * kHour);
  CHECK(ny.offset_at(utc(2027, 11, 7, 6)) == -5 * kHour);
  // Local midnight crossing backwards: 2027-01-01T03:00Z is 22:00 on 31 December.
  const LocalTime lt = ny.local(utc(2027, 1, 1, 3));
  CHECK(lt.day == days_from_civil(2026, 12, 31));
  CHECK(lt.minute_of_day == 22 * 60);
  CHECK(lt.weekday == 3U);  // Thursday
}

TEST_CASE("POSIX rule: southern hemisphere (DST spans the new year)", "[timezone][dst]") {
  const TimeZone sydney = rule_zone("AEST-10AEDT,M10.1.0,M4.1.0/3");
  CHECK(sydney.offset_at(utc(2027, 1, 15)) == 11 * kHour);
  CHECK(sydney.offset_at(utc(2027, 7, 1)) == 10 * kHour);
  CHECK(sydney.offset_at(utc(2026, 12, 31, 23)) == 11 * kHour);
  // Ends Sunday 2027-04-04 03:00 AEDT = 2027-04-03T16:00Z.
  CHECK(sydney.offset_at(utc(2027, 4, 3, 15, 59, 59)) == 11 * kHour);
  CHECK(sydney.offset_at(utc(2027, 4, 3, 16)) == 10 * kHour);
  // Starts Sunday 2027-10-03 02:00 AEST = 2027-10-02T16:00Z.
  CHECK(sydney.offset_at(utc(2027, 10, 2, 15, 59, 59)) == 10 * kHour);
  CHECK(sydney.offset_at(utc(2027, 10, 2, 16)) == 11 * kHour);

  const LocalTime new_year = sydney.local(utc(2026, 12, 31, 13));
  CHECK(new_year.day == days_from_civil(2027, 1, 1));
  CHECK(new_year.minute_of_day == 0);
  CHECK(new_year.weekday == 4U);  // Friday
}

TEST_CASE("POSIX rule: Julian dates, negative and large times, DST all year", "[timezone][dst]") {
  // J60 is 1 March even in leap years; n = 59 is 29 February in a leap year.
  const TimeZone julian = rule_zone("XST0XDT,J60/0,J300/0");
  CHECK(julian.offset_at(utc(2024, 2, 29, 23, 59, 59)) == 0);
  CHECK(julian.offset_at(utc(2024, 3, 1)) == kHour);
  const TimeZone zero_based = rule_zone("XST0XDT,59/0,300/0");
  CHECK(zero_based.offset_at(utc(2024, 2, 28, 23, 59, 59)) == 0);
  CHECK(zero_based.offset_at(utc(2024, 2, 29)) == kHour);
  CHECK(zero_based.offset_at(utc(2023, 2, 28, 23, 59, 59)) == 0);
  CHECK(zero_based.offset_at(utc(2023, 3, 1)) == kHour);

  // Greenland-style negative change times: -01:00 on the Sunday is 22:00 on Saturday.
  const TimeZone nuuk = rule_zone("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  // Last Sunday of March 2027 is the 28th; -1h local (-02) = 2027-03-27T23:00 local = 2027-03-28T01:00Z.
  CHECK(nuuk.offset_at(utc(2027, 3, 28, 0, 59, 59)) == -2 * kHour);
  CHECK(nuuk.offset_at(utc(2027, 3, 28, 1)) == -kHour);

  // Israel: 26:00 on the Thursday before the last Friday of March (Friday 02:00).
  const TimeZone israel = rule_zone("IST-2IDT,M3.4.4/26,M10.5.0");
  // Fourth Thursday of March 2027 is the 25th; 26:00 IST = 2027-03-26T00:00Z.
  CHECK(israel.offset_at(utc(2027, 3, 25, 23, 59, 59)) == 2 * kHour);
  CHECK(israel.offset_at(utc(2027, 3, 26)) == 3 * kHour);

  // RFC 8536 section 3.3.1: "DST all year" is written as a change at 0/0 and J365/25.
  const TimeZone always = rule_zone("EST5EDT,0/0,J365/25");
  for (int year = 2020; year <= 2030; ++year) {
    INFO(year);
    CHECK(always.offset_at(utc(year, 1, 1)) == -4 * kHour);
    CHECK(always.offset_at(utc(year, 1, 1, 4, 59, 59)) == -4 * kHour);
    CHECK(always.offset_at(utc(year, 7, 1)) == -4 * kHour);
    CHECK(always.offset_at(utc(year, 12, 31, 23, 59, 59)) == -4 * kHour);
  }
}

TEST_CASE("transition tables, initial offset and rule after the last transition", "[timezone]") {
  const std::int64_t t1 = 1000000;
  const std::int64_t t2 = 2000000;
  const TimeZone table = TimeZone::from_table("Test/Table", {{t1, 100}, {t2, 200}}, 50, std::nullopt);
  CHECK(table.offset_at(Instant{std::chrono::seconds{t1 - 1}}) == 50);
  CHECK(table.offset_at(Instant{std::chrono::seconds{t1}}) == 100);
  CHECK(table.offset_at(Instant{std::chrono::seconds{t2 - 1}}) == 100);
  CHECK(table.offset_at(Instant{std::chrono::seconds{t2}}) == 200);
  CHECK(table.offset_at(utc(2100, 1, 1)) == 200);  // no rule: last offset stays

  // Unsorted input is tolerated.
  const TimeZone shuffled = TimeZone::from_table("Test/Shuffled", {{t2, 200}, {t1, 100}}, 50, std::nullopt);
  CHECK(shuffled.offset_at(Instant{std::chrono::seconds{t1 + 1}}) == 100);

  const auto rule = must_parse("CET-1CEST,M3.5.0,M10.5.0/3");
  const TimeZone with_rule = TimeZone::from_table("Test/Rule", {{t1, 7}}, 3, rule);
  CHECK(with_rule.offset_at(Instant{std::chrono::seconds{t1 - 1}}) == 3);
  CHECK(with_rule.offset_at(Instant{std::chrono::seconds{t1}}) == 7);
  CHECK(with_rule.offset_at(utc(2027, 7, 1)) == 2 * kHour);
  CHECK(with_rule.offset_at(utc(2027, 12, 1)) == kHour);

  // Without transitions the rule governs all times.
  const TimeZone only_rule = TimeZone::from_table("Test/OnlyRule", {}, 12345, rule);
  CHECK(only_rule.offset_at(utc(1950, 7, 1)) == 2 * kHour);
}

TEST_CASE("extreme instants do not overflow", "[timezone]") {
  const TimeZone berlin = rule_zone("CET-1CEST,M3.5.0,M10.5.0/3");
  for (const Instant t : {Instant::min(), Instant::max(), Instant{}, utc(-1000000, 1, 1), utc(1000000, 7, 1)}) {
    const LocalTime lt = berlin.local(t);
    CHECK(lt.second_of_day >= 0);
    CHECK(lt.second_of_day < 86400);
    CHECK(lt.minute_of_day == lt.second_of_day / 60);
    CHECK(lt.weekday < 7U);
    CHECK((lt.offset_seconds == kHour || lt.offset_seconds == 2 * kHour));
  }
  CHECK(berlin.local(Instant::max()).day > 0);
  CHECK(berlin.local(Instant::min()).day < 0);
}
