// SPDX-License-Identifier: Apache-2.0
// `zonegate audit tail|query|export|verify`: reading the audit trail. Exports are themselves
// recorded (kind `export`), and refused if that record cannot be written.
#include <deque>
#include <fstream>
#include <sstream>

#include "adapters/upstream/central_verify.hpp"
#include "adapters/upstream/dsn.hpp"
#include "adapters/upstream/pg.hpp"
#include "zonegate/admin_common.hpp"
#include "zonegate/cli_args.hpp"
#include "zonegate/commands.hpp"

namespace zonegate::cli {
namespace {

namespace audit = adapters::audit;

constexpr const char* kAuditUsage =
    "usage: zonegate audit tail [-n N]\n"
    "       zonegate audit query [FILTERS] [--limit N]\n"
    "       zonegate audit export --format csv|jsonl [FILTERS] [--out FILE]\n"
    "       zonegate audit verify [--upstream DSN [--public-key PEM_FILE]]\n"
    "  FILTERS: [--person P] [--zone Z] [--door D] [--decision grant|deny|pending] [--reason R]\n"
    "           [--kind K] [--from TIME] [--to TIME]\n"
    "  common options: [--state-dir DIR] [--config zones.yaml] [--gateway ID]\n";

/// Every kind a record can have (docs/audit.md).
const std::set<std::string> kKinds{"decision", "alarm",  "note",   "operator", "config",
                                   "reader",   "export", "system", "retention"};

const std::set<std::string> kFilterOptions{"--person", "--zone", "--door", "--decision",
                                           "--reason", "--kind", "--from", "--to"};

/// Builds the filter; prints and returns nullopt on a bad value. `text` receives a readable form.
std::optional<audit::Filter> make_filter(const ParsedArgs& p, const SiteInfo& site, std::string& text,
                                         std::ostream& err) {
  audit::Filter f;
  const auto note = [&](const char* name, const std::string& v) {
    text += (text.empty() ? "" : " ") + std::string(name) + "=" + v;
  };
  if (auto v = p.get("--person")) f.person = *v, note("person", *v);
  if (auto v = p.get("--zone")) f.zone = *v, note("zone", *v);
  if (auto v = p.get("--door")) f.door = *v, note("door", *v);
  if (auto v = p.get("--decision")) {
    if (!core::verdict_from_string(*v)) {
      err << "zonegate: --decision must be grant, deny or pending, not '" << *v << "'\n";
      return std::nullopt;
    }
    f.verdict = *v;
    note("decision", *v);
  }
  if (auto v = p.get("--reason")) {
    if (!core::reason_from_string(*v)) {
      err << "zonegate: unknown reason '" << *v << "'\n";
      return std::nullopt;
    }
    f.reason = *v;
    note("reason", *v);
  }
  if (auto v = p.get("--kind")) {
    if (kKinds.count(*v) == 0) {
      err << "zonegate: unknown kind '" << *v
          << "' (decision, alarm, note, operator, config, reader, export, system, retention)\n";
      return std::nullopt;
    }
    f.kind = *v;
    note("kind", *v);
  }
  if (auto v = p.get("--from")) {
    f.from = parse_time_arg("--from", *v, site, err);
    if (!f.from) return std::nullopt;
    note("from", core::format_utc(*f.from));
  }
  if (auto v = p.get("--to")) {
    f.to = parse_time_arg("--to", *v, site, err);
    if (!f.to) return std::nullopt;
    note("to", core::format_utc(*f.to));
  }
  if (f.from && f.to && *f.to <= *f.from) {
    err << "zonegate: --to must be after --from\n";
    return std::nullopt;
  }
  if (text.empty()) text = "all records";
  return f;
}

std::unique_ptr<audit::AuditStore> open_ro(const std::string& state_dir, std::ostream& err) {
  auto store = open_audit_read_only(state_dir);
  if (!store) {
    err << "zonegate: cannot open the audit trail: " << store.error().message << '\n';
    return nullptr;
  }
  return std::move(*store);
}

int print_rows(const std::vector<audit::Row>& rows, const SiteInfo& site, std::ostream& out) {
  for (const auto& r : rows) out << format_audit_row(r, site) << '\n';
  return kExitOk;
}

int audit_tail(const std::string& state_dir, const SiteInfo& site, const ParsedArgs& p, std::ostream& out,
               std::ostream& err) {
  unsigned long n = 20;
  if (auto v = p.get("-n")) {
    auto c = parse_count(*v, 1000000);
    if (!c) {
      err << "zonegate: -n must be a number from 1 to 1000000\n";
      return kExitUsage;
    }
    n = *c;
  }
  auto store = open_ro(state_dir, err);
  if (!store) return kExitFailed;
  std::deque<audit::Row> last;
  audit::Page page;
  page.limit = 5000;
  for (;;) {
    auto rows = store->query(audit::Filter{}, page);
    if (!rows) {
      err << "zonegate: audit query failed: " << rows.error().message << '\n';
      return kExitFailed;
    }
    for (auto& r : *rows) {
      last.push_back(std::move(r));
      if (last.size() > n) last.pop_front();
    }
    if (rows->size() < page.limit) break;
    page.after = audit::Cursor::after(last.back());
  }
  return print_rows(std::vector<audit::Row>(last.begin(), last.end()), site, out);
}

int audit_query(const std::string& state_dir, const SiteInfo& site, const ParsedArgs& p, std::ostream& out,
                std::ostream& err) {
  std::string text;
  auto filter = make_filter(p, site, text, err);
  if (!filter) return kExitUsage;
  audit::Page page;
  page.limit = 100;
  if (auto v = p.get("--limit")) {
    auto c = parse_count(*v, 1000000);
    if (!c) {
      err << "zonegate: --limit must be a number from 1 to 1000000\n";
      return kExitUsage;
    }
    page.limit = static_cast<std::uint32_t>(*c);
  }
  auto store = open_ro(state_dir, err);
  if (!store) return kExitFailed;
  auto rows = store->query(*filter, page);
  if (!rows) {
    err << "zonegate: audit query failed: " << rows.error().message << '\n';
    return kExitFailed;
  }
  return print_rows(*rows, site, out);
}

int audit_export(const std::string& state_dir, const SiteInfo& site, const std::optional<std::string>& gateway,
                 const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  const auto format = p.get("--format");
  if (!format || (*format != "csv" && *format != "jsonl")) {
    err << "zonegate: audit export needs --format csv or --format jsonl\n";
    return kExitUsage;
  }
  std::string text;
  auto filter = make_filter(p, site, text, err);
  if (!filter) return kExitUsage;
  const auto out_file = p.get("--out");
  std::ofstream file;
  if (out_file) {
    file.open(*out_file, std::ios::binary | std::ios::trunc);
    if (!file) {
      err << "zonegate: cannot write " << *out_file << '\n';
      return kExitFailed;
    }
  }
  auto opened = open_audit_writable(state_dir, gateway, site);
  if (!opened) {
    err << "zonegate: refusing the export: it cannot be recorded in the audit trail: " << opened.error().message
        << '\n';
    return kExitFailed;
  }
  auto& store = **opened;
  const audit::Entry e{now_instant(),
                       audit::EntryKind::export_,
                       "export",
                       unix_actor(),
                       {},
                       {},
                       {},
                       "zonegate-cli",
                       "format=" + *format + " " + text + (out_file ? " out=" + *out_file : "")};
  if (auto seq = store.append_entries(std::span<const audit::Entry>(&e, 1)); !seq) {
    err << "zonegate: refusing the export: it cannot be recorded in the audit trail: " << seq.error().message << '\n';
    return kExitFailed;
  }
  std::ostream& sink = out_file ? static_cast<std::ostream&>(file) : out;
  auto n = *format == "csv" ? store.export_csv(*filter, sink) : store.export_jsonl(*filter, sink);
  if (!n) {
    err << "zonegate: export failed: " << n.error().message << '\n';
    return kExitFailed;
  }
  sink.flush();
  if (!sink) {
    err << "zonegate: export failed: write error\n";
    return kExitFailed;
  }
  if (out_file) out << "exported " << *n << " record(s) to " << *out_file << '\n';
  return kExitOk;
}

int audit_verify(const std::string& state_dir, std::ostream& out, std::ostream& err) {
  auto store = open_ro(state_dir, err);
  if (!store) return kExitFailed;
  const audit::VerifyResult r = store->verify();
  if (r.ok) {
    out << r.message << '\n';
    return kExitOk;
  }
  err << "zonegate: audit trail is NOT intact: " << r.message << '\n';
  if (r.first_bad_seq != 0) err << "first bad record: " << r.first_bad_seq << '\n';
  return kExitFailed;
}

// Exit status: 0 the local trail matches the centre's copy, 1 a divergence (the first one is
// named with its seq), 2 the comparison could not be made (usage, connection, unreadable trail).
int audit_verify_upstream(const std::string& state_dir, const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  namespace up = adapters::upstream;
  const std::string dsn = *p.get("--upstream");
  if (auto bad = up::check_dsn(dsn)) {
    err << "zonegate: --upstream: " << *bad << '\n';
    return kExitUsage;
  }
  auto store = open_audit_read_only(state_dir);
  if (!store) {
    err << "zonegate: cannot open the audit trail: " << store.error().message << '\n';
    return kExitUsage;
  }
  std::string error;
  // Each page of the comparison is one short query; a minute means a lock or a dead server.
  auto conn = up::pg::connect(dsn, std::chrono::seconds(60), &error);
  if (!conn) {
    err << "zonegate: cannot connect to the central database: " << error << '\n';
    return kExitUsage;
  }
  up::CentralVerifyOptions o;
  o.gateway_id = p.get("--gateway").value_or("");
  if (auto key = p.get("--public-key")) o.public_key = *key;
  const auto r = up::verify_against_central(conn.get(), **store, o);
  switch (r.status) {
    case up::CentralVerifyStatus::ok:
      out << r.message << '\n';
      return kExitOk;
    case up::CentralVerifyStatus::mismatch:
      err << "zonegate: audit trail does NOT match the central copy (" << r.kind << "): " << r.message << '\n';
      if (r.seq != 0) err << "first divergent record: " << r.seq << '\n';
      return kExitFailed;
    case up::CentralVerifyStatus::error:
      break;
  }
  err << "zonegate: cannot compare with the central copy (" << up::redact_dsn(dsn) << "): " << r.message << '\n';
  return kExitUsage;
}

}  // namespace

std::string format_audit_row(const audit::Row& r, const SiteInfo& site) {
  std::string what;
  if (r.kind == "decision") {
    what = r.verdict + (r.reason.empty() ? "" : " " + r.reason);
  } else if (r.kind == "alarm") {
    what = r.alarm + (r.severity.empty() ? "" : " [" + r.severity + "]");
  } else {
    what = r.event;
  }
  std::string line = std::to_string(r.seq) + "  " + format_time(r.at, site) + "  " + r.kind + "  " + what;
  if (!r.person.empty()) line += "  person=" + r.person;
  if (!r.badge.empty()) line += "  badge=" + r.badge;
  if (!r.door.empty()) line += "  door=" + r.door + (r.direction.empty() ? "" : "/" + r.direction);
  if (!r.zone.empty()) line += "  zone=" + r.zone;
  if (!r.source.empty()) line += "  source=" + r.source;
  if (!r.detail.empty()) line += "  " + r.detail;
  return line;
}

int run_audit(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kAuditUsage;
    return kExitUsage;
  }
  const std::string& what = args[0];
  std::set<std::string> values{"--state-dir", "--config", "--gateway"};
  if (what == "tail") {
    values.insert("-n");
  } else if (what == "query" || what == "export") {
    values.insert(kFilterOptions.begin(), kFilterOptions.end());
    values.insert(what == "query" ? "--limit" : "--format");
    if (what == "export") values.insert("--out");
  } else if (what == "verify") {
    values.insert({"--upstream", "--public-key"});
  } else {
    err << "zonegate: unknown audit subcommand '" << what << "' (tail, query, export, verify)\n" << kAuditUsage;
    return kExitUsage;
  }
  std::string error;
  auto p = parse_args(std::vector<std::string>(args.begin() + 1, args.end()), values, {}, &error);
  if (p && !p->positional.empty()) error = "unexpected argument '" + p->positional[0] + "'";
  if (!p || !p->positional.empty()) {
    err << "zonegate: audit " << what << ": " << error << '\n' << kAuditUsage;
    return kExitUsage;
  }
  const std::string state_dir = p->get("--state-dir").value_or(kDefaultStateDir);
  if (what == "verify") {
    if (p->get("--upstream")) return audit_verify_upstream(state_dir, *p, out, err);
    if (p->get("--public-key")) {
      err << "zonegate: audit verify: --public-key goes with --upstream\n" << kAuditUsage;
      return kExitUsage;
    }
    return audit_verify(state_dir, out, err);
  }
  auto site = load_site(p->get("--config"), err);
  if (!site) return kExitFailed;
  if (what == "tail") return audit_tail(state_dir, *site, *p, out, err);
  if (what == "query") return audit_query(state_dir, *site, *p, out, err);
  return audit_export(state_dir, *site, p->get("--gateway"), *p, out, err);
}

}  // namespace zonegate::cli
