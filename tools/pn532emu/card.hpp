// SPDX-License-Identifier: Apache-2.0
/// @file
/// Emulated ISO 14443-A cards: plain UID cards and MIFARE DESFire EV1 cards with AES applications,
/// and the DESFire command interpreter (native and ISO 7816-4 wrapped APDUs) the emulator runs for
/// InDataExchange. I/O free; randomness comes from the caller.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace zonegate::pn532emu {

using AesKey = std::array<std::uint8_t, 16>;
/// A DESFire application id in wire order (least significant byte first).
using Aid = std::array<std::uint8_t, 3>;

struct DesfireApplication {
  Aid aid{};
  std::vector<AesKey> aes_keys;  ///< key number = index
};

struct Card {
  std::vector<std::uint8_t> uid;  ///< 4, 7 or 10 bytes
  std::array<std::uint8_t, 2> atqa{0x00, 0x04};
  std::uint8_t sak = 0x08;
  std::vector<std::uint8_t> ats;  ///< without its length byte; empty: the card does not speak ISO-DEP
  bool desfire = false;           ///< interpret ISO-DEP frames as DESFire commands
  AesKey picc_master_key{};       ///< DESFire PICC master key (AES), key 0 of application 000000
  std::vector<DesfireApplication> applications;

  /// A MIFARE Classic 1K-like card: SAK 08, answers nothing but anticollision.
  static Card uid_only(std::vector<std::uint8_t> uid);
  /// A DESFire EV1: ATQA 03 44 (as reported by libnfc), SAK 20, ATS 06 75 77 81 02 80.
  static Card desfire_ev1(std::vector<std::uint8_t> uid, std::vector<DesfireApplication> applications);
};

/// DESFire EV1 behaviour of one card activation (state is lost when the card leaves the field or
/// is re-selected): SelectApplication 5A, AuthenticateAES AA (+AF), GetVersion 60 (+AF),
/// GetApplicationIDs 6A, GetKeySettings 45; anything else answers ILLEGAL_COMMAND (1C).
class DesfireSession {
 public:
  enum class Event : std::uint8_t { none, auth_first_pass, auth_ok, auth_failed };
  struct Reply {
    std::vector<std::uint8_t> bytes;  ///< what the card sends back (data ‖ 91 status, or status ‖ data)
    Event event = Event::none;
  };

  /// One command: `90 INS 00 00 [Lc data] [Le]` (wrapped) or `INS data…` (native).
  [[nodiscard]] Reply process(const Card& card, std::span<const std::uint8_t> apdu, std::mt19937& rng);

 private:
  enum class Pending : std::uint8_t { none, auth, version2, version3 };
  struct Result {
    std::uint8_t status;
    std::vector<std::uint8_t> data;
    Event event = Event::none;
  };
  Result execute(const Card& card, std::uint8_t ins, std::span<const std::uint8_t> data, std::mt19937& rng);
  const AesKey* key(const Card& card, std::uint8_t key_no) const;

  std::optional<Aid> selected_;  ///< nullopt: PICC level (AID 000000)
  Pending pending_ = Pending::none;
  AesKey auth_key_{};
  std::uint8_t auth_key_no_ = 0;
  std::array<std::uint8_t, 16> rnd_b_{};
  std::array<std::uint8_t, 16> iv_{};
  std::optional<std::uint8_t> authenticated_key_;
};

}  // namespace zonegate::pn532emu
