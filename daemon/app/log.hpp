// SPDX-License-Identifier: Apache-2.0
/// @file
/// Leveled logging to journald (native protocol, when started by systemd) or stderr. Messages
/// never carry secrets: callers pass ids, never keys or passwords.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace zonegate::app {

enum class LogLevel : int { debug = 7, info = 6, notice = 5, warning = 4, error = 3 };

std::optional<LogLevel> log_level_from_string(std::string_view s);

class Log {
 public:
  /// journald when the JOURNAL_STREAM environment says stderr is the journal, else stderr text.
  static void init(LogLevel level);
  static void set_level(LogLevel level);
  static void write(LogLevel level, std::string_view message);
  static void debug(std::string_view m) { write(LogLevel::debug, m); }
  static void info(std::string_view m) { write(LogLevel::info, m); }
  static void notice(std::string_view m) { write(LogLevel::notice, m); }
  static void warning(std::string_view m) { write(LogLevel::warning, m); }
  static void error(std::string_view m) { write(LogLevel::error, m); }
};

}  // namespace zonegate::app
