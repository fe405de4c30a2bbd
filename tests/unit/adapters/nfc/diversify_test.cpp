// SPDX-License-Identifier: Apache-2.0
// AN10922 AES-128 key diversification. Built into nfc_tests, and into zonegate_tests once the NFC
// adapter is part of the build (daemon/adapters/nfc/CMakeLists.txt defines ZONEGATE_HAVE_NFC).
#ifdef ZONEGATE_HAVE_NFC

#include "adapters/nfc/diversify.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using zonegate::adapters::nfc::AesKey;
using zonegate::adapters::nfc::DesfireAid;
using zonegate::adapters::nfc::diversify_aes128;
using Bytes = std::vector<std::uint8_t>;

Bytes from_hex(const std::string& s) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
  return out;
}

template <std::size_t N>
std::array<std::uint8_t, N> array_from_hex(const std::string& s) {
  const Bytes b = from_hex(s);
  std::array<std::uint8_t, N> a{};
  if (b.size() != N) throw std::invalid_argument("test vector of the wrong length: " + s);
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

/// One AES-128 block encryption, for the reference implementation below.
std::array<std::uint8_t, 16> aes_block(const AesKey& key, const std::array<std::uint8_t, 16>& in) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::array<std::uint8_t, 16> out{};
  int len = 0;
  REQUIRE(EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_ecb(), nullptr, key.data(), nullptr) == 1);
  REQUIRE(EVP_CIPHER_CTX_set_padding(ctx.get(), 0) == 1);
  REQUIRE(EVP_EncryptUpdate(ctx.get(), out.data(), &len, in.data(), 16) == 1);
  return out;
}

std::array<std::uint8_t, 16> shift_xor(const std::array<std::uint8_t, 16>& in) {
  std::array<std::uint8_t, 16> out{};
  for (int i = 0; i < 16; ++i) {
    const unsigned carry = i < 15 ? (in[static_cast<std::size_t>(i) + 1] >> 7) : 0U;
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>((in[static_cast<std::size_t>(i)] << 1) | carry);
  }
  if ((in[0] & 0x80) != 0) out[15] = static_cast<std::uint8_t>(out[15] ^ 0x87);
  return out;
}

/// AN10922 §2.2 written out step by step, block by block, without EVP_MAC: an independent check of
/// the implementation's K1/K2 handling.
AesKey reference_an10922(const AesKey& key, const Bytes& m) {
  Bytes d{0x01};
  d.insert(d.end(), m.begin(), m.end());
  const bool padded = d.size() < 32;
  if (padded) {
    d.push_back(0x80);
    d.resize(32, 0x00);
  }
  const auto k1 = shift_xor(aes_block(key, {}));
  const auto k2 = shift_xor(k1);
  const auto& sub = padded ? k2 : k1;
  for (std::size_t i = 0; i < 16; ++i) d[16 + i] = static_cast<std::uint8_t>(d[16 + i] ^ sub[i]);
  std::array<std::uint8_t, 16> chain{};
  for (std::size_t block = 0; block < 2; ++block) {
    for (std::size_t i = 0; i < 16; ++i) chain[i] = static_cast<std::uint8_t>(chain[i] ^ d[16 * block + i]);
    chain = aes_block(key, chain);
  }
  return chain;
}

/// Plain NIST CMAC from OpenSSL, to show where it and AN10922 agree and where they do not.
AesKey openssl_cmac(const AesKey& key, const Bytes& msg) {
  std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> mac(EVP_MAC_fetch(nullptr, "CMAC", nullptr), EVP_MAC_free);
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx(EVP_MAC_CTX_new(mac.get()), EVP_MAC_CTX_free);
  char cipher[] = "AES-128-CBC";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
                               OSSL_PARAM_construct_end()};
  AesKey out{};
  std::size_t len = 0;
  REQUIRE(EVP_MAC_init(ctx.get(), key.data(), key.size(), params) == 1);
  REQUIRE(EVP_MAC_update(ctx.get(), msg.data(), msg.size()) == 1);
  REQUIRE(EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) == 1);
  return out;
}

const AesKey kNoteMaster = array_from_hex<16>("00112233445566778899AABBCCDDEEFF");

}  // namespace

