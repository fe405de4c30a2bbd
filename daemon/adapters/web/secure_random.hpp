// SPDX-License-Identifier: Apache-2.0
/// @file
/// Random bytes from OpenSSL's CSPRNG and the base64 forms the console stores and sends.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zonegate::adapters::web {

/// Fills `out` from RAND_bytes; false if the generator failed (never returns predictable bytes).
[[nodiscard]] bool random_bytes(std::span<std::uint8_t> out) noexcept;

/// Standard base64 (RFC 4648 §4) with padding.
std::string base64_encode(std::span<const std::uint8_t> bytes);
/// URL-safe base64 (RFC 4648 §5) without padding: cookie- and header-safe.
std::string base64url_encode(std::span<const std::uint8_t> bytes);
/// Decodes standard base64 with padding; nullopt on any malformed input.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace zonegate::adapters::web
