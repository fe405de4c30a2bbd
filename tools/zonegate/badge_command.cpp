// SPDX-License-Identifier: Apache-2.0
// `zonegate badge add|revoke|list|import`: the gateway's credential database, edited directly like
// an administrator on the gateway. Every change is first recorded in the audit trail (fail closed).
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "adapters/credentials/credential_store.hpp"
#include "zonegate/admin_common.hpp"
#include "zonegate/cli_args.hpp"
#include "zonegate/commands.hpp"

namespace zonegate::cli {
namespace {

namespace creds = adapters::credentials;
namespace audit = adapters::audit;

constexpr const char* kBadgeUsage =
    "usage: zonegate badge add UID --person P [--name TEXT] --roles r1,r2 [--kind uid|desfire]\n"
    "                          [--valid-from TIME] [--valid-until TIME]\n"
    "       zonegate badge revoke UID\n"
    "       zonegate badge list [--person P] [--json]\n"
    "       zonegate badge import FILE.csv\n"
    "  common options: [--state-dir DIR] [--config zones.yaml] [--gateway ID]\n";

struct Context {
  std::string state_dir;
  SiteInfo site;
  std::optional<std::string> gateway;
};

std::unique_ptr<creds::CredentialStore> open_credentials(const Context& ctx, std::ostream& err) {
  const auto path = std::filesystem::path(ctx.state_dir) / "credentials.db";
  auto store = creds::CredentialStore::open(path);
  if (!store) {
    err << "zonegate: cannot open " << path.string() << ": " << store.error().message << '\n';
    return nullptr;
  }
  return std::move(*store);
}

/// Opens the audit trail and records the action; nullptr (after printing why) if it cannot be written.
std::unique_ptr<audit::AuditStore> record_first(const Context& ctx, const std::string& event, const std::string& badge,
                                                const std::string& detail, std::ostream& err) {
  auto store = open_audit_writable(ctx.state_dir, ctx.gateway, ctx.site);
  if (!store) {
    err << "zonegate: refusing the change: the audit trail cannot be written: " << store.error().message << '\n';
    return nullptr;
  }
  const audit::Entry e{
      now_instant(), audit::EntryKind::operator_action, event, unix_actor(), badge, {}, {}, "zonegate-cli", detail};
  auto seq = (*store)->append_entries(std::span<const audit::Entry>(&e, 1));
  if (!seq) {
    err << "zonegate: refusing the change: the audit trail cannot be written: " << seq.error().message << '\n';
    return nullptr;
  }
  return std::move(*store);
}

/// Best effort: the change failed after it was recorded; record that too.
void record_failure(audit::AuditStore& store, const std::string& event, const std::string& badge,
                    const std::string& detail) {
  const audit::Entry e{
      now_instant(), audit::EntryKind::operator_action, event + "_failed", unix_actor(), badge, {}, {}, "zonegate-cli",
      detail};
  (void)store.append_entries(std::span<const audit::Entry>(&e, 1));
}

std::string join_roles(const std::vector<std::string>& roles, const char* sep) {
  std::string out;
  for (const auto& r : roles) out += (out.empty() ? "" : sep) + r;
  return out;
}

int badge_add(const Context& ctx, const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  if (p.positional.size() != 1 || !p.get("--person") || !p.get("--roles")) {
    err << "zonegate: badge add needs UID, --person and --roles\n" << kBadgeUsage;
    return kExitUsage;
  }
  const auto uid = creds::normalize_uid(p.positional[0]);
  if (!uid) {
    err << "zonegate: '" << p.positional[0] << "' is not a badge UID (4 to 10 hex bytes)\n";
    return kExitUsage;
  }
  const std::string person = *p.get("--person");
  if (!creds::valid_person_id(person)) {
    err << "zonegate: '" << person << "' is not a valid person id (1-128 of A-Z a-z 0-9 . _ @ + -)\n";
    return kExitUsage;
  }
  const std::vector<std::string> roles = split_commas(*p.get("--roles"));
  for (const auto& r : roles) {
    if (!creds::valid_role_name(r)) {
      err << "zonegate: '" << r << "' is not a valid role name\n";
      return kExitUsage;
    }
    if (ctx.site.policy && !ctx.site.policy->role_index(r)) {
      err << "zonegate: unknown role '" << r << "' (not in the site configuration)\n";
      return kExitUsage;
    }
  }
  creds::Badge badge;
  badge.uid = *uid;
  badge.person = person;
  if (auto k = p.get("--kind")) {
    auto kind = core::credential_from_string(*k);
    if (!kind) {
      err << "zonegate: --kind must be uid or desfire\n";
      return kExitUsage;
    }
    badge.kind = *kind;
  }
  if (auto t = p.get("--valid-from")) {
    badge.valid_from = parse_time_arg("--valid-from", *t, ctx.site, err);
    if (!badge.valid_from) return kExitUsage;
  }
  if (auto t = p.get("--valid-until")) {
    badge.valid_until = parse_time_arg("--valid-until", *t, ctx.site, err);
    if (!badge.valid_until) return kExitUsage;
  }
  if (badge.valid_from && badge.valid_until && *badge.valid_until < *badge.valid_from) {
    err << "zonegate: --valid-until is before --valid-from\n";
    return kExitUsage;
  }
  auto store = open_credentials(ctx, err);
  if (!store) return kExitFailed;
  if (store->find(*uid)) {
    err << "zonegate: badge " << *uid << " is enrolled already (revoke it, or use another UID)\n";
    return kExitFailed;
  }
  creds::Person holder{person, p.get("--name").value_or(""), roles};
  if (!p.get("--name")) {
    creds::ListOptions lo;
    lo.person = person;
    lo.limit = 1;
    if (auto existing = store->list(lo); existing && !existing->empty()) holder.name = existing->front().name;
  }
  std::string detail =
      "person " + person + ", roles " + join_roles(roles, ",") + ", kind " + std::string(core::to_string(badge.kind));
  if (badge.valid_from) detail += ", valid from " + core::format_utc(*badge.valid_from);
  if (badge.valid_until) detail += ", valid until " + core::format_utc(*badge.valid_until);
  auto trail = record_first(ctx, "badge_add", *uid, detail, err);
  if (!trail) return kExitFailed;
  const core::Instant now = now_instant();
  if (auto r = store->put_person(holder, now); !r) {
    record_failure(*trail, "badge_add", *uid, r.error().message);
    err << "zonegate: cannot store person " << person << ": " << r.error().message << '\n';
    return kExitFailed;
  }
  if (auto r = store->add(badge, now); !r) {
    record_failure(*trail, "badge_add", *uid, r.error().message);
    err << "zonegate: cannot enrol badge " << *uid << ": " << r.error().message << '\n';
    return kExitFailed;
  }
  out << "enrolled badge " << *uid << " for " << person << " (" << core::to_string(badge.kind) << ", roles "
      << (roles.empty() ? "none" : join_roles(roles, ",")) << ")\n";
  return kExitOk;
}

int badge_revoke(const Context& ctx, const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  if (p.positional.size() != 1) {
    err << "zonegate: badge revoke needs exactly one UID\n" << kBadgeUsage;
    return kExitUsage;
  }
  const auto uid = creds::normalize_uid(p.positional[0]);
  if (!uid) {
    err << "zonegate: '" << p.positional[0] << "' is not a badge UID (4 to 10 hex bytes)\n";
    return kExitUsage;
  }
  auto store = open_credentials(ctx, err);
  if (!store) return kExitFailed;
  const auto info = store->find(*uid);
  if (!info) {
    err << "zonegate: no badge " << *uid << '\n';
    return kExitFailed;
  }
  auto trail = record_first(ctx, "badge_revoke", *uid, "person " + info->badge.person, err);
  if (!trail) return kExitFailed;
  if (auto r = store->revoke(*uid, now_instant()); !r) {
    record_failure(*trail, "badge_revoke", *uid, r.error().message);
    err << "zonegate: cannot revoke " << *uid << ": " << r.error().message << '\n';
    return kExitFailed;
  }
  out << "revoked badge " << *uid << " of " << info->badge.person << '\n';
  return kExitOk;
}

int badge_list(const Context& ctx, const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  if (!p.positional.empty()) {
    err << "zonegate: badge list: unexpected argument '" << p.positional[0] << "'\n" << kBadgeUsage;
    return kExitUsage;
  }
  auto store = open_credentials(ctx, err);
  if (!store) return kExitFailed;
  std::vector<creds::BadgeInfo> all;
  creds::ListOptions lo;
  lo.person = p.get("--person");
  for (;;) {
    auto page = store->list(lo);
    if (!page) {
      err << "zonegate: cannot list badges: " << page.error().message << '\n';
      return kExitFailed;
    }
    all.insert(all.end(), page->begin(), page->end());
    if (page->size() < lo.limit || page->empty()) break;
    lo.after_uid = page->back().badge.uid;
  }
  const auto when = [&](const std::optional<core::Instant>& t) {
    return t ? format_time(*t, ctx.site) : std::string();
  };
  if (p.has("--json")) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& b : all) {
      arr.push_back(
          {{"uid", b.badge.uid},
           {"person", b.badge.person},
           {"name", b.name},
           {"roles", b.roles},
           {"kind", core::to_string(b.badge.kind)},
           {"valid_from", b.badge.valid_from ? nlohmann::json(core::format_utc(*b.badge.valid_from)) : nullptr},
           {"valid_until", b.badge.valid_until ? nlohmann::json(core::format_utc(*b.badge.valid_until)) : nullptr},
           {"revoked", b.badge.revoked}});
    }
    out << arr.dump(2) << '\n';
    return kExitOk;
  }
  out << std::left << std::setw(22) << "UID" << std::setw(18) << "PERSON" << std::setw(20) << "NAME" << std::setw(9)
      << "KIND" << std::setw(8) << "STATUS" << std::setw(26) << "VALID FROM" << std::setw(26) << "VALID UNTIL"
      << "ROLES\n";
  for (const auto& b : all) {
    out << std::setw(22) << b.badge.uid << ' ' << std::setw(17) << b.badge.person << ' ' << std::setw(19) << b.name
        << ' ' << std::setw(8) << core::to_string(b.badge.kind) << ' ' << std::setw(7)
        << (b.badge.revoked ? "revoked" : "active") << ' ' << std::setw(25) << when(b.badge.valid_from) << ' '
        << std::setw(25) << when(b.badge.valid_until) << ' ' << join_roles(b.roles, ",") << '\n';
  }
  out << all.size() << " badge(s)\n";
  return kExitOk;
}

