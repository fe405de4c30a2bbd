// SPDX-License-Identifier: Apache-2.0
// A console server on 127.0.0.1:<any> in this process, on its own thread, with the real API, audit
// trail, credential and operator stores in a temporary directory, the sample site's policy, a fake
// live site and a manual clock; and a TLS client that verifies the generated certificate.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "adapters/audit/audit_store.hpp"
#include "adapters/credentials/credential_store.hpp"
#include "adapters/web/api.hpp"
#include "adapters/web/https_server.hpp"
#include "adapters/web/operator_store.hpp"
#include "adapters/web/site_backend.hpp"
#include "config/loader.hpp"

namespace zg_test {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace web = zonegate::adapters::web;
namespace audit = zonegate::adapters::audit;
namespace credentials = zonegate::adapters::credentials;
namespace core = zonegate::core;
using nlohmann::json;
using namespace std::chrono_literals;

inline const core::Instant kStart = core::Instant{std::chrono::sys_days{std::chrono::year{2026} / 12 / 1}} + 1h;
inline constexpr const char* kPassword = "Night-shift-2026-pass";

inline fs::path make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "zg-web-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  REQUIRE(made != nullptr);
  return fs::path(made);
}

inline fs::path repo_root() { return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path(); }

inline void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

class TestClock final : public zonegate::ports::Clock {
 public:
  [[nodiscard]] core::Instant now() const override { return core::Instant{core::Duration{ms_.load()}}; }
  void set(core::Instant t) { ms_ = t.time_since_epoch().count(); }
  void advance(core::Duration d) { ms_ += d.count(); }

 private:
  std::atomic<std::int64_t> ms_{kStart.time_since_epoch().count()};
};

/// The live site: canned alarms and doors; counts the actions; appends audit records to the real
/// audit trail (on the server's thread, which alone uses it while the server runs).
class FakeSite final : public web::SiteBackend {
 public:
  FakeSite(const core::Policy& policy, audit::AuditStore& store, TestClock& clock)
      : policy_(policy), store_(store), clock_(clock) {}

  json alarms() const override {
    std::lock_guard lock(mutex_);
    return json{{"alarms", alarms_}};
  }
  json doors() const override {
    return json{{"doors", json::array({{{"id", "lobby"}, {"state", "closed"}}})}, {"fire", false}};
  }
  json occupancy() const override { return json{{"zones", json::array()}, {"outside", json::array()}}; }
  const core::Policy& policy() const override { return policy_; }

  web::SiteResult acknowledge(std::uint64_t id, const std::string& actor, const std::string& note) override {
    std::lock_guard lock(mutex_);
    for (auto& a : alarms_) {
      if (a["id"] == id) {
        if (a["acknowledged"].get<bool>()) return web::SiteResult::fail(409, "conflict", "acknowledged already");
        a["acknowledged"] = true;
        a["ack_by"] = actor;
        a["ack_note"] = note;
        ++actions;
        return web::SiteResult::ok(json{{"alarm", a}});
      }
    }
    return web::SiteResult::fail(404, "not_found", "no alarm");
  }
  web::SiteResult unlock(const std::string& door, const std::string&, const std::string&) override {
    if (!policy_.door_index(door)) return web::SiteResult::fail(404, "not_found", "no door");
    ++actions;
    ++unlocks;
    return web::SiteResult::ok();
  }
  web::SiteResult release(const std::string&, const std::optional<std::string>&, const std::string&,
                          const std::string&) override {
    ++actions;
    return web::SiteResult::ok();
  }
  web::SiteResult lockdown(bool lift, const std::optional<std::string>&, const std::string&,
                           const std::string&) override {
    ++actions;
    if (!lift) ++lockdowns;
    return web::SiteResult::ok();
  }
  void record(web::AuditKind kind, const std::string& actor, const std::string& event, const std::string& detail,
              const std::string& person, const std::string& badge) override {
    const audit::Entry e{
        clock_.now(),
        kind == web::AuditKind::export_ ? audit::EntryKind::export_ : audit::EntryKind::operator_action,
        event,
        actor,
        badge,
        {},
        {},
        "console",
        person.empty() ? detail : "person " + person + ": " + detail};
    REQUIRE(store_.append_entries(std::span<const audit::Entry>(&e, 1)));
    std::lock_guard lock(mutex_);
    records_.push_back(json{{"actor", actor}, {"event", event}, {"detail", detail}});
  }
  bool audit_writable() const override { return true; }

