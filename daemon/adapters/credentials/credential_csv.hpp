// SPDX-License-Identifier: Apache-2.0
/// @file
/// The badge import CSV (RFC 4180) and the validation of badge, person and role identifiers. No
/// SQLite: the parser is fuzzed on its own (tests/fuzz/fuzz_csv_import.cpp).
///
/// Format: a header line `uid,person,roles,kind,valid_from,valid_until`, then one badge per line.
///  - uid: the card UID in hex, 4 to 10 bytes; `:`, `-` or spaces between bytes are allowed; stored
///    upper-case without separators (04:A2:2B:C1 -> 04A22BC1).
///  - person: 1–128 characters of [A-Za-z0-9._@+-].
///  - roles: role names separated by `;` (each 1–64 characters of [A-Za-z0-9._-]), may be empty.
///  - kind: `uid` or `desfire`.
///  - valid_from, valid_until: empty (unbounded), a date `YYYY-MM-DD` (UTC; from the start of the
///    day, until its last millisecond: both ends inclusive), or `YYYY-MM-DDTHH:MM[:SS[.fff]]` with
///    `Z` or `±HH:MM`. valid_until must not precede valid_from.
/// Fields may be quoted ("a,b" with "" for a quote). A UTF-8 byte order mark is ignored, CRLF and
/// LF line ends are accepted, blank lines are skipped.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy.hpp"
#include "core/types.hpp"

namespace zonegate::adapters::credentials {

inline constexpr std::string_view kCsvHeader = "uid,person,roles,kind,valid_from,valid_until";

/// Canonical UID text (upper-case hex, no separators), or nullopt if `text` is not 4–10 hex bytes.
std::optional<std::string> normalize_uid(std::string_view text);
[[nodiscard]] bool valid_person_id(std::string_view id);
[[nodiscard]] bool valid_role_name(std::string_view name);
/// Splits `a;b;c`; nullopt (with *error set) on an empty or invalid name or a duplicate.
std::optional<std::vector<std::string>> split_roles(std::string_view text, std::string* error);
/// Parses a validity bound (see the format above). `until`: a bare date means its last millisecond.
std::optional<core::Instant> parse_validity(std::string_view text, bool until, std::string* error);

/// One valid row.
struct CsvBadge {
  std::size_t line = 0;  ///< physical line where the row starts (the header is line 1)
  std::string uid;
  std::string person;
  std::vector<std::string> roles;
  core::CredentialKind kind = core::CredentialKind::uid;
  std::optional<core::Instant> valid_from;
  std::optional<core::Instant> valid_until;
};

struct CsvError {
  std::size_t line = 0;
  std::string reason;
};

/// Reads a badge CSV row by row from a stream (memory stays flat for millions of rows). Bad rows
/// are recorded in errors() and skipped; next() returns only valid rows.
class BadgeCsvParser {
 public:
  /// With a policy, role names must exist in it.
  explicit BadgeCsvParser(std::istream& in, const core::Policy* policy = nullptr);

  /// The next valid row; false at the end of input, after a bad header, or after kMaxErrors.
  bool next(CsvBadge& out);
  [[nodiscard]] const std::vector<CsvError>& errors() const { return errors_; }
  /// Rows read (valid or not), excluding the header and blank lines.
  [[nodiscard]] std::size_t rows_seen() const { return rows_seen_; }

  static constexpr std::size_t kMaxErrors = 1000;
  static constexpr std::size_t kMaxFieldBytes = 4096;

 private:
  /// One CSV record; false at end of input. Sets *error for a malformed record.
  bool read_record(std::vector<std::string>& fields, std::size_t& start_line, std::string& error);
  void error(std::size_t line, std::string reason);
  bool validate(const std::vector<std::string>& fields, std::size_t line, CsvBadge& out);

  std::istream& in_;
  const core::Policy* policy_;
  std::size_t line_ = 1;
  bool header_done_ = false;
  bool stopped_ = false;
  std::size_t rows_seen_ = 0;
  std::vector<std::string> fields_;
  std::vector<CsvError> errors_;
};

}  // namespace zonegate::adapters::credentials
