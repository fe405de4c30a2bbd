// SPDX-License-Identifier: Apache-2.0
/// @file
/// The gateway's local badge database (SQLite): who holds which badge, with which roles, valid
/// when. The daemon resolves every badge read here (lookup: one prepared statement on the primary
/// key, microseconds at millions of badges); administrators enrol, revoke and import; the upstream
/// pull applies versioned change batches atomically.
///
/// One CredentialStore is used from one thread.
#pragma once

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

#include "adapters/credentials/credential_csv.hpp"
#include "core/policy.hpp"
#include "core/types.hpp"

namespace zonegate::adapters::credentials {

enum class Errc : std::uint8_t {
  not_found,         ///< no such badge or person
  conflict,          ///< the badge exists already, or a change batch is not newer than the store
  invalid_argument,  ///< malformed uid, person id, role name or validity
  disk_full,
  io_error,
  corrupt,
  busy,
  internal,
};
std::string_view to_string(Errc e);

struct Error {
  Errc code = Errc::internal;
  std::string message;
};

/// A value or an Error; no exceptions after open.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit by design
  [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  [[nodiscard]] T& value() & { return std::get<0>(state_); }
  [[nodiscard]] const T& value() const& { return std::get<0>(state_); }
  [[nodiscard]] const Error& error() const { return std::get<1>(state_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, Error> state_;
};

struct Done {};

struct Person {
  std::string id;
  std::string name;                ///< display name, may be empty
  std::vector<std::string> roles;  ///< role names as in zones.yaml
};

struct Badge {
  std::string uid;     ///< canonical (normalize_uid)
  std::string person;  ///< Person::id
  core::CredentialKind kind = core::CredentialKind::uid;
  std::optional<core::Instant> valid_from;
  std::optional<core::Instant> valid_until;  ///< inclusive
  bool revoked = false;
  core::Instant updated_at{};
  std::int64_t version = 0;  ///< upstream batch version that last wrote it; 0 = a local change
};

/// A person as listed for administrators, with how many badges they hold.
struct PersonInfo {
  Person person;
  core::Instant updated_at{};
  std::int64_t version = 0;         ///< upstream batch version that last wrote it; 0 = a local change
  std::uint32_t badges = 0;         ///< every badge of the person, revoked and expired included
  std::uint32_t active_badges = 0;  ///< not revoked and valid at the `now` of the listing
};

/// A badge with its holder's name and roles.
struct BadgeInfo {
  Badge badge;
  std::string name;
  std::vector<std::string> roles;
};

/// Maps role names to the policy's role bits; names the policy does not know grant nothing and
/// are appended to *unknown (if given).
core::RoleMask role_mask(std::span<const std::string> names, const core::Policy& policy,
                         std::vector<std::string>* unknown = nullptr);

struct ImportReport {
  bool applied = false;          ///< true: every row was applied; false: nothing was
  std::size_t rows = 0;          ///< data rows read
  std::size_t added = 0;         ///< new badges
  std::size_t updated = 0;       ///< existing badges replaced (a revoked badge stays revoked)
  std::vector<CsvError> errors;  ///< line and reason of every rejected row (or the store error)
};

/// Upstream change batch members.
struct RemovePerson {
  std::string id;  ///< removes the person and all their badges
};
struct RemoveBadge {
  std::string uid;
};
using Change = std::variant<Person, Badge, RemovePerson, RemoveBadge>;

struct ListOptions {
  std::optional<std::string> person;
  std::optional<std::string> after_uid;  ///< keyset paging in uid order
  std::uint32_t limit = 1000;
};

class CredentialStore {
 public:
  /// Opens (creating on first use) the database file. `cache_kib`: SQLite page cache; lookups stay
  /// in memory when it holds the badges table (about 60 bytes per badge).
  static Result<std::unique_ptr<CredentialStore>> open(const std::filesystem::path& db_file,
                                                       std::int64_t cache_kib = 64 * 1024);
  ~CredentialStore();
  CredentialStore(const CredentialStore&) = delete;
  CredentialStore& operator=(const CredentialStore&) = delete;

  /// The holder of a badge for the engine, roles resolved against `policy`; nullopt for an unknown
  /// badge — and, failing secure, when the database cannot be read (see last_error()).
  std::optional<core::Holder> lookup(std::string_view uid, const core::Policy& policy);
  /// The same badge with role names and the holder's name.
  std::optional<BadgeInfo> find(std::string_view uid);
  /// The error behind the last nullopt of lookup()/find() that was not "unknown badge".
  [[nodiscard]] const std::optional<Error>& last_error() const { return last_error_; }

  /// Creates or replaces a person (their badges stay).
  Result<Done> put_person(const Person& person, core::Instant now);
  /// Enrols a new badge of an existing person; conflict if the uid is enrolled already.
  Result<Done> add(const Badge& badge, core::Instant now);
  /// Revokes a badge; not_found if unknown. Revoking twice is fine.
  Result<Done> revoke(std::string_view uid, core::Instant now);
  Result<std::vector<BadgeInfo>> list(const ListOptions& options = {});
  /// Sets a badge's validity (both ends; nullopt = unbounded) in one statement. not_found if the
  /// badge is unknown, invalid_argument if `valid_until` precedes `valid_from`. The holder, the kind
  /// and a revocation are kept; the badge becomes a local change (version 0).
  Result<Done> set_badge_validity(std::string_view uid, std::optional<core::Instant> valid_from,
                                  std::optional<core::Instant> valid_until, core::Instant now);
  /// People in id order after `after_id` (empty: from the first), at most `limit` (1 to 10000), with
  /// their badge counts (`now` decides which are active). Keyset paging on the primary key: each
  /// page costs the same however many people and badges there are.
  Result<std::vector<PersonInfo>> list_people(std::string_view after_id, std::uint32_t limit, core::Instant now);

  /// Imports a badge CSV (format in credential_csv.hpp) in one transaction: every row is applied,
  /// or — if any row is bad (reported with its line) — none. Each row creates or updates its person
  /// (roles replaced; rows of one person must agree on the roles) and its badge (a revoked badge
  /// stays revoked). With a policy, unknown role names are errors.
  ImportReport import_csv(std::istream& in, core::Instant now, const core::Policy* policy = nullptr);

  /// Applies an upstream batch atomically; `version` must be greater than version().
  Result<Done> apply_changes(std::span<const Change> batch, std::int64_t version, core::Instant now);
  /// Version of the last applied upstream batch (0: none).
  [[nodiscard]] std::int64_t version() const { return version_; }

  class Impl;

 private:
  explicit CredentialStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::optional<Error> last_error_;
  std::int64_t version_ = 0;
};

}  // namespace zonegate::adapters::credentials
