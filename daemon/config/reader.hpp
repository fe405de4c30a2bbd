// SPDX-License-Identifier: Apache-2.0
/// @file
/// Internal to the config loader: reading typed values out of a YamlNode tree while collecting
/// errors with their position and key path. Shared by loader.cpp (the policy sections) and
/// hardware_section.cpp (the `hardware:` and `daemon:` sections). Not a public API.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/loader.hpp"
#include "config/yaml_tree.hpp"
#include "core/types.hpp"

namespace zonegate::config::detail {

using core::Duration;
using Kind = YamlNode::Kind;

// A file with this many problems is not worth reading further; stopping there also bounds the
// work a hostile file (aliases multiply nodes) can cause.
inline constexpr std::size_t kMaxErrors = 500;
inline constexpr std::size_t kMaxIdLength = 64;
inline constexpr std::size_t kMaxNamesListed = 12;

// ------------------------------------------------------------------------------------------------
// Text helpers
// ------------------------------------------------------------------------------------------------

/// Text from the file, made safe for a one-line message: control characters are escaped and long
/// text is cut (without splitting a UTF-8 sequence).
std::string printable(std::string_view s, std::size_t limit = 64);
/// printable(s) in single quotes.
std::string quoted(std::string_view s);
/// "nothing", "'text'", "the quoted string 'text'", "a list", "a map".
std::string describe(const YamlNode& n);
std::string join(const std::vector<std::string_view>& names);
std::string child_path(const std::string& path, std::string_view key);
std::string index_path(const std::string& path, std::size_t i);
/// 1 to 64 ASCII letters, digits, '-', '_', starting with a letter or digit.
bool valid_id(std::string_view s);
/// The shortest exact spelling: "5s", "1500ms", "2m", "1h" (and "400d" when `days`).
std::string format_duration(Duration d, bool days = false);
bool all_digits(std::string_view s);
/// Digits to a number; nullopt when there are more digits than a uint64 holds comfortably.
std::optional<std::uint64_t> to_number(std::string_view digits);
/// Edit distance with adjacent transpositions, for spotting a misspelt key.
std::size_t edit_distance(std::string_view a, std::string_view b);
bool has_control(std::string_view s);

// ------------------------------------------------------------------------------------------------
// Where a value sits in the file
// ------------------------------------------------------------------------------------------------

/// A value together with its key path and the place its key (or list element) is written.
struct Item {
  const YamlNode* node = nullptr;  // never null once built
  std::string path;
  SourceMark where;  // the key; used for "missing key" and for values that are empty

  /// Where to point at the value itself: an empty value has no text of its own, so use its key.
  [[nodiscard]] SourceMark mark() const {
    if (node->kind == Kind::null || node->mark.line <= 0) return where;
    return node->mark;
  }
};

/// A map entry whose key is a name (an id or a schema key).
struct Named {
  std::string key;
  Item item;
};

/// The entries of a map whose keys are fixed by the schema, looked up by name.
class Fields {
 public:
  Fields() = default;
  Fields(Item self, std::vector<Named> entries, std::vector<std::string> unknown)
      : self_(std::move(self)), entries_(std::move(entries)), unknown_(std::move(unknown)), ok_(true) {}

  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] const Item& self() const { return self_; }
  [[nodiscard]] const Item* get(std::string_view name) const {
    for (const auto& e : entries_) {
      if (e.key == name) return &e.item;
    }
    return nullptr;
  }
  /// True when an unknown key of this map looks like a misspelling of `name`; that key has
  /// been reported already, so a missing `name` is not reported again.
  [[nodiscard]] bool misspelt(std::string_view name) const {
    return std::any_of(unknown_.begin(), unknown_.end(),
                       [&](const std::string& k) { return edit_distance(k, name) <= (name.size() <= 4 ? 1U : 2U); });
  }

 private:
  Item self_;
  std::vector<Named> entries_;
  std::vector<std::string> unknown_;
  bool ok_ = false;
};

/// Names defined in one section (zones, doors, ...) in file order, for resolving references.
class NameTable {
 public:
  void add(const std::string& name) {
    if (index_.emplace(name, names_.size()).second) names_.push_back(name);
  }
  [[nodiscard]] std::optional<std::size_t> find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    if (it == index_.end()) return std::nullopt;
    return it->second;
  }
  [[nodiscard]] std::size_t size() const { return names_.size(); }
  /// The section defining these names could not be read; references to it are not reported.
  void set_broken() { broken_ = true; }
  [[nodiscard]] bool broken() const { return broken_; }
  [[nodiscard]] const std::string& name(std::size_t i) const { return names_[i]; }
  /// "a, b, c" (shortened when long), for "unknown X" messages.
  [[nodiscard]] std::string listing() const;

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::size_t> index_;
  bool broken_ = false;
};

template <typename T>
struct Choice {
  std::string_view name;
  T value;
};

