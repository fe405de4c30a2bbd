// SPDX-License-Identifier: Apache-2.0
#include "config/tzif.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ios>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace zonegate::config {

namespace {

// Limits well above anything in the tz database (the largest zones have a few hundred
// transitions and a dozen types) but low enough that a hostile file cannot make us allocate much.
constexpr std::uint32_t kMaxTransitions = 100000;
constexpr std::uint32_t kMaxTypes = 256;  // transition type indices are single bytes
constexpr std::uint32_t kMaxChars = 65536;
constexpr std::uint32_t kMaxLeapRecords = 100000;
constexpr std::uintmax_t kMaxFileBytes = 1U << 20;

constexpr std::size_t kHeaderBytes = 44;
constexpr std::size_t kTtinfoBytes = 6;

// RFC 8536 section 3.2: utoff SHOULD lie in [-89999, 93599], i.e. strictly within -25h..+26h.
constexpr std::int32_t kMinUtoff = -89999;
constexpr std::int32_t kMaxUtoff = 93599;

bool set_error(std::string* error, std::string text) {
  if (error != nullptr) *error = std::move(text);
  return false;
}

std::uint8_t byte_at(std::string_view bytes, std::size_t pos) { return static_cast<std::uint8_t>(bytes[pos]); }

std::uint32_t read_u32(std::string_view bytes, std::size_t pos) {
  return (static_cast<std::uint32_t>(byte_at(bytes, pos)) << 24) |
         (static_cast<std::uint32_t>(byte_at(bytes, pos + 1)) << 16) |
         (static_cast<std::uint32_t>(byte_at(bytes, pos + 2)) << 8) |
         static_cast<std::uint32_t>(byte_at(bytes, pos + 3));
}

std::int64_t read_i64(std::string_view bytes, std::size_t pos) {
  const std::uint64_t hi = read_u32(bytes, pos);
  const std::uint64_t lo = read_u32(bytes, pos + 4);
  return static_cast<std::int64_t>((hi << 32) | lo);  // two's complement, well-defined since C++20
}

std::int64_t read_time(std::string_view bytes, std::size_t pos, std::size_t time_size) {
  if (time_size == 8) return read_i64(bytes, pos);
  return static_cast<std::int32_t>(read_u32(bytes, pos));
}

struct Header {
  char version = 0;  // '\0' for version 1, else '2', '3', '4'
  std::uint32_t isutcnt = 0;
  std::uint32_t isstdcnt = 0;
  std::uint32_t leapcnt = 0;
  std::uint32_t timecnt = 0;
  std::uint32_t typecnt = 0;
  std::uint32_t charcnt = 0;
};

std::string version_text(char version) { return version == '\0' ? std::string("1") : std::string(1, version); }

bool parse_header(std::string_view bytes, std::size_t pos, Header* out, std::string* error) {
  if (bytes.size() < pos || bytes.size() - pos < kHeaderBytes) return set_error(error, "TZif: truncated header");
  if (bytes.substr(pos, 4) != "TZif") return set_error(error, "TZif: bad magic (expected \"TZif\")");
  const char version = bytes[pos + 4];
  if (version != '\0' && version != '2' && version != '3' && version != '4') {
    return set_error(error, "TZif: unsupported version byte " + std::to_string(byte_at(bytes, pos + 4)) +
                                " (expected 0, '2', '3' or '4')");
  }
  Header h;
  h.version = version;
  h.isutcnt = read_u32(bytes, pos + 20);
  h.isstdcnt = read_u32(bytes, pos + 24);
  h.leapcnt = read_u32(bytes, pos + 28);
  h.timecnt = read_u32(bytes, pos + 32);
  h.typecnt = read_u32(bytes, pos + 36);
  h.charcnt = read_u32(bytes, pos + 40);
  *out = h;
  return true;
}

// Applied only to the block that is actually parsed: RFC 8536 tells readers of version 2+ files to
// skip the version 1 block, whose counts some writers leave degenerate.
bool check_counts(const Header& h, std::string* error) {
  if (h.typecnt == 0) return set_error(error, "TZif: no local time types (typecnt is 0)");
  if (h.typecnt > kMaxTypes) {
    return set_error(
        error, "TZif: " + std::to_string(h.typecnt) + " local time types (at most " + std::to_string(kMaxTypes) + ")");
  }
  if (h.timecnt > kMaxTransitions) {
    return set_error(
        error, "TZif: " + std::to_string(h.timecnt) + " transitions (at most " + std::to_string(kMaxTransitions) + ")");
  }
  if (h.charcnt == 0) return set_error(error, "TZif: no time zone designations (charcnt is 0)");
  if (h.charcnt > kMaxChars) {
    return set_error(
        error, "TZif: " + std::to_string(h.charcnt) + " designation bytes (at most " + std::to_string(kMaxChars) + ")");
  }
  if (h.leapcnt > kMaxLeapRecords) {
    return set_error(error, "TZif: " + std::to_string(h.leapcnt) + " leap-second records (at most " +
                                std::to_string(kMaxLeapRecords) + ")");
  }
  if (h.isutcnt != 0 && h.isutcnt != h.typecnt) {
    return set_error(
        error, "TZif: isutcnt " + std::to_string(h.isutcnt) + " must be 0 or typecnt " + std::to_string(h.typecnt));
  }
  if (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) {
    return set_error(
        error, "TZif: isstdcnt " + std::to_string(h.isstdcnt) + " must be 0 or typecnt " + std::to_string(h.typecnt));
  }
  return true;
}

// Each count is below 2^32 and each multiplier at most 12, so the sum cannot overflow 64 bits.
std::uint64_t block_bytes(const Header& h, std::size_t time_size) {
  return std::uint64_t{h.timecnt} * time_size + h.timecnt + std::uint64_t{h.typecnt} * kTtinfoBytes + h.charcnt +
         std::uint64_t{h.leapcnt} * (time_size + 4) + h.isstdcnt + h.isutcnt;
}

bool check_block_fits(std::string_view bytes, std::size_t pos, const Header& h, std::size_t time_size,
                      std::string* error) {
  const std::uint64_t need = block_bytes(h, time_size);
  const std::uint64_t have = bytes.size() - pos;  // pos <= size: callers read a full header first
  if (need > have) {
    return set_error(error, "TZif: truncated data block (version " + version_text(h.version) + " block needs " +
                                std::to_string(need) + " bytes, " + std::to_string(have) + " left)");
  }
  return true;
}

struct Table {
  std::vector<core::TimeZone::Transition> transitions;
  std::int32_t initial_offset = 0;
};

// Parses and validates one data block starting at `pos`; check_block_fits must have passed.
bool parse_block(std::string_view bytes, std::size_t pos, const Header& h, std::size_t time_size, Table* out,
                 std::string* error) {
  const std::size_t times_at = pos;
  const std::size_t indices_at = times_at + std::size_t{h.timecnt} * time_size;
  const std::size_t types_at = indices_at + h.timecnt;
  const std::size_t chars_at = types_at + std::size_t{h.typecnt} * kTtinfoBytes;
  const std::size_t leaps_at = chars_at + h.charcnt;
  const std::size_t isstd_at = leaps_at + std::size_t{h.leapcnt} * (time_size + 4);
  const std::size_t isut_at = isstd_at + h.isstdcnt;

  std::vector<std::int32_t> offsets(h.typecnt);
  for (std::uint32_t i = 0; i < h.typecnt; ++i) {
    const std::size_t at = types_at + std::size_t{i} * kTtinfoBytes;
    const auto utoff = static_cast<std::int32_t>(read_u32(bytes, at));
    const std::uint8_t isdst = byte_at(bytes, at + 4);
    const std::uint8_t desigidx = byte_at(bytes, at + 5);
    if (utoff < kMinUtoff || utoff > kMaxUtoff) {
      return set_error(error, "TZif: UT offset " + std::to_string(utoff) + " of local time type " + std::to_string(i) +
                                  " out of range (" + std::to_string(kMinUtoff) + ".." + std::to_string(kMaxUtoff) +
                                  ")");
    }
    if (isdst > 1) {
      return set_error(error, "TZif: isdst " + std::to_string(isdst) + " of local time type " + std::to_string(i) +
                                  " is not 0 or 1");
    }
    if (desigidx >= h.charcnt) {
      return set_error(error, "TZif: designation index " + std::to_string(desigidx) + " of local time type " +
                                  std::to_string(i) + " out of range (" + std::to_string(h.charcnt) + " bytes)");
    }
    offsets[i] = utoff;
  }
  // Every designation must end inside the table; a trailing NUL is enough to guarantee that.
  if (byte_at(bytes, chars_at + h.charcnt - 1) != 0) {
    return set_error(error, "TZif: time zone designations are not NUL-terminated");
  }

  out->transitions.clear();
  out->transitions.reserve(h.timecnt);
  for (std::uint32_t i = 0; i < h.timecnt; ++i) {
    const std::int64_t at = read_time(bytes, times_at + std::size_t{i} * time_size, time_size);
    if (i > 0 && at <= out->transitions.back().at_utc_seconds) {
      return set_error(error, "TZif: transition times not strictly ascending at index " + std::to_string(i));
    }
    const std::uint8_t type = byte_at(bytes, indices_at + i);
    if (type >= h.typecnt) {
      return set_error(error, "TZif: transition type index " + std::to_string(type) + " out of range (" +
                                  std::to_string(h.typecnt) + " types)");
    }
    out->transitions.push_back({at, offsets[type]});
  }

  for (std::uint32_t i = 0; i < h.isstdcnt; ++i) {
    if (byte_at(bytes, isstd_at + i) > 1) {
      return set_error(error, "TZif: standard/wall indicator " + std::to_string(i) + " is not 0 or 1");
    }
  }
  for (std::uint32_t i = 0; i < h.isutcnt; ++i) {
    const std::uint8_t isut = byte_at(bytes, isut_at + i);
    if (isut > 1) return set_error(error, "TZif: UT/local indicator " + std::to_string(i) + " is not 0 or 1");
    if (isut == 1 && (h.isstdcnt == 0 || byte_at(bytes, isstd_at + i) != 1)) {
      return set_error(error, "TZif: UT indicator " + std::to_string(i) + " set without standard indicator");
    }
  }
  // Leap-second zones count seconds differently from the POSIX time the daemon works in; applying
  // the corrections is not worth it for a door controller, so such files are refused plainly.
  if (h.leapcnt != 0) {
    return set_error(error, "TZif: leap-second records are not supported (use a zone outside \"right/\")");
  }
  // RFC 8536: local time before the first transition is given by time type 0.
  out->initial_offset = offsets[0];
  return true;
}

bool valid_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/') return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (const char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '+' || c == '-' || c == '/';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::optional<core::TimeZone> parse_tzif(std::string_view zone_name, std::string_view bytes, std::string* error) {
  Header first;
  if (!parse_header(bytes, 0, &first, error)) return std::nullopt;
  Table table;
  if (first.version == '\0') {
    if (!check_counts(first, error)) return std::nullopt;
    if (!check_block_fits(bytes, kHeaderBytes, first, 4, error)) return std::nullopt;
    if (!parse_block(bytes, kHeaderBytes, first, 4, &table, error)) return std::nullopt;
    return core::TimeZone::from_table(std::string(zone_name), std::move(table.transitions), table.initial_offset,
                                      std::nullopt);
  }

