// SPDX-License-Identifier: Apache-2.0
/// @file
/// Console sessions, in memory: a random session id (the cookie) and a separate random CSRF token
/// per login, an idle timeout and an absolute lifetime, and a bound on how many exist. Time is an
/// argument. A daemon restart logs everyone out, which is the safe direction.
///
/// One SessionTable is used from one thread (the daemon's event loop).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "adapters/web/result.hpp"
#include "adapters/web/roles.hpp"
#include "core/types.hpp"

namespace zonegate::adapters::web {

/// The session cookie's name.
inline constexpr std::string_view kSessionCookie = "zg_session";

struct SessionLimits {
  core::Duration idle = std::chrono::minutes(15);    ///< ends a session not used for this long
  core::Duration absolute = std::chrono::hours(12);  ///< ends every session this long after login
  std::size_t max_sessions = 1000;                   ///< beyond this the least recently used is evicted
};

/// Why a session ended without a logout: what an audit record of the end says.
enum class SessionEnd : std::uint8_t {
  idle,      ///< no request that counts as use for SessionLimits::idle
  absolute,  ///< SessionLimits::absolute after login
  evicted,   ///< the table was full and this was the least recently used session
};
std::string_view to_string(SessionEnd e);  ///< "idle", "absolute", "evicted"

struct Session {
  std::string id;          ///< 32 random bytes, base64url (43 characters): the cookie value
  std::string csrf_token;  ///< another 32 random bytes, base64url: required on every state change
  std::string operator_name;
  Role role = Role::guard;
  core::Instant created_at{};
  core::Instant last_seen{};
};

class SessionTable {
 public:
  /// Told of every session the table ends by itself (expired or evicted), after it is removed,
  /// so that whoever holds something of it (a live socket) can let go. Must not use the table.
  using EndObserver = std::function<void(const Session&, SessionEnd)>;

  explicit SessionTable(SessionLimits limits = {});

  /// Sets the observer of sessions that end by expiry or eviction (not by destroy/drop_if).
  void set_end_observer(EndObserver observer) { end_observer_ = std::move(observer); }

  /// Starts a session (after a successful login). Expired sessions are dropped first; if the table
  /// is still full, the least recently used session is evicted. Error crypto if the random
  /// generator fails.
  Result<Session> create(std::string_view operator_name, Role role, core::Instant now);

  /// The live session with this id, its idle timer restarted at `now`; nullopt (and the session
  /// removed, the end observer told) if it is unknown, idle too long or past its absolute lifetime.
  std::optional<Session> lookup(std::string_view id, core::Instant now);
  /// As lookup(), but the idle timer keeps running: for requests the operator did not make (a
  /// page's background refresh), which must not keep an unattended console logged in.
  std::optional<Session> peek(std::string_view id, core::Instant now);

  /// Ends a session (logout); false if there was none.
  bool destroy(std::string_view id);
  /// Ends every session of an operator (disabled, password or role changed); returns how many.
  std::size_t destroy_operator(std::string_view operator_name);
  /// Drops expired sessions (telling the end observer of each); returns how many.
  std::size_t expire(core::Instant now);
  /// Ends every session for which `stale` is true (e.g. its operator was disabled or given another
  /// role from the command line); returns the operator names whose sessions ended.
  std::vector<std::string> drop_if(const std::function<bool(const Session&)>& stale);

  [[nodiscard]] std::size_t size() const { return sessions_.size(); }
  [[nodiscard]] const SessionLimits& limits() const { return limits_; }

  /// True if `token` is the session's CSRF token (constant-time comparison).
  static bool check_csrf(const Session& session, std::string_view token);

 private:
  /// Sessions are keyed by SHA-256 of the id, so that the map's comparisons and hashing — whose
  /// timing depends on the bytes compared — never run on the secret itself.
  using Key = std::string;
  static Key key_of(std::string_view id);
  [[nodiscard]] std::optional<SessionEnd> ended(const Session& s, core::Instant now) const;
  std::optional<Session> find(std::string_view id, core::Instant now, bool refresh);
  void notify(const std::vector<std::pair<Session, SessionEnd>>& ended_sessions) const;

  SessionLimits limits_;
  std::unordered_map<Key, Session> sessions_;
  EndObserver end_observer_;
};

/// `zg_session=<id>; Path=/; Secure; HttpOnly; SameSite=Strict` — no Max-Age: the browser drops it
/// when it closes; the server enforces the lifetimes.
std::string session_cookie(std::string_view session_id);
/// The Set-Cookie value that makes the browser delete the session cookie (logout).
std::string expired_session_cookie();

}  // namespace zonegate::adapters::web
