// SPDX-License-Identifier: Apache-2.0
#include "pn532emu/card.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace zonegate::pn532emu {
namespace {

constexpr std::uint8_t kOk = 0x00;
constexpr std::uint8_t kNoSuchKey = 0x40;
constexpr std::uint8_t kLengthError = 0x7E;
constexpr std::uint8_t kIllegalCommand = 0x1C;
constexpr std::uint8_t kApplicationNotFound = 0xA0;
constexpr std::uint8_t kAuthenticationError = 0xAE;
constexpr std::uint8_t kAdditionalFrame = 0xAF;

using Block = std::array<std::uint8_t, 16>;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

/// AES-128-CBC without padding; the emulator treats an OpenSSL failure as fatal.
std::vector<std::uint8_t> aes_cbc(bool encrypt, const AesKey& key, const Block& iv, std::span<const std::uint8_t> in) {
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  std::vector<std::uint8_t> out(in.size());
  int len = 0;
  if (!ctx || in.size() % 16 != 0 ||
      EVP_CipherInit_ex2(ctx.get(), EVP_aes_128_cbc(), key.data(), iv.data(), encrypt ? 1 : 0, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), static_cast<int>(in.size())) != 1 ||
      static_cast<std::size_t>(len) != in.size()) {
    throw std::runtime_error("pn532emu: AES-128-CBC failed");
  }
  return out;
}

Block rotl(std::span<const std::uint8_t> in) {
  Block out{};
  std::rotate_copy(in.begin(), in.begin() + 1, in.begin() + 16, out.begin());
  return out;
}

}  // namespace

Card Card::uid_only(std::vector<std::uint8_t> uid) {
  Card c;
  c.atqa = {0x00, static_cast<std::uint8_t>(uid.size() == 4 ? 0x04 : 0x44)};
  c.sak = 0x08;
  c.uid = std::move(uid);
  return c;
}

Card Card::desfire_ev1(std::vector<std::uint8_t> uid, std::vector<DesfireApplication> applications) {
  Card c;
  c.uid = std::move(uid);
  c.atqa = {0x03, 0x44};
  c.sak = 0x20;
  c.ats = {0x75, 0x77, 0x81, 0x02, 0x80};
  c.desfire = true;
  c.applications = std::move(applications);
  return c;
}

const AesKey* DesfireSession::key(const Card& card, std::uint8_t key_no) const {
  if (!selected_) return key_no == 0 ? &card.picc_master_key : nullptr;
  for (const auto& app : card.applications) {
    if (app.aid == *selected_) return key_no < app.aes_keys.size() ? &app.aes_keys[key_no] : nullptr;
  }
  return nullptr;
}

DesfireSession::Reply DesfireSession::process(const Card& card, std::span<const std::uint8_t> apdu, std::mt19937& rng) {
  if (apdu.empty()) return {{kLengthError}, Event::none};
  if (apdu[0] == 0x90) {
    // ISO 7816-4 wrapping: 90 INS P1 P2 [Lc data…] Le
    if (apdu.size() < 5) return {{0x91, kLengthError}, Event::none};
    std::span<const std::uint8_t> data;
    if (apdu.size() > 5) {
      const std::size_t lc = apdu[4];
      if (apdu.size() != 5 + lc && apdu.size() != 6 + lc) return {{0x91, kLengthError}, Event::none};
      data = apdu.subspan(5, lc);
    }
    auto r = execute(card, apdu[1], data, rng);
    r.data.push_back(0x91);
    r.data.push_back(r.status);
    return {std::move(r.data), r.event};
  }
  if (apdu[0] == 0x00) return {{0x6D, 0x00}, Event::none};  // other ISO 7816 commands: not supported
  auto r = execute(card, apdu[0], apdu.subspan(1), rng);    // native command: status ‖ data
  std::vector<std::uint8_t> out{r.status};
  out.insert(out.end(), r.data.begin(), r.data.end());
  return {std::move(out), r.event};
}

