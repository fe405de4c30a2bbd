// SPDX-License-Identifier: Apache-2.0
#include "config/loader.hpp"
#include "zonegate/commands.hpp"

namespace zonegate::cli {

int run_check(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.size() != 1 || args[0].empty() || args[0][0] == '-') {
    err << "usage: zonegate check FILE\n";
    return kExitUsage;
  }
  const std::string& file = args[0];
  const config::LoadResult result = config::load_policy_file(file);
  if (!result.ok()) {
    for (const auto& e : result.errors) err << e.to_string() << '\n';
    // A failed load with no error listed would be a loader bug; still never print "ok" for it.
    const std::size_t n = result.errors.empty() ? 1 : result.errors.size();
    err << file << ": " << n << " error(s)\n";
    return kExitFailed;
  }
  const core::Policy& p = *result.policy;
  out << file << ": ok \xE2\x80\x94 site " << p.site_name << ": " << p.zones.size() << " zones, " << p.doors.size()
      << " doors, " << p.gates.size() << " gates, " << p.roles.size() << " roles (sha256 " << p.source_hash << ")\n";
  return kExitOk;
}

}  // namespace zonegate::cli
