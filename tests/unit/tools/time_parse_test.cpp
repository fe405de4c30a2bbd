// SPDX-License-Identifier: Apache-2.0
#include "zonegate/time_parse.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "core/timezone.hpp"

using zonegate::cli::format_duration;
using zonegate::cli::format_local;
using zonegate::cli::parse_duration;
using zonegate::cli::parse_time;
using zonegate::core::Duration;
using zonegate::core::Instant;
using zonegate::core::TimeZone;

namespace {

// 2026-12-01T00:00:00Z in milliseconds since the epoch.
constexpr std::int64_t kDec1Utc = 1'796'083'200'000;

Instant at_ms(std::int64_t ms) { return Instant{Duration{ms}}; }

std::optional<Instant> utc(const std::string& text) { return parse_time(text, nullptr, nullptr); }

// A zone with one DST change: +01:00 until 2026-03-29T01:00Z, +02:00 after (like Europe/Berlin),
// and back to +01:00 at 2026-10-25T01:00Z.
TimeZone berlin_2026() {
  const std::int64_t spring = 1'774'746'000;  // 2026-03-29T01:00:00Z
  const std::int64_t autumn = 1'792'890'000;  // 2026-10-25T01:00:00Z
  return TimeZone::from_table("Test/Berlin", {{spring, 7200}, {autumn, 3600}}, 3600, std::nullopt);
}

}  // namespace

TEST_CASE("time with Z, offsets in every accepted spelling", "[cli][time]") {
  CHECK(utc("2026-12-01T00:00:00Z") == at_ms(kDec1Utc));
  CHECK(utc("2026-12-01T09:00:00+09:00") == at_ms(kDec1Utc));
  CHECK(utc("2026-12-01T09:00:00+0900") == at_ms(kDec1Utc));
  CHECK(utc("2026-12-01T09:00:00+09") == at_ms(kDec1Utc));
  CHECK(utc("2026-12-01T09:00+09:00") == at_ms(kDec1Utc));
  CHECK(utc("2026-11-30T19:30:00-04:30") == at_ms(kDec1Utc));
  CHECK(utc("2026-12-01T00:00:00.5Z") == at_ms(kDec1Utc + 500));
  CHECK(utc("2026-12-01T00:00:00.123Z") == at_ms(kDec1Utc + 123));
  CHECK(utc("1970-01-01T00:00:00Z") == at_ms(0));
  CHECK(utc("1969-12-31T23:59:59Z") == at_ms(-1000));
}

TEST_CASE("calendar edges", "[cli][time]") {
  CHECK(utc("2028-02-29T12:00:00Z").has_value());  // leap year
  CHECK(utc("2000-02-29T12:00:00Z").has_value());  // divisible by 400
  CHECK_FALSE(utc("2027-02-29T12:00:00Z"));        // not a leap year
  CHECK_FALSE(utc("2100-02-29T12:00:00Z"));        // divisible by 100 only
  CHECK_FALSE(utc("2026-04-31T12:00:00Z"));
  CHECK_FALSE(utc("2026-13-01T00:00:00Z"));
  CHECK_FALSE(utc("2026-00-01T00:00:00Z"));
  CHECK_FALSE(utc("2026-12-00T00:00:00Z"));
  CHECK_FALSE(utc("2026-12-01T24:00:00Z"));
  CHECK_FALSE(utc("2026-12-01T23:60:00Z"));
  CHECK_FALSE(utc("2026-12-01T23:59:60Z"));  // no leap seconds
  CHECK(utc("2026-12-31T23:59:59.999Z") == at_ms(kDec1Utc + 31LL * 86'400'000 - 1));
}

TEST_CASE("garbage times are refused with a reason", "[cli][time]") {
  for (const char* bad : {"",
                          "now",
                          "2026",
                          "2026-12-01",
                          "2026-12-1T09:00:00Z",
                          "26-12-01T09:00:00Z",
                          "2026/12/01T09:00:00Z",
                          "2026-12-01 09:00:00Z",
                          "2026-12-01T9:00:00Z",
                          "2026-12-01T09:00:00+9",
                          "2026-12-01T09:00:00+09:0",
                          "2026-12-01T09:00:00+19:00",
                          "2026-12-01T09:00:00+09:60",
                          "2026-12-01T09:00:00ZZ",
                          "2026-12-01T09:00:00Z ",
                          " 2026-12-01T09:00:00Z",
                          "2026-12-01T09:00:00.Z",
                          "2026-12-01T09:00:00.1234Z",
                          "2026-12-01T09:00:00 +09:00",
                          "2026-12-01T09:00:00x",
                          "２026-12-01T09:00:00Z",
                          "2026-12-01T09:00:00-",
                          "2026-12-01T09"}) {
    std::string why;
    INFO("input: '" << bad << "'");
    CHECK_FALSE(parse_time(bad, nullptr, &why));
    CHECK_THAT(why, Catch::Contains("invalid time"));
  }
}

TEST_CASE("time without offset is site local time", "[cli][time]") {
  const TimeZone tokyo = TimeZone::fixed("Asia/Tokyo", 9 * 3600);
  CHECK(parse_time("2026-12-01T09:00:00", &tokyo, nullptr) == at_ms(kDec1Utc));
  CHECK(parse_time("2026-12-01T09:00", &tokyo, nullptr) == at_ms(kDec1Utc));
  // An explicit offset wins over the site zone.
  CHECK(parse_time("2026-12-01T00:00:00Z", &tokyo, nullptr) == at_ms(kDec1Utc));
  // Without a site zone a local time cannot be placed.
  std::string why;
  CHECK_FALSE(parse_time("2026-12-01T09:00:00", nullptr, &why));
  CHECK_THAT(why, Catch::Contains("no UTC offset"));
}

