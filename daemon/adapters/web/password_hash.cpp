// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/password_hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <charconv>
#include <span>
#include <vector>

#include "adapters/web/secure_random.hpp"

namespace zonegate::adapters::web {
namespace {

constexpr std::string_view kScheme = "scrypt";

bool params_in_range(const ScryptParams& p) {
  return p.log2_n >= 10 && p.log2_n <= 20 && p.r >= 1 && p.r <= 32 && p.p >= 1 && p.p <= 16;
}

// OpenSSL refuses to use more than maxmem (default 32 MiB, just below what N = 2^15, r = 8 needs),
// so pass what these parameters need: B = 128·r·p and V = 128·r·(N + 2) bytes, plus slack.
std::uint64_t scrypt_memory(const ScryptParams& p) {
  const std::uint64_t n = std::uint64_t{1} << p.log2_n;
  return 128ULL * p.r * p.p + 128ULL * p.r * (n + 2) + (1ULL << 20);
}

bool derive(std::string_view password, std::span<const std::uint8_t> salt, const ScryptParams& p,
            std::span<std::uint8_t> key) {
  const char* pass = password.empty() ? "" : password.data();
  return EVP_PBE_scrypt(pass, password.size(), salt.data(), salt.size(), std::uint64_t{1} << p.log2_n, p.r, p.p,
                        scrypt_memory(p), key.data(), key.size()) == 1;
}

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

template <typename T>
bool parse_uint(std::string_view text, T& out) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

/// Decodes one UTF-8 sequence at s[i]; returns its length, 0 if malformed (overlong, surrogate,
/// beyond U+10FFFF, truncated). *cp receives the code point.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  std::uint32_t v = 0;
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    v = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    v = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    v = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3F);
  }
  static constexpr std::array<std::uint32_t, 5> kMin{0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

Result<std::string> hash_password(std::string_view password, const ScryptParams& params) {
  if (!params_in_range(params)) return Error{Errc::invalid_argument, "scrypt parameters out of range"};
  std::array<std::uint8_t, kSaltBytes> salt{};
  if (!random_bytes(salt)) return Error{Errc::crypto, "the random generator failed"};
  std::array<std::uint8_t, kKeyBytes> key{};
  if (!derive(password, salt, params, key)) return Error{Errc::crypto, "scrypt failed"};
  std::string out(kScheme);
  out += '$' + std::to_string(params.log2_n) + '$' + std::to_string(params.r) + '$' + std::to_string(params.p) + '$';
  out += base64_encode(salt);
  out += '$';
  out += base64_encode(key);
  OPENSSL_cleanse(key.data(), key.size());
  return out;
}

std::optional<PasswordHash> parse_password_hash(std::string_view encoded) {
  std::array<std::string_view, 6> parts{};
  std::size_t n = 0;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = encoded.find('$', start);
    if (n == parts.size()) return std::nullopt;
    parts[n++] = encoded.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (n != parts.size() || parts[0] != kScheme) return std::nullopt;
  PasswordHash h;
  unsigned log2_n = 0;
  if (!parse_uint(parts[1], log2_n) || !parse_uint(parts[2], h.params.r) || !parse_uint(parts[3], h.params.p)) {
    return std::nullopt;
  }
  if (log2_n > 255) return std::nullopt;
  h.params.log2_n = static_cast<std::uint8_t>(log2_n);
  if (!params_in_range(h.params)) return std::nullopt;
  auto salt = base64_decode(parts[4]);
  auto key = base64_decode(parts[5]);
  if (!salt || !key || salt->size() < 8 || salt->size() > 64 || key->size() < 16 || key->size() > 64) {
    return std::nullopt;
  }
  h.salt.assign(salt->begin(), salt->end());
  h.key.assign(key->begin(), key->end());
  return h;
}

bool verify_password(std::string_view password, std::string_view encoded) {
  const auto h = parse_password_hash(encoded);
  if (!h) return false;
  std::vector<std::uint8_t> key(h->key.size());
  if (!derive(password, bytes_of(h->salt), h->params, key)) return false;
  const bool same = CRYPTO_memcmp(key.data(), h->key.data(), key.size()) == 0;
  OPENSSL_cleanse(key.data(), key.size());
  return same;
}

bool needs_rehash(std::string_view encoded, const ScryptParams& current) {
  const auto h = parse_password_hash(encoded);
  return !h || !(h->params == current) || h->salt.size() != kSaltBytes || h->key.size() != kKeyBytes;
}

bool valid_operator_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> password_policy_violation(std::string_view name, std::string_view password) {
  if (password.size() > kMaxPasswordBytes) {
    return "the password is longer than " + std::to_string(kMaxPasswordBytes) + " bytes";
  }
  std::size_t chars = 0;
  for (std::size_t i = 0; i < password.size();) {
    std::uint32_t cp = 0;
    const std::size_t len = utf8_sequence(password, i, &cp);
    if (len == 0) return std::string("the password is not valid UTF-8");
    if (cp < 0x20 || cp == 0x7F) return std::string("the password contains a control character");
    i += len;
    ++chars;
  }
  if (chars < kMinPasswordChars) {
    return "the password is shorter than " + std::to_string(kMinPasswordChars) + " characters";
  }
  bool same = password.size() == name.size();
  for (std::size_t i = 0; same && i < name.size(); ++i) same = ascii_lower(password[i]) == ascii_lower(name[i]);
  if (same) return std::string("the password is the operator's name");
  return std::nullopt;
}

}  // namespace zonegate::adapters::web
