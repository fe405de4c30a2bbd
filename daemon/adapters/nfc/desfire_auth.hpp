// SPDX-License-Identifier: Apache-2.0
/// @file
/// MIFARE DESFire EV1 AES authentication (command 0xAA, three passes) in ISO 7816-4 wrapped APDUs,
/// written against an abstract APDU exchange so it runs over libnfc in the daemon and over the
/// emulator's card model in tests.
///
/// Why not libfreefare's mifare_desfire_authenticate_aes: libfreefare 0.4.0 (Debian 12) exchanges
/// every DESFire frame with nfc_initiator_transceive_bytes(…, timeout 0), i.e. it waits forever
/// on a reader that stops answering; it keeps the frames in function-static buffers, so two readers
/// on two threads corrupt each other; and it indexes the reply with `n - 2` without checking that
/// the card sent two bytes, so a card that answers with an empty frame makes it write before its
/// buffer and memcpy ~SIZE_MAX bytes. This file does the same exchange (wire-compatible: the
/// integration tests run libfreefare's own implementation against the same emulator) with bounded
/// waits, no shared state and every length checked.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "adapters/nfc/diversify.hpp"

namespace zonegate::adapters::nfc {

/// Sends one command APDU and returns the card's reply (data ‖ SW1 SW2), or nullopt when no reply
/// arrived (reader error, RF timeout, card gone). Must return within a bounded time.
using ApduExchange = std::function<std::optional<std::vector<std::uint8_t>>(std::span<const std::uint8_t>)>;

enum class AuthOutcome : std::uint8_t {
  ok,              ///< the card proved it holds the key
  no_application,  ///< SelectApplication answered 91 A0
  rejected,        ///< the card refused (e.g. 91 AE: wrong key, 91 40: no such key) or failed the proof
  transport,       ///< no reply to an APDU (reader error, timeout, card removed)
  protocol,        ///< a reply of the wrong shape
};

struct AuthResult {
  AuthOutcome outcome = AuthOutcome::protocol;
  std::uint8_t status = 0;  ///< the last DESFire status byte (SW2 after 0x91), 0 if none
  [[nodiscard]] bool ok() const { return outcome == AuthOutcome::ok; }
  /// Short text for logs and the audit trail, e.g. "rejected (status 0xAE)". Never contains keys.
  [[nodiscard]] std::string describe() const;
};

/// SelectApplication(aid) then AuthenticateAES(key_no) with `key`. Secrets (key, RndA, RndB) are
/// wiped from the stack before returning.
[[nodiscard]] AuthResult desfire_authenticate_aes(const ApduExchange& exchange, DesfireAid aid, std::uint8_t key_no,
                                                  const AesKey& key);

/// libfreefare 0.4's test for a DESFire: SAK 0x20 and historical ATS bytes (after the length byte)
/// starting 75 77 81 02. Such a card must authenticate; it is never accepted on its UID alone.
[[nodiscard]] bool looks_like_desfire(std::uint8_t sak, std::span<const std::uint8_t> ats_without_length);

}  // namespace zonegate::adapters::nfc
