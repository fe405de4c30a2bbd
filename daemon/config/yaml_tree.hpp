// SPDX-License-Identifier: Apache-2.0
/// @file
/// A read-only YAML document tree that keeps the source position of every node, including map
/// keys, and keeps duplicate keys (so the config loader can report them). Built from yaml-cpp's
/// event parser; never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace zonegate::config {

/// A position in the source text, 1-based. {0, 0} means "no position".
struct SourceMark {
  int line = 0;
  int column = 0;
};

struct YamlNode;
struct YamlParseResult;

/// One `key: value` pair of a map, in source order. Duplicate keys are kept.
struct YamlEntry {
  const YamlNode* key = nullptr;    ///< never null
  const YamlNode* value = nullptr;  ///< never null
};

/// A node of the tree. An alias is the very node its anchor names, so the tree may be a DAG; it
/// never has a cycle.
struct YamlNode {
  enum class Kind : std::uint8_t { null, scalar, sequence, map };
  Kind kind = Kind::null;
  /// Where the node starts. For an empty value (`key:` with nothing after it) this is where the
  /// parser found the next token, so prefer the position of the key when reporting on it.
  SourceMark mark;
  std::string text;                    ///< scalar text (after unquoting and escapes)
  bool plain = false;                  ///< a scalar written without quotes and without a tag
  std::vector<const YamlNode*> items;  ///< sequence elements
  std::vector<YamlEntry> entries;      ///< map entries
  /// Nodes in this subtree, counting an aliased subtree again at every use (capped just above
  /// kMaxExpandedNodes).
  std::size_t expanded = 1;
};

/// parse_yaml refuses documents whose aliases expand to more nodes than this ("billion laughs").
/// A large real site is a few thousand nodes.
inline constexpr std::size_t kMaxExpandedNodes = 200000;

/// A parsed document. Nodes live as long as the document; the document is movable.
class YamlDocument {
 public:
  /// The top-level node; a `null` node for an empty stream.
  [[nodiscard]] const YamlNode& root() const { return *root_; }

 private:
  friend class YamlTreeBuilder;
  friend YamlParseResult parse_yaml(std::string_view text);
  std::deque<YamlNode> nodes_;  // a deque keeps node addresses stable while it grows
  const YamlNode* root_ = nullptr;
};

struct YamlParseResult {
  bool ok = false;
  YamlDocument document;  ///< valid when ok
  SourceMark error_mark;  ///< when !ok
  std::string error;      ///< when !ok: what is wrong, e.g. "YAML syntax error: end of map flow not found"
};

/// Parses exactly one YAML document (an empty stream yields a null root). More than one document,
/// a syntax error, too deep nesting, an alias naming a node that contains it, or aliases expanding
/// to more than kMaxExpandedNodes nodes are errors.
YamlParseResult parse_yaml(std::string_view text);

}  // namespace zonegate::config