int badge_import(const Context& ctx, const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  if (p.positional.size() != 1) {
    err << "zonegate: badge import needs exactly one FILE.csv\n" << kBadgeUsage;
    return kExitUsage;
  }
  const std::string& file = p.positional[0];
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    err << "zonegate: cannot read " << file << '\n';
    return kExitFailed;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  const auto print_errors = [&](const std::vector<creds::CsvError>& errors) {
    for (const auto& e : errors) err << file << ':' << e.line << ": " << e.reason << '\n';
    err << file << ": " << errors.size() << " error(s); nothing imported\n";
  };
  // Validate every row before anything is recorded or changed.
  std::size_t rows = 0;
  {
    std::istringstream check(text);
    creds::BadgeCsvParser parser(check, ctx.site.policy.get());
    creds::CsvBadge row;
    while (parser.next(row)) {
    }
    if (!parser.errors().empty()) {
      print_errors(parser.errors());
      return kExitFailed;
    }
    rows = parser.rows_seen();
  }
  auto store = open_credentials(ctx, err);
  if (!store) return kExitFailed;
  auto trail = record_first(ctx, "badge_import", {}, file + ": " + std::to_string(rows) + " row(s)", err);
  if (!trail) return kExitFailed;
  std::istringstream data(text);
  const creds::ImportReport report = store->import_csv(data, now_instant(), ctx.site.policy.get());
  if (!report.applied || !report.errors.empty()) {
    record_failure(*trail, "badge_import", {}, file + ": " + std::to_string(report.errors.size()) + " error(s)");
    print_errors(report.errors);
    return kExitFailed;
  }
  out << file << ": imported " << report.rows << " row(s): " << report.added << " added, " << report.updated
      << " updated\n";
  return kExitOk;
}

}  // namespace

