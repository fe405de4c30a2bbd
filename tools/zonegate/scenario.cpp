// SPDX-License-Identifier: Apache-2.0
#include "zonegate/scenario.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/engine.hpp"
#include "zonegate/commands.hpp"
#include "zonegate/time_parse.hpp"
#include "zonegate/yaml_util.hpp"

namespace zonegate::cli {
namespace {

// ---- names for messages ------------------------------------------------------------------------

template <typename T>
std::vector<std::string> ids_of(const std::vector<T>& items) {
  std::vector<std::string> out;
  out.reserve(items.size());
  for (const auto& i : items) out.push_back(i.id);
  return out;
}

template <typename E>
std::vector<std::string> enum_names() {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < static_cast<std::size_t>(E::count_); ++i) {
    out.emplace_back(core::to_string(static_cast<E>(i)));
  }
  return out;
}

/// The step as written, in flow style: `{after: 4s, gate: view-gate, signal: clear}`.
std::string compact(const YAML::Node& node, bool skip_expect) {
  if (node.IsScalar()) return node.Scalar();
  if (node.IsSequence()) {
    std::string out = "[";
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (i != 0) out += ", ";
      out += compact(node[i], false);
    }
    return out + "]";
  }
  if (node.IsMap()) {
    std::string out = "{";
    bool first = true;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (skip_expect && it->first.IsScalar() && it->first.Scalar() == "expect") continue;
      if (!first) out += ", ";
      first = false;
      out += compact(it->first, false) + ": " + compact(it->second, false);
    }
    return out + "}";
  }
  return "null";
}

// ---- parsing -------------------------------------------------------------------------------------

/// Parses everything below the `site:` key once the policy is known.
class ScenarioParser {
 public:
  ScenarioParser(YamlReport& report, const core::Policy& policy, const People& people)
      : report_(report), policy_(policy), people_(people) {}

  std::optional<Scenario> scenario(const YAML::Node& node, const std::string& key);

 private:
  std::optional<ScenarioStep> step(const YAML::Node& node, const std::string& key);
  bool expectation(const YAML::Node& node, const std::string& key, Expectation& out);
  std::optional<core::GuardCommand> guard(const YAML::Node& node, const std::string& key);

  std::optional<core::ZoneIdx> zone(const YAML::Node& node, const std::string& key);
  std::optional<core::DoorIdx> door(const YAML::Node& node, const std::string& key);
  std::optional<core::GateIdx> gate(const YAML::Node& node, const std::string& key);
  std::optional<std::string> person(const YAML::Node& node, const std::string& key);
  /// One of `choices` (by exact text); returns its index.
  std::optional<std::size_t> choice(const YAML::Node& node, const std::string& key,
                                    std::initializer_list<std::string_view> choices);

  YamlReport& report_;
  const core::Policy& policy_;
  const People& people_;
};

std::optional<core::ZoneIdx> ScenarioParser::zone(const YAML::Node& node, const std::string& key) {
  auto text = scalar(report_, node, key, "a zone id");
  if (!text) return std::nullopt;
  auto z = policy_.zone_index(*text);
  if (!z) report_.error(node, key, "unknown zone '" + *text + "' (zones: " + list_names(ids_of(policy_.zones)) + ")");
  return z;
}

std::optional<core::DoorIdx> ScenarioParser::door(const YAML::Node& node, const std::string& key) {
  auto text = scalar(report_, node, key, "a door id");
  if (!text) return std::nullopt;
  auto d = policy_.door_index(*text);
  if (!d) report_.error(node, key, "unknown door '" + *text + "' (doors: " + list_names(ids_of(policy_.doors)) + ")");
  return d;
}

std::optional<core::GateIdx> ScenarioParser::gate(const YAML::Node& node, const std::string& key) {
  auto text = scalar(report_, node, key, "a gate id");
  if (!text) return std::nullopt;
  auto g = policy_.gate_index(*text);
  if (!g) report_.error(node, key, "unknown gate '" + *text + "' (gates: " + list_names(ids_of(policy_.gates)) + ")");
  return g;
}

