// SPDX-License-Identifier: Apache-2.0
#include "config/tzif.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/timezone.hpp"

using zonegate::config::load_time_zone;
using zonegate::config::parse_tzif;
using zonegate::core::days_from_civil;
using zonegate::core::Instant;
using zonegate::core::LocalTime;
using zonegate::core::TimeZone;

namespace {

constexpr std::int32_t kHour = 3600;

Instant utc(std::int32_t year, unsigned month, unsigned day, int hour = 0, int minute = 0, int second = 0) {
  const std::int64_t s = std::int64_t{days_from_civil(year, month, day)} * 86400 + hour * 3600 + minute * 60 + second;
  return Instant{std::chrono::seconds{s}};
}

TimeZone must_load(const std::string& name) {
  std::string error;
  auto tz = load_time_zone(name, &error);
  INFO(name << ": " << error);
  REQUIRE(tz.has_value());
  return *tz;
}

std::string read_system_file(const std::string& name) {
  std::ifstream in("/usr/share/zoneinfo/" + name, std::ios::binary);
  REQUIRE(in.is_open());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Sets TZDIR for the lifetime of the object and restores the previous value.
class ScopedTzdir {
 public:
  explicit ScopedTzdir(const std::string& dir) {
    if (const char* old = std::getenv("TZDIR")) old_ = old;
    ::setenv("TZDIR", dir.c_str(), 1);
  }
  ScopedTzdir(const ScopedTzdir&) = delete;
  ScopedTzdir& operator=(const ScopedTzdir&) = delete;
  ~ScopedTzdir() {
    if (old_) {
      ::setenv("TZDIR", old_->c_str(), 1);
    } else {
      ::unsetenv("TZDIR");
    }
  }

 private:
  std::optional<std::string> old_;
};

// A small TZif writer, so that tests can produce exactly the defect they are about.
struct TzifSpec {
  char version = '2';
  std::vector<std::int64_t> times;
  std::vector<std::uint8_t> indices;
  struct Type {
    std::int32_t utoff;
    std::uint8_t isdst;
    std::uint8_t desigidx;
  };
  std::vector<Type> types = {{0, 0, 0}};
  std::string chars = std::string("UTC\0", 4);
  std::uint32_t leapcnt = 0;
  std::uint32_t timecnt_override = 0;  // when nonzero, written instead of times.size()
  std::string footer = "\nUTC0\n";
};

void put_u32(std::string* out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xFF));
}

void put_i64(std::string* out, std::int64_t v) {
  const auto u = static_cast<std::uint64_t>(v);
  put_u32(out, static_cast<std::uint32_t>(u >> 32));
  put_u32(out, static_cast<std::uint32_t>(u & 0xFFFFFFFFU));
}

void put_block(std::string* out, const TzifSpec& spec, char version, int time_size) {
  out->append("TZif");
  out->push_back(version);
  out->append(15, '\0');
  const auto timecnt =
      spec.timecnt_override != 0 ? spec.timecnt_override : static_cast<std::uint32_t>(spec.times.size());
  put_u32(out, 0);  // isutcnt
  put_u32(out, 0);  // isstdcnt
  put_u32(out, spec.leapcnt);
  put_u32(out, timecnt);
  put_u32(out, static_cast<std::uint32_t>(spec.types.size()));
  put_u32(out, static_cast<std::uint32_t>(spec.chars.size()));
  for (const std::int64_t t : spec.times) {
    if (time_size == 8) {
      put_i64(out, t);
    } else {
      put_u32(out, static_cast<std::uint32_t>(static_cast<std::int32_t>(t)));
    }
  }
  for (const std::uint8_t i : spec.indices) out->push_back(static_cast<char>(i));
  for (const auto& type : spec.types) {
    put_u32(out, static_cast<std::uint32_t>(type.utoff));
    out->push_back(static_cast<char>(type.isdst));
    out->push_back(static_cast<char>(type.desigidx));
  }
  out->append(spec.chars);
  for (std::uint32_t i = 0; i < spec.leapcnt; ++i) {
    if (time_size == 8) {
      put_i64(out, 78796800 + i);
    } else {
      put_u32(out, 78796800 + i);
    }
    put_u32(out, i + 1);
  }
}

std::string build(const TzifSpec& spec) {
  std::string out;
  if (spec.version == '\0') {
    put_block(&out, spec, '\0', 4);
    return out;
  }
  put_block(&out, spec, spec.version, 4);
  put_block(&out, spec, spec.version, 8);
  out.append(spec.footer);
  return out;
}

