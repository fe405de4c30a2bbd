// SPDX-License-Identifier: Apache-2.0
/// @file
/// PN532 host-interface frames (PN532 User Manual §6.2): the parser for bytes a host sends, which
/// come from outside and are fuzzed (tests/fuzz/fuzz_pn532_frames.cpp), and the builder for frames
/// the emulated chip sends back.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace zonegate::pn532emu {

inline constexpr std::uint8_t kTfiHostToPn532 = 0xD4;
inline constexpr std::uint8_t kTfiPn532ToHost = 0xD5;
/// Longest frame body (TFI + data) an extended frame may carry; libnfc never sends more.
inline constexpr std::size_t kMaxFrameBody = 265;
inline constexpr std::array<std::uint8_t, 6> kAckFrame{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00};
inline constexpr std::array<std::uint8_t, 6> kNackFrame{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00};
/// The chip's "syntax error" frame: an application-level error instead of a reply.
inline constexpr std::array<std::uint8_t, 8> kErrorFrame{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00};

/// One thing recognised in the host's byte stream.
struct HostItem {
  enum class Kind : std::uint8_t {
    frame,                ///< a complete, checksummed information frame; `body` = TFI ‖ data
    ack,                  ///< 00 00 FF 00 FF 00: the host aborts the running command
    nack,                 ///< 00 00 FF FF 00 00: the host asks for the last reply again
    bad_length_checksum,  ///< LEN + LCS != 0 (the chip ignores such a frame)
    bad_data_checksum,    ///< TFI + data + DCS != 0 (the chip ignores such a frame)
    oversize,             ///< an extended frame longer than kMaxFrameBody or of length 0
  };
  Kind kind = Kind::frame;
  std::vector<std::uint8_t> body;
};

/// Incremental parser: bytes may arrive in any split. Anything that is not a frame (the 0x55 wake-up
/// preamble, line noise) is skipped while looking for the 00 FF start code; after a broken frame
/// the parser looks for the next start code. Memory use is bounded by kMaxFrameBody.
class HostFrameParser {
 public:
  /// Appends what the bytes complete to `out`.
  void feed(std::span<const std::uint8_t> bytes, std::vector<HostItem>& out);
  void reset();

 private:
  enum class State : std::uint8_t { start, len, lcs, ext_len_hi, ext_len_lo, ext_lcs, body, dcs };
  State state_ = State::start;
  bool saw_zero_ = false;
  std::uint8_t len_ = 0;
  std::size_t ext_len_ = 0;
  std::size_t expected_ = 0;
  std::vector<std::uint8_t> body_;
};

/// A normal (or, above 254 bytes, extended) information frame with TFI `tfi` and `data`.
[[nodiscard]] std::vector<std::uint8_t> build_frame(std::uint8_t tfi, std::span<const std::uint8_t> data);

}  // namespace zonegate::pn532emu