  // Version 2+: the 32-bit block exists only for old readers; skip it and use the 64-bit one.
  if (!check_block_fits(bytes, kHeaderBytes, first, 4, error)) return std::nullopt;
  const std::size_t second_at = kHeaderBytes + static_cast<std::size_t>(block_bytes(first, 4));
  Header second;
  if (!parse_header(bytes, second_at, &second, error)) return std::nullopt;
  if (second.version == '\0') {
    set_error(error, "TZif: second header has version 1 (expected '2' or later)");
    return std::nullopt;
  }
  if (!check_counts(second, error)) return std::nullopt;
  const std::size_t block_at = second_at + kHeaderBytes;
  if (!check_block_fits(bytes, block_at, second, 8, error)) return std::nullopt;
  if (!parse_block(bytes, block_at, second, 8, &table, error)) return std::nullopt;

  // Footer: '\n' <POSIX TZ string, possibly empty> '\n'.
  const std::size_t footer_at = block_at + static_cast<std::size_t>(block_bytes(second, 8));
  if (footer_at >= bytes.size() || bytes[footer_at] != '\n') {
    set_error(error, "TZif: missing footer (expected a newline after the version " + version_text(second.version) +
                         " data block)");
    return std::nullopt;
  }
  const std::size_t tz_at = footer_at + 1;
  const std::size_t tz_end = bytes.find('\n', tz_at);
  if (tz_end == std::string_view::npos) {
    set_error(error, "TZif: unterminated footer (expected a closing newline)");
    return std::nullopt;
  }
  std::optional<core::PosixTzRule> rule;
  if (tz_end > tz_at) {
    std::string rule_error;
    rule = core::parse_posix_tz(bytes.substr(tz_at, tz_end - tz_at), &rule_error);
    if (!rule) {
      set_error(error, "TZif: bad footer: " + rule_error);
      return std::nullopt;
    }
  }
  return core::TimeZone::from_table(std::string(zone_name), std::move(table.transitions), table.initial_offset,
                                    std::move(rule));
}

