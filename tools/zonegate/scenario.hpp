// SPDX-License-Identifier: Apache-2.0
/// @file
/// Policy scenario files (`zonegate policy test`): parsing, validation against the site policy,
/// and running each scenario on a fresh engine under a simulated clock. The format is described
/// in docs/cli.md.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/loader.hpp"
#include "core/events.hpp"
#include "core/policy.hpp"
#include "zonegate/diagnostic.hpp"
#include "zonegate/people.hpp"

namespace zonegate::cli {

/// What a step checks afterwards; every part is optional.
struct Expectation {
  std::optional<core::Verdict> decision;
  std::optional<core::Reason> reason;
  std::optional<std::string> person;                   ///< whose decision `decision`/`reason` refer to
  std::optional<std::vector<core::AlarmKind>> alarms;  ///< exact multiset raised by the step
  std::vector<std::pair<std::string, std::optional<core::ZoneIdx>>> where;  ///< nullopt: unknown
  std::optional<std::vector<core::DoorIdx>> unlocked;
  std::optional<std::vector<std::string>> held;
  std::vector<std::pair<core::ZoneIdx, std::uint32_t>> occupancy;
};

struct ScenarioStep {
  int line = 0;
  std::string text;  ///< the step as written, compact, without its expectation
  std::optional<core::Duration> after;
  std::optional<core::Event> input;
  std::optional<std::string> badge;  ///< set for badge steps
  Expectation expect;
};

struct Scenario {
  std::string name;
  int line = 0;
  core::Instant start{};
  std::vector<std::pair<std::string, core::ZoneIdx>> where;
  std::vector<ScenarioStep> steps;
};

/// A parsed and validated scenario file.
struct ScenarioFile {
  std::shared_ptr<const core::Policy> policy;
  People people;
  std::vector<Scenario> scenarios;
};

/// Loads each site file once per run.
class SiteCache {
 public:
  const config::LoadResult& load(const std::filesystem::path& path);

 private:
  std::map<std::string, config::LoadResult> loaded_;
};

/// Parses scenario text. `file_label` names the file in errors; a relative `site:` is resolved
/// against `base_dir`. Returns nullopt if `errors` received anything.
std::optional<ScenarioFile> parse_scenario_text(std::string_view text, const std::string& file_label,
                                                const std::filesystem::path& base_dir, SiteCache& sites,
                                                Diagnostics& errors);

/// The outcome of one scenario: empty `failures` means it passed.
struct ScenarioResult {
  std::string name;
  std::vector<std::string> failures;  ///< "step 2 {...}: expected ..., got ..."
};

/// Runs one scenario on a fresh engine.
ScenarioResult run_scenario(const ScenarioFile& file, const Scenario& scenario);

struct RunTotals {
  int passed = 0;
  int failed = 0;
};

/// Parses and runs every scenario of one file, printing `ok   FILE: NAME` / `FAIL FILE: NAME`
/// (plus one indented line per failed expectation) to `out`. A file that cannot be parsed or
/// validated prints its errors (FILE:LINE:COL: KEY: MESSAGE) and counts as one failure.
RunTotals run_scenario_text(std::string_view text, const std::string& file_label, const std::filesystem::path& base_dir,
                            std::ostream& out, SiteCache* sites = nullptr);

/// Reads FILE and runs it like run_scenario_text (an unreadable file counts as one failure).
RunTotals run_scenario_file(const std::string& path, std::ostream& out, SiteCache& sites);

/// "N passed, N failed"
std::string totals_line(const RunTotals& totals);

}  // namespace zonegate::cli
