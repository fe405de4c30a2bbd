// SPDX-License-Identifier: Apache-2.0
#include "adapters/credentials/credential_csv.hpp"

#include <algorithm>
#include <istream>
#include <streambuf>

#include "core/timezone.hpp"

namespace zonegate::adapters::credentials {
namespace {

using Traits = std::char_traits<char>;

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/// Reads exactly `n` digits at s[pos..] as a number.
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_digit(s[pos + i])) return false;
    v = v * 10 + (s[pos + i] - '0');
  }
  out = v;
  return true;
}

/// Shows a field in an error message without flooding it or echoing control characters.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) ? '?' : c;
  if (s.size() > 64) out += "...";
  return out;
}

}  // namespace

std::optional<std::string> normalize_uid(std::string_view text) {
  std::string out;
  out.reserve(20);
  std::size_t run = 0;  // hex digits since the last separator
  for (char c : text) {
    if (is_hex(c)) {
      out += static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
      ++run;
      if (out.size() > 20) return std::nullopt;
    } else if (c == ':' || c == '-' || c == ' ') {
      // Separators only between whole bytes.
      if (run == 0 || run % 2 != 0) return std::nullopt;
      run = 0;
    } else {
      return std::nullopt;
    }
  }
  if (run == 0 || out.size() % 2 != 0 || out.size() < 8) return std::nullopt;
  return out;
}

bool valid_person_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '@' || c == '+' || c == '-'; });
}

bool valid_role_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::optional<std::vector<std::string>> split_roles(std::string_view text, std::string* error) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find(';', start);
    const std::string_view name = text.substr(start, end == std::string_view::npos ? end : end - start);
    if (!valid_role_name(name)) {
      if (error != nullptr) {
        *error = name.empty() ? "empty role name in '" + shown(text) + "'"
                              : "role '" + shown(name) + "': expected 1-64 characters of A-Z a-z 0-9 . _ -";
      }
      return std::nullopt;
    }
    if (std::find(out.begin(), out.end(), name) != out.end()) {
      if (error != nullptr) *error = "role '" + std::string(name) + "' listed twice";
      return std::nullopt;
    }
    out.emplace_back(name);
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

std::optional<core::Instant> parse_validity(std::string_view s, bool until, std::string* error) {
  auto bad = [&](const char* why) -> std::optional<core::Instant> {
    if (error != nullptr) *error = "'" + shown(s) + "': " + why;
    return std::nullopt;
  };
  int y = 0, mo = 0, d = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d)) {
    return bad("expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.fff]] with Z or +HH:MM");
  }
  if (mo < 1 || mo > 12 || d < 1) return bad("no such date");
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kDays[mo - 1] + (mo == 2 && leap ? 1 : 0)) return bad("no such date");
  const std::int64_t day = core::days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  if (s.size() == 10) {
    const std::int64_t ms = day * 86'400'000 + (until ? 86'399'999 : 0);
    return core::Instant{core::Duration{ms}};
  }
  int hh = 0, mm = 0, ss = 0, frac = 0;
  std::size_t p = 10;
  if (s[p] != 'T' || !digits(s, p + 1, 2, hh) || p + 3 >= s.size() || s[p + 3] != ':' || !digits(s, p + 4, 2, mm)) {
    return bad("expected YYYY-MM-DDTHH:MM[:SS[.fff]] with Z or +HH:MM");
  }
  p += 6;
  if (p < s.size() && s[p] == ':') {
    if (!digits(s, p + 1, 2, ss)) return bad("bad seconds");
    p += 3;
    if (p < s.size() && s[p] == '.') {
      if (!digits(s, p + 1, 3, frac)) return bad("fractions must have 3 digits (milliseconds)");
      p += 4;
    }
  }
  if (hh > 23 || mm > 59 || ss > 59) return bad("no such time of day");
  int offset_min = 0;
  if (p < s.size() && s[p] == 'Z') {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int oh = 0, om = 0;
    if (!digits(s, p + 1, 2, oh) || p + 3 >= s.size() || s[p + 3] != ':' || !digits(s, p + 4, 2, om) || oh > 23 ||
        om > 59) {
      return bad("bad UTC offset (expected +HH:MM)");
    }
    offset_min = (s[p] == '-' ? -1 : 1) * (oh * 60 + om);
    p += 6;
  } else {
    return bad("a time needs Z or a UTC offset (+HH:MM)");
  }
  if (p != s.size()) return bad("unexpected characters after the time");
  const std::int64_t ms = day * 86'400'000 + (hh * 3600 + mm * 60 + ss) * 1000LL + frac - offset_min * 60'000LL;
  return core::Instant{core::Duration{ms}};
}

BadgeCsvParser::BadgeCsvParser(std::istream& in, const core::Policy* policy) : in_(in), policy_(policy) {}

void BadgeCsvParser::error(std::size_t line, std::string reason) {
  if (errors_.size() >= kMaxErrors) {
    stopped_ = true;
    return;
  }
  errors_.push_back(CsvError{line, std::move(reason)});
  if (errors_.size() == kMaxErrors) {
    errors_.push_back(CsvError{line, "too many errors; reading stopped"});
    stopped_ = true;
  }
}

