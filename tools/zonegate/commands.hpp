// SPDX-License-Identifier: Apache-2.0
/// @file
/// The `zonegate` subcommands. Each takes the arguments after its name and returns the process
/// exit status: 0 success, 1 the checked thing is bad (invalid config, failing scenario), 2 usage
/// error (bad arguments, unknown zone, unreadable time).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace zonegate::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

/// `zonegate check FILE`
int run_check(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `zonegate policy test FILE...`
int run_policy_test(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `zonegate policy who-can --zone Z --at TIME [--site FILE] [--people FILE] [--all]`
int run_who_can(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// `zonegate status [--json]`
int run_status(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `zonegate sim tap|gate|door|rex|fire|tamper|reader ...`
int run_sim(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `zonegate guard ack|release|forgive|lockdown|lift|unlock ...`
int run_guard(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `zonegate reload`
int run_reload(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `zonegate badge add|revoke|list|import ...` (opens <state-dir>/credentials.db directly)
int run_badge(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `zonegate audit tail|query|export|verify ...`
int run_audit(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `zonegate upstream init|add-gateway|status --dsn DSN ...` (the central PostgreSQL database)
int run_upstream(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
/// `zonegate operator add|list|disable|enable|passwd|role ...` (opens <state-dir>/operators.db directly)
int run_operator(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// The usage text of the whole command.
const char* usage_text();

}  // namespace zonegate::cli
