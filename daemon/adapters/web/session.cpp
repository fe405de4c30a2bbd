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

bool SessionTable::expired(const Session& s, core::Instant now) const {
  return now - s.last_seen >= limits_.idle || now - s.created_at >= limits_.absolute;
}

Result<Session> SessionTable::create(std::string_view operator_name, Role role, core::Instant now) {
  auto id = new_token();
  auto csrf = new_token();
  if (!id || !csrf) return Error{Errc::crypto, "the random generator failed"};
  if (sessions_.size() >= limits_.max_sessions) expire(now);
  while (sessions_.size() >= limits_.max_sessions) {
    // Linear scan: at most max_sessions entries, and only when the table is full of live sessions.
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second.last_seen < b.second.last_seen;
    });
    sessions_.erase(oldest);
  }
  Session s{*id, *csrf, std::string(operator_name), role, now, now};
  sessions_.emplace(key_of(s.id), s);
  return s;
}

std::optional<Session> SessionTable::lookup(std::string_view id, core::Instant now) {
  if (!token_shaped(id)) return std::nullopt;
  const auto it = sessions_.find(key_of(id));
  if (it == sessions_.end()) return std::nullopt;
  if (expired(it->second, now)) {
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.last_seen = std::max(it->second.last_seen, now);
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
  return std::erase_if(sessions_, [&](const auto& kv) { return expired(kv.second, now); });
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