std::optional<core::TimeZone> load_time_zone(std::string_view name, std::string* error) {
  if (!valid_zone_name(name)) {
    set_error(error, "invalid time zone name '" + std::string(name) +
                         "' (expected a name like Europe/Berlin: A-Z a-z 0-9 _ + - /, no leading '/', no '..')");
    return std::nullopt;
  }
  // Built in so that a site on UTC works even on a host without the tz database.
  if (name == "UTC") return core::TimeZone::fixed("UTC", 0);

  const char* tzdir = std::getenv("TZDIR");
  const std::filesystem::path dir = (tzdir != nullptr && *tzdir != '\0') ? tzdir : "/usr/share/zoneinfo";
  const std::filesystem::path path = dir / std::string(name);
  const std::string shown = path.string();

  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    set_error(error, "unknown time zone '" + std::string(name) + "' (no file " + shown + ")");
    return std::nullopt;
  }
  if (!std::filesystem::is_regular_file(status)) {
    set_error(error, "unknown time zone '" + std::string(name) + "' (" + shown + " is not a regular file)");
    return std::nullopt;
  }
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxFileBytes) {
    set_error(error, "time zone '" + std::string(name) + "': " + shown + " is too large or unreadable");
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    set_error(error, "time zone '" + std::string(name) + "': cannot open " + shown);
    return std::nullopt;
  }
  // One byte more than measured, so a file that grew meanwhile is noticed instead of read unbounded.
  std::string bytes(static_cast<std::size_t>(size) + 1, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const std::streamsize got = in.gcount();
  if (in.bad() || got < 0 || static_cast<std::uintmax_t>(got) > size) {
    set_error(error, "time zone '" + std::string(name) + "': cannot read " + shown + " (changed while reading?)");
    return std::nullopt;
  }
  bytes.resize(static_cast<std::size_t>(got));
  std::string parse_error;
  auto tz = parse_tzif(name, bytes, &parse_error);
  if (!tz) {
    set_error(error, "time zone '" + std::string(name) + "' (" + shown + "): " + parse_error);
    return std::nullopt;
  }
  return tz;
}

}  // namespace zonegate::config
