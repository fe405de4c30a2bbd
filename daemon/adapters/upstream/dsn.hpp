// SPDX-License-Identifier: Apache-2.0
/// @file
/// libpq connection strings as zonegate accepts them: parsed with libpq's own parser, and refused
/// if they carry a password (passwords belong in a libpq passfile, never in a config file, a
/// command line or a log line).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace zonegate::adapters::upstream {

/// Checks a DSN (key=value form or postgresql:// URI). Returns an error text, or nullopt if it is
/// usable: it parses, and names no password.
std::optional<std::string> check_dsn(std::string_view dsn);

/// The DSN with every value except host, hostaddr, port, dbname and user replaced by "…", for
/// logs and status output.
std::string redact_dsn(std::string_view dsn);

}  // namespace zonegate::adapters::upstream