std::optional<std::string> ScenarioParser::person(const YAML::Node& node, const std::string& key) {
  auto text = scalar(report_, node, key, "a person id");
  if (!text) return std::nullopt;
  if (people_.find(*text) == nullptr) {
    std::vector<std::string> ids;
    for (const auto& p : people_.list) ids.push_back(p.id);
    report_.error(node, key, "unknown person '" + *text + "' (people: " + list_names(ids) + ")");
    return std::nullopt;
  }
  return text;
}

std::optional<std::size_t> ScenarioParser::choice(const YAML::Node& node, const std::string& key,
                                                  std::initializer_list<std::string_view> choices) {
  std::string expected;
  for (const auto c : choices) {
    if (!expected.empty()) expected += '|';
    expected += c;
  }
  if (node.IsScalar()) {
    std::size_t i = 0;
    for (const auto c : choices) {
      if (node.Scalar() == c) return i;
      ++i;
    }
    report_.error(node, key, "unknown value '" + node.Scalar() + "' (expected " + expected + ")");
    return std::nullopt;
  }
  report_.error(node, key, "expected " + expected);
  return std::nullopt;
}

std::optional<Scenario> ScenarioParser::scenario(const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) {
    report_.error(node, key, "expected a scenario {name: ..., start: ..., where: {...}, steps: [...]}");
    return std::nullopt;
  }
  const std::size_t errors_before = report_.count();
  check_keys(report_, node, key, {"name", "start", "where", "steps"});
  Scenario s;
  s.line = node.Mark().line + 1;
  if (const YAML::Node n = node["name"]; n) {
    if (auto text = scalar(report_, n, join_key(key, "name"), "a scenario name")) s.name = *text;
  } else {
    report_.error(node, join_key(key, "name"), "missing (every scenario needs a name)");
  }
  if (const YAML::Node n = node["start"]; n) {
    if (auto text = scalar(report_, n, join_key(key, "start"), "a time such as 2026-12-01T09:00:00+09:00")) {
      std::string why;
      if (auto t = parse_time(*text, &policy_.time_zone, &why)) {
        s.start = *t;
      } else {
        report_.error(n, join_key(key, "start"), why);
      }
    }
  } else {
    report_.error(node, join_key(key, "start"), "missing (the time the scenario starts at)");
  }
  if (const YAML::Node n = node["where"]; n && !n.IsNull()) {
    const std::string wkey = join_key(key, "where");
    if (!n.IsMap()) {
      report_.error(n, wkey, "expected a map person -> zone");
    } else {
      for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string pkey = join_key(wkey, it->first.IsScalar() ? it->first.Scalar() : "?");
        auto who = person(it->first, pkey);
        auto z = zone(it->second, pkey);
        if (who && z) s.where.emplace_back(*who, *z);
      }
    }
  }
  if (const YAML::Node n = node["steps"]; n) {
    const std::string skey = join_key(key, "steps");
    if (!n.IsSequence() || n.size() == 0) {
      report_.error(n, skey, "expected a non-empty list of steps");
    } else {
      for (std::size_t i = 0; i < n.size(); ++i) {
        if (auto st = step(n[i], index_key(skey, i))) s.steps.push_back(std::move(*st));
      }
    }
  } else {
    report_.error(node, join_key(key, "steps"), "missing (a list of steps)");
  }
  if (report_.count() != errors_before) return std::nullopt;
  return s;
}

