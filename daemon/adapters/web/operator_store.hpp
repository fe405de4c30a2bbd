// SPDX-License-Identifier: Apache-2.0
/// @file
/// Console operators in SQLite (`<state-dir>/operators.db`, created mode 0600): name, role, scrypt
/// password hash (password_hash.hpp), and the lockout state. `zonegate operator …` edits it; the
/// daemon's console authenticates against it. Time is always an argument: the store never reads a
/// clock.
///
/// One OperatorStore is used from one thread; several processes may share the file (WAL).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/web/password_hash.hpp"
#include "adapters/web/result.hpp"
#include "adapters/web/roles.hpp"
#include "core/types.hpp"

namespace zonegate::adapters::web {

/// The file name of the operator database inside the state directory.
inline constexpr const char* kOperatorDbFile = "operators.db";

struct Operator {
  std::string name;
  Role role = Role::guard;
  core::Instant created_at{};
  bool disabled = false;
  std::uint32_t failed_count = 0;             ///< consecutive failed logins since the last success or lock
  std::optional<core::Instant> locked_until;  ///< logins refused before this instant
  std::optional<core::Instant> last_login;
};

/// Lockout: `max_failures` consecutive failed logins lock the account for `lock_for`.
struct LockoutPolicy {
  std::uint32_t max_failures = 5;
  core::Duration lock_for = std::chrono::minutes(15);
};

struct OperatorStoreOptions {
  ScryptParams kdf;  ///< for new hashes; stored hashes are verified with their own parameters
  LockoutPolicy lockout;
};

enum class AuthOutcome : std::uint8_t {
  ok,
  bad_credentials,  ///< wrong password or unknown name (indistinguishable by design)
  locked,           ///< too many failures; refused without checking the password until locked_until
  disabled,         ///< the account is disabled (the password is still hashed, its correctness not told)
};
std::string_view to_string(AuthOutcome outcome);

struct AuthResult {
  AuthOutcome outcome = AuthOutcome::bad_credentials;
  std::optional<Role> role;                   ///< set when ok
  std::optional<core::Instant> locked_until;  ///< set when locked (also when this failure locked it)
};

class OperatorStore {
 public:
  /// Opens (creating on first use, mode 0600) the database file. A file with group or other access
  /// bits is tightened to 0600.
  static Result<std::unique_ptr<OperatorStore>> open(const std::filesystem::path& db_file,
                                                     const OperatorStoreOptions& options = {});
  ~OperatorStore();
  OperatorStore(const OperatorStore&) = delete;
  OperatorStore& operator=(const OperatorStore&) = delete;

  /// Creates an operator. Errors: invalid_argument (name), weak_password (policy; message says
  /// why), conflict (the name exists).
  Result<Done> add(std::string_view name, Role role, std::string_view password, core::Instant now);
  /// Replaces the password (same policy as add) and clears a lockout.
  Result<Done> set_password(std::string_view name, std::string_view password, core::Instant now);
  Result<Done> set_role(std::string_view name, Role role, core::Instant now);
  /// A disabled operator cannot log in. Disabling twice is fine.
  Result<Done> disable(std::string_view name, core::Instant now);
  /// Enables the operator and clears a lockout.
  Result<Done> enable(std::string_view name, core::Instant now);

  /// The operator, or nullopt if there is none of that name.
  Result<std::optional<Operator>> find(std::string_view name);
  /// All operators in name order.
  Result<std::vector<Operator>> list();

  /// Checks a login. Unknown names cost the same scrypt work (a dummy hash with the current
  /// parameters) and the same kind of database write as a known name, and answer bad_credentials.
  /// A wrong password counts a failure; the max_failures-th locks the account until now + lock_for
  /// (a lock that has run out is cleared at the next attempt). Success clears the count and records
  /// last_login. A hash made with older parameters is upgraded on success.
  Result<AuthResult> authenticate(std::string_view name, std::string_view password, core::Instant now);

  class Impl;

 private:
  explicit OperatorStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace zonegate::adapters::web
