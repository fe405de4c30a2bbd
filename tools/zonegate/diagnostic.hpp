// SPDX-License-Identifier: Apache-2.0
/// @file
/// A located error in a file the CLI reads (scenario files, people files).
#pragma once

#include <string>
#include <vector>

namespace zonegate::cli {

/// One error with its position. Line and column are 1-based; 0 means "unknown".
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key;  ///< dotted path of the offending key, e.g. scenarios[0].steps[2].door
  std::string message;

  /// `file:line:col: key: message` (parts that are unknown are left out).
  [[nodiscard]] std::string to_string() const;
};

using Diagnostics = std::vector<Diagnostic>;

}  // namespace zonegate::cli