std::optional<core::GuardCommand> ScenarioParser::guard(const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) {
    report_.error(node, key, "expected {action: lockdown|lift|release|forgive|unlock, by: PERSON, ...}");
    return std::nullopt;
  }
  const std::size_t errors_before = report_.count();
  check_keys(report_, node, key, {"action", "by", "zone", "door", "person", "note"});
  core::GuardCommand cmd;
  if (const YAML::Node n = node["action"]; n) {
    if (auto a = choice(n, join_key(key, "action"), {"lockdown", "lift", "release", "forgive", "unlock"})) {
      cmd.action = static_cast<core::GuardAction>(*a);
    }
  } else {
    report_.error(node, join_key(key, "action"), "missing (lockdown|lift|release|forgive|unlock)");
  }
  if (const YAML::Node n = node["by"]; n) {
    // An actor outside `people:` is allowed on purpose: it acts with no capabilities, which is
    // how a scenario checks that the engine refuses an unauthorised guard command.
    if (auto text = scalar(report_, n, join_key(key, "by"), "the id of the person acting")) {
      cmd.actor = *text;
      if (const Person* p = people_.find(*text)) cmd.actor_caps = policy_.capabilities_of(p->holder.roles);
    }
  } else {
    report_.error(node, join_key(key, "by"), "missing (the person giving the command)");
  }
  if (const YAML::Node n = node["zone"]; n) cmd.zone = zone(n, join_key(key, "zone"));
  if (const YAML::Node n = node["door"]; n) cmd.door = door(n, join_key(key, "door"));
  if (const YAML::Node n = node["person"]; n) cmd.person = person(n, join_key(key, "person"));
  if (const YAML::Node n = node["note"]; n) {
    if (auto text = scalar(report_, n, join_key(key, "note"), "a text")) cmd.note = *text;
  }
  if (report_.count() != errors_before) return std::nullopt;
  return cmd;
}

