// SPDX-License-Identifier: Apache-2.0
/// @file
/// The `hardware:` section of zones.yaml, compiled: which backends drive the badge readers and the
/// GPIO lines, the NFC settings, and the named lines and readers of every door, gate, fire and
/// tamper input. Returned by the loader next to the policy (config::LoadResult::hardware); the
/// decision core never sees it. The key reference is docs/config.md.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/types.hpp"

namespace zonegate::config {

/// One GPIO line, by its name (device-tree gpio-line-names), and its electrical settings.
struct LineSpec {
  std::string name;
  bool active_low = false;                 ///< the line is active (door open, button pressed, strike released) when low
  std::chrono::milliseconds debounce{20};  ///< inputs only: a level must be stable this long to count
};

/// The lines and readers of one door.
struct DoorHardware {
  std::string door;                    ///< door id
  core::DoorIdx index = core::kNoIdx;  ///< index into core::Policy::doors
  std::string reader_in;   ///< libnfc connstring of the reader used to go in; empty: none (sim: "<door>:in")
  std::string reader_out;  ///< libnfc connstring of the reader used to go out; empty: none (sim: "<door>:out")
  std::optional<LineSpec> reader_power;  ///< output that powers this door's readers (may be shared by doors)
  std::optional<LineSpec> strike;        ///< output; always set in a loaded configuration
  std::optional<LineSpec> sensor;        ///< input, active = door open; always set in a loaded configuration
  std::optional<LineSpec> rex;           ///< input, request-to-exit button
  std::optional<LineSpec> buzzer;        ///< output
};

/// The two inputs of one metal-detector gate.
struct GateHardware {
  std::string gate;                    ///< gate id
  core::GateIdx index = core::kNoIdx;  ///< index into core::Policy::gates
  LineSpec clear;                      ///< input, active = a clear pass
  LineSpec alarm;                      ///< input, active = metal detected
};

/// DESFire authentication and reader polling, for `readers: nfc`.
struct NfcSettings {
  /// File holding the site master key (32 hex digits), as written: a relative name is relative
  /// to the daemon's state directory. The daemon reads it (and checks its mode); the key itself
  /// is never in zones.yaml. Empty when not configured.
  std::string master_key_file;
  /// DESFire AID in wire order (least significant byte first), as adapters/nfc::DesfireAid:
  /// `application: 5A4701` (the AID 0x5A4701) gives {0x01, 0x47, 0x5A}.
  std::array<std::uint8_t, 3> application{};
  std::uint8_t key_number = 0;                  ///< 0..13
  std::vector<std::uint8_t> system_identifier;  ///< AN10922 system identifier, 0..21 bytes
  std::chrono::milliseconds poll_interval{100};
  std::chrono::milliseconds hung_timeout{3000};
};

enum class ReaderBackend : std::uint8_t { sim, nfc };
enum class GpioBackend : std::uint8_t { sim, gpiod };

/// The compiled `hardware:` section.
///
/// In a loaded configuration `doors` has exactly one entry per door of the policy and `gates` one
/// per gate, in policy order (doors[i].index == i, gates[i].index == i); `tamper` has one entry per
/// tamper input of the policy, in policy order. With `gpio: sim`, whatever the file does not name
/// gets a made-up line name (`<door>-strike`, `<door>-sensor`, `<door>-rex` for doors with
/// request_to_exit, `<gate>-clear`, `<gate>-alarm`, `fire-alarm`, the tamper id), so the simulated
/// site has every line. Every line name is used once, except a reader_power line shared by doors.
struct HardwareConfig {
  ReaderBackend readers = ReaderBackend::sim;
  GpioBackend gpio = GpioBackend::sim;
  NfcSettings nfc;
  std::vector<DoorHardware> doors;
  std::vector<GateHardware> gates;
  std::optional<LineSpec> fire;  ///< input, active = fire alarm
  std::vector<std::pair<std::string /*tamper id*/, LineSpec>> tamper;

  /// Names of every input line (door sensors and REX buttons, gate inputs, fire, tamper), each
  /// once, in that order.
  [[nodiscard]] std::vector<std::string> all_input_names() const;
  /// Names of every output line (reader power, strikes, buzzers, door by door), each once.
  [[nodiscard]] std::vector<std::string> all_output_names() const;
};

/// The id of a simulated reader: "<door>:in" or "<door>:out".
[[nodiscard]] std::string sim_reader_id(std::string_view door, core::Direction dir);

}  // namespace zonegate::config
