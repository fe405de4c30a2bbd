// SPDX-License-Identifier: Apache-2.0
/// @file
/// The client side of zonegated's control socket (`<state-dir>/control.sock`, one JSON object per
/// line each way), the requests of `zonegate status|sim|guard|reload`, and how answers are printed.
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace zonegate::cli {

/// Connects (timeout `timeout`), sends `request` as one line and reads one line back. On failure
/// returns nullopt and sets *error to "cannot reach zonegated at PATH: ..." or a protocol error.
std::optional<nlohmann::json> control_request(const std::filesystem::path& socket_path, const nlohmann::json& request,
                                              std::string* error,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// The request of `zonegate sim ARGS...` (ARGS without --state-dir); nullopt + *error on misuse.
std::optional<nlohmann::json> build_sim_request(const std::vector<std::string>& args, std::string* error);
/// The request of `zonegate guard ARGS...` (ARGS without --state-dir); nullopt + *error on misuse.
std::optional<nlohmann::json> build_guard_request(const std::vector<std::string>& args, std::string* error);

/// Human-readable status (the `status` object of the daemon's answer).
void print_status(std::ostream& out, const nlohmann::json& status);
/// Decisions and notes of a guard answer, or "ok"; then where they were recorded (print_commit).
void print_guard_answer(std::ostream& out, const nlohmann::json& answer);
/// The answer to a `sim` request: the decision of a tap (verdict, reason, request id) or what is
/// still pending, then where it was recorded (print_commit).
void print_sim_answer(std::ostream& out, const nlohmann::json& answer);
/// "recorded at seq N" / "seq A..B", or that the records are only queued (audit trail degraded),
/// or that the input changed nothing.
void print_commit(std::ostream& out, const nlohmann::json& answer);

}  // namespace zonegate::cli