std::optional<ScenarioStep> ScenarioParser::step(const YAML::Node& node, const std::string& key) {
  if (!node.IsMap()) {
    report_.error(node, key, "expected a step such as {badge: alice, door: office-door, dir: in}");
    return std::nullopt;
  }
  const std::size_t errors_before = report_.count();
  check_keys(report_, node, key,
             {"after", "expect", "badge", "door", "dir", "credential", "auth", "gate", "signal", "sensor", "rex",
              "fire", "tamper", "state", "guard"});
  ScenarioStep st;
  st.line = node.Mark().line + 1;
  st.text = compact(node, true);

  // Which input does this step give? Each kind lists the keys that belong to it.
  struct Kind {
    std::string_view trigger;
    std::vector<std::string_view> keys;
  };
  static const std::vector<Kind> kKinds = {
      {"badge", {"badge", "door", "dir", "credential", "auth"}},
      {"gate", {"gate", "signal"}},
      {"sensor", {"door", "sensor"}},
      {"rex", {"rex"}},
      {"fire", {"fire"}},
      {"tamper", {"tamper", "state"}},
      {"guard", {"guard"}},
  };
  const Kind* kind = nullptr;
  bool several_inputs = false;
  for (const auto& k : kKinds) {
    if (!node[std::string(k.trigger)]) continue;
    if (kind != nullptr) {
      report_.error(node[std::string(k.trigger)], join_key(key, k.trigger),
                    "a step has one input, and this one already has '" + std::string(kind->trigger) + "'");
      several_inputs = true;
      continue;
    }
    kind = &k;
  }
  // With several inputs the keys cannot be sorted out; the timing and expectations still are.
  if (several_inputs) kind = nullptr;
  for (auto it = node.begin(); it != node.end() && !several_inputs; ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string name = it->first.Scalar();
    if (name == "after" || name == "expect") continue;
    const bool belongs = kind != nullptr && std::find(kind->keys.begin(), kind->keys.end(), name) != kind->keys.end();
    if (belongs) continue;
    // Keys unknown everywhere were reported by check_keys already.
    bool known_elsewhere = false;
    for (const auto& k : kKinds) {
      if (std::find(k.keys.begin(), k.keys.end(), name) != k.keys.end()) known_elsewhere = true;
    }
    if (!known_elsewhere) continue;
    if (kind == nullptr) {
      report_.error(it->first, join_key(key, name),
                    name == "door" ? "'door' needs 'badge' (with dir) or 'sensor' (open|closed)"
                                   : "belongs to an input this step does not give");
    } else {
      report_.error(it->first, join_key(key, name), "not valid in a " + std::string(kind->trigger) + " step");
    }
  }

  if (const YAML::Node n = node["after"]; n) {
    if (auto text = scalar(report_, n, join_key(key, "after"), "a duration such as 500ms, 4s, 15m, 2h, 1d or 1m30s")) {
      std::string why;
      st.after = parse_duration(*text, &why);
      if (!st.after) report_.error(n, join_key(key, "after"), why);
    }
  }

  const std::string trigger = kind != nullptr ? std::string(kind->trigger) : std::string();
  if (trigger == "badge") {
    core::BadgePresented b;
    if (auto text = scalar(report_, node["badge"], join_key(key, "badge"), "a badge (person) id")) {
      b.badge = *text;
      st.badge = *text;
      if (const Person* p = people_.find(*text)) b.holder = p->holder;
    }
    if (const YAML::Node n = node["door"]; n) {
      if (auto d = door(n, join_key(key, "door"))) b.door = *d;
    } else {
      report_.error(node, join_key(key, "door"), "missing (the door the badge is presented at)");
    }
    if (const YAML::Node n = node["dir"]; n) {
      if (auto d = choice(n, join_key(key, "dir"), {"in", "out"})) b.dir = static_cast<core::Direction>(*d);
    } else {
      report_.error(node, join_key(key, "dir"), "missing (in|out)");
    }
    if (const YAML::Node n = node["auth"]; n) {
      if (auto a = choice(n, join_key(key, "auth"), {"ok", "failed"})) b.auth_failed = *a == 1;
    }
    // What the card proves: a failed DESFire login proves nothing beyond the UID.
    b.presented = b.holder && !b.auth_failed ? b.holder->enrolled : core::CredentialKind::uid;
    if (const YAML::Node n = node["credential"]; n) {
      if (auto c = choice(n, join_key(key, "credential"), {"uid", "desfire"})) {
        b.presented = static_cast<core::CredentialKind>(*c);
      }
    }
    st.input = b;
  } else if (trigger == "gate") {
    core::GateSignal g;
    if (auto idx = gate(node["gate"], join_key(key, "gate"))) g.gate = *idx;
    if (const YAML::Node n = node["signal"]; n) {
      if (auto c = choice(n, join_key(key, "signal"), {"clear", "alarm"}))
        g.signal = static_cast<core::GateSignalKind>(*c);
    } else {
      report_.error(node, join_key(key, "signal"), "missing (clear|alarm)");
    }
    st.input = g;
  } else if (trigger == "sensor") {
    core::DoorSensor s;
    if (const YAML::Node n = node["door"]; n) {
      if (auto d = door(n, join_key(key, "door"))) s.door = *d;
    } else {
      report_.error(node, join_key(key, "door"), "missing (the door whose sensor reports)");
    }
    if (auto c = choice(node["sensor"], join_key(key, "sensor"), {"closed", "open"})) s.open = *c == 1;
    st.input = s;
  } else if (trigger == "rex") {
    core::RexPressed r;
    if (auto d = door(node["rex"], join_key(key, "rex"))) r.door = *d;
    st.input = r;
  } else if (trigger == "fire") {
    core::FireInput f;
    if (auto c = choice(node["fire"], join_key(key, "fire"), {"off", "on"})) f.active = *c == 1;
    st.input = f;
  } else if (trigger == "tamper") {
    core::TamperSignal t;
    const YAML::Node n = node["tamper"];
    if (auto text = scalar(report_, n, join_key(key, "tamper"), "a tamper input id")) {
      if (auto idx = policy_.tamper_index(*text)) {
        t.tamper = *idx;
      } else {
        report_.error(
            n, join_key(key, "tamper"),
            "unknown tamper input '" + *text + "' (tamper inputs: " + list_names(ids_of(policy_.tampers)) + ")");
      }
    }
    if (const YAML::Node s = node["state"]; s) {
      if (auto c = choice(s, join_key(key, "state"), {"off", "on"})) t.active = *c == 1;
    }
    st.input = t;
  } else if (trigger == "guard") {
    if (auto g = guard(node["guard"], join_key(key, "guard"))) st.input = *g;
  }

  if (const YAML::Node n = node["expect"]; n) expectation(n, join_key(key, "expect"), st.expect);
  if (report_.count() != errors_before) return std::nullopt;
  return st;
}

