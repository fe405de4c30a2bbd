// SPDX-License-Identifier: Apache-2.0
#include "zonegate/people.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/loader.hpp"
#include "zonegate/time_parse.hpp"

namespace cli = zonegate::cli;
namespace core = zonegate::core;

namespace {

/// A fresh directory under the system temp dir, unique per process, removed afterwards.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& stem)
      : path(std::filesystem::temp_directory_path() / (stem + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

const core::Policy& site() {
  static const auto loaded = zonegate::config::load_policy_file(std::string(ZONEGATE_SOURCE_DIR) + "/zones.yaml");
  REQUIRE(loaded.ok());
  return *loaded.policy;
}

struct Loaded {
  std::optional<cli::People> people;
  cli::Diagnostics errors;
  std::string text() const {
    std::string out;
    for (const auto& e : errors) out += e.to_string() + "\n";
    return out;
  }
};

Loaded load(const std::string& body) {
  const TempDir dir("zonegate-people-test");
  const auto path = dir.path / "people.yaml";
  std::ofstream(path) << body;
  Loaded l;
  l.people = cli::load_people_file(path.string(), site(), l.errors);
  return l;
}

}  // namespace

TEST_CASE("a people file resolves roles, credentials and validity", "[cli][people]") {
  const Loaded l = load(
      "people:\n"
      "  alice: {roles: [employee, db-operator], credential: desfire}\n"
      "  carol: {roles: [contractor], credential: uid, valid_from: 2026-11-01T00:00:00Z,\n"
      "          valid_until: 2026-12-31T23:59:59}\n"
      "  dave: {roles: [], revoked: true}\n");
  INFO(l.text());
  REQUIRE(l.people);
  REQUIRE(l.people->list.size() == 3);
  const cli::Person* alice = l.people->find("alice");
  REQUIRE(alice);
  CHECK(alice->holder.person_id == "alice");
  CHECK(alice->holder.enrolled == core::CredentialKind::desfire);
  CHECK(alice->holder.roles == ((core::RoleMask{1} << *site().role_index("employee")) |
                                (core::RoleMask{1} << *site().role_index("db-operator"))));
  const cli::Person* carol = l.people->find("carol");
  REQUIRE(carol);
  CHECK(carol->holder.valid_from == cli::parse_time("2026-11-01T00:00:00Z", nullptr, nullptr));
  // No offset: site local time (Asia/Tokyo, +09:00).
  CHECK(carol->holder.valid_until == cli::parse_time("2026-12-31T14:59:59Z", nullptr, nullptr));
  const cli::Person* dave = l.people->find("dave");
  REQUIRE(dave);
  CHECK(dave->holder.revoked);
  CHECK(dave->holder.roles == 0);
  CHECK(dave->holder.enrolled == core::CredentialKind::uid);  // the default is the weaker kind
  CHECK(l.people->find("mallory") == nullptr);
}

TEST_CASE("a scenario file serves as a people file", "[cli][people]") {
  const Loaded l = load("site: zones.yaml\npeople:\n  bob: {roles: [guard], credential: desfire}\nscenarios: []\n");
  INFO(l.text());
  REQUIRE(l.people);
  CHECK(l.people->list.size() == 1);
}

TEST_CASE("people file errors are located", "[cli][people]") {
  const auto first_error = [](const std::string& body) {
    const Loaded l = load(body);
    CHECK_FALSE(l.people);
    REQUIRE_FALSE(l.errors.empty());
    return l.errors.front().to_string();
  };
  CHECK_THAT(first_error("people:\n  a: {roles: [janitor]}\n"),
             Catch::Contains("people.yaml:2:15: people.a.roles[0]: unknown role 'janitor'"));
  CHECK_THAT(first_error("people:\n  a: {roles: [guard], colour: red}\n"),
             Catch::Contains("people.yaml:2:23: people.a.colour: unknown key"));
  CHECK_THAT(first_error("people:\n  a: {roles: [guard], credential: mifare}\n"),
             Catch::Contains("people.yaml:2:35: people.a.credential: unknown credential 'mifare'"));
  CHECK_THAT(first_error("people:\n  a: {roles: [guard], valid_until: 2026-12-32T00:00:00Z}\n"),
             Catch::Contains("people.yaml:2:36: people.a.valid_until: invalid time"));
  CHECK_THAT(
      first_error("people:\n  a: {roles: [guard], valid_from: 2026-12-02T00:00Z, valid_until: 2026-12-01T00:00Z}\n"),
      Catch::Contains("people.a.valid_until: is before valid_from"));
  CHECK_THAT(first_error("people:\n  a: {roles: [guard], revoked: yes}\n"),
             Catch::Contains("people.yaml:2:32: people.a.revoked: expected true or false"));
  CHECK_THAT(first_error("people:\n  a: {credential: uid}\n"), Catch::Contains("people.a.roles: missing"));
  CHECK_THAT(first_error("people:\n  a: {roles: guard}\n"), Catch::Contains("people.a.roles: expected a list"));
  CHECK_THAT(first_error("people:\n  a: {roles: [guard]}\n  a: {roles: [guard]}\n"),
             Catch::Contains("people.yaml:3:3: people.a: person given twice"));
  CHECK_THAT(first_error("people: [a, b]\n"), Catch::Contains("people: expected a map"));
  CHECK_THAT(first_error("folks:\n  a: {roles: [guard]}\n"),
             Catch::Contains("expected a top-level map with a 'people:' key"));
  CHECK_THAT(first_error("people: {}\nextra: 1\n"), Catch::Contains("people.yaml:2:1: extra: unknown key"));
  CHECK_THAT(first_error("people: {a: {roles: [guard]}\n"), Catch::Contains("YAML syntax error"));
}

TEST_CASE("a missing people file is an error, not an empty list", "[cli][people]") {
  cli::Diagnostics errors;
  CHECK_FALSE(cli::load_people_file("/nonexistent/people.yaml", site(), errors));
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0].to_string(), Catch::Contains("cannot open"));
}