std::string parse_error_of(const std::string& bytes) {
  std::string error;
  const auto tz = parse_tzif("Test/Zone", bytes, &error);
  CHECK_FALSE(tz.has_value());
  return error;
}

}  // namespace

TEST_CASE("Asia/Tokyo: 2026-12-01T00:00Z is 09:00 on a Tuesday", "[tzif]") {
  const TimeZone tokyo = must_load("Asia/Tokyo");
  CHECK(tokyo.name() == "Asia/Tokyo");
  const LocalTime lt = tokyo.local(utc(2026, 12, 1));
  CHECK(lt.day == days_from_civil(2026, 12, 1));
  CHECK(lt.minute_of_day == 9 * 60);
  CHECK(lt.second_of_day == 9 * 3600);
  CHECK(lt.weekday == 1U);
  CHECK(lt.offset_seconds == 9 * kHour);
  CHECK(tokyo.offset_at(utc(2100, 7, 1)) == 9 * kHour);
  CHECK(tokyo.offset_at(utc(1800, 1, 1)) == 9 * kHour + 18 * 60 + 59);  // local mean time before 1888
}

TEST_CASE("Europe/Berlin: table years, footer-rule years and the DST changes", "[tzif]") {
  const TimeZone berlin = must_load("Europe/Berlin");
  CHECK(berlin.offset_at(utc(1970, 7, 1)) == kHour);  // no DST in 1970
  CHECK(berlin.offset_at(utc(1980, 7, 1)) == 2 * kHour);
  for (const int year : {2026, 2027, 2037, 2040, 2100, 2400}) {
    INFO(year);
    CHECK(berlin.offset_at(utc(year, 1, 15, 12)) == kHour);
    CHECK(berlin.offset_at(utc(year, 7, 1, 12)) == 2 * kHour);
    CHECK(berlin.offset_at(utc(year, 12, 1, 12)) == kHour);
  }
  CHECK(berlin.offset_at(utc(2027, 3, 28, 0, 59, 59)) == kHour);
  CHECK(berlin.offset_at(utc(2027, 3, 28, 1)) == 2 * kHour);
  const LocalTime lt = berlin.local(utc(2027, 3, 28, 1));
  CHECK(lt.minute_of_day == 3 * 60);
  CHECK(lt.weekday == 6U);
  // 2040 lies beyond the table of the "fat" files (which stops in 2037): last Sunday of March 2040
  // is the 25th, of October the 28th.
  CHECK(berlin.offset_at(utc(2040, 3, 25, 0, 59, 59)) == kHour);
  CHECK(berlin.offset_at(utc(2040, 3, 25, 1)) == 2 * kHour);
  CHECK(berlin.offset_at(utc(2040, 10, 28, 0, 59, 59)) == 2 * kHour);
  CHECK(berlin.offset_at(utc(2040, 10, 28, 1)) == kHour);
  // 2100: last Sundays are 28 March and 31 October.
  CHECK(berlin.offset_at(utc(2100, 3, 28, 0, 59, 59)) == kHour);
  CHECK(berlin.offset_at(utc(2100, 3, 28, 1)) == 2 * kHour);
  CHECK(berlin.offset_at(utc(2100, 10, 31, 0, 59, 59)) == 2 * kHour);
  CHECK(berlin.offset_at(utc(2100, 10, 31, 1)) == kHour);
}

TEST_CASE("America/New_York: summer and winter offsets, table and rule", "[tzif]") {
  const TimeZone ny = must_load("America/New_York");
  CHECK(ny.offset_at(utc(1850, 1, 1)) == -(4 * kHour + 56 * 60 + 2));  // LMT before the first transition
  for (const int year : {1990, 2026, 2037, 2040, 2100}) {
    INFO(year);
    CHECK(ny.offset_at(utc(year, 1, 15, 12)) == -5 * kHour);
    CHECK(ny.offset_at(utc(year, 7, 1, 12)) == -4 * kHour);
  }
  // 2040: second Sunday of March is the 11th, first Sunday of November the 4th.
  CHECK(ny.offset_at(utc(2040, 3, 11, 6, 59, 59)) == -5 * kHour);
  CHECK(ny.offset_at(utc(2040, 3, 11, 7)) == -4 * kHour);
  CHECK(ny.offset_at(utc(2040, 11, 4, 5, 59, 59)) == -4 * kHour);
  CHECK(ny.offset_at(utc(2040, 11, 4, 6)) == -5 * kHour);
  const LocalTime lt = ny.local(utc(2100, 1, 1, 3));
  CHECK(lt.day == days_from_civil(2099, 12, 31));
  CHECK(lt.minute_of_day == 22 * 60);
}

