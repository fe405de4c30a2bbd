// SPDX-License-Identifier: Apache-2.0
/// @file
/// The `people:` map shared by scenario files and `policy who-can --people`: person id -> roles,
/// enrolled credential and validity, resolved against a policy.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy.hpp"
#include "zonegate/diagnostic.hpp"
#include "zonegate/yaml_util.hpp"

namespace zonegate::cli {

struct Person {
  std::string id;
  std::vector<std::string> role_names;  ///< as written
  core::Holder holder;                  ///< person_id = id, roles resolved against the policy
};

/// People in file order.
class People {
 public:
  std::vector<Person> list;
  [[nodiscard]] const Person* find(std::string_view id) const;
};

/// Reads the value of a `people:` key. Each entry is `id: {roles: [..], credential: uid|desfire,
/// valid_from: TIME, valid_until: TIME, revoked: true|false}`; only `roles` is required
/// (credential defaults to uid, the weaker kind). Times without an offset are site local time.
/// Unknown keys and roles are reported to `report`; the people that were read are returned.
People parse_people(YamlReport& report, const YAML::Node& node, std::string_view key, const core::Policy& policy);

/// Loads a people file: a YAML document whose top level is a map with a `people:` key. The keys
/// `site` and `scenarios` are allowed (and ignored) so that a scenario file can serve as a
/// people file. Errors go to `errors`; returns nullopt if there were any.
std::optional<People> load_people_file(const std::string& path, const core::Policy& policy, Diagnostics& errors);

}  // namespace zonegate::cli