bool ScenarioParser::expectation(const YAML::Node& node, const std::string& key, Expectation& out) {
  if (!node.IsMap()) {
    report_.error(node, key, "expected a map such as {decision: grant, alarms: []}");
    return false;
  }
  const std::size_t errors_before = report_.count();
  check_keys(report_, node, key, {"decision", "reason", "person", "alarms", "where", "unlocked", "held", "occupancy"});
  if (const YAML::Node n = node["decision"]; n) {
    if (auto c = choice(n, join_key(key, "decision"), {"grant", "deny", "pending"})) {
      out.decision = static_cast<core::Verdict>(*c);
    }
  }
  if (const YAML::Node n = node["reason"]; n) {
    if (auto text = scalar(report_, n, join_key(key, "reason"), "a reason code")) {
      out.reason = core::reason_from_string(*text);
      if (!out.reason) {
        report_.error(n, join_key(key, "reason"),
                      "unknown reason '" + *text + "' (reasons: " + list_names(enum_names<core::Reason>()) + ")");
      }
    }
  }
  if (const YAML::Node n = node["person"]; n) {
    out.person = person(n, join_key(key, "person"));
    if (!node["decision"] && !node["reason"]) {
      report_.error(n, join_key(key, "person"), "selects whose decision is checked: give decision or reason too");
    }
  }
  if (const YAML::Node n = node["alarms"]; n) {
    const std::string akey = join_key(key, "alarms");
    if (auto names = scalar_list(report_, n, akey, "alarm kinds")) {
      std::vector<core::AlarmKind> kinds;
      for (std::size_t i = 0; i < names->size(); ++i) {
        if (auto a = core::alarm_from_string((*names)[i])) {
          kinds.push_back(*a);
        } else {
          report_.error(
              n[i], index_key(akey, i),
              "unknown alarm kind '" + (*names)[i] + "' (kinds: " + list_names(enum_names<core::AlarmKind>()) + ")");
        }
      }
      out.alarms = std::move(kinds);
    }
  }
  if (const YAML::Node n = node["where"]; n) {
    const std::string wkey = join_key(key, "where");
    if (!n.IsMap()) {
      report_.error(n, wkey, "expected a map person -> zone (or unknown)");
    } else {
      for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string pkey = join_key(wkey, it->first.IsScalar() ? it->first.Scalar() : "?");
        auto who = person(it->first, pkey);
        if (it->second.IsScalar() && it->second.Scalar() == "unknown") {
          if (who) out.where.emplace_back(*who, std::nullopt);
        } else if (auto z = zone(it->second, pkey); z && who) {
          out.where.emplace_back(*who, *z);
        }
      }
    }
  }
  if (const YAML::Node n = node["unlocked"]; n) {
    const std::string ukey = join_key(key, "unlocked");
    if (auto names = scalar_list(report_, n, ukey, "door ids")) {
      std::vector<core::DoorIdx> doors;
      for (std::size_t i = 0; i < names->size(); ++i) {
        if (auto d = door(n[i], index_key(ukey, i))) doors.push_back(*d);
      }
      out.unlocked = std::move(doors);
    }
  }
  if (const YAML::Node n = node["held"]; n) {
    const std::string hkey = join_key(key, "held");
    if (auto names = scalar_list(report_, n, hkey, "person ids")) {
      std::vector<std::string> ids;
      for (std::size_t i = 0; i < names->size(); ++i) {
        if (auto p = person(n[i], index_key(hkey, i))) ids.push_back(*p);
      }
      out.held = std::move(ids);
    }
  }
  if (const YAML::Node n = node["occupancy"]; n) {
    const std::string okey = join_key(key, "occupancy");
    if (!n.IsMap()) {
      report_.error(n, okey, "expected a map zone -> count");
    } else {
      for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string zkey = join_key(okey, it->first.IsScalar() ? it->first.Scalar() : "?");
        auto z = zone(it->first, zkey);
        std::optional<std::uint32_t> count;
        if (it->second.IsScalar()) {
          const std::string t = it->second.Scalar();
          if (!t.empty() && t.size() <= 9 &&
              std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            count = static_cast<std::uint32_t>(std::stoul(t));
          }
        }
        if (!count) report_.error(it->second, zkey, "expected a count (a non-negative integer)");
        if (z && count) out.occupancy.emplace_back(*z, *count);
      }
    }
  }
  return report_.count() == errors_before;
}

