// SPDX-License-Identifier: Apache-2.0
// The live WebSocket: session and Origin checks, the hello, alarms pushed by the daemon side reach
// guards (and only guards), and logout closes the socket.
#include <catch2/catch.hpp>

#include "https_fixture.hpp"

namespace {

using namespace zg_test;
using Ws = websocket::stream<TlsStream>;

/// Opens /api/v1/live with the client's cookie and the given Origin; returns the handshake error.
beast::error_code open_live(Client& client, Ws& ws, const std::string& origin) {
  ws.set_option(websocket::stream_base::decorator([&](websocket::request_type& req) {
    if (!client.cookie.empty()) req.set(http::field::cookie, client.cookie);
    if (!origin.empty()) req.set(http::field::origin, origin);
  }));
  return await(client.ioc(), [&](auto h) { ws.async_handshake(client.host(), "/api/v1/live", h); });
}

std::unique_ptr<Ws> make_ws(Client& client) {
  auto tls = client.connect();
  return std::make_unique<Ws>(std::move(*tls));
}

std::optional<json> read_message(Client& client, Ws& ws, std::chrono::milliseconds limit = 2000ms) {
  beast::flat_buffer buf;
  const auto ec = await(
      client.ioc(), [&](auto h) { ws.async_read(buf, h); }, limit);
  if (ec) return std::nullopt;
  return json::parse(beast::buffers_to_string(buf.data()), nullptr, false);
}

}  // namespace

TEST_CASE("a guard's live socket gets hello, then an alarm pushed by the daemon", "[web][live]") {
  Server server;
  Client guard(server);
  REQUIRE(guard.login("guard1").result() == http::status::ok);
  auto ws = make_ws(guard);
  REQUIRE(!open_live(guard, *ws, "https://" + guard.host()));
  const auto hello = read_message(guard, *ws);
  REQUIRE(hello);
  CHECK((*hello)["type"] == "hello");
  CHECK((*hello)["operator"] == "guard1");
  CHECK((*hello)["role"] == "guard");

  // Wait until the server has registered the client, then push from the server's loop.
  std::size_t clients = 0;
  for (int i = 0; i < 100 && clients == 0; ++i) {
    server.on_loop([&] { clients = server.server->live_clients(); });
    if (clients == 0) std::this_thread::sleep_for(10ms);
  }
  REQUIRE(clients == 1);
  const auto t0 = std::chrono::steady_clock::now();
  server.on_loop([&] {
    server.server->broadcast(json{{"type", "alarm"}, {"alarm", {{"id", 7}, {"kind", "door_forced"}}}},
                             web::Action::view_alarms);
  });
  const auto msg = read_message(guard, *ws);
  REQUIRE(msg);
  CHECK((*msg)["type"] == "alarm");
  CHECK((*msg)["alarm"]["id"] == 7);
  CHECK(std::chrono::steady_clock::now() - t0 < 100ms);

  // Logout closes the live socket.
  REQUIRE(guard.act(http::verb::delete_, "/api/v1/session").result() == http::status::no_content);
  beast::flat_buffer buf;
  const auto ec = await(guard.ioc(), [&](auto h) { ws->async_read(buf, h); });
  CHECK(ec);
  CHECK(ec != beast::error::timeout);
}

TEST_CASE("an auditor's live socket gets hello but no alarms", "[web][live]") {
  Server server;
  Client auditor(server);
  Client guard(server);
  REQUIRE(auditor.login("auditor1").result() == http::status::ok);
  REQUIRE(guard.login("guard1").result() == http::status::ok);
  auto aws = make_ws(auditor);
  auto gws = make_ws(guard);
  REQUIRE(!open_live(auditor, *aws, "https://" + auditor.host()));
  REQUIRE(!open_live(guard, *gws, "https://" + guard.host()));
  REQUIRE(read_message(auditor, *aws));
  REQUIRE(read_message(guard, *gws));
  server.on_loop([&] {
    server.server->broadcast(json{{"type", "alarm"}, {"alarm", {{"id", 1}}}}, web::Action::view_alarms);
    server.server->broadcast(json{{"type", "marker"}}, web::Action::view_audit);
  });
  // The guard gets the alarm; the auditor's next message is the marker sent after it, so the
  // alarm was never queued for the auditor.
  const auto g = read_message(guard, *gws);
  REQUIRE(g);
  CHECK((*g)["type"] == "alarm");
  const auto a = read_message(auditor, *aws);
  REQUIRE(a);
  CHECK((*a)["type"] == "marker");
}

TEST_CASE("the live socket needs a session and this console's Origin", "[web][live]") {
  Server server;
  Client guard(server);
  SECTION("no session") {
    auto ws = make_ws(guard);
    CHECK(open_live(guard, *ws, "https://" + guard.host()));
  }
  SECTION("a foreign Origin (cross-site WebSocket hijacking)") {
    REQUIRE(guard.login("guard1").result() == http::status::ok);
    auto ws = make_ws(guard);
    CHECK(open_live(guard, *ws, "https://evil.example"));
  }
  SECTION("no Origin") {
    REQUIRE(guard.login("guard1").result() == http::status::ok);
    auto ws = make_ws(guard);
    CHECK(open_live(guard, *ws, ""));
  }
}

TEST_CASE("a live client that does not read is dropped, others keep getting alarms", "[web][live]") {
  web::ServerLimits limits = test_limits();
  limits.live_queue = 4;
  Server server(limits);
  Client slow(server);
  Client fast(server);
  REQUIRE(slow.login("guard1").result() == http::status::ok);
  REQUIRE(fast.login("guard1").result() == http::status::ok);
  auto sws = make_ws(slow);
  auto fws = make_ws(fast);
  REQUIRE(!open_live(slow, *sws, "https://" + slow.host()));
  REQUIRE(!open_live(fast, *fws, "https://" + fast.host()));
  REQUIRE(read_message(fast, *fws));
  // Large messages fill the slow client's socket buffers, then its bounded queue.
  const std::string filler(256 * 1024, 'x');
  for (int i = 0; i < 64; ++i) {
    server.on_loop([&] {
      server.server->broadcast(json{{"type", "alarm"}, {"i", i}, {"pad", filler}}, web::Action::view_alarms);
    });
    const auto m = read_message(fast, *fws);
    REQUIRE(m);
    CHECK((*m)["i"] == i);
  }
  std::size_t clients = 0;
  server.on_loop([&] { clients = server.server->live_clients(); });
  CHECK(clients == 1);
}
