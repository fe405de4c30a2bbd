// SPDX-License-Identifier: Apache-2.0
/// @file
/// The emulated PN532 itself, without any I/O: bytes from the host and the current time go in,
/// bytes for the host come out. The Emulator class connects it to a pseudo-terminal; the fuzz target
/// and unit tests drive it directly.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string_view>
#include <vector>

#include "pn532emu/card.hpp"
#include "pn532emu/frame.hpp"

namespace zonegate::pn532emu {

/// Faults a test can arm. Each armed fault fires on the next occasion that fits it, `count` times.
enum class Fault : std::uint8_t {
  garble_response,       ///< the next reply frame: TFI/command/data bytes replaced, checksum left stale
  bad_checksum,          ///< the next reply frame: wrong data checksum (DCS)
  truncate_response,     ///< the next reply frame: only its first half is sent
  garble_ack,            ///< the next ACK frame: corrupted
  drop_response,         ///< the next command: ACKed, never answered
  rf_timeout,            ///< the next InDataExchange: status 01, the card did not answer
  empty_card_reply,      ///< the next InDataExchange: status 00 and no data (a misbehaving card)
  remove_card_mid_auth,  ///< the card leaves the field right after answering AuthenticateAES pass 1
  garble_exchange,       ///< the next InDataExchange reply frame is garbled (as garble_response)
  poll_error,            ///< the next InListPassiveTarget/InAutoPoll is answered with the error frame
  count_
};
[[nodiscard]] std::string_view to_string(Fault f);
[[nodiscard]] std::optional<Fault> fault_from_string(std::string_view s);

struct Stats {
  std::uint64_t host_frames = 0;  ///< well-formed information frames received
  std::uint64_t host_acks = 0;    ///< ACK frames from the host (aborts)
  std::uint64_t host_nacks = 0;
  std::uint64_t bad_host_frames = 0;  ///< length/data checksum errors, oversize frames (ignored, as the chip does)
  std::uint64_t bytes_ignored_while_hung = 0;
  std::uint64_t diagnose = 0;         ///< Diagnose commands; libnfc sends one per nfc_open
  std::uint64_t polls = 0;            ///< InListPassiveTarget and InAutoPoll
  std::uint64_t data_exchanges = 0;   ///< InDataExchange
  std::uint64_t auth_first_pass = 0;  ///< AuthenticateAES pass 1 answered
  std::uint64_t auth_ok = 0;
  std::uint64_t auth_failed = 0;
  std::uint64_t faults_fired = 0;
  std::array<std::uint64_t, 256> commands{};  ///< by command code
};

class Pn532Model {
 public:
  using Clock = std::chrono::steady_clock;
  using Trace = std::function<void(std::string_view what, std::span<const std::uint8_t> bytes)>;

  explicit Pn532Model(std::uint32_t seed = 1);

  /// Bytes written by the host; returns the chip's answer (ACK and reply frames), possibly empty.
  [[nodiscard]] std::vector<std::uint8_t> on_host_bytes(std::span<const std::uint8_t> bytes, Clock::time_point now);
  /// Replies that were waiting for a point in time (InAutoPoll with nothing in the field).
  [[nodiscard]] std::vector<std::uint8_t> on_tick(Clock::time_point now);
  /// When on_tick next has something to do.
  [[nodiscard]] std::optional<Clock::time_point> next_deadline() const;

  /// Puts a card in the field (replacing any other); may answer a poll that was waiting for one.
  [[nodiscard]] std::vector<std::uint8_t> present(Card card, Clock::time_point now);
  void remove_card();
  [[nodiscard]] bool card_present() const { return card_.has_value(); }

  void arm(Fault f, unsigned count = 1);
  /// A hung chip reads and ignores everything and answers nothing.
  void set_hung(bool hung) { hung_ = hung; }
  [[nodiscard]] bool hung() const { return hung_; }
  /// Disarms every fault and ends a hang.
  void clear_faults();
  [[nodiscard]] const Stats& stats() const { return stats_; }
  void set_trace(Trace trace) { trace_ = std::move(trace); }

 private:
  struct Pending {
    std::uint8_t command = 0;              ///< 0x4A InListPassiveTarget or 0x60 InAutoPoll
    std::optional<Clock::time_point> due;  ///< answer "nothing found" then; nullopt: wait for a card
    std::vector<std::uint8_t> request;     ///< the command's data
  };

  void on_frame(std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& body, Clock::time_point now);
  void reply(std::vector<std::uint8_t>& out, std::uint8_t command, std::span<const std::uint8_t> data,
             bool garble = false);
  void error_frame(std::vector<std::uint8_t>& out);
  bool take(Fault f);

  // Commands that may answer later (a poll waiting for a card) or through a fault never.
  void in_list_passive_target(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data,
                              Clock::time_point now);
  void in_auto_poll(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data, Clock::time_point now);
  void in_data_exchange(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data);
  void in_communicate_thru(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> data);
  std::optional<std::vector<std::uint8_t>> list_target(std::span<const std::uint8_t> data);
  std::optional<std::vector<std::uint8_t>> autopoll_target(std::span<const std::uint8_t> data);
  std::vector<std::uint8_t> target_data(bool with_ats) const;
  void activate(bool iso_dep);
  void deselect();

  HostFrameParser parser_;
  std::mt19937 rng_;
  Trace trace_;
  Stats stats_;
  std::array<unsigned, static_cast<std::size_t>(Fault::count_)> armed_{};
  bool hung_ = false;

  std::map<std::uint16_t, std::uint8_t> registers_;
  std::uint8_t parameters_ = 0x14;  ///< SetParameters flags: automatic ATR_RES and RATS
  bool rf_field_ = false;
  std::uint8_t passive_retries_ = 0xFF;  ///< RFConfiguration MxRtyPassiveActivation; 0xFF = forever
  std::optional<Pending> pending_;
  std::vector<std::uint8_t> last_reply_;  ///< for a host NACK

  std::optional<Card> card_;
  bool selected_ = false;  ///< the card is target 1
  bool iso_dep_ = false;   ///< … and was activated with RATS
  DesfireSession session_;
};

}  // namespace zonegate::pn532emu