// ---- running -------------------------------------------------------------------------------------

std::string verdict_text(const core::Decision& d) {
  return std::string(core::to_string(d.verdict)) + " (" + std::string(core::to_string(d.reason)) + ")";
}

template <typename T, typename F>
std::string bracketed(std::vector<T> items, F name) {
  std::vector<std::string> names;
  names.reserve(items.size());
  for (const auto& i : items) names.emplace_back(name(i));
  std::sort(names.begin(), names.end());
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i != 0) out += ", ";
    out += names[i];
  }
  return out + "]";
}

/// The decision an expectation refers to (see docs/cli.md, "Which decision is checked").
const core::Decision* select_decision(const ScenarioStep& step, const core::Effects& fx) {
  const core::Decision* found = nullptr;
  for (const auto& r : fx.records) {
    const auto* d = std::get_if<core::Decision>(&r);
    if (d == nullptr) continue;
    if (step.expect.person) {
      if (d->person == *step.expect.person) found = d;
    } else if (step.badge) {
      if (d->badge == *step.badge) found = d;
    } else {
      return d;
    }
  }
  return found;
}

void check_step(const core::Policy& policy, const core::Engine& engine, const ScenarioStep& step, std::size_t number,
                const core::Effects& fx, std::vector<std::string>& failures) {
  const std::string prefix = "step " + std::to_string(number) + " " + step.text + ": ";
  const Expectation& ex = step.expect;
  const auto door_name = [&](core::DoorIdx d) { return policy.doors[d].id; };

  if (ex.decision || ex.reason) {
    const core::Decision* d = select_decision(step, fx);
    std::string expected;
    if (ex.decision) {
      expected = "decision " + std::string(core::to_string(*ex.decision));
      if (ex.reason) expected += " (" + std::string(core::to_string(*ex.reason)) + ")";
    } else {
      expected = "reason " + std::string(core::to_string(*ex.reason));
    }
    if (ex.person) expected += " for " + *ex.person;
    if (d == nullptr) {
      failures.push_back(prefix + "expected " + expected + ", got no decision");
    } else if ((ex.decision && d->verdict != *ex.decision) || (ex.reason && d->reason != *ex.reason)) {
      failures.push_back(prefix + "expected " + expected + ", got " + verdict_text(*d));
    }
  }
  if (ex.alarms) {
    std::vector<core::AlarmKind> got;
    for (const auto& r : fx.records) {
      if (const auto* a = std::get_if<core::Alarm>(&r)) got.push_back(a->kind);
    }
    std::vector<core::AlarmKind> want = *ex.alarms;
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    if (got != want) {
      const auto name = [](core::AlarmKind k) { return std::string(core::to_string(k)); };
      failures.push_back(prefix + "expected alarms " + bracketed(want, name) + ", got " + bracketed(got, name));
    }
  }
  for (const auto& [who, want] : ex.where) {
    const core::Location loc = engine.location_of(who);
    const std::string got = loc.known ? policy.zones[loc.zone].id : "unknown";
    const std::string expected = want ? policy.zones[*want].id : "unknown";
    if (got != expected) failures.push_back(prefix + "expected where " + who + ": " + expected + ", got " + got);
  }
  if (ex.unlocked) {
    std::vector<core::DoorIdx> got = engine.unlocked_doors();
    std::vector<core::DoorIdx> want = *ex.unlocked;
    std::sort(got.begin(), got.end());
    got.erase(std::unique(got.begin(), got.end()), got.end());
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    if (got != want) {
      failures.push_back(prefix + "expected unlocked " + bracketed(want, door_name) + ", got " +
                         bracketed(got, door_name));
    }
  }
  if (ex.held) {
    std::vector<std::string> got;
    for (const auto& h : engine.held()) got.push_back(h.person);
    std::vector<std::string> want = *ex.held;
    for (auto* v : {&got, &want}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    if (got != want) {
      const auto same = [](const std::string& s) { return s; };
      failures.push_back(prefix + "expected held " + bracketed(want, same) + ", got " + bracketed(got, same));
    }
  }
  for (const auto& [zone, want] : ex.occupancy) {
    const std::uint32_t got = engine.occupancy(zone);
    if (got != want) {
      failures.push_back(prefix + "expected occupancy " + policy.zones[zone].id + ": " + std::to_string(want) +
                         ", got " + std::to_string(got));
    }
  }
}

}  // namespace

