// SPDX-License-Identifier: Apache-2.0
// The zonegate command line: argv dispatch only; the commands live in the zonegate_cli library.
#include <iostream>
#include <string>
#include <vector>

#include "zonegate/commands.hpp"

int main(int argc, char** argv) {
  using namespace zonegate::cli;
  const std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  const auto rest = [&](std::size_t from) {
    return std::vector<std::string>(args.begin() + static_cast<long>(from), args.end());
  };
  if (args.empty()) {
    std::cerr << usage_text();
    return kExitUsage;
  }
  const std::string& command = args[0];
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << usage_text();
    return kExitOk;
  }
  if (command == "check") return run_check(rest(1), std::cout, std::cerr);
  if (command == "status") return run_status(rest(1), std::cout, std::cerr);
  if (command == "sim") return run_sim(rest(1), std::cout, std::cerr);
  if (command == "guard") return run_guard(rest(1), std::cout, std::cerr);
  if (command == "reload") return run_reload(rest(1), std::cout, std::cerr);
  if (command == "badge") return run_badge(rest(1), std::cout, std::cerr);
  if (command == "audit") return run_audit(rest(1), std::cout, std::cerr);
  if (command == "upstream") return run_upstream(rest(1), std::cout, std::cerr);
  if (command == "operator") return run_operator(rest(1), std::cout, std::cerr);
  if (command == "policy" && args.size() >= 2) {
    if (args[1] == "test") return run_policy_test(rest(2), std::cout, std::cerr);
    if (args[1] == "who-can") return run_who_can(rest(2), std::cout, std::cerr);
  }
  std::cerr << "zonegate: unknown command '";
  for (std::size_t i = 0; i < args.size() && i < 2; ++i) std::cerr << (i == 0 ? "" : " ") << args[i];
  std::cerr << "'\n" << usage_text();
  return kExitUsage;
}
