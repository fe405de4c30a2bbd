// SPDX-License-Identifier: Apache-2.0
#include "zonegate/people.hpp"

#include <fstream>
#include <sstream>

#include "zonegate/time_parse.hpp"

namespace zonegate::cli {
namespace {

std::vector<std::string> role_ids(const core::Policy& policy) {
  std::vector<std::string> out;
  out.reserve(policy.roles.size());
  for (const auto& r : policy.roles) out.push_back(r.id);
  return out;
}

std::optional<core::Instant> read_time(YamlReport& report, const YAML::Node& node, const std::string& key,
                                       const core::Policy& policy) {
  auto text = scalar(report, node, key, "a time such as 2026-12-01T09:00:00+09:00");
  if (!text) return std::nullopt;
  std::string why;
  auto t = parse_time(*text, &policy.time_zone, &why);
  if (!t) report.error(node, key, why);
  return t;
}

}  // namespace

const Person* People::find(std::string_view id) const {
  for (const auto& p : list) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

People parse_people(YamlReport& report, const YAML::Node& node, std::string_view key, const core::Policy& policy) {
  People people;
  if (node.IsNull()) return people;
  if (!node.IsMap()) {
    report.error(node, std::string(key), "expected a map of person id -> {roles: [...], credential: uid|desfire}");
    return people;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node id_node = it->first;
    const YAML::Node spec = it->second;
    if (!id_node.IsScalar() || id_node.Scalar().empty()) {
      report.error(id_node, std::string(key), "person ids must be plain names");
      continue;
    }
    const std::string& id = id_node.Scalar();
    const std::string pkey = join_key(key, id);
    if (people.find(id) != nullptr) {
      report.error(id_node, pkey, "person given twice");
      continue;
    }
    if (!spec.IsMap()) {
      report.error(spec, pkey, "expected {roles: [...], credential: uid|desfire}");
      continue;
    }
    check_keys(report, spec, pkey, {"roles", "credential", "valid_from", "valid_until", "revoked"});
    Person person;
    person.id = id;
    person.holder.person_id = id;
    if (const YAML::Node roles = spec["roles"]; roles) {
      if (auto names = scalar_list(report, roles, join_key(pkey, "roles"), "role names")) {
        person.role_names = *names;
        for (std::size_t i = 0; i < names->size(); ++i) {
          const auto& name = (*names)[i];
          if (auto r = policy.role_index(name)) {
            person.holder.roles |= core::RoleMask{1} << *r;
          } else {
            report.error(roles[i], index_key(join_key(pkey, "roles"), i),
                         "unknown role '" + name + "' (roles: " + list_names(role_ids(policy)) + ")");
          }
        }
      }
    } else {
      report.error(id_node, join_key(pkey, "roles"), "missing (a list of role names, may be empty: [])");
    }
    if (const YAML::Node cred = spec["credential"]; cred) {
      if (auto text = scalar(report, cred, join_key(pkey, "credential"), "uid or desfire")) {
        if (auto c = core::credential_from_string(*text)) {
          person.holder.enrolled = *c;
        } else {
          report.error(cred, join_key(pkey, "credential"),
                       "unknown credential '" + *text + "' (expected uid or desfire)");
        }
      }
    }
    if (const YAML::Node v = spec["valid_from"]; v) {
      person.holder.valid_from = read_time(report, v, join_key(pkey, "valid_from"), policy);
    }
    if (const YAML::Node v = spec["valid_until"]; v) {
      person.holder.valid_until = read_time(report, v, join_key(pkey, "valid_until"), policy);
    }
    if (person.holder.valid_from && person.holder.valid_until &&
        *person.holder.valid_until < *person.holder.valid_from) {
      report.error(spec["valid_until"], join_key(pkey, "valid_until"), "is before valid_from");
    }
    if (const YAML::Node v = spec["revoked"]; v) {
      if (auto b = boolean(report, v, join_key(pkey, "revoked"))) person.holder.revoked = *b;
    }
    people.list.push_back(std::move(person));
  }
  return people;
}

namespace {

std::optional<People> load_people_unguarded(const std::string& path, const core::Policy& policy, Diagnostics& errors) {
  const std::size_t before = errors.size();
  YamlReport report(path, errors);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    report.error_at(0, 0, "", "cannot open the people file");
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto doc = parse_document(report, text.str());
  if (!doc) return std::nullopt;
  const YAML::Node& root = *doc;
  if (!root.IsMap() || !root["people"]) {
    report.error(root, "people", "expected a top-level map with a 'people:' key");
    return std::nullopt;
  }
  check_keys(report, root, "", {"people", "site", "scenarios"});
  People people = parse_people(report, root["people"], "people", policy);
  if (errors.size() != before) return std::nullopt;
  return people;
}

}  // namespace

std::optional<People> load_people_file(const std::string& path, const core::Policy& policy, Diagnostics& errors) {
  try {
    return load_people_unguarded(path, policy, errors);
  } catch (const YAML::Exception& e) {
    // Not expected (node kinds are checked before use), but a bad file must never crash the CLI.
    errors.push_back(Diagnostic{path, e.mark.line >= 0 ? e.mark.line + 1 : 0,
                                e.mark.column >= 0 ? e.mark.column + 1 : 0, "", "cannot read the file: " + e.msg});
    return std::nullopt;
  }
}

}  // namespace zonegate::cli
