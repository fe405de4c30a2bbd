// SPDX-License-Identifier: Apache-2.0
#include "zonegate/yaml_util.hpp"

#include <algorithm>
#include <set>

namespace zonegate::cli {

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (line > 0) {
    out += ':' + std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

void YamlReport::error(const YAML::Node& at, std::string key, std::string message) {
  int line = 0;
  int column = 0;
  if (at.IsDefined()) {
    const YAML::Mark m = at.Mark();
    // yaml-cpp uses 0-based positions and -1 for "no position".
    if (m.line >= 0) line = m.line + 1;
    if (m.column >= 0) column = m.column + 1;
  }
  error_at(line, column, std::move(key), std::move(message));
}

void YamlReport::error_at(int line, int column, std::string key, std::string message) {
  out_.push_back(Diagnostic{file_, line, column, std::move(key), std::move(message)});
}

std::string join_key(std::string_view parent, std::string_view child) {
  if (parent.empty()) return std::string(child);
  std::string out(parent);
  out += '.';
  out += child;
  return out;
}

std::string index_key(std::string_view parent, std::size_t index) {
  return std::string(parent) + '[' + std::to_string(index) + ']';
}

std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out.empty() ? "(none)" : out;
}

bool check_keys(YamlReport& report, const YAML::Node& map, std::string_view path,
                std::initializer_list<std::string_view> allowed) {
  bool ok = true;
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      report.error(key, std::string(path), "keys must be plain names");
      ok = false;
      continue;
    }
    const std::string& name = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::vector<std::string> names(allowed.begin(), allowed.end());
      report.error(key, join_key(path, name), "unknown key (expected one of: " + list_names(names) + ")");
      ok = false;
    } else if (!seen.insert(name).second) {
      report.error(key, join_key(path, name), "key given twice");
      ok = false;
    }
  }
  return ok;
}

std::optional<std::string> scalar(YamlReport& report, const YAML::Node& node, std::string_view key,
                                  std::string_view what) {
  if (!node.IsScalar() || node.Scalar().empty()) {
    report.error(node, std::string(key), "expected " + std::string(what));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<bool> boolean(YamlReport& report, const YAML::Node& node, std::string_view key) {
  if (node.IsScalar()) {
    if (node.Scalar() == "true") return true;
    if (node.Scalar() == "false") return false;
  }
  report.error(node, std::string(key), "expected true or false");
  return std::nullopt;
}

std::optional<std::vector<std::string>> scalar_list(YamlReport& report, const YAML::Node& node, std::string_view key,
                                                    std::string_view what) {
  if (!node.IsSequence()) {
    report.error(node, std::string(key), "expected a list of " + std::string(what) + " ([a, b])");
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (std::size_t i = 0; i < node.size(); ++i) {
    auto s = scalar(report, node[i], index_key(key, i), what);
    if (s) {
      out.push_back(*s);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<YAML::Node> parse_document(YamlReport& report, const std::string& text) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    report.error_at(e.mark.line >= 0 ? e.mark.line + 1 : 0, e.mark.column >= 0 ? e.mark.column + 1 : 0, "",
                    "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

}  // namespace zonegate::cli
