// SPDX-License-Identifier: Apache-2.0
// `zonegate operator add|list|disable|enable|passwd|role`: the console's operator accounts
// (<state-dir>/operators.db), edited directly like an administrator on the gateway. Every change is
// first recorded in the audit trail (fail closed), naming the Unix user who made it.
#include <openssl/crypto.h>
#include <termios.h>
#include <unistd.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "adapters/web/operator_store.hpp"
#include "zonegate/admin_common.hpp"
#include "zonegate/cli_args.hpp"
#include "zonegate/commands.hpp"

namespace zonegate::cli {
namespace {

namespace web = adapters::web;
namespace audit = adapters::audit;

constexpr const char* kOperatorUsage =
    "usage: zonegate operator add NAME --role guard|auditor|admin [--password-file FILE]\n"
    "       zonegate operator passwd NAME [--password-file FILE]\n"
    "       zonegate operator role NAME guard|auditor|admin\n"
    "       zonegate operator disable NAME | zonegate operator enable NAME\n"
    "       zonegate operator list [--json]\n"
    "  common options: [--state-dir DIR] [--config zones.yaml] [--gateway ID]\n"
    "  without --password-file the password is read twice from the terminal (echo off),\n"
    "  or once from standard input when that is not a terminal\n";

struct Context {
  std::string state_dir;
  SiteInfo site;
  std::optional<std::string> gateway;
};

/// Wipes a password from memory when it goes out of scope.
class Secret {
 public:
  Secret() = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { wipe(); }
  std::string& str() { return s_; }
  void wipe() {
    if (!s_.empty()) OPENSSL_cleanse(s_.data(), s_.size());
    s_.clear();
  }

