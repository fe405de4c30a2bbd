// SPDX-License-Identifier: Apache-2.0
/// @file
/// Small helpers for reading YAML files strictly: located errors, unknown and duplicate keys,
/// typed scalars. Internal to the CLI.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "zonegate/diagnostic.hpp"

namespace zonegate::cli {

/// Collects errors for one file.
class YamlReport {
 public:
  YamlReport(std::string file, Diagnostics& out) : file_(std::move(file)), out_(out) {}

  /// Records an error at the position of `at` (a node of this file).
  void error(const YAML::Node& at, std::string key, std::string message);
  /// Records an error with an explicit position (1-based; 0 = unknown).
  void error_at(int line, int column, std::string key, std::string message);

  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] std::size_t count() const { return out_.size(); }

 private:
  std::string file_;
  Diagnostics& out_;
};

/// "a.b" or "a[3]" style path building.
std::string join_key(std::string_view parent, std::string_view child);
std::string index_key(std::string_view parent, std::size_t index);

/// Reports every key of `map` that is not in `allowed` and every key given twice. Returns true
/// if all keys were fine. `map` must be a map.
bool check_keys(YamlReport& report, const YAML::Node& map, std::string_view path,
                std::initializer_list<std::string_view> allowed);

/// The scalar text of `node`, or an error ("expected <what>") and nullopt.
std::optional<std::string> scalar(YamlReport& report, const YAML::Node& node, std::string_view key,
                                  std::string_view what);

/// `true` / `false` only.
std::optional<bool> boolean(YamlReport& report, const YAML::Node& node, std::string_view key);

/// A sequence of scalars (a single scalar is refused).
std::optional<std::vector<std::string>> scalar_list(YamlReport& report, const YAML::Node& node, std::string_view key,
                                                    std::string_view what);

/// "a, b, c" of a list of names, for "expected one of" messages.
std::string list_names(const std::vector<std::string>& names);

/// Parses a whole YAML document; a syntax error is reported with its position.
std::optional<YAML::Node> parse_document(YamlReport& report, const std::string& text);

}  // namespace zonegate::cli
