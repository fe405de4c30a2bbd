// SPDX-License-Identifier: Apache-2.0
#include "adapters/nfc/diversify.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace zonegate::adapters::nfc {
namespace {

using Block = std::array<std::uint8_t, 16>;

struct CipherFree {
  void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
  void operator()(EVP_MAC_CTX* m) const { EVP_MAC_CTX_free(m); }
};

[[noreturn]] void openssl_failed(const char* what) {
  throw std::runtime_error(std::string("AN10922 diversification: OpenSSL ") + what + " failed");
}

/// Wipes a secret on every path out of the function.
template <std::size_t N>
struct Scrubbed {
  std::array<std::uint8_t, N> bytes{};
  Scrubbed() = default;
  Scrubbed(const Scrubbed&) = delete;
  Scrubbed& operator=(const Scrubbed&) = delete;
  ~Scrubbed() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

/// The CMAC subkey doubling in GF(2^128): shift left by one bit, fold the carry with 0x87.
Block dbl(const Block& in) {
  Block out{};
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto next = i + 1 < in.size() ? static_cast<unsigned>(in[i + 1] >> 7) : 0U;
    out[i] = static_cast<std::uint8_t>((static_cast<unsigned>(in[i]) << 1) | next);
  }
  if ((in[0] & 0x80) != 0) out[15] ^= 0x87;
  return out;
}

/// L = AES(K, 0^128), the value both CMAC subkeys are derived from.
void cmac_l(const AesKey& key, Block& l) {
  std::unique_ptr<EVP_CIPHER, CipherFree> cipher(EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr));
  std::unique_ptr<EVP_CIPHER_CTX, CipherFree> ctx(EVP_CIPHER_CTX_new());
  if (!cipher || !ctx) openssl_failed("AES-128-ECB setup");
  const Block zero{};
  int out_len = 0;
  if (EVP_EncryptInit_ex2(ctx.get(), cipher.get(), key.data(), nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_EncryptUpdate(ctx.get(), l.data(), &out_len, zero.data(), static_cast<int>(zero.size())) != 1 ||
      out_len != static_cast<int>(l.size())) {
    openssl_failed("AES-128-ECB");
  }
}

}  // namespace

AesKey diversify_aes128(const AesKey& master, std::span<const std::uint8_t> uid, DesfireAid aid,
                        std::span<const std::uint8_t> system_identifier) {
  if (uid.size() != 4 && uid.size() != 7) {
    throw std::invalid_argument("AN10922 diversification: UID must be 4 or 7 bytes");
  }
  const std::size_t input_len = 1 + uid.size() + aid.size() + system_identifier.size();
  if (input_len > 32) {
    throw std::invalid_argument("AN10922 diversification: UID, AID and system identifier exceed 31 bytes");
  }

  // D = 0x01 ‖ UID ‖ AID ‖ SystemIdentifier, padded to 32 bytes with 0x80 0x00… when shorter.
  Scrubbed<32> d;
  std::size_t n = 0;
  d.bytes[n++] = 0x01;
  for (auto b : uid) d.bytes[n++] = b;
  for (auto b : aid) d.bytes[n++] = b;
  for (auto b : system_identifier) d.bytes[n++] = b;
  const bool padded = n < d.bytes.size();
  if (padded) d.bytes[n] = 0x80;  // the rest is already zero

  // AN10922 always MACs two blocks and XORs the last one with K2 when it padded. OpenSSL's CMAC pads
  // only a partial last block, so for D < 32 bytes it would MAC a different message. We hand it
  // the full 32 bytes instead (its K1 path) with the last block pre-XORed with K1 ^ K2: its own
  // K1 XOR then cancels, leaving exactly the note's "last block XOR K2".
  if (padded) {
    Scrubbed<16> l;
    cmac_l(master, l.bytes);
    Scrubbed<16> k1;
    Scrubbed<16> k2;
    k1.bytes = dbl(l.bytes);
    k2.bytes = dbl(k1.bytes);
    for (std::size_t i = 0; i < 16; ++i) d.bytes[16 + i] ^= static_cast<std::uint8_t>(k1.bytes[i] ^ k2.bytes[i]);
  }

  std::unique_ptr<EVP_MAC, CipherFree> mac(EVP_MAC_fetch(nullptr, "CMAC", nullptr));
  if (!mac) openssl_failed("EVP_MAC_fetch(CMAC)");
  std::unique_ptr<EVP_MAC_CTX, CipherFree> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) openssl_failed("EVP_MAC_CTX_new");
  char cipher_name[] = "AES-128-CBC";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher_name, 0),
      OSSL_PARAM_construct_end(),
  };
  AesKey out{};
  std::size_t out_len = 0;
  if (EVP_MAC_init(ctx.get(), master.data(), master.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), d.bytes.data(), d.bytes.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1 || out_len != out.size()) {
    openssl_failed("CMAC");
  }
  return out;
}

}  // namespace zonegate::adapters::nfc
