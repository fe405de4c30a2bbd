// SPDX-License-Identifier: Apache-2.0
// `zonegate upstream init|add-gateway|status`: administration of the central PostgreSQL database
// (docs/upstream.md). Passwords come from files, never from the command line; DSNs carrying a
// password are refused, and DSNs are printed redacted.
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "adapters/upstream/central_admin.hpp"
#include "adapters/upstream/dsn.hpp"
#include "adapters/upstream/pg.hpp"
#include "core/types.hpp"
#include "zonegate/cli_args.hpp"
#include "zonegate/commands.hpp"

namespace zonegate::cli {
namespace {

namespace up = adapters::upstream;
namespace pg = adapters::upstream::pg;

constexpr const char* kUpstreamUsage =
    "usage: zonegate upstream init --dsn DSN\n"
    "       zonegate upstream add-gateway --dsn DSN --gateway ID --site SITE [--role NAME]\n"
    "                                     [--password-file FILE] [--public-key PEM_FILE]\n"
    "       zonegate upstream status --dsn DSN [--json]\n"
    "  DSN: a libpq connection string without a password (use passfile=FILE or ~/.pgpass)\n";

// Administrative statements run on a quiet database in well under this; a statement that takes
// longer is waiting on a lock and should fail rather than hang the operator's shell.
constexpr std::chrono::seconds kAdminTimeout{60};

std::optional<std::string> read_file(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path;
    return std::nullopt;
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

pg::Conn connect_dsn(const std::string& dsn, std::ostream& err) {
  std::string error;
  pg::Conn conn = pg::connect(dsn, kAdminTimeout, &error);
  if (!conn) {
    err << "zonegate: cannot connect to the central database: " << error << '\n';
    return nullptr;
  }
  return conn;
}

void print_actions(const up::AdminResult& r, std::ostream& out) {
  for (const auto& a : r.actions) out << "  " << a << '\n';
}

int upstream_init(const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  auto conn = connect_dsn(*p.get("--dsn"), err);
  if (!conn) return kExitUsage;
  const auto r = up::init_schema(conn.get());
  if (!r.ok) {
    err << "zonegate: upstream init failed (nothing was changed): " << r.message << '\n';
    return kExitFailed;
  }
  out << r.message << '\n';
  print_actions(r, out);
  return kExitOk;
}

int upstream_add_gateway(const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  up::GatewaySpec spec;
  const auto gateway = p.get("--gateway");
  const auto site = p.get("--site");
  if (!gateway || !site) {
    err << "zonegate: upstream add-gateway needs --gateway ID and --site SITE\n" << kUpstreamUsage;
    return kExitUsage;
  }
  spec.gateway_id = *gateway;
  spec.site = *site;
  spec.role = p.get("--role").value_or("");
  std::string error;
  if (auto file = p.get("--password-file")) {
    struct stat st {};
    if (::stat(file->c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      err << "zonegate: warning: " << *file << " is readable by group or others (chmod 600)\n";
    }
    auto text = read_file(*file, error);
    if (!text) {
      err << "zonegate: " << error << '\n';
      return kExitUsage;
    }
    // The first line is the password; a trailing newline is not part of it.
    spec.password = text->substr(0, text->find_first_of("\r\n"));
    if (spec.password.empty()) {
      err << "zonegate: " << *file << " holds no password on its first line\n";
      return kExitUsage;
    }
  }
  if (auto file = p.get("--public-key")) {
    auto text = read_file(*file, error);
    if (!text) {
      err << "zonegate: " << error << '\n';
      return kExitUsage;
    }
    spec.public_key_pem = *text;
  }
  auto conn = connect_dsn(*p.get("--dsn"), err);
  if (!conn) return kExitUsage;
  const auto r = up::add_gateway(conn.get(), spec);
  if (!r.ok) {
    err << "zonegate: upstream add-gateway failed (nothing was changed): " << r.message << '\n';
    return kExitFailed;
  }
  out << r.message << '\n';
  print_actions(r, out);
  return kExitOk;
}

std::string format_ms(const std::optional<std::int64_t>& ms) {
  if (!ms) return "-";
  return core::format_utc(core::Instant(core::Duration(*ms)));
}

int upstream_status(const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  auto conn = connect_dsn(*p.get("--dsn"), err);
  if (!conn) return kExitUsage;
  std::string error;
  pg::Res res = pg::exec(conn.get(),
                         "SELECT g.gateway_id, g.site, g.role_name, h.seq, h.time_ms, h.checkpoint_seq,"
                         "  coalesce(h.faulted, false),"
                         "  to_char(h.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
                         "  (SELECT count(*) FROM zonegate.chain_faults f WHERE f.gateway_id = g.gateway_id),"
                         "  (SELECT f.kind || ' at seq ' || f.seq FROM zonegate.chain_faults f"
                         "    WHERE f.gateway_id = g.gateway_id ORDER BY f.id LIMIT 1),"
                         "  g.public_key_pem IS NOT NULL"
                         " FROM zonegate.gateways g LEFT JOIN zonegate.chain_heads h ON h.gateway_id = g.gateway_id"
                         " ORDER BY g.gateway_id",
                         {}, &error);
  if (!res) {
    err << "zonegate: cannot read the gateways' state: " << error << '\n';
    return kExitUsage;
  }
  const int n = PQntuples(res.get());
  bool any_faulted = false;
  nlohmann::json arr = nlohmann::json::array();
  std::ostringstream table;
  table << std::left << std::setw(20) << "GATEWAY" << std::setw(12) << "SITE" << std::right << std::setw(12)
        << "HEAD SEQ"
        << "  " << std::left << std::setw(26) << "LAST RECORD (UTC)" << std::right << std::setw(12) << "CHECKPOINT"
        << "  " << std::left << std::setw(22) << "UPLOADED (UTC)"
        << "STATE\n";
  for (int i = 0; i < n; ++i) {
    const std::string id(pg::text(res.get(), i, 0));
    const std::string site(pg::text(res.get(), i, 1));
    const auto seq = pg::int64(res.get(), i, 3).value_or(0);
    const auto time_ms = pg::int64(res.get(), i, 4);
    const auto cp = pg::int64(res.get(), i, 5).value_or(0);
    const bool faulted = pg::text(res.get(), i, 6) == "t";
    const std::string updated = pg::is_null(res.get(), i, 7) ? "-" : std::string(pg::text(res.get(), i, 7));
    const auto faults = pg::int64(res.get(), i, 8).value_or(0);
    const std::string first_fault = pg::is_null(res.get(), i, 9) ? "" : std::string(pg::text(res.get(), i, 9));
    any_faulted = any_faulted || faulted;
    std::string state = faulted ? "FAULTED" : "ok";
    if (faults > 0) state += " (" + std::to_string(faults) + " fault(s), first: " + first_fault + ")";
    if (pg::text(res.get(), i, 10) != "t") state += " [no public key]";
    table << std::left << std::setw(20) << id << std::setw(12) << site << std::right << std::setw(12) << seq << "  "
          << std::left << std::setw(26) << format_ms(time_ms) << std::right << std::setw(12) << cp << "  " << std::left
          << std::setw(22) << updated << state << '\n';
    arr.push_back({{"gateway", id},
                   {"site", site},
                   {"role", std::string(pg::text(res.get(), i, 2))},
                   {"head_seq", seq},
                   {"last_time", time_ms ? nlohmann::json(format_ms(time_ms)) : nullptr},
                   {"checkpoint_seq", cp},
                   {"uploaded_at", updated == "-" ? nullptr : nlohmann::json(updated)},
                   {"faulted", faulted},
                   {"faults", faults},
                   {"first_fault", first_fault.empty() ? nullptr : nlohmann::json(first_fault)}});
  }
  if (p.has("--json")) {
    out << arr.dump(2) << '\n';
  } else if (n == 0) {
    out << "no gateways registered (zonegate upstream add-gateway)\n";
  } else {
    out << table.str();
  }
  return any_faulted ? kExitFailed : kExitOk;
}

}  // namespace

int run_upstream(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kUpstreamUsage;
    return kExitUsage;
  }
  const std::string& what = args[0];
  std::set<std::string> values{"--dsn"};
  std::set<std::string> flags;
  if (what == "add-gateway") {
    values.insert({"--gateway", "--site", "--role", "--password-file", "--public-key"});
  } else if (what == "status") {
    flags.insert("--json");
  } else if (what != "init") {
    err << "zonegate: unknown upstream subcommand '" << what << "' (init, add-gateway, status)\n" << kUpstreamUsage;
    return kExitUsage;
  }
  std::string error;
  auto p = parse_args(std::vector<std::string>(args.begin() + 1, args.end()), values, flags, &error);
  if (p && !p->positional.empty()) error = "unexpected argument '" + p->positional[0] + "'";
  if (p && p->positional.empty() && !p->get("--dsn")) error = "--dsn DSN is required";
  if (!p || !p->positional.empty() || !p->get("--dsn")) {
    err << "zonegate: upstream " << what << ": " << error << '\n' << kUpstreamUsage;
    return kExitUsage;
  }
  if (auto bad = up::check_dsn(*p->get("--dsn"))) {
    err << "zonegate: --dsn: " << *bad << '\n';
    return kExitUsage;
  }
  if (what == "init") return upstream_init(*p, out, err);
  if (what == "add-gateway") return upstream_add_gateway(*p, out, err);
  return upstream_status(*p, out, err);
}

}  // namespace zonegate::cli