const config::LoadResult& SiteCache::load(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(path, ec);
  const std::string key = ec ? path.string() : canonical.string();
  auto it = loaded_.find(key);
  if (it == loaded_.end()) it = loaded_.emplace(key, config::load_policy_file(path.string())).first;
  return it->second;
}

namespace {

std::optional<ScenarioFile> parse_scenario_unguarded(std::string_view text, const std::string& file_label,
                                                     const std::filesystem::path& base_dir, SiteCache& sites,
                                                     Diagnostics& errors) {
  const std::size_t before = errors.size();
  YamlReport report(file_label, errors);
  auto doc = parse_document(report, std::string(text));
  if (!doc) return std::nullopt;
  const YAML::Node& root = *doc;
  if (!root.IsMap()) {
    report.error(root, "", "expected a map with the keys site, people and scenarios");
    return std::nullopt;
  }
  check_keys(report, root, "", {"site", "people", "scenarios"});

  ScenarioFile file;
  const YAML::Node site = root["site"];
  if (!site) {
    report.error(root, "site", "missing (the zones.yaml the scenarios run against, relative to this file)");
    return std::nullopt;
  }
  auto site_text = scalar(report, site, "site", "a path to the site's zones.yaml");
  if (!site_text) return std::nullopt;
  std::filesystem::path site_path(*site_text);
  if (site_path.is_relative()) site_path = base_dir / site_path;
  const config::LoadResult& loaded = sites.load(site_path);
  if (!loaded.ok()) {
    report.error(site, "site",
                 "cannot load the site '" + site_path.string() + "' (" + std::to_string(loaded.errors.size()) +
                     " error(s), listed next)");
    for (const auto& e : loaded.errors) errors.push_back(Diagnostic{e.file, e.line, e.column, e.key, e.message});
    return std::nullopt;
  }
  file.policy = loaded.policy;
  const core::Policy& policy = *file.policy;

  if (const YAML::Node n = root["people"]; n) file.people = parse_people(report, n, "people", policy);

  const YAML::Node list = root["scenarios"];
  if (!list) {
    report.error(root, "scenarios", "missing (a list of scenarios)");
  } else if (!list.IsSequence() || list.size() == 0) {
    report.error(list, "scenarios", "expected a non-empty list of scenarios");
  } else {
    ScenarioParser parser(report, policy, file.people);
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (auto s = parser.scenario(list[i], index_key("scenarios", i))) file.scenarios.push_back(std::move(*s));
    }
  }
  if (errors.size() != before) {
    // Report in file order, like the config loader, whatever order the checks ran in.
    std::stable_sort(errors.begin() + static_cast<std::ptrdiff_t>(before), errors.end(),
                     [](const Diagnostic& a, const Diagnostic& b) {
                       return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                     });
    return std::nullopt;
  }
  return file;
}

}  // namespace

