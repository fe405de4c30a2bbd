// SPDX-License-Identifier: Apache-2.0
#include "zonegate/cli_args.hpp"

#include <charconv>

namespace zonegate::cli {

std::optional<std::string> ParsedArgs::get(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::optional<ParsedArgs> parse_args(const std::vector<std::string>& args, const std::set<std::string>& value_options,
                                     const std::set<std::string>& flag_options, std::string* error) {
  ParsedArgs out;
  const auto fail = [&](std::string message) -> std::optional<ParsedArgs> {
    if (error != nullptr) *error = std::move(message);
    return std::nullopt;
  };
  bool only_positional = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_positional || a.size() < 2 || a[0] != '-') {
      out.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string name = a;
    std::optional<std::string> value;
    if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    if (value_options.count(name) != 0) {
      if (!value) {
        if (i + 1 >= args.size()) return fail("option " + name + " needs a value");
        value = args[++i];
      }
      if (!out.values.emplace(name, *value).second) return fail("option " + name + " given twice");
    } else if (flag_options.count(name) != 0) {
      if (value) return fail("option " + name + " takes no value");
      if (!out.flags.insert(name).second) return fail("option " + name + " given twice");
    } else {
      return fail("unknown option " + name);
    }
  }
  return out;
}

std::optional<unsigned long> parse_count(const std::string& text, unsigned long max) {
  unsigned long v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || v == 0 || v > max) return std::nullopt;
  return v;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace zonegate::cli