  void add_alarm(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    alarms_.push_back(json{{"id", id},
                           {"kind", "screening_alarm"},
                           {"severity", "critical"},
                           {"source", "gate-lab"},
                           {"person", "p1"},
                           {"detail", ""},
                           {"at", core::format_utc(kStart)},
                           {"acknowledged", false},
                           {"ack_by", ""},
                           {"ack_note", ""}});
  }
  std::vector<json> records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  std::size_t count_records(const std::string& actor, const std::string& event) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(
        records_.begin(), records_.end(), [&](const json& r) { return r["actor"] == actor && r["event"] == event; }));
  }

  std::atomic<int> actions{0};
  std::atomic<int> unlocks{0};
  std::atomic<int> lockdowns{0};

 private:
  const core::Policy& policy_;
  audit::AuditStore& store_;
  TestClock& clock_;
  mutable std::mutex mutex_;
  json alarms_ = json::array();
  std::vector<json> records_;
};

inline web::ServerLimits test_limits() {
  web::ServerLimits l;
  l.request_timeout = 800ms;
  l.handshake_timeout = 2s;
  l.write_timeout = 2s;
  return l;
}

/// Runs the server on its own thread for the lifetime of the object.
class Server {
 public:
  explicit Server(web::ServerLimits limits = test_limits()) : dir(make_temp_dir()) {
    cfg = zonegate::config::load_policy_file((repo_root() / "zones.yaml").string());
    REQUIRE(cfg.ok());
    audit::Options ao;
    ao.state_dir = dir;
    ao.gateway_id = "gw-test";
    auto a = audit::AuditStore::open(ao);
    REQUIRE(a);
    audit_store = std::move(*a);
    auto c = credentials::CredentialStore::open(dir / "credentials.db");
    REQUIRE(c);
    creds = std::move(*c);
    web::OperatorStoreOptions oo;
    oo.kdf.log2_n = 10;  // fast hashes: the KDF is not what these tests are about
    oo.kdf.r = 8;
    oo.lockout.max_failures = 3;
    auto o = web::OperatorStore::open(dir / "operators.db", oo);
    REQUIRE(o);
    for (const auto& [name, role] : {std::pair<const char*, web::Role>{"guard1", web::Role::guard},
                                     {"auditor1", web::Role::auditor},
                                     {"admin1", web::Role::admin}}) {
      REQUIRE((*o)->add(name, role, kPassword, kStart));
    }

    fs::create_directories(dir / "assets" / "sounds");
    write_file(dir / "assets" / "index.html", "<!doctype html><title>console</title>");
    write_file(dir / "assets" / "app.js", "export const ok = 1;\n");
    write_file(dir / "assets" / "sounds" / "alarm.wav", "RIFF");
    write_file(dir / "secret.txt", "TOPSECRET");
    write_file(dir / "assets" / ".hidden", "TOPSECRET");
    fs::create_symlink(dir / "secret.txt", dir / "assets" / "link.txt");

    site = std::make_unique<FakeSite>(*cfg.policy, *audit_store, clock);
    web::ApiOptions options;
    options.sessions.idle = 60s;
    options.open_audit_reader = [d = dir]() {
      audit::Options o2;
      o2.state_dir = d;
      o2.gateway_id = "gw-test";
      o2.read_only = true;
      return audit::AuditStore::open(o2);
    };
    api = std::make_unique<web::Api>(io, clock, *site, *audit_store, *creds, std::move(*o), options);
    web::ConsoleSettings settings;
    settings.host = "127.0.0.1";
    settings.port = 0;
    settings.assets = dir / "assets";
    server = std::make_unique<web::HttpsServer>(io, settings, dir, *api, limits);
    const auto err = server->start();
    INFO(err.value_or(""));
    REQUIRE(!err);
    port = server->port();
    thread = std::thread([this] { io.run(); });
  }

