// SPDX-License-Identifier: Apache-2.0
#include "app/log.hpp"

#include <systemd/sd-journal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace zonegate::app {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<bool> g_journal{false};
std::mutex g_stderr_mutex;

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::notice:
      return "notice";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
  }
  return "info";
}

}  // namespace

std::optional<LogLevel> log_level_from_string(std::string_view s) {
  if (s == "debug") return LogLevel::debug;
  if (s == "info") return LogLevel::info;
  if (s == "notice") return LogLevel::notice;
  if (s == "warning") return LogLevel::warning;
  if (s == "error") return LogLevel::error;
  return std::nullopt;
}

void Log::init(LogLevel level) {
  g_level = static_cast<int>(level);
  // systemd sets JOURNAL_STREAM when stderr is connected to the journal; then structured
  // entries with a priority beat text lines.
  g_journal = std::getenv("JOURNAL_STREAM") != nullptr;
}

void Log::set_level(LogLevel level) { g_level = static_cast<int>(level); }

void Log::write(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) > g_level.load()) return;
  if (g_journal) {
    sd_journal_send("MESSAGE=%.*s", static_cast<int>(message.size()), message.data(), "PRIORITY=%i",
                    static_cast<int>(level), "SYSLOG_IDENTIFIER=zonegated", nullptr);
    return;
  }
  std::timespec ts{};
  std::timespec_get(&ts, TIME_UTC);
  std::tm tm{};
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  const std::lock_guard lock(g_stderr_mutex);
  std::fprintf(stderr, "%s.%03ldZ zonegated %s: %.*s\n", stamp, ts.tv_nsec / 1000000, level_name(level),
               static_cast<int>(message.size()), message.data());
}

}  // namespace zonegate::app
