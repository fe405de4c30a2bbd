// SPDX-License-Identifier: Apache-2.0
#include "config/yaml_tree.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <exception>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>

namespace zonegate::config {

namespace {

SourceMark to_source(const YAML::Mark& m) {
  if (m.is_null()) return {};
  return SourceMark{m.line + 1, m.column + 1};
}

}  // namespace

/// Turns yaml-cpp's parse events into a YamlDocument. yaml-cpp's own Node API would do, but it
/// forgets where keys are written and silently merges duplicate keys, and the loader must report both.
class YamlTreeBuilder final : public YAML::EventHandler {
 public:
  explicit YamlTreeBuilder(YamlDocument& doc) : doc_(doc) {}

  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] SourceMark error_mark() const { return error_mark_; }
  [[nodiscard]] const std::string& error() const { return error_; }

  void OnDocumentStart(const YAML::Mark& /*mark*/) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YamlNode& n = make(YamlNode::Kind::null, mark);
    remember(anchor, n);
    attach(n);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {  // yaml-cpp rejects unknown anchors itself; stay safe anyway
      fail(mark, "alias names an unknown anchor");
      attach(make(YamlNode::Kind::null, mark));
      return;
    }
    // yaml-cpp registers an anchor before parsing its node's content, so `&a [*a]` gets here with
    // a node that is still open. Sharing it would make the tree cyclic.
    if (open_.count(it->second) != 0) {
      fail(mark, "an alias may not refer to a node that contains it");
      attach(make(YamlNode::Kind::null, mark));
      return;
    }
    attach(*it->second);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YamlNode& n = make(YamlNode::Kind::scalar, mark);
    n.text = value;
    n.plain = (tag == "?");  // yaml-cpp tags plain scalars "?" and quoted ones "!"
    remember(anchor, n);
    attach(n);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    open(YamlNode::Kind::sequence, mark, anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    open(YamlNode::Kind::map, mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    YamlNode* node = nullptr;
    const YamlNode* pending_key = nullptr;  // maps: a key waiting for its value
  };

  YamlNode& make(YamlNode::Kind kind, const YAML::Mark& mark) {
    YamlNode& n = doc_.nodes_.emplace_back();
    n.kind = kind;
    n.mark = to_source(mark);
    return n;
  }

  void remember(YAML::anchor_t anchor, const YamlNode& n) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = &n;
  }

  void open(YamlNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    YamlNode& n = make(kind, mark);
    remember(anchor, n);
    attach(n);
    stack_.push_back(Frame{&n, nullptr});
    open_.emplace(&n, true);
  }

  void close() {
    if (stack_.empty()) return;
    Frame& f = stack_.back();
    if (f.pending_key != nullptr) {  // a key without a value; yaml-cpp normally emits a null
      YamlNode& n = make(YamlNode::Kind::null, YAML::Mark::null_mark());
      n.mark = f.pending_key->mark;
      f.node->entries.push_back(YamlEntry{f.pending_key, &n});
    }
    // Children are complete here (an alias to an open node is refused), so their sizes are final.
    // Saturating keeps the sum from overflowing however the aliases nest.
    std::size_t size = 1;
    auto add = [&](const YamlNode* child) { size = std::min(size + child->expanded, kMaxExpandedNodes + 1); };
    for (const YamlNode* item : f.node->items) add(item);
    for (const YamlEntry& e : f.node->entries) {
      add(e.key);
      add(e.value);
    }
    f.node->expanded = size;
    if (size > kMaxExpandedNodes) {
      fail(f.node->mark, "aliases expand this document to more than " + std::to_string(kMaxExpandedNodes) +
                             " nodes; write the values out or use fewer aliases");
    }
    open_.erase(f.node);
    stack_.pop_back();
  }

  void attach(const YamlNode& n) {
    if (stack_.empty()) {
      if (doc_.root_ == nullptr) doc_.root_ = &n;
      return;
    }
    Frame& f = stack_.back();
    if (f.node->kind == YamlNode::Kind::sequence) {
      f.node->items.push_back(&n);
    } else if (f.pending_key == nullptr) {
      f.pending_key = &n;
    } else {
      f.node->entries.push_back(YamlEntry{f.pending_key, &n});
      f.pending_key = nullptr;
    }
  }

  void fail(const YAML::Mark& mark, std::string message) { fail(to_source(mark), std::move(message)); }
  void fail(SourceMark mark, std::string message) {
    if (failed_) return;
    failed_ = true;
    error_mark_ = mark;
    error_ = std::move(message);
  }

  YamlDocument& doc_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, const YamlNode*> anchors_;
  std::unordered_map<const YamlNode*, bool> open_;
  bool failed_ = false;
  SourceMark error_mark_;
  std::string error_;
};

namespace {

/// Counts documents after the first without keeping them.
class NullHandler final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start = to_source(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& /*m*/, YAML::anchor_t /*a*/) override {}
  void OnAlias(const YAML::Mark& /*m*/, YAML::anchor_t /*a*/) override {}
  void OnScalar(const YAML::Mark& /*m*/, const std::string& /*t*/, YAML::anchor_t /*a*/,
                const std::string& /*v*/) override {}
  void OnSequenceStart(const YAML::Mark& /*m*/, const std::string& /*t*/, YAML::anchor_t /*a*/,
                       YAML::EmitterStyle::value /*s*/) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& /*m*/, const std::string& /*t*/, YAML::anchor_t /*a*/,
                  YAML::EmitterStyle::value /*s*/) override {}
  void OnMapEnd() override {}
  SourceMark start;
};

}  // namespace

YamlParseResult parse_yaml(std::string_view text) {
  YamlParseResult result;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    YamlTreeBuilder builder(result.document);
    parser.HandleNextDocument(builder);
    if (builder.failed()) {
      result.error_mark = builder.error_mark();
      result.error = builder.error();
      return result;
    }
    NullHandler rest;
    if (parser.HandleNextDocument(rest)) {
      result.error_mark = rest.start;
      result.error = "only one YAML document is allowed in this file";
      return result;
    }
    if (result.document.root_ == nullptr) {
      YamlNode& n = result.document.nodes_.emplace_back();
      n.mark = SourceMark{1, 1};
      result.document.root_ = &n;
    }
    result.ok = true;
  } catch (const YAML::Exception& e) {  // includes ParserException and DeepRecursion
    result.error_mark = to_source(e.mark);
    result.error = "YAML syntax error: " + e.msg;
  } catch (const std::exception& e) {
    result.error_mark = SourceMark{1, 1};
    result.error = std::string("cannot parse YAML: ") + e.what();
  }
  if (!result.ok) {
    if (result.error_mark.line <= 0) result.error_mark = SourceMark{1, 1};
    result.document = YamlDocument{};
  }
  return result;
}

}  // namespace zonegate::config
