// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/static_files.hpp"

#include <array>
#include <fstream>
#include <system_error>
#include <utility>

namespace zonegate::adapters::web {
namespace {

namespace fs = std::filesystem;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/// True if `child` (canonical) is `root` or below it, compared by path components, so that
/// "/srv/console-evil" is not taken to be inside "/srv/console".
bool inside(const fs::path& root, const fs::path& child) {
  auto r = root.begin();
  auto c = child.begin();
  for (; r != root.end(); ++r, ++c) {
    if (r->empty() && std::next(r) == root.end()) break;  // trailing separator of root
    if (c == child.end() || *r != *c) return false;
  }
  return true;
}

}  // namespace

std::string_view mime_for(const fs::path& file) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 13> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".wav", "audio/wav"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".webmanifest", "application/manifest+json"},
  }};
  const std::string ext = file.extension().string();
  for (const auto& [e, type] : kTypes) {
    if (e == ext) return type;
  }
  return {};
}

std::optional<Asset> resolve_asset(const fs::path& root, std::string_view target) {
  if (root.empty() || target.empty() || target.front() != '/') return std::nullopt;
  if (const auto q = target.find_first_of("?#"); q != std::string_view::npos) target = target.substr(0, q);
  if (target.size() > 512) return std::nullopt;

  // Decode, refusing anything that decodes to a separator, a control byte or a non-name byte:
  // "%2f", "%5c", "%00" and "%2e%2e" never reach the file system as path syntax.
  std::string decoded;
  decoded.reserve(target.size());
  for (std::size_t i = 0; i < target.size(); ++i) {
    char c = target[i];
    if (c == '%') {
      if (i + 2 >= target.size()) return std::nullopt;
      const int hi = hex_value(target[i + 1]);
      const int lo = hex_value(target[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      if (c == '/') return std::nullopt;
      i += 2;
    } else if (c == '/') {
      decoded += c;
      continue;
    }
    if (!name_char(c)) return std::nullopt;
    decoded += c;
  }

  fs::path rel;
  std::size_t start = 1;
  while (start <= decoded.size()) {
    const std::size_t end = std::min(decoded.find('/', start), decoded.size());
    const std::string_view segment(decoded.data() + start, end - start);
    if (segment.empty()) {
      if (end != decoded.size()) return std::nullopt;  // "//" inside the path
    } else {
      // ".", "..", and hidden files (".git", ".env") all start with a dot.
      if (segment.front() == '.') return std::nullopt;
      rel /= std::string(segment);
    }
    start = end + 1;
  }
  if (rel.empty()) rel = "index.html";
  if (!decoded.empty() && decoded.back() == '/' && decoded.size() > 1) return std::nullopt;

  std::error_code ec;
  const fs::path full = fs::weakly_canonical(root / rel, ec);
  if (ec || !inside(root, full)) return std::nullopt;
  const auto st = fs::status(full, ec);
  if (ec || !fs::is_regular_file(st)) return std::nullopt;
  const std::string_view mime = mime_for(full);
  if (mime.empty()) return std::nullopt;
  return Asset{full, mime};
}

std::optional<std::string> read_asset(const fs::path& file, std::uintmax_t max_bytes) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec || size > max_bytes) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data(static_cast<std::size_t>(size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) return std::nullopt;
  return data;
}

}  // namespace zonegate::adapters::web
