// SPDX-License-Identifier: Apache-2.0
/// @file
/// A small strict option parser for the subcommands: `--name VALUE`, `--name=VALUE`, flags, and
/// positional arguments. Unknown options, missing values and repeated options are errors.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace zonegate::cli {

struct ParsedArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  ///< option name (with dashes) -> value
  std::set<std::string> flags;

  [[nodiscard]] std::optional<std::string> get(const std::string& name) const;
  [[nodiscard]] bool has(const std::string& name) const { return flags.count(name) != 0; }
};

/// Parses `args`. `value_options` take a value (`--x V` or `--x=V`), `flag_options` do not.
/// After `--` everything is positional. Returns nullopt and sets *error on a usage error.
std::optional<ParsedArgs> parse_args(const std::vector<std::string>& args, const std::set<std::string>& value_options,
                                     const std::set<std::string>& flag_options, std::string* error);

/// A positive integer in [1, max]; nullopt otherwise.
std::optional<unsigned long> parse_count(const std::string& text, unsigned long max);

/// Splits "a,b,c" (empty parts dropped).
std::vector<std::string> split_commas(const std::string& text);

/// The default state directory of zonegated.
inline constexpr const char* kDefaultStateDir = "/var/lib/zonegate";
/// Where the systemd unit has zonegated put its control socket (zonegated --control-socket).
inline constexpr const char* kRuntimeControlSocket = "/run/zonegate/control.sock";
/// The default site configuration.
inline constexpr const char* kDefaultConfig = "/etc/zonegate/zones.yaml";

}  // namespace zonegate::cli
