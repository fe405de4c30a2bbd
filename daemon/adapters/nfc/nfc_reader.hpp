// SPDX-License-Identifier: Apache-2.0
/// @file
/// One NFC door reader (a PN532 or another libnfc device) served by its own thread. The thread
/// polls for ISO 14443-A cards, authenticates DESFire cards with per-card AES keys (AN10922), keeps
/// the device open (reopening with exponential backoff, power-cycling it when hung) and posts what
/// it sees to the daemon's io_context. Every libnfc call it makes has a bounded timeout.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "adapters/nfc/diversify.hpp"
#include "core/types.hpp"

namespace zonegate::adapters::nfc {

using Millis = std::chrono::milliseconds;

struct ReaderConfig {
  std::string id;                               ///< reader name from zones.yaml, copied into every report
  std::string connstring;                       ///< libnfc connstring, e.g. "pn532_uart:/dev/ttyS1"
  AesKey master_key{};                          ///< site master key for AN10922 diversification. Secret: never logged.
  DesfireAid aid{};                             ///< DESFire application, wire order (LSB first)
  std::uint8_t key_no = 0;                      ///< key number within the application to authenticate with
  std::vector<std::uint8_t> system_identifier;  ///< AN10922 system identifier (≤ 21 bytes)
  Millis poll_interval{100};                    ///< pause between two polls
  Millis reopen_backoff_min{500};
  Millis reopen_backoff_max{30000};
  Millis hung_timeout{3000};      ///< no successful poll for this long: the reader is hung
  Millis command_timeout{250};    ///< one PN532 command that does not involve a card (libnfc NP_TIMEOUT_COMMAND)
  Millis card_timeout{500};       ///< one APDU exchange with a card
  Millis power_cycle_wait{2000};  ///< how long to wait for power_cycle to have run before reopening
  /// Cuts and restores the reader's power (e.g. through a GPIO line). Optional; runs on the io_context.
  std::function<void()> power_cycle;
};

/// A card presentation. A DESFire card (SAK 0x20, ATS 75 77 81 02…) reports kind `desfire` and
/// `auth_failed` = false only after a successful AES authentication; any failure — wrong key,
/// missing application, card removed, timeout, malformed reply — reports kind `desfire` with
/// `auth_failed` = true. A DESFire card is never reported as a plain UID card.
struct CardRead {
  std::string reader_id;
  std::string uid_hex;  ///< uppercase, no separators, e.g. "04A1B2C3D4E5F6"
  core::CredentialKind kind = core::CredentialKind::uid;
  bool auth_failed = false;
  std::string detail;  ///< why authentication failed, empty otherwise; never contains key material
};

/// Reader health, reported on each change: online once the device is open and has answered a poll,
/// offline (once per outage) when it fails or does not answer, and once more with `hung` set when
/// no poll has succeeded for hung_timeout (just before power_cycle is called, if configured).
struct ReaderStatus {
  std::string reader_id;
  bool online = false;
  bool hung = false;
  std::string detail;
};

struct ReaderCallbacks {
  std::function<void(const CardRead&)> on_card;
  std::function<void(const ReaderStatus&)> on_status;
};

class NfcReader {
 public:
  /// Validates the configuration (std::invalid_argument with the reason) and prepares libnfc
  /// (std::runtime_error if it cannot). Does not touch the device until start().
  NfcReader(boost::asio::io_context& io, ReaderConfig config, ReaderCallbacks callbacks);
  ~NfcReader();  ///< stop()
  NfcReader(const NfcReader&) = delete;
  NfcReader& operator=(const NfcReader&) = delete;

  void start();
  /// Ends the reader thread and closes the device. Returns at once from a wait, within one libnfc
  /// exchange (≤ card_timeout, or 300 ms for a poll) plus nfc_close (≤ command_timeout) otherwise,
  /// and within about 1.3 s if it catches libnfc opening a dead reader (libnfc's own fixed 1 s
  /// wake-up timeout). Reports still queued on the io_context are dropped: no callback runs after
  /// stop() returns (when called on the io_context's thread).
  void stop();
  [[nodiscard]] const std::string& id() const;

 private:
  struct Shared;  // what the thread, the posted handlers and this object share
  void run();

  boost::asio::io_context& io_;
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace zonegate::adapters::nfc
