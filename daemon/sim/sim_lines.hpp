// SPDX-License-Identifier: Apache-2.0
/// @file
/// Simulated GPIO lines: the in-tree twin of adapters/gpio (libgpiod) for the simulation backend,
/// the sim console and tests. Same port, same messages, same debouncing on the event loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ports/gpio.hpp"

namespace zonegate::sim {

/// ports::GpioLines over a fixed set of named lines that exist only in memory.
///
/// Each line has a wire level (initially low). A requested input reports logical levels (wire
/// level inverted when InputConfig::active_low), debounced like the hardware adapter: every change
/// of the wire level is an edge that restarts a steady_timer of InputConfig::debounce; when it
/// expires the level is reported if it differs from the last one reported. Callbacks are posted to
/// the io_context, never called from inject(). Outputs record the level driven.
///
/// Faults: set() can be made to fail for a line, and a line can disappear (as when its GPIO chip
/// is unbound): lookups fail as for an unknown name, a requested input stops with an error, set()
/// fails. Use from the io_context's thread only. Only the constructor throws.
class SimLines final : public ports::GpioLines {
 public:
  /// Sees every level an output is driven to, including its initial level when requested.
  /// Called synchronously from request_output()/set().
  using SetObserver = std::function<void(const std::string& name, bool active)>;
  /// Receives runtime failures the port cannot return (an input whose line disappeared). Posted.
  using LineErrorCallback = std::function<void(const std::string& message)>;

  /// @throws std::invalid_argument if a name is empty or repeated.
  SimLines(boost::asio::io_context& io, const std::vector<std::string>& names);
  ~SimLines() override;
  SimLines(const SimLines&) = delete;
  SimLines& operator=(const SimLines&) = delete;

  std::optional<std::string> request_input(const std::string& name, const ports::InputConfig& cfg,
                                           ports::LineCallback on_change) override;
  std::optional<std::string> request_output(const std::string& name, const ports::OutputConfig& cfg) override;
  std::optional<std::string> set(const std::string& name, bool active) override;
  void close() override;

  // --- the simulated world ------------------------------------------------------------------
  /// Drives an input to a logical level (what the daemon should see: true = door open, button
  /// pressed); for a line not requested as an input the logical level is the wire level.
  /// Returns an error for an unknown or vanished line, or an output.
  std::optional<std::string> inject(const std::string& name, bool active);
  /// Drives an input's wire level (true = high), as a pull resistor on real hardware would.
  std::optional<std::string> inject_raw(const std::string& name, bool high);
  /// Logical level of a requested output; nullopt if the line is not requested as an output.
  [[nodiscard]] std::optional<bool> level(const std::string& name) const;
  /// Wire level of a known line; nullopt for an unknown or vanished line.
  [[nodiscard]] std::optional<bool> raw_level(const std::string& name) const;
  /// Whether the line is requested (as input or output) through this object.
  [[nodiscard]] bool requested(const std::string& name) const;
  /// Every line name, sorted.
  [[nodiscard]] std::vector<std::string> names() const;

  void set_observer(SetObserver observer);
  void set_error_handler(LineErrorCallback on_error);

  /// While failing, set() on this line fails with EIO ("Input/output error").
  void fail_sets(const std::string& name, bool failing = true);
  /// The line disappears; see the class comment. A requested handle stays stale until close().
  void remove_line(const std::string& name);
  /// The line can be found again (requests held before it vanished stay stale until close()).
  void restore_line(const std::string& name);

 private:
  struct Watch;
  struct Line {
    bool high = false;
    bool driven = false;  // an input never driven idles at its inactive level
    bool removed = false;
    bool failing_sets = false;
    enum class Role { none, input, output } role = Role::none;
    bool active_low = false;
    bool stale = false;  // vanished while requested
    std::shared_ptr<Watch> watch;
  };

  Line* find(const std::string& name);
  [[nodiscard]] const Line* find(const std::string& name) const;
  std::optional<std::string> check_requestable(const std::string& name, const char* role, Line*& out);
  void report_error(std::string message);

  boost::asio::io_context& io_;
  std::map<std::string, Line> lines_;
  SetObserver observer_;
  std::shared_ptr<LineErrorCallback> on_error_;
};

}  // namespace zonegate::sim