TEST_CASE("UTC is built in and Etc/UTC loads from a file", "[tzif]") {
  const TimeZone builtin = must_load("UTC");
  CHECK(builtin.name() == "UTC");
  CHECK(builtin.offset_at(utc(2026, 7, 1)) == 0);
  const TimeZone etc = must_load("Etc/UTC");
  CHECK(etc.offset_at(utc(2026, 7, 1)) == 0);
  CHECK(etc.offset_at(utc(2200, 7, 1)) == 0);
  {
    const ScopedTzdir nowhere("/nonexistent-zoneinfo");
    CHECK(must_load("UTC").offset_at(utc(2026, 7, 1)) == 0);
  }
}

TEST_CASE("bad zone names are rejected before touching the file system", "[tzif]") {
  const std::vector<std::string> names = {"",
                                          "/etc/passwd",
                                          "../etc/passwd",
                                          "Europe/../../etc/passwd",
                                          "Europe/..",
                                          "Europe/Berlin;rm",
                                          "Europe Berlin",
                                          "Europe/Berlin\n",
                                          "Europe\\Berlin",
                                          std::string("Europe/Berlin\0x", 15),
                                          "Europe/Berlin.bak",
                                          "~root"};
  for (const std::string& name : names) {
    std::string error;
    INFO("name: '" << name << "'");
    CHECK_FALSE(load_time_zone(name, &error).has_value());
    CHECK(error.find("invalid time zone name") != std::string::npos);
  }
}

TEST_CASE("unknown zones and directories are reported", "[tzif]") {
  std::string error;
  CHECK_FALSE(load_time_zone("Nowhere/Atlantis", &error).has_value());
  CHECK(error.find("unknown time zone 'Nowhere/Atlantis' (no file") != std::string::npos);
  CHECK(error.find("Nowhere/Atlantis)") != std::string::npos);

  error.clear();
  CHECK_FALSE(load_time_zone("Europe", &error).has_value());
  CHECK(error.find("not a regular file") != std::string::npos);

  CHECK_FALSE(load_time_zone("Nowhere/Atlantis", nullptr).has_value());  // null error pointer allowed
}

