// SPDX-License-Identifier: Apache-2.0
/// @file
/// A PN532 on a pseudo-terminal: libnfc's pn532_uart driver opens the slave side
/// (`pn532_uart:<slave path>`) and talks to the emulated chip as if to a real one over a UART.
/// All methods are thread-safe; one internal thread serves the terminal.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pn532emu/pn532_model.hpp"

namespace zonegate::pn532emu {

class Emulator {
 public:
  struct Options {
    std::string link_path;   ///< if set, a symlink to the slave is created here (and removed on exit)
    std::uint32_t seed = 0;  ///< random source for card nonces and garbling; 0 = from std::random_device
    bool trace = false;      ///< hex dump every exchange to stderr
  };

  /// Opens the pseudo-terminal and starts serving it. Throws std::system_error.
  Emulator();
  explicit Emulator(Options options);
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  /// The pty slave (e.g. /dev/pts/7), or the symlink if one was requested.
  [[nodiscard]] const std::string& device_path() const { return device_path_; }
  /// "pn532_uart:<device_path>", ready for nfc_open().
  [[nodiscard]] std::string connstring() const { return "pn532_uart:" + device_path_; }

  void present(Card card);
  void remove_card();
  void arm(Fault fault, unsigned count = 1);
  /// Stops answering anything until resume() (or clear_faults()).
  void hang();
  void resume();
  void clear_faults();
  [[nodiscard]] bool hung() const;
  [[nodiscard]] Stats stats() const;

  /// Waits until `pred(stats())` holds or `timeout` passes; returns the last verdict.
  bool wait_for(const std::function<bool(const Stats&)>& pred, std::chrono::milliseconds timeout) const;

 private:
  void run();
  void queue_output(std::vector<std::uint8_t> bytes);  // caller holds mutex_
  void wake();

  Options options_;
  int master_fd_ = -1;
  int slave_fd_ = -1;  ///< kept open so the master never sees a hang-up between host sessions
  int wake_fd_ = -1;   ///< eventfd
  std::string slave_path_;
  std::string device_path_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  Pn532Model model_;
  std::vector<std::uint8_t> outgoing_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace zonegate::pn532emu
