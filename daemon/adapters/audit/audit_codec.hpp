// SPDX-License-Identifier: Apache-2.0
/// @file
/// The canonical, length-prefixed encoding of audit records and checkpoints, and the SHA-256 values
/// computed over it (docs/audit.md, "Hash encoding"). Internal to the audit adapter; the tests use
/// it to check the documented layout.
#pragma once

#include <openssl/types.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "adapters/audit/audit_store.hpp"

namespace zonegate::adapters::audit::codec {

inline constexpr std::size_t kSaltSize = 16;
using Salt = std::array<std::uint8_t, kSaltSize>;

/// Domain-separation prefixes (each ends with a NUL byte, which no field length can mimic).
inline constexpr std::string_view kRecordTag{"zonegate-audit-record-v1\0", 25};
inline constexpr std::string_view kPersonalTag{"zonegate-audit-personal-v1\0", 27};
inline constexpr std::string_view kCheckpointTag{"zonegate-audit-checkpoint-v1\0", 29};

/// The hashed fields of one record. Views: the caller keeps the bytes alive. An absent field is
/// the empty string (stored as NULL).
struct Fields {
  Seq seq = 0;
  std::int64_t time_ms = 0;
  std::string_view kind;
  std::string_view event;
  std::string_view door;
  std::string_view zone;
  std::string_view direction;
  std::string_view verdict;
  std::string_view reason;
  std::string_view alarm;
  std::string_view severity;
  std::string_view source;
  std::int64_t ref = 0;
  // Personal part: enters the record hash only through personal_digest().
  std::string_view person;
  std::string_view badge;
  std::string_view detail;

  [[nodiscard]] bool has_personal() const { return !person.empty() || !badge.empty() || !detail.empty(); }
};

/// A reusable SHA-256 context (one EVP_MD fetched once, one EVP_MD_CTX reused: no allocation per
/// digest).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  /// False only if OpenSSL fails (out of memory).
  bool digest(std::string_view data, Hash& out);
  [[nodiscard]] bool valid() const { return md_ != nullptr && ctx_ != nullptr; }

 private:
  EVP_MD* md_ = nullptr;
  EVP_MD_CTX* ctx_ = nullptr;
};

/// Builds encodings into one reused buffer and hashes them.
class Encoder {
 public:
  /// SHA-256(kPersonalTag ‖ salt ‖ str(person) ‖ str(badge) ‖ str(detail)); all-zero when the
  /// record has no personal data.
  bool personal_digest(const Fields& f, std::span<const std::uint8_t, kSaltSize> salt, Hash& out);
  /// SHA-256(kRecordTag ‖ u64(seq) ‖ i64(time_ms) ‖ str(kind) ‖ str(event) ‖ str(door) ‖ str(zone) ‖
  /// str(direction) ‖ str(verdict) ‖ str(reason) ‖ str(alarm) ‖ str(severity) ‖ str(source) ‖
  /// i64(ref) ‖ personal_digest ‖ prev_hash); integers big-endian, str(s) = u32(len) ‖ bytes.
  bool record_hash(const Fields& f, const Hash& personal, const Hash& prev, Hash& out);
  /// The exact bytes record_hash() digests (for tests and docs).
  const std::string& encode_record(const Fields& f, const Hash& personal, const Hash& prev);
  [[nodiscard]] bool valid() const { return sha_.valid(); }

 private:
  std::string buf_;
  Sha256 sha_;
};

/// The bytes an Ed25519 checkpoint signature covers:
/// kCheckpointTag ‖ str(gateway_id) ‖ u64(seq) ‖ hash ‖ i64(time_ms).
std::string checkpoint_message(std::string_view gateway_id, Seq seq, const Hash& hash, std::int64_t time_ms);

}  // namespace zonegate::adapters::audit::codec