TEST_CASE("TZDIR selects the zone directory", "[tzif]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("zonegate-tzif-test-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir / "Test");
  TzifSpec spec;
  spec.types = {{5 * kHour + 45 * 60, 0, 0}};
  spec.chars = std::string("+0545\0", 6);
  spec.footer = "\n<+0545>-5:45\n";
  {
    std::ofstream out(dir / "Test" / "Zone", std::ios::binary);
    out << build(spec);
  }
  {
    std::ofstream out(dir / "Test" / "Broken", std::ios::binary);
    out << "TZif2";
  }
  {
    const ScopedTzdir scoped(dir.string());
    const TimeZone tz = must_load("Test/Zone");
    CHECK(tz.name() == "Test/Zone");
    CHECK(tz.offset_at(utc(2026, 7, 1)) == 5 * kHour + 45 * 60);

    std::string error;
    CHECK_FALSE(load_time_zone("Test/Broken", &error).has_value());
    CHECK(error.find("TZif: truncated header") != std::string::npos);
    CHECK(error.find("Test/Broken") != std::string::npos);

    error.clear();
    CHECK_FALSE(load_time_zone("Asia/Tokyo", &error).has_value());  // not in this TZDIR
    CHECK(error.find("no file " + (dir / "Asia/Tokyo").string()) != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("every truncation of a real file is rejected with an error", "[tzif][robustness]") {
  for (const std::string name : {"Europe/Berlin", "Asia/Tokyo", "America/New_York"}) {
    const std::string bytes = read_system_file(name);
    REQUIRE(parse_tzif(name, bytes, nullptr).has_value());
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      std::string error;
      const auto tz = parse_tzif(name, std::string_view(bytes).substr(0, n), &error);
      if (tz.has_value()) FAIL(name << " truncated to " << n << " bytes was accepted");
      if (error.rfind("TZif: ", 0) != 0) FAIL(name << " truncated to " << n << " bytes: unexpected error " << error);
    }
  }
  SUCCEED();
}

TEST_CASE("corrupted bytes of a real file never crash the parser", "[tzif][robustness]") {
  const std::string original = read_system_file("Europe/Berlin");
  std::size_t rejected = 0;
  for (std::size_t i = 0; i < original.size(); ++i) {
    for (const int value : {0x00, 0x01, 0x7F, 0x80, 0xFF}) {
      std::string bytes = original;
      bytes[i] = static_cast<char>(value);
      std::string error;
      const auto tz = parse_tzif("Europe/Berlin", bytes, &error);
      if (tz) {
        const LocalTime lt = tz->local(utc(2026, 7, 1));
        if (lt.second_of_day < 0 || lt.second_of_day >= 86400 || lt.weekday > 6) FAIL("bad local time at byte " << i);
      } else {
        ++rejected;
        if (error.empty()) FAIL("no error text at byte " << i);
      }
    }
  }
  CHECK(rejected > 0);

  std::string bad_magic = original;
  bad_magic[0] = 'X';
  CHECK(parse_error_of(bad_magic).find("bad magic") != std::string::npos);
  std::string bad_version = original;
  bad_version[4] = '9';
  CHECK(parse_error_of(bad_version).find("unsupported version") != std::string::npos);
  std::string no_footer = original;
  no_footer.pop_back();
  CHECK(parse_error_of(no_footer).find("unterminated footer") != std::string::npos);
}

TEST_CASE("synthetic files: versions and footers", "[tzif]") {
  TzifSpec spec;
  spec.times = {-100, 1000000000};
  spec.indices = {1, 2};
  spec.types = {{100, 0, 0}, {kHour, 0, 4}, {2 * kHour, 1, 8}};
  spec.chars = std::string("LMT\0STD\0DST\0", 12);
  spec.footer = "\nSTD-1DST,M3.5.0,M10.5.0/3\n";

  SECTION("version 2 uses the 64-bit block and the footer") {
    const auto tz = parse_tzif("Test/V2", build(spec), nullptr);
    REQUIRE(tz);
    CHECK(tz->name() == "Test/V2");
    CHECK(tz->offset_at(Instant{std::chrono::seconds{-101}}) == 100);
    CHECK(tz->offset_at(Instant{std::chrono::seconds{-100}}) == kHour);
    CHECK(tz->offset_at(Instant{std::chrono::seconds{1000000000}}) == 2 * kHour);
    CHECK(tz->offset_at(utc(2030, 1, 1)) == kHour);  // the footer rule
    CHECK(tz->offset_at(utc(2030, 7, 1)) == 2 * kHour);
  }
  SECTION("version 3 footer extensions") {
    spec.version = '3';
    spec.footer = "\n<-02>2<-01>,M3.5.0/-1,M10.5.0/0\n";
    const auto tz = parse_tzif("Test/V3", build(spec), nullptr);
    REQUIRE(tz);
    CHECK(tz->offset_at(utc(2030, 1, 1)) == -2 * kHour);
    CHECK(tz->offset_at(utc(2030, 7, 1)) == -kHour);
  }
  SECTION("version 2 with an empty footer keeps the last offset") {
    spec.footer = "\n\n";
    const auto tz = parse_tzif("Test/Empty", build(spec), nullptr);
    REQUIRE(tz);
    CHECK(tz->offset_at(utc(2030, 1, 1)) == 2 * kHour);
  }
  SECTION("version 1 uses the 32-bit block without footer") {
    spec.version = '\0';
    const auto tz = parse_tzif("Test/V1", build(spec), nullptr);
    REQUIRE(tz);
    CHECK(tz->offset_at(Instant{std::chrono::seconds{-101}}) == 100);
    CHECK(tz->offset_at(Instant{std::chrono::seconds{0}}) == kHour);
    CHECK(tz->offset_at(utc(2030, 1, 1)) == 2 * kHour);
  }
  SECTION("a 64-bit time before 1901 is read correctly") {
    spec.times = {-5000000000, 1000000000};
    const auto tz = parse_tzif("Test/Old", build(spec), nullptr);
    REQUIRE(tz);
    CHECK(tz->offset_at(Instant{std::chrono::seconds{-5000000001}}) == 100);
    CHECK(tz->offset_at(Instant{std::chrono::seconds{-5000000000}}) == kHour);
  }
}

TEST_CASE("synthetic files: each defect has its own error", "[tzif]") {
  TzifSpec spec;
  spec.times = {0, 1000};
  spec.indices = {1, 3};
  spec.types = {{0, 0, 0}, {kHour, 0, 0}, {2 * kHour, 1, 0}, {3 * kHour, 0, 0}};
  spec.chars = std::string("ABC\0", 4);
  REQUIRE(parse_tzif("Test/Zone", build(spec), nullptr).has_value());

  SECTION("type index out of range") {
    spec.indices = {1, 7};
    CHECK(parse_error_of(build(spec)) == "TZif: transition type index 7 out of range (4 types)");
  }
  SECTION("transitions out of order") {
    spec.times = {1000, 1000};
    CHECK(parse_error_of(build(spec)).find("not strictly ascending at index 1") != std::string::npos);
  }
  SECTION("no types") {
    spec.types.clear();
    spec.indices = {};
    spec.times = {};
    CHECK(parse_error_of(build(spec)).find("typecnt is 0") != std::string::npos);
  }
  SECTION("absurd transition count") {
    spec.timecnt_override = 0xFFFFFFF0U;
    // In version 2+ files the version 1 block is only skipped, so the size check speaks first.
    CHECK(parse_error_of(build(spec)).find("truncated data block") != std::string::npos);
    spec.version = '\0';
    CHECK(parse_error_of(build(spec)).find("transitions (at most 100000)") != std::string::npos);
  }
  SECTION("count larger than the data") {
    spec.timecnt_override = 5000;
    CHECK(parse_error_of(build(spec)).find("truncated data block") != std::string::npos);
  }
  SECTION("offset out of range") {
    spec.types[2].utoff = 100 * kHour;
    CHECK(parse_error_of(build(spec)).find("UT offset 360000 of local time type 2 out of range") != std::string::npos);
  }
  SECTION("bad isdst") {
    spec.types[1].isdst = 2;
    CHECK(parse_error_of(build(spec)).find("isdst 2") != std::string::npos);
  }
  SECTION("designation index out of range") {
    spec.types[1].desigidx = 4;
    CHECK(parse_error_of(build(spec)).find("designation index 4") != std::string::npos);
  }
  SECTION("designations not terminated") {
    spec.chars = "ABCD";
    CHECK(parse_error_of(build(spec)).find("NUL-terminated") != std::string::npos);
  }
  SECTION("leap seconds") {
    spec.leapcnt = 2;
    CHECK(parse_error_of(build(spec)).find("leap-second") != std::string::npos);
  }
  SECTION("bad footer") {
    spec.footer = "\nCET-1CEST,M13.5.0,M10.5.0\n";
    const std::string error = parse_error_of(build(spec));
    CHECK(error.find("TZif: bad footer: TZ string") != std::string::npos);
    CHECK(error.find("Mm.w.d") != std::string::npos);
  }
  SECTION("missing footer") {
    spec.footer = "";
    CHECK(parse_error_of(build(spec)).find("missing footer") != std::string::npos);
  }
  SECTION("empty input and short header") {
    CHECK(parse_error_of("") == "TZif: truncated header");
    CHECK(parse_error_of("TZif2") == "TZif: truncated header");
  }
}

#ifdef ZONEGATE_SOURCE_DIR
// The fuzz seeds are copies of real zone files kept in the tree, so this check does not depend on
// the tz database version installed on the machine.
TEST_CASE("the fuzz seed files in the tree parse", "[tzif]") {
  const std::string dir = std::string(ZONEGATE_SOURCE_DIR) + "/tests/fuzz/corpus/tzif/";
  auto load_seed = [&](const std::string& file) {
    std::ifstream in(dir + file, std::ios::binary);
    REQUIRE(in.is_open());
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::string error;
    auto tz = parse_tzif(file, bytes, &error);
    INFO(file << ": " << error);
    REQUIRE(tz.has_value());
    return *tz;
  };
  CHECK(load_seed("Asia_Tokyo").offset_at(utc(2026, 12, 1)) == 9 * kHour);
  CHECK(load_seed("UTC").offset_at(utc(2026, 12, 1)) == 0);
  const TimeZone berlin = load_seed("Europe_Berlin");
  CHECK(berlin.offset_at(utc(2027, 3, 28, 0, 59, 59)) == kHour);
  CHECK(berlin.offset_at(utc(2027, 3, 28, 1)) == 2 * kHour);
  CHECK(berlin.offset_at(utc(2100, 7, 1)) == 2 * kHour);
}
#endif
