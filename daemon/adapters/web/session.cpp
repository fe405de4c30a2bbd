// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/session.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>

#include "adapters/web/secure_random.hpp"

namespace zonegate::adapters::web {
namespace {

constexpr std::size_t kTokenBytes = 32;
// base64url of 32 bytes without padding.
constexpr std::size_t kTokenChars = 43;

bool token_shaped(std::string_view s) {
  return s.size() == kTokenChars && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
         });
}

std::optional<std::string> new_token() {
  std::array<std::uint8_t, kTokenBytes> bytes{};
  if (!random_bytes(bytes)) return std::nullopt;
  std::string out = base64url_encode(bytes);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return out;
}

}  // namespace

SessionTable::SessionTable(SessionLimits limits) : limits_(limits) {
  limits_.max_sessions = std::max<std::size_t>(limits_.max_sessions, 1);
}

SessionTable::Key SessionTable::key_of(std::string_view id) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(id.data()), id.size(), digest.data());
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

std::string_view to_string(SessionEnd e) {
  switch (e) {
    case SessionEnd::idle:
      return "idle";
    case SessionEnd::absolute:
      return "absolute";
    case SessionEnd::evicted:
      break;
  }
  return "evicted";
}

std::optional<SessionEnd> SessionTable::ended(const Session& s, core::Instant now) const {
  // The absolute end first: a session past both ends was not merely left idle.
  if (now - s.created_at >= limits_.absolute) return SessionEnd::absolute;
  if (now - s.last_seen >= limits_.idle) return SessionEnd::idle;
  return std::nullopt;
}

void SessionTable::notify(const std::vector<std::pair<Session, SessionEnd>>& ended_sessions) const {
  // Called once the table is consistent again, never from inside an iteration over it.
  if (!end_observer_) return;
  for (const auto& [s, why] : ended_sessions) end_observer_(s, why);
}

Result<Session> SessionTable::create(std::string_view operator_name, Role role, core::Instant now) {
  auto id = new_token();
  auto csrf = new_token();
  if (!id || !csrf) return Error{Errc::crypto, "the random generator failed"};
  if (sessions_.size() >= limits_.max_sessions) expire(now);
  std::vector<std::pair<Session, SessionEnd>> evicted;
  while (sessions_.size() >= limits_.max_sessions) {
    // Linear scan: at most max_sessions entries, and only when the table is full of live sessions.
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second.last_seen < b.second.last_seen;
    });
    evicted.emplace_back(std::move(oldest->second), SessionEnd::evicted);
    sessions_.erase(oldest);
  }
  Session s{*id, *csrf, std::string(operator_name), role, now, now};
  sessions_.emplace(key_of(s.id), s);
  notify(evicted);
  return s;
}

std::optional<Session> SessionTable::lookup(std::string_view id, core::Instant now) { return find(id, now, true); }

std::optional<Session> SessionTable::peek(std::string_view id, core::Instant now) { return find(id, now, false); }

std::optional<Session> SessionTable::find(std::string_view id, core::Instant now, bool refresh) {
  if (!token_shaped(id)) return std::nullopt;
  const auto it = sessions_.find(key_of(id));
  if (it == sessions_.end()) return std::nullopt;
  if (const auto why = ended(it->second, now)) {
    std::vector<std::pair<Session, SessionEnd>> gone;
    gone.emplace_back(std::move(it->second), *why);
    sessions_.erase(it);
    notify(gone);
    return std::nullopt;
  }
  if (refresh) it->second.last_seen = std::max(it->second.last_seen, now);
  return it->second;
}

bool SessionTable::destroy(std::string_view id) { return token_shaped(id) && sessions_.erase(key_of(id)) > 0; }

std::size_t SessionTable::destroy_operator(std::string_view operator_name) {
  return std::erase_if(sessions_, [&](const auto& kv) { return kv.second.operator_name == operator_name; });
}

std::vector<std::string> SessionTable::drop_if(const std::function<bool(const Session&)>& stale) {
  std::vector<std::string> names;
  std::erase_if(sessions_, [&](const auto& kv) {
    if (!stale(kv.second)) return false;
    if (std::find(names.begin(), names.end(), kv.second.operator_name) == names.end()) {
      names.push_back(kv.second.operator_name);
    }
    return true;
  });
  return names;
}

std::size_t SessionTable::expire(core::Instant now) {
  std::vector<std::pair<Session, SessionEnd>> gone;
  std::erase_if(sessions_, [&](const auto& kv) {
    const auto why = ended(kv.second, now);
    if (why) gone.emplace_back(kv.second, *why);
    return why.has_value();
  });
  notify(gone);
  return gone.size();
}

bool SessionTable::check_csrf(const Session& session, std::string_view token) {
  // The length is public (always 43); only the content is compared in constant time.
  if (token.size() != session.csrf_token.size() || session.csrf_token.empty()) return false;
  return CRYPTO_memcmp(token.data(), session.csrf_token.data(), token.size()) == 0;
}

std::string session_cookie(std::string_view session_id) {
  std::string out(kSessionCookie);
  out += '=';
  out += session_id;
  out += "; Path=/; Secure; HttpOnly; SameSite=Strict";
  return out;
}

std::string expired_session_cookie() {
  std::string out(kSessionCookie);
  out += "=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; SameSite=Strict";
  return out;
}

}  // namespace zonegate::adapters::web