  ~Server() {
    net::post(io, [this] {
      server->stop();
      api->stop();
      work.reset();
    });
    thread.join();
    server.reset();
    api.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  /// Runs `fn` on the server's loop and waits for it.
  template <typename Fn>
  void on_loop(Fn fn) {
    std::promise<void> done;
    net::post(io, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  fs::path dir;
  TestClock clock;
  zonegate::config::LoadResult cfg;
  std::unique_ptr<audit::AuditStore> audit_store;
  std::unique_ptr<credentials::CredentialStore> creds;
  std::unique_ptr<FakeSite> site;
  net::io_context io;
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(io);
  std::unique_ptr<web::Api> api;
  std::unique_ptr<web::HttpsServer> server;
  std::uint16_t port = 0;
  std::thread thread;
};

/// Runs an async operation on `ioc` until it completes, at most 5 s.
template <typename Start>
beast::error_code await(net::io_context& ioc, Start start, std::chrono::milliseconds limit = 5000ms) {
  std::optional<beast::error_code> result;
  start([&](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!result && std::chrono::steady_clock::now() < deadline) ioc.run_one_for(50ms);
  if (!result) return beast::error::timeout;
  return *result;
}

using Response = http::response<http::string_body>;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

/// A TLS client that trusts only the server's generated certificate and checks the host name.
class Client {
 public:
  explicit Client(Server& server) : server_(server), ctx_(net::ssl::context::tls_client) {
    ctx_.load_verify_file((server.dir / "console-cert.pem").string());
    ctx_.set_verify_mode(net::ssl::verify_peer);
  }

  std::unique_ptr<TlsStream> connect() {
    auto s = std::make_unique<TlsStream>(ioc_, ctx_);
    SSL_ctrl(s->native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>("localhost"));
    s->set_verify_callback(net::ssl::host_name_verification("localhost"));
    const tcp_endpoint ep(net::ip::make_address("127.0.0.1"), server_.port);
    REQUIRE(!await(ioc_, [&](auto h) { beast::get_lowest_layer(*s).async_connect(ep, h); }));
    const auto ec = await(ioc_, [&](auto h) { s->async_handshake(net::ssl::stream_base::client, h); });
    INFO(ec.message());
    REQUIRE(!ec);
    return s;
  }

  Response send(TlsStream& s, http::request<http::string_body> req) {
    req.set(http::field::host, host());
    if (!cookie.empty()) req.set(http::field::cookie, cookie);
    req.prepare_payload();
    REQUIRE(!await(ioc_, [&](auto h) { http::async_write(s, req, h); }));
    beast::flat_buffer buf;
    Response res;
    const auto ec = await(ioc_, [&](auto h) { http::async_read(s, buf, res, h); });
    INFO(ec.message());
    REQUIRE(!ec);
    return res;
  }

  Response request(http::verb method, const std::string& target, const std::string& body = {},
                   const std::string& token = {}, const std::string& content_type = "application/json") {
    auto s = connect();
    http::request<http::string_body> req{method, target, 11};
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    if (!token.empty()) req.set("X-CSRF-Token", token);
    return send(*s, std::move(req));
  }
  Response get(const std::string& target) { return request(http::verb::get, target); }
  /// A state-changing request with this client's CSRF token.
  Response act(http::verb method, const std::string& target, const json& body = json::object()) {
    return request(method, target, body.dump(), csrf);
  }

  /// Logs in; returns the response. On success the client keeps the cookie and CSRF token.
  Response login(const std::string& name, const std::string& password = kPassword) {
    const auto res = request(http::verb::post, "/api/v1/session", json{{"name", name}, {"password", password}}.dump());
    if (res.result() == http::status::ok) {
      const std::string set = std::string(res[http::field::set_cookie]);
      cookie = set.substr(0, set.find(';'));
      csrf = json::parse(res.body())["csrf"].get<std::string>();
    }
    return res;
  }

  [[nodiscard]] std::string host() const { return "localhost:" + std::to_string(server_.port); }
  net::io_context& ioc() { return ioc_; }
  net::ssl::context& ssl() { return ctx_; }

  std::string cookie;
  std::string csrf;

 private:
  using tcp_endpoint = net::ip::tcp::endpoint;
  Server& server_;
  net::io_context ioc_;
  net::ssl::context ctx_;
};

inline json body_json(const Response& r) { return json::parse(r.body(), nullptr, false); }

}  // namespace zg_test
