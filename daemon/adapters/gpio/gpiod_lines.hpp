// SPDX-License-Identifier: Apache-2.0
/// @file
/// GPIO adapter over libgpiod v1 (Debian 12: libgpiod 1.6): named lines, edge events waited on by
/// the event loop, software debouncing, outputs. Also PowerCycler, which power-cycles a device (a
/// hung NFC reader) through any ports::GpioLines output.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "ports/gpio.hpp"

namespace zonegate::adapters::gpio {

/// Receives a runtime failure of a requested line that the port has no other way to report,
/// e.g. "GPIO line 'door1-dps' stopped delivering events: No such device". After it fires the
/// line's callback never fires again; its level must be treated as unknown.
using LineErrorCallback = std::function<void(const std::string& message)>;

/// ports::GpioLines on libgpiod v1. Lines are found by name (device-tree gpio-line-names) with
/// gpiod_line_find(); each input's event fd is waited on by the io_context (no threads). Debounce:
/// after the last edge the line must stay quiet for InputConfig::debounce, then its level is read
/// and reported if it differs from the last reported level.
///
/// Use from the io_context's thread only. No member throws except the constructor; every errno is
/// turned into a message naming the line.
class GpiodLines final : public ports::GpioLines {
 public:
  /// @param consumer label the kernel shows for requested lines (gpioinfo), e.g. "zonegated".
  /// @throws std::invalid_argument if consumer is empty.
  GpiodLines(boost::asio::io_context& io, std::string consumer = "zonegated");
  ~GpiodLines() override;
  GpiodLines(const GpiodLines&) = delete;
  GpiodLines& operator=(const GpiodLines&) = delete;

  std::optional<std::string> request_input(const std::string& name, const ports::InputConfig& cfg,
                                           ports::LineCallback on_change) override;
  std::optional<std::string> request_output(const std::string& name, const ports::OutputConfig& cfg) override;
  std::optional<std::string> set(const std::string& name, bool active) override;
  /// Releases every line; pending waits and debounce timers are cancelled and no callback fires
  /// afterwards. Lines may be requested again later.
  void close() override;

  /// Sets the receiver of runtime line failures (see LineErrorCallback). Called on the event loop.
  void set_error_handler(LineErrorCallback on_error);

 private:
  struct Input;
  struct Output;

  std::optional<std::string> check_unused(const std::string& name, const char* role) const;

  boost::asio::io_context& io_;
  std::string consumer_;
  std::shared_ptr<LineErrorCallback> on_error_;
  std::map<std::string, std::shared_ptr<Input>> inputs_;
  std::map<std::string, std::unique_ptr<Output>> outputs_;
};

/// Power-cycles a device through an output line that is already requested (normally with
/// OutputConfig::initial_active = true, i.e. powered): cycle() drives the line inactive, waits
/// off_time on a timer, then drives it active again. Works with any ports::GpioLines (the libgpiod
/// adapter or the simulator). `lines` must outlive the cycler. Use from the io_context's thread only.
class PowerCycler {
 public:
  /// Called when a cycle ends: nullopt once power is back on, or the error of switching it back.
  using Done = std::function<void(std::optional<std::string> error)>;

  PowerCycler(boost::asio::io_context& io, ports::GpioLines& lines, std::string line_name,
              std::chrono::milliseconds off_time = std::chrono::seconds{1});
  /// If a cycle is running, power is switched back on at once (best effort) and on_done is dropped.
  ~PowerCycler();
  PowerCycler(const PowerCycler&) = delete;
  PowerCycler& operator=(const PowerCycler&) = delete;

  /// Switches the line off and schedules switching it on. Returns the error if switching off
  /// failed (then nothing is scheduled and on_done is not called), or a message if a cycle is
  /// already running (that cycle goes on; this call's on_done is not called).
  std::optional<std::string> cycle(Done on_done = {});
  [[nodiscard]] bool cycling() const;
  [[nodiscard]] const std::string& line_name() const;

 private:
  struct State;

  std::shared_ptr<State> state_;
};

}  // namespace zonegate::adapters::gpio
