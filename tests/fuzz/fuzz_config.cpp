// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the zones.yaml loader: any bytes must give either a policy or errors,
// never a crash, a hang, a throw or a sanitizer report. Time zones come from a table, so the
// target never touches the filesystem.
//
// Seed corpus: tests/fuzz/corpus/config (zones.yaml and the good and bad samples).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "config/loader.hpp"

namespace {

std::optional<zonegate::core::TimeZone> fuzz_zones(std::string_view name, std::string* error) {
  if (name == "UTC") return zonegate::core::TimeZone{};
  if (name == "Asia/Tokyo") return zonegate::core::TimeZone::fixed("Asia/Tokyo", 9 * 3600);
  if (error != nullptr) *error = "unknown in the fuzz target";
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const zonegate::config::LoadResult r = zonegate::config::load_policy_text(text, "fuzz.yaml", fuzz_zones);
  // The result is either a policy or at least one error, never both and never neither.
  if (r.policy != nullptr && !r.errors.empty()) std::abort();
  if (r.policy == nullptr && r.errors.empty()) std::abort();
  int last_line = 0;
  int last_column = 0;
  for (const auto& e : r.errors) {
    if (e.line < last_line || (e.line == last_line && e.column < last_column)) std::abort();  // unsorted
    last_line = e.line;
    last_column = e.column;
    if (e.message.empty() || e.to_string().find('\n') != std::string::npos) std::abort();
  }
  if (r.policy != nullptr) {
    const auto& p = *r.policy;
    // Every compiled index points into its table.
    for (const auto& z : p.zones) {
      if (z.parent != zonegate::core::kNoIdx && z.parent >= p.zones.size()) std::abort();
    }
    for (const auto& d : p.doors) {
      if (d.outer >= p.zones.size() || d.inner >= p.zones.size()) std::abort();
      if (d.gate && d.gate->gate >= p.gates.size()) std::abort();
    }
    for (const auto& g : p.gates) {
      if (g.door >= p.doors.size()) std::abort();
    }
    if (p.roles.size() > zonegate::core::kMaxRoles) std::abort();
    for (const auto& role : p.roles) {
      for (const auto& grant : role.zones) {
        if (grant && grant->schedule >= p.schedules.size()) std::abort();
      }
    }
    if (p.source_hash.size() != 64) std::abort();
  }
  return 0;
}
