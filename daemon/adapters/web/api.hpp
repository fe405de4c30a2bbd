// SPDX-License-Identifier: Apache-2.0
/// @file
/// The console's JSON API under /api/v1/ (docs/openapi.yaml): login and sessions, the role check
/// and the CSRF check on every route, the audit record of every refusal, and the handlers over the
/// live site (SiteBackend), the audit trail, the credential store and the operator store. No I/O of
/// its own: the HTTPS server (https_server.hpp) feeds it parsed requests.
///
/// Runs on the daemon's event loop. Slow work (scrypt, chain verification, exports, chart counts)
/// runs on two worker threads and answers through the completion callback.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "adapters/web/operator_store.hpp"
#include "adapters/web/roles.hpp"
#include "adapters/web/session.hpp"
#include "adapters/web/site_backend.hpp"
#include "adapters/web/worker.hpp"
#include "ports/clock.hpp"

namespace zonegate::adapters::web {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
/// A response whose body is a file: an audit export, spooled to an unnamed temporary file
/// (spool_file.hpp) rather than held in memory. The server sends it piece by piece, each piece
/// under the write timeout.
using FileResponse = http::response<http::file_body>;
using ApiResponse = std::variant<Response, FileResponse>;
using Respond = std::function<void(ApiResponse)>;

/// Beast (Boost 1.74) has its own string_view; the rest of the tree uses the standard one.
inline std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

/// Opens another handle on the audit trail for a worker thread (read-only is enough).
using AuditOpener = std::function<audit::Result<std::unique_ptr<audit::AuditStore>>()>;

struct ApiOptions {
  SessionLimits sessions;
  /// Opens the audit trail read-only for the worker that verifies, exports and counts for charts;
  /// without it that work runs on the loop with the daemon's own handle.
  AuditOpener open_audit_reader;
  std::size_t worker_queue = 16;  ///< jobs waiting per worker beyond this get 429
  /// The longest period a chart covers (its aggregate query reads the index range of the period).
  core::Duration chart_max_range = std::chrono::hours(24 * 31);
};

/// Who is on the other end of a live (WebSocket) connection.
struct LiveClient {
  std::string session_id;
  std::string operator_name;
  Role role = Role::guard;
  core::Duration lifetime{};  ///< time left until the session's absolute end
};

class Api {
 public:
  Api(boost::asio::io_context& io, ports::Clock& clock, SiteBackend& site, audit::AuditStore& audit,
      credentials::CredentialStore& credentials, std::unique_ptr<OperatorStore> operators, ApiOptions options = {});
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  /// Handles a request whose path starts with /api/. `peer` is the client address (for the audit
  /// trail). `respond` is called exactly once, on the loop, maybe later (or never if the Api is
  /// destroyed first).
  void handle(Request request, const std::string& peer, Respond respond);

  /// Decides a WebSocket upgrade on /api/v1/live: the session cookie must name a live session and
  /// the Origin must be this server's own. On refusal returns the response to send instead. Does
  /// not restart the session's idle timer (nor does a request with `X-Zonegate-Background: 1`).
  std::variant<LiveClient, Response> admit_live(const Request& request);

  /// Called when sessions end: logout, idle or absolute expiry, eviction (the session id) or an
  /// operator disabled (empty id, the operator's name). The server closes the matching live
  /// sockets. Expired sessions are swept every 2 s, so their sockets close within about that.
  void set_session_end_observer(std::function<void(const std::string& session_id, const std::string& name)> observer) {
    session_end_observer_ = std::move(observer);
  }

  /// Stops the workers (their queued jobs finish; completions after this are dropped).
  void stop();

  /// An error response in the API's JSON shape.
  static Response error_response(const Request& request, http::status status, std::string_view code,
                                 std::string_view message);

 private:
  struct Ctx;
  using CtxPtr = std::shared_ptr<Ctx>;
  struct Route;
  using Handler = void (Api::*)(const CtxPtr&);

  void dispatch(const CtxPtr& ctx);
  void session_route(const CtxPtr& ctx);
  void login(const CtxPtr& ctx);

  void get_alarms(const CtxPtr& ctx);
  void ack_alarm(const CtxPtr& ctx);
  void get_doors(const CtxPtr& ctx);
  void unlock_door(const CtxPtr& ctx);
  void release_held(const CtxPtr& ctx);
  void do_lockdown(const CtxPtr& ctx);
  void lift_lockdown(const CtxPtr& ctx);
  void get_occupancy(const CtxPtr& ctx);
  void get_audit(const CtxPtr& ctx);
  void export_audit(const CtxPtr& ctx);
  void verify_audit(const CtxPtr& ctx);
  void entries_chart(const CtxPtr& ctx);
  void denials_chart(const CtxPtr& ctx);
  void get_people(const CtxPtr& ctx);
  void put_person(const CtxPtr& ctx);
  void get_badges(const CtxPtr& ctx);
  void add_badge(const CtxPtr& ctx);
  void revoke_badge(const CtxPtr& ctx);
  void patch_badge(const CtxPtr& ctx);
  void get_operators(const CtxPtr& ctx);
  void add_operator(const CtxPtr& ctx);
  void disable_operator(const CtxPtr& ctx);
  void enable_operator(const CtxPtr& ctx);

  /// Runs `job` on the audit worker with its own reader (or inline with the daemon's handle when
  /// there is no reader) and responds with what it returns.
  void run_audit(const CtxPtr& ctx, std::function<ApiResponse(audit::AuditStore&)> job);
  /// Runs `job` on the operator worker, which alone uses the operator store, then `then` on the
  /// loop. False (nothing run) if the worker's queue is full.
  bool run_operators(std::function<void(OperatorStore&)> job);
  /// Posts `fn` to the loop unless the Api is gone by then.
  void post_back(std::function<void()> fn);

  void audit_action(const std::string& actor, const std::string& event, const std::string& detail,
                    const std::string& person = {}, const std::string& badge = {});
  void end_sessions(const std::string& session_id, const std::string& operator_name);
  /// Every 2 s: sweeps expired sessions (closing their live sockets), and ends the sessions of
  /// operators that were disabled, removed or given another role outside the console (`zonegate
  /// operator …` edits the store from another process).
  void revalidate_sessions();

  boost::asio::io_context& io_;
  ports::Clock& clock_;
  SiteBackend& site_;
  audit::AuditStore& audit_;
  credentials::CredentialStore& credentials_;
  std::unique_ptr<OperatorStore> operators_;  ///< used only on operator_worker_
  ApiOptions options_;
  SessionTable sessions_;
  std::unique_ptr<audit::AuditStore> audit_reader_;  ///< used only on audit_worker_
  bool audit_reader_failed_ = false;
  std::function<void(const std::string&, const std::string&)> session_end_observer_;
  std::shared_ptr<int> alive_;
  boost::asio::steady_timer revalidate_timer_;
  // Last: destroyed (joined) first, while everything their jobs use still exists.
  std::unique_ptr<Worker> operator_worker_;
  std::unique_ptr<Worker> audit_worker_;
};

/// Parses `YYYY-MM-DDTHH:MM[:SS[.fff]]` with `Z` or `±HH:MM` (a bare date is refused: the API
/// needs an instant).
std::optional<core::Instant> parse_instant(std::string_view text);

/// Decodes a query string (`a=1&b=x%20y`); nullopt on bad escapes or a repeated name.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query);

}  // namespace zonegate::adapters::web