int run_badge(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kBadgeUsage;
    return kExitUsage;
  }
  const std::string& what = args[0];
  std::set<std::string> values{"--state-dir", "--config", "--gateway"};
  std::set<std::string> flags;
  if (what == "add") {
    values.insert({"--person", "--name", "--roles", "--kind", "--valid-from", "--valid-until"});
  } else if (what == "list") {
    values.insert("--person");
    flags.insert("--json");
  } else if (what != "revoke" && what != "import") {
    err << "zonegate: unknown badge subcommand '" << what << "' (add, revoke, list, import)\n" << kBadgeUsage;
    return kExitUsage;
  }
  std::string error;
  auto p = parse_args(std::vector<std::string>(args.begin() + 1, args.end()), values, flags, &error);
  if (!p) {
    err << "zonegate: badge " << what << ": " << error << '\n' << kBadgeUsage;
    return kExitUsage;
  }
  auto site = load_site(p->get("--config"), err);
  if (!site) return kExitFailed;
  const Context ctx{p->get("--state-dir").value_or(kDefaultStateDir), *site, p->get("--gateway")};
  if (what == "add") return badge_add(ctx, *p, out, err);
  if (what == "revoke") return badge_revoke(ctx, *p, out, err);
  if (what == "list") return badge_list(ctx, *p, out, err);
  return badge_import(ctx, *p, out, err);
}

}  // namespace zonegate::cli
