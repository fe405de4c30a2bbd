// SPDX-License-Identifier: Apache-2.0
/// @file
/// The guard and auditor console in the daemon: the HTTPS server and JSON API of
/// adapters/web wired to the Controller. Implements the API's view of the live site (alarms,
/// doors, who is where, guard actions) over the Controller, opens the operator store, and pushes
/// alarms and refetch hints to the live WebSocket clients. docs/console.md describes it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "adapters/web/api.hpp"
#include "adapters/web/https_server.hpp"
#include "adapters/web/site_backend.hpp"
#include "app/controller.hpp"
#include "ports/clock.hpp"

namespace zonegate::app {

using adapters::web::ConsoleSettings;

class Console final : public adapters::web::SiteBackend {
 public:
  /// `gateway_id` and `state_dir` open the read-only audit handle of the console's worker and the
  /// operator store (operators.db) in the state directory.
  Console(boost::asio::io_context& io, Controller& controller, ports::Clock& clock, adapters::audit::AuditStore& audit,
          adapters::credentials::CredentialStore& credentials, std::filesystem::path state_dir, std::string gateway_id,
          ConsoleSettings settings, adapters::web::ServerLimits limits = {});
  ~Console() override;
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  /// Opens the operator store, starts the HTTPS server and subscribes to the Controller's alarms
  /// and records. Returns an error text on failure.
  std::optional<std::string> start();
  void stop();

  [[nodiscard]] std::string url() const;
  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] adapters::web::HttpsServer* server() { return server_.get(); }

  // ---- SiteBackend ------------------------------------------------------------------------------
  [[nodiscard]] nlohmann::json alarms() const override;
  [[nodiscard]] nlohmann::json doors() const override;
  [[nodiscard]] nlohmann::json occupancy() const override;
  [[nodiscard]] const core::Policy& policy() const override;
  adapters::web::SiteResult acknowledge(std::uint64_t alarm_id, const std::string& actor,
                                        const std::string& note) override;
  adapters::web::SiteResult unlock(const std::string& door, const std::string& actor,
                                   const std::string& reason) override;
  adapters::web::SiteResult release(const std::string& door, const std::optional<std::string>& person,
                                    const std::string& actor, const std::string& note) override;
  adapters::web::SiteResult lockdown(bool lift, const std::optional<std::string>& zone, const std::string& actor,
                                     const std::string& reason) override;
  void record(adapters::web::AuditKind kind, const std::string& actor, const std::string& event,
              const std::string& detail, const std::string& person, const std::string& badge) override;
  [[nodiscard]] bool audit_writable() const override;

  /// The JSON of one alarm as /api/v1/alarms and the live socket show it.
  static nlohmann::json alarm_json(const ActiveAlarm& a);

 private:
  adapters::web::SiteResult run_guard(core::GuardCommand command, const std::string& actor);
  void on_alarm(const ActiveAlarm& alarm);
  void on_record(const core::Record& record);
  void schedule_hints();

  boost::asio::io_context& io_;
  Controller& controller_;
  ports::Clock& clock_;
  adapters::audit::AuditStore& audit_;
  adapters::credentials::CredentialStore& credentials_;
  std::filesystem::path state_dir_;
  std::string gateway_id_;
  ConsoleSettings settings_;
  adapters::web::ServerLimits limits_;
  std::unique_ptr<adapters::web::Api> api_;
  std::unique_ptr<adapters::web::HttpsServer> server_;
  boost::asio::steady_timer hint_timer_;
  bool hint_doors_ = false;
  bool hint_occupancy_ = false;
  bool hint_armed_ = false;
};

}  // namespace zonegate::app
