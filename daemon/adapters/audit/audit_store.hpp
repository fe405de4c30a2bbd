// SPDX-License-Identifier: Apache-2.0
/// @file
/// The gateway's tamper-evident audit trail: an append-only SQLite database (WAL, synchronous=FULL)
/// whose records form a SHA-256 hash chain, with Ed25519-signed checkpoints. Schema, hash encoding,
/// checkpoint format and the retention design are documented in docs/audit.md.
///
/// One AuditStore is used from one thread (the daemon's event loop); several processes may open the
/// same database (the daemon appends, the CLI queries, verifies and purges).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/events.hpp"
#include "core/policy.hpp"
#include "core/types.hpp"

namespace zonegate::adapters::audit {

/// Sequence number of a record: 1, 2, 3 … without gaps.
using Seq = std::uint64_t;
/// A SHA-256 value.
using Hash = std::array<std::uint8_t, 32>;

/// What went wrong, coarse enough for the daemon to act on: every error makes it fail secure, and
/// `disk_full` / `io_error` raise distinct alarms.
enum class Errc : std::uint8_t {
  disk_full,         ///< SQLITE_FULL: the file system is full
  io_error,          ///< SQLITE_IOERR*, SQLITE_CANTOPEN: the disk or the file system failed
  corrupt,           ///< SQLITE_CORRUPT, SQLITE_NOTADB
  busy,              ///< another process held the write lock past the busy timeout
  refused,           ///< the schema refused the change (append-only trigger, broken chain, constraint)
  read_only,         ///< the store or the database file is read-only
  signing_key,       ///< the signing key is missing, unreadable, too widely readable, or does not match
  invalid_argument,  ///< the caller passed something meaningless (e.g. a purge cutoff in the future)
  internal,          ///< anything else (out of memory, misuse)
};
std::string_view to_string(Errc e);

struct Error {
  Errc code = Errc::internal;
  std::string message;
};

/// A value or an Error. The hot path returns these instead of throwing.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit by design
  [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  [[nodiscard]] T& value() & { return std::get<0>(state_); }
  [[nodiscard]] const T& value() const& { return std::get<0>(state_); }
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(state_)); }
  [[nodiscard]] const Error& error() const { return std::get<1>(state_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, Error> state_;
};

/// What a record is about. Decisions, alarms and notes come from the engine (core::Record); the
/// other kinds are adapter facts appended with append_entries(). `retention` is written only by
/// purge_personal_data().
enum class EntryKind : std::uint8_t { operator_action, config, reader, export_, system };
std::string_view to_string(EntryKind k);  ///< "operator", "config", "reader", "export", "system"

/// A flat record for facts that are not engine output: operator actions (login, badge enrolment,
/// acknowledgements), config reloads, reader state changes, auditors' exports.
struct Entry {
  core::Instant at;
  EntryKind kind = EntryKind::system;
  std::string event;   ///< what happened, e.g. "badge_add", "reload", "reload_rejected", "offline"
  std::string person;  ///< the operator acting, or the person concerned (personal data)
  std::string badge;   ///< a badge concerned (personal data)
  std::string door;
  std::string zone;
  std::string source;  ///< reader id, console session, or for `config` the policy hash ("sha256:…")
  std::string detail;  ///< free text (personal data: redacted by retention together with person)
};

/// One stored record, as queries and exports return it. Absent fields are empty strings.
struct Row {
  Seq seq = 0;
  core::Instant at;
  std::string kind;  ///< decision, alarm, note, operator, config, reader, export, system, retention
  std::string event;
  std::string person;
  std::string badge;
  std::string door;
  std::string zone;
  std::string direction;
  std::string verdict;
  std::string reason;
  std::string alarm;
  std::string severity;
  std::string source;
  std::int64_t ref = 0;  ///< decision: request id; retention: cutoff (ms since epoch); else 0
  std::string detail;
  Seq purged_by = 0;  ///< non-zero: personal fields were redacted by the retention record with this seq
  Hash prev_hash{};
  Hash hash{};
};

/// Text of the redacted personal fields.
inline constexpr std::string_view kTombstone = "<purged>";

/// Query filter; every set field must match exactly. Time range is [from, to).
struct Filter {
  std::optional<std::string> person;
  std::optional<std::string> badge;
  std::optional<std::string> door;
  std::optional<std::string> zone;
  std::optional<std::string> verdict;
  std::optional<std::string> reason;
  std::optional<std::string> kind;
  std::optional<std::string> event;
  std::optional<core::Instant> from;
  std::optional<core::Instant> to;
};

/// Where a page starts. Results are ordered by (time, seq), the order of every index, so no query
/// sorts; keyset paging continues after the last row of the previous page.
struct Cursor {
  core::Instant at;
  Seq seq = 0;
  static Cursor after(const Row& r) { return Cursor{r.at, r.seq}; }
};
struct Page {
  std::uint32_t limit = 1000;
  std::uint64_t offset = 0;     ///< simple paging; prefer `after` for deep pages
  std::optional<Cursor> after;  ///< keyset paging: rows strictly after this (time, seq)
};

/// Granted decisions of one zone in one hour (count_grants_by_hour_zone).
struct HourZoneCount {
  core::Instant hour;  ///< start of the hour (UTC)
  std::string zone;    ///< zone id as recorded; empty for decisions without a zone
  std::uint64_t count = 0;
};

/// Denied decisions with one reason (count_denials_by_reason).
struct ReasonCount {
  std::string reason;
  std::uint64_t count = 0;
};

/// A signed statement "gateway G had record `seq` with hash `hash` at `at`".
struct Checkpoint {
  Seq seq = 0;
  core::Instant at;
  Hash hash{};
  std::string gateway_id;
  Hash key_id{};  ///< SHA-256 of the raw Ed25519 public key that signed
  std::array<std::uint8_t, 64> signature{};
};

struct VerifyOptions {
  /// Public key (PEM) to check checkpoint signatures with; default: audit-signing.pub in the state dir.
  std::optional<std::filesystem::path> public_key;
  bool check_signatures = true;
  /// A checkpoint known from elsewhere (e.g. the central database): the log must contain it.
  std::optional<std::pair<Seq, Hash>> anchor;
  /// Threads checking ranges of records in parallel; 0: up to 4, one per core (logs under 200,000
  /// records are checked by one).
  unsigned threads = 0;
};

struct VerifyResult {
  bool ok = false;
  Seq records_checked = 0;
  Seq checkpoints_checked = 0;
  Seq last_seq = 0;
  Seq first_bad_seq = 0;  ///< 0 when ok (or when the fault is not tied to one record)
  std::string message;    ///< "ok: …" or the first fault, e.g. "record 1234: hash mismatch (edited?)"
};

struct PurgeReport {
  Seq retention_seq = 0;       ///< the record documenting the purge
  std::uint64_t redacted = 0;  ///< records whose personal fields were replaced by the tombstone
};

/// Test hook: make a future write or fsync of the database files fail (see Options::fault_injection).
struct Fault {
  enum class Kind : std::uint8_t { disk_full, io_error, fsync_error } kind = Kind::disk_full;
  std::uint64_t nth = 1;  ///< 1: the next write (or fsync) fails, 2: the one after, …
  bool sticky = false;    ///< keep failing every write (or fsync) from then on until cleared
};

struct Options {
  /// Holds the database and the signing key pair (audit-signing.key, audit-signing.pub).
  std::filesystem::path state_dir;
  std::string db_file = "audit.db";
  /// Signed into every checkpoint; a database created for one gateway refuses to open for another.
  std::string gateway_id;
  std::uint64_t checkpoint_every_records = 1000;             ///< N: checkpoint after this many records …
  core::Duration checkpoint_every{std::chrono::minutes(5)};  ///< … or M after the last one
  std::chrono::milliseconds busy_timeout{2000};
  std::int64_t cache_kib = 16 * 1024;
  /// Open without the private key, creating nothing: for verify, query and export.
  bool read_only = false;
  /// Route file I/O through a shim VFS whose writes can be made to fail (inject_fault).
  bool fault_injection = false;
};

class AuditStore {
 public:
  /// Opens (creating on first use) the database and the signing key pair in options.state_dir.
  /// The key is written with mode 0600 and refused later if group or others can read it.
  static Result<std::unique_ptr<AuditStore>> open(const Options& options);

  ~AuditStore();
  AuditStore(const AuditStore&) = delete;
  AuditStore& operator=(const AuditStore&) = delete;

  /// Appends the engine's records in one transaction, durable (fsync'd) on return. Names of doors
  /// and zones are taken from `policy`. Returns the seq of the last record (the current last seq
  /// for an empty span). Never throws.
  Result<Seq> append(std::span<const core::Record> records, const core::Policy& policy);
  /// Same, for adapter facts.
  Result<Seq> append_entries(std::span<const Entry> entries);

  /// Signs the current last record and stores the checkpoint. If the last record already has a
  /// checkpoint, returns that one.
  Result<Checkpoint> checkpoint(core::Instant now);
  /// True when at least one record is unsigned and N records or M time have passed since the last
  /// checkpoint (Options::checkpoint_every_records / checkpoint_every).
  [[nodiscard]] bool should_checkpoint(core::Instant now) const;
  /// Checkpoints in seq order (from `after_seq`, exclusive), e.g. to send upstream.
  Result<std::vector<Checkpoint>> checkpoints(Seq after_seq = 0, std::uint32_t limit = 1000);

  /// Recomputes the chain from seq 1, checks every checkpoint signature, and detects edited rows,
  /// gaps, broken links, redactions without a recorded purge, and a truncated tail.
  VerifyResult verify(const VerifyOptions& options = {});

  Result<std::vector<Row>> query(const Filter& filter, const Page& page);
  /// RFC 4180 CSV with a header line and CRLF line ends; text fields that a spreadsheet would run as
  /// a formula get a leading single quote (append_csv_export_field). Returns the number of rows
  /// written.
  Result<std::uint64_t> export_csv(const Filter& filter, std::ostream& out);
  /// One JSON object per line. Returns the number of rows written.
  Result<std::uint64_t> export_jsonl(const Filter& filter, std::ostream& out);

  /// Granted decisions in [from, to) counted per hour and zone, in (hour, zone) order; hours and
  /// zones without any are absent. One GROUP BY over the (verdict, time) index: no row leaves SQLite.
  Result<std::vector<HourZoneCount>> count_grants_by_hour_zone(core::Instant from, core::Instant to);
  /// Denied decisions in [from, to) counted per reason, in reason order. One GROUP BY over the
  /// (verdict, time) index.
  Result<std::vector<ReasonCount>> count_denials_by_reason(core::Instant from, core::Instant to);

  /// Replaces person, badge and detail of every record older than `older_than` that names a person
  /// or badge by the tombstone, keeping the chain verifiable, and appends a `retention` record
  /// (actor in its person field) that documents the purge. One transaction.
  Result<PurgeReport> purge_personal_data(core::Instant older_than, core::Instant now, std::string_view actor);

  [[nodiscard]] Seq last_seq() const;
  [[nodiscard]] Hash last_hash() const;
  [[nodiscard]] const std::string& gateway_id() const;
  [[nodiscard]] std::filesystem::path database_path() const;
  /// Key id (SHA-256 of the raw public key) of this gateway's signing key.
  [[nodiscard]] Hash key_id() const;

  /// Arms (or with nullopt disarms) a fault; needs Options::fault_injection, else returns false.
  bool inject_fault(std::optional<Fault> fault);
  /// How many injected faults have fired since open.
  [[nodiscard]] std::uint64_t faults_fired() const;

  class Impl;

 private:
  explicit AuditStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Hex text of a hash (lower case).
std::string to_hex(std::span<const std::uint8_t> bytes);

/// One RFC 4180 field: quoted (quotes doubled) if it holds a comma, quote, CR or LF.
void append_csv_field(std::string& out, std::string_view field);
/// One field of a CSV export meant for people and spreadsheets: as append_csv_field, but a field
/// starting with '=', '+', '-', '@', TAB or CR first gets a leading single quote, so that a
/// spreadsheet shows it as text instead of evaluating it as a formula (OWASP "CSV injection").
/// Not for CSV that a program reads back: the quote becomes part of the value.
void append_csv_export_field(std::string& out, std::string_view field);
/// A JSON string literal with quotes; control characters, quote, backslash, U+2028/U+2029 are
/// escaped and invalid UTF-8 becomes U+FFFD, so the output is always valid JSON and UTF-8.
void append_json_string(std::string& out, std::string_view text);

}  // namespace zonegate::adapters::audit
