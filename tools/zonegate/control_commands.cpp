// SPDX-License-Identifier: Apache-2.0
// `zonegate status|sim|guard|reload`: requests to the running daemon over its control socket.
#include <filesystem>

#include "zonegate/cli_args.hpp"
#include "zonegate/commands.hpp"
#include "zonegate/control_client.hpp"

namespace zonegate::cli {
namespace {

using nlohmann::json;

/// Removes `--state-dir DIR` / `--state-dir=DIR` from args; false (+ *error) if misused.
bool take_state_dir(std::vector<std::string>& args, std::string& state_dir, std::string* error) {
  bool seen = false;
  for (std::size_t i = 0; i < args.size();) {
    std::optional<std::string> value;
    std::size_t n = 1;
    if (args[i] == "--state-dir") {
      if (i + 1 >= args.size()) {
        *error = "option --state-dir needs a value";
        return false;
      }
      value = args[i + 1];
      n = 2;
    } else if (args[i].rfind("--state-dir=", 0) == 0) {
      value = args[i].substr(12);
    }
    if (!value) {
      ++i;
      continue;
    }
    if (seen) {
      *error = "option --state-dir given twice";
      return false;
    }
    seen = true;
    state_dir = *value;
    args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i + n));
  }
  return true;
}

/// Sends the request; prints errors; returns the answer if the daemon said ok.
std::optional<json> ask(const std::string& state_dir, const json& request, std::ostream& err) {
  std::string error;
  auto answer = control_request(std::filesystem::path(state_dir) / "control.sock", request, &error);
  if (!answer) {
    err << "zonegate: " << error << '\n';
    return std::nullopt;
  }
  if (!answer->value("ok", false)) {
    err << "zonegate: zonegated refused: " << answer->value("error", std::string("(no reason given)")) << '\n';
    return std::nullopt;
  }
  return answer;
}

int forward(std::vector<std::string> args, std::optional<json> (*build)(const std::vector<std::string>&, std::string*),
            void (*print)(std::ostream&, const json&), std::ostream& out, std::ostream& err) {
  std::string state_dir = kDefaultStateDir;
  std::string error;
  if (!take_state_dir(args, state_dir, &error)) {
    err << "zonegate: " << error << '\n';
    return kExitUsage;
  }
  auto request = build(args, &error);
  if (!request) {
    err << "zonegate: " << error << '\n';
    return kExitUsage;
  }
  auto answer = ask(state_dir, *request, err);
  if (!answer) return kExitFailed;
  print(out, *answer);
  // Accepted but not durable (audit trail degraded): say so on stderr too, for scripts.
  if (answer->contains("durable") && !answer->value("durable", true)) {
    err << "zonegate: warning: not durable yet; zonegated queued the records in memory\n";
  }
  return kExitOk;
}

}  // namespace

int run_status(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string error;
  auto p = parse_args(args, {"--state-dir"}, {"--json"}, &error);
  if (!p || !p->positional.empty()) {
    err << "zonegate: " << (p ? "unexpected argument '" + p->positional[0] + "'" : error)
        << "\nusage: zonegate status [--json] [--state-dir DIR]\n";
    return kExitUsage;
  }
  auto answer = ask(p->get("--state-dir").value_or(kDefaultStateDir), json{{"cmd", "status"}}, err);
  if (!answer) return kExitFailed;
  const json status = answer->value("status", json::object());
  if (p->has("--json")) {
    out << status.dump(2) << '\n';
  } else {
    print_status(out, status);
  }
  return kExitOk;
}

int run_sim(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return forward(args, &build_sim_request, &print_sim_answer, out, err);
}

int run_guard(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  return forward(args, &build_guard_request, &print_guard_answer, out, err);
}

int run_reload(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string error;
  auto p = parse_args(args, {"--state-dir"}, {}, &error);
  if (!p || !p->positional.empty()) {
    err << "zonegate: " << (p ? "unexpected argument '" + p->positional[0] + "'" : error)
        << "\nusage: zonegate reload [--state-dir DIR]\n";
    return kExitUsage;
  }
  if (!ask(p->get("--state-dir").value_or(kDefaultStateDir), json{{"cmd", "reload"}}, err)) return kExitFailed;
  out << "reloaded\n";
  return kExitOk;
}

}  // namespace zonegate::cli