 private:
  std::string s_;
};

/// Restores the terminal's echo whatever path leaves the scope.
class EchoOff {
 public:
  EchoOff() {
    if (::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios quiet = saved_;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      quiet.c_lflag |= ECHONL;
      active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;
  ~EchoOff() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  }

 private:
  termios saved_{};
  bool active_ = false;
};

void strip_line_end(std::string& s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
}

/// The new password: the first line of --password-file, else the terminal (twice, echo off), else
/// one line of standard input. False (after printing why) if there is none.
bool read_new_password(const ParsedArgs& p, const std::string& name, Secret& out, std::ostream& err) {
  if (auto file = p.get("--password-file")) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      err << "zonegate: cannot read " << *file << '\n';
      return false;
    }
    std::getline(in, out.str());
    strip_line_end(out.str());
  } else if (::isatty(STDIN_FILENO) == 1) {
    Secret again;
    {
      EchoOff quiet;
      err << "New password for " << name << ": " << std::flush;
      std::getline(std::cin, out.str());
      err << "Repeat the password: " << std::flush;
      std::getline(std::cin, again.str());
    }
    strip_line_end(out.str());
    strip_line_end(again.str());
    if (out.str() != again.str()) {
      err << "zonegate: the passwords differ; nothing changed\n";
      return false;
    }
  } else {
    std::getline(std::cin, out.str());
    strip_line_end(out.str());
  }
  if (out.str().empty()) {
    err << "zonegate: no password given; nothing changed\n";
    return false;
  }
  return true;
}

std::unique_ptr<web::OperatorStore> open_operators(const Context& ctx, std::ostream& err) {
  const auto path = std::filesystem::path(ctx.state_dir) / web::kOperatorDbFile;
  auto store = web::OperatorStore::open(path);
  if (!store) {
    err << "zonegate: cannot open " << path.string() << ": " << store.error().message << '\n';
    return nullptr;
  }
  return std::move(*store);
}

audit::Entry operator_entry(const std::string& event, const std::string& detail) {
  return audit::Entry{now_instant(), audit::EntryKind::operator_action, event, unix_actor(), {}, {}, {}, "zonegate-cli",
                      detail};
}

/// Opens the audit trail and records the action; nullptr (after printing why) if it cannot be written.
std::unique_ptr<audit::AuditStore> record_first(const Context& ctx, const std::string& event, const std::string& detail,
                                                std::ostream& err) {
  auto store = open_audit_writable(ctx.state_dir, ctx.gateway, ctx.site);
  if (!store) {
    err << "zonegate: refusing the change: the audit trail cannot be written: " << store.error().message << '\n';
    return nullptr;
  }
  const audit::Entry e = operator_entry(event, detail);
  auto seq = (*store)->append_entries(std::span<const audit::Entry>(&e, 1));
  if (!seq) {
    err << "zonegate: refusing the change: the audit trail cannot be written: " << seq.error().message << '\n';
    return nullptr;
  }
  return std::move(*store);
}

/// Best effort: the change failed after it was recorded; record that too.
void record_failure(audit::AuditStore& store, const std::string& event, const std::string& detail) {
  const audit::Entry e = operator_entry(event + "_failed", detail);
  (void)store.append_entries(std::span<const audit::Entry>(&e, 1));
}

bool check_name(const std::string& name, std::ostream& err) {
  if (web::valid_operator_name(name)) return true;
  err << "zonegate: '" << name << "' is not a valid operator name (1-64 of a-z 0-9 . _ -)\n";
  return false;
}

std::optional<web::Role> parse_role(const std::string& text, std::ostream& err) {
  auto role = web::role_from_string(text);
  if (!role) err << "zonegate: '" << text << "' is not a role (guard, auditor, admin)\n";
  return role;
}

/// The operator, or nullopt after printing why (no such operator, or the store failed).
std::optional<web::Operator> existing(web::OperatorStore& store, const std::string& name, std::ostream& err) {
  auto op = store.find(name);
  if (!op) {
    err << "zonegate: cannot read operator " << name << ": " << op.error().message << '\n';
    return std::nullopt;
  }
  if (!op->has_value()) err << "zonegate: no operator '" << name << "'\n";
  return *op;
}

/// Records, applies and reports one change; the exit status.
template <typename Apply>
int change(const Context& ctx, const std::string& event, const std::string& detail, Apply apply,
           const std::string& done, std::ostream& out, std::ostream& err) {
  auto trail = record_first(ctx, event, detail, err);
  if (!trail) return kExitFailed;
  web::Result<web::Done> r = apply(now_instant());
  if (!r) {
    record_failure(*trail, event, detail + ": " + r.error().message);
    err << "zonegate: " << event << " failed: " << r.error().message << '\n';
    return kExitFailed;
  }
  out << done << '\n';
  return kExitOk;
}

int operator_add(const Context& ctx, const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  if (p.positional.size() != 1 || !p.get("--role")) {
    err << "zonegate: operator add needs NAME and --role\n" << kOperatorUsage;
    return kExitUsage;
  }
  const std::string& name = p.positional[0];
  if (!check_name(name, err)) return kExitUsage;
  const auto role = parse_role(*p.get("--role"), err);
  if (!role) return kExitUsage;
  auto store = open_operators(ctx, err);
  if (!store) return kExitFailed;
  if (auto op = store->find(name); !op || op->has_value()) {
    err << "zonegate: " << (op ? "operator '" + name + "' exists already" : op.error().message) << '\n';
    return kExitFailed;
  }
  Secret password;
  if (!read_new_password(p, name, password, err)) return kExitFailed;
  if (auto why = web::password_policy_violation(name, password.str())) {
    err << "zonegate: refused: " << *why << '\n';
    return kExitUsage;
  }
  const std::string detail = "operator " + name + ", role " + std::string(web::to_string(*role));
  return change(
      ctx, "operator_add", detail, [&](core::Instant now) { return store->add(name, *role, password.str(), now); },
      "added operator " + name + " (" + std::string(web::to_string(*role)) + ")", out, err);
}

int operator_passwd(const Context& ctx, const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  if (p.positional.size() != 1) {
    err << "zonegate: operator passwd needs exactly one NAME\n" << kOperatorUsage;
    return kExitUsage;
  }
  const std::string& name = p.positional[0];
  if (!check_name(name, err)) return kExitUsage;
  auto store = open_operators(ctx, err);
  if (!store) return kExitFailed;
  if (!existing(*store, name, err)) return kExitFailed;
  Secret password;
  if (!read_new_password(p, name, password, err)) return kExitFailed;
  if (auto why = web::password_policy_violation(name, password.str())) {
    err << "zonegate: refused: " << *why << '\n';
    return kExitUsage;
  }
  return change(
      ctx, "operator_passwd", "operator " + name,
      [&](core::Instant now) { return store->set_password(name, password.str(), now); },
      "changed the password of " + name + " (a lockout is cleared)", out, err);
}

int operator_role(const Context& ctx, const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  if (p.positional.size() != 2) {
    err << "zonegate: operator role needs NAME and ROLE\n" << kOperatorUsage;
    return kExitUsage;
  }
  const std::string& name = p.positional[0];
  if (!check_name(name, err)) return kExitUsage;
  const auto role = parse_role(p.positional[1], err);
  if (!role) return kExitUsage;
  auto store = open_operators(ctx, err);
  if (!store) return kExitFailed;
  const auto op = existing(*store, name, err);
  if (!op) return kExitFailed;
  const std::string detail = "operator " + name + ", role " + std::string(web::to_string(op->role)) + " -> " +
                             std::string(web::to_string(*role));
  return change(
      ctx, "operator_role", detail, [&](core::Instant now) { return store->set_role(name, *role, now); },
      "operator " + name + " is now " + std::string(web::to_string(*role)), out, err);
}

int operator_enable(const Context& ctx, const ParsedArgs& p, bool enable, std::ostream& out, std::ostream& err) {
  const char* what = enable ? "enable" : "disable";
  if (p.positional.size() != 1) {
    err << "zonegate: operator " << what << " needs exactly one NAME\n" << kOperatorUsage;
    return kExitUsage;
  }
  const std::string& name = p.positional[0];
  if (!check_name(name, err)) return kExitUsage;
  auto store = open_operators(ctx, err);
  if (!store) return kExitFailed;
  if (!existing(*store, name, err)) return kExitFailed;
  return change(
      ctx, std::string("operator_") + what, "operator " + name,
      [&](core::Instant now) { return enable ? store->enable(name, now) : store->disable(name, now); },
      std::string(enable ? "enabled" : "disabled") + " operator " + name, out, err);
}

int operator_list(const Context& ctx, const ParsedArgs& p, std::ostream& out, std::ostream& err) {
  if (!p.positional.empty()) {
    err << "zonegate: operator list: unexpected argument '" << p.positional[0] << "'\n" << kOperatorUsage;
    return kExitUsage;
  }
  auto store = open_operators(ctx, err);
  if (!store) return kExitFailed;
  auto all = store->list();
  if (!all) {
    err << "zonegate: cannot list operators: " << all.error().message << '\n';
    return kExitFailed;
  }
  const core::Instant now = now_instant();
  const auto locked = [&](const web::Operator& op) { return op.locked_until && now < *op.locked_until; };
  const auto status = [&](const web::Operator& op) -> std::string {
    if (op.disabled) return "disabled";
    if (locked(op)) return "locked";
    return "active";
  };
  if (p.has("--json")) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& op : *all) {
      arr.push_back({{"name", op.name},
                     {"role", web::to_string(op.role)},
                     {"status", status(op)},
                     {"created_at", core::format_utc(op.created_at)},
                     {"last_login", op.last_login ? nlohmann::json(core::format_utc(*op.last_login)) : nullptr},
                     {"failed_logins", op.failed_count},
                     {"locked_until", locked(op) ? nlohmann::json(core::format_utc(*op.locked_until)) : nullptr}});
    }
    out << arr.dump(2) << '\n';
    return kExitOk;
  }
  out << std::left << std::setw(24) << "NAME" << std::setw(9) << "ROLE" << std::setw(10) << "STATUS" << std::setw(31)
      << "CREATED" << std::setw(31) << "LAST LOGIN"
      << "FAILED\n";
  for (const auto& op : *all) {
    out << std::setw(23) << op.name << ' ' << std::setw(8) << web::to_string(op.role) << ' ' << std::setw(9)
        << status(op) << ' ' << std::setw(30) << format_time(op.created_at, ctx.site) << ' ' << std::setw(30)
        << (op.last_login ? format_time(*op.last_login, ctx.site) : std::string("never")) << ' ' << op.failed_count;
    if (locked(op)) out << " (locked until " << format_time(*op.locked_until, ctx.site) << ')';
    out << '\n';
  }
  out << all->size() << " operator(s)\n";
  return kExitOk;
}

}  // namespace