template <typename T, std::size_t N>
std::string choice_names(const std::array<Choice<T>, N>& choices) {
  std::string out;
  for (const auto& c : choices) {
    if (!out.empty()) out += ", ";
    out += c.name;
  }
  return out;
}

/// What a duration key accepts. The defaults are the rule of every policy timing: greater than
/// zero, at most 24h, units ms, s, m, h.
struct DurationLimits {
  Duration min{1};  ///< Duration{0} allows 0ms
  Duration max{std::chrono::hours{24}};
  bool days = false;  ///< accept the unit `d` (and print limits in days)
};

// ------------------------------------------------------------------------------------------------
// The reader: typed access to the tree, every problem collected as an error
// ------------------------------------------------------------------------------------------------

class Reader {
 public:
  /// Thrown by error() at the cap; caught by the loader. Stops the work a hostile file can cause.
  struct TooManyErrors {};

  explicit Reader(const std::string& file) : file_(file) {}

  void error(SourceMark at, std::string key, std::string message);
  void error(const Item& it, std::string message) { error(it.mark(), it.path, std::move(message)); }

  /// Entries of a map value with their keys checked: keys must be scalars and unique (the first
  /// of a repeated key wins). An empty value reads as an empty map.
  std::optional<std::vector<Named>> entries(const Item& it);
  /// A map with a fixed set of keys. Unknown keys are reported; the result is !ok() when the
  /// value is not a map at all.
  Fields fields(const Item& it, std::initializer_list<std::string_view> allowed);
  /// The value of a required key; reports it missing (unless a misspelling of it was reported).
  const Item* require(const Fields& f, std::string_view name);
  /// Reports "missing required key 'name'" at the map `f`, followed by `why` when not empty.
  void missing(const Fields& f, std::string_view name, std::string_view why = {});
  /// Entries of a map from ids to definitions (zones, doors, ...): every key must be a valid id.
  std::vector<Named> id_entries(const Item& it, std::string_view noun);
  std::optional<std::vector<Item>> list(const Item& it, std::string_view what);
  const std::string* scalar(const Item& it, std::string_view what);
  std::optional<bool> boolean(const Item& it);
  /// A whole number from 1 to `max` (0 means "leave the key out").
  std::optional<std::uint32_t> positive_count(const Item& it, std::uint32_t max);
  /// A whole number from `min` to `max`.
  std::optional<std::uint64_t> whole_number(const Item& it, std::uint64_t min, std::uint64_t max);
  std::optional<Duration> duration(const Item& it, const DurationLimits& limits = {});

  template <typename T, std::size_t N>
  std::optional<T> choice(const Item& it, const std::array<Choice<T>, N>& choices, std::string_view noun) {
    const std::string* s = scalar(it, "one of: " + choice_names(choices));
    if (s == nullptr) return std::nullopt;
    for (const auto& c : choices) {
      if (c.name == *s) return c.value;
    }
    error(it, "invalid " + std::string(noun) + " " + quoted(*s) + " (expected one of: " + choice_names(choices) + ")");
    return std::nullopt;
  }

  /// A list of distinct choices; an empty list is an error when `non_empty`.
  template <typename T, std::size_t N>
  std::optional<std::vector<T>> choice_list(const Item& it, const std::array<Choice<T>, N>& choices,
                                            std::string_view noun, bool non_empty = true) {
    auto items = list(it, std::string(noun) + "s");
    if (!items) return std::nullopt;
    if (items->empty() && non_empty) {
      error(it, "must list at least one " + std::string(noun) + " (one of: " + choice_names(choices) + ")");
      return std::nullopt;
    }
    std::vector<T> out;
    bool ok = true;
    for (const auto& e : *items) {
      auto v = choice(e, choices, noun);
      if (!v) {
        ok = false;
        continue;
      }
      if (std::find(out.begin(), out.end(), *v) != out.end()) {
        error(e, quoted(e.node->text) + " is listed twice");
        continue;
      }
      out.push_back(*v);
    }
    if (!ok) return std::nullopt;
    return out;
  }

  /// A reference by id to something defined in another section.
  std::optional<std::size_t> reference(const Item& it, const NameTable& table, std::string_view noun,
                                       std::string_view plural);
  /// Reports "unknown NOUN 'name' (defined PLURAL: ...)" at `where`/`path` (a map key naming it).
  void unknown_name(SourceMark where, const std::string& path, std::string_view name, const NameTable& table,
                    std::string_view noun, std::string_view plural);

  static bool is_map(const Item& it) { return it.node->kind == Kind::map || it.node->kind == Kind::null; }

  bool check_table_size(const Item& it, std::size_t n, std::size_t max, std::string_view plural);

 protected:
  const std::string& file_;
  std::vector<ConfigError> errors_;
  bool overflow_ = false;
};

}  // namespace zonegate::config::detail
