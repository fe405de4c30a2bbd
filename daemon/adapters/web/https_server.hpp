// SPDX-License-Identifier: Apache-2.0
/// @file
/// The console's HTTPS server on the daemon's event loop (Boost.Beast over asio::ssl): TLS only,
/// HTTP/1.1 with keep-alive, size limits and a deadline on every read and write, security headers
/// on every response, the static assets of the page, the JSON API (api.hpp) under /api/v1/, and the
/// live WebSocket /api/v1/live through which the daemon pushes alarms. docs/console.md describes it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "adapters/web/api.hpp"
#include "adapters/web/roles.hpp"

namespace zonegate::adapters::web {

/// `daemon.console` of zones.yaml (and `zonegated --console-assets`), as the daemon passes it.
struct ConsoleSettings {
  bool enabled = true;
  std::string host = "127.0.0.1";  ///< listen address (an IP address or a name that resolves)
  std::uint16_t port = 8443;       ///< 0: any free port (tests)
  /// Certificate and key (PEM). Both empty: console-cert.pem / console-key.pem in the state
  /// directory, generated (self-signed) on first start.
  std::filesystem::path cert;
  std::filesystem::path key;
  /// The page's files; empty or missing: the API works, every other path is 404.
  std::filesystem::path assets;
  std::chrono::seconds session_idle{std::chrono::minutes(15)};
};

/// Limits and deadlines; the defaults suit a console used by a handful of operators.
struct ServerLimits {
  std::size_t max_connections = 128;  ///< TLS connections at once, live ones included
  std::size_t max_live = 64;          ///< live (WebSocket) clients at once
  std::uint64_t body_limit = 64 * 1024;
  std::uint32_t header_limit = 16 * 1024;
  std::uintmax_t asset_limit = 16 * 1024 * 1024;
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  /// The whole of one request, from the start of the wait for it (keep-alive idle time included) to
  /// its last byte: a client that trickles bytes (slow loris) is cut off here.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(20)};
  /// Writing one response; a file response (an audit export) gets it afresh for every piece, so
  /// that any size goes out to a client that keeps reading, and one that stops is cut off.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  /// A live client that sends nothing (not even a pong to our pings) for this long is closed.
  std::chrono::milliseconds live_idle_timeout{std::chrono::seconds(30)};
  std::size_t live_queue = 64;  ///< messages waiting for one live client; beyond, it is dropped
};

/// Log sink: level as syslog (3 error, 4 warning, 5 notice, 6 info, 7 debug) and a message.
using ServerLog = std::function<void(int level, const std::string& message)>;

class HttpsServer {
 public:
  /// `state_dir` receives the generated certificate. Nothing happens before start().
  HttpsServer(boost::asio::io_context& io, ConsoleSettings settings, std::filesystem::path state_dir, Api& api,
              ServerLimits limits = {}, ServerLog log = {});
  ~HttpsServer();
  HttpsServer(const HttpsServer&) = delete;
  HttpsServer& operator=(const HttpsServer&) = delete;

  /// Makes sure there is a certificate (generating one if needed), loads it, binds and listens.
  /// Returns an error text on failure.
  std::optional<std::string> start();
  /// Stops listening and closes every connection.
  void stop();

  /// The bound port (after start()).
  [[nodiscard]] std::uint16_t port() const;
  /// `https://host:port/` for the start-up message.
  [[nodiscard]] std::string url() const;
  /// The certificate in use.
  [[nodiscard]] const std::filesystem::path& cert_file() const;

  /// Sends `message` to every live client whose role may perform `audience` (alarms: view_alarms).
  /// Runs on the loop. A client whose queue is full is dropped, not waited for.
  void broadcast(const nlohmann::json& message, Action audience);
  [[nodiscard]] std::size_t live_clients() const;
  [[nodiscard]] std::size_t connections() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

/// Adds the headers every response carries (CSP, HSTS, nosniff, …; no-store under /api/).
void add_security_headers(http::response_header<>& res, bool api);

}  // namespace zonegate::adapters::web
