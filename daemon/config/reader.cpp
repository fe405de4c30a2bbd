// SPDX-License-Identifier: Apache-2.0
#include "config/reader.hpp"

namespace zonegate::config::detail {

using namespace std::chrono_literals;

// ------------------------------------------------------------------------------------------------
// Text helpers
// ------------------------------------------------------------------------------------------------

std::string printable(std::string_view s, std::size_t limit) {
  std::string out;
  bool cut = false;
  if (s.size() > limit) {
    std::size_t n = limit;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0U) == 0x80U) --n;
    s = s.substr(0, n);
    cut = true;
  }
  static constexpr std::string_view kHex = "0123456789abcdef";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20U || u == 0x7FU) {
      out += "\\x";
      out += kHex[u >> 4U];
      out += kHex[u & 0xFU];
    } else {
      out += c;
    }
  }
  if (cut) out += "...";
  return out;
}

std::string quoted(std::string_view s) { return "'" + printable(s) + "'"; }

std::string describe(const YamlNode& n) {
  switch (n.kind) {
    case Kind::null:
      return "nothing";
    case Kind::scalar:
      return n.plain ? quoted(n.text) : "the quoted string " + quoted(n.text);
    case Kind::sequence:
      return "a list";
    case Kind::map:
      return "a map";
  }
  return "nothing";
}

std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string child_path(const std::string& path, std::string_view key) {
  std::string k = printable(key, 128);
  return path.empty() ? k : path + "." + k;
}

std::string index_path(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

bool valid_id(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdLength) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-' || c == '_'; });
}

std::string format_duration(Duration d, bool days) {
  const auto ms = d.count();
  if (days && ms != 0 && ms % 86400000 == 0) return std::to_string(ms / 86400000) + "d";
  if (ms != 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::uint64_t> to_number(std::string_view digits) {
  if (!all_digits(digits) || digits.size() > 18) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  return v;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  if (a.size() > 64 || b.size() > 64) return 64;
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20U || u == 0x7FU;
  });
}

std::string NameTable::listing() const {
  std::string out;
  for (std::size_t i = 0; i < names_.size() && i < kMaxNamesListed; ++i) {
    if (i > 0) out += ", ";
    out += printable(names_[i]);
  }
  if (names_.size() > kMaxNamesListed) out += ", ... (" + std::to_string(names_.size()) + " in all)";
  return out;
}

// ------------------------------------------------------------------------------------------------
// Reader
// ------------------------------------------------------------------------------------------------

void Reader::error(SourceMark at, std::string key, std::string message) {
  if (errors_.size() >= kMaxErrors) {
    overflow_ = true;
    throw TooManyErrors{};
  }
  errors_.push_back(ConfigError{file_, at.line, at.column, std::move(key), std::move(message)});
}

std::optional<std::vector<Named>> Reader::entries(const Item& it) {
  const YamlNode& n = *it.node;
  if (n.kind == Kind::null) return std::vector<Named>{};
  if (n.kind != Kind::map) {
    error(it, "expected a map, got " + describe(n));
    return std::nullopt;
  }
  std::vector<Named> out;
  std::unordered_map<std::string, int> first_line;
  for (const auto& e : n.entries) {
    const SourceMark key_mark = e.key->mark.line > 0 ? e.key->mark : it.mark();
    if (e.key->kind != Kind::scalar) {
      error(key_mark, it.path, "a key must be a name, got " + describe(*e.key));
      continue;
    }
    const std::string& key = e.key->text;
    auto [pos, fresh] = first_line.emplace(key, key_mark.line);
    if (!fresh) {
      error(key_mark, child_path(it.path, key),
            "duplicate key " + quoted(key) + " (first defined at line " + std::to_string(pos->second) + ")");
      continue;
    }
    out.push_back(Named{key, Item{e.value, child_path(it.path, key), key_mark}});
  }
  return out;
}

