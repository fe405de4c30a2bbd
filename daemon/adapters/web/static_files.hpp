// SPDX-License-Identifier: Apache-2.0
/// @file
/// The console's static assets: strict mapping of a request path to a file under the assets
/// directory. Only plain names ([A-Za-z0-9_-] and inner dots) in each segment, no dot segments, no
/// hidden files, no encoded separators; the resolved path (symlinks followed) must stay inside the
/// directory, and only extensions in a fixed MIME table are served. Anything else is "not found".
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace zonegate::adapters::web {

struct Asset {
  std::filesystem::path file;  ///< canonical path inside the assets directory
  std::string_view mime;
};

/// The asset `target` (an origin-form request target, query allowed) names inside `root` (which must
/// be canonical), or nullopt. "/" means index.html.
std::optional<Asset> resolve_asset(const std::filesystem::path& root, std::string_view target);

/// MIME type for a file name by extension, from the fixed table; empty if the type is not served.
std::string_view mime_for(const std::filesystem::path& file);

/// Reads a whole asset file (at most `max_bytes`); nullopt if it cannot be read or is larger.
std::optional<std::string> read_asset(const std::filesystem::path& file, std::uintmax_t max_bytes);

}  // namespace zonegate::adapters::web