TEST_CASE("local time across DST changes", "[cli][time]") {
  const TimeZone berlin = berlin_2026();
  // Winter (+01:00) and summer (+02:00).
  CHECK(parse_time("2026-01-15T10:00:00", &berlin, nullptr) == parse_time("2026-01-15T09:00:00Z", nullptr, nullptr));
  CHECK(parse_time("2026-07-15T10:00:00", &berlin, nullptr) == parse_time("2026-07-15T08:00:00Z", nullptr, nullptr));
  // 02:30 on 2026-03-29 does not exist there: clocks jump from 02:00 to 03:00.
  std::string why;
  CHECK_FALSE(parse_time("2026-03-29T02:30:00", &berlin, &why));
  CHECK_THAT(why, Catch::Contains("does not exist"));
  CHECK(parse_time("2026-03-29T03:00:00", &berlin, nullptr) == parse_time("2026-03-29T01:00:00Z", nullptr, nullptr));
  // 02:30 on 2026-10-25 happens twice: the earlier (summer time) instant is meant.
  CHECK(parse_time("2026-10-25T02:30:00", &berlin, nullptr) == parse_time("2026-10-25T00:30:00Z", nullptr, nullptr));
}

TEST_CASE("format_local round-trips", "[cli][time]") {
  const TimeZone tokyo = TimeZone::fixed("Asia/Tokyo", 9 * 3600);
  CHECK(format_local(at_ms(kDec1Utc), tokyo) == "2026-12-01T09:00:00+09:00");
  CHECK(format_local(at_ms(kDec1Utc + 250), tokyo) == "2026-12-01T09:00:00.250+09:00");
  const TimeZone minus = TimeZone::fixed("X", -(4 * 3600 + 30 * 60));
  CHECK(format_local(at_ms(kDec1Utc), minus) == "2026-11-30T19:30:00-04:30");
  CHECK(parse_time(format_local(at_ms(kDec1Utc + 1), minus), nullptr, nullptr) == at_ms(kDec1Utc + 1));
}

TEST_CASE("durations", "[cli][duration]") {
  CHECK(parse_duration("500ms", nullptr) == Duration{500});
  CHECK(parse_duration("4s", nullptr) == Duration{4000});
  CHECK(parse_duration("15m", nullptr) == Duration{15 * 60'000});
  CHECK(parse_duration("2h", nullptr) == Duration{2 * 3'600'000});
  CHECK(parse_duration("1d", nullptr) == Duration{86'400'000});
  CHECK(parse_duration("1m30s", nullptr) == Duration{90'000});
  CHECK(parse_duration("1h0m5s250ms", nullptr) == Duration{3'605'250});
  CHECK(parse_duration("0s", nullptr) == Duration{0});
  CHECK(parse_duration("90s", nullptr) == Duration{90'000});  // no carrying rules: 90s is fine
  CHECK(parse_duration("1d2h3m4s5ms", nullptr) == Duration{86'400'000 + 2 * 3'600'000 + 3 * 60'000 + 4005});
  CHECK(parse_duration("36500d", nullptr) == Duration{36'500LL * 86'400'000});
}

TEST_CASE("garbage durations are refused with a reason", "[cli][duration]") {
  for (const char* bad :
       {"", "4", "s", "ms", "-4s", "+4s", "4 s", " 4s", "4s ", "4S", "4sec", "1.5s", "4x", "30s1m", "1m1m", "1s500",
        "500ms1s", "4s4", "1h30", "36501d", "999999999999999d", "1e3ms", "４s", "4ss", "m30s",
        // 12 digits of days: the product overflows 64 bits (found by fuzz_time_parse)
        "999999999999d", "202302222222d4s"}) {
    std::string why;
    INFO("input: '" << bad << "'");
    CHECK_FALSE(parse_duration(bad, &why));
    CHECK_THAT(why, Catch::Contains("invalid duration"));
  }
}

TEST_CASE("input echoed in an error cannot break the line or forge text", "[cli][time][duration]") {
  std::string why;
  CHECK_FALSE(parse_duration("4x\nzonegated: granted", &why));
  CHECK(why.find('\n') == std::string::npos);
  CHECK_THAT(why, Catch::Contains("\\x0a"));
  why.clear();
  CHECK_FALSE(parse_time("2026-01-01T\x1b[2J", nullptr, &why));
  CHECK(why.find('\x1b') == std::string::npos);
  CHECK_THAT(why, Catch::Contains("\\x1b"));
}

TEST_CASE("format_duration is read back by parse_duration", "[cli][duration]") {
  CHECK(format_duration(Duration{0}) == "0s");
  CHECK(format_duration(Duration{90'000}) == "1m30s");
  CHECK(format_duration(Duration{500}) == "500ms");
  CHECK(format_duration(Duration{86'400'000 + 1}) == "1d1ms");
  for (const std::int64_t ms : {1LL, 999LL, 1000LL, 61'001LL, 3'600'000LL, 90'061'001LL}) {
    CHECK(parse_duration(format_duration(Duration{ms}), nullptr) == Duration{ms});
  }
}