Fields Reader::fields(const Item& it, std::initializer_list<std::string_view> allowed) {
  auto list = entries(it);
  if (!list) return Fields{};
  std::vector<Named> known;
  std::vector<std::string> unknown;
  for (auto& e : *list) {
    if (std::find(allowed.begin(), allowed.end(), e.key) != allowed.end()) {
      known.push_back(std::move(e));
      continue;
    }
    std::string message = "unknown key " + quoted(e.key);
    if (allowed.size() == 0) {
      message += " (this map takes no keys)";
    } else {
      message += " (expected one of: " + join(std::vector<std::string_view>(allowed)) + ")";
    }
    error(e.item.where, e.item.path, std::move(message));
    unknown.push_back(e.key);
  }
  return Fields{it, std::move(known), std::move(unknown)};
}

const Item* Reader::require(const Fields& f, std::string_view name) {
  const Item* it = f.get(name);
  if (it == nullptr) missing(f, name);
  return it;
}

void Reader::missing(const Fields& f, std::string_view name, std::string_view why) {
  if (f.misspelt(name)) return;
  std::string message = "missing required key " + quoted(name);
  if (!why.empty()) {
    message += ' ';
    message += why;
  }
  error(f.self().where, child_path(f.self().path, name), std::move(message));
}

std::vector<Named> Reader::id_entries(const Item& it, std::string_view noun) {
  auto list = entries(it);
  if (!list) return {};
  std::vector<Named> out;
  for (auto& e : *list) {
    if (!valid_id(e.key)) {
      error(e.item.where, e.item.path,
            "invalid " + std::string(noun) + " id " + quoted(e.key) +
                ": an id is 1 to 64 letters, digits, '-' or '_', starting with a letter or digit");
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::optional<std::vector<Item>> Reader::list(const Item& it, std::string_view what) {
  const YamlNode& n = *it.node;
  if (n.kind == Kind::null) return std::vector<Item>{};
  if (n.kind != Kind::sequence) {
    error(it, "expected a list of " + std::string(what) + ", got " + describe(n));
    return std::nullopt;
  }
  std::vector<Item> out;
  out.reserve(n.items.size());
  for (std::size_t i = 0; i < n.items.size(); ++i) {
    const YamlNode* e = n.items[i];
    out.push_back(Item{e, index_path(it.path, i), e->mark.line > 0 ? e->mark : it.mark()});
  }
  return out;
}

const std::string* Reader::scalar(const Item& it, std::string_view what) {
  if (it.node->kind == Kind::scalar) return &it.node->text;
  error(it, "expected " + std::string(what) + ", got " + describe(*it.node));
  return nullptr;
}

std::optional<bool> Reader::boolean(const Item& it) {
  const YamlNode& n = *it.node;
  if (n.kind == Kind::scalar && n.plain) {
    if (n.text == "true" || n.text == "True" || n.text == "TRUE") return true;
    if (n.text == "false" || n.text == "False" || n.text == "FALSE") return false;
  }
  error(it, "expected a boolean (true or false), got " + describe(n));
  return std::nullopt;
}

std::optional<std::uint32_t> Reader::positive_count(const Item& it, std::uint32_t max) {
  const YamlNode& n = *it.node;
  if (n.kind == Kind::scalar && n.plain) {
    std::string_view t = n.text;
    if (t.size() > 1 && t.front() == '-' && all_digits(t.substr(1))) {
      error(it, "must not be negative, got " + quoted(t));
      return std::nullopt;
    }
    if (t.size() > 1 && t.front() == '+') t.remove_prefix(1);
    if (all_digits(t)) {
      const auto v = to_number(t);
      if (!v || *v > max) {
        error(it, "is too large: " + quoted(n.text) + " (at most " + std::to_string(max) + ")");
        return std::nullopt;
      }
      if (*v == 0) {
        error(it, "must be at least 1 (leave the key out for no limit)");
        return std::nullopt;
      }
      return static_cast<std::uint32_t>(*v);
    }
  }
  error(it, "expected a whole number, got " + describe(n));
  return std::nullopt;
}

std::optional<std::uint64_t> Reader::whole_number(const Item& it, std::uint64_t min, std::uint64_t max) {
  const YamlNode& n = *it.node;
  if (n.kind == Kind::scalar && n.plain) {
    std::string_view t = n.text;
    const bool negative = t.size() > 1 && t.front() == '-' && all_digits(t.substr(1));
    if (t.size() > 1 && t.front() == '+') t.remove_prefix(1);
    if (negative || all_digits(t)) {
      const auto v = negative ? std::nullopt : to_number(t);
      if (!v || *v < min || *v > max) {
        error(it, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + quoted(n.text));
        return std::nullopt;
      }
      return *v;
    }
  }
  error(it, "expected a whole number, got " + describe(n));
  return std::nullopt;
}

std::optional<Duration> Reader::duration(const Item& it, const DurationLimits& limits) {
  const std::string* s = scalar(it, limits.days ? "a duration such as 400d or 12h" : "a duration such as 5s or 500ms");
  if (s == nullptr) return std::nullopt;
  std::string_view t = *s;
  std::size_t digits = 0;
  while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
  const std::string_view number = t.substr(0, digits);
  const std::string_view unit = t.substr(digits);
  std::int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60000;
  } else if (unit == "h") {
    scale = 3600000;
  } else if (unit == "d" && limits.days) {
    scale = 86400000;
  }
  if (number.empty() || scale == 0) {
    std::string hint = (!number.empty() && unit.empty()) ? " (add a unit)" : "";
    const std::string expected = limits.days ? "ms, s, m, h or d, e.g. 400d" : "ms, s, m or h, e.g. 5s";
    error(it, "invalid duration " + quoted(t) + ": expected a whole number followed by " + expected + hint);
    return std::nullopt;
  }
  // Compare before multiplying: the product of a long number and a large unit would overflow.
  const auto v = to_number(number);
  if (!v || *v > static_cast<std::uint64_t>(limits.max.count() / scale)) {
    error(it, "duration " + quoted(t) + " is longer than " + format_duration(limits.max, limits.days));
    return std::nullopt;
  }
  const Duration d{static_cast<std::int64_t>(*v) * scale};
  if (d.count() == 0 && limits.min.count() > 0) {
    error(it, "duration must be greater than zero");
    return std::nullopt;
  }
  if (d < limits.min) {
    error(it, "duration " + quoted(t) + " is shorter than " + format_duration(limits.min, limits.days));
    return std::nullopt;
  }
  return d;
}

std::optional<std::size_t> Reader::reference(const Item& it, const NameTable& table, std::string_view noun,
                                             std::string_view plural) {
  const std::string* s = scalar(it, "a " + std::string(noun) + " id");
  if (s == nullptr) return std::nullopt;
  if (auto i = table.find(*s)) return i;
  unknown_name(it.mark(), it.path, *s, table, noun, plural);
  return std::nullopt;
}

void Reader::unknown_name(SourceMark where, const std::string& path, std::string_view name, const NameTable& table,
                          std::string_view noun, std::string_view plural) {
  if (table.broken()) return;
  if (table.size() == 0) {
    error(where, path,
          "unknown " + std::string(noun) + " " + quoted(name) + " (no " + std::string(plural) + " are defined)");
  } else {
    error(where, path,
          "unknown " + std::string(noun) + " " + quoted(name) + " (defined " + std::string(plural) + ": " +
              table.listing() + ")");
  }
}

bool Reader::check_table_size(const Item& it, std::size_t n, std::size_t max, std::string_view plural) {
  if (n <= max) return true;
  error(it.where, it.path,
        "too many " + std::string(plural) + ": " + std::to_string(n) + " (at most " + std::to_string(max) + ")");
  return false;
}

}  // namespace zonegate::config::detail
