// SPDX-License-Identifier: Apache-2.0
/// @file
/// Operator password hashing with scrypt (OpenSSL 3), stored as a self-describing string
/// `scrypt$LOG2N$R$P$<base64 salt>$<base64 key>` so the cost can be raised later: a stored hash is
/// verified with its own parameters, and `needs_rehash()` tells when it is below the current ones.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/web/result.hpp"

namespace zonegate::adapters::web {

/// scrypt cost. The default (N = 2^15, r = 8, p = 1) takes 32 MiB per hash.
struct ScryptParams {
  std::uint8_t log2_n = 15;
  std::uint32_t r = 8;
  std::uint32_t p = 1;
  friend bool operator==(const ScryptParams&, const ScryptParams&) = default;
};

inline constexpr std::size_t kSaltBytes = 16;
inline constexpr std::size_t kKeyBytes = 32;
/// Longest password accepted (bytes); bounds the work an anonymous login request can cause.
inline constexpr std::size_t kMaxPasswordBytes = 1024;
/// Shortest password accepted (characters, UTF-8 code points).
inline constexpr std::size_t kMinPasswordChars = 12;

/// A parsed stored hash.
struct PasswordHash {
  ScryptParams params;
  std::string salt;  ///< raw bytes
  std::string key;   ///< raw bytes
};

/// Hashes `password` with a fresh random salt. Errors: crypto (RNG or KDF failure), invalid_argument
/// (parameters out of the accepted range).
Result<std::string> hash_password(std::string_view password, const ScryptParams& params = {});

/// Parses a stored hash; nullopt if it is not in the format above or its parameters are outside the
/// accepted range (log2 N 10..20, r 1..32, p 1..16), which also bounds the memory a tampered row
/// could make verification take.
std::optional<PasswordHash> parse_password_hash(std::string_view encoded);

/// True if `password` matches `encoded`. The key comparison is constant-time (CRYPTO_memcmp); the
/// time taken depends on the stored parameters only. False for a malformed hash.
bool verify_password(std::string_view password, std::string_view encoded);

/// True if `encoded` was made with parameters other than `current` (or is malformed).
bool needs_rehash(std::string_view encoded, const ScryptParams& current);

/// Operator names: 1-64 of a-z 0-9 . _ -
bool valid_operator_name(std::string_view name) noexcept;

/// The password policy: at least kMinPasswordChars characters, at most kMaxPasswordBytes bytes,
/// valid UTF-8 without control characters, and not the operator's name (ignoring ASCII case).
/// Returns why a password is refused, or nullopt if it is acceptable.
std::optional<std::string> password_policy_violation(std::string_view name, std::string_view password);

}  // namespace zonegate::adapters::web
