// SPDX-License-Identifier: Apache-2.0
/// @file
/// Per-card AES-128 keys derived from a site master key, as described in NXP application note
/// AN10922 ("Symmetric key diversifications"), section on AES-128 diversification.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace zonegate::adapters::nfc {

using AesKey = std::array<std::uint8_t, 16>;
using DesfireAid = std::array<std::uint8_t, 3>;

/// Longest system identifier that still fits the 31-byte diversification input with a UID of
/// `uid_len` bytes: 0x01 ‖ UID ‖ AID(3) ‖ SystemIdentifier is at most 32 bytes.
constexpr std::size_t max_system_identifier_len(std::size_t uid_len) { return 32 - 1 - 3 - uid_len; }

/// The AN10922 AES-128 diversified key: CMAC(master, 0x01 ‖ uid ‖ aid ‖ system_identifier), where the
/// CMAC input is always two blocks (32 bytes): shorter input is padded with 0x80 0x00… and then takes
/// the CMAC K2 path, unpadded 32-byte input takes the K1 path.
///
/// `aid` is in the byte order sent on the wire to SelectApplication (least significant byte first,
/// as libfreefare's MifareDESFireAID stores it).
///
/// Preconditions (checked, std::invalid_argument otherwise — this is a configuration error, found
/// when a reader is configured): `uid` is 4 or 7 bytes; the whole input fits 32 bytes.
/// Throws std::runtime_error if OpenSSL fails (out of memory, no AES provider).
[[nodiscard]] AesKey diversify_aes128(const AesKey& master, std::span<const std::uint8_t> uid, DesfireAid aid,
                                      std::span<const std::uint8_t> system_identifier);

}  // namespace zonegate::adapters::nfc