bool BadgeCsvParser::read_record(std::vector<std::string>& fields, std::size_t& start_line, std::string& err) {
  std::streambuf* sb = in_.rdbuf();
  fields.clear();
  err.clear();
  start_line = line_;
  if (sb == nullptr) return false;
  int c = sb->sbumpc();
  if (Traits::eq_int_type(c, Traits::eof())) return false;
  std::string field;
  bool in_quotes = false;
  bool quoted = false;  // the current field was quoted and its closing quote seen
  auto fail = [&](std::string why) {
    err = std::move(why);
    // Resynchronise at the next line end.
    while (!Traits::eq_int_type(c, Traits::eof()) && c != '\n') c = sb->sbumpc();
    if (c == '\n') ++line_;
    return true;
  };
  for (;; c = sb->sbumpc()) {
    if (field.size() > kMaxFieldBytes) return fail("field longer than " + std::to_string(kMaxFieldBytes) + " bytes");
    if (Traits::eq_int_type(c, Traits::eof())) {
      if (in_quotes) {
        err = "unterminated quoted field (starts on line " + std::to_string(start_line) + ")";
        return true;
      }
      fields.push_back(std::move(field));
      return true;
    }
    const char ch = Traits::to_char_type(c);
    if (in_quotes) {
      if (ch == '"') {
        if (sb->sgetc() == '"') {
          sb->sbumpc();
          field += '"';
        } else {
          in_quotes = false;
          quoted = true;
        }
      } else {
        if (ch == '\n') ++line_;
        field += ch;
      }
      continue;
    }
    if (ch == ',') {
      fields.push_back(std::move(field));
      field.clear();
      quoted = false;
    } else if (ch == '\n' || ch == '\r') {
      if (ch == '\r' && sb->sgetc() == '\n') sb->sbumpc();
      ++line_;
      fields.push_back(std::move(field));
      return true;
    } else if (ch == '"') {
      if (!field.empty() || quoted) return fail("stray quote inside a field");
      in_quotes = true;
    } else {
      if (quoted) return fail("characters after a closing quote");
      field += ch;
    }
    if (fields.size() > 64) return fail("too many fields");
  }
}

bool BadgeCsvParser::validate(const std::vector<std::string>& f, std::size_t line, CsvBadge& out) {
  if (f.size() != 6) {
    error(line, "expected 6 fields (" + std::string(kCsvHeader) + "), found " + std::to_string(f.size()));
    return false;
  }
  auto uid = normalize_uid(f[0]);
  if (!uid) {
    error(line, "uid '" + shown(f[0]) + "': expected 4 to 10 bytes in hex (8 to 20 hex digits)");
    return false;
  }
  if (!valid_person_id(f[1])) {
    error(line, "person '" + shown(f[1]) + "': expected 1-128 characters of A-Z a-z 0-9 . _ @ + -");
    return false;
  }
  std::string why;
  auto roles = split_roles(f[2], &why);
  if (!roles) {
    error(line, "roles: " + why);
    return false;
  }
  if (policy_ != nullptr) {
    for (const auto& r : *roles) {
      if (!policy_->role_index(r)) {
        error(line, "roles: unknown role '" + r + "'");
        return false;
      }
    }
  }
  auto kind = core::credential_from_string(f[3]);
  if (!kind) {
    error(line, "kind '" + shown(f[3]) + "': expected uid or desfire");
    return false;
  }
  std::optional<core::Instant> from;
  std::optional<core::Instant> until;
  if (!f[4].empty()) {
    from = parse_validity(f[4], false, &why);
    if (!from) {
      error(line, "valid_from " + why);
      return false;
    }
  }
  if (!f[5].empty()) {
    until = parse_validity(f[5], true, &why);
    if (!until) {
      error(line, "valid_until " + why);
      return false;
    }
  }
  if (from && until && *until < *from) {
    error(line, "valid_until precedes valid_from");
    return false;
  }
  out.line = line;
  out.uid = std::move(*uid);
  out.person = f[1];
  out.roles = std::move(*roles);
  out.kind = *kind;
  out.valid_from = from;
  out.valid_until = until;
  return true;
}

bool BadgeCsvParser::next(CsvBadge& out) {
  std::string err;
  std::size_t line = 0;
  while (!stopped_) {
    if (!header_done_) {
      header_done_ = true;
      // An export from a spreadsheet may start with a UTF-8 byte order mark.
      std::streambuf* sb = in_.rdbuf();
      if (sb != nullptr && sb->sgetc() == 0xEF) {
        const char bom[3] = {static_cast<char>(0xEF), static_cast<char>(0xBB), static_cast<char>(0xBF)};
        for (char b : bom) {
          if (sb->sgetc() != Traits::to_int_type(b)) break;
          sb->sbumpc();
        }
      }
      if (!read_record(fields_, line, err)) {
        error(1, "empty file: expected the header " + std::string(kCsvHeader));
        stopped_ = true;
        return false;
      }
      std::string joined;
      for (std::size_t i = 0; i < fields_.size(); ++i) joined += (i ? "," : "") + fields_[i];
      if (!err.empty() || joined != kCsvHeader) {
        error(line, "expected the header " + std::string(kCsvHeader) + ", found '" + shown(joined) + "'");
        stopped_ = true;
        return false;
      }
      continue;
    }
    if (!read_record(fields_, line, err)) return false;
    if (err.empty() && fields_.size() == 1 && fields_[0].empty()) continue;  // blank line
    ++rows_seen_;
    if (!err.empty()) {
      error(line, err);
      continue;
    }
    if (validate(fields_, line, out)) return true;
  }
  return false;
}

}  // namespace zonegate::adapters::credentials