TEST_CASE("AN10922 AES-128: the application note's published example", "[nfc][diversify]") {
  // AN10922 Rev 1.2, AES-128 example: UID 04782E21801D80, AID 3042F5, system identifier "NXP Abu".
  const Bytes uid = from_hex("04782E21801D80");
  const DesfireAid aid{0x30, 0x42, 0xF5};
  const Bytes system_identifier = from_hex("4E585020416275");
  CHECK(diversify_aes128(kNoteMaster, uid, aid, system_identifier) ==
        array_from_hex<16>("A8DD63A3B89D54B37CA802473FDA9175"));
}

TEST_CASE("AN10922 AES-128 matches a block-by-block reference for every input length", "[nfc][diversify]") {
  // 0x01 ‖ UID ‖ AID ‖ SI from 8 to 32 bytes: K2 with padding below 32 bytes, K1 at exactly 32.
  const AesKey master = array_from_hex<16>("2B7E151628AED2A6ABF7158809CF4F3C");
  for (const std::size_t uid_len : {std::size_t{4}, std::size_t{7}}) {
    const Bytes uid = uid_len == 4 ? from_hex("08A1B2C3") : from_hex("04112233445566");
    const DesfireAid aid{0x01, 0x10, 0xF5};
    for (std::size_t si_len = 0; si_len <= zonegate::adapters::nfc::max_system_identifier_len(uid_len); ++si_len) {
      Bytes si(si_len);
      for (std::size_t i = 0; i < si_len; ++i) si[i] = static_cast<std::uint8_t>(0xA0 + i);
      Bytes m = uid;
      m.insert(m.end(), aid.begin(), aid.end());
      m.insert(m.end(), si.begin(), si.end());
      INFO("UID " << uid_len << " bytes, system identifier " << si_len << " bytes");
      const AesKey got = diversify_aes128(master, uid, aid, si);
      CHECK(got == reference_an10922(master, m));
      Bytes cmac_input{0x01};
      cmac_input.insert(cmac_input.end(), m.begin(), m.end());
      if (cmac_input.size() > 16) {
        // With more than one block, AN10922's padding is exactly CMAC's own.
        CHECK(got == openssl_cmac(master, cmac_input));
      } else {
        // With one block or less, AN10922 still MACs two blocks: plain CMAC would be wrong.
        CHECK(got != openssl_cmac(master, cmac_input));
      }
    }
  }
}

TEST_CASE("AN10922 AES-128 is deterministic and depends on every input", "[nfc][diversify]") {
  const Bytes uid = from_hex("04782E21801D80");
  const DesfireAid aid{0x30, 0x42, 0xF5};
  const Bytes si = from_hex("4E585020416275");
  const AesKey base = diversify_aes128(kNoteMaster, uid, aid, si);
  CHECK(diversify_aes128(kNoteMaster, uid, aid, si) == base);

  AesKey master = kNoteMaster;
  master[15] ^= 0x01;
  CHECK(diversify_aes128(master, uid, aid, si) != base);
  Bytes other_uid = uid;
  other_uid[6] ^= 0x01;
  CHECK(diversify_aes128(kNoteMaster, other_uid, aid, si) != base);
  CHECK(diversify_aes128(kNoteMaster, uid, DesfireAid{0xF5, 0x42, 0x30}, si) != base);  // byte order matters
  Bytes other_si = si;
  other_si.push_back(0x00);  // a trailing zero is not the same as the 0x80 0x00… padding
  CHECK(diversify_aes128(kNoteMaster, uid, aid, other_si) != base);
  CHECK(diversify_aes128(kNoteMaster, uid, aid, {}) != base);
}

TEST_CASE("AN10922 AES-128 refuses inputs the note does not define", "[nfc][diversify]") {
  const DesfireAid aid{0x01, 0x02, 0x03};
  CHECK_THROWS_AS(diversify_aes128(kNoteMaster, from_hex("0102030405"), aid, {}), std::invalid_argument);
  CHECK_THROWS_AS(diversify_aes128(kNoteMaster, Bytes{}, aid, {}), std::invalid_argument);
  const Bytes uid7 = from_hex("04112233445566");
  CHECK_NOTHROW(diversify_aes128(kNoteMaster, uid7, aid, Bytes(21, 0x55)));
  CHECK_THROWS_AS(diversify_aes128(kNoteMaster, uid7, aid, Bytes(22, 0x55)), std::invalid_argument);
}

#endif  // ZONEGATE_HAVE_NFC
