// SPDX-License-Identifier: Apache-2.0
#include "adapters/nfc/desfire_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>

namespace zonegate::adapters::nfc {
namespace {

constexpr std::uint8_t kCla = 0x90;
constexpr std::uint8_t kSw1 = 0x91;
constexpr std::uint8_t kSelectApplication = 0x5A;
constexpr std::uint8_t kAuthenticateAes = 0xAA;
constexpr std::uint8_t kAdditionalFrame = 0xAF;
constexpr std::uint8_t kOperationOk = 0x00;
constexpr std::uint8_t kApplicationNotFound = 0xA0;

using Block = std::array<std::uint8_t, 16>;

/// A secret on the stack, wiped on every path out of scope.
template <std::size_t N>
struct Secret {
  std::array<std::uint8_t, N> bytes{};
  Secret() = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

/// AES-128-CBC without padding over whole blocks; false if OpenSSL fails.
bool aes_cbc(bool encrypt, const AesKey& key, const Block& iv, std::span<const std::uint8_t> in,
             std::span<std::uint8_t> out) {
  if (in.size() % 16 != 0 || out.size() != in.size()) return false;
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return false;
  int len = 0;
  if (EVP_CipherInit_ex2(ctx.get(), EVP_aes_128_cbc(), key.data(), iv.data(), encrypt ? 1 : 0, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(in.size())) != 1) {
    return false;
  }
  return static_cast<std::size_t>(len) == in.size();
}

/// `90 INS 00 00 [Lc data] 00`, the ISO 7816-4 wrapping of a native DESFire command.
std::vector<std::uint8_t> wrap(std::uint8_t ins, std::span<const std::uint8_t> data) {
  std::vector<std::uint8_t> apdu{kCla, ins, 0x00, 0x00};
  if (!data.empty()) {
    apdu.push_back(static_cast<std::uint8_t>(data.size()));
    apdu.insert(apdu.end(), data.begin(), data.end());
  }
  apdu.push_back(0x00);
  return apdu;
}

/// A reply split into its data and DESFire status, or nullopt if it is not `data ‖ 91 xx`.
struct Reply {
  std::vector<std::uint8_t> data;
  std::uint8_t status = 0;
};
std::optional<Reply> split(const std::vector<std::uint8_t>& raw) {
  if (raw.size() < 2 || raw[raw.size() - 2] != kSw1) return std::nullopt;
  return Reply{{raw.begin(), raw.end() - 2}, raw.back()};
}

Block rotate_left(const Block& in) {
  Block out{};
  std::rotate_copy(in.begin(), in.begin() + 1, in.end(), out.begin());
  return out;
}

}  // namespace

std::string AuthResult::describe() const {
  char status_text[8];
  std::snprintf(status_text, sizeof status_text, "0x%02X", static_cast<unsigned>(status));
  switch (outcome) {
    case AuthOutcome::ok:
      return "authenticated";
    case AuthOutcome::no_application:
      return "application not on card";
    case AuthOutcome::rejected:
      return std::string("rejected (status ") + status_text + ")";
    case AuthOutcome::transport:
      return "no reply from card";
    case AuthOutcome::protocol:
      return std::string("malformed reply (status ") + status_text + ")";
  }
  return "unknown";
}

AuthResult desfire_authenticate_aes(const ApduExchange& exchange, DesfireAid aid, std::uint8_t key_no,
                                    const AesKey& key) {
  // 1. SelectApplication: 91 00, or 91 A0 when the card does not carry our application.
  const auto selected = exchange(wrap(kSelectApplication, aid));
  if (!selected) return {AuthOutcome::transport, 0};
  const auto select_reply = split(*selected);
  if (!select_reply) return {AuthOutcome::protocol, 0};
  if (select_reply->status == kApplicationNotFound) return {AuthOutcome::no_application, select_reply->status};
  if (select_reply->status != kOperationOk) return {AuthOutcome::rejected, select_reply->status};
  if (!select_reply->data.empty()) return {AuthOutcome::protocol, select_reply->status};

  // 2. AuthenticateAES(key_no) → E(K, RndB) ‖ 91 AF.
  const std::array<std::uint8_t, 1> key_no_data{key_no};
  const auto first = exchange(wrap(kAuthenticateAes, key_no_data));
  if (!first) return {AuthOutcome::transport, 0};
  const auto first_reply = split(*first);
  if (!first_reply) return {AuthOutcome::protocol, 0};
  if (first_reply->status != kAdditionalFrame) {
    return {first_reply->data.empty() ? AuthOutcome::rejected : AuthOutcome::protocol, first_reply->status};
  }
  if (first_reply->data.size() != 16) return {AuthOutcome::protocol, first_reply->status};
  Block ek_rnd_b{};
  std::copy(first_reply->data.begin(), first_reply->data.end(), ek_rnd_b.begin());

  // 3. RndB = D(K, IV 0); token = E(K, IV = E(K, RndB), RndA ‖ rotl(RndB)).
  Secret<16> rnd_b;
  if (!aes_cbc(false, key, Block{}, ek_rnd_b, rnd_b.bytes)) return {AuthOutcome::protocol, 0};
  Secret<16> rnd_a;
  if (RAND_bytes(rnd_a.bytes.data(), static_cast<int>(rnd_a.bytes.size())) != 1) return {AuthOutcome::protocol, 0};
  Secret<32> plain_token;
  std::copy(rnd_a.bytes.begin(), rnd_a.bytes.end(), plain_token.bytes.begin());
  Secret<16> rnd_b_rotated;
  rnd_b_rotated.bytes = rotate_left(rnd_b.bytes);
  std::copy(rnd_b_rotated.bytes.begin(), rnd_b_rotated.bytes.end(), plain_token.bytes.begin() + 16);
  std::array<std::uint8_t, 32> token{};
  if (!aes_cbc(true, key, ek_rnd_b, plain_token.bytes, token)) return {AuthOutcome::protocol, 0};

  // 4. AF ‖ token → E(K, IV = last token block, rotl(RndA)) ‖ 91 00, or 91 AE for a wrong key.
  const auto second = exchange(wrap(kAdditionalFrame, token));
  if (!second) return {AuthOutcome::transport, 0};
  const auto second_reply = split(*second);
  if (!second_reply) return {AuthOutcome::protocol, 0};
  if (second_reply->status != kOperationOk) {
    return {second_reply->data.empty() ? AuthOutcome::rejected : AuthOutcome::protocol, second_reply->status};
  }
  if (second_reply->data.size() != 16) return {AuthOutcome::protocol, second_reply->status};

  // 5. The card proves it knows K by returning rotl(RndA) under K.
  Block last_token_block{};
  std::copy(token.begin() + 16, token.end(), last_token_block.begin());
  Secret<16> card_rnd_a_rotated;
  if (!aes_cbc(false, key, last_token_block, second_reply->data, card_rnd_a_rotated.bytes)) {
    return {AuthOutcome::protocol, 0};
  }
  Secret<16> expected;
  expected.bytes = rotate_left(rnd_a.bytes);
  if (CRYPTO_memcmp(expected.bytes.data(), card_rnd_a_rotated.bytes.data(), expected.bytes.size()) != 0) {
    return {AuthOutcome::rejected, second_reply->status};
  }
  return {AuthOutcome::ok, second_reply->status};
}

bool looks_like_desfire(std::uint8_t sak, std::span<const std::uint8_t> ats_without_length) {
  static constexpr std::array<std::uint8_t, 4> kDesfireAts{0x75, 0x77, 0x81, 0x02};
  return sak == 0x20 && ats_without_length.size() >= kDesfireAts.size() &&
         std::equal(kDesfireAts.begin(), kDesfireAts.end(), ats_without_length.begin());
}

}  // namespace zonegate::adapters::nfc
