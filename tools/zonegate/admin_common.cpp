// SPDX-License-Identifier: Apache-2.0
#include "zonegate/admin_common.hpp"

#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "config/loader.hpp"
#include "zonegate/cli_args.hpp"
#include "zonegate/time_parse.hpp"

namespace zonegate::cli {

std::optional<SiteInfo> load_site(const std::optional<std::string>& config, std::ostream& err) {
  SiteInfo site;
  const std::string path = config.value_or(kDefaultConfig);
  std::error_code ec;
  if (!config && !std::filesystem::exists(path, ec)) return site;
  const config::LoadResult loaded = config::load_policy_file(path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) err << e.to_string() << '\n';
    err << "zonegate: cannot use the site configuration " << path << " (give a valid one with --config)\n";
    return std::nullopt;
  }
  site.policy = loaded.policy;
  if (loaded.daemon && !loaded.daemon->gateway_id.empty()) site.gateway_id = loaded.daemon->gateway_id;
  return site;
}

std::string unix_actor() {
  const uid_t uid = ::getuid();
  passwd pw{};
  passwd* result = nullptr;
  char buf[4096];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &result) == 0 && result != nullptr) {
    return std::string("unix:") + result->pw_name;
  }
  return "unix:uid" + std::to_string(uid);
}

adapters::audit::Result<std::unique_ptr<adapters::audit::AuditStore>> open_audit_writable(
    const std::string& state_dir, const std::optional<std::string>& gateway, const SiteInfo& site) {
  adapters::audit::Options o;
  o.state_dir = state_dir;
  std::error_code ec;
  if (gateway) {
    o.gateway_id = *gateway;
  } else if (!std::filesystem::exists(o.state_dir / o.db_file, ec)) {
    o.gateway_id = site.gateway_id;
  }
  return adapters::audit::AuditStore::open(o);
}

adapters::audit::Result<std::unique_ptr<adapters::audit::AuditStore>> open_audit_read_only(
    const std::string& state_dir) {
  adapters::audit::Options o;
  o.state_dir = state_dir;
  o.read_only = true;
  std::error_code ec;
  if (!std::filesystem::exists(o.state_dir / o.db_file, ec)) {
    return adapters::audit::Error{adapters::audit::Errc::io_error,
                                  "no audit trail at " + (o.state_dir / o.db_file).string()};
  }
  return adapters::audit::AuditStore::open(o);
}

core::Instant now_instant() { return std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()); }

std::string format_time(core::Instant t, const SiteInfo& site) {
  return site.policy ? format_local(t, site.policy->time_zone) : core::format_utc(t);
}

std::optional<core::Instant> parse_time_arg(const std::string& option, const std::string& text, const SiteInfo& site,
                                            std::ostream& err) {
  std::string error;
  auto t = parse_time(text, site.policy ? &site.policy->time_zone : nullptr, &error);
  if (!t) err << "zonegate: " << option << " '" << text << "': " << error << '\n';
  return t;
}

}  // namespace zonegate::cli
