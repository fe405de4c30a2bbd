// SPDX-License-Identifier: Apache-2.0
// `zonegate status|sim|guard|reload`: requests to the running daemon over its control socket.
#include <filesystem>
#include <optional>

#include "zonegate/cli_args.hpp"
#include "zonegate/commands.hpp"
#include "zonegate/control_client.hpp"

namespace zonegate::cli {
namespace {

using nlohmann::json;

/// Removes `NAME VALUE` / `NAME=VALUE` from args into `value`; false (+ *error) if misused.
bool take_option(std::vector<std::string>& args, const std::string& name, std::optional<std::string>& value,
                 std::string* error) {
  const std::string prefix = name + "=";
  for (std::size_t i = 0; i < args.size();) {
    std::optional<std::string> found;
    std::size_t n = 1;
    if (args[i] == name) {
      if (i + 1 >= args.size()) {
        *error = "option " + name + " needs a value";
        return false;
      }
      found = args[i + 1];
      n = 2;
    } else if (args[i].rfind(prefix, 0) == 0) {
      found = args[i].substr(prefix.size());
    }
    if (!found) {
      ++i;
      continue;
    }
    if (value) {
      *error = "option " + name + " given twice";
      return false;
    }
    value = std::move(found);
    args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i + n));
  }
  return true;
}

/// Where the daemon listens: --socket, else <--state-dir>/control.sock, else the systemd unit's
/// /run/zonegate/control.sock if it is there, else the default state directory's.
std::filesystem::path socket_path(const std::optional<std::string>& socket,
                                  const std::optional<std::string>& state_dir) {
  if (socket) return *socket;
  if (state_dir) return std::filesystem::path(*state_dir) / "control.sock";
  std::error_code ec;
  if (std::filesystem::exists(kRuntimeControlSocket, ec)) return kRuntimeControlSocket;
  return std::filesystem::path(kDefaultStateDir) / "control.sock";
}

/// Sends the request; prints errors; returns the answer if the daemon said ok.
std::optional<json> ask(const std::filesystem::path& socket, const json& request, std::ostream& err) {
  std::string error;
  auto answer = control_request(socket, request, &error);
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
  std::optional<std::string> state_dir;
  std::optional<std::string> socket;
  std::string error;
  if (!take_option(args, "--state-dir", state_dir, &error) || !take_option(args, "--socket", socket, &error)) {
    err << "zonegate: " << error << '\n';
    return kExitUsage;
  }
  auto request = build(args, &error);
  if (!request) {
    err << "zonegate: " << error << '\n';
    return kExitUsage;
  }
  auto answer = ask(socket_path(socket, state_dir), *request, err);
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
  auto p = parse_args(args, {"--state-dir", "--socket"}, {"--json"}, &error);
  if (!p || !p->positional.empty()) {
    err << "zonegate: " << (p ? "unexpected argument '" + p->positional[0] + "'" : error)
        << "\nusage: zonegate status [--json] [--state-dir DIR | --socket PATH]\n";
    return kExitUsage;
  }
  auto answer = ask(socket_path(p->get("--socket"), p->get("--state-dir")), json{{"cmd", "status"}}, err);
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
  auto p = parse_args(args, {"--state-dir", "--socket"}, {}, &error);
  if (!p || !p->positional.empty()) {
    err << "zonegate: " << (p ? "unexpected argument '" + p->positional[0] + "'" : error)
        << "\nusage: zonegate reload [--state-dir DIR | --socket PATH]\n";
    return kExitUsage;
  }
  if (!ask(socket_path(p->get("--socket"), p->get("--state-dir")), json{{"cmd", "reload"}}, err)) return kExitFailed;
  out << "reloaded\n";
  return kExitOk;
}

}  // namespace zonegate::cli