std::optional<ScenarioFile> parse_scenario_text(std::string_view text, const std::string& file_label,
                                                const std::filesystem::path& base_dir, SiteCache& sites,
                                                Diagnostics& errors) {
  try {
    return parse_scenario_unguarded(text, file_label, base_dir, sites, errors);
  } catch (const YAML::Exception& e) {
    // The parser checks node kinds before it converts anything, so this is not expected; a file
    // that gets here must still be reported, not crash the run.
    errors.push_back(Diagnostic{file_label, e.mark.line >= 0 ? e.mark.line + 1 : 0,
                                e.mark.column >= 0 ? e.mark.column + 1 : 0, "", "cannot read the file: " + e.msg});
    return std::nullopt;
  }
}

ScenarioResult run_scenario(const ScenarioFile& file, const Scenario& scenario) {
  ScenarioResult result;
  result.name = scenario.name;
  core::Engine engine(file.policy);
  core::Instant now = scenario.start;
  for (const auto& [who, zone] : scenario.where) engine.place(who, zone);
  std::size_t number = 0;
  for (const auto& step : scenario.steps) {
    ++number;
    core::Effects fx;
    if (step.after) {
      now += *step.after;
      engine.advance(now, fx);
    }
    if (step.input) engine.handle(*step.input, now, fx);
    check_step(*file.policy, engine, step, number, fx, result.failures);
  }
  return result;
}

RunTotals run_scenario_text(std::string_view text, const std::string& file_label, const std::filesystem::path& base_dir,
                            std::ostream& out, SiteCache* sites) {
  SiteCache local_sites;
  SiteCache& cache = sites != nullptr ? *sites : local_sites;
  RunTotals totals;
  Diagnostics errors;
  auto file = parse_scenario_text(text, file_label, base_dir, cache, errors);
  if (!file) {
    for (const auto& e : errors) out << e.to_string() << '\n';
    out << "FAIL " << file_label << ": not run, " << errors.size() << " error(s) in the file\n";
    totals.failed = 1;
    return totals;
  }
  for (const auto& s : file->scenarios) {
    const ScenarioResult r = run_scenario(*file, s);
    if (r.failures.empty()) {
      out << "ok   " << file_label << ": " << r.name << '\n';
      ++totals.passed;
    } else {
      out << "FAIL " << file_label << ": " << r.name << '\n';
      for (const auto& f : r.failures) out << "  " << f << '\n';
      ++totals.failed;
    }
  }
  return totals;
}

RunTotals run_scenario_file(const std::string& path, std::ostream& out, SiteCache& sites) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out << path << ": cannot open the scenario file\n";
    out << "FAIL " << path << ": not run, 1 error(s) in the file\n";
    return RunTotals{0, 1};
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::filesystem::path base = std::filesystem::path(path).parent_path();
  return run_scenario_text(text.str(), path, base.empty() ? std::filesystem::path(".") : base, out, &sites);
}

std::string totals_line(const RunTotals& totals) {
  return std::to_string(totals.passed) + " passed, " + std::to_string(totals.failed) + " failed";
}

int run_policy_test(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << "usage: zonegate policy test FILE...\n";
    return kExitUsage;
  }
  for (const auto& a : args) {
    if (!a.empty() && a[0] == '-') {
      err << "zonegate policy test: unknown option '" << a << "'\nusage: zonegate policy test FILE...\n";
      return kExitUsage;
    }
  }
  SiteCache sites;
  RunTotals totals;
  for (const auto& path : args) {
    const RunTotals t = run_scenario_file(path, out, sites);
    totals.passed += t.passed;
    totals.failed += t.failed;
  }
  out << totals_line(totals) << '\n';
  return totals.failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace zonegate::cli