int run_operator(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kOperatorUsage;
    return kExitUsage;
  }
  const std::string& what = args[0];
  std::set<std::string> values{"--state-dir", "--config", "--gateway"};
  std::set<std::string> flags;
  if (what == "add") {
    values.insert({"--role", "--password-file"});
  } else if (what == "passwd") {
    values.insert("--password-file");
  } else if (what == "list") {
    flags.insert("--json");
  } else if (what != "disable" && what != "enable" && what != "role") {
    err << "zonegate: unknown operator subcommand '" << what << "' (add, list, disable, enable, passwd, role)\n"
        << kOperatorUsage;
    return kExitUsage;
  }
  std::string error;
  auto p = parse_args(std::vector<std::string>(args.begin() + 1, args.end()), values, flags, &error);
  if (!p) {
    err << "zonegate: operator " << what << ": " << error << '\n' << kOperatorUsage;
    return kExitUsage;
  }
  auto site = load_site(p->get("--config"), err);
  if (!site) return kExitFailed;
  const Context ctx{p->get("--state-dir").value_or(kDefaultStateDir), *site, p->get("--gateway")};
  if (what == "add") return operator_add(ctx, *p, out, err);
  if (what == "passwd") return operator_passwd(ctx, *p, out, err);
  if (what == "role") return operator_role(ctx, *p, out, err);
  if (what == "list") return operator_list(ctx, *p, out, err);
  return operator_enable(ctx, *p, what == "enable", out, err);
}

}  // namespace zonegate::cli
