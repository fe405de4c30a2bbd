// SPDX-License-Identifier: Apache-2.0
/// @file
/// The gateway's Ed25519 checkpoint signing key pair (OpenSSL EVP): created once in the state
/// directory, private key mode 0600, public key beside it. Internal to the audit adapter.
#pragma once

#include <openssl/types.h>

#include <array>
#include <filesystem>
#include <memory>
#include <string_view>

#include "adapters/audit/audit_store.hpp"

namespace zonegate::adapters::audit {

inline constexpr std::string_view kPrivateKeyFile = "audit-signing.key";
inline constexpr std::string_view kPublicKeyFile = "audit-signing.pub";

using Signature = std::array<std::uint8_t, 64>;

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

/// An Ed25519 public key and its id (SHA-256 of the 32 raw key bytes).
class PublicKey {
 public:
  static Result<PublicKey> load(const std::filesystem::path& pem_file);
  static Result<PublicKey> from_pkey(EVP_PKEY* key);  ///< shares a reference to `key`
  [[nodiscard]] bool verify(std::string_view message, const Signature& sig) const;
  [[nodiscard]] const Hash& id() const { return id_; }
  [[nodiscard]] const std::array<std::uint8_t, 32>& raw() const { return raw_; }

 private:
  std::shared_ptr<EVP_PKEY> key_;  // shared: copies of a public key are cheap
  Hash id_{};
  std::array<std::uint8_t, 32> raw_{};
};

/// The private key. load_or_create() generates it on first use with open(O_CREAT|O_EXCL, 0600)
/// (written to a temporary name, fsync'd, then linked into place so a crash never leaves a
/// half-written key), and refuses an existing key file that group or others may read.
class SigningKey {
 public:
  static Result<SigningKey> load_or_create(const std::filesystem::path& dir);
  Result<Signature> sign(std::string_view message) const;
  [[nodiscard]] const PublicKey& public_key() const { return public_; }

 private:
  PkeyPtr key_;
  PublicKey public_;
};

}  // namespace zonegate::adapters::audit
