// SPDX-License-Identifier: Apache-2.0
/// @file
/// The control socket: a UNIX stream socket (`<state-dir>/control.sock`, or `zonegated
/// --control-socket PATH`; under systemd /run/zonegate/control.sock) (mode 0660, owner root, group
/// from `daemon.control_socket_group`) speaking one JSON object per line each way. The `zonegate`
/// CLI uses it for status, guard actions and the simulator. The peer's uid (SO_PEERCRED) names the
/// operator in the audit trail.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app/controller.hpp"

namespace zonegate::app {

class ControlServer {
 public:
  /// `reload` runs a configuration reload (as SIGHUP does) and returns whether it took effect.
  ControlServer(boost::asio::io_context& io, Controller& controller, std::filesystem::path socket_path,
                std::string group, std::function<bool()> reload);
  ~ControlServer();
  /// Binds and listens; returns an error text on failure.
  std::optional<std::string> start();
  void stop();

  using Reply = std::function<void(nlohmann::json)>;
  /// Handles one request (exposed for tests). `peer` names the operator. `reply` runs exactly once,
  /// on the loop: at once for queries and refusals; for inputs that make records (sim.*, guard,
  /// ack) only after those records are durable in the audit trail, or, while it is degraded, at
  /// once with `"durable": false`.
  void handle(const nlohmann::json& request, const Operator& peer, Reply reply);
  /// The answer for a committed input: `durable`, `seq_first`/`seq_last`, the records with their
  /// seqs and, if one is among them, the `decision` (verdict, reason, request id).
  static nlohmann::json commit_answer(const CommitReport& report, const core::Policy& policy);

  static constexpr std::size_t kMaxRequestBytes = 64 * 1024;
  static constexpr std::size_t kMaxSessions = 16;

 private:
  class Session;
  void do_accept();

  boost::asio::io_context& io_;
  Controller& controller_;
  std::filesystem::path path_;
  std::string group_;
  std::function<bool()> reload_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::size_t sessions_ = 0;
  std::shared_ptr<bool> alive_;
};

}  // namespace zonegate::app