DesfireSession::Result DesfireSession::execute(const Card& card, std::uint8_t ins, std::span<const std::uint8_t> data,
                                               std::mt19937& rng) {
  if (ins != kAdditionalFrame) pending_ = Pending::none;  // any other command abandons a chained exchange
  switch (ins) {
    case kAdditionalFrame:
      switch (pending_) {
        case Pending::auth: {
          pending_ = Pending::none;
          if (data.size() != 32) return {kLengthError, {}};
          // D(K, IV = E(K, RndB), token) = RndA ‖ rotl(RndB)
          const auto plain = aes_cbc(false, auth_key_, iv_, data);
          const Block expected = rotl(rnd_b_);
          if (!std::equal(expected.begin(), expected.end(), plain.begin() + 16)) {
            return {kAuthenticationError, {}, Event::auth_failed};
          }
          Block iv{};
          std::copy(data.begin() + 16, data.end(), iv.begin());
          const Block rnd_a_rotated = rotl(std::span<const std::uint8_t>(plain).first(16));
          authenticated_key_ = auth_key_no_;
          return {kOk, aes_cbc(true, auth_key_, iv, rnd_a_rotated), Event::auth_ok};
        }
        case Pending::version2:
          pending_ = Pending::version3;
          return {kAdditionalFrame, {0x04, 0x01, 0x01, 0x01, 0x04, 0x18, 0x05}};
        case Pending::version3: {
          pending_ = Pending::none;
          std::vector<std::uint8_t> out(card.uid.begin(), card.uid.end());
          out.resize(7, 0x00);
          out.insert(out.end(), {0xBA, 0x5E, 0xBA, 0x11, 0x00, 0x10, 0x24});  // batch, week, year
          return {kOk, std::move(out)};
        }
        case Pending::none:
          return {kIllegalCommand, {}};
      }
      return {kIllegalCommand, {}};
    case 0x5A: {  // SelectApplication
      if (data.size() != 3) return {kLengthError, {}};
      authenticated_key_.reset();
      const Aid aid{data[0], data[1], data[2]};
      if (aid == Aid{}) {
        selected_.reset();
        return {kOk, {}};
      }
      for (const auto& app : card.applications) {
        if (app.aid == aid) {
          selected_ = aid;
          return {kOk, {}};
        }
      }
      selected_.reset();
      return {kApplicationNotFound, {}};
    }
    case 0xAA: {  // AuthenticateAES, pass 1: E(K, RndB), IV 0
      if (data.size() != 1) return {kLengthError, {}};
      authenticated_key_.reset();
      const AesKey* k = key(card, data[0]);
      if (k == nullptr) return {kNoSuchKey, {}};
      auth_key_ = *k;
      auth_key_no_ = data[0];
      for (auto& b : rnd_b_) b = static_cast<std::uint8_t>(rng() & 0xFF);
      const auto ek = aes_cbc(true, auth_key_, Block{}, rnd_b_);
      std::copy(ek.begin(), ek.end(), iv_.begin());
      pending_ = Pending::auth;
      return {kAdditionalFrame, ek, Event::auth_first_pass};
    }
    case 0x0A:  // legacy DES and ISO 3K3DES authentication: the keys here are AES
    case 0x1A:
      authenticated_key_.reset();
      return {kAuthenticationError, {}, Event::auth_failed};
    case 0x60:  // GetVersion, part 1 of 3
      pending_ = Pending::version2;
      return {kAdditionalFrame, {0x04, 0x01, 0x01, 0x01, 0x00, 0x18, 0x05}};
    case 0x6A: {                         // GetApplicationIDs
      if (selected_) return {0x9D, {}};  // PERMISSION_DENIED: only at PICC level
      std::vector<std::uint8_t> out;
      for (const auto& app : card.applications) out.insert(out.end(), app.aid.begin(), app.aid.end());
      return {kOk, std::move(out)};
    }
    case 0x45: {  // GetKeySettings: settings 0F, key count with the AES flag
      std::size_t keys = 1;
      if (selected_) {
        for (const auto& app : card.applications) {
          if (app.aid == *selected_) keys = app.aes_keys.size();
        }
      }
      return {kOk, {0x0F, static_cast<std::uint8_t>(0x80 | (keys & 0x0F))}};
    }
    default:
      return {kIllegalCommand, {}};
  }
}

}  // namespace zonegate::pn532emu
