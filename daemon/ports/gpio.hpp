// SPDX-License-Identifier: Apache-2.0
/// @file
/// Port: named digital lines (door sensors, REX buttons, gate outputs, fire and tamper inputs,
/// strikes, buzzers, reader power). Implemented by adapters/gpio (libgpiod v1) and sim/.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace zonegate::ports {

struct InputConfig {
  bool active_low = false;
  std::chrono::milliseconds debounce{20};  ///< a level must be stable this long to count
};

struct OutputConfig {
  bool active_low = false;
  bool initial_active = false;
};

/// Called on the event loop with the debounced logical level (true = active).
using LineCallback = std::function<void(bool active)>;

class GpioLines {
 public:
  virtual ~GpioLines() = default;
  /// Requests an input line by its name (device-tree gpio-line-names). Returns an error message
  /// naming the line if it cannot be found or requested. The callback fires on every debounced
  /// change; the initial level is reported once right after the request succeeds.
  virtual std::optional<std::string> request_input(const std::string& name, const InputConfig& cfg,
                                                   LineCallback on_change) = 0;
  virtual std::optional<std::string> request_output(const std::string& name, const OutputConfig& cfg) = 0;
  /// Drives a requested output (logical level). Returns an error message on failure.
  virtual std::optional<std::string> set(const std::string& name, bool active) = 0;
  /// Releases every line.
  virtual void close() = 0;
};

}  // namespace zonegate::ports
